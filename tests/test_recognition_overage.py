"""A pack running out mid-month under each overage policy; top-up threshold."""

from __future__ import annotations

from decimal import Decimal

from enginekit import balance, contract, day, monthly, pack, purchase, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import Overage, TopUp

D = Decimal
USAGE = accounts.REVENUE_USAGE
UNBILLED = accounts.unbilled("acme")
DEFERRED = accounts.deferred_revenue("acme")
RECEIVABLE = accounts.receivable("acme")

# 800.00 for 100,000 credits (0.008 per credit; list value 0.01 per credit)
PACKS = {"p": pack("p", "800.00", 100000, expires="2026-12-31")}
MARCH = [usage("2026-03-05", 60000, events=60), usage("2026-03-20", 60000, events=60)]
BUY = [purchase("2026-03-01", "p", "800.00")]


def test_invoice_policy_bills_the_rest_at_list_times_multiplier():
    c = contract(packs=PACKS, overage=Overage("invoice", D("1.5")))
    result = run(c, MARCH, BUY, as_of="2026-03-31")
    # 100,000 credits from the pack = 800.00; 20,000 credits x 0.01 x 1.5 = 300.00
    assert monthly(result, USAGE) == {"2026-03": D("1100.00")}
    assert balance(result, UNBILLED) == D("300.00")
    assert balance(result, DEFERRED) == D("800.00")
    [booking] = [b for b in result.bookings if b.rule == "usage"]
    assert booking.meta["overage_credits"] == 20000
    assert {leg.rule for leg in booking.legs if leg.account == UNBILLED} == {"overage"}
    assert not result.notices


def test_hard_stop_blocks_and_counts_events_and_warns():
    c = contract(packs=PACKS, overage=Overage("hard_stop"))
    result = run(c, MARCH, BUY, as_of="2026-03-31")
    assert monthly(result, USAGE) == {"2026-03": D("800.00")}
    assert balance(result, UNBILLED) == 0
    [booking] = [b for b in result.bookings if b.rule == "usage"]
    # the last 20,000 of the 60,000 credits of 03-20 are blocked: 20 of its 60 events
    assert booking.meta["blocked_events"] == 20 and booking.meta["blocked_credits"] == 20000
    assert booking.meta["usage_entries"] == 2
    [notice] = result.notices
    assert notice.rule == "hard-stop" and "20 usage events blocked" in notice.message
    assert result.blocked_events == 20


def test_hard_stop_blocks_whole_entries_first():
    c = contract(packs=PACKS, overage=Overage("hard_stop"))
    used = [usage("2026-03-05", 90000, events=9), usage("2026-03-06", 5000, events=5, ref="a"),
            usage("2026-03-06", 10000, events=10, ref="b")]
    result = run(c, used, BUY, as_of="2026-03-31")
    # 03-06: 10,000 left; entries a (5,000) then b (10,000): b blocked for 5,000 -> 5 events
    assert result.blocked_events == 5


def test_top_up_buys_a_pack_and_draws_it():
    c = contract(packs=PACKS, overage=Overage("top_up", top_up=TopUp("p", D(30000))))
    result = run(c, MARCH, BUY, as_of="2026-03-31")
    [top_up] = [b for b in result.bookings if b.rule == "top-up"]
    assert top_up.date == day("2026-03-20")
    assert {leg.account: leg.amount for leg in top_up.legs} == {RECEIVABLE: D("800.00"),
                                                                DEFERRED: D("-800.00")}
    lot = top_up.meta["lot"]
    assert lot in top_up.links and top_up.meta["expires"] == day("2026-12-31")
    # 100,000 from the first pack (800.00) + 20,000 from the top-up (160.00)
    assert monthly(result, USAGE) == {"2026-03": D("960.00")}
    assert balance(result, UNBILLED) == 0
    assert balance(result, DEFERRED, lot=lot) == D("-800.00") + D("160.00")


def test_top_up_when_balance_falls_below_threshold():
    c = contract(packs=PACKS, overage=Overage("top_up", top_up=TopUp("p", D(30000))))
    result = run(c, [usage("2026-03-05", 75000)], BUY, as_of="2026-03-31")
    # 25,000 left < 30,000: a pack is bought the same day, nothing drawn from it yet
    top_ups = [b for b in result.bookings if b.rule == "top-up"]
    assert [b.date for b in top_ups] == [day("2026-03-05")]
    assert top_ups[0].meta["balance_before"] == 25000
    assert monthly(result, USAGE) == {"2026-03": D("600.00")}


def test_top_up_without_any_purchase():
    c = contract(packs=PACKS, overage=Overage("top_up", top_up=TopUp("p", D(0))))
    result = run(c, [usage("2026-03-05", 250000)], [], as_of="2026-03-31")
    assert len([b for b in result.bookings if b.rule == "top-up"]) == 3
    assert monthly(result, USAGE) == {"2026-03": D("2000.00")}
