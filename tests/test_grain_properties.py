"""Month grain gives day grain's figures to the cent (docs/grain.md), over random
contracts: prepaid packs with and without expiry bought mid-month, arrears with a
commitment, price-book versions mid-month, overage at a multiplier, grants, breakage
revisions, a modification adding credits, a monthly allowance with a fee and rollover;
and their inference cost over cost-table versions mid-month."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from enginekit import contract, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.entries.usage import at_grain, usage_entry, usage_from_entry
from tokenbooks.plugins.rules.cogs import attribute_usages, attributed_by_provider
from tokenbooks.plugins.rules.grain import Spans, customer_cuts
from tokenbooks.plugins.rules.model import (
    Allowance,
    Breakage,
    BreakageRevision,
    Commitment,
    ContractSet,
    Customer,
    Grant,
    ModelRates,
    Modification,
    Overage,
    Pack,
    PriceBook,
    PriceBookVersion,
    Term,
)
from tokenbooks.plugins.rules.records import Purchase, Usage

D = Decimal
START = datetime.date(2026, 1, 1)
AS_OF = datetime.date(2026, 6, 30)
dates = st.integers(0, 180).map(lambda n: START + datetime.timedelta(days=n))


def prices(effective: list[datetime.date]) -> PriceBook:
    rates = [("0.0037", "0.011"), ("0.0041", "0.013"), ("0.0029", "0.017")]
    days = [START, *sorted(set(effective) - {START})]
    return PriceBook("list", "USD", 1, tuple(
        PriceBookVersion(day, {"m": ModelRates(D(rates[i % 3][0]), D("0.001"),
                                               D(rates[i % 3][1])),
                               "n": ModelRates(D("0.0123"), D("0.002"), D("0.0371"))})
        for i, day in enumerate(days)))


@st.composite
def cases(draw):
    book = prices(draw(st.lists(dates, max_size=2)))
    billing = draw(st.sampled_from(["prepaid", "arrears"]))
    purchases: list[Purchase] = []
    grants: tuple[Grant, ...] = ()
    packs: dict[str, Pack] = {}
    commitment = None
    mods: tuple[Modification, ...] = ()
    if billing == "prepaid":
        for i in range(draw(st.integers(1, 3))):
            expiry = draw(st.sampled_from(["none", "date", "term"]))
            revisions = tuple(BreakageRevision(draw(dates), D("0.1"), approved_by="x")
                              for _ in range(draw(st.integers(0, 1))))
            packs[f"p{i}"] = Pack(
                f"p{i}", D(draw(st.integers(100, 500_000))) / 100,
                D(draw(st.integers(1_000, 300_000))),
                expires=draw(dates) if expiry == "date" else None,
                expires_after=Term(draw(st.integers(1, 3)), "month") if expiry == "term"
                else None,
                breakage=Breakage("proportional", D("0.2"), revisions, approved_by="x")
                if draw(st.booleans()) else Breakage())
        for n in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from(sorted(packs)))
            purchases.append(Purchase(draw(dates), "acme", "c1", name, packs[name].price,
                                      "USD", f"pay{n}", ref=f"p:{n}"))
        grants = tuple(Grant(f"g{n}", draw(dates), D(draw(st.integers(1, 50_000))),
                             "concession", expires=draw(st.one_of(st.none(), dates)))
                       for n in range(draw(st.integers(0, 2))))
        grants = tuple(g for g in grants if g.expires is None or g.expires > g.date)
        if draw(st.booleans()):  # an approved modification adding credits, bought
            when = draw(dates)
            mods = (Modification("m1", when, D(draw(st.integers(1_000, 100_000))),
                                 D("50.00"), ssp=D("50.00"), expires=draw(st.one_of(
                                     st.none(), dates.filter(lambda d, w=when: d > w))),
                                 approved_by="x", approved_on=when),)
            purchases.append(Purchase(when, "acme", "c1", "m1", D("50.00"), "USD", "paym",
                                      ref="p:m"))
    elif draw(st.booleans()):
        commitment = Commitment(D(draw(st.integers(1, 200_000))) / 100,
                                method=draw(st.sampled_from(["remote", "ratable",
                                                             "proportional"])),
                                expected_usage=D(1000))
    allowance = None
    if draw(st.booleans()):  # credits each month, for a fee, some rolled over
        allowance = Allowance(D(draw(st.integers(1_000, 100_000))), "month",
                              D(draw(st.integers(0, 10_000))) / 100,
                              D(draw(st.sampled_from([0, 5_000]))))
    c = contract(billing=billing, packs=packs, grants=grants, commitment=commitment,
                 allowance=allowance, modifications=mods,
                 discount=D(draw(st.sampled_from(["0", "0.1"]))),
                 overage=Overage("invoice", D(draw(st.sampled_from(["1", "1.25"])))))
    usages = [Usage(date=draw(dates), customer="acme", model=draw(st.sampled_from("mn")),
                    feature=draw(st.sampled_from(["chat", "search"])),
                    input_tokens=draw(st.integers(0, 200_000)),
                    output_tokens=draw(st.integers(0, 50_000)),
                    events=draw(st.integers(1, 30)))
              for _ in range(draw(st.integers(0, 40)))]
    return c, book, purchases, usages, costs(draw(st.lists(dates, max_size=2)))


def costs(effective: list[datetime.date]) -> PriceBook:
    """The provider's cost table, its versions on ``effective`` (besides the 1st)."""
    days = [START, *sorted(set(effective) - {START})]
    return PriceBook("openai", "USD", 1_000_000, tuple(
        PriceBookVersion(day, {"m": ModelRates(D(1 + i), D("0.25"), D(4 + i)),
                               "n": ModelRates(D("2.5"), D("1.25"), D(10 - i))})
        for i, day in enumerate(days)), provider="openai")


