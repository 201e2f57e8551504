"""Recurring credit allowances and per-user credit limits.

A contract may include credits every period with a subscription fee:

    allowance:
      credits: 100000      # credits included each period
      period: month        # month (default) | year, calendar periods within the contract
      fee: 500.00          # subscription fee per period: the consideration for its credits
      rollover: 50000      # unused credits carried into the next period, at most
                           # (0 or absent: unused credits expire at the period's end)
      per_user: 20000      # credits one user may draw per period (absent: shared)

Each period's allowance is a lot (``rules.lots``) bought on the period's first day for
``fee`` (Dr Assets:Unbilled:<C> / Cr Liabilities:Deferred-Revenue:<C>) and drawn like
any pack, in the contract's draw order. Without rollover its credits can be used through
the period's last day: the lot's expiry is the next period's first day (docs/expiry.md),
and what is left lapses at the end of the period's last day (breakage booked on that
last day, in the period the credits belong to). With rollover it expires at the end of
the next period (its expiry: the first day after it), and at the end of its own period
everything above the cap is forfeited (breakage for that part, on that day).

``per_user`` limits what each user (usage entries carry ``user``) draws from the
contract's credits in a period, allowance and packs alike: past the limit, the usage of
that user is treated as if the credits had run out (the overage policy applies; a
``top_up`` cannot lift a user's limit, so that usage is invoiced). Usage without a user
is shared and not limited.
"""

from __future__ import annotations

import datetime
from fractions import Fraction

from .lots import Lot, LotBook
from .model import Allowance, Contract
from .periods import clip, next_period_start, period_end, period_key


def allowance_lot(contract: Contract, lots: LotBook, day: datetime.date) -> Lot:
    """The allowance lot of the period starting on ``day`` (already clipped)."""
    allowance = contract.allowance
    assert allowance is not None
    _, end = clip(day, period_end(day, allowance.period), contract.start, contract.end)
    if allowance.rollover > 0:
        following = next_period_start(day, allowance.period)
        if contract.end is None or following <= contract.end:
            _, end = clip(following, period_end(following, allowance.period),
                          contract.start, contract.end)
    lot = Lot(id=f"{contract.id}.allowance.{period_key(day, allowance.period)}",
              contract=contract.id, pack="allowance", price=allowance.fee,
              credits=Fraction(allowance.credits), purchased=day,
              expires=end + datetime.timedelta(days=1),  # the first day not usable
              source="allowance")
    return lots.add(lot)


def trim_rollover(lot: Lot, allowance: Allowance) -> Fraction:
    """At the end of its own period, forfeit what is above the rollover cap."""
    excess = lot.remaining - Fraction(allowance.rollover)
    if excess > 0:
        lot.forfeit(excess)
        return excess
    return Fraction(0)


class UserLimits:
    """Credits drawn per user and period, against ``allowance.per_user``."""

    def __init__(self, allowance: Allowance | None) -> None:
        self.limit = (Fraction(allowance.per_user)
                      if allowance is not None and allowance.per_user else None)
        self.period = allowance.period if allowance is not None else "month"
        self.drawn: dict[tuple[str, str], Fraction] = {}

    def room(self, user: str, day: datetime.date) -> Fraction | None:
        """Credits ``user`` may still draw on ``day`` (None: no limit)."""
        if self.limit is None or not user:
            return None
        return max(Fraction(0), self.limit - self.drawn.get((user, period_key(day, self.period)),
                                                            Fraction(0)))

    def record(self, user: str, day: datetime.date, credits: Fraction) -> None:
        if self.limit is not None and user:
            key = (user, period_key(day, self.period))
            self.drawn[key] = self.drawn.get(key, Fraction(0)) + credits
