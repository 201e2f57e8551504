"""The engine draws a run of prepaid usage days at once (``ContractEngine.prepaid_batch``)
only where that books exactly what drawing them day by day does: over random prepaid
contracts (top-ups with thresholds, packs that expire, several purchases, a price change,
promotional and concession grants, some voided, action aggregates, entries of several
users and features a day), the two walks give the same run."""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

import pytest
from enginekit import book, contract, pack, purchase, run, usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules import engine
from tokenbooks.plugins.rules.model import (
    ActionPrice,
    Breakage,
    Grant,
    Overage,
    Pack,
    Term,
    TopUp,
)
from tokenbooks.plugins.rules.records import Purchase

D = Decimal
START = datetime.date(2026, 1, 1)
AS_OF = "2026-05-31"
PRICES = book(("2026-01-01", "0.0037"), ("2026-02-16", "0.0041"))
days = st.integers(0, 120).map(lambda n: START + datetime.timedelta(days=n))


def outcome(result: engine.ContractRun) -> str:
    """Everything the run holds, as text (a lot's running cent totals compare by value
    only so)."""
    return repr((result.bookings, result.notices, result.errors, result.lots,
                 result.priced, result.blocked_events, result.snapshots,
                 sorted(result.values.items()), sorted(result.promotional.items())))


def both(c, usages, purchases, posting="month", batches=None):
    """The run with batches and without; ``batches``: a list given the number of usage
    entries of each batch drawn at once."""
    original = engine.ContractEngine.prepaid_batch

    def counted(self, day, usages):
        price = original(self, day, usages)
        if price is not None and batches is not None:
            batches.append(len(usages))
        return price

    engine.ContractEngine.prepaid_batch = counted  # type: ignore[method-assign]
    try:
        batched = run(c, usages, purchases, as_of=AS_OF, posting=posting, price_book=PRICES)
    finally:
        engine.ContractEngine.prepaid_batch = original  # type: ignore[method-assign]
    engine.ContractEngine.batches = False
    try:
        alone = run(c, usages, purchases, as_of=AS_OF, posting=posting, price_book=PRICES)
    finally:
        engine.ContractEngine.batches = True
    return batched, alone


@st.composite
def prepaid(draw):
    packs = {}
    for i in range(draw(st.integers(1, 3))):
        expiry = draw(st.one_of(st.none(), st.sampled_from([Term(1, "month"), Term(45, "day")]),
                                days))
        breakage = draw(st.sampled_from([Breakage(), Breakage("proportional", D("0.2"))]))
        packs[f"p{i}"] = Pack(
            f"p{i}", D(draw(st.integers(100, 500_000))) / 100,
            D(draw(st.integers(1_000, 300_000))),
            expires_after=expiry if isinstance(expiry, Term) else None,
            expires=expiry if isinstance(expiry, datetime.date) else None,
            breakage=breakage if expiry is not None else Breakage())
    policy = draw(st.sampled_from(["invoice", "top_up", "top_up"]))
    top_up = None
    if policy == "top_up":
        name = draw(st.sampled_from(sorted(packs)))
        size = draw(st.integers(20_000, 300_000))
        packs[name] = dataclasses.replace(packs[name], credits=D(size))
        top_up = TopUp(name, D(draw(st.integers(0, size))))
    grants = tuple(
        Grant(f"g{n}", when, D(credits), kind, expires=when + datetime.timedelta(days=length),
              priority=draw(st.sampled_from([10, 50, 90])),
              void=when + datetime.timedelta(days=void) if void is not None else None)
        for n, (kind, when, credits, length, void) in enumerate(draw(st.lists(st.tuples(
            st.sampled_from(["promotional", "concession"]), days,
            st.integers(100, 50_000), st.integers(5, 90),
            st.one_of(st.none(), st.integers(1, 40))), max_size=2))))
    c = contract(packs=packs, overage=Overage(policy, D("1.25"), top_up),
                 draw_order=draw(st.sampled_from(["earliest_expiry", "oldest"])),
                 grants=grants, actions={"search": ActionPrice(D("0.05"), {
                     "completed": D("1"), "partial": D("0.5"), "failed": D("0")})})
    purchases = [Purchase(when, "acme", "c1", name, packs[name].price, "USD", f"pay{n}",
                          ref=f"p:{n}")
                 for n, (name, when) in enumerate(draw(st.lists(
                     st.tuples(st.sampled_from(sorted(packs)), days), max_size=4)))]
    usages = [usage(when.isoformat(), tokens, events=1, ref=f"u:{n}",
                    feature=draw(st.sampled_from(["chat", "search"])),
                    user=draw(st.sampled_from(["", "ann"])))
              for n, (when, tokens) in enumerate(draw(st.lists(
                  st.tuples(days, st.integers(0, 900_000)), max_size=80)))]
    usages += [usage(when.isoformat(), 0, model="", action="search", completed=done,
                     events=done, ref=f"a:{n}")
               for n, (when, done) in enumerate(draw(st.lists(
                   st.tuples(days, st.integers(1, 40)), max_size=3)))]
    return c, purchases, usages


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prepaid(), st.sampled_from(["month", "day"]))
def test_batched_walk_books_what_the_day_by_day_walk_does(case, posting):
    c, purchases, usages = case
    batched, alone = both(c, usages, purchases, posting)
    assert outcome(batched) == outcome(alone)


