"""Prepaid credit lots: the worked examples of the ASC 606 reference, to the cent."""

from __future__ import annotations

from decimal import Decimal

from enginekit import balance, book, contract, day, monthly, pack, purchase, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.lots import Lot
from tokenbooks.plugins.rules.recognition import recognize

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE


def test_thirds_cumulative_rounding():
    c = contract(packs={"p": pack("p", "1000.00", 300000, expires="2026-12-31")})
    result = run(c, [usage("2026-01-10", 100000), usage("2026-02-10", 100000),
                     usage("2026-03-10", 100000)], [purchase("2026-01-01", "p", "1000.00")])
    assert monthly(result, USAGE) == {"2026-01": D("333.33"), "2026-02": D("333.34"),
                                      "2026-03": D("333.33")}
    assert balance(result, DEFERRED) == D("1000.00")  # the purchase's -1000 is the importer's
    assert BREAKAGE not in {leg.account for b in result.bookings for leg in b.legs
                            if b.date < day("2026-12-31")}


def test_example_a1_basic_consumption():
    c = contract(packs={"p": pack("p", "10000.00", 1000000)})  # never expires
    used = [("2026-01-15", 250000), ("2026-02-15", 300000), ("2026-03-15", 200000),
            ("2026-04-15", 250000)]
    result = run(c, [usage(d, n) for d, n in used], [purchase("2026-01-01", "p", "10000.00")],
                 as_of="2026-04-30")
    assert monthly(result, USAGE) == {"2026-01": D("2500.00"), "2026-02": D("3000.00"),
                                      "2026-03": D("2000.00"), "2026-04": D("2500.00")}
    closing = {m: D("10000.00") - balance(result, DEFERRED, until=end)
               for m, end in (("01", "2026-01-31"), ("02", "2026-02-28"), ("03", "2026-03-31"))}
    assert closing == {"01": D("7500.00"), "02": D("4500.00"), "03": D("2500.00")}
    assert balance(result, DEFERRED) == D("10000.00")
    lot = result.lots[0]
    assert lot.liability == 0 and lot.remaining == 0


def test_example_b5_remote_breakage_at_expiry():
    c = contract(packs={"p": pack("p", "10000.00", 1000000, expires="2026-06-30")})
    used = [100000, 150000, 200000, 150000, 60000, 140000]
    result = run(c, [usage(f"2026-0{m}-10", n) for m, n in enumerate(used, 1)],
                 [purchase("2026-01-01", "p", "10000.00")], as_of="2026-07-31")
    assert monthly(result, USAGE) == {f"2026-0{m}": D(n) / 100 for m, n in enumerate(used, 1)}
    assert monthly(result, BREAKAGE) == {"2026-06": D("2000.00")}
    expiry = [b for b in result.bookings if b.rule == "expiry"]
    assert len(expiry) == 1 and expiry[0].date == day("2026-06-30")
    assert expiry[0].meta["credits_expired"] == 200000
    closing = [D("10000.00") - balance(result, DEFERRED, until=f"2026-0{m}-{end}")
               for m, end in ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31))]
    assert closing == [D("9000.00"), D("7500.00"), D("5500.00"), D("4000.00"), D("3400.00")]
    assert balance(result, DEFERRED) == D("10000.00")  # closing CL 0


def test_bonus_credits_spread_the_price_over_all_credits():
    c = contract(packs={"p": pack("p", "10000.00", 1100000)})
    result = run(c, [usage("2026-02-01", 550000)], [purchase("2026-01-01", "p", "10000.00")])
    assert monthly(result, USAGE) == {"2026-02": D("5000.00")}


def test_two_packs_different_prices_and_expiries_earliest_expiry_first():
    # A: 1,000 for 100,000 (0.01), expires 2026-03-31; B: 600 for 100,000 (0.006),
    # bought earlier but expiring later: earliest_expiry draws A first.
    c = contract(packs={"a": pack("a", "1000.00", 100000, expires="2026-03-31"),
                        "b": pack("b", "600.00", 100000, expires="2026-12-31")})
    purchases = [purchase("2026-01-02", "b", "600.00"), purchase("2026-01-05", "a", "1000.00")]
    result = run(c, [usage("2026-01-10", 60000), usage("2026-02-10", 60000),
                     usage("2026-04-10", 10000)], purchases, as_of="2026-04-30")
    lot_a, lot_b = "c1.a.2026-01-05", "c1.b.2026-01-02"
    by_lot = {}
    for b in result.bookings:
        for leg in b.legs:
            if leg.account == USAGE:
                by_lot.setdefault((f"{b.date:%Y-%m}", leg.lot), D(0))
                by_lot[(f"{b.date:%Y-%m}", leg.lot)] -= leg.amount
    # Jan: 60,000 from A = 600.00; Feb: 40,000 from A (400.00) then 20,000 from B (120.00)
    # Apr: A expired, 10,000 from B = 60.00
    assert by_lot == {("2026-01", lot_a): D("600.00"), ("2026-02", lot_a): D("400.00"),
                      ("2026-02", lot_b): D("120.00"), ("2026-04", lot_b): D("60.00")}
    assert not [b for b in result.bookings if b.rule == "expiry"]  # A was used up
    oldest = run(contract(packs=c.packs, draw_order="oldest"), [usage("2026-01-10", 60000)],
                 purchases, as_of="2026-01-31")
    assert [leg.lot for b in oldest.bookings for leg in b.legs if leg.account == USAGE] == [
        lot_b]


