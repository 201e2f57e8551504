"""The close's reconciliations on a loaded book: usage completeness (from the archived
sources to the priced entries), COGS against provider bills, unbilled zero, invoices once,
and the contract-liability rollforward; each a named ``reconcile.Check`` with its
figures, and a table for the reports.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import yaml
from beancount.core import data

from tokenbooks.importers import late
from tokenbooks.importers.base import archive_name, file_sha256
from tokenbooks.importers.index import EventIndex, read_sidecar, sidecar_for
from tokenbooks.plugins import close_rows, ledger, provider_bills
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules import reconcile, rollforward
from tokenbooks.plugins.rules.model import customer_component
from tokenbooks.plugins.rules.rounding import to_cent

from .close_reports import Book, booked_invoices
from .import_cmd import make_importers
from .tables import Table

ZERO = Decimal("0.00")


def completeness(book: Book) -> tuple[reconcile.Check, Table]:
    files: dict[str, int] = defaultdict(int)
    origin: dict[str, tuple[str, str, str]] = {}  # file -> (source, sha256, events' month)
    month_files: set[str] = set()
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in book.entries:
        if not (isinstance(entry, data.Custom) and entry.type == ledger.USAGE):
            continue
        filename = str(entry.meta.get("filename", ""))
        try:
            usage = ledger.usage_from_entry(entry)
        except ValueError:
            continue
        files[filename] += usage.events
        if filename not in origin:
            origin[filename] = (str(entry.meta.get("source") or ""),
                                str(entry.meta.get("sha256") or ""), late.booked_month(entry))
        if not book.in_month(entry):
            continue
        month_files.add(filename)
        row = per[usage.customer]
        row["entries"] += 1
        row["events"] += usage.events
        if entry.meta.get("original_date"):  # late usage of a closed month (importers.late)
            row["prior_period"] += usage.events
        customer = book.contracts.customers.get(usage.customer)
        contract = customer.contract_on(usage.date) if customer else None
        if contract is not None and usage.feature in contract.non_billable_features:
            row["non_billable"] += usage.events
    for entry in book.entries:
        if (isinstance(entry, data.Transaction) and book.in_month(entry)
                and entry.meta.get("rule") == "usage"):
            row = per[str(entry.meta.get("customer"))]
            row["priced"] += int(entry.meta.get("usage_entries", 0) or 0)
            row["blocked"] += int(entry.meta.get("blocked_events", 0) or 0)
    counts = []
    sources = SourceReader(book)
    for filename in sorted(month_files):
        sidecar = sidecar_for(filename)
        mine = set(read_sidecar(sidecar)) if sidecar.exists() else None
        source, sha256, month = origin[filename]
        ids = sources.ids(source, sha256, month)
        count = reconcile.FileCount(_rel(filename, book.root),
                                    None if mine is None else len(mine), files[filename],
                                    source)
        if ids is not None:
            indexed: set[str] = set()
            for other, (_, _, m) in origin.items():
                if m == month and sidecar_for(other).exists():
                    indexed.update(read_sidecar(sidecar_for(other)))
            count = dataclasses.replace(count, source_events=len(ids),
                                        not_booked=len(ids - indexed),
                                        not_in_source=len((mine or set()) - ids))
        counts.append(count)
    customers = [reconcile.CustomerUsage(c, r["entries"], r["events"], r["priced"],
                                         r["blocked"], r["non_billable"])
                 for c, r in sorted(per.items())]
    check = reconcile.completeness(counts, customers)
    rows: list[dict[str, object]] = []
    for f in counts:
        rows.append({"section": "file", "name": f.file, "source": f.source,
                     "source_events": f.source_events, "indexed_events": f.indexed,
                     "events": f.booked, "not_booked": f.not_booked,
                     "not_in_source": f.not_in_source})
    for c in customers:
        rows.append({"section": "customer", "name": c.customer, "entries": c.entries,
                     "priced_entries": c.priced, "events": c.events, "billed_events": c.billed,
                     "blocked_events": c.blocked, "non_billable_events": c.non_billable,
                     "prior_period_events": per[c.customer]["prior_period"]})
    cols = ["section", "name", "source", "source_events", "not_booked", "not_in_source",
            "indexed_events", "entries", "priced_entries", "events",
            "billed_events", "blocked_events", "non_billable_events", "prior_period_events"]
    notes = ["prior_period_events: usage of an earlier, closed month that arrived late and is "
             "booked in this month (original_date, prior_period metadata)."]
    return check, Table("completeness", f"Usage completeness {book.period}", cols, rows, notes)


class SourceReader:
    """The event ids of an archived source document, read again aside by its importer."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self._importers: list | None = None
        self._cache: dict[str, dict[str, set[str]]] = {}

    def document(self, source: str, sha256: str) -> Path | None:
        if not sha256:
            return None
        name = archive_name(source or "source", sha256)
        for path in sorted((self.book.root / "documents").rglob(f"*.{name}")):
            if file_sha256(path) == sha256:
                return path
        return None

    def ids(self, source: str, sha256: str, month: str) -> set[str] | None:
        if sha256 not in self._cache:
            path = self.document(source, sha256)
            if path is None:
                return None
            if self._importers is None:
                config = self.book.root / "importers.yaml"
                settings = (yaml.safe_load(config.read_text(encoding="utf-8"))
                            if config.exists() else None)
                self._importers = make_importers(self.book.contracts, settings or {})
            found = [i for i in self._importers if i.identify(str(path))]
            if len(found) != 1 or getattr(found[0], "kind", "") != "usage":
                return None
            result = found[0].run(path, index=EventIndex())
            self._cache[sha256] = {m: {i for a in arrays for i in a.to_pylist()}
                                   for m, arrays in result.event_ids.items()}
        return self._cache[sha256].get(month, set())


