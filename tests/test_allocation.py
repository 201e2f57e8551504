"""``rules.allocation.allocate``: an amount over parts, rounded cumulatively to the cent.

It computes each part's cent in integers; the property pins it to the rule as the docs
state it (each prefix of the parts, in key order, is the exact prefix share rounded half
up to the cent), for amounts and weights of either sign, Decimals and Fractions."""

from __future__ import annotations

from decimal import Decimal
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
