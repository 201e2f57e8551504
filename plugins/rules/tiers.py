"""Volume tiers on the value of a billing period (list value at the contract's rates).

``graduated``: each band's multiplier applies to the part of the period's value that
falls in the band. ``volume``: the band that the period's total reaches sets the
multiplier of the whole period (so crossing a threshold lowers the period's revenue to
date: with posting by day, that day's revenue can be negative; the month is exact).

    tiers: {mode: graduated, period: month,
            bands: [{up_to: 10000.00, multiplier: 1.0}, {up_to: null, multiplier: 0.8}]}
    1,500,000 credits at $0.01 in a month = 15,000.00 of list value
      -> 10,000 x 1.0 + 5,000 x 0.8 = 14,000.00

``retroactive: true`` (volume mode; docs/variable-consideration.md): the band the
period's total reaches applies to every unit of the period, a volume-discount incentive
and so variable consideration (ASC 606-10-32-5..14, Example 24). Until the period ends,
revenue is recognized at the multiplier of the band of ``expected_volume`` (the
estimate in force, revised with approval: a cumulative catch-up); at the period's end
the actual total's band settles it (a true-up):

    bands <= 100,000.00 x 1.0, <= 250,000.00 x 0.9, above x 0.8; expected 120,000.00
      -> 60,000.00 of list value to date is recognized at 0.9: 54,000.00
"""

from __future__ import annotations

from fractions import Fraction

from .model import Tiers


def band_multiplier(tiers: Tiers, value: Fraction) -> Fraction:
    """The multiplier of the band a period total of ``value`` falls in (volume)."""
    for band in tiers.bands:
        if band.up_to is None or value <= band.up_to:
            return Fraction(band.multiplier)
    return Fraction(tiers.bands[-1].multiplier)


def estimated(tiers: Tiers, value: Fraction, expected: Fraction) -> Fraction:
    """A retroactive tier period's value to date ``value`` at the band of the
    ``expected`` period total (the estimate of the variable consideration)."""
    return value * band_multiplier(tiers, expected) if value > 0 else value


def tiered(tiers: Tiers | None, value: Fraction) -> Fraction:
    """The period's billed value for a period total of ``value`` (list value)."""
    if tiers is None or value <= 0:
        return value
    if tiers.mode == "volume":
        return value * band_multiplier(tiers, value)
    total = Fraction(0)
    lower = Fraction(0)
    for band in tiers.bands:
        upper = Fraction(band.up_to) if band.up_to is not None else None
        if upper is not None and value > upper:
            total += (upper - lower) * Fraction(band.multiplier)
            lower = upper
            continue
        total += (value - lower) * Fraction(band.multiplier)
        return total
    return total + (value - lower) * Fraction(tiers.bands[-1].multiplier)
