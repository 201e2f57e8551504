"""The period's journal, summarized for an ERP's journal import (docs/erp-export.md).

    mapping = journal_export.read_mapping(Path("erp-mapping.yaml"))
    export = journal_export.build(ledger, "2026-Q1", mapping)   # one journal per month
    text = journal_export.render(export, "netsuite")            # or quickbooks, xero, csv

Every posting of the period is summed by month, account and customer (the posting's
``customer`` metadata, else its transaction's); one journal entry per month (and
currency) holds a line per account and customer whose sum is not zero, a debit when it
is positive, a credit when it is negative. A month's transactions balance, so its
journal does (checked: an entry that does not is an error, never a file). Amounts are
the book's Decimals, to the cent (a sum finer than a cent is an error).

The mapping file (YAML) gives each Beancount account, or a parent of it (the longest
wins), its ERP account: a ``code`` and/or a ``name``; and each customer id its ERP
entity. An account of the period that no entry maps is an error naming it: nothing is
ever exported to a blank account.

Ids: ``version`` is the first 8 hex digits of the sha256 of the month's summarized
lines as exported (account, customer, ERP account, entity, amount, currency); the
journal's id is ``<prefix>-<YYYYMM>-<version>`` (``TB-202601-3f9a1c2d``, 18
characters: within QuickBooks' 21 for a journal number; a month's journals in two
currencies differ by their version, whose content holds the currency) and each line's
``<journal id>-<6 hex of sha256(period, account, customer, version)>``. The same month
exported again with the same content gives the same bytes and the same ids (the ERP
recognises the journal it has); a changed month (a changed mapping, a month exported
before its close) gets a new version, so new ids: it never silently overwrites the
journal already imported, which has to be reversed in the ERP first.

The layouts (the vendors' documented column names, docs/erp-export.md): NetSuite's
journal entry CSV import (one row per line, the journal's fields repeated, the lines
of one journal sharing the External ID), QuickBooks Online's journal entry import
(Journal No., Debits and Credits), Xero's manual journal import (one signed Amount,
positive a debit; the journal is its Narration and Date) and a plain CSV of every
field. Every text cell goes through ``tables.csv_row`` (formula injection), control
characters (newlines, tabs) in names are written as spaces.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from beancount.core import data

from ..rules.periods import month_bounds, month_of, months, parse_period
from .ledger import Ledger
from .tables import csv_row

FORMATS = ("netsuite", "quickbooks", "xero", "csv")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
XERO_MAX_LINES = 300  # Xero imports at most 300 lines from one file

# NetSuite, journal entry CSV import: the header fields (External ID, Date, Posting
# Period, Subsidiary, Currency, Memo) and the Journal Entry - Line fields (Account,
# Debit, Credit, Memo, Name). Both levels have a Memo: the line's is "Line Memo" here,
# mapped to Journal Entry - Line: Memo in the Import Assistant.
NETSUITE_COLUMNS = ["External ID", "Date", "Posting Period", "Subsidiary", "Currency",
                    "Memo", "Account", "Debit", "Credit", "Line Memo", "Name"]
# QuickBooks Online, Import data > Journal Entries.
QUICKBOOKS_COLUMNS = ["Journal No.", "Journal Date", "Account Name", "Description",
                      "Debits", "Credits", "Name"]
# Xero, Manual Journals > Import.
XERO_COLUMNS = ["Narration", "Date", "Description", "AccountCode", "TaxRate", "Amount",
                "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2"]
CSV_COLUMNS = ["journal_id", "line_id", "date", "period", "currency", "account",
               "customer", "erp_account_code", "erp_account_name", "entity", "debit",
               "credit", "amount", "version"]
COLUMNS = {"netsuite": NETSUITE_COLUMNS, "quickbooks": QUICKBOOKS_COLUMNS,
           "xero": XERO_COLUMNS, "csv": CSV_COLUMNS}

DATE_FORMATS = {"MM/DD/YYYY": "%m/%d/%Y", "DD/MM/YYYY": "%d/%m/%Y",
                "YYYY-MM-DD": "%Y-%m-%d", "DD MMM YYYY": "%d %b %Y"}
DEFAULT_DATE_FORMAT = {"netsuite": "MM/DD/YYYY", "quickbooks": "MM/DD/YYYY",
                       "xero": "DD/MM/YYYY", "csv": "YYYY-MM-DD"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")  # the C locale's, whatever the process's locale
_ACCOUNT = re.compile(r"[A-Z][A-Za-z0-9-]*(:[A-Z0-9][A-Za-z0-9-]*)*")
_PREFIX = re.compile(r"[A-Za-z0-9]{1,4}")
CUSTOMER, NONE = "customer", "none"
_VENDOR_KEYS = {"netsuite": ("subsidiary", "currency", "date_format"),
                "quickbooks": ("date_format",),
                "xero": ("tax_rate", "tracking_category", "date_format")}
_TARGET_KEYS = ("code", "name", "entity", "netsuite", "quickbooks", "xero", "tax_rate")


class ExportError(ValueError):
    """The journal cannot be exported as asked (the message says why and what to do)."""


class MappingError(ExportError):
    """The mapping file is not valid."""


class Unmapped(ExportError):
    """Accounts of the period that the mapping gives no ERP account."""

    def __init__(self, accounts: Sequence[str], source: str) -> None:
        self.accounts = list(accounts)
        names = ", ".join(self.accounts)
        super().__init__(
            f"{source}: no ERP account for {names}: add each (or a parent account of it) "
            f"under accounts: with a code or a name; nothing is exported to a blank account")


# --- the mapping ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The ERP account of a Beancount account (or of a parent of it)."""

    key: str  # the account or prefix of the mapping file
    code: str = ""
    name: str = ""
    entity: str = CUSTOMER  # "customer": the line's customer; "none"; else a fixed name
    netsuite: str = ""  # per-vendor overrides of the account reference
    quickbooks: str = ""
    xero: str = ""
    tax_rate: str = ""  # Xero's tax rate of the account's lines


