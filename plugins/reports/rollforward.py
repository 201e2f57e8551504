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


def by_currency(month: Month) -> dict[str, frozenset[str]]:
    """The customers of each contract currency (docs/currency.md), the operating
    currency's first; {} when every contract is in the operating currency (the book's
    rollforward is then every customer's, as it always was)."""
    found: dict[str, set[str]] = defaultdict(set)
    for cid, customer in month.contracts.customers.items():
        for contract in customer.contracts:
            found[contract.currency].add(cid)
    if set(found) <= {month.currency}:
        return {}
    others = set().union(*(found[c] for c in found if c != month.currency))
    # a customer with contracts in two currencies is in the foreign currency's: its lots
    # and liability are in that currency (contracts of one customer do not overlap)
    out = {month.currency: frozenset(set(month.contracts.customers) - others)}
    for code in sorted(c for c in found if c != month.currency):
        out[code] = frozenset(found[code])
    return out


def currency_of(month: Month) -> dict[str, str]:
    """customer -> the currency of its rollforward, in a book of several contract
    currencies; {} in a book of one (its reports have no currency column)."""
    return {c: code for code, customers in by_currency(month).items() for c in customers}


def report(month: Month, customers: Collection[str] | None = None,
           currency: str | None = None) -> rollforward.Rollforward:
    """The month's rollforward, of every customer or of ``customers`` only (computed once
    per month and set of customers); in a book with contracts in several currencies, of
    the customers of ``currency`` (default the operating currency): one rollforward per
    currency, never a sum across them."""
    groups = by_currency(month)
    code = currency or month.currency
    if groups:
        mine = groups.get(code, frozenset())
        customers = mine if customers is None else frozenset(customers) & mine
    key = ("rollforward", None if customers is None else frozenset(customers), code)
    found = month.cache.get(key)
    if found is None:
        rows = month.cache.get("liability_rows")
        if rows is None:
            rows = month.cache["liability_rows"] = liability_rows(
                month.to_date, month.ids, month.start, month.end)
        opening, moves, closing = rows
        lots = [state for state, _ in month.all_lots]  # the customers' below
        if customers is not None:
            opening = {c: v for c, v in opening.items() if c in customers}
            closing = {c: v for c, v in closing.items() if c in customers}
            moves = [m for m in moves if m.customer in customers]
            lots = [state for state in lots if state.customer in customers]
        notes = credit_notes(month)
        if customers is not None:
            notes = {c: v for c, v in notes.items() if c in customers}
        found = month.cache[key] = rollforward.rollforward(
            month.period, code, opening, moves, closing, lots, notes)
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


def active(month: Month) -> list[str]:
    """The operating currency, then each other contract currency with a lot or a
    movement up to the month's end (an idle foreign contract changes nothing)."""
    codes = [month.currency]
    for code in list(by_currency(month))[1:]:
        result = report(month, currency=code)
        if len(result.lines) > 1:  # a customer with a balance or a movement
            codes.append(code)
    return codes


def table(month: Month, customers: Collection[str] | None = None) -> Table:
    """The rollforward in the operating currency (of its customers: in a book of several
    currencies, each other currency's is one of ``foreign_tables``)."""
    return _table(month, customers)


def foreign_tables(month: Month) -> list[Table]:
    """One rollforward per other contract currency with activity, each in its currency
    and tied out on its own (docs/currency.md): ``rollforward-eur``, ...; none in a book
    of one currency."""
    out = []
    for code in active(month)[1:]:
        found = _table(month, None, code)
        out.append(Table(f"rollforward-{code.lower()}", found.title, found.columns,
                         found.rows, [*found.notes, f"The contracts in {code}, in {code} "
                                      f"(docs/currency.md)."]))
    return out


def _table(month: Month, customers: Collection[str] | None = None,
           currency: str | None = None) -> Table:
    result = report(month, customers, currency)
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
    """The rollforward tied out: in a book of several currencies, per currency (each
    detail and failure prefixed with its currency)."""
    codes = active(month)
    details, failures = [], []
    for code in codes:
        result = report(month, currency=code)
        total = result.total
        prefix = f"{code}: " if code != month.currency else ""
        failures += [prefix + f for f in result.failures()]
        details.append(f"{prefix}opening {total.opening} + additions {total.additions} - "
                       f"revenue {total.revenue_total} - refunds {total.refunds} + other "
                       f"{total.other_total} = closing {total.closing}; ledger "
                       f"{total.gl_closing}; lots {total.subledger_closing}; 50-8(b) "
                       f"{total.from_opening}")
    return reconcile.Check("rollforward", not failures, " | ".join(details), failures)
