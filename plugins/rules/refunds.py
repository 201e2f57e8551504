"""Refunds of prepaid credits: consideration returned, never revenue (ASC 606-10-32-10,
55-22 to 55-29).

A refund pays back consideration. What the customer gets back for credits not yet
used comes out of the contract liability (the refund liability of 32-10); what it
gets back beyond that returns value already delivered and recognized, so it reduces
revenue of the period of the refund (contra revenue, ``Income:Revenue:Refunds``),
never of a past period. A refund is never breakage: the credits the customer keeps
stay usable until they expire.

``plan`` splits one refund of a lot, given what the lot holds when it is refunded:

* ``from_liability = min(amount, liability)`` and ``of_revenue`` the rest;
* the credits it takes back, by the contract's ``refunds: {credits: ...}`` policy:
  ``proportional`` (the default) takes back the same share of the remaining credits as
  of the remaining liability, so the credits left keep their price per credit;
  ``none`` leaves the credits with the customer (their price per credit falls);
* a refund of the whole liability takes back every credit left and closes the lot,
  with no revenue, whatever the policy.

    lot: 100.00 for 100 credits, unused; refund 25.00
      -> from the liability 25.00, 25 credits back: 75 credits left for 75.00
    lot: 100.00 for 100 credits, 60 used (revenue 60.00); refund 50.00
      -> from the liability 40.00 (every credit left back, lot closed),
         of revenue 10.00: Dr Income:Revenue:Refunds 10.00 in the refund's month

Pure computation over plain values (no Beancount import); the engine applies the plan
(``rules.engine.ContractEngine.refund``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

POLICIES = ("proportional", "none")
ZERO = Decimal(0)


class RefundError(ValueError):
    """A refund that the lot cannot take (more than was paid for it, ...)."""


@dataclass(frozen=True)
class RefundPlan:
    amount: Decimal
    from_liability: Decimal  # out of the contract liability (credits not yet earned)
    of_revenue: Decimal  # value already recognized and given back: contra revenue
    credits_back: Fraction  # credits the refund takes from the lot
    closes: bool  # nothing is left on the lot: it closes, with no revenue


def plan(amount: Decimal, paid: Decimal, refunded: Decimal, liability: Decimal,
         remaining: Fraction, policy: str = "proportional") -> RefundPlan:
    """How a refund of ``amount`` splits on a lot bought for ``paid``, of which
    ``refunded`` was refunded before, that holds ``liability`` and ``remaining`` credits.
    """
    if policy not in POLICIES:
        raise RefundError(f"unknown refund policy {policy!r}: expected one of "
                          f"{', '.join(POLICIES)}")
    if amount <= 0:
        raise RefundError(f"a refund is a positive amount, got {amount}")
    if refunded + amount > paid:
        raise RefundError(f"refund of {amount} exceeds what is left of the payment: "
                          f"{paid} paid, {refunded} refunded before")
    liability = max(liability, ZERO)
    from_liability = min(amount, liability)
    of_revenue = amount - from_liability
    closes = liability > 0 and from_liability == liability
    if closes:
        back = remaining
    elif policy == "none" or liability == 0:
        back = Fraction(0)
    else:
        back = remaining * Fraction(from_liability) / Fraction(liability)
    return RefundPlan(amount, from_liability, of_revenue, back, closes)
