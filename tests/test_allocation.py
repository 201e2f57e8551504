"""``rules.allocation.allocate``: an amount over parts, rounded cumulatively to the cent;
and ``rules.rounding.to_cent``, the rounding it and the engine use.

It computes each part's cent in integers; the property pins it to the rule as the docs
state it (each prefix of the parts, in key order, is the exact prefix share rounded half
up to the cent), for amounts and weights of either sign, Decimals and Fractions."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules.allocation import allocate
from tokenbooks.plugins.rules.rounding import to_cent

amounts = st.decimals(min_value=-10**7, max_value=10**7, places=2, allow_nan=False,
                      allow_infinity=False)
weights = st.one_of(st.fractions(max_denominator=10**9),
                    st.decimals(min_value=-10**6, max_value=10**6, places=6,
                                allow_nan=False, allow_infinity=False))


@settings(max_examples=1000, deadline=None)
@given(amounts, st.dictionaries(st.text(max_size=3), weights, max_size=8))
def test_each_prefix_is_the_exact_prefix_rounded_half_up(amount, parts) -> None:
    total = sum((Fraction(w) for w in parts.values()), Fraction(0))
    shares = dict(allocate(amount, parts))
    if not total:
        assert shares == {}
        return
    running, posted = Fraction(0), Decimal("0.00")
    for key in sorted(parts):
        running += Fraction(parts[key])
        posted += shares.get(key, Decimal("0.00"))
        assert posted == to_cent(Fraction(amount) * running / total), (key, shares)
    assert sum(shares.values(), Decimal("0.00")) == to_cent(amount)
    assert all(share and share.as_tuple().exponent == -2 for share in shares.values())


def test_worked_example_thirds_and_a_negative_amount() -> None:
    thirds = {"a": Fraction(1), "b": Fraction(1), "c": Fraction(1)}
    assert allocate(Decimal("10.00"), thirds) == [
        ("a", Decimal("3.33")), ("b", Decimal("3.34")), ("c", Decimal("3.33"))]
    # half up is away from zero: -0.125 -> -0.13, as to_cent rounds
    assert allocate(Decimal("-0.25"), {"a": Fraction(1), "b": Fraction(1)}) == [
        ("a", Decimal("-0.13")), ("b", Decimal("-0.12"))]


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.fractions(min_value=-10**15, max_value=10**15, max_denominator=10**12),
                 st.integers(-10**15, 10**15)))
def test_to_cent_rounds_the_exact_value_half_up_away_from_zero(value) -> None:
    """``to_cent`` of a Fraction, in integers, against Decimal's ROUND_HALF_UP of the same
    value divided out at 100 digits (a tie, x.xx5 exactly, has a terminating decimal, so
    the division is exact there; elsewhere it is far from a tie); amounts up to 10^15, as
    the cents are a Decimal in the default context (28 digits)."""
    exact = Fraction(value)
    with localcontext() as ctx:
        ctx.prec = 100
        decimal = Decimal(exact.numerator) / Decimal(exact.denominator)
        expected = decimal.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    got = to_cent(value)
    assert got == expected and got.as_tuple().exponent == -2, (value, got, expected)
    assert to_cent(Fraction(-1, 8)) == Decimal("-0.13") and to_cent(Fraction(1, 8)) == \
        Decimal("0.13")
