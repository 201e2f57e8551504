"""Pricing: price-book versions, discount and overrides, actions, missing rates."""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from tokenbooks.plugins.rules.model import (
    ActionPrice,
    Contract,
    ModelRates,
    PriceBook,
    PriceBookVersion,
)
from tokenbooks.plugins.rules.pricing import Pricer, PricingError
from tokenbooks.plugins.rules.records import Usage
from tokenbooks.plugins.rules.rounding import Cumulative, to_cent

D = Decimal
day = datetime.date.fromisoformat

LIST = PriceBook("list-2026", "USD", 1_000_000, (
    PriceBookVersion(day("2026-01-01"), {
        "gpt-4o": ModelRates(D("5.00"), D("2.50"), D("20.00")),
        "mini": ModelRates(D("0.30"), D("0.15"), D("1.20")),
    }),
    PriceBookVersion(day("2026-06-16"), {
        "gpt-4o": ModelRates(D("4.00"), D("2.00"), D("16.00")),
        "mini": ModelRates(D("0.30"), D("0.15"), D("1.20")),
        "new-model": ModelRates(D("1.00"), D("1.00"), D("2.00")),
    }),
))


def contract(**kw) -> Contract:
    base = dict(id="c", customer="acme", start=day("2026-01-01"), currency="USD",
                billing="arrears", price_book="list-2026")
    base.update(kw)
    return Contract(**base)


def use(date: str, model: str = "gpt-4o", **kw) -> Usage:
    return Usage(date=day(date), customer="acme", model=model, **kw)


def test_tokens_at_the_version_in_force():
    pricer = Pricer(contract(), LIST)
    usage = dict(input_tokens=1_200_000, cached_input_tokens=200_000, output_tokens=300_000)
    before = pricer.price(use("2026-06-15", **usage))
    after = pricer.price(use("2026-06-16", **usage))
    # 1.0M x 5.00 + 0.2M x 2.50 + 0.3M x 20.00 = 11.50; from 06-16: 4 + 0.4 + 4.8 = 9.20
    assert before.tokens == D("11.50") and before.version == day("2026-01-01")
    assert after.tokens == D("9.20") and after.version == day("2026-06-16")


def test_discount_applies_to_list_rates_and_overrides_are_net():
    pricer = Pricer(contract(discount=D("0.10"),
                             rates={"mini": {"input": D("0.25"), "output": D("1.00")},
                                    "gpt-4o": {"output": D("18.00")}}), LIST)
    mini = pricer.price(use("2026-02-01", "mini", input_tokens=1_000_000,
                            cached_input_tokens=400_000, output_tokens=1_000_000))
    # input 0.6M x 0.25 + cached 0.4M x (0.15 x 0.9) + output 1M x 1.00
    assert mini.tokens == D("0.15") + D("0.054") + D("1.00")
    gpt = pricer.price(use("2026-02-01", input_tokens=1_000_000, output_tokens=1_000_000))
    assert gpt.tokens == D("4.50") + D("18.00")


def test_missing_rate_is_an_error_naming_customer_model_and_date():
    pricer = Pricer(contract(), LIST)
    with pytest.raises(PricingError) as info:
        pricer.price(use("2026-06-15", "new-model", input_tokens=10))
    message = info.value.message
    assert "new-model" in message and "acme" in message and "2026-06-15" in message
    # the same model is priced once its version is in force
    assert pricer.price(use("2026-06-16", "new-model", input_tokens=1_000_000)).tokens == 1
    with pytest.raises(PricingError):
        pricer.price(use("2026-03-01", "unknown", input_tokens=0, output_tokens=0))


def test_tokens_without_model_are_an_error():
    with pytest.raises(PricingError, match="no model"):
        Pricer(contract(), LIST).price(use("2026-03-01", "", input_tokens=5))


def test_actions_with_status_weights_and_unpriced_action():
    c = contract(actions={"ticket_resolved": ActionPrice(D("0.50"), {
        "completed": D(1), "partial": D("0.5"), "failed": D(0)})})
    pricer = Pricer(c, LIST)
    priced = pricer.price(use("2026-03-01", "", action="ticket_resolved", completed=7,
                              partial=2, failed=1, events=10))
    assert priced.actions == D("4.00") and priced.tokens == 0
    with pytest.raises(PricingError) as info:
        pricer.price(use("2026-03-02", "", action="refund_issued", completed=1))
    assert "refund_issued" in info.value.message and "2026-03-02" in info.value.message


def test_non_billable_feature_is_priced_at_nothing():
    pricer = Pricer(contract(non_billable_features=frozenset({"retry"})), LIST)
    assert pricer.price(use("2026-03-01", feature="retry", input_tokens=10**6)).value == 0
    assert pricer.price(use("2026-03-01", feature="chat", input_tokens=10**6)).value == 5


def test_rates_stay_exact_when_per_does_not_divide():
    book = PriceBook("odd", "USD", 3, (PriceBookVersion(day("2026-01-01"), {
        "m": ModelRates(D("1"), D("1"), D("1"))}),))
    priced = Pricer(contract(price_book="odd"), book).price(use("2026-01-02", "m",
                                                                 input_tokens=1))
    assert priced.tokens == Fraction(1, 3)


def test_month_grain_entry_spanning_a_price_change_is_an_error():
    with pytest.raises(PricingError, match="spans"):
        Pricer(contract(), LIST).price(use("2026-06-01", until=day("2026-06-30"),
                                           input_tokens=1))


@pytest.mark.parametrize("value,expected", [
    (D("0.125"), D("0.13")), (D("-0.125"), D("-0.13")), (D("0.135"), D("0.14")),
    (Fraction(1, 8), D("0.13")), (Fraction(-1, 8), D("-0.13")), (Fraction(1000, 3), D("333.33")),
    (Fraction(2000, 3), D("666.67")), (D("0.124999"), D("0.12")),
])
def test_round_half_up_to_the_cent(value, expected):
    assert to_cent(value) == expected


def test_cumulative_rounding_thirds():
    c = Cumulative()
    assert [c.post_to(Fraction(1000, 3) * k) for k in (1, 2, 3)] == [
        D("333.33"), D("333.34"), D("333.33")]
    assert c.posted == D("1000.00")


def test_rates_that_do_not_terminate_are_priced_exactly_with_the_others():
    # per 3 tokens: 3.00 -> 1 a token, but 1.00 -> 1/3 (a Fraction): one exact sum, whether
    # the day is priced whole or per usage, with an action's fee beside it
    book = PriceBook("thirds", "USD", 3, (PriceBookVersion(day("2026-01-01"), {
        "m": ModelRates(D("3.00"), D("1.00"), D("3.00"))}),))
    c = contract(price_book="thirds", actions={"done": ActionPrice(D("0.50"), {
        "completed": D(1), "partial": D("0.5"), "failed": D(0)})})
    pricer = Pricer(c, book)
    usage = use("2026-01-05", "m", input_tokens=10, cached_input_tokens=2, output_tokens=1,
                action="done", completed=1)
    priced = pricer.price(usage)
    # 8 x 1 + 2 x 1/3 + 1 x 1 = 29/3; the fee 0.50
    assert priced.tokens == Fraction(29, 3) and priced.value == Fraction(29, 3) + Fraction(1, 2)
    whole = pricer.price_day(day("2026-01-05"), [usage, usage])
    assert whole.tokens == Fraction(58, 3) and whole.actions == D("1.00")
