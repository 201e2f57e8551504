"""Refunds of prepaid credits (rules.refunds, applied by the engine): worked examples to
the cent. A refund returns consideration; it is never revenue and never breakage.

Packs are 100.00 for 10,000 credits (one token is one credit, 0.01 a credit). The
importer books the cash back against the contract liability (not in these bookings:
``balance(DEFERRED)`` is the engine's side); the engine takes back credits and moves
what the lot cannot cover to contra revenue.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from enginekit import balance, contract, day, monthly, pack, purchase, run, usage
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules import accounts, refunds
from tokenbooks.plugins.rules.model import Breakage, Pack

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
UNBILLED = accounts.unbilled("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
REFUNDS = accounts.REVENUE_REFUNDS
PAY = purchase("2026-01-01", "p", "100.00", payment_id="ch_1")


def refund(date: str, amount: str, rid: str = "re_1"):
    return purchase(date, "p", amount, payment_id=rid, kind="refund", refund_of="ch_1")


def packs(expires: str | None = "2026-06-30"):
    return {"p": pack("p", "100.00", 10000, expires=expires)}


def lot_of(result):
    [lot] = result.lots
    return lot


def test_partial_refund_of_an_unused_pack_takes_back_credits_in_proportion():
    # 25.00 of 100.00 back before any use: 7,500 credits left for 75.00, no revenue.
    result = run(contract(packs=packs()), [usage("2026-02-10", 7500)],
                 [PAY, refund("2026-01-05", "25.00")], as_of="2026-06-30")
    lot = lot_of(result)
    assert (lot.price, lot.credits, lot.refunded) == (D("75.00"), 7500, D("25.00"))
    assert lot.credits_refunded == 2500
    assert monthly(result, USAGE) == {"2026-02": D("75.00")}
    assert BREAKAGE not in {leg.account for b in result.bookings for leg in b.legs}
    assert [b.rule for b in result.bookings if b.rule == "refund"] == []
    assert balance(result, DEFERRED) == D("75.00")  # 100.00 - 25.00 refunded - 75.00 used


def test_the_credits_left_stay_usable_until_expiry_then_breakage_is_what_is_left():
    result = run(contract(packs=packs()), [usage("2026-02-10", 5000)],
                 [PAY, refund("2026-01-05", "25.00")], as_of="2026-07-31")
    # 7,500 left after the refund, 5,000 used: 50.00 usage, 25.00 breakage at expiry
    assert monthly(result, USAGE) == {"2026-02": D("50.00")}
    assert monthly(result, BREAKAGE) == {"2026-06": D("25.00")}
    assert balance(result, DEFERRED) == D("75.00")


def test_partial_refund_of_a_half_used_pack():
    # 5,000 used in January (50.00); 25.00 of the 50.00 liability refunded on 2026-02-01:
    # half the 5,000 credits left go back; 2,500 left at 0.01, then overage is invoiced.
    c = contract(packs=packs())
    result = run(c, [usage("2026-01-20", 5000), usage("2026-02-10", 3000)],
                 [PAY, refund("2026-02-01", "25.00")], as_of="2026-02-28")
    lot = lot_of(result)
    assert lot.credits_refunded == 2500 and lot.remaining == 0
    # February: 25.00 from the lot and 5.00 of overage (500 credits past it, at list)
    assert monthly(result, USAGE, "usage") == {"2026-01": D("50.00"), "2026-02": D("30.00")}
    assert balance(result, UNBILLED) == D("5.00")
    assert BREAKAGE not in {leg.account for b in result.bookings for leg in b.legs}


def test_full_refund_closes_the_lot_with_no_revenue():
    # 30.00 used, the 70.00 left refunded: the lot closes, nothing is recognized.
    result = run(contract(packs=packs()), [usage("2026-01-10", 3000), usage("2026-02-10", 100)],
                 [PAY, refund("2026-01-31", "70.00")], as_of="2026-07-31")
    lot = lot_of(result)
    assert lot.closed and lot.liability == 0 and lot.credits_refunded == 7000
    assert monthly(result, USAGE, "usage") == {"2026-01": D("30.00"), "2026-02": D("1.00")}
    assert monthly(result, BREAKAGE) == {}
    assert monthly(result, REFUNDS) == {}
    assert balance(result, UNBILLED) == D("1.00")  # February's usage has no credits


def test_full_refund_of_an_unused_pack():
    result = run(contract(packs=packs()), [], [PAY, refund("2026-01-02", "100.00")],
                 as_of="2026-12-31")
    lot = lot_of(result)
    assert lot.closed and lot.price == 0 and lot.remaining == 0
    assert result.bookings == []


def test_refund_after_expiry_reduces_revenue_of_the_refund_month():
    # expires 2026-01-31: 40.00 used, 60.00 breakage at expiry; 20.00 refunded in March
    c = contract(packs=packs(expires="2026-01-31"))
    result = run(c, [usage("2026-01-10", 4000)], [PAY, refund("2026-03-04", "20.00")],
                 as_of="2026-03-31")
    assert monthly(result, BREAKAGE) == {"2026-01": D("60.00")}
    assert monthly(result, REFUNDS) == {"2026-03": D("-20.00")}  # contra: a debit
    [booking] = [b for b in result.bookings if b.rule == "refund"]
    assert booking.date == day("2026-03-04")
    assert booking.meta["refund_of"] == "ch_1" and booking.meta["of_revenue"] == D("20.00")
    # the engine credits the liability 20.00 against the importer's 20.00 debit: nil
    assert balance(result, DEFERRED) == D("100.00") - D("20.00")


def test_refund_larger_than_the_remaining_liability():
    # 60.00 used, 40.00 left; 50.00 refunded: 40.00 out of the liability (every credit
    # left back, lot closed), 10.00 of consumed value returned as contra revenue.
    result = run(contract(packs=packs()), [usage("2026-01-10", 6000)],
                 [PAY, refund("2026-02-03", "50.00")], as_of="2026-07-31")
    lot = lot_of(result)
    assert lot.closed and lot.remaining == 0
    assert monthly(result, USAGE) == {"2026-01": D("60.00")}
    assert monthly(result, REFUNDS) == {"2026-02": D("-10.00")}
    assert monthly(result, BREAKAGE) == {}
    # engine: -60.00 released... +60 usage, -10 back: liability after the importer's
    # 100.00 - 50.00 is 100 - 50 - 60 + 10 = 0
    assert D("100.00") - D("50.00") - balance(result, DEFERRED) == 0


def test_policy_none_leaves_the_credits_at_a_lower_price():
    c = contract(packs=packs(), refund_credits="none")
    result = run(c, [usage("2026-02-10", 10000)], [PAY, refund("2026-01-05", "25.00")],
                 as_of="2026-06-30")
    lot = lot_of(result)
    assert lot.credits == 10000 and lot.credits_refunded == 0
    assert monthly(result, USAGE) == {"2026-02": D("75.00")}


def test_refunds_beyond_the_payment_are_an_error_and_book_nothing():
    result = run(contract(packs=packs()), [],
                 [PAY, refund("2026-01-05", "60.00"), refund("2026-01-06", "50.00", "re_2")],
                 as_of="2026-01-31")
    assert [e.message for e in result.errors] == [
        "refund 're_2' of lot c1.p.2026-01-01: refund of 50.00 exceeds what is left of the "
        "payment: 100.00 paid, 60.00 refunded before"]
    assert lot_of(result).price == D("40.00")


def test_a_refund_of_a_proportional_lot_keeps_its_breakage_pattern():
    # 20% expected breakage: 8,000 of 10,000 credits expected used; 2,000 used (25.00
    # earned: 100 x 2,000 / 8,000). Refund 15.00 of the 75.00 left (20%): 1,600 credits
    # back, 6,400 left; the estimate in force (20% unused) applies to them as after a
    # modification: 5,120 expected used, which earn the 60.00 left.
    p = Pack("p", D("100.00"), D(10000), expires=day("2026-06-30"),
             breakage=Breakage("proportional", D("0.2")))
    result = run(contract(packs={"p": p}), [usage("2026-01-10", 2000), usage("2026-02-10", 5120)],
                 [PAY, refund("2026-02-01", "15.00")], as_of="2026-02-28")
    lot = lot_of(result)
    assert lot.credits_refunded == 1600 and lot.expected == 2000 + 5120
    assert lot.liability == 0  # 25.00 + 60.00 earned, 15.00 refunded
    earned = {m: monthly(result, USAGE).get(m, 0) + monthly(result, BREAKAGE).get(m, 0)
              for m in ("2026-01", "2026-02")}
    assert earned == {"2026-01": D("25.00"), "2026-02": D("60.00")}


@settings(max_examples=200, deadline=None)
@given(used=st.integers(0, 10000), cents=st.integers(1, 10000),
       policy=st.sampled_from(refunds.POLICIES))
def test_a_refund_never_makes_revenue_and_the_liability_never_goes_negative(used, cents,
                                                                           policy):
    amount = D(cents) / 100
    c = contract(packs=packs(), refund_credits=policy)
    uses = [usage("2026-01-10", used)] if used else []
    result = run(c, uses, [PAY, refund("2026-02-01", str(amount))], as_of="2026-07-31")
    lot = lot_of(result)
    revenue = -balance(result, USAGE) - balance(result, BREAKAGE)
    contra = balance(result, REFUNDS)
    # everything paid is either revenue, refunded, or (contra) refunded from revenue
    assert revenue - contra + amount == D("100.00")
    assert contra == max(D(0), amount - (D("100.00") - D(used) / 100))
    assert lot.liability >= 0 and lot.refunded == amount


def test_plan_names_a_bad_policy():
    with pytest.raises(refunds.RefundError, match="expected one of proportional, none"):
        refunds.plan(D(1), D(10), D(0), D(10), Fraction(10), "some")
