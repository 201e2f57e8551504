"""Money rounding: ROUND_HALF_UP to the cent, applied to exact cumulative amounts.

Amounts are computed exactly (``Fraction`` or unrounded ``Decimal``) and rounded only
when posted. A stream of postings (one lot's revenue, a contract's arrears usage) posts
``round(cumulative exact amount) - cumulative amount already posted``, so the pennies
never drift: a $1,000 pack of 300,000 credits used in thirds posts 333.33, 333.34,
333.33.

    >>> c = Cumulative()
    >>> [c.post_to(Fraction(1000, 3) * k) for k in (1, 2, 3)]
    [Decimal('333.33'), Decimal('333.34'), Decimal('333.33')]
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import overload

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Exact = Fraction | Decimal | int


@overload
def exact_add(total: Decimal, value: Decimal) -> Decimal: ...
@overload
def exact_add(total: Decimal | Fraction,
              value: Decimal | Fraction) -> Decimal | Fraction: ...
@overload
def exact_add(total: Exact, value: Exact) -> Exact: ...
def exact_add(total: Exact, value: Exact) -> Exact:
    """``total + value`` exactly: a Decimal while both are (fast; the engine computes at a
    precision where that is exact), else a Fraction."""
    try:
        return total + value  # type: ignore[operator]  # Decimal + Fraction: handled below
    except TypeError:  # a Decimal and a Fraction
        return Fraction(total) + Fraction(value)


def to_cent(value: Exact) -> Decimal:
    """``value`` rounded half up (away from zero) to the cent: 0.125 -> 0.13, -0.125 -> -0.13."""
    if isinstance(value, Decimal):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    numerator, denominator = value.as_integer_ratio()
    return cents_half_up(100 * numerator, denominator)


def cents_half_up(cents: int, denominator: int) -> Decimal:
    """``cents / denominator`` cents (``denominator`` > 0) rounded half up, away from
    zero, to a whole cent, in currency units: ``to_cent`` in integers, for callers that
    have the ratio already (``allocation``). The ratio need not be reduced: the floor of
    (2|c| + d) / 2d is the same for every multiple of it."""
    whole = (2 * abs(cents) + denominator) // (2 * denominator)
    return Decimal(-whole if cents < 0 else whole).scaleb(-2)


class Cumulative:
    """A stream of postings rounded cumulatively.

    ``post_to(target)`` returns what to post now so that the total posted equals the
    cumulative exact ``target`` rounded to the cent.
    """

    __slots__ = ("posted",)

    def __init__(self, posted: Decimal = ZERO) -> None:
        self.posted = posted

    def post_to(self, target: Exact) -> Decimal:
        rounded = to_cent(target)
        delta = rounded - self.posted
        self.posted = rounded
        return delta

    def __repr__(self) -> str:
        return f"Cumulative({self.posted})"
