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

import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from .rounding import ZERO, cents_half_up

K = TypeVar("K")


def allocate(amount: Decimal, weights: Mapping[K, Fraction | Decimal]
             ) -> list[tuple[K, Decimal]]:
    """``amount`` over the keys of ``weights`` in proportion to them; [] when the weights
    add up to nothing (the caller decides where an unweighted amount goes)."""
    keys = sorted(weights)  # type: ignore[type-var]  # keys are str or str tuples
    # In integers over the weights' common denominator: part k's cumulative share in
    # cents is 100 x amount x (w1 + ... + wk) / total, one integer ratio p / q, rounded
    # as ``to_cent`` rounds. The engine splits every posting: no Fraction is made.
    ratios = [weights[key].as_integer_ratio() for key in keys]
    common = math.lcm(*(d for _, d in ratios)) if ratios else 1
    parts = [n * (common // d) for n, d in ratios]
    total = sum(parts)
    if not total:
        return []
    amount_n, amount_d = amount.as_integer_ratio()
    scale, q = 100 * amount_n, amount_d * total
    if q < 0:
        scale, q = -scale, -q
    out: list[tuple[K, Decimal]] = []
    running, posted = 0, ZERO
    for key, part in zip(keys, parts, strict=True):
        running += part
        rounded = cents_half_up(scale * running, q)
        share = rounded - posted
        posted = rounded
        if share:
            out.append((key, share))
    return out
