"""Credits outstanding and remaining performance obligations at a month's end.

* ``credits``: each open lot of the engine's sub-ledger at the month's end (credits,
  net of refunds, and credits left; the credits refunds took back and the consideration
  they returned; the contract liability on it, days to expiry, within 30/60/90 days),
  soonest expiry first. ``days_to_expiry`` is the days from the month's last day to the
  expiry date, the first day the credits can no longer be used (docs/expiry.md): a lot
  expiring on the 1st of next month shows 1, its credits usable through the month's end;
  the days left to use them after the month's end are ``days_to_expiry - 1``;
* ``rpo``: the contract liability by when its lots expire (within 12 months or later:
  an expiry date at most 365 days after the month's end, the day it is recognized)
  and the minimum commitments still to come (ASC 606-10-50-13; usage in arrears without
  a minimum is variable consideration and is left out, 50-14A).

In a book with contracts in several currencies (docs/currency.md) both have a
``currency`` column: the credits list every currency's lots; the RPO is a section per
currency, the operating one last, with ``total_usd`` (each row in the operating
currency) and, on its last row, ``all_currencies_usd``::

    customer,currency,...,total,total_usd,all_currencies_usd
    lumen,EUR,...,668.08,726.47,
    (total),USD,...,7262.26,7262.26,7988.73
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from ..entries.fx import rates_of
from ..rules.fx import MissingRate, Rates, translate
from ..rules.lots import Lot
from ..rules.periods import months_after
from ..rules.rollforward import LotState
from . import rollforward
from .ledger import Month
from .tables import Table

ZERO = Decimal("0.00")


def _credits(value: Fraction | Decimal) -> Decimal:
    exact = Fraction(value)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.01"))


def credits_table(month: Month) -> Table:
    """Each open lot; in a book with contracts in several currencies, every currency's
    lots with a ``currency`` column, each lot's figures in its contract's currency."""
    rows: list[dict[str, object]] = []
    code_of = rollforward.currency_of(month)
    for state, lot in (month.all_lots if code_of else month.lots):
        remaining = lot.remaining
        if lot.closed or (remaining <= 0 and state.closing <= 0):
            continue
        days = (lot.expires - month.end).days if lot.expires else None
        within = ("never" if days is None else "30" if days <= 30 else "60" if days <= 60
                  else "90" if days <= 90 else "later")
        rows.append({"customer": state.customer, "lot": lot.id, "pack": lot.pack,
                     "purchased": lot.purchased.isoformat(),
                     "expires": lot.expires.isoformat() if lot.expires else "",
                     "credits": _credits(lot.credits), "remaining_credits": _credits(remaining),
                     "credits_refunded": _credits(lot.credits_refunded),
                     "refunded": lot.refunded.quantize(ZERO), "liability": state.closing, "days_to_expiry": days,
                     "expires_within_days": within})
    rows.sort(key=lambda r: (r["days_to_expiry"] is None, r["days_to_expiry"] or 0,
                             r["customer"], r["lot"]))
    soon = sum(1 for r in rows if r["expires_within_days"] in ("30", "60", "90"))
    cols = ["customer", "lot", "pack", "purchased", "expires", "credits",
            "remaining_credits", "credits_refunded", "refunded", "liability",
            "days_to_expiry", "expires_within_days"]
    if code_of:
        cols.insert(1, "currency")
        for row in rows:
            row["currency"] = code_of[str(row["customer"])]
    return Table("credits", f"Credits outstanding at {month.end}", cols,
                 rows, [f"{soon} lot(s) expire within 90 days of {month.end}: tell those "
                        f"customers before their credits lapse."])


def rpo_table(month: Month) -> Table:
    """The RPO of the month's end. In a book with contracts in several currencies
    (docs/currency.md), a section per contract currency, each in its currency with its
    ``(total)``, and ``total_<operating>``: each row in the operating currency, a lot's
    liability at its purchase date's rate (a non-monetary item, as booked), the
    commitments to come at the month end's rate; the last row adds those up."""
    groups = rollforward.by_currency(month)
    notes = ["Contract liability by the expiry of its lots: within 12 months of the month's "
             "end, or later (or never expiring). Remaining commitments: minimum spend of the "
             "periods after this month to the contract's end. Usage billed in arrears "
             "without a minimum is variable consideration for service not yet delivered "
             "and is not included (ASC 606-10-50-14A)."]
    cols = ["customer", "contract_liability", "within_12_months", "later",
            "remaining_commitments", "total"]
    if not groups:  # one currency: the report as it always was
        rows = _rpo_rows(month, None, month.lots, notes)
        rows.append(_rpo_total(rows, cols))
        return Table("rpo", f"Remaining performance obligations at {month.end}", cols, rows,
                     notes)
    op = month.currency
    operating_col, all_col = f"total_{op.lower()}", f"all_currencies_{op.lower()}"
    cols = [cols[0], "currency", *cols[1:], operating_col, all_col]
    rates = month.cache.get("rates")
    if rates is None:
        rates = month.cache["rates"] = rates_of(month.ledger.entries)
    out: list[dict[str, object]] = []
    grand, unpriced = ZERO, []
    # the other currencies first: the last row is the operating currency's total, as in a
    # book of one currency
    for code, customers in [*list(groups.items())[1:], *list(groups.items())[:1]]:
        lots = [(s, lot) for s, lot in month.all_lots if s.customer in customers]
        rows = _rpo_rows(month, code, lots, notes)
        if not rows:
            continue
        for row in rows:
            row["currency"] = code
            try:
                row[operating_col] = _in_operating(month, rates, code, row, lots)
            except MissingRate as e:
                row[operating_col] = ""
                unpriced.append(f"{row['customer']}: {e}")
        total = _rpo_total(rows, cols[:-2])
        total["currency"] = code
        total[operating_col] = sum((v for r in rows if isinstance(v := r[operating_col],
                                                                  Decimal)), ZERO)
        grand += total[operating_col]  # type: ignore[operator]
        out += [*rows, total]
    if out:
        out[-1][all_col] = grand
    notes.append(f"One section per contract currency, in it, {op} last; {operating_col} "
                 f"in {op}: a lot's liability at the rate of its purchase date "
                 f"(non-monetary, never remeasured), the commitments to come at the rate "
                 f"of {month.end}; {all_col} (the last row): the RPO of every currency, in "
                 f"{op} (docs/currency.md).")
    notes += [f"No rate for {u}: left out of {operating_col}." for u in unpriced]
    return Table("rpo", f"Remaining performance obligations at {month.end}", cols, out,
                 notes)


