"""The month's invoices: what each customer owes for it, billed from ``Assets:Unbilled``
(``rules.invoicing``), and the invoices the book holds, line by line.

The close computes the invoices (``compute``) and writes them into the book; the
``invoices`` report lists those booked in the month. An invoice also bills the month's
receivables that were booked without one (automatic top-ups, allowance fees, purchases
without a payment: ``entries.payments.receivable_charges``), each a line with its
``charge``; a charge some invoice bills already is never billed again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from beancount.core import data

from ..entries.build import currency, number
from ..entries.payments import billed_charges, receivable_charges
from ..rules import accounts, invoicing
from ..rules.periods import ONE_DAY
from .ledger import Month
from .rows import unbilled_items
from .tables import Table

ZERO = Decimal("0.00")
INVOICE = "invoice"


def model_weights(month: Month) -> dict[tuple[str, str], dict[str, Fraction]]:
    """(customer, "Usage"|"Actions") -> model -> value of the month's usage at contract
    rates (the engine's), what an invoice's usage lines are split by."""
    out: dict[tuple[str, str], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for w in month.ledger.revenue.weights(month.start, month.end + ONE_DAY):
        out[(w.customer, w.stream)][w.model] += Fraction(w.value)
    return out


def compute(month: Month) -> list[invoicing.Invoice]:
    """The invoices of the month from its unbilled amounts and the receivables it booked
    without an invoice."""
    items = unbilled_items(month.transactions, month.ids, month.start, month.end)
    billed = billed_charges(e for e in month.ledger.transactions
                            if (e.meta or {}).get("period") != month.period)
    charges = receivable_charges(month.transactions, month.ids, month.start, month.end,
                                 billed)
    return invoicing.invoices(month.period, month.end, items, model_weights(month),
                              month.terms(), charges)


def booked_invoices(entries: Iterable[data.Transaction]) -> list[data.Transaction]:
    return [e for e in entries if (e.meta or {}).get("rule") == INVOICE]


def invoices_table(month: Month) -> Table:
    rows: list[dict[str, object]] = []
    for entry in booked_invoices(month.transactions):
        meta = entry.meta
        if meta.get("opening"):
            continue  # a receivable taken over at a cut-over: invoiced before the book
        head = {"invoice": meta.get("invoice"), "customer": meta.get("customer"),
                "contracts": meta.get("contract"), "date": entry.date.isoformat(),
                "due": str(meta.get("due")), "terms_days": int(meta.get("payment_terms_days",
                                                                         30))}
        total = ZERO
        code = ""
        for p in entry.postings:
            pm = p.meta or {}
            if accounts.under(p.account, accounts.RECEIVABLE) and (
                    "line" in pm or "charge" not in pm):  # not the billed charge's leg
                code = currency(p)
                total += number(p)
                rows.append({**head, "currency": code, "line": int(pm.get("line", 0)),
                             "stream": pm.get("stream", ""), "model": pm.get("model", ""),
                             "amount": number(p), "charge": pm.get("charge", "")})
        rows.append({**head, "currency": code, "line": "total", "stream": "",
                     "model": "", "amount": total, "charge": ""})
    notes = [] if rows else [f"No invoice for {month.period}: no arrears usage, overage, "
                             f"actions or commitment shortfall was unbilled, and no "
                             f"receivable was booked without an invoice."]
    if any(row["charge"] for row in rows):
        notes.append("A line with a charge bills a receivable booked before the invoice "
                     "(a top-up, an allowance fee, a purchase without payment): the "
                     "invoice moves no money for it (docs/receivables.md).")
    return Table("invoices", f"Invoices {month.period}", list(invoicing.COLUMNS), rows, notes)
