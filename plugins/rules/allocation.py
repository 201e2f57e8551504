"""Splitting an amount over parts in proportion to their weights, to the cent.

One rule for every split the books make (an invoice's stream over models, a revenue
posting over the models, features and actions that earned it): parts are taken in key
order and rounded cumulatively (ROUND_HALF_UP, ``rules.rounding``), so the shares add up
to the amount exactly, whatever the number of parts. Parts whose share rounds to zero
are left out.

    >>> allocate(Decimal("10.00"), {"a": Fraction(1), "b": Fraction(1), "c": Fraction(1)})
    [('a', Decimal('3.33')), ('b', Decimal('3.34')), ('c', Decimal('3.33'))]
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from .rounding import ZERO

K = TypeVar("K")


def allocate(amount: Decimal, weights: Mapping[K, Fraction | Decimal]
             ) -> list[tuple[K, Decimal]]:
    """``amount`` over the keys of ``weights`` in proportion to them; [] when the weights
    add up to nothing (the caller decides where an unweighted amount goes)."""
    total = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if not total:
        return []
    out: list[tuple[K, Decimal]] = []
    running, posted = Fraction(0), ZERO
    # amount x running / total in cents, as one integer ratio p / q (not reduced: the
    # cent it rounds to half up, (2|p| + |q|) // 2|q|, is ``to_cent``'s all the same),
    # so that a part costs one Fraction addition: the engine splits every posting
    amount_n, amount_d = amount.as_integer_ratio()
    scale_p, scale_q = 100 * amount_n * total.denominator, amount_d * total.numerator
    for key in sorted(weights):  # type: ignore[type-var]  # keys are str or str tuples
        running += Fraction(weights[key])
        p, q = scale_p * running.numerator, scale_q * running.denominator
        if q < 0:
            p, q = -p, -q
        cents = (2 * abs(p) + q) // (2 * q)
        rounded = Decimal(-cents if p < 0 else cents).scaleb(-2)
        share = rounded - posted
        posted = rounded
        if share:
            out.append((key, share))
    return out