@dataclass(frozen=True)
class Mapping:
    accounts: dict[str, Target]
    customers: dict[str, str] = field(default_factory=dict)
    by_customer: bool = True
    prefix: str = "TB"
    vendors: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = "mapping"
    identity: bool = False  # the plain CSV without a mapping file: the Beancount names

    def target(self, account: str) -> Target | None:
        """The entry of ``account``: its own, else its longest mapped parent's."""
        if self.identity:
            return Target(account, code=account, name=account)
        parts = account.split(":")
        for n in range(len(parts), 0, -1):
            found = self.accounts.get(":".join(parts[:n]))
            if found is not None:
                return found
        return None

    def option(self, vendor: str, key: str) -> str:
        return self.vendors.get(vendor, {}).get(key, "")


def identity_mapping() -> Mapping:
    """The plain CSV's mapping without a file: every account as it is named in the book."""
    return Mapping({}, source="(no mapping file)", identity=True)


def _text(value: object, where: str, source: str) -> str:
    if not isinstance(value, str):
        raise MappingError(f"{source}: {where}: expected text, got a "
                           f"{'list' if isinstance(value, list) else 'mapping'}")
    return value.strip()


def _table(value: object, where: str, source: str) -> dict[str, object]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{source}: {where}: expected a mapping of keys to values")
    return {str(k): v for k, v in value.items()}


def _target(key: str, value: object, source: str) -> Target:
    where = f"accounts: {key}"
    if isinstance(value, str):
        raise MappingError(f"{source}: {where}: expected code: and/or name:, got the text "
                           f"{value!r} (write {{code: \"{value}\"}} or {{name: ...}})")
    body = _table(value, where, source)
    unknown = sorted(set(body) - set(_TARGET_KEYS))
    if unknown:
        raise MappingError(f"{source}: {where}: unknown key {unknown[0]!r} (expected "
                           f"{', '.join(_TARGET_KEYS)})")
    fields = {k: _text(v, f"{where}: {k}", source) for k, v in body.items()}
    if not fields.get("code") and not fields.get("name"):
        raise MappingError(f"{source}: {where}: no ERP account: give a code: or a name: "
                           f"(nothing is exported to a blank account)")
    entity = fields.pop("entity", CUSTOMER)
    if entity in ("", "~", "null"):
        entity = NONE
    return Target(key, entity=entity, **fields)


