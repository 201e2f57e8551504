"""The contract-liability rollforward of a month (ASC 606-10-50-8 to 50-10), tied out.

Per customer and in total: opening + additions - revenue by kind - refunds + other =
closing, where the movements are the journal's postings to
``Liabilities:Deferred-Revenue:<C>`` (``reports.rows``), ``gl_closing`` the ledger
balance and ``subledger_closing`` the engine's lots at the month's end (price - revenue
posted, ``Load.revenue``): two independent things, tied to the cent. With the 50-8(b)
memo: the revenue of the month that was in the opening balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from decimal import Decimal

from ..rules import accounts, reconcile, rollforward
from .ledger import Month
from .rows import liability_rows
from .tables import Table

ZERO = Decimal("0.00")
CREDIT_NOTE = "credit-note"


def report(month: Month, customers: Collection[str] | None = None
           ) -> rollforward.Rollforward:
    """The month's rollforward, of every customer or of ``customers`` only (computed once
    per month and set of customers)."""
    key = ("rollforward", None if customers is None else frozenset(customers))
    found = month.cache.get(key)
    if found is None:
        rows = month.cache.get("liability_rows")
        if rows is None:
            rows = month.cache["liability_rows"] = liability_rows(
                month.to_date, month.ids, month.start, month.end)
        opening, moves, closing = rows
        lots = [state for state, _ in month.lots]
        if customers is not None:
            opening = {c: v for c, v in opening.items() if c in customers}
            closing = {c: v for c, v in closing.items() if c in customers}
            moves = [m for m in moves if m.customer in customers]
            lots = [state for state in lots if state.customer in customers]
        notes = credit_notes(month)
        if customers is not None:
            notes = {c: v for c, v in notes.items() if c in customers}
        found = month.cache[key] = rollforward.rollforward(
            month.period, month.currency, opening, moves, closing, lots, notes)
    return found


def credit_notes(month: Month) -> dict[str, Decimal]:
    """The month's credit notes by customer: the revenue they took back (positive)."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in month.transactions:
        if entry.meta.get("rule") == CREDIT_NOTE:
            customer = str(entry.meta.get("customer", ""))
            for posting in entry.postings:
                if accounts.under(posting.account, accounts.REVENUE) and posting.units:
                    out[customer] += posting.units.number or ZERO
    return dict(out)


def table(month: Month, customers: Collection[str] | None = None) -> Table:
    result = report(month, customers)
    notes = ["Liability positive. closing = opening + additions - revenue - refunds + "
             "other; gl_closing is the balance of Liabilities:Deferred-Revenue:<C>, "
             "subledger_closing the sum over the customer's lots of price - revenue "
             "posted (the recognition engine).",
             "revenue_from_opening_50_8b: revenue of the month that was in the opening "
             "balance (ASC 606-10-50-8(b)), per lot min(opening liability, revenue of the "
             "month): taken from the opening balance first.",
             "credit_notes_memo: credit notes on invoices of the month (they reduce revenue "
             "and the receivable, not the contract liability; not in the equation)."]
    kinds = set(result.revenue_kinds)
    absent = [k for k in ("breakage-revision", "modification")
              if not any(x.startswith(k) for x in kinds)]
    if absent:
        notes.append("No " + " or ".join(absent) + " entries in the book this month (rule "
                     "metadata); their columns appear when such entries exist.")
    return Table("rollforward", f"Contract-liability rollforward {result.period} "
                                f"({result.currency})", rollforward.columns(result),
                 rollforward.rows(result), notes)


def check(month: Month) -> reconcile.Check:
    result = report(month)
    failures = result.failures()
    total = result.total
    return reconcile.Check("rollforward", not failures,
                           f"opening {total.opening} + additions {total.additions} - revenue "
                           f"{total.revenue_total} - refunds {total.refunds} + other "
                           f"{total.other_total} = closing {total.closing}; ledger "
                           f"{total.gl_closing}; lots {total.subledger_closing}; 50-8(b) "
                           f"{total.from_opening}", failures)
