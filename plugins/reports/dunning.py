"""Dunning: receivables by age at the month's end, the open items, and the customers
whose invoice jumped against their trailing three-month average (``rules.dunning``).

Before a month is invoiced its accrued unbilled amount stands in for the invoice, so that
collections can warn a customer before the invoice lands.

The balances are per invoice (``entries.payments.receivable_rows``, ``rules.dunning
.balances``): a payment or credit note that names an invoice settles that invoice; a
receivable booked before its invoice (a top-up) is settled by the invoice that bills
it; credits that name nothing are applied to the oldest charges first. Sections:

    aging     per customer: open by age bucket, total; ``credits``: what the customer
              holds in Liabilities:Customer-Credits (unapplied cash, overpayments)
    open      each charge left open: ``amount`` (left to pay, as before), ``invoiced``,
              ``paid``, ``credited``, ``open``, days past due, bucket
    settled   each charge whose last payment or credit note of the month settled it
    jump      the month's invoice against the trailing three-month average

In a book with contracts in several currencies every row has the ``currency`` of its
customer's contracts, its amounts' (docs/currency.md).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..entries.build import number
from ..entries.payments import customer_credits, receivable_rows
from ..rules import accounts, dunning
from ..rules.periods import month_bounds, previous_months
from . import rollforward
from .invoices import booked_invoices
from .ledger import Month
from .rows import unbilled_items
from .tables import Table

ZERO = Decimal("0.00")


def dunning_table(month: Month, ratio: Decimal = dunning.JUMP_RATIO) -> Table:
    # The book as of the month's end: a re-close, months later, gives the same report.
    charges, payments, applied = receivable_rows(month.to_date, month.ids, month.terms())
    states = dunning.balances(charges, payments, month.end, applied)
    items = dunning.open_items(charges, payments, month.end, applied)
    held = {c: v for c, v in customer_credits(month.to_date, month.ids, month.end).items()
            if v}
    rows: list[dict[str, object]] = []
    aged = dunning.aging(items)
    for customer in sorted(set(held) - {str(r["customer"]) for r in aged}):
        aged.append({"customer": customer, **{b: ZERO for b in dunning.BUCKETS},
                     "total": ZERO})
    for row in sorted(aged, key=lambda r: str(r["customer"])):
        rows.append({"section": "aging", **row,
                     "credits": held.get(str(row["customer"]), ZERO)})
    for state in states:
        settled = (state.open == 0 and state.billed < state.amount
                   and state.settled is not None and month.start <= state.settled)
        if state.open <= 0 and not settled:
            continue
        rows.append({"section": "open" if state.open > 0 else "settled",
                     "customer": state.customer, "ref": state.ref,
                     "date": state.date.isoformat(), "due": state.due.isoformat(),
                     "amount": state.open, "days_past_due": state.days_past_due,
                     "bucket": state.bucket if state.open > 0 else "",
                     "invoiced": state.amount, "paid": state.paid,
                     "credited": state.credited, "open": state.open})
    history: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in booked_invoices(month.to_date):
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
    for jump in dunning.jumps(month.period, current, history, ratio, first,
                              months_in_force(month)):
        rows.append({"section": "jump", "customer": jump.customer, "amount": jump.amount,
                     "basis": source, "trailing_average": jump.average,
                     "months": jump.months, "ratio": jump.ratio, "increase": jump.increase,
                     "flag": "JUMP" if jump.flagged else ""})
    notes = [f"Aged at {month.end} by days past due. A payment or credit note that names "
             f"an invoice settles that invoice; other credits to Assets:Receivable are "
             f"applied to the oldest charges first. `amount` is what is left to pay "
             f"(= `open`).",
             f"Jump: this month's {source} at least {ratio} times the average of the three "
             f"months before (months the book covers and the customer's contract was in "
             f"force)."]
    if not payments and not any(a.kind != "billed" for a in applied):
        notes.append("No payment of a receivable is in the book yet (import the customers' "
                     "payments: tokenbooks import payments.csv): every charge is shown "
                     "open.")
    cols = ["section", "customer", *dunning.BUCKETS, "total", "ref", "date", "due", "amount",
            "days_past_due", "bucket", "basis", "trailing_average", "months", "ratio",
            "increase", "flag", "credits", "invoiced", "paid", "credited", "open"]
    code_of = rollforward.currency_of(month)
    if code_of:  # several currencies: each row's, its customer's contracts' (docs/currency.md)
        cols.insert(2, "currency")
        for row in rows:
            row["currency"] = code_of.get(str(row["customer"]), month.currency)
        notes.append("Each customer's amounts are in its contracts' currency (`currency`).")
    return Table("dunning", f"Dunning {month.period}", cols, rows, notes)


def months_in_force(month: Month) -> dict[str, set[str]]:
    """Per customer, the three months before ``month`` in which one of its contracts was
    in force for at least a day."""
    out: dict[str, set[str]] = {}
    for period in previous_months(month.period, 3):
        start, end = month_bounds(period)
        for cid, customer in month.contracts.customers.items():
            if any(c.start <= end and (c.end is None or c.end >= start)
                   for c in customer.contracts):
                out.setdefault(cid, set()).add(period)
    return out
