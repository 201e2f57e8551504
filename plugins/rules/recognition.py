"""Revenue recognition of a lot: exact cumulative targets, posted to the cent.

For each lot the rule computes, exactly, the cumulative revenue it has earned so far
(the *target*) and the cumulative face value of the credits used (usage revenue, of
which actions); it posts the differences with what was already posted, rounded half up
(cumulative rounding per lot). ``breakage = total - usage`` is the residual.

Remote method (the default, ASC 606-10-55-48): nothing early; usage earns the lot's
price per credit; at expiry (``lot.closed``) the target is the whole price, so what is
left of the liability is recognized on the expiry date as breakage.

    lot: 10,000.00 for 1,000,000 credits, expires end of month 6, remote (Example B5)
    month 1: used 100,000 -> usage 1,000.00, breakage 0.00, liability 9,000.00
    month 6: used 800,000 in all, expiry -> usage 1,400.00, breakage 2,000.00, liability 0

Unclaimed property (ASC 606-10-55-49, docs/variable-consideration.md): a lot whose pack
owes a share of its breakage to a state posts that share of the breakage to date
(``unclaimed_share`` x (target - face value of the credits used), cumulative to the
cent) to ``Liabilities:Unclaimed-Property:<J>`` instead of breakage revenue; the
contract liability released is the same.

    lot: 100.00 for 10,000 credits, remote, unclaimed share 0.25: 4,000 used, expiry
    -> usage 40.00, breakage revenue 45.00, unclaimed property 15.00

``TARGETS`` maps a lot's ``method`` to its target function: ``remote`` and
``proportional`` (price x min(1, used / expected), Example B1):

    lot: 10,000.00 for 1,000,000 credits, expected breakage 20% (expected 800,000 used)
    month 1: used 100,000 -> usage 1,000.00, breakage 250.00, liability 8,750.00
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .lots import Lot


def remote_target(lot: Lot) -> Fraction:
    """Revenue earned to date under the remote method."""
    if lot.closed:
        return Fraction(lot.price)
    return lot.value_of(lot.used + lot.forfeited)


def proportional_target(lot: Lot) -> Fraction:
    """Revenue earned to date under the proportional method (55-48, reference §3):
    price x min(1, credits done / credits expected to be done), from the lot's base
    (a prospective modification's ``base_credits``/``base_revenue``). Past the estimate
    the whole price is earned (the liability never goes negative); the face value of
    later usage then reverses breakage. At expiry (``closed``) the whole price."""
    if lot.closed or lot.expected is None:
        return remote_target(lot) if not lot.closed else Fraction(lot.price)
    span = lot.expected - lot.base_credits
    done = lot.used + lot.forfeited - lot.base_credits
    if span <= 0 or done >= span:
        return Fraction(lot.price)
    base = Fraction(lot.base_revenue)
    return base + (Fraction(lot.price) - base) * done / span


TARGETS: dict[str, Callable[[Lot], Fraction]] = {"remote": remote_target,
                                                 "proportional": proportional_target}


@dataclass(frozen=True)
class Recognized:
    """What to post now for one lot (cents; each may be zero or, on a reversal, negative)."""

    lot: Lot
    usage: Decimal  # tokens
    actions: Decimal
    breakage: Decimal  # breakage revenue (net of the unclaimed property share)
    unclaimed: Decimal = Decimal("0.00")  # breakage owed to a state: a liability

    @property
    def total(self) -> Decimal:
        return self.usage + self.actions + self.breakage + self.unclaimed


def target_of(lot: Lot) -> Fraction:
    return TARGETS.get(lot.method, remote_target)(lot)


def recognize(lot: Lot) -> Recognized:
    """Post the lot's revenue up to its current state."""
    usage_exact = lot.value_of(lot.used)
    actions_exact = usage_exact * lot.used_actions / lot.used if lot.used else Fraction(0)
    actions = lot.posted_actions.post_to(actions_exact)
    usage = lot.posted_usage.post_to(usage_exact)
    target = target_of(lot)
    total = lot.posted_total.post_to(target)
    unclaimed = Decimal("0.00")
    if lot.unclaimed_share:  # its share of the breakage to date (target less face value)
        unclaimed = lot.posted_unclaimed.post_to(lot.unclaimed_share * (target - usage_exact))
    return Recognized(lot, usage - actions, actions, total - usage - unclaimed, unclaimed)
