"""Breakage: the month's breakage revenue per lot, the history of expired packs, the
back-test of the estimates applied, and the rate in force (ASC 606-10-55-46 to 55-49).

The history recommends; the rate in force is the one a person wrote in the contract
(``breakage.rate`` and approved revisions, with ``approved_by``).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..entries.build import number
from ..rules import accounts, breakage_history, breakage_rates
from .ledger import Month
from .rows import revenue_kind
from .tables import Table

ZERO = Decimal("0.00")


def breakage_table(month: Month) -> Table:
    """The month's breakage per lot and kind; the estimate from history (cohorts of the
    expired packs: dollar-weighted and simple mean, counts), the back-test of each applied
    estimate, and the rate in force per pack (the contract's, with who approved it)."""
    of_month: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    to_date: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in month.to_date:
        rule = str(entry.meta.get("rule") or "")
        for p in entry.postings:
            if accounts.under(p.account, accounts.REVENUE_BREAKAGE) and p.units is not None:
                customer = str(entry.meta.get("customer") or "")
                lot_id = str((p.meta or {}).get("lot") or "")
                to_date[(customer, lot_id)] -= number(p)
                if month.in_month(entry):
                    kind = revenue_kind(p.account, rule, "")
                    of_month[(customer, lot_id, kind)] -= number(p)
    methods = {lot.id: lot.method for _, lot in month.lots}
    rows: list[dict[str, object]] = [
        {"section": "month", "customer": c, "lot": lot, "method": methods.get(lot, ""),
         "kind": kind, "month": amount, "to_date": to_date[(c, lot)]}
        for (c, lot, kind), amount in sorted(of_month.items()) if amount]
    notes = [] if rows else [f"No breakage revenue in {month.period}."]
    segments = {cid: c.segment or "" for cid, c in month.contracts.customers.items()}
    history = breakage_history.expired([(s.customer, lot) for s, lot in month.lots], segments,
                                       month.end)
    cohorts = breakage_history.cohorts(history)
    for c in cohorts:
        rows.append({"section": "history", "pack": c.key[0], "segment": c.key[1],
                     "quarter": c.key[2], "count": c.count, "sold": c.sold,
                     "expired_unused": c.unused, "weighted_rate": c.weighted,
                     "simple_mean": c.simple})
    weighted, simple = breakage_history.overall(cohorts, history)
    if cohorts:
        rows.append({"section": "history", "pack": "(all)", "count": len(history),
                     "sold": sum((c.sold for c in cohorts), ZERO),
                     "expired_unused": sum((c.unused for c in cohorts), ZERO),
                     "weighted_rate": weighted, "simple_mean": simple})
    else:
        notes.append(f"No pack has expired by {month.end}: no history to estimate breakage "
                     f"from yet.")
    for t in breakage_history.backtest(history):
        rows.append({"section": "back-test", "customer": t.customer, "lot": t.lot,
                     "pack": t.cohort[0], "quarter": t.cohort[2], "applied_rate": t.applied,
                     "actual_rate": t.actual, "difference": t.difference})
    for state, lot in month.lots:  # reference §3.1: past the estimate, it is stale
        if (lot.method == "proportional" and not lot.closed and lot.expected is not None
                and lot.remaining > 0 and lot.used + lot.forfeited >= lot.expected):
            rows.append({"section": "review", "customer": state.customer, "lot": lot.id,
                         "pack": lot.pack,
                         "applied_rate": breakage_history.show(
                             breakage_history.applied_rate(lot)),
                         "review": "STALE: usage past the expected credits (revenue held "
                                   "at the price, breakage reversing); revise the estimate"})
    seen = {(lot.contract, lot.pack) for _, lot in month.lots}
    for est in breakage_rates.estimates(month.contracts, [lot for _, lot in month.lots],
                                        month.end):
        if est.method != "proportional" and (est.contract, est.pack) not in seen:
            continue
        rows.append({"section": "in force", "customer": est.customer, "pack": est.pack,
                     "method": est.method, "rate": est.rate, "since": est.since,
                     "approved_by": est.basis or _pack_approver(month, est)})
    notes.append("History recommends; the rate in force is the one written in the contract "
                 "(breakage.rate and approved revisions, with approved_by).")
    return Table("breakage", f"Breakage {month.period}",
                 ["section", "customer", "lot", "pack", "segment", "quarter", "method", "kind",
                  "month", "to_date", "count", "sold", "expired_unused", "weighted_rate",
                  "simple_mean", "applied_rate", "actual_rate", "difference", "rate", "since",
                  "approved_by", "review"], rows, notes)


def _pack_approver(month: Month, est: breakage_rates.Estimate) -> str:
    contract = month.contracts.contract(est.contract)
    pack = contract.packs.get(est.pack) if contract else None
    return (pack.breakage.approved_by or "") if pack else ""