def parse_mapping(text: str, source: str = "mapping") -> Mapping:
    """A mapping file's text (docs/erp-export.md); MappingError naming what is wrong.
    Every value is read as text (an account code ``0400`` stays ``0400``)."""
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader: text only)
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML ({exc})") from exc
    top = _table(doc, "the file", source)
    known = ("accounts", "customers", "by_customer", "prefix", *_VENDOR_KEYS)
    unknown = sorted(set(top) - set(known))
    if unknown:
        raise MappingError(f"{source}: unknown key {unknown[0]!r} (expected "
                           f"{', '.join(known)})")
    accounts = {}
    for key, value in _table(top.get("accounts"), "accounts", source).items():
        if not _ACCOUNT.fullmatch(key):
            raise MappingError(f"{source}: accounts: {key!r} is not a Beancount account "
                               f"or parent account (such as Income:Revenue)")
        accounts[key] = _target(key, value, source)
    if not accounts:
        raise MappingError(f"{source}: accounts: none given")
    customers = {}
    for key, value in _table(top.get("customers"), "customers", source).items():
        name = _text(value, f"customers: {key}", source)
        if not name:
            raise MappingError(f"{source}: customers: {key}: an empty entity name")
        customers[key] = name
    flag = _text(top.get("by_customer", "true"), "by_customer", source).lower()
    if flag not in ("true", "false", "yes", "no"):
        raise MappingError(f"{source}: by_customer: expected true or false, got {flag!r}")
    prefix = _text(top.get("prefix", "TB"), "prefix", source)
    if not _PREFIX.fullmatch(prefix):
        raise MappingError(f"{source}: prefix: 1 to 4 letters or digits (the journal "
                           f"ids must fit QuickBooks' 21 characters), got {prefix!r}")
    vendors: dict[str, dict[str, str]] = {}
    for vendor, keys in _VENDOR_KEYS.items():
        body = _table(top.get(vendor), vendor, source)
        unknown = sorted(set(body) - set(keys))
        if unknown:
            raise MappingError(f"{source}: {vendor}: unknown key {unknown[0]!r} (expected "
                               f"{', '.join(keys)})")
        vendors[vendor] = {k: _text(v, f"{vendor}: {k}", source) for k, v in body.items()}
        wanted = vendors[vendor].get("date_format")
        if wanted is not None and wanted not in DATE_FORMATS:
            raise MappingError(f"{source}: {vendor}: date_format: expected one of "
                               f"{', '.join(DATE_FORMATS)}, got {wanted!r}")
    return Mapping(accounts, customers, flag in ("true", "yes"), prefix, vendors, source)


def read_mapping(path: Path) -> Mapping:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot be read ({exc})") from exc
    return parse_mapping(text, str(path))


# --- the summarized journal -------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    line_id: str
    account: str  # the Beancount account
    customer: str  # the customer id, "" for none (or when not split by customer)
    target: Target
    entity: str  # the ERP entity of the line ("" for none)
    amount: Decimal  # debit positive, credit negative, to the cent

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        return -self.amount if self.amount < 0 else None


