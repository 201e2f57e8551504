"""Stripe Billing credit grants (``billing.credit_grant`` objects, JSON): the credits
Stripe gave a customer, as the credit-purchase entries of the purchases path.

One object (``GET /v1/billing/credit_grants/:id``), a list response
(``{"object": "list", "data": [...], "has_more": ...}``) or a JSON array of them:

    {"id": "credgr_test_61R9...", "object": "billing.credit_grant",
     "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 2000}},
     "category": "paid", "customer": "cus_QrvQguzkIK8zTj", "effective_at": 1762179725,
     "expires_at": 1793715725, "priority": 50, "voided_at": null,
     "metadata": {"stripe_charge": "ch_3QhK2b...", "credits": "2000"}, ...}

Identified by content: every record is an object whose ``object`` is
``billing.credit_grant`` (an empty list response by its ``url``); no other format has
it. Each grant goes through the canonical purchases importer
(``importers.purchases``: the same checks, entries, dedupe and quarantine) as the
row the grant is:

- ``category: promotional``: a grant of kind ``promotional`` (amount 0; the contract
  must allow the kind, ``grant_kinds``), ``payment_id`` the grant id, ``pack`` the
  metadata ``pack`` or else the grant id.
- ``category: paid``: the purchase of the charge that paid the credits (metadata
  ``stripe_charge``), ``payment_id`` the charge id: the one transaction the Stripe
  payments export and the balance report book for that charge (``importers.stripe``).
  Whichever source comes first books it, and the others find it booked, so the money
  is counted once (and the book's "booked twice" invariant holds): the grant file
  first books the purchase at the grant's amount (which must be the pack's price)
  into ``Assets:Stripe``, and the payments export then books only the charge's fee
  (and refunds); the payments export first books it with its fee and tax, and the
  grant is a duplicate of it. The grant knows no tax and no fee: a charge with tax is
  imported from the payments export first (as for the balance report). Its terms must
  be the pack's, in either order: credits, expiry and priority the book would give
  that purchase; a grant that disagrees with its pack is quarantined (charge not yet
  booked) or a conflict (charge booked with other terms, or by another grant), never
  a second booking.
- ``amount.monetary``: ``value`` in the minor units of ``currency`` (zero-decimal
  currencies such as JPY as is, three-decimal ones such as KWD ÷ 1000, the rest
  ÷ 100), which must be the contract's currency; the credits are the metadata
  ``credits`` if given, else the amount ÷ the contract's ``credit_value`` (a whole
  number).
- ``effective_at`` (else ``created``): the date, the UTC day of the Unix time.
- ``expires_at``: the expiry, the UTC day of the Unix time (null: never). The book's
  expiry is exclusive (docs/expiry.md: the credits cannot be used on the expiry date):
  a grant expiring at 14:22 UTC on 2026-11-03 covers usage through 2026-11-02; the day
  grain never covers usage after Stripe's instant.
- ``voided_at``: a void on the UTC day of the Unix time: the void date is the grant's
  expiry (docs/grants.md), recorded as ``void``; a void on or before the grant's
  date leaves nothing usable and is quarantined. A paid grant voided is quarantined
  (the book voids no paid purchase: refund the charge, or move its expiry by a
  modification).
- ``priority`` (0-100, lower first; null: its pack's, else 50): the lot's draw
  priority (the purchases CSV's ``priority`` column). A paid grant must agree with its
  pack's (its charge may be booked by the payments export, with the pack's terms).
- ``customer`` (an id, or the expanded customer's ``id``): mapped to a customer of the
  contracts as the Stripe payments export maps its ``Customer ID``: metadata
  ``customer``, else ``customers`` (``importers.yaml`` ``stripe: {customers:
  {cus_...: hooli}}``), else the ``customer`` group of ``description_pattern`` on
  ``name``; unknown: quarantined naming the grant and what was expected. A paid
  grant's pack likewise: metadata ``pack``, else ``packs`` (``name`` -> pack), else
  the pattern's ``pack`` group. ``contract`` (optional): metadata ``contract``.

Each entry carries ``grant_id``, ``stripe_customer`` and ``priority`` (and ``void``).
The dedupe key is the grant id (a paid grant's: its charge id, the purchase's key):
importing the file again books nothing. The same grant id booked with other terms (a
grant expired or voided in Stripe after it was imported) is a conflict, and the first
booking is kept. A grant the contract declares (``grants:`` with its id) is a
duplicate. A record that is not a credit grant, a field missing or of the wrong type,
an unknown category, an amount that is not monetary: quarantined with the line (the
record's in the file), the grant's field and what was expected. A list response with
``has_more: true`` is a warning naming the file (the import is incomplete).

    importer = Importer("contracts/", customers={"cus_QrvQguzkIK8zTj": "tenant"},
                        packs={"Purchased Credits - 2,000 pack": "pack-2k"})
    entries = importer.extract("credit_grants.json", existing=[])
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, getcontext, localcontext
from pathlib import Path
from typing import Any

from beancount.core import data

from tokenbooks.plugins.entries import purchases as purchase_entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import DEFAULT_PRIORITY, Contract, ContractSet

from . import purchases
from .foreign import head, sample_scan, scan
from .purchase_base import Booking, PaymentIndex, Row, contract_for, pack_terms
from .usage import Extraction, RowProblem, UnreadableSource, name_text

OBJECT = "billing.credit_grant"
LIST_URL = "/v1/billing/credit_grants"
CATEGORIES = ("paid", "promotional")
# Stripe's currencies whose amounts are not in hundredths (docs.stripe.com/currencies):
# zero-decimal ones (the amount is the amount) and three-decimal ones (thousandths).
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF "
                         "XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
STRIPE_DEFAULT_PRIORITY = 50
MAX_MINOR = 10**18 - 1  # 18 digits of minor units: far beyond any Stripe amount
MAX_BYTES = 64 * 1024 * 1024
_DECIMAL = json.JSONDecoder(parse_float=Decimal)
UNKNOWN = object()  # an expiry the book holds but the index does not tell

# The canonical purchases row's columns -> the grant's fields (quarantine messages).
FIELDS = {"amount": "amount.monetary.value", "currency": "amount.monetary.currency",
          "credits": "metadata.credits", "expires": "expires_at", "date": "effective_at",
          "pack": "metadata.pack", "contract": "metadata.contract", "kind": "category"}


def minor_exponent(currency: str) -> int:
    """The decimals of a currency's minor unit as Stripe counts amounts."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def major(value: int, currency: str) -> Decimal:
    """An amount in minor units as Decimal in major units, exactly: 2000 usd -> 20.00,
    5000 jpy -> 5000, 5120 kwd -> 5.120."""
    exponent = minor_exponent(currency)
    return Decimal(value).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def utc_day(seconds: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).date()


