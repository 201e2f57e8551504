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
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from ..rules.periods import months_after
from . import rollforward
from .ledger import Month
from .tables import Table

ZERO = Decimal("0.00")


def _credits(value: Fraction | Decimal) -> Decimal:
    exact = Fraction(value)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.01"))


def credits_table(month: Month) -> Table:
    rows: list[dict[str, object]] = []
    for state, lot in month.lots:
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
    return Table("credits", f"Credits outstanding at {month.end}",
                 ["customer", "lot", "pack", "purchased", "expires", "credits",
                  "remaining_credits", "credits_refunded", "refunded", "liability",
                  "days_to_expiry", "expires_within_days"],
                 rows, [f"{soon} lot(s) expire within 90 days of {month.end}: tell those "
                        f"customers before their credits lapse."])


def rpo_table(month: Month) -> Table:
    result = rollforward.report(month)
    horizon = month.end + datetime.timedelta(days=365)
    within: dict[str, Decimal] = defaultdict(lambda: ZERO)
    later: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for state, lot in month.lots:
        if state.closing:
            target = within if (lot.expires is not None and lot.expires <= horizon) else later
            target[state.customer] += state.closing
    commitments: dict[str, Decimal] = defaultdict(lambda: ZERO)
    notes = ["Contract liability by the expiry of its lots: within 12 months of the month's "
             "end, or later (or never expiring). Remaining commitments: minimum spend of the "
             "periods after this month to the contract's end. Usage billed in arrears "
             "without a minimum is variable consideration for service not yet delivered "
             "and is not included (ASC 606-10-50-14A)."]
    for cid, customer in sorted(month.contracts.customers.items()):
        for contract in customer.contracts:
            terms = contract.commitment
            if terms is None or not contract.active_on(month.end):
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
    cols = ["customer", "contract_liability", "within_12_months", "later",
            "remaining_commitments", "total"]
    total: dict[str, object] = {"customer": "(total)"}
    for k in cols[1:]:
        total[k] = sum((v for r in rows if isinstance(v := r[k], Decimal)), ZERO)
    rows.append(total)
    return Table("rpo", f"Remaining performance obligations at {month.end}", cols, rows,
                 notes)
