"""The audit trail of contract modifications (ASC 606-10-25-10 to 25-13): each
modification of the contracts dated up to the month's end (kind, method and why,
approval, evidence, rate before and after, revenue booked and the links of the entries it
produced; a pending one changes nothing), and the month's modification entries.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from beancount.core import data

from ..entries.build import number
from ..rules import accounts
from ..rules.model import Modification
from .ledger import Month
from .tables import Table

ZERO = Decimal("0.00")


def _mod_kind(mod: Modification) -> str:
    kinds = [k for k, on in (("add credits", mod.add_credits), ("discount",
                                                                 mod.discount is not None),
                             ("rates", mod.rates), ("expiry", mod.expires and
                                                    not mod.add_credits),
                             ("past credit", mod.past_credit)) if on]
    return ", ".join(kinds) or "none"


def modifications_table(month: Month) -> Table:
    """The audit trail: every modification of the contracts dated up to the month's end
    (kind, method and why, approval, evidence, rate before and after, revenue booked and the
    links of the entries it produced; pending ones change nothing), and the month's
    modification entries."""
    booked: dict[str, Decimal] = defaultdict(lambda: ZERO)
    trail: dict[str, list[data.Transaction]] = defaultdict(list)
    rows: list[dict[str, object]] = []
    for entry in month.to_date:
        meta = entry.meta
        if not (meta.get("rule") == "modification" or any(
                p.account.startswith(accounts.REVENUE + ":Adjustments") for p in entry.postings)):
            continue
        mod_id = str(meta.get("modification") or "")
        revenue = -sum((number(p) for p in entry.postings
                        if p.account.startswith(accounts.REVENUE + ":")), ZERO)
        trail[mod_id].append(entry)
        if not month.in_month(entry):
            continue
        booked[mod_id] += revenue
        rows.append({"section": "entry", "customer": meta.get("customer"),
                     "contract": meta.get("contract"), "modification": mod_id,
                     "date": entry.date.isoformat(), "method": meta.get("method", ""),
                     "why": meta.get("reason", ""), "rate_before": meta.get("rate_before", ""),
                     "rate_after": meta.get("rate_after", ""), "revenue": revenue,
                     "links": " ".join(sorted(entry.links))})
    for cid, customer in sorted(month.contracts.customers.items()):
        for contract in customer.contracts:
            for mod in contract.modifications:
                if mod.date > month.end:
                    continue
                entries = trail.get(mod.id, [])
                first = entries[0].meta if entries else {}
                before = next((e.meta["rate_before"] for e in entries
                               if "rate_before" in e.meta), "")
                after = next((e.meta["rate_after"] for e in entries
                              if "rate_after" in e.meta), "")
                approval = (f"{mod.approved_by} on {mod.approved_on}" if mod.approved
                            else "")
                rows.append({"section": "contract", "customer": cid, "contract": contract.id,
                             "modification": mod.id, "date": mod.date.isoformat(),
                             "kind": _mod_kind(mod),
                             "method": first.get("method") or (
                                 mod.method if mod.approved else f"{mod.method} (not applied)"),
                             "why": first.get("reason") or (
                                 "" if mod.approved else "pending approval: no revenue effect"),
                             "add_credits": mod.add_credits, "price": mod.price,
                             "ssp": mod.ssp, "past_credit": mod.past_credit,
                             "approved": "yes" if mod.approved else "PENDING",
                             "approval": approval, "evidence": mod.evidence or "",
                             "rate_before": before, "rate_after": after,
                             "revenue": -sum((number(p) for e in entries
                                              for p in e.postings
                                              if p.account.startswith(accounts.REVENUE + ":")),
                                             ZERO),
                             "booked_this_month": "yes" if mod.id in booked else "no",
                             "links": " ".join(sorted({f"{e.date}:{link}" for e in entries
                                                       for link in e.links}))})
    notes = ["rate_before/rate_after: the lot's consideration per credit (exact, "
             "numerator/denominator when it does not terminate). Revenue before a "
             "modification's date is never restated; a pending one changes no revenue."]
    if not any(r["section"] == "entry" for r in rows):
        notes.append(f"No modification entry in the book for {month.period} (no transaction "
                     f"with rule 'modification' or posting to Income:Revenue:Adjustments).")
    return Table("modifications", f"Contract modifications {month.period}",
                 ["section", "customer", "contract", "modification", "date", "kind", "method",
                  "why", "add_credits", "price", "ssp", "past_credit", "approved", "approval",
                  "evidence", "rate_before", "rate_after", "booked_this_month", "revenue",
                  "links"], rows, notes)
