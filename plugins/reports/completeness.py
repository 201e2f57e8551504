"""Usage completeness, the book's side: what each import file and each customer of the
month holds, and the check against what the sources and event-id indexes hold.

The book's side is here (usage entries per import file, per customer: entries, events,
entries priced, blocked and non-billable events, late usage of closed months); the other
side, the archived source documents and the event-id index files, is counted by the
close command (``tokenbooks.scripts.sources``), which hands the counts to ``check``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..entries.usage import EVENTS, booked_month
from ..rules import reconcile
from ..rules.reconcile import CustomerUsage, FileCount
from ..rules.records import Usage
from .ledger import Month
from .rows import rule_of
from .tables import Table


@dataclass(frozen=True)
class ImportFile:
    """An import file with usage entries of the month."""

    filename: str  # as the book loaded it (absolute)
    file: str  # relative to the book
    events: int  # the events of all its usage entries
    source: str  # the source document it was imported from
    sha256: str
    month: str  # the month whose event ids it holds


def import_files(month: Month) -> list[ImportFile]:
    """The import files with usage entries dated in the month, by name."""
    events: dict[str, int] = defaultdict(int)
    origin: dict[str, tuple[str, str, str]] = {}
    in_month: set[str] = set()
    table = month.ledger.usage
    for entry, row in zip(table.entries, table.rows, strict=True):
        filename = str(entry.meta.get("filename", ""))
        events[filename] += row[EVENTS]
        if filename not in origin:
            origin[filename] = (str(entry.meta.get("source") or ""),
                                str(entry.meta.get("sha256") or ""), booked_month(entry))
        if month.in_month(entry):
            in_month.add(filename)
    prefix = f"{month.root}/"
    return [ImportFile(name, name[len(prefix):] if name.startswith(prefix) else name,
                       events[name], *origin[name]) for name in sorted(in_month)]


def all_files(month: Month) -> dict[str, tuple[str, str, str]]:
    """filename -> (source, sha256, month of its event ids) of every usage import file."""
    out: dict[str, tuple[str, str, str]] = {}
    for entry in month.ledger.usage.entries:
        filename = str(entry.meta.get("filename", ""))
        if filename not in out:
            out[filename] = (str(entry.meta.get("source") or ""),
                             str(entry.meta.get("sha256") or ""), booked_month(entry))
    return out


def customers(month: Month) -> tuple[list[CustomerUsage], dict[str, int]]:
    """Per customer of the month: its usage (entries, events, entries priced, blocked and
    non-billable events), and the events of late usage of closed months."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    table = month.ledger.usage
    for entry, fields in zip(table.entries, table.rows, strict=True):
        if not month.in_month(entry):
            continue
        usage = Usage._make(fields)
        counts = per[usage.customer]
        counts["entries"] += 1
        counts["events"] += usage.events
        if entry.meta.get("original_date"):  # late usage of a closed month (importers.late)
            counts["prior_period"] += usage.events
        customer = month.contracts.customers.get(usage.customer)
        contract = customer.contract_on(usage.date) if customer else None
        if contract is not None and usage.feature in contract.non_billable_features:
            counts["non_billable"] += usage.events
    for tx in month.transactions:
        if rule_of(tx) == "usage":
            counts = per[str(tx.meta.get("customer"))]
            counts["priced"] += int(tx.meta.get("usage_entries", 0) or 0)
            counts["blocked"] += int(tx.meta.get("blocked_events", 0) or 0)
    totals = [CustomerUsage(c, r["entries"], r["events"], r["priced"], r["blocked"],
                            r["non_billable"]) for c, r in sorted(per.items())]
    return totals, {c: r["prior_period"] for c, r in per.items()}


COLUMNS = ["section", "name", "source", "source_events", "not_booked", "not_in_source",
           "indexed_events", "entries", "priced_entries", "events", "billed_events",
           "blocked_events", "non_billable_events", "prior_period_events"]


def check(month: Month, counts: list[FileCount]) -> tuple[reconcile.Check, Table]:
    """The completeness check of the month and its table, from the counts of its import
    files (``import_files``) at the sources and in the event-id indexes."""
    usage, prior = customers(month)
    result = reconcile.completeness(counts, usage)
    rows: list[dict[str, object]] = []
    for f in counts:
        rows.append({"section": "file", "name": f.file, "source": f.source,
                     "source_events": f.source_events, "indexed_events": f.indexed,
                     "events": f.booked, "not_booked": f.not_booked,
                     "not_in_source": f.not_in_source})
    for c in usage:
        rows.append({"section": "customer", "name": c.customer, "entries": c.entries,
                     "priced_entries": c.priced, "events": c.events, "billed_events": c.billed,
                     "blocked_events": c.blocked, "non_billable_events": c.non_billable,
                     "prior_period_events": prior[c.customer]})
    notes = ["prior_period_events: usage of an earlier, closed month that arrived late and is "
             "booked in this month (original_date, prior_period metadata)."]
    return result, Table("completeness", f"Usage completeness {month.period}", list(COLUMNS),
                         rows, notes)