def test_expired_lot_is_never_drawn_and_its_rest_is_breakage():
    c = contract(packs={"a": pack("a", "1000.00", 100000, expires="2026-02-15"),
                        "b": pack("b", "500.00", 100000)})
    result = run(c, [usage("2026-02-10", 30000), usage("2026-02-16", 30000)],
                 [purchase("2026-01-01", "a", "1000.00"), purchase("2026-01-01", "b", "500.00")],
                 as_of="2026-02-28")
    lots = {b.date: b.meta.get("lots") for b in result.bookings if b.rule == "usage"}
    # the February segment is cut on A's last usable day (the day before its expiry,
    # docs/expiry.md): one booking per lot regime
    assert lots == {day("2026-02-14"): "c1.a.2026-01-01", day("2026-02-28"): "c1.b.2026-01-01"}
    assert monthly(result, USAGE) == {"2026-02": D("300.00") + D("150.00")}
    assert monthly(result, BREAKAGE) == {"2026-02": D("700.00")}


def test_mid_month_price_book_change_splits_the_month():
    c = contract(packs={"p": pack("p", "1000.00", 100000)})
    prices = book(("2026-01-01", "0.01"), ("2026-06-16", "0.02"))
    result = run(c, [usage("2026-06-10", 1000), usage("2026-06-20", 1000)],
                 [purchase("2026-01-01", "p", "1000.00")], as_of="2026-06-30",
                 price_book=prices)
    bookings = [b for b in result.bookings if b.rule == "usage"]
    assert [(b.date, b.meta["price_book"], b.meta["credits"]) for b in bookings] == [
        (day("2026-06-15"), "list@2026-01-01", 1000), (day("2026-06-30"), "list@2026-06-16", 2000)]
    assert monthly(result, USAGE) == {"2026-06": D("30.00")}


def test_posting_by_day_or_month_gives_the_same_month_totals():
    c = contract(packs={"p": pack("p", "1000.00", 300000, expires="2026-03-20")},
                 overage=__import__("tokenbooks.plugins.rules.model",
                                    fromlist=["Overage"]).Overage("invoice", D("1.3")))
    used = [usage(f"2026-{m:02d}-{d:02d}", 7777 + 13 * d) for m in (1, 2, 3) for d in (3, 9, 17, 25)]
    used += [usage("2026-03-25", 250000)]
    buys = [purchase("2026-01-02", "p", "1000.00")]
    by_month = run(c, used, buys, as_of="2026-03-31", posting="month")
    by_day = run(c, used, buys, as_of="2026-03-31", posting="day")
    for account in (USAGE, BREAKAGE, DEFERRED, accounts.unbilled("acme")):
        assert monthly(by_month, account) == monthly(by_day, account), account
    assert len(by_day.bookings) > len(by_month.bookings)


def test_lot_reprice_is_prospective():
    # ASC 606 Example 5 Case B shape: 60 of 120 units at 100 delivered, then 30 added for
    # 2,400: the remaining 90 at 280/3 each; 30/30/30 -> 2,800.00 each.
    from fractions import Fraction
    lot = Lot("l", "c", "p", D("12000.00"), Fraction(120), day("2026-01-01"), None)
    lot.draw(Fraction(60))
    assert recognize(lot).usage == D("6000.00")
    lot.reprice(D("2400.00"), Fraction(30), "modification")
    posted = []
    for _ in range(3):
        lot.draw(Fraction(30))
        posted.append(recognize(lot).usage)
    assert posted == [D("2800.00")] * 3 and lot.liability == 0


def test_partial_refund_keeps_the_rest_of_the_lot_usable():
    c = contract(packs={"p": pack("p", "1000.00", 100000)})
    refund = purchase("2026-02-15", "p", "500.00", payment_id="ref-1", kind="refund",
                      refund_of="pay-1")
    result = run(c, [usage("2026-01-10", 30000), usage("2026-02-20", 10000)],
                 [purchase("2026-01-01", "p", "1000.00", payment_id="pay-1"), refund],
                 as_of="2026-02-28")
    # 300.00 used; of the 700.00 left, 500.00 refunded (the importer's entry) takes back
    # 5/7 of the 70,000 credits left: 20,000 stay usable at 0.01, no breakage (rules.refunds)
    assert [b.rule for b in result.bookings if b.rule == "refund"] == []
    assert monthly(result, BREAKAGE) == {}
    assert monthly(result, USAGE) == {"2026-01": D("300.00"), "2026-02": D("100.00")}
    assert balance(result, DEFERRED) == D("400.00")  # + the refund's 500.00 = 900.00
    assert balance(result, accounts.unbilled("acme")) == D("0.00")
    [lot] = result.lots
    assert lot.remaining == 10000 and lot.liability == D("100.00")


def test_unapproved_modification_is_not_drawn():
    from tokenbooks.plugins.rules.model import Modification
    mod = Modification("amend-1", day("2026-02-01"), add_credits=D(1000), price=D("10.00"))
    c = contract(packs={"p": pack("p", "1000.00", 100000)}, modifications=(mod,))
    result = run(c, [usage("2026-02-10", 10)], [purchase("2026-02-01", "amend-1", "10.00")],
                 as_of="2026-02-28")
    # pending on its date, and its payment not drawn
    assert [n.rule for n in result.notices] == ["modification", "modification"]
    assert result.lots == []
    approved = Modification("amend-1", day("2026-02-01"), add_credits=D(1000),
                            price=D("10.00"), approved_by="Controller",
                            approved_on=day("2026-01-30"))
    result = run(contract(packs=c.packs, modifications=(approved,)), [usage("2026-02-10", 10)],
                 [purchase("2026-02-01", "amend-1", "10.00")], as_of="2026-02-28")
    assert monthly(result, USAGE) == {"2026-02": D("0.10")}
