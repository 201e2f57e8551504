"""Changes to a running contract: breakage estimate revisions and contract modifications.

Pure rules (no Beancount import), applied by ``rules.engine`` on their dates, before the
day's purchases and usage. Everything sits on the lots (``rules.lots``):

* Proportional breakage: a lot of a ``proportional`` pack carries ``expected`` credits,
  ``credits x (1 - rate)`` for the rate in force on its purchase date
  (``breakage_rates.in_force``); ``rules.recognition`` earns price x min(1, done/expected).
* A revision (``breakage.revisions``, approved) sets ``expected`` anew on the open lots of
  the pack bought before its date; the difference to what was posted is a cumulative
  catch-up booked as its own transaction (``rule: breakage-revision``). A revision without
  ``approved_by`` changes nothing and is a notice.
* A modification (approved: ``approved_by`` and ``approved_on``) is classified
  (``classify``): ``separate`` adds a lot; ``prospective`` reprices the open lot
  (``Lot.reprice``: unrecognized consideration plus the new, over remaining plus new
  credits; posted revenue stands); ``catch_up`` folds the new consideration and credits
  into the lot as if always there and books the cumulative difference to
  ``Income:Revenue:Adjustments``. ``past_credit`` is Dr Adjustments / Cr contract
  liability of the open lot (the credit is given as value on the remaining credits; with
  no open lot, Cr the receivable), on the modification date. New ``discount``/``rates``
  price usage from the date on; ``expires`` changes the expiry of the open lot (or is
  the added credits' expiry): extended or shortened, from the modification's date on
  (docs/expiry.md). The lot's ``expires`` is then the new date, the one source of truth
  that the invariants and the reports read (``ContractRun.lots``); credits left on the
  new date are recognized on it (remote breakage, the proportional true-up), and usage
  from it on is no longer covered. The entry records ``expires`` and ``expires_before``.

    umbrella-amend-1: 100,000 credits for 700.00, SSP 800.00, auto
      -> prospective: priced below SSP (700.00 < 800.00), remaining credits distinct
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, cast

from .journal import Leg
from .lots import Lot
from .model import BreakageRevision, Contract, Modification, Pack

if TYPE_CHECKING:  # (rules.engine imports this module)
    from .engine import ContractEngine

ONE = Fraction(1)


@dataclass(frozen=True)
class Classified:
    method: str  # separate | prospective | catch_up | none
    reason: str


def classify(mod: Modification) -> Classified:
    """The accounting method of a modification and why (reference §4.1 decision logic)."""
    if not mod.add_credits:
        if mod.method in ("separate", "catch_up"):
            return Classified(mod.method, f"method {mod.method} as written (no credits added)")
        return Classified("prospective", "no credits added: terms change from the date on "
                                         "(25-13(a)); past revenue stands")
    if mod.method != "auto":
        return Classified(mod.method, f"method {mod.method} as written in the contract")
    if mod.ssp is None:
        return Classified("prospective", "no SSP given, so not shown to be priced at SSP; "
                                         "remaining credits distinct (25-13(a))")
    if mod.price >= mod.ssp:
        return Classified("separate", f"distinct credits priced at SSP ({mod.price} >= "
                                      f"{mod.ssp}): a separate contract (25-12)")
    return Classified("prospective", f"priced below SSP ({mod.price} < {mod.ssp}), remaining "
                                     f"credits distinct: terminate and new contract "
                                     f"(25-13(a))")


def expected_for(lot: Lot, rate: Decimal | None) -> Fraction | None:
    """Credits expected to be used of a proportional lot at breakage ``rate``."""
    if lot.method != "proportional" or rate is None:
        return None
    return lot.base_credits + (lot.credits - lot.base_credits) * (ONE - Fraction(rate))


def rate_of(lot: Lot) -> Fraction:
    """The lot's exact consideration per credit from its base on (remote pattern)."""
    span = lot.credits - lot.base_credits
    if span <= 0:
        return Fraction(0)
    return (Fraction(lot.price) - Fraction(lot.base_revenue)) / span


def show_rate(rate: Fraction) -> str:
    """An exact rate as written in metadata: ``280/3 (93.333333)`` or ``0.007``."""
    shown = (Decimal(rate.numerator) / Decimal(rate.denominator)).quantize(Decimal("1e-6"))
    if rate.denominator == 1 or Decimal(rate.numerator) / Decimal(rate.denominator) == shown:
        return str(shown.normalize())
    return f"{rate.numerator}/{rate.denominator} ({shown})"


def approved_revisions(pack: Pack) -> list[BreakageRevision]:
    return sorted((r for r in pack.breakage.revisions if r.approved_by),
                  key=lambda r: r.date)


