"""Properties of grants, priorities and voids (hypothesis, modest sizes): the lot
invariants hold (``rules.invariants.check_lots`` over the engine's bookings, as the
invariants plugin reads a journal) and free credits never produce revenue; with
modifications that extend or shorten a lot's expiry (and breakage partly owed as
unclaimed property) the lot invariants hold against the lot's final expiry, and no
credit is drawn on or after it (docs/expiry.md)."""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from decimal import Decimal

from enginekit import contract, day, pack, purchase, run, usage
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules import accounts, invariants
from tokenbooks.plugins.rules.model import (
    Bonus,
    Breakage,
    Grant,
    Modification,
    Overage,
    UnclaimedProperty,
)

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
AS_OF = "2026-09-30"

months = st.integers(min_value=1, max_value=9)
grants_st = st.lists(st.tuples(
    st.sampled_from(["concession", "promotional"]),
    st.integers(min_value=1, max_value=300000),  # credits
    st.integers(min_value=0, max_value=100),  # priority
    months,  # granted in month
    st.one_of(st.none(), months),  # expires (months after)
    st.one_of(st.none(), st.integers(min_value=0, max_value=60)),  # void (days after)
), max_size=4)
usage_paths = st.lists(st.integers(min_value=0, max_value=400000), min_size=1, max_size=9)


def make_grants(raw) -> tuple[Grant, ...]:
    out = []
    for i, (kind, credits, priority, month, expires, void) in enumerate(raw):
        start = day(f"2026-0{month}-05")
        end = start + datetime.timedelta(days=30 * expires) if expires else None
        out.append(Grant(f"g{i}", start, D(credits), kind, expires=end, priority=priority,
                         void=start + datetime.timedelta(days=void) if void is not None
                         else None))
    return tuple(out)


def facts_of(result, purchases) -> dict[str, invariants.LotFacts]:
    """The journal's facts per lot, as ``plugins.invariants`` collects them."""
    lots: dict[str, invariants.LotFacts] = {}
    paid = {p.ref: p for p in purchases}
    for lot in result.lots:
        f = lots[lot.id] = invariants.LotFacts(lot.id, "acme", expires=lot.expires)
        if lot.source in paid and lot.kind == "paid":
            f.consideration.append((lot.purchased, paid[lot.source].amount))
        if lot.kind in ("concession", "promotional"):
            f.kind = lot.kind
    for b in result.bookings:
        for leg in b.legs:
            if not leg.lot:
                continue
            f = lots[leg.lot]
            if leg.account == DEFERRED:
                if leg.rule == "consideration":
                    f.consideration.append((b.date, -leg.amount))
                else:
                    f.drawn.append((b.date, leg.amount))
            elif leg.account.startswith(accounts.UNCLAIMED_PROPERTY + ":"):
                f.unclaimed.append((b.date, -leg.amount))
            elif leg.account.startswith("Income:"):
                f.recognized.append((b.date, -leg.amount))
                if b.rule == "usage" and leg.amount:
                    f.used_on.append(b.date)
    return lots


@settings(max_examples=60, deadline=None)
@given(grants_st, usage_paths, st.sampled_from(["earliest_expiry", "oldest"]),
       st.integers(min_value=0, max_value=100), st.booleans())
def test_lot_invariants_hold_and_free_credits_never_produce_revenue(
        raw, used, order, pack_priority, bonus):
    grants = make_grants(raw)
    pk = dataclasses.replace(pack("p", "1000.00", 100000, expires="2026-06-30"),
                             priority=pack_priority,
                             bonus=Bonus(D(10000)) if bonus else None)
    buys = [purchase("2026-01-01", "p", "1000.00"), purchase("2026-03-01", "p", "1000.00")]
    c = contract(packs={"p": pk}, grants=grants, draw_order=order,
                 overage=Overage("hard_stop"))
    result = run(c, [usage(f"2026-0{m}-10", n) for m, n in enumerate(used, 1) if n], buys,
                 as_of=AS_OF)
    assert not result.errors
    facts = facts_of(result, buys)
    assert invariants.check_lots(facts, day(AS_OF)) == []
    # Free credits: no consideration, and their income legs cancel out in every booking.
    free = {lot.id for lot in result.lots if lot.free}
    for b in result.bookings:
        for lot_id in free:
            assert sum((leg.amount for leg in b.legs if leg.lot == lot_id
                        and leg.account.startswith("Income:")), D(0)) == 0
    # All revenue comes from what was paid (hard stop: nothing billed beyond the credits).
    revenue = -sum((leg.amount for b in result.bookings for leg in b.legs
                    if leg.account.startswith("Income:")), D(0))
    assert revenue == sum((lot.posted_total.posted for lot in result.lots), D(0))
    assert revenue <= D("2000.00")
    assert all(lot.liability >= 0 for lot in result.lots)
    # A voided grant is never drawn after its void date.
    for g in grants:
        if g.void is not None:
            late = [d for d in facts[f"c1.grant.{g.id}"].used_on if d >= g.void]
            assert late == []