@dataclass(frozen=True)
class Journal:
    journal_id: str
    period: str  # YYYY-MM
    date: datetime.date  # the month's last day
    currency: str
    version: str
    lines: tuple[Line, ...]

    @property
    def debits(self) -> Decimal:
        return sum((line.debit or ZERO for line in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((line.credit or ZERO for line in self.lines), ZERO)


@dataclass(frozen=True)
class Export:
    period: str
    journals: tuple[Journal, ...]
    open_periods: tuple[str, ...]  # months exported that are not closed (may change)
    mapping: Mapping

    @property
    def lines(self) -> int:
        return sum(len(j.lines) for j in self.journals)


def customer_of(posting: data.Posting, entry: data.Transaction) -> str:
    """The customer of a posting: its own ``customer`` metadata, else its entry's."""
    for meta in (posting.meta, entry.meta):
        found = (meta or {}).get("customer")
        if found:
            return str(found)
    return ""


def summarize(transactions: Iterable[data.Transaction]
              ) -> dict[tuple[str, str], dict[tuple[str, str], Decimal]]:
    """(month, currency) -> (account, customer) -> the sum of the postings' units."""
    out: dict[tuple[str, str], dict[tuple[str, str], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO))
    for entry in transactions:
        month = month_of(entry.date)
        for posting in entry.postings:
            units = posting.units
            if units is None or units.number is None:
                continue
            key = (posting.account, customer_of(posting, entry))
            out[(month, units.currency)][key] += units.number
    return out


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _entity(target: Target, customer: str, mapping: Mapping,
            payees: MappingType[str, str]) -> str:
    if target.entity == NONE:
        return ""
    if target.entity != CUSTOMER:
        return target.entity
    if not customer:
        return ""
    return mapping.customers.get(customer) or payees.get(customer) or customer


def _journal(period: str, currency: str, sums: MappingType[tuple[str, str], Decimal],
             mapping: Mapping, payees: MappingType[str, str]) -> Journal | None:
    merged: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    targets: dict[str, Target] = {}
    for (account, customer), amount in sums.items():
        target = mapping.target(account)
        assert target is not None  # build() checked every account first
        targets[account] = target
        split = mapping.by_customer and target.entity == CUSTOMER
        merged[(account, customer if split else "")] += amount
    total = sum(merged.values(), ZERO)
    if total != 0:
        raise ExportError(f"{period}: the {currency} postings of the month sum to {total}, "
                          f"not zero (postings at a cost or price across currencies are "
                          f"not exported): no journal written")
    rows = []
    for (account, customer), amount in sorted(merged.items()):
        if amount == 0:
            continue
        if amount != amount.quantize(CENT):
            raise ExportError(f"{period}: {account}{' (' + customer + ')' if customer else ''}"
                              f" sums to {amount} {currency}, finer than a cent: an ERP "
                              f"takes cents")
        target = targets[account]
        rows.append((account, customer, target, _entity(target, customer, mapping, payees),
                     amount.quantize(CENT)))
    if not rows:
        return None
    content = "\n".join("\t".join((account, customer, t.code, t.name, t.netsuite,
                                   t.quickbooks, t.xero, t.tax_rate, entity,
                                   format(amount, "f"), currency))
                        for account, customer, t, entity, amount in rows)
    version = _digest(period, content)[:8]
    journal_id = f"{mapping.prefix}-{period.replace('-', '')}-{version}"
    lines = []
    for account, customer, target, entity, amount in rows:
        line_id = f"{journal_id}-{_digest(period, account, customer, version)[:6]}"
        lines.append(Line(line_id, account, customer, target, entity, amount))
    if len({line.line_id for line in lines}) != len(lines):  # 1 in 10^7 for 50 lines
        raise ExportError(f"{period}: two lines of the journal have the same id; "
                          f"report it (a hash collision)")
    return Journal(journal_id, period, month_bounds(period)[1], currency, version,
                   tuple(lines))


def build(ledger: Ledger, period: str, mapping: Mapping) -> Export:
    """The summarized journal of ``period`` (YYYY-MM, YYYY-Qn or YYYY): one journal per
    month and currency. ValueError for another period; ``Unmapped`` naming every account
    of the period without an ERP account; ExportError for a journal that does not
    balance or is finer than a cent."""
    start, end = parse_period(period)
    sums = summarize(ledger.between(start, end))
    missing = sorted({account for lines in sums.values() for account, _ in lines
                      if mapping.target(account) is None})
    if missing:
        raise Unmapped(missing, mapping.source)
    payees = ledger.payees()
    journals = []
    last = month_of(end - datetime.timedelta(days=1))
    for month in months(month_of(start), last):
        for currency in sorted(c for m, c in sums if m == month):
            found = _journal(month, currency, sums[(month, currency)], mapping, payees)
            if found is not None:
                journals.append(found)
    exported = dict.fromkeys(j.period for j in journals)
    open_periods = tuple(p for p in exported if p not in ledger.closes)
    return Export(period, tuple(journals), open_periods, mapping)


# --- the layouts ------------------------------------------------------------------------


def _clean(value: str) -> str:
    """Text for an import cell: control characters (a newline, a tab) become spaces."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in value).strip()


def _date(day: datetime.date, vendor: str, mapping: Mapping) -> str:
    wanted = mapping.option(vendor, "date_format") or DEFAULT_DATE_FORMAT[vendor]
    if wanted == "DD MMM YYYY":
        return f"{day.day:02d} {_MONTHS[day.month - 1]} {day.year:04d}"
    return day.strftime(DATE_FORMATS[wanted])


def _description(line: Line) -> str:
    who = f" {line.customer}" if line.customer else ""
    return f"{line.line_id} {line.account}{who}"


def _narration(journal: Journal) -> str:
    return f"{journal.journal_id} tokenbooks journal {journal.period}"


def _reference(line: Line, vendor: str) -> str:
    t = line.target
    if vendor == "netsuite":
        return t.netsuite or (f"{t.code} {t.name}" if t.code and t.name else t.code or t.name)
    if vendor == "quickbooks":
        return t.quickbooks or t.name
    return t.xero or t.code


def _check_references(export: Export, vendor: str) -> None:
    what = {"quickbooks": "a name: (QuickBooks imports account names, Parent:Sub)",
            "xero": "a code: (Xero imports account codes)"}
    missing = sorted({line.target.key for j in export.journals for line in j.lines
                      if not _reference(line, vendor)})
    if missing:
        raise ExportError(f"{export.mapping.source}: {', '.join(missing)}: no ERP account "
                          f"for {vendor}: give {what.get(vendor, 'a code: or a name:')}")


def _rows(export: Export, vendor: str) -> Iterable[list[object]]:
    mapping = export.mapping
    for j in export.journals:
        if vendor == "netsuite":
            period = f"{_MONTHS[j.date.month - 1]} {j.date.year}"
            memo = f"tokenbooks summarized journal {j.period}, version {j.version}"
            for line in j.lines:
                yield [j.journal_id, _date(j.date, vendor, mapping), period,
                       mapping.option(vendor, "subsidiary"),
                       mapping.option(vendor, "currency") or j.currency, memo,
                       _reference(line, vendor), line.debit, line.credit,
                       _description(line), line.entity]
        elif vendor == "quickbooks":
            for line in j.lines:
                yield [j.journal_id, _date(j.date, vendor, mapping),
                       _reference(line, vendor), _description(line), line.debit,
                       line.credit, line.entity]
        elif vendor == "xero":
            category = mapping.option(vendor, "tracking_category")
            for line in j.lines:
                tax = line.target.tax_rate or mapping.option(vendor, "tax_rate")
                tracked = bool(category and line.customer and line.entity)  # customers'
                yield [_narration(j), _date(j.date, vendor, mapping), _description(line),
                       _reference(line, vendor), tax, line.amount,
                       category if tracked else "", line.entity if tracked else "", "", ""]
        else:
            for line in j.lines:
                yield [j.journal_id, line.line_id, j.date.isoformat(), j.period,
                       j.currency, line.account, line.customer, line.target.code,
                       line.target.name, line.entity, line.debit, line.credit,
                       line.amount, j.version]


def render(export: Export, fmt: str) -> str:
    """The export in the layout ``fmt`` (``FORMATS``): a header row and a row per line,
    the same bytes for the same export. ExportError for what the layout cannot hold."""
    if fmt not in COLUMNS:
        raise ExportError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt in ("netsuite", "quickbooks", "xero"):
        _check_references(export, fmt)
    if fmt == "xero":
        untaxed = sorted({line.target.key for j in export.journals for line in j.lines
                          if not (line.target.tax_rate or export.mapping.option("xero",
                                                                                "tax_rate"))})
        if untaxed:
            raise ExportError(f"{export.mapping.source}: Xero needs a tax rate on every "
                              f"line: set xero: tax_rate: (the name of a tax rate of the "
                              f"organisation, such as Tax Exempt or No VAT), or tax_rate: "
                              f"on {', '.join(untaxed)}")
        if export.lines > XERO_MAX_LINES:
            raise ExportError(f"{export.period}: {export.lines} lines, and Xero imports at "
                              f"most {XERO_MAX_LINES} from one file: export one month at a "
                              f"time, or set by_customer: false in the mapping")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_row(COLUMNS[fmt]))
    for row in _rows(export, fmt):
        writer.writerow(csv_row([_clean(v) if isinstance(v, str) else v for v in row]))
    return out.getvalue()