def change_days(contract: Contract) -> list[datetime.date]:
    """Days on which a revision or a modification of the contract takes effect."""
    days = {m.date for m in contract.modifications}
    for pack in contract.packs.values():
        days |= {r.date for r in pack.breakage.revisions}
    return sorted(days)


# --- applied by the engine (``rules.engine.ContractEngine``) ------------------------------

def _credits(value: Fraction) -> Decimal:
    if value.denominator == 1:
        return Decimal(value.numerator)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("1e-6"))


class Changes:
    """Revisions and modifications of one contract, as the engine walks it."""

    def __init__(self, engine: ContractEngine) -> None:
        self.engine = engine
        self.rates: dict[str, Decimal | None] = {}  # lot id -> breakage rate in force

    # lots ------------------------------------------------------------------------------

    def lot_created(self, lot: Lot) -> None:
        """A proportional lot gets its expected credits at the rate in force on purchase."""
        from .breakage_rates import in_force
        pack = self.engine.contract.packs.get(lot.pack)
        if lot.method != "proportional" or pack is None:
            return
        rate, _, _ = in_force(pack, lot.purchased)
        self.rates[lot.id] = rate
        lot.expected = expected_for(lot, rate)

    def open_lot(self, day: datetime.date) -> Lot | None:
        # (free grant lots have no consideration to reprice: never the open lot)
        return next((lot for lot in self.engine.lots.usable(day) if not lot.free), None)

    # the day's changes -----------------------------------------------------------------

    def on_day(self, day: datetime.date) -> None:
        contract = self.engine.contract
        for name in sorted(contract.packs):
            for revision in contract.packs[name].breakage.revisions:
                if revision.date == day:
                    self.revise(day, name, revision)
        for mod in contract.modifications:
            if mod.date == day:
                self.modify(day, mod)

    def revise(self, day: datetime.date, pack: str, revision: BreakageRevision) -> None:
        eng = self.engine
        if not revision.approved_by:
            eng.notice(day, "breakage-revision",
                       f"breakage revision of pack {pack!r} on {day} (rate {revision.rate}) "
                       f"has no approved_by: not applied (pending)",
                       {"pack": pack, "status": "pending"})
            return
        lots = [lot for lot in eng.lots.lots if lot.pack == pack and not lot.closed
                and lot.method == "proportional" and lot.purchased < day]
        if not lots:
            return
        eng.flush(day, cut=True)
        for lot in lots:
            before = self.rates.get(lot.id)
            self.rates[lot.id] = revision.rate
            lot.expected = expected_for(lot, revision.rate)
            eng.post_lot_breakage(
                day, lot, "breakage-revision",
                f"Breakage estimate revised {before} -> {revision.rate}: cumulative catch-up",
                {"rate_before": before, "rate_after": revision.rate,
                 "approved_by": revision.approved_by, "basis": revision.basis or "",
                 "credits_used": _credits(lot.used), "method": "proportional"})

    def modify(self, day: datetime.date, mod: Modification) -> None:
        eng = self.engine
        if not mod.approved:
            eng.notice(day, "modification",
                       f"modification {mod.id!r} of contract {eng.contract.id!r} on {day} is "
                       f"pending approval (approved_by and approved_on): no revenue effect",
                       {"modification": mod.id, "status": "pending"})
            return
        eng.flush(day, cut=True)
        how = classify(mod)
        if mod.discount is not None or mod.rates:
            eng.reprice_usage(mod)
        lot = self.open_lot(day)
        legs: list[Leg] = []
        lots: list[str] = []
        # A catch-up's past credit comes after its catch-up, with the added credits.
        if mod.past_credit and not (how.method == "catch_up" and mod.add_credits):
            legs = self.past_credit(mod, lot)
            lots = [lot.id] if lot is not None else []
        before: tuple[datetime.date | None] | None = None
        if mod.expires is not None and not mod.add_credits and lot is not None:
            before = (lot.expires,)
            self.set_expiry(lot, mod.expires)
        if not legs and mod.add_credits:
            return  # the entry comes with the added credits' purchase (``purchased``)
        meta = self.meta(mod, how, lot)
        if before is not None:
            meta.update({"expires": mod.expires, "expires_before": before[0]})
        if not legs:  # a memo entry: the audit trail links to it
            legs = [eng.leg("deferred", Decimal("0.00"), lot.id if lot else ""),
                    eng.leg("adjustments", Decimal("0.00"))]
        eng.book_memo(day, "modification", f"Modification {mod.id}: {how.method}", legs, meta,
                      [*lots, mod.id])

    def past_credit(self, mod: Modification, lot: Lot | None) -> list[Leg]:
        """Revenue reduced now by the credit for past usage; the credit goes back to the
        liability of the open lot (value on its remaining credits), else to the receivable."""
        eng = self.engine
        credit = mod.past_credit
        if lot is None:
            return [eng.leg("receivable", -credit), eng.leg("adjustments", credit)]
        lot.posted_total.posted -= credit
        lot.posted_usage.posted -= credit
        lot.reprice(Decimal(0), Fraction(0), f"{mod.id}: past credit")
        lot.expected = expected_for(lot, self.rates.get(lot.id))
        return [eng.leg("deferred", -credit, lot.id), eng.leg("adjustments", credit, lot.id)]

    def meta(self, mod: Modification, how: Classified, lot: Lot | None
             ) -> dict[str, object]:
        meta: dict[str, object] = {"modification": mod.id, "method": how.method,
                                   "reason": how.reason, "approved_by": mod.approved_by,
                                   "approved_on": mod.approved_on}
        if mod.evidence:
            meta["evidence"] = mod.evidence
        if mod.past_credit:
            meta["past_credit"] = mod.past_credit
        if lot is not None:
            meta["lot"] = lot.id
        return meta

    def purchased(self, day: datetime.date, mod: Modification, amount: Decimal,
                  credits: Fraction, expires: datetime.date | None, ref: str,
                  paid_lot: str) -> bool:
        """The consideration for a modification's added credits is booked (its purchase).

        Returns False for a separate contract (the engine adds a lot ``paid_lot``), True
        when the credits went into the open lot (prospective or catch-up): the payment's
        consideration moves from ``paid_lot`` to that lot (liability legs marked
        ``rule: consideration``, which ``plugins.invariants`` counts as consideration)."""
        eng = self.engine
        how = classify(mod)
        lot = self.open_lot(day)
        if how.method != "separate" and lot is None:
            how = Classified("separate", f"{how.reason}; but no open credits remain to "
                                         f"spread over: the added credits stand alone")
        if how.method == "separate":
            meta = self.meta(mod, how, None)
            meta.update({"lot": paid_lot, "credits_added": _credits(credits),
                         "consideration": amount,
                         "rate_after": show_rate(Fraction(amount) / credits)})
            eng.book_memo(day, "modification", f"Modification {mod.id}: separate, new lot "
                                               f"{paid_lot}",
                          [eng.leg("deferred", Decimal("0.00"), paid_lot),
                           eng.leg("adjustments", Decimal("0.00"))], meta, [paid_lot, mod.id])
            return False
        if day < mod.date:
            eng.error(day, f"purchase for modification {mod.id!r} on {day} is before its "
                           f"date {mod.date}", ref)
        eng.flush(day, cut=True)
        lot = cast(Lot, lot)  # not separate: there is an open lot (see above)
        before = rate_of(lot)
        consideration = amount
        if how.method == "prospective":
            lot.reprice(consideration, credits, f"{mod.id}: prospective")
            lot.expected = expected_for(lot, self.rates.get(lot.id))
            legs: list[Leg] = []
        else:  # catch_up (25-13(b)): as if the credits had always been in the lot
            lot.price += consideration
            lot.credits += credits
            lot.expected = expected_for(lot, self.rates.get(lot.id))
            legs = self.catch_up_legs(lot)
            if mod.past_credit:
                legs += self.past_credit(mod, lot)
        expires_before = lot.expires
        if expires is not None:
            self.set_expiry(lot, expires)
        legs = [Leg(eng.leg("deferred", amount).account, amount, paid_lot, "consideration"),
                Leg(eng.leg("deferred", amount).account, -amount, lot.id, "consideration"),
                *legs]
        meta = self.meta(mod, how, lot)
        meta.update({"rate_before": show_rate(before), "rate_after": show_rate(rate_of(lot)),
                     "credits_added": _credits(credits), "consideration": consideration})
        if expires is not None and expires != expires_before:
            meta.update({"expires": expires, "expires_before": expires_before})
        eng.book_memo(day, "modification",
                      f"Modification {mod.id}: {how.method}, {_credits(credits)} credits "
                      f"for {consideration}", legs, meta, [lot.id, paid_lot, mod.id])
        return True

    def set_expiry(self, lot: Lot, expires: datetime.date) -> None:
        """The lot's new expiry (extended or shortened), in draw order again. (The
        segment was cut on the modification's date: the next one ends on the last day
        the lot can be used, ``ContractEngine.segment_end``.)"""
        eng = self.engine
        lot.expires = expires
        eng.lots.lots.sort(key=eng.lots._key)

    def catch_up_legs(self, lot: Lot) -> list[Leg]:
        from .recognition import recognize
        eng = self.engine
        rec = recognize(lot)
        return [eng.leg("deferred", rec.total, lot.id),
                eng.leg("adjustments", -(rec.total - rec.unclaimed), lot.id),
                Leg(lot.unclaimed_account, -rec.unclaimed, lot.id, "unclaimed")]
