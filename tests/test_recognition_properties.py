"""Property tests: the invariants hold over random contracts, purchases and usage."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from enginekit import book, contract, monthly, run, usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.engine import purchase_lot_ids
from tokenbooks.plugins.rules.invariants import LotFacts, check_lots
from tokenbooks.plugins.rules.model import Commitment, Overage, Pack, TopUp
from tokenbooks.plugins.rules.records import Purchase

D = Decimal
START = datetime.date(2026, 1, 1)
AS_OF = datetime.date(2026, 8, 31)
PRICES = book(("2026-01-01", "0.0037"), ("2026-04-16", "0.0041"))
ACCOUNTS = (accounts.REVENUE_USAGE, accounts.REVENUE_ACTIONS, accounts.REVENUE_BREAKAGE,
            accounts.REVENUE_COMMITMENT, accounts.deferred_revenue("acme"),
            accounts.unbilled("acme"), accounts.receivable("acme"),
            accounts.contract_assets("acme"))

dates = st.integers(0, 200).map(lambda n: START + datetime.timedelta(days=n))


@st.composite
def packs(draw):
    out = {}
    for i in range(draw(st.integers(1, 3))):
        expires = draw(st.one_of(st.none(), dates))
        out[f"p{i}"] = Pack(f"p{i}", D(draw(st.integers(1, 500_000))) / 100,
                            D(draw(st.integers(1, 300_000))), expires=expires)
    return out


@st.composite
def prepaid_case(draw):
    the_packs = draw(packs())
    policy = draw(st.sampled_from(["invoice", "hard_stop", "top_up"]))
    top_up = None
    if policy == "top_up":
        # a top-up pack big enough not to need thousands of purchases a day
        name = draw(st.sampled_from(sorted(the_packs)))
        size = draw(st.integers(20_000, 300_000))
        the_packs[name] = Pack(name, the_packs[name].price, D(size),
                               expires=the_packs[name].expires)
        top_up = TopUp(name, D(draw(st.integers(0, size))))
    overage = Overage(policy, D(draw(st.sampled_from(["1", "1.25", "0.7"]))), top_up)
    c = contract(packs=the_packs, overage=overage,
                 draw_order=draw(st.sampled_from(["earliest_expiry", "oldest"])))
    purchases = []
    for n in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(the_packs)))
        when = draw(dates)
        purchases.append(Purchase(when, "acme", "c1", name, the_packs[name].price, "USD",
                                  f"pay{n}", ref=f"p:{n}"))
    usages = [usage(draw(dates).isoformat(), draw(st.integers(0, 400_000)),
                    events=draw(st.integers(1, 50)), ref=f"u:{n}")
              for n in range(draw(st.integers(0, 25)))]
    return c, purchases, usages


def lot_facts(result, purchases) -> dict[str, LotFacts]:
    facts: dict[str, LotFacts] = {}
    ids = purchase_lot_ids("c1", purchases)
    lots = {lot.id: lot for lot in result.lots}
    for p in purchases:
        lot = lots[ids[p.ref]]
        facts[lot.id] = LotFacts(lot.id, "acme", lot.expires, [(p.date, p.amount)])
    for b in result.bookings:
        for leg in b.legs:
            if not leg.lot:
                continue
            f = facts.setdefault(leg.lot, LotFacts(leg.lot, "acme", lots[leg.lot].expires))
            if leg.account.startswith("Liabilities"):
                if b.rule == "top-up":
                    f.consideration.append((b.date, -leg.amount))
                else:
                    f.drawn.append((b.date, leg.amount))
            elif leg.account.startswith("Income"):
                f.recognized.append((b.date, -leg.amount))
                if b.rule == "usage":
                    f.used_on.append(b.date)
    return facts


def all_months(result) -> dict:
    return {a: {m: v for m, v in monthly(result, a).items() if v} for a in ACCOUNTS}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prepaid_case(), st.sampled_from(["month", "day"]))
def test_lot_invariants_hold(case, posting):
    c, purchases, usages = case
    result = run(c, usages, purchases, as_of=AS_OF.isoformat(), posting=posting,
                 price_book=PRICES)
    late = [p for p in purchases if c.packs[p.pack].expires and c.packs[p.pack].expires <= p.date]
    assert len([e for e in result.errors if "top-up" not in e.message]) == len(late)
    assert all("expired" in e.message for e in result.errors)
    assert result.priced == len(usages)
    assert sum(b.meta.get("usage_entries", 0) for b in result.bookings
               if b.rule == "usage") == len(usages)
    for lot in result.lots:
        assert 0 <= lot.used + lot.forfeited <= lot.credits
        assert 0 <= lot.liability <= lot.price
        if lot.expires is not None and lot.expires <= AS_OF or lot.closed:
            assert lot.closed and lot.liability == 0
    assert check_lots(lot_facts(result, purchases), AS_OF) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prepaid_case())
def test_month_totals_do_not_depend_on_posting_grain(case):
    c, purchases, usages = case
    by_month = run(c, usages, purchases, as_of=AS_OF.isoformat(), price_book=PRICES)
    by_day = run(c, usages, purchases, as_of=AS_OF.isoformat(), posting="day",
                 price_book=PRICES)
    assert all_months(by_month) == all_months(by_day)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(dates, st.integers(0, 3_000_000)), max_size=20),
       st.integers(1, 1_000_000), st.sampled_from(["remote", "ratable", "proportional"]),
       st.booleans(), st.sampled_from(["month", "day"]))
def test_commitment_periods_earn_at_least_the_minimum(used, cents, method, carryover, posting):
    amount = D(cents) / 100
    carryover = carryover and method == "remote"
    terms = Commitment(amount, method=method, carryover=carryover,
                       expected_usage=amount * D("0.8") if method == "proportional" else None)
    c = contract(billing="arrears", credit_value=None, commitment=terms,
                 end=datetime.date(2026, 7, 31))
    usages = [usage(d.isoformat(), n, ref=f"u{i}") for i, (d, n) in enumerate(used)]
    result = run(c, usages, as_of=AS_OF.isoformat(), posting=posting, price_book=PRICES)
    assert result.errors == []
    value: dict[str, Decimal] = defaultdict(lambda: D(0))
    for u in usages:
        rate = D("0.0037") if u.date < datetime.date(2026, 4, 16) else D("0.0041")
        value[f"{u.date:%Y-%m}"] += u.input_tokens * rate
    revenue: dict[str, Decimal] = defaultdict(lambda: D(0))
    for a in (accounts.REVENUE_USAGE, accounts.REVENUE_COMMITMENT, accounts.REVENUE_BREAKAGE):
        for m, v in monthly(result, a).items():
            revenue[m] += v
    months = [f"2026-{m:02d}" for m in range(1, 8)]
    total = sum(revenue.values(), D(0))
    # once every period is closed, revenue = what was billed, and at least the minimums
    invoiced = sum((leg.amount for b in result.bookings for leg in b.legs
                    if leg.account == accounts.unbilled("acme")), D(0))
    assert total == invoiced >= amount * len(months)
    if not carryover:
        # billed = sum of max(minimum, usage) (each period rounded to the cent)
        billed = sum((max(amount, value[m]) for m in months), D(0))
        assert abs(total - billed) <= D("0.005") * len(months)
    assert balance_zero(result, accounts.contract_assets("acme"))
    assert balance_zero(result, accounts.deferred_revenue("acme"))
    if not carryover:
        for m in months:
            assert revenue[m] >= amount


def balance_zero(result, account) -> bool:
    return sum((leg.amount for b in result.bookings for leg in b.legs
                if leg.account == account), D(0)) == 0