def test_a_top_up_inside_a_month_is_bought_on_its_day():
    """The month's usage days are drawn at once until the day the balance falls below
    the threshold: that day's top-up is dated that day, as day by day."""
    c = contract(packs={"s": pack("s", "100.00", 10_000), "big": pack("big", "1000.00",
                                                                       100_000)},
                 overage=Overage("top_up", D("1"), TopUp("big", D("2000"))))
    # 10,000 tokens at 0.0037 a token = 37.00 a day, 3,700 credits of 0.01: the
    # 10,000 credits do not cover the third day
    usages = [usage(f"2026-01-{d:02d}", 10_000) for d in range(1, 11)]
    batches: list[int] = []
    batched, alone = both(c, usages, [purchase("2026-01-01", "s", "100.00")],
                          batches=batches)
    assert outcome(batched) == outcome(alone)
    top_ups = [b for b in batched.bookings if b.rule == "top-up"]
    assert [b.date for b in top_ups] == [datetime.date(2026, 1, 3)]
    # days 1 to 3 drawn alone (the month's usage would fall below the threshold: not
    # tried again until a lot comes), then the days after the top-up at once
    assert batches == [7]


@pytest.mark.parametrize("posting", ["month", "day"])
def test_a_batch_never_crosses_an_expiry_or_a_purchase(posting):
    c = contract(packs={"s": pack("s", "100.00", 100_000, expires="2026-01-20"),
                        "t": pack("t", "50.00", 100_000)})
    # 1,000 tokens a day: 3.70, 370 credits of 0.01, 7,030 of the 100,000 used when it
    # expires
    usages = [usage(f"2026-01-{d:02d}", 1_000) for d in range(1, 32)]
    purchases = [purchase("2026-01-01", "s", "100.00"), purchase("2026-01-11", "t", "50.00")]
    batches: list[int] = []
    batched, alone = both(c, usages, purchases, posting, batches)
    assert outcome(batched) == outcome(alone)
    assert [b.date for b in batched.bookings if b.rule == "expiry"] == [
        datetime.date(2026, 1, 20)]
    # Jan 1-10 (the purchase of the 11th ends it), 11-19 (the lot's last usable day
    # ends the segment), 20-31; none at day posting
    assert batches == ([10, 9, 12] if posting == "month" else [])


def test_promotional_credits_are_drawn_day_by_day():
    """What promotional credits covered is kept per day (``run.promotional``: the cost
    moved to marketing): days that may draw them are walked one by one (5,000 credits:
    13.5 days of 370), the days after they are used up at once."""
    grant = Grant("g1", datetime.date(2026, 1, 1), D("5000"), "promotional",
                  expires=datetime.date(2026, 3, 1), priority=10)
    c = contract(packs={"s": pack("s", "100.00", 10_000)}, grants=(grant,))
    usages = [usage(f"2026-01-{d:02d}", 1_000) for d in range(1, 29)]
    batches: list[int] = []
    batched, alone = both(c, usages, [purchase("2026-01-01", "s", "100.00")],
                          batches=batches)
    assert outcome(batched) == outcome(alone)
    assert len(batched.promotional) == 14 and batches == [14]