@settings(max_examples=40, deadline=None)
@given(grants_st, usage_paths)
def test_free_credits_replace_paid_usage_without_changing_what_paid_credits_earn_per_credit(
        raw, used):
    # With or without grants, a paid credit earns the lot's price per credit: revenue of
    # the paid lot = its credits used x 0.01, to the cent of the cumulative rounding.
    grants = make_grants(raw)
    pk = pack("p", "1000.00", 100000, expires="2026-06-30")
    buys = [purchase("2026-01-01", "p", "1000.00")]
    result = run(contract(packs={"p": pk}, grants=grants, overage=Overage("hard_stop")),
                 [usage(f"2026-0{m}-10", n) for m, n in enumerate(used, 1) if n], buys,
                 as_of="2026-05-31")
    [paid] = [lot for lot in result.lots if lot.kind == "paid"]
    earned: dict[str, Decimal] = defaultdict(lambda: D(0))
    for b in result.bookings:
        for leg in b.legs:
            if leg.lot == paid.id and leg.account == accounts.REVENUE_USAGE:
                earned[paid.id] -= leg.amount
    assert earned[paid.id] == (D(paid.used.numerator) / D(paid.used.denominator)
                               * D("0.01")).quantize(D("0.01"))


expiry_changes = st.lists(st.tuples(
    st.integers(min_value=1, max_value=8),  # modification in month
    st.integers(min_value=1, max_value=200),  # new expiry: days after the modification
), max_size=3)
usage_days = st.lists(st.tuples(st.integers(min_value=0, max_value=272),  # day of 2026
                                st.integers(min_value=0, max_value=60000)),
                      min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(expiry_changes, usage_days, st.sampled_from(["remote", "proportional"]),
       st.sampled_from(["0", "0.3", "1"]), st.sampled_from(["hard_stop", "invoice"]))
def test_expiry_changed_by_modifications_keeps_the_lot_invariants(
        changes, used, method, share, policy):
    mods = tuple(Modification(f"m{i}", day(f"2026-0{month}-15"),
                              expires=day(f"2026-0{month}-15")
                              + datetime.timedelta(days=after),
                              approved_by="Controller", approved_on=day("2026-01-01"))
                 for i, (month, after) in enumerate(sorted(set(changes)))
                 if i == 0 or month != sorted(set(changes))[i - 1][0])
    pk = dataclasses.replace(
        pack("p", "1000.00", 100000, expires="2026-06-30"),
        breakage=Breakage(method, D("0.20") if method == "proportional" else None, (),
                          "Controller"),
        unclaimed_property=UnclaimedProperty(D(share), "US-DE"))
    buys = [purchase("2026-01-01", "p", "1000.00")]
    c = contract(packs={"p": pk}, modifications=mods, overage=Overage(policy))
    start = day("2026-01-01")
    usages = [usage((start + datetime.timedelta(days=d)).isoformat(), n)
              for d, n in used if n]
    result = run(c, usages, buys, as_of=AS_OF)
    assert not result.errors
    facts = facts_of(result, buys)
    assert invariants.check_lots(facts, day(AS_OF)) == []
    [lot] = result.lots
    # the one source of truth: the lot's final expiry, whatever the purchase said
    expiry = lot.expires
    assert expiry is not None
    assert all(d < expiry for d in facts[lot.id].used_on)
    if expiry <= day(AS_OF):
        assert lot.closed and lot.liability == 0
        # what is left is recognized on the expiry date (nothing is left, and no expiry
        # entry is booked, when the usage earned the whole price before it: a
        # proportional lot used up to its estimate)
        closings = [b for b in result.bookings if b.rule == "expiry"]
        assert [b.date for b in closings] in ([], [expiry])
        if not closings:  # (posted_total counts what is owed as unclaimed property too)
            assert lot.posted_total.posted == D("1000.00")
            assert all(b.date < expiry for b in result.bookings
                       if any(leg.lot == lot.id and leg.amount for leg in b.legs))
    # revenue + unclaimed property never exceed the consideration; the share is exact
    owed = -sum((leg.amount for b in result.bookings for leg in b.legs
                 if leg.account.startswith(accounts.UNCLAIMED_PROPERTY)), D(0))
    assert owed == lot.posted_unclaimed.posted
    assert lot.posted_total.posted <= D("1000.00")