def _rel(filename: str, root: Path) -> str:
    prefix = str(root) + "/"
    return filename[len(prefix):] if filename.startswith(prefix) else filename


def cogs(book: Book) -> tuple[reconcile.Check, Table]:
    exact: dict[str, Decimal] = defaultdict(Decimal)
    names: dict[str, str] = {}
    lines, _ = provider_bills.bill_lines(book.entries)
    for line, _entry in lines:
        if book.start <= line.day <= book.end:
            component = customer_component(line.provider)
            names[component] = line.provider
            exact[component] += line.amount
    attributed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    unattributed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in book.entries:
        if isinstance(entry, data.Transaction) and book.in_month(entry):
            for p in entry.postings:
                for prefix, target in ((prof.INFERENCE + ":", attributed),
                                       (prof.UNATTRIBUTED + ":", unattributed)):
                    if p.account.startswith(prefix) and p.units is not None:
                        target[p.account[len(prefix):].split(":")[0]] += p.units.number
    providers = [reconcile.ProviderCost(names.get(c, c.lower()), to_cent(exact.get(c, 0)),
                                        attributed.get(c, ZERO), unattributed.get(c, ZERO))
                 for c in sorted(set(exact) | set(attributed) | set(unattributed))]
    check = reconcile.cogs(providers)
    rows = [{"provider": p.provider, "bills": p.billed, "attributed": p.attributed,
             "unattributed": p.unattributed, "difference": p.difference} for p in providers]
    return check, Table("cogs", f"COGS tie-out {book.period}",
                        ["provider", "bills", "attributed", "unattributed", "difference"], rows)


def rollforward_report(book: Book) -> rollforward.Rollforward:
    opening, moves, closing = close_rows.liability_rows(book.entries, book.ids, book.start,
                                                        book.end)
    lots = [state for state, _ in book.lots]
    return rollforward.rollforward(book.period, book.currency, opening, moves, closing, lots)


def unbilled_check(book: Book) -> reconcile.Check:
    balances = close_rows.balances(book.entries, close_rows.UNBILLED, book.ids, book.end)
    return reconcile.unbilled(balances)


def invoices_check(book: Book) -> reconcile.Check:
    ids = [(str(e.meta.get("invoice")), str(e.meta.get("customer")),
            str(e.meta.get("period"))) for e in booked_invoices(book.entries)]
    return reconcile.invoices(ids, book.period)


def rollforward_check(report: rollforward.Rollforward) -> reconcile.Check:
    failures = report.failures()
    total = report.total
    return reconcile.Check("rollforward", not failures,
                           f"opening {total.opening} + additions {total.additions} - revenue "
                           f"{total.revenue_total} - refunds {total.refunds} + other "
                           f"{total.other_total} = closing {total.closing}; ledger "
                           f"{total.gl_closing}; lots {total.subledger_closing}; 50-8(b) "
                           f"{total.from_opening}", failures)


def checks_table(period: str, checks: Sequence[reconcile.Check]) -> Table:
    rows = []
    for c in checks:
        rows.append({"check": c.name, "status": "ok" if c.ok else "FAILED",
                     "detail": c.detail, "failures": "; ".join(c.failures)})
    return Table("checks", f"Reconciliations {period}",
                 ["check", "status", "detail", "failures"], rows)
