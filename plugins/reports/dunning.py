"""Dunning: receivables by age at the month's end, the open items, and the customers
whose invoice jumped against their trailing three-month average (``rules.dunning``).

Before a month is invoiced its accrued unbilled amount stands in for the invoice, so that
collections can warn a customer before the invoice lands.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..entries.build import number
from ..rules import accounts, dunning
from .invoices import booked_invoices
from .ledger import Month
from .rows import receivables, unbilled_items
from .tables import Table

ZERO = Decimal("0.00")


def dunning_table(month: Month, ratio: Decimal = dunning.JUMP_RATIO) -> Table:
    charges, payments = receivables(month.ledger.transactions, month.ids, month.terms())
    items = dunning.open_items(charges, payments, month.end)
    rows: list[dict[str, object]] = []
    for row in dunning.aging(items):
        rows.append({"section": "aging", **row})
    for item in items:
        rows.append({"section": "open", "customer": item.customer, "ref": item.ref,
                     "date": item.date.isoformat(), "due": item.due.isoformat(),
                     "amount": item.amount, "days_past_due": item.days_past_due,
                     "bucket": item.bucket})
    history: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in booked_invoices(month.ledger.transactions):
        period = str(entry.meta.get("period"))
        history[(str(entry.meta.get("customer")), period)] += sum(
            (number(p) for p in entry.postings
             if accounts.under(p.account, accounts.RECEIVABLE)), ZERO)
    current = {c: v for (c, p), v in history.items() if p == month.period}
    source = "invoice"
    if not current:  # not invoiced yet: the month's accrued unbilled, before it lands
        source = "accrued unbilled"
        for unbilled in unbilled_items(month.transactions, month.ids, month.start,
                                       month.end):
            current[unbilled.customer] = current.get(unbilled.customer, ZERO) + unbilled.amount
    first = month.ledger.first_period
    for jump in dunning.jumps(month.period, current, history, ratio, first):
        rows.append({"section": "jump", "customer": jump.customer, "amount": jump.amount,
                     "basis": source, "trailing_average": jump.average,
                     "months": jump.months, "ratio": jump.ratio, "increase": jump.increase,
                     "flag": "JUMP" if jump.flagged else ""})
    notes = [f"Aged at {month.end} by days past due. Payments (credits to "
             f"Assets:Receivable) are applied to the oldest charges first.",
             f"Jump: this month's {source} at least {ratio} times the average of the three "
             f"months before (months the book covers)."]
    if not payments:
        notes.append("No payment of a receivable is in the book yet (no importer books "
                     "invoice payments): every charge is shown open.")
    cols = ["section", "customer", *dunning.BUCKETS, "total", "ref", "date", "due", "amount",
            "days_past_due", "bucket", "basis", "trailing_average", "months", "ratio",
            "increase", "flag"]
    return Table("dunning", f"Dunning {month.period}", cols, rows, notes)