@dataclass(frozen=True)
class Terms:
    """What the book holds for a payment id (a charge's purchase, a grant)."""

    customer: str
    contract: str
    pack: str
    currency: str
    amount: Decimal  # consideration (0 for a grant)
    credits: Decimal | None
    expires: Any  # datetime.date | None (never) | UNKNOWN
    grant_id: str = ""
    where: str = ""


# -- reading the file ---------------------------------------------------------------------------


def _records_path(doc: Any) -> tuple[str, ...]:
    if isinstance(doc, list):
        return ("*",)
    if isinstance(doc, dict) and doc.get("object") == "list":
        return ("data", "*")
    return ()


def _is_grant(record: Any) -> bool:
    return isinstance(record, dict) and record.get("object") == OBJECT


def looks_like(text: str) -> bool:
    """Whether the start of a JSON document is a credit grant, a list of them or an
    array of them (by ``object``; an empty list response by its ``url``)."""
    start = text.lstrip()
    if start[:1] == "[":
        found = sample_scan(start, ("*",), 1)
        return bool(found) and _is_grant(found[0][1])
    if start[:1] != "{":
        return False
    found = sample_scan(start, ("data", "*"), 1)
    if found:
        return _is_grant(found[0][1])
    try:
        doc = json.loads(start)
    except ValueError:
        return False
    if _is_grant(doc):
        return True
    return (isinstance(doc, dict) and doc.get("object") == "list" and doc.get("data") == []
            and LIST_URL in str(doc.get("url") or ""))


def _integer(record: Mapping[str, Any], name: str, what: str, required: bool = True,
             field: str = "") -> int | None:
    value = record.get(name)
    field = field or name
    if value is None:
        if required:
            raise RowProblem(field, f"is required but missing (expected {what})")
        return None
    if type(value) is not int:
        raise RowProblem(field, f"expected {what}, got {json.dumps(value, default=str)[:40]}")
    return value