def _in_operating(month: Month, rates: Rates, code: str, row: dict[str, object],
                  lots: list[tuple[LotState, Lot]]) -> Decimal:
    """A row of the RPO in the operating currency (``MissingRate`` if a rate is not in
    the book): each lot's closing liability at its purchase date's rate, the remaining
    commitments at the month end's."""
    op = month.currency
    parts = [(state.closing, rates.rate(code, op, lot.purchased)) for state, lot in lots
             if state.customer == row["customer"] and state.closing]
    commitments = row["remaining_commitments"]
    assert isinstance(commitments, Decimal)
    if commitments:
        parts.append((commitments, rates.rate(code, op, month.end)))
    return translate(parts, op)


def _rpo_rows(month: Month, currency: str | None, lots: list[tuple[LotState, Lot]],
              notes: list[str]) -> list[dict[str, object]]:
    """The RPO rows of ``currency``'s customers (None: every customer, a book of one
    currency), without their total."""
    result = rollforward.report(month, currency=currency)
    mine = rollforward.by_currency(month).get(currency or "", None)
    horizon = month.end + datetime.timedelta(days=365)
    within: dict[str, Decimal] = defaultdict(lambda: ZERO)
    later: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for state, lot in lots:
        if state.closing:
            target = within if (lot.expires is not None and lot.expires <= horizon) else later
            target[state.customer] += state.closing
    commitments: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for cid, customer in sorted(month.contracts.customers.items()):
        if mine is not None and cid not in mine:
            continue
        for contract in customer.contracts:
            terms = contract.commitment
            if terms is None or not contract.active_on(month.end):
                continue
            if currency is not None and contract.currency != currency:
                continue
            if contract.end is None:
                notes.append(f"{cid}: commitment of {terms.amount} per {terms.period} has no "
                             f"contract end; its remaining amount is not determinable.")
                continue
            commitments[cid] += terms.amount * months_after(month.end, contract.end,
                                                            terms.period)
    rows: list[dict[str, object]] = []
    for line in result.lines[:-1]:
        c = line.customer
        rows.append({"customer": c, "contract_liability": line.gl_closing,
                     "within_12_months": within.get(c, ZERO), "later": later.get(c, ZERO),
                     "remaining_commitments": commitments.get(c, ZERO),
                     "total": line.gl_closing + commitments.get(c, ZERO)})
    for c in sorted(set(commitments) - {r["customer"] for r in rows}):
        rows.append({"customer": c, "contract_liability": ZERO, "within_12_months": ZERO,
                     "later": ZERO, "remaining_commitments": commitments[c],
                     "total": commitments[c]})
    rows.sort(key=lambda r: str(r["customer"]))
    return rows


def _rpo_total(rows: list[dict[str, object]], cols: list[str]) -> dict[str, object]:
    total: dict[str, object] = {"customer": "(total)"}
    for k in cols[1:]:
        if k == "currency":
            continue
        total[k] = sum((v for r in rows if isinstance(v := r[k], Decimal)), ZERO)
    return total
