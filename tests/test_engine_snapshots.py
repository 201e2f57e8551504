"""The engine's month-end lots are the lots of a run stopped at that month's end, and its
split of revenue over the usage that earned it adds up to the revenue, to the cent."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from enginekit import book, contract, pack, purchase, run, usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recognition_properties import AS_OF, PRICES, prepaid_case

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.allocation import allocate
from tokenbooks.plugins.rules.engine import split
from tokenbooks.plugins.rules.journal import Leg
from tokenbooks.plugins.rules.lots import Lot
from tokenbooks.plugins.rules.periods import month_ends

D = Decimal


def state(lot: Lot) -> tuple:
    return (lot.id, lot.price, lot.credits, lot.used, lot.used_actions, lot.forfeited,
            lot.closed, lot.expires, lot.posted_total.posted, lot.posted_usage.posted,
            lot.posted_actions.posted, lot.expected, lot.liability, lot.remaining)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prepaid_case(), st.sampled_from(["month", "day"]))
def test_the_lots_at_a_month_end_are_those_of_a_run_to_it(case, posting):
    c, purchases, usages = case
    whole = run(c, usages, purchases, as_of=AS_OF.isoformat(), posting=posting,
                price_book=PRICES)
    for end in month_ends(c.start, AS_OF):
        cut = run(c, [u for u in usages if u.date <= end],
                  [p for p in purchases if p.date <= end], as_of=end.isoformat(),
                  posting=posting, price_book=PRICES)
        assert [state(lot) for lot in whole.lots_at(end)] == [
            state(lot) for lot in cut.lots], end
    # and a copy: later draws leave a month's lots as they were
    if whole.lots:
        first = whole.lots_at(min(month_ends(c.start, AS_OF)))
        assert all(a is not b for a in first for b in whole.lots)


def test_the_lots_of_a_month_end_stay_as_they_were() -> None:
    c = contract(packs={"p": pack("p", "100.00", 10_000)})
    result = run(c, [usage("2026-01-10", 2_000), usage("2026-02-10", 3_000)],
                 [purchase("2026-01-02", "p", "100.00")], as_of="2026-02-28")
    (jan,) = result.lots_at(datetime.date(2026, 1, 31))
    (feb,) = result.lots_at(datetime.date(2026, 2, 28))
    assert (jan.used, jan.liability) == (2_000, D("80.00"))
    assert (feb.used, feb.liability) == (5_000, D("50.00"))
    assert result.lots_at(datetime.date(2025, 12, 31)) == []
    assert result.lots_at(datetime.date(2026, 2, 15)) == [jan]  # between: January's


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prepaid_case(), st.sampled_from(["month", "day"]))
def test_the_split_of_revenue_adds_up_per_booking(case, posting):
    c, purchases, usages = case
    result = run(c, usages, purchases, as_of=AS_OF.isoformat(), posting=posting,
                 price_book=PRICES)
    for b in result.bookings:
        by_account: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: D("0.00"))
        for leg in b.legs:
            by_account[(leg.account, leg.lot, leg.rule)] += leg.amount
            if leg.detail is not None:
                assert leg.account in (accounts.REVENUE_USAGE, accounts.REVENUE_ACTIONS)
                assert leg.amount != 0
        assert b.balanced()
    # the month's values are the usage at contract rates, to the last digit
    for month, values in result.values.items():
        tokens = sum((Fraction(v[0]) for v in values.values()), Fraction(0))
        expected = sum((Fraction(u.input_tokens) * Fraction(PRICES.version_on(u.date)
                                                             .models["m"].input)
                        for u in usages if f"{u.date:%Y-%m}" == month), Fraction(0))
        assert tokens == expected, month


def test_split_keeps_each_leg_to_the_cent_over_models_features_and_actions() -> None:
    values = {("gpt-4o", "chat", ""): [D("2"), 0], ("gpt-4o", "rag", ""): [D("1"), 0],
              ("", "", "ticket"): [0, D("3")]}
    legs = [Leg(accounts.deferred_revenue("acme"), D("10.00"), "lot-1"),
            Leg(accounts.REVENUE_USAGE, D("-7.00"), "lot-1"),
            Leg(accounts.REVENUE_ACTIONS, D("-3.00"), "lot-1"),
            Leg(accounts.REVENUE_BREAKAGE, D("0.00"), "lot-1", "breakage")]
    out = split(legs, values)
    assert [(leg.account.split(":")[-1], leg.amount, leg.detail) for leg in out] == [
        ("Acme", D("10.00"), None),
        ("Usage", D("-4.67"), ("gpt-4o", "chat", "")),  # 7.00 x 2/3 = 4.666...
        ("Usage", D("-2.33"), ("gpt-4o", "rag", "")),
        ("Actions", D("-3.00"), ("", "", "ticket")),
        ("Breakage", D("0.00"), None)]
    assert sum(leg.amount for leg in out) == 0
    assert split(legs, {}) == legs
    # half a cent rounds up on the first part; the second gets nothing and is left out
    assert allocate(D("0.01"), {"a": Fraction(1), "b": Fraction(1)}) == [("a", D("0.01"))]


def test_a_one_model_book_splits_nothing_away() -> None:
    c = contract(billing="arrears", credit_value=None)
    result = run(c, [usage("2026-01-10", 1_000), usage("2026-01-11", 500)], as_of="2026-01-31",
                 price_book=book())
    (booking,) = [b for b in result.bookings if b.rule == "usage"]
    usage_legs = [leg for leg in booking.legs if leg.account == accounts.REVENUE_USAGE]
    assert [(leg.amount, leg.detail) for leg in usage_legs] == [(D("-15.00"), ("m", "", ""))]