def book_of(c, book, table=None) -> ContractSet:
    return ContractSet({"acme": Customer("acme", "Acme", (c,))}, {"list": book},
                       {"openai": table} if table else {}, ())


def to_month_grain(c, book, purchases, usages, table=None) -> list[Usage]:
    """The day-grain usage written as entries, merged by the book's spans, read back."""
    contracts = book_of(c, book, table)
    spans = Spans({"acme": customer_cuts(contracts.customers["acme"], contracts, purchases,
                                         AS_OF)})
    entries = [usage_entry(u, {"source": "usage.jsonl", "sha256": "ab",
                               "first_event": f"e{i}", "last_event": f"e{i}"})
               for i, u in enumerate(sorted(usages, key=lambda u: (u.date, u.model,
                                                                  u.feature)))]
    merged = at_grain(entries, spans)
    assert at_grain(merged, spans) == merged  # idempotent
    out = []
    for i, entry in enumerate(merged):
        entry.meta["lineno"] = i + 1
        out.append(usage_from_entry(entry))
    return out


def figures(result) -> dict:
    """Every leg summed per month, account, lot and rule (what the books show)."""
    out: dict = defaultdict(Decimal)
    for booking in result.bookings:
        for leg in booking.legs:
            key = (f"{booking.date:%Y-%m}", leg.account, leg.lot, booking.rule, leg.detail)
            out[key] += leg.amount
    return {k: v for k, v in out.items() if v}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_month_grain_books_what_day_grain_books(case):
    c, book, purchases, usages, table = case
    monthly = to_month_grain(c, book, purchases, usages, table)
    assert sum(u.events for u in monthly) == sum(u.events for u in usages)
    assert len(monthly) <= len(usages)
    by_day = run(c, usages, purchases, as_of=AS_OF.isoformat(), price_book=book)
    by_month = run(c, monthly, purchases, as_of=AS_OF.isoformat(), price_book=book)
    assert [e.message for e in by_month.errors] == [e.message for e in by_day.errors]
    assert figures(by_month) == figures(by_day)
    assert by_month.values == by_day.values
    for day_lot, month_lot in zip(by_day.lots, by_month.lots, strict=True):
        assert (month_lot.id, month_lot.used, month_lot.liability) == (
            day_lot.id, day_lot.used, day_lot.liability)
    assert [(d, [(lot.id, lot.used) for lot in lots]) for d, lots in by_month.snapshots] == \
        [(d, [(lot.id, lot.used) for lot in lots]) for d, lots in by_day.snapshots]
    # inference cost (COGS): every line's cost, per month, model, feature and version
    day_lines, day_issues = attribute_usages(usages, book_of(c, book, table))
    month_lines, month_issues = attribute_usages(monthly, book_of(c, book, table))
    assert day_issues == month_issues == []
    assert cost_lines(month_lines) == cost_lines(day_lines)
    assert attributed_by_provider(month_lines) == attributed_by_provider(day_lines)


def cost_lines(lines) -> dict:
    return {(x.period, x.model, x.feature, x.version): (x.amount, x.exact, x.input_tokens,
                                                        x.output_tokens, x.events)
            for x in lines}


def test_a_pack_bought_mid_month_cuts_the_month():
    """Worked example: 1,000 credits bought on the 10th; usage every day of January."""
    c = contract(packs={"s": Pack("s", D("10.00"), D(1000))})
    bought = [Purchase(datetime.date(2026, 1, 10), "acme", "c1", "s", D("10.00"), "USD",
                       "pay1", ref="p:1")]
    usages = [Usage(date=datetime.date(2026, 1, d), customer="acme", model="m",
                    input_tokens=10_000, events=1) for d in range(1, 32)]
    book = prices([])
    monthly = to_month_grain(c, book, bought, usages)
    assert [(u.date.day, u.last_day.day, u.input_tokens) for u in monthly] == [
        (1, 9, 90_000), (10, 31, 220_000)]
    by_day = run(c, usages, bought, as_of="2026-01-31", price_book=book)
    by_month = run(c, monthly, bought, as_of="2026-01-31", price_book=book)
    assert figures(by_month) == figures(by_day)
    # 310,000 tokens at 0.0037 = 1,147.00: 10.00 of credits (the 1,000 credits = 10.00 of
    # usage), 1,137.00 overage
    unbilled = sum(v for k, v in figures(by_day).items() if k[1] == "Assets:Unbilled:Acme")
    assert unbilled == D("1137.00")