def _time(record: Mapping[str, Any], name: str, required: bool = True
          ) -> datetime.date | None:
    seconds = _integer(record, name, "Unix seconds (a whole number)", required)
    if seconds is None:
        return None
    try:
        return utc_day(seconds)
    except (OverflowError, OSError, ValueError):
        raise RowProblem(name, f"expected Unix seconds, got {seconds}") from None


def _text(value: Any, name: str, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise RowProblem(name, "is required but missing")
        return ""
    if not isinstance(value, str):
        raise RowProblem(name, f"expected text, got {json.dumps(value, default=str)[:40]}")
    return name_text(value.strip(), name)


def grant_values(record: Any) -> dict[str, str]:
    """The fields of one grant, checked for type, as text (RowProblem naming the field)."""
    if not isinstance(record, dict):
        raise RowProblem("object", f"expected a {OBJECT} object, got "
                                   f"{json.dumps(record, default=str)[:40]}")
    if record.get("object") != OBJECT:
        raise RowProblem("object", f"expected {OBJECT!r}, got {record.get('object')!r}")
    grant_id = _text(record.get("id"), "id")
    amount = record.get("amount")
    if not isinstance(amount, dict):
        raise RowProblem("amount", "is required but missing (expected {\"type\": "
                                   "\"monetary\", \"monetary\": {\"currency\", \"value\"}})"
                         if amount is None else f"expected an object, got "
                                                f"{json.dumps(amount, default=str)[:40]}")
    kind = amount.get("type", "monetary" if "monetary" in amount else None)
    monetary = amount.get("monetary")
    if kind != "monetary" or not isinstance(monetary, dict):
        raise RowProblem("amount.type", f"expected 'monetary' (an amount of money in minor "
                                        f"units), got {kind!r}: credits in another unit "
                                        f"(a custom pricing unit) are not imported")
    currency = _text(monetary.get("currency"), "amount.monetary.currency")
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise RowProblem("amount.monetary.currency", f"expected an ISO 4217 code such as "
                                                     f"'usd', got {currency!r}")
    value = _integer(monetary, "value", "a whole number of minor units",
                     field="amount.monetary.value")
    assert value is not None
    if not 0 <= value <= MAX_MINOR:
        raise RowProblem("amount.monetary.value", f"expected 0 to {MAX_MINOR} minor units, "
                                                  f"got {value}")
    category = _text(record.get("category"), "category")
    customer = record.get("customer")
    if isinstance(customer, dict):  # expanded
        customer = customer.get("id")
    if customer is None:
        customer = record.get("customer_account")
    customer_id = _text(customer, "customer")
    created = _time(record, "created", required=False)
    effective = _time(record, "effective_at", required=created is None) or created
    expires = _time(record, "expires_at", required=False)
    voided = _time(record, "voided_at", required=False)
    priority = _integer(record, "priority", "a whole number 0-100 (lower first)",
                        required=False)
    if priority is not None and not 0 <= priority <= 100:
        raise RowProblem("priority", f"expected a whole number 0-100 (lower first), got "
                                     f"{priority}")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RowProblem("metadata", f"expected an object of keys to text, got "
                                     f"{json.dumps(metadata, default=str)[:40]}")
    meta = {}
    for key in ("customer", "pack", "contract", "credits", "stripe_charge"):
        raw = metadata.get(key)
        if isinstance(raw, int) and not isinstance(raw, bool) and key == "credits":
            raw = str(raw)
        meta[key] = _text(raw, f"metadata.{key}", required=False)
    name = record.get("name")
    return {"grant_id": grant_id, "category": category, "customer_id": customer_id,
            "currency": currency.upper(), "value": str(value),
            "effective": effective.isoformat() if effective else "",
            "expires_at": expires.isoformat() if expires else "",
            "voided_at": voided.isoformat() if voided else "",
            "priority": "" if priority is None else str(priority),
            "name": name.strip() if isinstance(name, str) else "",
            **{f"metadata.{k}": v for k, v in meta.items()}}


def grant_rows(path: Path, warnings: list[str]) -> Iterator[Row]:
    """The grants of a file, each with its line, its JSON text and its fields (or the
    RowProblem); UnreadableSource if the file is not one JSON document of them."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UnreadableSource(f"{path}: cannot be read ({exc})") from exc
    if len(raw) > MAX_BYTES:
        raise UnreadableSource(f"{path}: larger than {MAX_BYTES} bytes; expected one list "
                               f"page of credit grants")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSource(f"{path}: expected UTF-8 text, got an undecodable byte at "
                               f"byte {exc.start}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableSource(f"{path}:{exc.lineno}: not a JSON document ({exc.msg}); "
                               f"expected a Stripe credit grant or a list of them") from exc
    where = _records_path(doc)
    if where == ("data", "*"):
        if not isinstance(doc.get("data"), list):
            raise UnreadableSource(f"{path}: data: expected a list of {OBJECT} objects")
        if doc.get("has_more") is True:
            warnings.append(f"{path}: has_more is true: this is one page of a longer list of "
                            f"credit grants; the grants of the following pages are not "
                            f"imported (list them with starting_after and import each page)")
    line, last = 1, 0
    for offset, _, _ in scan(text, where):
        line += text.count("\n", last, offset)
        last = offset
        record, end = _DECIMAL.raw_decode(text, offset)
        content = text[offset:end]
        try:
            values: dict[str, str] | RowProblem = grant_values(record)
        except RowProblem as problem:
            gid = record.get("id") if isinstance(record, dict) else None
            values = (RowProblem(problem.field, f"grant {gid}: {problem.reason}")
                      if isinstance(gid, str) and gid and problem.field != "id" else problem)
        yield Row(line, content, values)


# -- the importer ---------------------------------------------------------------------------------


class Importer(purchases.Importer):
    """Stripe credit grants, JSON (see the module doc)."""

    required = ()  # type: ignore[assignment]  # not a CSV: no columns (importers.diagnose)

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.STRIPE, index: PaymentIndex | None = None,
                 customers: Mapping[str, str] | None = None,
                 packs: Mapping[str, str] | None = None,
                 description_pattern: str | None = None) -> None:
        super().__init__(contracts, account=account, index=index)
        self.customers = {str(k): str(v) for k, v in (customers or {}).items()}
        self.packs = {str(k): str(v) for k, v in (packs or {}).items()}
        self.pattern = re.compile(description_pattern) if description_pattern else None
        self.booked: dict[str, Terms] = {}  # payment id -> what the book holds
        self._source: Path | None = None
        self._row: Row | None = None  # the grant being booked
        self._warnings: list[str] = []
        self._conflicts: list[tuple[int, str]] = []
        self._meta: dict[str, dict[str, object]] = {}  # payment id -> entry metadata

    # -- identification and reading ------------------------------------------------------------

    def identify(self, filepath: str) -> bool:
        text = head(filepath)
        return text is not None and looks_like(text)

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        self.register(existing)
        return super().extract(filepath, existing)

    def register(self, entries: Iterable[data.Directive]) -> None:
        """What the book's purchase entries hold, by payment id (for conflicts)."""
        for entry in entries:
            if not purchase_entries.is_purchase(entry) or entry.meta.get("rule") != "purchase":
                continue
            try:
                found = purchase_entries.purchase_from_entry(entry)
            except (ValueError, KeyError):
                continue
            if found.payment_id:
                self.booked[found.payment_id] = Terms(
                    found.customer, found.contract, found.pack, found.currency, found.amount,
                    found.credits, found.expires, str(entry.meta.get("grant_id") or ""),
                    f"at {entry.meta.get('filename')}:{entry.meta.get('lineno')}")

    def run(self, path: Path, dry: bool = False) -> Extraction:
        self._source, self._warnings, self._conflicts = Path(path), [], []
        saved = self.booked
        self.booked = dict(saved) if dry else saved
        try:
            result = super().run(Path(path), dry)
        finally:
            self.booked, self._source, self._row = saved, None, None
        conflicts = set(self._conflicts)
        result.conflicts += [q for q in result.quarantine if (q.line, q.content) in conflicts]
        result.quarantine = [q for q in result.quarantine
                             if (q.line, q.content) not in conflicts]
        result.warnings += self._warnings
        return result

    def ordered(self, rows: Iterable[Row]) -> Iterator[Row]:
        """The grants of the file, instead of ``rows`` (the CSV reader of the purchases
        base, which is never started: the file is JSON)."""
        assert self._source is not None
        self.progress.update(os.path.getsize(self._source))
        for row in grant_rows(self._source, self._warnings):
            self._row = row
            yield row

    # -- one grant ----------------------------------------------------------------------------------

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]) -> list[Booking]:
        grant_id = values["grant_id"]
        try:
            return self.book(values, occurrence)
        except RowProblem as problem:
            raise RowProblem(FIELDS.get(problem.field, problem.field),
                             f"grant {grant_id}: {problem.reason}") from None

    def conflict(self, field: str, reason: str) -> RowProblem:
        """A RowProblem that ``run`` reports as a conflict (the key booked otherwise)."""
        assert self._row is not None
        self._conflicts.append((self._row.line, self._row.text))
        return RowProblem(field, f"conflict: {reason}; the first booking is kept")

    def customer(self, values: Mapping[str, str]) -> str:
        found = (values["metadata.customer"] or self.customers.get(values["customer_id"], "")
                 or self._named(values, "customer"))
        if not found:
            raise RowProblem("customer", f"expected a customer of the contracts: metadata "
                                         f"'customer', a Stripe customer id mapped in "
                                         f"importers.yaml (stripe: customers: "
                                         f"{{{values['customer_id']}: <customer>}}) or a "
                                         f"description pattern on the name; got "
                                         f"{values['customer_id']!r}")
        if found not in self.contracts.customers:
            raise RowProblem("customer", f"unknown customer {found!r} (for Stripe customer "
                                         f"{values['customer_id']!r}): expected a customer "
                                         f"of the contracts")
        return found

    def _named(self, values: Mapping[str, str], group: str) -> str:
        if self.pattern is None:
            return ""
        match = self.pattern.search(values["name"])
        if match and group in match.groupdict() and match.group(group):
            return match.group(group)
        return ""

    def credits(self, values: Mapping[str, str], contract: Contract, amount: Decimal
                ) -> Decimal | None:
        """The grant's credits: metadata ``credits``, else the amount at the contract's
        credit value (a whole number); None if neither tells."""
        given = purchases.credits_override(values["metadata.credits"])
        if given is not None:
            return given
        if contract.credit_value is None:
            return None
        with localcontext() as exact:  # exact for every amount a grant may hold
            exact.prec = 80
            credits = amount / contract.credit_value
            whole = (credits == credits.to_integral_value()
                     and credits * contract.credit_value == amount)
        if not whole:
            raise RowProblem("amount.monetary.value", f"expected an amount worth a whole "
                                                      f"number of credits at the credit "
                                                      f"value {contract.credit_value} of "
                                                      f"contract {contract.id!r}, got "
                                                      f"{amount} (or give metadata "
                                                      f"credits)")
        if credits and credits.adjusted() + 1 > getcontext().prec:
            raise RowProblem("amount.monetary.value", f"expected at most "
                                                      f"{getcontext().prec} digits of "
                                                      f"credits (the decimal context), got "
                                                      f"{amount}")
        return credits.to_integral_value()

    def expiry(self, values: Mapping[str, str], when: datetime.date
               ) -> tuple[datetime.date | None, datetime.date | None]:
        """(expiry, void): the UTC day of ``expires_at`` or the void's, the earlier."""
        expires = datetime.date.fromisoformat(values["expires_at"]) if values[
            "expires_at"] else None
        void = datetime.date.fromisoformat(values["voided_at"]) if values[
            "voided_at"] else None
        if void is not None and void <= when:
            raise RowProblem("voided_at", f"voided on {void}, on or before its date {when}: "
                                          f"no credit was ever usable, nothing to book")
        if void is not None and (expires is None or void < expires):
            return void, void
        return expires, None

    def book(self, values: dict[str, str], occurrence: dict[str, int]) -> list[Booking]:
        grant_id = values["grant_id"]
        category = values["category"]
        if category not in CATEGORIES:
            raise RowProblem("category", f"expected one of {', '.join(map(repr, CATEGORIES))},"
                                         f" got {category!r}")
        when = datetime.date.fromisoformat(values["effective"])
        customer = self.customer(values)
        amount = major(int(values["value"]), values["currency"])
        currency = values["currency"]
        priority = int(values["priority"]) if values["priority"] else None
        extra: dict[str, object] = {"grant_id": grant_id,
                                    "stripe_customer": values["customer_id"]}
        if category == "paid":
            return self.paid(values, occurrence, when, customer, amount, priority, extra)
        pack = values["metadata.pack"] or grant_id
        cust = self.contracts.customers[customer]
        contract = cust.contract_for(values["metadata.contract"] or None, when)
        if contract is None:  # (the purchases path says why)
            return super().purchases(self.row(values, when, customer, pack, "0", grant_id,
                                              None, "promotional", None,
                                              values["metadata.contract"]), occurrence)
        if any(g.id == grant_id for g in contract.grants):
            return []  # the contract declares it (its priority, void...): booked there
        if contract.credit_value is None:
            raise RowProblem("amount", f"contract {contract.id!r} has no credit_value "
                                       f"(expected one with grants)")
        credits = self.credits(values, contract, amount)
        expires, void = self.expiry(values, when)
        if pack in contract.packs and expires is None and pack_terms(contract, pack, when)[1]:
            raise RowProblem("expires_at", f"expected an expiry: pack {pack!r} expires "
                                           f"(a grant of a pack takes its expiry when it "
                                           f"has none), got null (never)")
        known = self.booked.get(grant_id)
        if grant_id in self.index.keys:
            if known is not None:
                self.compare(known, grant_id, customer, currency, Decimal("0.00"), credits,
                             expires, grant_id)
            return []
        row = self.row(values, when, customer, pack, "0", grant_id, credits, "promotional",
                       expires, contract.id if values["metadata.contract"] else "")
        row["priority"] = "" if priority is None else str(priority)  # else the pack's
        row["void"] = void.isoformat() if void is not None else ""
        found = super().purchases(row, occurrence)
        self.booking_done(found, extra)
        return found

    def paid(self, values: dict[str, str], occurrence: dict[str, int], when: datetime.date,
             customer: str, amount: Decimal, priority: int | None,
             extra: dict[str, object]) -> list[Booking]:
        """A paid grant: the purchase of its charge (see the module doc)."""
        grant_id = values["grant_id"]
        charge = values["metadata.stripe_charge"]
        if not charge:
            raise RowProblem("metadata.stripe_charge", "expected the id of the charge that "
                                                       "paid the credits (ch_...) for a paid "
                                                       "grant: its cash is that charge's")
        if values["voided_at"]:
            raise RowProblem("voided_at", f"paid credits voided on {values['voided_at']}: "
                                          f"the book voids no paid purchase (refund charge "
                                          f"{charge}, or move its expiry by a modification)")
        if not amount:
            raise RowProblem("amount.monetary.value", "expected > 0 for a paid grant, got 0")
        expires, _ = self.expiry(values, when)
        if charge in self.index.keys:
            known = self.booked.get(charge) or self.charge_terms(charge, when)
            if known is None:
                raise self.conflict("metadata.stripe_charge", f"{charge} is booked, but not "
                                                              f"as a purchase of credits (a "
                                                              f"payment of invoices?)")
            contract = self.contracts.contract(known.contract)
            credits = self.credits(values, contract, amount) if contract else None
            self.compare(known, charge, customer, values["currency"], amount, credits,
                         expires, grant_id)
            own = (contract.packs[known.pack].priority
                   if contract is not None and known.pack in contract.packs
                   else DEFAULT_PRIORITY)
            self.check_priority(priority, own, f"charge {charge} is booked as pack "
                                               f"{known.pack!r}, drawn at priority {own}",
                                conflict=True)
            return []
        pack = self.pack_of(values)
        contract = contract_for(self.contracts, customer, values["metadata.contract"], pack,
                                when)
        credits = self.credits(values, contract, amount)
        pack_credits, pack_expires = pack_terms(contract, pack, when)
        if credits is not None and credits != pack_credits:
            raise RowProblem("metadata.credits" if values["metadata.credits"] else "amount",
                             f"expected {pack_credits} credits (those of pack {pack!r} of "
                             f"contract {contract.id!r}, which the charge's purchase gives), "
                             f"got {credits}")
        if expires != pack_expires:
            raise RowProblem("expires_at", f"expected {pack_expires or 'null (never)'} (the "
                                           f"expiry of pack {pack!r} bought on {when}), got "
                                           f"{expires or 'null (never)'}")
        own = contract.packs[pack].priority if pack in contract.packs else DEFAULT_PRIORITY
        self.check_priority(priority, own, f"pack {pack!r} is drawn at priority {own}")
        found = super().purchases(self.row(values, when, customer, pack, str(amount), charge,
                                           None, "", None, values["metadata.contract"]),
                                  occurrence)
        extra["priority"] = Decimal(own)
        self.booking_done(found, extra)
        return found

    def pack_of(self, values: Mapping[str, str]) -> str:
        found = (values["metadata.pack"] or self.packs.get(values["name"], "")
                 or self._named(values, "pack"))
        if not found:
            raise RowProblem("name", f"expected a pack: metadata 'pack', a grant name mapped "
                                     f"in importers.yaml (stripe: packs: {{...: <pack>}}) or "
                                     f"a description pattern; got {values['name']!r}")
        return found

    def charge_terms(self, charge: str, when: datetime.date) -> Terms | None:
        """What the index holds of a charge another source booked in this run (its
        pack's credits; its expiry is not known here)."""
        found = self.index.charges.get(charge)
        if found is None:
            return None
        contract = self.contracts.contract(found.contract)
        credits = (pack_terms(contract, found.pack, when)[0]
                   if contract is not None and (found.pack in contract.packs or any(
                       m.id == found.pack for m in contract.modifications)) else None)
        return Terms(found.customer, found.contract, found.pack, found.currency,
                     found.paid - found.tax,
                     credits, UNKNOWN, where="by another source of this run")

    def check_priority(self, priority: int | None, own: int, why: str,
                       conflict: bool = False) -> None:
        wanted = STRIPE_DEFAULT_PRIORITY if priority is None else priority
        if wanted == own:
            return
        reason = (f"expected priority {own} ({why}), got {wanted}: a grant of its own "
                  f"priority is a contract grant (grants: [{{id: <grant id>, priority: "
                  f"{wanted}, ...}}])")
        raise self.conflict("priority", reason) if conflict else RowProblem("priority", reason)

    def compare(self, known: Terms, key: str, customer: str, currency: str,
                amount: Decimal, credits: Decimal | None, expires: datetime.date | None,
                grant_id: str) -> None:
        """A conflict if what the book holds for ``key`` is not what the grant says."""
        where = f"{key} is booked ({known.where})"
        if known.grant_id and known.grant_id != grant_id:
            raise self.conflict("id", f"{where} with grant {known.grant_id}, not this one")
        if known.customer != customer:
            raise self.conflict("customer", f"{where} for customer {known.customer!r}; the "
                                            f"grant is {customer!r}'s")
        if (known.currency, known.amount) != (currency, amount):
            raise self.conflict("amount.monetary.value",
                                f"{where} for {known.amount} {known.currency}; the grant "
                                f"is of {amount} {currency}")
        if credits is not None and known.credits is not None and known.credits != credits:
            raise self.conflict("metadata.credits", f"{where} with {known.credits} credits; "
                                                    f"the grant gives {credits}")
        if known.expires is not UNKNOWN and known.expires != expires:
            raise self.conflict("expires_at", f"{where} expiring "
                                              f"{known.expires or 'never'}; the grant "
                                              f"expires {expires or 'never'}")

    def row(self, values: Mapping[str, str], when: datetime.date, customer: str, pack: str,
            amount: str, payment_id: str, credits: Decimal | None, kind: str,
            expires: datetime.date | None = None, contract: str = "") -> dict[str, str]:
        """The canonical purchases row of the grant (``importers.purchases``)."""
        return {"date": when.isoformat(), "customer": customer, "contract": contract,
                "pack": pack, "amount": amount, "currency": values["currency"],
                "payment_id": payment_id, "credits": "" if credits is None else str(credits),
                "expires": expires.isoformat() if expires else "", "kind": kind}

    def booking_done(self, found: list[Booking], extra: dict[str, object]) -> None:
        """Keep the grant's metadata for its entry, and its terms for what follows."""
        for booking in found:
            purchase = booking.purchase
            if purchase is None:
                continue
            self._meta[purchase.payment_id] = extra
            self.booked[purchase.payment_id] = Terms(
                purchase.customer, purchase.contract, purchase.pack, purchase.currency,
                purchase.amount,
                purchase.credits, purchase.expires, str(extra["grant_id"]),
                f"by {self._source.name if self._source else '?'}:"
                f"{self._row.line if self._row else 0}")

    def entry(self, booking: Booking, provenance: dict[str, object]) -> data.Transaction:
        if booking.purchase is not None:
            extra = self._meta.get(booking.purchase.payment_id, {})
            provenance = {**extra, **provenance}
        return super().entry(booking, provenance)
