"""The auditor pack of a period: one folder an auditor can work from (docs/audit-pack.md).

    pack = audit.build(ledger, "2026-Q1", 25, 7, found)  # found: completeness by month
    pack.files          # file name -> text, in the order to write them (README.md last)

The parts, each a CSV and a JSON file (``tables``: the same escaping as every report):

    contract-log      every customer, contract, pack, rate, price-book version, grant,
                      breakage revision and modification, with its approval, its evidence
                      and the YAML file and line it is written at; what the book booked
    breakage          the breakage report of each month, and as of the period's end the
                      history, the back-test of the estimates applied and the rates in force
    completeness      each month's usage completeness check and table (counted by the
                      caller: the archived sources are the command's to read)
    fingerprints      each month's close: the close directive, its manifest, the record
                      reports/<P>/lock.json, the git tag, the manifest recomputed now, and
                      the sha256 of the close's reports
    sample            N revenue lines drawn with ``random.Random(seed)`` from the usage
                      revenue of the period, each with what re-derives it to the cent:
    sample-weights      the value at contract rates of every key the line's revenue was
                        split over (counts x rates per ``per`` tokens)
    sample-entries      the usage entries it came from (file:line, counts, value), the
                        archived source (path, sha256) and its raw first and last event lines

``sample.json`` holds each line whole (stream, lot or arrears state, allocation, ties,
entries); the CSV files are its flat views. ``SHA256SUMS`` lists every part, and
``README.md``, the index, is written last: a pack without it, or whose files do not
match it (``verify``), is not complete.

What a sampled line re-derives from (``rules``: the engine's own arithmetic, run again
here with a tracing subclass of ``rules.engine.ContractEngine``, which records what each
posting segment's booking was computed from):

1. each usage entry's value at contract rates: uncached input x input rate + cached
   input x cached rate + output x output rate, each rate per ``per`` tokens (net of the
   contract's discount, or the contract's own rate), plus an action's price x the
   weight of its outcomes;
2. the stream the line is a part of, as an exact cumulative amount rounded half up to the
   cent less what the stream posted before (``rules.rounding``): a lot's face value of
   the credits used to date (``price`` over ``credits``, from the lot's base), an
   arrears contract's cumulative value through its tiers, a concession's face value;
   breakage is the lot's recognized total (remote or proportional target) less usage;
3. the split of that amount over the (model, feature, action) keys of the posting
   segment in proportion to their value, keys in order, cumulatively rounded
   (``rules.allocation``).

The tie says how the streams' inputs follow from the entries: the entries' value is
what the credits drawn from the segment's lots and blocked by a hard stop are worth,
plus the list value the segment added to the arrears stream over its multiplier (usage
past the credits, or a contract without any).

The sample's population is the usage revenue of the period: the postings to
``Income:Revenue:Usage``, ``:Actions``, ``:Breakage`` and ``:Concessions`` of the
``usage`` transactions the revenue plugin generated. The other revenue postings
(breakage revisions and expiries, commitments, modifications, refunds) are summed in
the index by rule and account, not sampled: their arithmetic is their own report's.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from beancount.core import data

from ..entries.build import number, relative_ref
from ..lock import closed_periods, evidence, period_items
from ..revenue import FILENAME as GENERATED
from ..rules import accounts, manifest, reconcile
from ..rules.allocation import allocate
from ..rules.arrears import Arrears
from ..rules.contracts import read_yaml
from ..rules.engine import EXACT_DIGITS, ContractEngine
from ..rules.fx import price_book_for
from ..rules.journal import Booking, Leg
from ..rules.model import Contract, PriceBook
from ..rules.periods import month_of, months, parse_period
from ..rules.pricing import DayPrice
from ..rules.records import Purchase, Usage
from ..rules.rounding import to_cent
from ..rules.tiers import band_multiplier, tiered
from . import breakage as breakage_report
from . import rerun
from .ledger import Ledger
from .tables import Table, to_csv, to_json

README = "README.md"
SUMS = "SHA256SUMS"
PARTS = ("contract-log", "breakage", "completeness", "fingerprints", "sample",
         "sample-weights", "sample-entries")
FILES = (*(f"{p}.{ext}" for p in PARTS for ext in ("csv", "json")), SUMS, README)
ROUNDING = ("ROUND_HALF_UP to 0.01 of the exact cumulative amount of the stream, less the "
            "cents the stream posted before (rules.rounding); a split over keys takes them "
            "in (model, feature, action) order, each share the rounded cumulative share "
            "less the shares before it (rules.allocation)")
STREAM_ACCOUNTS = (accounts.REVENUE_USAGE, accounts.REVENUE_ACTIONS,
                   accounts.REVENUE_BREAKAGE, accounts.REVENUE_CONCESSIONS)
ZERO = Fraction(0)
CENTS = Decimal("0.00")


class AuditError(Exception):
    """The pack cannot be made (a period that is not one, a book the engine cannot rerun)."""


# --- numbers as the pack writes them --------------------------------------------------


def exact(value: Fraction | Decimal | int) -> str:
    """An exact number as text: a terminating decimal as it is (``446.17554965``), else
    ``numerator/denominator``; ``fractions.Fraction`` reads either back."""
    value = Fraction(value)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10 ** places
    text = format(Decimal(scaled.numerator).scaleb(-places), "f")
    return text


def cents(value: Decimal | Fraction | int) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")) if not isinstance(value, Fraction)
                  else to_cent(value), "f")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~&$])")


def md(text: object) -> str:
    """Text as one Markdown table cell: whitespace (newlines too) folded to one space and
    every character Markdown or HTML could read as markup backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def _relative(path: str | Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


# --- where a clause is written: YAML file and line ----------------------------------------


class Clauses:
    """The YAML file and line of every field of the contracts (``rules.contracts.
    read_yaml``), read once per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, tuple[Any, dict[tuple[str | int, ...], int]]] = {}

    def _read(self, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
        if source not in self._files:
            found, lines, _ = read_yaml(Path(source)) if source else (None, {}, [])
            self._files[source] = (found, lines)
        return self._files[source]

    def file(self, source: str) -> str:
        return _relative(source, self.root) if source else ""

    def line(self, source: str, *path: str | int) -> int | None:
        _, lines = self._read(source)
        at = tuple(path)
        while at and at not in lines:
            at = at[:-1]
        return lines.get(at)

    def where(self, source: str, *path: str | int) -> str:
        line = self.line(source, *path)
        return f"{self.file(source)}:{line}" if line else self.file(source)

    def contract_index(self, contract: Contract) -> int | None:
        found, _ = self._read(contract.source)
        for i, raw in enumerate((found or {}).get("contracts") or []):
            if isinstance(raw, dict) and raw.get("id") == contract.id:
                return i
        return None

    def contract(self, contract: Contract, *path: str | int) -> str:
        """``file:line`` of ``path`` under the contract (the contract's own line for ``()``)."""
        i = self.contract_index(contract)
        if i is None:
            return self.file(contract.source)
        return self.where(contract.source, "contracts", i, *path)

    def index_of(self, contract: Contract, key: str, ident: str) -> int | None:
        """The position of the item with ``id: ident`` in the contract's list ``key``."""
        found, _ = self._read(contract.source)
        i = self.contract_index(contract)
        if i is None:
            return None
        for j, raw in enumerate(((found or {}).get("contracts") or [])[i].get(key) or []):
            if isinstance(raw, dict) and raw.get("id") == ident:
                return j
        return None

    def price_book(self, book: PriceBook, *path: str | int) -> str:
        return self.where(book.source, *path)


# --- the contract log ---------------------------------------------------------------------

LOG_COLUMNS = ["kind", "customer", "contract", "item", "date", "detail", "approved_by",
               "approved_on", "basis", "evidence", "evidence_found", "status", "booked",
               "in_period", "file", "line", "sha256"]


def _booked_changes(ledger: Ledger) -> dict[tuple[str, str], list[str]]:
    """(contract, modification id or pack@date) -> what the book booked for it."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for tx in ledger.transactions:
        rule = str(tx.meta.get("rule") or "")
        if rule not in ("modification", "breakage-revision"):
            continue
        revenue = -sum((number(p) for p in tx.postings
                        if accounts.under(p.account, accounts.REVENUE) and p.units is not None),
                       CENTS)
        contract = str(tx.meta.get("contract") or "")
        if rule == "modification":
            key = str(tx.meta.get("modification") or "")
            text = (f"{tx.date} {tx.meta.get('method', '')}: revenue {cents(revenue)}"
                    f" ({tx.meta.get('reason', '')})")
        else:
            key = f"{tx.meta.get('pack', '')}@{tx.date}"
            text = (f"{tx.date} lot {tx.meta.get('lot', '')}: rate "
                    f"{tx.meta.get('rate_before', '')} -> {tx.meta.get('rate_after', '')}, "
                    f"revenue {cents(revenue)}")
        out[(contract, key)].append(text)
    return out


def contract_log(ledger: Ledger, start: datetime.date, end: datetime.date) -> Table:
    """Every contract, version, modification and approval of the book, at its YAML file
    and line (``end``: the day after the period)."""
    root = ledger.root
    clauses = Clauses(root)
    booked = _booked_changes(ledger)
    rows: list[dict[str, object]] = []
    last = end - datetime.timedelta(days=1)

    def row(kind: str, source: str, where: str, **values: object) -> None:
        file, _, line = where.rpartition(":") if ":" in where else (where, "", "")
        item: dict[str, object] = {"kind": kind, "file": file or where,
                                   "line": int(line) if line.isdigit() else None}
        item.update({k: v for k, v in values.items() if v not in (None, "")})
        rows.append(item)

    for book in sorted(ledger.contracts.price_books.values(), key=lambda b: b.id):
        row("price-book", book.source, clauses.price_book(book, "id"), item=book.id,
            detail=f"{book.currency} per {book.per} tokens", sha256=_file_sha(book.source))
        for k, version in enumerate(book.versions):
            row("price-book-version", book.source,
                clauses.price_book(book, "versions", k, "effective"), item=book.id,
                date=version.effective, detail=f"{len(version.models)} model(s)",
                in_period="yes" if version.effective < end else "no")
            for model in sorted(version.models):
                rates = version.models[model]
                row("price-book-rate", book.source,
                    clauses.price_book(book, "versions", k, "models", model),
                    item=f"{book.id}@{version.effective} {model}", date=version.effective,
                    detail=f"input {rates.input}, cached_input {rates.cached_input}, "
                           f"output {rates.output} per {book.per}")
    for cid in sorted(ledger.contracts.customers):
        customer = ledger.contracts.customers[cid]
        row("customer", customer.source, clauses.where(customer.source, "customer"),
            customer=cid, item=customer.name,
            detail=f"segment {customer.segment}" if customer.segment else "",
            sha256=_file_sha(customer.source))
        for contract in customer.contracts:
            in_force = contract.start < end and (contract.end is None or contract.end >= start)
            row("contract", contract.source, clauses.contract(contract), customer=cid,
                contract=contract.id, item=contract.id, date=contract.start,
                detail=_contract_detail(contract), in_period="yes" if in_force else "no")
            for model, override in sorted(contract.rates.items()):
                row("rate", contract.source, clauses.contract(contract, "rates", model),
                    customer=cid, contract=contract.id, item=model,
                    detail=", ".join(f"{k} {v}" for k, v in sorted(override.items())))
            for name, action in sorted(contract.actions.items()):
                row("action-price", contract.source,
                    clauses.contract(contract, "actions", name), customer=cid,
                    contract=contract.id, item=name,
                    detail=f"price {action.price}; " + ", ".join(
                        f"{k} {v}" for k, v in action.weights.items()))
            if contract.tiers is not None:
                t = contract.tiers
                bands = "; ".join(f"up to {b.up_to if b.up_to is not None else 'any'} x "
                                  f"{b.multiplier}" for b in t.bands)
                row("tiers", contract.source, clauses.contract(contract, "tiers"),
                    customer=cid, contract=contract.id, item=f"{t.mode} per {t.period}",
                    detail=bands + (f"; retroactive, expected {t.expected_volume}"
                                    if t.retroactive else ""), approved_by=t.approved_by)
                for n, tier_rev in enumerate(t.revisions):
                    row("tier-revision", contract.source,
                        clauses.contract(contract, "tiers", "revisions", n), customer=cid,
                        contract=contract.id, date=tier_rev.date,
                        detail=f"expected volume {tier_rev.expected_volume}",
                        approved_by=tier_rev.approved_by, basis=tier_rev.basis,
                        status="approved" if tier_rev.approved_by else "pending")
            if contract.commitment is not None:
                c = contract.commitment
                row("commitment", contract.source, clauses.contract(contract, "commitment"),
                    customer=cid, contract=contract.id, item=f"{c.amount} per {c.period}",
                    detail=f"method {c.method}, carryover {str(c.carryover).lower()}")
            if contract.allowance is not None:
                a = contract.allowance
                row("allowance", contract.source, clauses.contract(contract, "allowance"),
                    customer=cid, contract=contract.id, item=f"{a.credits} per {a.period}",
                    detail=f"fee {a.fee}, rollover {a.rollover}")
            for name in sorted(contract.packs):
                pack = contract.packs[name]
                terms = pack.breakage
                expiry = (f"expires {pack.expires}" if pack.expires else
                          f"expires after {pack.expires_after}" if pack.expires_after
                          else "never expires")
                rate = f", rate {terms.rate}" if terms.rate is not None else ""
                row("pack", contract.source, clauses.contract(contract, "packs", name),
                    customer=cid, contract=contract.id, item=name,
                    detail=f"price {pack.price} for {pack.credits} credits, {expiry}, "
                           f"breakage {terms.method}{rate}"
                           + (f", ssp {pack.ssp}" if pack.ssp is not None else ""),
                    approved_by=terms.approved_by)
                before = terms.rate
                for j, rev in enumerate(terms.revisions):
                    applied = booked.get((contract.id, f"{name}@{rev.date}"), [])
                    row("breakage-revision", contract.source,
                        clauses.contract(contract, "packs", name, "breakage", "revisions", j),
                        customer=cid, contract=contract.id, item=name, date=rev.date,
                        detail=f"rate {before} -> {rev.rate}", approved_by=rev.approved_by,
                        basis=rev.basis,
                        status=("pending (no approved_by: not applied)" if not rev.approved_by
                                else "after the period" if rev.date > last else "approved"),
                        booked="; ".join(applied),
                        in_period="yes" if start <= rev.date <= last else "no")
                    if rev.approved_by:
                        before = rev.rate
            for grant in contract.grants:
                at = clauses.index_of(contract, "grants", grant.id)
                where = (clauses.contract(contract, "grants", at) if at is not None
                         else clauses.contract(contract))
                row("grant", contract.source, where, customer=cid, contract=contract.id,
                    item=grant.id, date=grant.date,
                    detail=f"{grant.kind}, {grant.credits} credits"
                           + (f" with {grant.with_payment}" if grant.with_payment else "")
                           + (f"; {grant.reason}" if grant.reason else ""),
                    in_period="yes" if start <= grant.date <= last else "no")
            for mod in contract.modifications:
                at = clauses.index_of(contract, "modifications", mod.id)
                where = (clauses.contract(contract, "modifications", at) if at is not None
                         else clauses.contract(contract))
                found = ""
                if mod.evidence:
                    found = "yes" if (root / mod.evidence).is_file() else "no"
                row("modification", contract.source, where, customer=cid,
                    contract=contract.id, item=mod.id, date=mod.date,
                    detail=_modification_detail(mod), approved_by=mod.approved_by,
                    approved_on=mod.approved_on, evidence=mod.evidence,
                    evidence_found=found,
                    status=("pending approval (no revenue effect)" if not mod.approved
                            else "after the period" if mod.date > last else "approved"),
                    booked="; ".join(booked.get((contract.id, mod.id), [])),
                    in_period="yes" if start <= mod.date <= last else "no")
    notes = ["file and line: where the clause is written (a path relative to the book's "
             "folder); sha256: of the YAML file as read for this pack.",
             "evidence_found: whether the evidence path exists, relative to the book's "
             "folder; booked: the entries the book generated for the change."]
    return Table("contract-log", "Contract log", list(LOG_COLUMNS), rows, notes)


def _file_sha(source: str) -> str:
    try:
        return sha256_of(Path(source)) if source else ""
    except OSError:
        return ""


def _contract_detail(c: Contract) -> str:
    parts = [f"billing {c.billing}", f"price book {c.price_book}",
             f"{c.start} to {c.end or 'open'}", f"currency {c.currency}"]
    if c.discount:
        parts.append(f"discount {c.discount}")
    if c.credit_value is not None:
        parts.append(f"credit value {c.credit_value}")
    parts.append(f"overage {c.overage.policy}"
                 + (f" x {c.overage.multiplier}" if c.overage.multiplier != 1 else ""))
    if c.non_billable_features:
        parts.append("non-billable " + ", ".join(sorted(c.non_billable_features)))
    parts.append(f"payment terms {c.payment_terms_days} days")
    return "; ".join(parts)


def _modification_detail(mod: Any) -> str:
    parts = [f"method {mod.method}"]
    if mod.add_credits:
        parts.append(f"add {mod.add_credits} credits for {mod.price}")
    if mod.ssp is not None:
        parts.append(f"ssp {mod.ssp}")
    if mod.expires is not None:
        parts.append(f"expires {mod.expires}")
    if mod.discount is not None:
        parts.append(f"discount {mod.discount}")
    for model, rates in sorted(mod.rates.items()):
        parts.append(f"rates {model} " + ", ".join(f"{k} {v}" for k, v in sorted(rates.items())))
    if mod.past_credit:
        parts.append(f"past credit {mod.past_credit}")
    return "; ".join(parts)


# --- breakage, completeness, fingerprints ---------------------------------------------


def breakage(ledger: Ledger, periods: Sequence[str]) -> Table:
    """The breakage report's month section for each month of ``periods``; the history,
    back-test, review and rates in force as of the last month's end."""
    rows: list[dict[str, object]] = []
    columns: list[str] = []
    notes: list[str] = []
    for i, period in enumerate(periods):
        table = breakage_report.breakage_table(ledger.month(period))
        columns = ["period", *table.columns]
        last = i == len(periods) - 1
        rows += [{"period": period, **r} for r in table.rows
                 if r.get("section") == "month" or last]
        if last:
            notes = [f"history, back-test, review and in force: as of {period}'s end",
                     *table.notes]
    return Table("breakage", "Breakage and its back-test", columns, rows, notes)


COMPLETENESS_COLUMNS = ["period", "section", "name", "status", "detail"]


def completeness(found: Mapping[str, tuple[reconcile.Check, Table]],
                 periods: Sequence[str]) -> Table:
    """Each month's completeness check (events in the archived sources = the event-id
    indexes = the usage entries priced) and its table, as the caller counted them."""
    rows: list[dict[str, object]] = []
    columns = list(COMPLETENESS_COLUMNS)
    notes: list[str] = []
    for period in periods:
        if period not in found:
            rows.append({"period": period, "section": "check", "name": "usage completeness",
                         "status": "not run"})
            continue
        check, table = found[period]
        rows.append({"period": period, "section": "check", "name": check.name,
                     "status": "ok" if check.ok else "FAILED",
                     "detail": check.detail + ("; " + "; ".join(check.failures)
                                               if check.failures else "")})
        for r in table.rows:
            rows.append({"period": period, **r})
        for c in table.columns:
            if c not in columns:
                columns.append(c)
        notes = list(table.notes)
    return Table("completeness", "Usage completeness, month by month", columns, rows,
                 notes + ["source_events: events in the archived source, read again by its "
                          "importer; indexed_events: in the event-id index; events: in the "
                          "usage entries."])


FINGERPRINT_COLUMNS = ["period", "evidence", "path", "fingerprint", "entries", "sha256",
                       "agrees", "note"]


def fingerprints(ledger: Ledger, periods: Sequence[str]) -> Table:
    """Each month's close and its evidence, and the manifest recomputed from the book."""
    root = ledger.root
    closes = closed_periods(ledger.entries)
    found = evidence(root)
    rows: list[dict[str, object]] = []
    wanted = [p for p in periods if p in closes]
    recomputed = period_items(list(ledger.entries), set(wanted), root) if wanted else {}
    for period in periods:
        close = closes.get(period)
        if close is None:
            rows.append({"period": period, "evidence": "close", "agrees": "",
                         "note": "not closed"})
            continue
        fingerprint = str(close.meta.get("fingerprint") or "")
        close_file = Path(str(close.meta.get("filename", "")))
        rows.append({"period": period, "evidence": "close directive",
                     "path": f"{_relative(close_file, root)}:{close.meta.get('lineno', '')}",
                     "fingerprint": fingerprint, "entries": close.meta.get("entries"),
                     "sha256": _file_sha(str(close_file)), "agrees": "yes"})
        manifest_file = close_file.parent / str(close.meta.get("manifest") or "")
        try:
            digest = manifest.digest(manifest_file.read_text(encoding="utf-8"))
            sha = sha256_of(manifest_file)
        except OSError:
            digest, sha = "", ""
        rows.append({"period": period, "evidence": "manifest",
                     "path": _relative(manifest_file, root), "fingerprint": digest,
                     "sha256": sha, "agrees": "yes" if digest == fingerprint else "NO",
                     "note": "the fingerprint is the sha256 of the manifest's text"})
        where = found.get(period, {})
        record = f"reports/{period}/lock.json"
        rows.append({"period": period, "evidence": "record", "path": record,
                     "fingerprint": where.get(record, ""),
                     "sha256": _file_sha(str(root / record)),
                     "agrees": ("yes" if where.get(record) == fingerprint
                                else "missing" if record not in where else "NO")})
        tag = f"git tag tokenbooks/close/{period}"
        if tag in where:
            rows.append({"period": period, "evidence": "git tag", "path": tag,
                         "fingerprint": where[tag],
                         "agrees": "yes" if where[tag] == fingerprint else "NO"})
        else:
            rows.append({"period": period, "evidence": "git tag", "path": tag,
                         "agrees": "", "note": "none (the book's folder is not the top of "
                                               "a git work tree, or it has no such tag)"})
        items = [item for item, _ in recomputed.get(period, [])]
        now = manifest.digest(manifest.render(items))
        rows.append({"period": period, "evidence": "recomputed", "path": "(the book now)",
                     "fingerprint": now, "entries": len(items),
                     "agrees": "yes" if now == fingerprint else "NO",
                     "note": "the manifest of the month's entries as loaded for this pack"})
        folder = root / "reports" / period
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.is_file() and path.name != "lock.json" and not path.name.startswith("."):
                rows.append({"period": period, "evidence": "report",
                             "path": _relative(path, root), "sha256": sha256_of(path)})
    return Table("fingerprints", "Close fingerprints", list(FINGERPRINT_COLUMNS), rows,
                 ["agrees: the evidence names the close directive's fingerprint."])


# --- the traced engine ------------------------------------------------------------------


class _Arrears(Arrears):
    """Arrears that also count the list value added (before tiers), cumulatively."""

    def __init__(self, contract: Contract) -> None:
        super().__init__(contract)
        self.added = ZERO

    def add(self, day: datetime.date, tokens: Any, actions: Any) -> None:
        self.added += Fraction(tokens) + Fraction(actions)
        super().add(day, tokens, actions)


@dataclass
class Valued:
    """One usage entry as the engine priced it."""

    usage: Usage
    key: tuple[str, str, str]
    tokens: Fraction
    actions: Fraction
    version: datetime.date | None
    rates: tuple[Fraction, Fraction, Fraction] | None  # per token, net
    special: bool


@dataclass
class LotState:
    id: str
    kind: str
    pack: str
    method: str
    price: Decimal
    credits: Fraction
    base_revenue: Decimal
    base_credits: Fraction
    expected: Fraction | None
    closed: bool
    used: Fraction
    used_actions: Fraction
    forfeited: Fraction
    used_at_open: Fraction
    posted_usage: Decimal
    posted_actions: Decimal
    posted_total: Decimal
    posted_unclaimed: Decimal
    unclaimed_share: Fraction
    posted_face: Decimal
    posted_face_actions: Decimal
    rate_in_force: Decimal | None
    purchased: datetime.date
    expires: datetime.date | None


@dataclass
class ArrearsState:
    closed_total: Fraction
    closed_actions: Fraction
    list_tokens: Fraction
    list_actions: Fraction
    expected: Fraction | None
    settled: bool
    posted_usage: Decimal
    posted_actions: Decimal
    withheld: Fraction
    added: Fraction  # list value added in the segment


@dataclass
class Segment:
    """What one posting segment's booking was computed from."""

    start: datetime.date
    end: datetime.date
    values: dict[tuple[str, str, str], tuple[Fraction, Fraction]]
    entries: list[Valued]
    lots: list[LotState]
    arrears: ArrearsState
    credits: Fraction
    overage_credits: Fraction
    blocked_credits: Fraction
    credit_value: Fraction | None
    multiplier: Fraction
    billing: str
    contract: Contract  # as in force (a modification may have changed its rates)


@dataclass
class _Open:
    used: dict[str, Fraction]
    added: Fraction
    entries: list[Valued] = field(default_factory=list)


class TracingEngine(ContractEngine):
    """The contract engine, recording at each segment's posting what it posted from
    (``traces``: booking index -> Segment). Its bookings are the revenue stage's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracked = _Arrears(self.contract)
        self.arrears = self.tracked
        self.traces: dict[int, Segment] = {}
        self._open: dict[object, _Open] = {}

    def open_segment(self, day: datetime.date) -> Any:
        before = self.segment
        seg = super().open_segment(day)
        if seg is not before:
            self._open[seg] = _Open({i: lot.used for i, lot in self.lots.by_id.items()},
                                    self.tracked.added)
        return seg

    def use(self, day: datetime.date, usages: list[Usage],
            price: DayPrice | None = None) -> None:
        pricer = self.pricer
        valued = []
        for usage in usages:
            one = pricer.price_day(day, (usage,), each=True)
            if one.errors:
                continue
            priced: Any = one.priced[0]  # (each=True: a Priced)
            found = pricer.resolved_rates(usage.model, day) if usage.model else None
            model = found[0] if found else usage.model
            served = usage.action or (pricer.served.get(usage.workflow, "")
                                      if usage.workflow else "")
            rates = ((Fraction(found[1][0]), Fraction(found[1][1]), Fraction(found[1][2]))
                     if found else None)
            valued.append(Valued(usage, (model, usage.feature, served),
                                 Fraction(priced.tokens), Fraction(priced.actions),
                                 priced.version, rates, bool(usage.model) and _special(usage)))
        super().use(day, usages, price)
        seg = self.segment
        if seg is not None and seg in self._open:
            self._open[seg].entries.extend(valued)

    def flush(self, day: datetime.date, cut: bool = False) -> None:
        seg = self.segment
        if seg is None or (not cut and seg.end > day):
            super().flush(day, cut)
            return
        state = self._capture(seg, day)
        before = len(self.run.bookings)
        super().flush(day, cut)
        if len(self.run.bookings) == before + 1:
            self.traces[before] = state
        self._open.pop(seg, None)

    def _capture(self, seg: Any, day: datetime.date) -> Segment:
        opened = self._open.get(seg) or _Open({}, self.tracked.added)
        lots = []
        for lot_id in sorted(seg.lots):
            lot = seg.lots[lot_id]
            lots.append(LotState(
                lot.id, lot.kind, lot.pack, lot.method, lot.price, Fraction(lot.credits),
                lot.base_revenue, Fraction(lot.base_credits),
                None if lot.expected is None else Fraction(lot.expected), lot.closed,
                Fraction(lot.used), Fraction(lot.used_actions), Fraction(lot.forfeited),
                opened.used.get(lot.id, ZERO), lot.posted_usage.posted,
                lot.posted_actions.posted, lot.posted_total.posted,
                lot.posted_unclaimed.posted, Fraction(lot.unclaimed_share),
                lot.posted_face.posted, lot.posted_face_actions.posted,
                self.changes.rates.get(lot.id), lot.purchased, lot.expires))
        a = self.arrears
        total, _ = a.exact()
        arrears = ArrearsState(
            Fraction(a.closed_total), Fraction(a.closed_actions), Fraction(a.list_tokens),
            Fraction(a.list_actions), a.expected, a.settled, a.posted_usage.posted,
            a.posted_actions.posted,
            Fraction(self.commit.withheld(total)) if self.commit else ZERO,
            self.tracked.added - opened.added)
        prepaid = self.contract.billing == "prepaid"
        return Segment(
            seg.start, day, {k: (Fraction(v[0]), Fraction(v[1])) for k, v in seg.values.items()},
            list(opened.entries), lots, arrears, Fraction(seg.credits),
            Fraction(seg.overage_credits), Fraction(seg.blocked_credits), self.credit_value,
            Fraction(self.contract.overage.multiplier) if prepaid else Fraction(1),
            self.contract.billing, self.contract)


def _special(usage: Usage) -> bool:
    return bool(usage.tier or usage.context or usage.cache_hit or usage.extra)


def trace(ledger: Ledger, contract: Contract) -> TracingEngine:
    """The contract's engine run again over the book's usage and purchases, traced (the
    revenue stage's inputs: the same routing, as-of date and posting grain)."""
    customer = ledger.contracts.customers[contract.customer]
    usages = [u for u in rerun.usage_of(ledger, {contract.customer})
              if customer.contract_on(u.date) is contract]
    purchases: list[Purchase] = []
    for purchase, _ in ledger.load.purchases or []:
        if (purchase.customer == contract.customer
                and customer.contract_for(purchase.contract, purchase.date) is contract):
            purchases.append(purchase)
    # a contract's fixed rate converts its price book (docs/currency.md)
    price_book = price_book_for(ledger.contracts.price_books[contract.price_book], contract)
    engine = TracingEngine(contract, price_book, customer.name or contract.customer,
                           ledger.revenue.as_of, ledger.revenue.posting,
                           rerun.served_of(ledger).get(contract.customer))
    with localcontext(Context(prec=EXACT_DIGITS)):
        engine.run_all(usages, purchases)
    return engine


# --- re-deriving a line -------------------------------------------------------------------


def value_of(lot: LotState, credits: Fraction) -> Fraction:
    """A lot's consideration earned by ``credits`` used (``rules.lots.Lot.value_of``)."""
    span = lot.credits - lot.base_credits
    if span <= 0:
        return Fraction(lot.price)
    base = Fraction(lot.base_revenue)
    return base + (Fraction(lot.price) - base) * (credits - lot.base_credits) / span


def lot_target(lot: LotState) -> Fraction:
    """The lot's revenue earned to date (``rules.recognition``)."""
    if lot.closed:
        return Fraction(lot.price)
    if lot.method == "proportional" and lot.expected is not None:
        span = lot.expected - lot.base_credits
        done = lot.used + lot.forfeited - lot.base_credits
        if span <= 0 or done >= span:
            return Fraction(lot.price)
        base = Fraction(lot.base_revenue)
        return base + (Fraction(lot.price) - base) * done / span
    return value_of(lot, lot.used + lot.forfeited)


def lot_streams(lot: LotState) -> dict[str, Any]:
    """What ``rules.recognition.recognize`` posts for the lot at this segment's end."""
    usage_exact = value_of(lot, lot.used)
    actions_exact = usage_exact * lot.used_actions / lot.used if lot.used else ZERO
    actions = to_cent(actions_exact) - lot.posted_actions
    usage_total = to_cent(usage_exact) - lot.posted_usage
    target = lot_target(lot)
    total = to_cent(target) - lot.posted_total
    unclaimed = CENTS
    unclaimed_exact = ZERO
    if lot.unclaimed_share:
        unclaimed_exact = lot.unclaimed_share * (target - usage_exact)
        unclaimed = to_cent(unclaimed_exact) - lot.posted_unclaimed
    return {"usage_exact": usage_exact, "actions_exact": actions_exact,
            "usage_total": usage_total, "actions": actions, "tokens": usage_total - actions,
            "target": target, "total": total, "unclaimed_exact": unclaimed_exact,
            "unclaimed": unclaimed, "breakage": total - usage_total - unclaimed}


def arrears_streams(a: ArrearsState, tiers: Any) -> dict[str, Any]:
    """What the engine's flush posts for the arrears stream (``rules.arrears``)."""
    listed = a.list_tokens + a.list_actions
    if not listed:
        current, current_actions = ZERO, ZERO
    else:
        if a.expected is not None and not a.settled:
            current = listed * band_multiplier(tiers, a.expected) if listed > 0 else listed
        else:
            current = tiered(tiers, listed)
        current_actions = current * a.list_actions / listed
    total = a.closed_total + current
    actions_total = a.closed_actions + current_actions
    target = total - a.withheld
    actions_target = actions_total * target / total if total else ZERO
    actions = to_cent(actions_target) - a.posted_actions
    usage = to_cent(target) - a.posted_usage - actions
    return {"listed": listed, "current": current, "total": total,
            "actions_total": actions_total, "target": target,
            "actions_target": actions_target, "actions": actions, "tokens": usage}


def concession_streams(lot: LotState, credit_value: Fraction) -> dict[str, Any]:
    face_actions = lot.used_actions * credit_value
    face = lot.used * credit_value
    actions = to_cent(face_actions) - lot.posted_face_actions
    tokens = to_cent(face) - lot.posted_face - actions
    return {"face": face, "face_actions": face_actions, "actions": actions,
            "tokens": tokens}


@dataclass
class Candidate:
    """A revenue posting of the period, in book order."""

    tx: data.Transaction
    index: int  # of the posting in the transaction
    contract: str


def population(ledger: Ledger, start: datetime.date, end: datetime.date
               ) -> tuple[list[Candidate], list[dict[str, object]]]:
    """The usage revenue postings of [start, end) that a sample is drawn from, in book
    order; and the other revenue postings, summed by rule and account."""
    chosen: list[Candidate] = []
    other: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for tx in ledger.between(start, end):
        rule = str(tx.meta.get("rule") or "")
        for i, p in enumerate(tx.postings):
            if not accounts.under(p.account, accounts.REVENUE) or p.units is None:
                continue
            amount = number(p)
            if not amount:
                continue
            if (rule == "usage" and tx.meta.get("filename") == GENERATED
                    and p.account in STREAM_ACCOUNTS and tx.meta.get("contract")):
                chosen.append(Candidate(tx, i, str(tx.meta["contract"])))
            else:
                other[(rule or "(none)", p.account)].append(amount)
    rest: list[dict[str, object]] = [
        {"rule": rule, "account": account, "lines": len(amounts),
         "amount": sum(amounts, CENTS)} for (rule, account), amounts in sorted(other.items())]
    return chosen, rest


def draw(candidates: Sequence[Candidate], size: int, seed: int) -> list[Candidate]:
    """``size`` of ``candidates`` drawn with ``random.Random(seed).sample`` (all of them
    when there are no more), in book order."""
    if size >= len(candidates):
        return list(candidates)
    picked = random.Random(seed).sample(range(len(candidates)), size)
    return [candidates[i] for i in sorted(picked)]


class Sampler:
    """Traces the sampled lines to their clauses, entries and sources."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.root = ledger.root
        self.clauses = Clauses(ledger.root)
        self._runs: dict[str, dict[int, tuple[Booking, Segment | None]]] = {}
        self._entries: dict[str, data.Custom] | None = None
        self._documents: dict[str, Path | None] = {}
        self._lines: dict[tuple[str, str], tuple[int, str, str] | None] = {}

    # the engine again, booking by booking ----------------------------------------------

    def run_of(self, contract_id: str) -> dict[int, tuple[Booking, Segment | None]]:
        """id(transaction) -> (booking, trace) for the contract's generated transactions."""
        if contract_id not in self._runs:
            contract = self.ledger.contracts.contract(contract_id)
            if contract is None:
                raise AuditError(f"contract {contract_id!r} is not in the contracts folder")
            engine = trace(self.ledger, contract)
            generated = sorted((tx for tx in self.ledger.transactions
                                if tx.meta.get("filename") == GENERATED
                                and tx.meta.get("contract") == contract_id
                                # FX of monetary items: not the engine's (docs/currency.md)
                                and not str(tx.meta.get("rule", "")).startswith("fx-")),
                               key=lambda tx: tx.meta.get("lineno", 0))
            bookings = engine.run.bookings
            if len(generated) != len(bookings) or any(
                    tx.date != b.date or tx.narration != b.narration
                    for tx, b in zip(generated, bookings, strict=False)):
                raise AuditError(f"the engine run again for contract {contract_id!r} does "
                                 f"not give the book's {len(generated)} generated "
                                 f"transactions ({len(bookings)} bookings)")
            self._runs[contract_id] = {
                id(tx): (b, engine.traces.get(i))
                for i, (tx, b) in enumerate(zip(generated, bookings, strict=True))}
        return self._runs[contract_id]

    def entry(self, ref: str) -> data.Custom | None:
        if self._entries is None:
            table = self.ledger.usage
            self._entries = {f"{e.meta.get('filename')}:{e.meta.get('lineno')}": e
                             for e in table.entries}
        return self._entries.get(ref)

    # the archived sources ---------------------------------------------------------------

    def document(self, sha256: str) -> Path | None:
        """The archived source under documents/ with this sha256 (its name holds the
        first 8 digits, ``importers.base.archive_name``)."""
        if sha256 not in self._documents:
            found = None
            folder = self.root / "documents"
            if sha256 and folder.is_dir():
                for path in sorted(folder.rglob(f"*.{sha256[:8]}.*")):
                    if path.is_file() and not path.name.startswith(".") \
                            and sha256_of(path) == sha256:
                        found = path
                        break
            self._documents[sha256] = found
        return self._documents[sha256]

    def scan(self, sha256: str, ids: Iterable[str]) -> None:
        """Find the raw lines of the event ``ids`` in the archived source with this
        sha256, in one pass over it: (line number, the raw line, sha256 of its bytes) per
        id found. A binary source (Parquet) has no lines to show."""
        wanted = {i for i in ids if i and (sha256, i) not in self._lines}
        if not wanted:
            return
        for i in wanted:
            self._lines[(sha256, i)] = None
        path = self.document(sha256)
        if path is None:
            return
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(8192):
                return
        pattern = re.compile(rb"(?<![A-Za-z0-9_.:-])("
                             + b"|".join(re.escape(i.encode("utf-8"))
                                         for i in sorted(wanted, key=lambda i: (-len(i), i)))
                             + rb")(?![A-Za-z0-9_.:-])")
        left = set(wanted)
        with open(path, "rb") as handle:
            for n, raw in enumerate(handle, 1):
                for match in pattern.finditer(raw):
                    event = match.group(1).decode("utf-8")
                    if event in left:
                        line = raw.rstrip(b"\r\n")
                        self._lines[(sha256, event)] = (
                            n, line.decode("utf-8", "replace"),
                            hashlib.sha256(line).hexdigest())
                        left.discard(event)
                if not left:
                    break

    def attach_raw(self, lines: Sequence[dict[str, Any]]) -> None:
        """The raw first and last event lines of every entry of ``lines``: each archived
        source read once."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for line in lines:
            for row in line["entries"]:
                if row["sha256"]:
                    wanted[row["sha256"]].update((row["first_event"], row["last_event"]))
        for sha256 in sorted(wanted):
            self.scan(sha256, wanted[sha256])
        for line in lines:
            for row in line["entries"]:
                document = self.document(row["sha256"]) if row["sha256"] else None
                row["document"] = _relative(document, self.root) if document else ""
                for end in ("first", "last"):
                    got = self._lines.get((row["sha256"], row[f"{end}_event"]))
                    row[f"{end}_line_no"] = got[0] if got else None
                    row[f"{end}_line"] = got[1] if got else ""
                    row[f"{end}_line_sha256"] = got[2] if got else ""

    # one line ---------------------------------------------------------------------------

    def line(self, number_: int, candidate: Candidate) -> dict[str, Any]:
        tx = candidate.tx
        posting = tx.postings[candidate.index]
        booking, seg = self.run_of(candidate.contract)[id(tx)]
        legs = booking.legs
        if len(legs) != len(tx.postings) or legs[candidate.index].amount != number(posting):
            raise AuditError(f"{tx.date} {tx.narration}: the engine's legs are not the "
                             f"book's postings")
        if seg is None:
            raise AuditError(f"{tx.date} {tx.narration}: no posting segment traced")
        leg = legs[candidate.index]
        meta = posting.meta or {}
        out: dict[str, Any] = {
            "id": f"S{number_:03d}",
            "posting": {
                "date": tx.date.isoformat(), "account": posting.account,
                "amount": format(number(posting), "f"),
                "currency": posting.units.currency if posting.units else "",
                "customer": str(tx.meta.get("customer") or ""),
                "contract": candidate.contract, "lot": str(meta.get("lot") or ""),
                "rule": str(meta.get("rule") or ""), "model": str(meta.get("model") or ""),
                "feature": str(meta.get("feature") or ""),
                "action": str(meta.get("action") or ""), "posting": candidate.index + 1,
                "transaction": f"{tx.date} {tx.narration}",
                "price_book": str(tx.meta.get("price_book") or ""),
                "usage_entries": int(tx.meta.get("usage_entries") or 0),
                "first_usage": str(tx.meta.get("first_usage") or ""),
                "last_usage": str(tx.meta.get("last_usage") or ""),
            },
        }
        stream, leg_amount, basis, text = self.stream(seg, leg, legs)
        out["stream"] = stream
        out["leg"] = format(-leg_amount, "f")  # revenue: a credit to Income is positive
        weights: dict[tuple[str, str, str], Fraction] = {}
        if basis:
            weights = {k: v[0 if basis == "tokens" else 1] for k, v in seg.values.items()
                       if v[0 if basis == "tokens" else 1]}
        derived = leg_amount
        split = bool(basis) and leg.detail is not None  # (no value to split by: as it is)
        allocation: dict[str, Any] = {"basis": basis if split else "none", "keys": []}
        if split and leg.detail is not None:
            shares = dict(allocate(leg_amount, weights))
            total = sum(weights.values(), ZERO)
            running = ZERO
            for part in sorted(weights):
                running += weights[part]
                allocation["keys"].append({
                    "model": part[0], "feature": part[1], "action": part[2],
                    "weight": exact(weights[part]), "cumulative": exact(running),
                    "share": format(-shares.get(part, CENTS), "f")})
            allocation["total"] = exact(total)
            derived = shares.get(leg.detail, CENTS)
            text += (f"; split by {basis} value over {len(weights)} key(s): "
                     f"{format(-leg_amount, 'f')} x cumulative weight / {exact(total)}, "
                     f"rounded, less the shares before -> {format(-derived, 'f')}")
        out["allocation"] = allocation
        out["revenue"] = format(-derived, "f")
        out["rederived"] = derived == number(posting)
        out["arithmetic"] = text
        out["rounding"] = ROUNDING
        out["weights"] = self.weights(seg)
        key: tuple[str, str, str] | None = leg.detail
        came = [v for v in seg.entries if key is None or v.key == key]
        out["entries"] = [self.entry_row(v) for v in came]
        out["contract"] = self.contract_clauses(seg, stream, key)
        out["price_book"] = self.price_book(seg, {v.key[0] for v in seg.entries
                                                  if key is None or v.key == key})
        out["ties"] = self.ties(seg)
        return out

    def stream(self, seg: Segment, leg: Leg, legs: Sequence[Leg]
               ) -> tuple[dict[str, Any], Decimal, str, str]:
        """The stream of ``leg`` (its exact inputs), its amount before the split (the
        book's sign), the weights basis and the arithmetic as text."""
        account = leg.account
        basis = ("tokens" if account == accounts.REVENUE_USAGE
                 else "actions" if account == accounts.REVENUE_ACTIONS else "")
        lots = {lot.id: lot for lot in seg.lots}
        lot = lots.get(leg.lot) if leg.lot else None
        if lot is not None and (lot.kind == "concession"
                                or account == accounts.REVENUE_CONCESSIONS):
            cv = seg.credit_value or ZERO
            s = concession_streams(lot, cv)
            part = s["tokens"] if basis == "tokens" else s["actions"] if basis else (
                -(s["tokens"] + s["actions"]))
            text = (f"concession lot {lot.id}: face value to date {exact(lot.used)} credits x "
                    f"{exact(cv)} = {exact(s['face'])}; round half up less posted "
                    f"{lot.posted_face} -> tokens {s['tokens']}, actions {s['actions']}")
            return ({"kind": "concession", "lot": _lot_json(lot), "credit_value": exact(cv),
                     "face": exact(s["face"]), "face_actions": exact(s["face_actions"]),
                     "tokens": format(s["tokens"], "f"), "actions": format(s["actions"], "f"),
                     "formula": "actions = round(used_actions x credit_value) - "
                                "posted_face_actions; tokens = round(used x credit_value) - "
                                "posted_face - actions; Concessions = -(tokens + actions)"},
                    -part, basis, text)
        if lot is not None:
            s = lot_streams(lot)
            doc: dict[str, Any] = {
                "kind": "lot", "lot": _lot_json(lot), "usage_exact": exact(s["usage_exact"]),
                "actions_exact": exact(s["actions_exact"]),
                "usage_total": format(s["usage_total"], "f"),
                "actions": format(s["actions"], "f"), "tokens": format(s["tokens"], "f"),
                "formula": "value_of(c) = base_revenue + (price - base_revenue) x "
                           "(c - base_credits) / (credits - base_credits); usage_exact = "
                           "value_of(used); actions_exact = usage_exact x used_actions / "
                           "used; actions = round(actions_exact) - posted_actions; "
                           "usage_total = round(usage_exact) - posted_usage; tokens = "
                           "usage_total - actions"}
            if account == accounts.REVENUE_BREAKAGE:
                doc.update({"target": exact(s["target"]), "total": format(s["total"], "f"),
                            "unclaimed_exact": exact(s["unclaimed_exact"]),
                            "unclaimed": format(s["unclaimed"], "f"),
                            "breakage": format(s["breakage"], "f")})
                doc["formula"] += (
                    "; target: closed -> price; proportional (expected set) -> "
                    "base_revenue + (price - base_revenue) x done / span, done = used + "
                    "forfeited - base_credits, span = expected - base_credits (price when "
                    "done >= span or span <= 0); remote -> value_of(used + forfeited); "
                    "total = round(target) - posted_total; unclaimed = "
                    "round(unclaimed_share x (target - usage_exact)) - posted_unclaimed; "
                    "breakage = total - usage_total - unclaimed")
                text = (f"lot {lot.id} ({lot.method}): target {exact(s['target'])}, round "
                        f"half up less posted {lot.posted_total} = {s['total']}; less usage "
                        f"{s['usage_total']} and unclaimed {s['unclaimed']} -> breakage "
                        f"{s['breakage']}")
                return doc, -s["breakage"], "", text
            part = s["tokens"] if basis == "tokens" else s["actions"]
            per = (Fraction(lot.price) - Fraction(lot.base_revenue)) / (
                lot.credits - lot.base_credits) if lot.credits != lot.base_credits else ZERO
            text = (f"lot {lot.id}: {exact(lot.used)} credits used to date x "
                    f"{exact(per)} per credit = {exact(s['usage_exact'])}; round half up "
                    f"less posted {lot.posted_usage} = {s['usage_total']} (of which actions "
                    f"{s['actions']}) -> {basis} {part}")
            return doc, -part, basis, text
        s = arrears_streams(seg.arrears, seg.contract.tiers)
        a = seg.arrears
        part = s["tokens"] if basis == "tokens" else s["actions"]
        tiers = seg.contract.tiers
        doc = {"kind": "overage" if seg.billing == "prepaid" else "arrears",
               "closed_total": exact(a.closed_total), "closed_actions": exact(a.closed_actions),
               "list_tokens": exact(a.list_tokens), "list_actions": exact(a.list_actions),
               "tiers": None if tiers is None else {
                   "mode": tiers.mode, "period": tiers.period,
                   "bands": [{"up_to": None if b.up_to is None else format(b.up_to, "f"),
                              "multiplier": format(b.multiplier, "f")} for b in tiers.bands],
                   "retroactive": tiers.retroactive,
                   "expected": None if a.expected is None else exact(a.expected),
                   "settled": a.settled},
               "current": exact(s["current"]), "total": exact(s["total"]),
               "actions_total": exact(s["actions_total"]), "withheld": exact(a.withheld),
               "target": exact(s["target"]), "actions_target": exact(s["actions_target"]),
               "posted_usage": format(a.posted_usage, "f"),
               "posted_actions": format(a.posted_actions, "f"),
               "added": exact(a.added), "tokens": format(s["tokens"], "f"),
               "actions": format(s["actions"], "f"),
               "formula": "listed = list_tokens + list_actions (the tier period so far, "
                          "before tiers); current = tiered(listed) (graduated: each band's "
                          "part x its multiplier; volume: listed x the multiplier of the band "
                          "listed falls in; none: listed); total = closed_total + current; "
                          "actions_total = closed_actions + current x list_actions / listed; "
                          "target = total - withheld; actions_target = actions_total x "
                          "target / total; actions = round(actions_target) - posted_actions; "
                          "tokens = round(target) - posted_usage - actions"}
        text = (f"{doc['kind']} of {seg.contract.id}: cumulative {exact(s['target'])} "
                f"(closed periods {exact(a.closed_total)} + this tier period "
                f"{exact(s['current'])} from list value {exact(s['listed'])}"
                f"{' less withheld ' + exact(a.withheld) if a.withheld else ''}); round half "
                f"up less posted {a.posted_usage} = {s['tokens'] + s['actions']} (of which "
                f"actions {s['actions']}) -> {basis} {part}")
        return doc, -part, basis, text

    def weights(self, seg: Segment) -> list[dict[str, Any]]:
        """The segment's value by key and rates: counts x rates (what the split weighs)."""
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        per = self.ledger.contracts.price_books[seg.contract.price_book].per
        for v in seg.entries:
            if not v.tokens and not v.actions:
                continue
            u = v.usage
            rates: tuple[str, ...] = (() if v.rates is None or v.special else
                                      tuple(exact(r * per) for r in v.rates))
            price = seg.contract.actions.get(u.action) if u.action else None
            group = (v.key, v.version, rates, v.special, u.action)
            row = rows.get(group)
            if row is None:
                row = rows[group] = {
                    "model": v.key[0], "feature": v.key[1], "action": v.key[2],
                    "version": v.version.isoformat() if v.version else "",
                    "valuation": "token classes" if v.special else "rates",
                    "per": per, "rate_input": rates[0] if rates else "",
                    "rate_cached_input": rates[1] if rates else "",
                    "rate_output": rates[2] if rates else "",
                    "action_price": format(price.price, "f") if price else "",
                    "weight_completed": format(price.weights["completed"], "f") if price else "",
                    "weight_partial": format(price.weights["partial"], "f") if price else "",
                    "weight_failed": format(price.weights["failed"], "f") if price else "",
                    "entries": 0, "uncached_input_tokens": 0, "cached_input_tokens": 0,
                    "output_tokens": 0, "completed": 0, "partial": 0, "failed": 0,
                    "tokens_value": ZERO, "actions_value": ZERO}
            row["entries"] += 1
            if v.tokens:
                row["uncached_input_tokens"] += u.input_tokens - u.cached_input_tokens
                row["cached_input_tokens"] += u.cached_input_tokens
                row["output_tokens"] += u.output_tokens
            if v.actions:
                row["completed"] += u.completed
                row["partial"] += u.partial
                row["failed"] += u.failed
            row["tokens_value"] += v.tokens
            row["actions_value"] += v.actions
        out = []
        for group in sorted(rows, key=lambda g: (g[0], str(g[1]), g[2], g[3], g[4])):
            row = rows[group]
            row["tokens_value"] = exact(row["tokens_value"])
            row["actions_value"] = exact(row["actions_value"])
            out.append(row)
        return out

    def entry_row(self, v: Valued) -> dict[str, Any]:
        u = v.usage
        entry = self.entry(u.ref)
        meta = entry.meta if entry is not None else {}
        sha = str(meta.get("sha256") or "")
        first, last = str(meta.get("first_event") or ""), str(meta.get("last_event") or "")
        row: dict[str, Any] = {
            "ref": relative_ref(u.ref, self.root), "date": u.date.isoformat(),
            "customer": u.customer, "model": u.model, "feature": u.feature,
            "action": u.action, "user": u.user, "key_model": v.key[0],
            "input_tokens": u.input_tokens, "cached_input_tokens": u.cached_input_tokens,
            "output_tokens": u.output_tokens, "events": u.events, "completed": u.completed,
            "partial": u.partial, "failed": u.failed,
            "tokens_value": exact(v.tokens), "actions_value": exact(v.actions),
            "source": str(meta.get("source") or ""), "sha256": sha, "document": "",
            "first_event": first, "first_line_no": None, "first_line": "",
            "first_line_sha256": "", "last_event": last, "last_line_no": None,
            "last_line": "", "last_line_sha256": ""}
        return row

    def contract_clauses(self, seg: Segment, stream: dict[str, Any],
                         key: tuple[str, str, str] | None) -> dict[str, Any]:
        contract = seg.contract
        c = self.clauses
        clauses: list[dict[str, str]] = [{"clause": "contract", "at": c.contract(contract),
                                          "text": _contract_detail(contract)}]
        if contract.discount:
            clauses.append({"clause": "discount", "at": c.contract(contract, "discount"),
                            "text": f"{contract.discount} off the list rates"})
        model = key[0] if key else ""
        if model and model in contract.rates:
            clauses.append({"clause": f"rates {model}",
                            "at": c.contract(contract, "rates", model),
                            "text": ", ".join(f"{k} {v}" for k, v in
                                              sorted(contract.rates[model].items()))})
        if key and key[2] and key[2] in contract.actions:
            price = contract.actions[key[2]]
            clauses.append({"clause": f"action {key[2]}",
                            "at": c.contract(contract, "actions", key[2]),
                            "text": f"price {price.price}"})
        if contract.credit_value is not None:
            clauses.append({"clause": "credit value",
                            "at": c.contract(contract, "credit_value"),
                            "text": f"{contract.credit_value} per credit"})
        lot = stream.get("lot")
        if lot:
            pack = str(lot["pack"])
            if pack in contract.packs:
                p = contract.packs[pack]
                clauses.append({"clause": f"pack {pack}",
                                "at": c.contract(contract, "packs", pack),
                                "text": f"price {p.price} for {p.credits} credits, breakage "
                                        f"{p.breakage.method}"})
            else:
                for listed in ("modifications", "grants"):
                    j = c.index_of(contract, listed, pack)
                    if j is not None:
                        clauses.append({"clause": f"{listed[:-1]} {pack}",
                                        "at": c.contract(contract, listed, j),
                                        "text": f"lot {lot['id']}"})
                        break
                else:
                    if contract.allowance is not None:
                        clauses.append({"clause": "allowance",
                                        "at": c.contract(contract, "allowance"),
                                        "text": f"lot {lot['id']}: "
                                                f"{contract.allowance.credits} credits per "
                                                f"{contract.allowance.period}"})
        if stream.get("kind") == "overage":
            clauses.append({"clause": "overage", "at": c.contract(contract, "overage"),
                            "text": f"{contract.overage.policy} x "
                                    f"{contract.overage.multiplier}"})
        if stream.get("tiers"):
            clauses.append({"clause": "tiers", "at": c.contract(contract, "tiers"),
                            "text": f"{contract.tiers.mode} per {contract.tiers.period}"
                            if contract.tiers else ""})
        return {"id": contract.id, "customer": contract.customer, "billing": contract.billing,
                "file": c.file(contract.source), "clauses": clauses}

    def price_book(self, seg: Segment, models: set[str]) -> dict[str, Any]:
        book = self.ledger.contracts.price_books[seg.contract.price_book]
        version = book.version_on(seg.start)
        k = book.versions.index(version) if version is not None else None
        out: dict[str, Any] = {"id": book.id, "file": self.clauses.file(book.source),
                               "per": book.per, "currency": book.currency}
        if version is None or k is None:
            return out
        out.update({"version": version.effective.isoformat(),
                    "at": self.clauses.price_book(book, "versions", k, "effective"),
                    "models": {}})
        discount = seg.contract.discount
        for model in sorted(models):
            rates = version.models.get(model)
            if rates is None:
                continue
            override = seg.contract.rates.get(model, {})
            out["models"][model] = {
                "at": self.clauses.price_book(book, "versions", k, "models", model),
                "input": format(rates.input, "f"),
                "cached_input": format(rates.cached_input, "f"),
                "output": format(rates.output, "f"),
                "net": {name: format(override[name], "f") if name in override
                        else exact(Fraction(getattr(rates, name)) * (1 - Fraction(discount)))
                        for name in ("input", "cached_input", "output")},
                "discount": format(discount, "f")}
        return out

    def ties(self, seg: Segment) -> dict[str, Any]:
        """How the streams' inputs follow from the segment's entries: their value is
        what the credits drawn and blocked are worth, plus the list value added to the
        arrears stream (usage past the credits, or without any) over its multiplier."""
        value = sum((t + a for t, a in seg.values.values()), ZERO)
        cv = seg.credit_value or ZERO
        drawn = sum((lot.used - lot.used_at_open for lot in seg.lots), ZERO)
        return {"segment": f"{seg.start} to {seg.end}", "entries": len(seg.entries),
                "value": exact(value), "credit_value": exact(cv),
                "lots": [{"lot": lot.id, "used_at_open": exact(lot.used_at_open),
                          "used": exact(lot.used)} for lot in seg.lots],
                "drawn": exact(drawn), "blocked_credits": exact(seg.blocked_credits),
                "overage_credits": exact(seg.overage_credits),
                "list_added": exact(seg.arrears.added), "multiplier": exact(seg.multiplier),
                "holds": value == (drawn + seg.blocked_credits) * cv
                + seg.arrears.added / seg.multiplier,
                "rule": "value = (drawn + blocked_credits) x credit_value + list_added / "
                        "multiplier, drawn = sum(used - used_at_open) of the lots"}


def _lot_json(lot: LotState) -> dict[str, Any]:
    return {"id": lot.id, "kind": lot.kind, "pack": lot.pack, "method": lot.method,
            "price": format(lot.price, "f"), "credits": exact(lot.credits),
            "base_revenue": format(lot.base_revenue, "f"),
            "base_credits": exact(lot.base_credits),
            "expected": None if lot.expected is None else exact(lot.expected),
            "breakage_rate": None if lot.rate_in_force is None else format(
                lot.rate_in_force, "f"),
            "closed": lot.closed, "purchased": lot.purchased.isoformat(),
            "expires": lot.expires.isoformat() if lot.expires else None,
            "used_at_open": exact(lot.used_at_open), "used": exact(lot.used),
            "used_actions": exact(lot.used_actions), "forfeited": exact(lot.forfeited),
            "posted_usage": format(lot.posted_usage, "f"),
            "posted_actions": format(lot.posted_actions, "f"),
            "posted_total": format(lot.posted_total, "f"),
            "posted_unclaimed": format(lot.posted_unclaimed, "f"),
            "unclaimed_share": exact(lot.unclaimed_share),
            "posted_face": format(lot.posted_face, "f"),
            "posted_face_actions": format(lot.posted_face_actions, "f")}


# --- the sample as tables -----------------------------------------------------------------

SAMPLE_COLUMNS = ["id", "date", "customer", "contract", "account", "lot", "rule", "model",
                  "feature", "action", "amount", "revenue", "rederived", "stream", "leg",
                  "basis", "weight", "weights_total", "entries", "price_book_version",
                  "price_book_at", "contract_at", "transaction", "arithmetic"]
WEIGHT_COLUMNS = ["id", "model", "feature", "action", "version", "valuation", "per",
                  "rate_input", "rate_cached_input", "rate_output", "action_price",
                  "weight_completed", "weight_partial", "weight_failed", "entries",
                  "uncached_input_tokens", "cached_input_tokens", "output_tokens",
                  "completed", "partial", "failed", "tokens_value", "actions_value"]
ENTRY_COLUMNS = ["id", "ref", "date", "customer", "model", "feature", "action", "user",
                 "key_model", "input_tokens", "cached_input_tokens", "output_tokens",
                 "events", "completed", "partial", "failed", "tokens_value",
                 "actions_value", "source", "document", "sha256", "first_event",
                 "first_line_no", "first_line", "first_line_sha256", "last_event",
                 "last_line_no", "last_line", "last_line_sha256"]


def sample_tables(lines: Sequence[dict[str, Any]]) -> tuple[Table, Table, Table]:
    rows, weights, entries = [], [], []
    for line in lines:
        p = line["posting"]
        keys = line["allocation"]["keys"]
        mine = next((k["weight"] for k in keys if (k["model"], k["feature"], k["action"])
                     == (p["model"], p["feature"], p["action"])), "")
        lot = line["stream"].get("lot") or {}
        pack_at = next((c["at"] for c in line["contract"]["clauses"]
                        if c["clause"].startswith(("pack ", "modification ", "grant "))),
                       line["contract"]["clauses"][0]["at"])
        rows.append({"id": line["id"], "date": p["date"], "customer": p["customer"],
                     "contract": p["contract"], "account": p["account"],
                     "lot": lot.get("id", ""), "rule": p["rule"], "model": p["model"],
                     "feature": p["feature"], "action": p["action"], "amount": p["amount"],
                     "revenue": line["revenue"],
                     "rederived": "yes" if line["rederived"] else "NO",
                     "stream": line["stream"]["kind"], "leg": line["leg"],
                     "basis": line["allocation"]["basis"], "weight": mine,
                     "weights_total": line["allocation"].get("total", ""),
                     "entries": len(line["entries"]),
                     "price_book_version": line["price_book"].get("version", ""),
                     "price_book_at": line["price_book"].get("at", ""),
                     "contract_at": pack_at, "transaction": p["transaction"],
                     "arithmetic": line["arithmetic"]})
        weights += [{"id": line["id"], **w} for w in line["weights"]]
        entries += [{"id": line["id"], **e} for e in line["entries"]]
    notes = [f"rounding: {ROUNDING}",
             "sample.json holds each line whole: the stream's exact inputs, the allocation "
             "and the ties."]
    return (Table("sample", "Sampled revenue lines", list(SAMPLE_COLUMNS), rows, notes),
            Table("sample-weights", "Value of the split's keys: counts x rates per `per` "
                  "tokens", list(WEIGHT_COLUMNS), weights,
                  ["tokens_value = uncached_input_tokens x rate_input / per + "
                   "cached_input_tokens x rate_cached_input / per + output_tokens x "
                   "rate_output / per; actions_value = action_price x (completed x "
                   "weight_completed + partial x weight_partial + failed x weight_failed). "
                   "Rates are net: the contract's discount applied, or its own rate."]),
            Table("sample-entries", "The usage entries of the sampled lines and their raw "
                  "source lines", list(ENTRY_COLUMNS), entries,
                  ["document: the archived source, relative to the book's folder; "
                   "first_line/last_line: the raw lines of the entry's first and last "
                   "event in it (line numbers from 1), with the sha256 of their bytes."]))


# --- the pack ----------------------------------------------------------------------------


@dataclass
class Pack:
    """The files of an auditor pack, in the order to write them (README.md last)."""

    files: dict[str, str]
    counts: dict[str, int]
    not_rederived: list[str] = field(default_factory=list)  # ids of sampled lines


def _json(doc: object) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def build(ledger: Ledger, period: str, size: int, seed: int,
          found: Mapping[str, tuple[reconcile.Check, Table]],
          title: str = "", command: str = "") -> Pack:
    """The auditor pack of ``period`` (a month, quarter or year) of the loaded book;
    ``found``: each month's completeness check and table (``scripts.sources``)."""
    try:
        start, end = parse_period(period)
    except ValueError as exc:
        raise AuditError(str(exc)) from exc
    periods = months(month_of(start), month_of(end - datetime.timedelta(days=1)))
    log = contract_log(ledger, start, end)
    broken = breakage(ledger, periods)
    complete = completeness(found, periods)
    prints = fingerprints(ledger, periods)
    candidates, rest = population(ledger, start, end)
    picked = draw(candidates, size, seed)
    sampler = Sampler(ledger)
    lines = [sampler.line(n, c) for n, c in enumerate(picked, 1)]
    sampler.attach_raw(lines)
    sample, weights, entries = sample_tables(lines)
    files: dict[str, str] = {}
    for t in (log, broken, complete, prints):
        files[f"{t.name}.csv"] = to_csv(t)
        files[f"{t.name}.json"] = to_json(t, period)
    files["sample.csv"] = to_csv(sample)
    files["sample.json"] = _json({
        "report": "sample", "title": "Sampled revenue lines, traced", "period": period,
        "seed": seed, "size": len(lines), "asked": size, "population": len(candidates),
        "draw": "random.Random(seed).sample(range(population), size), in book order",
        "rounding": ROUNDING, "lines": lines,
        "outside_population": [{k: (format(v, "f") if isinstance(v, Decimal) else v)
                                for k, v in r.items()} for r in rest]})
    for t in (weights, entries):
        files[f"{t.name}.csv"] = to_csv(t)
        files[f"{t.name}.json"] = to_json(t, period)
    sums = "".join(f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {name}\n"
                   for name, text in files.items())
    files[SUMS] = sums
    tables = {"contract-log": log, "breakage": broken, "completeness": complete,
              "fingerprints": prints, "sample": sample, "sample-weights": weights,
              "sample-entries": entries}
    files[README] = readme(period, title, command, size, seed, files, tables, lines,
                           len(candidates), rest, complete, prints, log)
    counts = {name: len(t.rows) for name, t in tables.items()}
    counts["population"] = len(candidates)
    return Pack(files, counts, [line["id"] for line in lines if not line["rederived"]])


PART_TEXT = {
    "contract-log": "every contract, pack, rate, price-book version, grant, breakage "
                    "revision and modification, with approvals, evidence and YAML file:line",
    "breakage": "breakage of each month; history, back-test of the estimates applied, "
                "rates in force",
    "completeness": "events in the archived sources = event-id indexes = usage entries, "
                    "each month",
    "fingerprints": "each month's close directive, manifest, lock.json, git tag, the "
                    "manifest recomputed, the close's reports",
    "sample": "the sampled revenue lines and the arithmetic of each (sample.json: whole)",
    "sample-weights": "the value of every key a sampled line was split over: counts x rates",
    "sample-entries": "the usage entries of each sampled line, their archived source and "
                      "its raw lines",
}


def readme(period: str, title: str, command: str, size: int, seed: int,
           files: Mapping[str, str], tables: Mapping[str, Table],
           lines: Sequence[dict[str, Any]], population_size: int,
           rest: Sequence[dict[str, object]], complete: Table, prints: Table,
           log: Table) -> str:
    out = [f"# Auditor pack {md(period)}" + (f": {md(title)}" if title else ""), ""]
    if command:
        out += [f"Made by `{command.replace('`', '')}`. The same book, period, sample size "
                f"and seed make the same files, byte for byte.", ""]
    out += ["This file is written last: the pack is complete when it is here and every "
            "file below has the sha256 it lists (`sha256sum -c SHA256SUMS`; the sha256 of "
            f"SHA256SUMS itself: `{hashlib.sha256(files[SUMS].encode('utf-8')).hexdigest()}`).",
            "Paths inside the files are relative to the book's folder (the folder of its "
            "main.beancount).", "", "## Files", "", "| file | what | rows | sha256 |",
            "|---|---|---|---|"]
    for name, text in files.items():
        if name == SUMS:
            continue
        part = name.rsplit(".", 1)[0]
        rows = len(tables[part].rows) if part in tables else ""
        out.append(f"| {md(name)} | {md(PART_TEXT.get(part, ''))} | {rows} | "
                   f"`{hashlib.sha256(text.encode('utf-8')).hexdigest()}` |")
    out += ["", "## Months", "", "| month | closed | fingerprint | evidence agrees | "
                                   "completeness |", "|---|---|---|---|---|"]
    status = {str(r["period"]): str(r["status"]) for r in complete.rows
              if r.get("section") == "check"}
    by_month: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in prints.rows:
        by_month[str(r["period"])].append(r)
    for month, evidence_rows in by_month.items():
        close = next((r for r in evidence_rows if r["evidence"] == "close directive"), None)
        agree = [str(r["evidence"]) for r in evidence_rows
                 if r.get("agrees") not in ("yes", "", None)]
        out.append(f"| {md(month)} | {'yes' if close else 'no'} | "
                   f"{md(str(close['fingerprint'])[:16]) if close else ''} | "
                   f"{('NO: ' + md(', '.join(agree))) if agree else ('yes' if close else '')}"
                   f" | {md(status.get(month, 'not run'))} |")
    kinds: dict[str, int] = defaultdict(int)
    pending = 0
    for r in log.rows:
        kinds[str(r["kind"])] += 1
        if str(r.get("status", "")).startswith("pending"):
            pending += 1
    out += ["", "## Contract log", "",
            ", ".join(f"{n} {md(k)}" for k, n in sorted(kinds.items()))
            + f"; {pending} pending approval.", "",
            f"## Sample: {len(lines)} of {population_size} revenue lines (seed {seed})", "",
            "Drawn with Python's `random.Random(seed).sample` over the period's usage "
            "revenue postings in book order (postings to Income:Revenue:Usage, :Actions, "
            ":Breakage and :Concessions of the `usage` transactions the revenue plugin "
            f"generated); asked for {size}.", "",
            "| id | date | customer | account | model | feature | action | amount | "
            "re-derived |", "|---|---|---|---|---|---|---|---|---|"]
    for line in lines:
        p = line["posting"]
        out.append(" | ".join(["", md(line["id"]), md(p["date"]), md(p["customer"]),
                               md(p["account"]), md(p["model"]), md(p["feature"]),
                               md(p["action"]), md(p["amount"]),
                               "yes" if line["rederived"] else "NO", ""]).strip())
    out += ["", "Revenue lines of the period outside the population (their arithmetic is "
                "their own: breakage in breakage.csv, modifications in contract-log.csv, "
                "commitments in the close's rollforward):", ""]
    if rest:
        out += ["| rule | account | lines | amount |", "|---|---|---|---|"]
        out += [f"| {md(r['rule'])} | {md(r['account'])} | {r['lines']} | "
                f"{md(format(r['amount'], 'f') if isinstance(r['amount'], Decimal) else r['amount'])} |"
                for r in rest]
    else:
        out.append("(none)")
    out += ["", "## Re-deriving a sampled line", "",
            "From sample.json (or the CSV files) alone:", "",
            "1. sample-weights: each row's value is its counts x its rates per `per` tokens "
            "(rates net of the contract's discount, or the contract's own), plus the "
            "action price x the weighted outcomes; the rows of a key add up to its weight.",
            "2. the stream (`stream` in sample.json): the exact cumulative amount from the "
            "lot's or the contract's state (`formula`), rounded half up to the cent, less "
            "what the stream posted before: the line's `leg`.",
            "3. the allocation: `leg` x cumulative weight / total weight, rounded half up, "
            "less the shares of the keys before it, keys in (model, feature, action) "
            "order: the line's revenue, the negative of its posting.",
            "4. the ties: the credits drawn plus overage and blocked credits are the "
            "segment's value / credit value; an arrears stream's list value added is the "
            "entries' value.",
            "5. sample-entries: each entry's raw first and last event line is in its "
            "archived source (`document`, whose sha256 is `sha256`), at the line number "
            "given.", "",
            f"Rounding: {md(ROUNDING)}.", ""]
    return "\n".join(out)


def verify(folder: Path) -> list[str]:
    """What keeps the pack in ``folder`` from being complete ([] when it is): README.md
    is written last and names the sha256 of SHA256SUMS, which names every other file's."""
    problems = []
    readme_file, sums_file = folder / README, folder / SUMS
    if not readme_file.is_file():
        return [f"{README} is missing: the pack is not complete"]
    if not sums_file.is_file():
        return [f"{SUMS} is missing: the pack is not complete"]
    sums = sums_file.read_bytes()
    if hashlib.sha256(sums).hexdigest() not in readme_file.read_text(encoding="utf-8"):
        problems.append(f"{SUMS} is not the one {README} names")
    for line in sums.decode("utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name} does not have the sha256 {SUMS} lists")
    return problems
