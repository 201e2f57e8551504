"""Proportional breakage, estimate revisions and contract modifications (issue 5): the
reference's worked examples (asc606.md §3.3 B1/B5, §4.2 Example 5 Cases A and B,
Example 7) to the cent, and our own cases."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from enginekit import balance, contract, day, monthly, purchase, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.lots import Lot
from tokenbooks.plugins.rules.model import Breakage, BreakageRevision, Modification, Pack
from tokenbooks.plugins.rules.modifications import classify, rate_of
from tokenbooks.plugins.rules.recognition import recognize

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
ADJ = accounts.REVENUE_ADJUSTMENTS
B1_USED = [100000, 150000, 200000, 150000, 60000, 140000]


def prop_pack(rate: str = "0.20", revisions=(), expires: str = "2026-06-30") -> Pack:
    return Pack("p", D("10000.00"), D(1000000), expires=day(expires),
                breakage=Breakage("proportional", D(rate), tuple(revisions), "Controller"))


def b_run(used, pk: Pack, as_of: str = "2026-07-31"):
    c = contract(packs={"p": pk})
    return run(c, [usage(f"2026-{m:02d}-10", n) for m, n in enumerate(used, 1) if n],
               [purchase("2026-01-01", "p", "10000.00")], as_of=as_of)


def closing(result, months=6) -> list[Decimal]:
    ends = ["01-31", "02-28", "03-31", "04-30", "05-31", "06-30"][:months]
    return [D("10000.00") - balance(result, DEFERRED, until=f"2026-{e}") for e in ends]


def months(values) -> dict[str, Decimal]:
    return {f"2026-{m:02d}": D(v) for m, v in enumerate(values, 1) if D(v)}


def test_example_b1_proportional_estimate_equals_actual():
    result = b_run(B1_USED, prop_pack())
    assert monthly(result, USAGE) == months(["1000", "1500", "2000", "1500", "600", "1400"])
    assert monthly(result, BREAKAGE) == months(["250", "375", "500", "375", "150", "350"])
    assert closing(result) == [D(x) for x in ("8750.00", "6875.00", "4375.00", "2500.00",
                                              "1750.00", "0.00")]
    # expiry true-up 0.00: the 200,000 expired credits were recognized on the way
    assert not [b for b in result.bookings if b.rule == "expiry"]
    assert result.lots[0].closed and result.lots[0].liability == 0


def test_example_b5_remote_same_path():
    pk = Pack("p", D("10000.00"), D(1000000), expires=day("2026-06-30"))
    result = b_run(B1_USED, pk)
    assert monthly(result, BREAKAGE) == {"2026-06": D("2000.00")}
    assert closing(result) == [D(x) for x in ("9000.00", "7500.00", "5500.00", "4000.00",
                                              "3400.00", "0.00")]


def test_usage_below_the_estimate_is_trued_up_at_expiry():
    # 700,000 used of 800,000 expected: 8,750.00 by usage, 1,250.00 trued up at expiry
    result = b_run([100000, 150000, 200000, 150000, 60000, 40000], prop_pack())
    assert sum(monthly(result, USAGE).values()) == D("7000.00")
    assert sum(monthly(result, BREAKAGE).values()) == D("3000.00")
    [exp] = [b for b in result.bookings if b.rule == "expiry"]
    assert exp.date == day("2026-06-30")
    assert -sum(leg.amount for leg in exp.legs if leg.account == BREAKAGE) == D("1250.00")
    assert closing(result)[-1] == 0


def test_usage_above_the_estimate_reverses_breakage_and_liability_stays_positive():
    # B2-like: 950,000 used; past 800,000 the whole price is earned, breakage reverses
    used = [300000, 300000, 250000, 100000, 0, 0]
    result = b_run(used, prop_pack())
    assert monthly(result, USAGE) == months(["3000", "3000", "2500", "1000"])
    # 3,750 / 3,750 / 2,500 (capped at 10,000) / 0: breakage 750, 750, 0, -1,000
    assert monthly(result, BREAKAGE)["2026-01"] == D("750.00")
    assert monthly(result, BREAKAGE)["2026-04"] == D("-1000.00")
    assert all(x >= 0 for x in closing(result))
    assert closing(result)[2] == D("0.00")
    assert sum(monthly(result, BREAKAGE).values()) == D("500.00")  # 50,000 expired


def test_revision_mid_life_is_a_catch_up_on_its_date():
    # 20% -> 10% on 2026-03-31 after 450,000 used: 5,625.00 -> 10,000 x 450/900 = 5,000.00
    rev = BreakageRevision(day("2026-03-31"), D("0.10"), "Controller", "Q1 cohorts")
    result = b_run(B1_USED, prop_pack(revisions=[rev]))
    [catch] = [b for b in result.bookings if b.rule == "breakage-revision"]
    assert catch.date == day("2026-03-31")
    assert -sum(leg.amount for leg in catch.legs if leg.account == BREAKAGE) == D("-625.00")
    assert catch.meta["rate_before"] == D("0.20") and catch.meta["rate_after"] == D("0.10")
    assert catch.meta["approved_by"] == "Controller"
    # March's usage (on the 10th) is posted at 20% first; the revision then takes
    # cumulative revenue to price x 450,000 / 900,000
    assert D("10000.00") - balance(result, DEFERRED, until="2026-03-31") == D("5000.00")
    assert sum(monthly(result, BREAKAGE).values()) == D("2000.00")  # still 200,000 expire
    up = BreakageRevision(day("2026-03-31"), D("0.25"), "Controller", "more breakage")
    result = b_run(B1_USED, prop_pack(revisions=[up]))
    [catch] = [b for b in result.bookings if b.rule == "breakage-revision"]
    # 10,000 x 450,000 / 750,000 = 6,000.00: +375.00
    assert -sum(leg.amount for leg in catch.legs if leg.account == BREAKAGE) == D("375.00")


def test_unapproved_revision_is_not_applied():
    rev = BreakageRevision(day("2026-03-31"), D("0.10"), None, "draft")
    result = b_run(B1_USED, prop_pack(revisions=[rev]))
    assert not [b for b in result.bookings if b.rule == "breakage-revision"]
    assert [n.rule for n in result.notices] == ["breakage-revision"]
    assert monthly(result, BREAKAGE) == months(["250", "375", "500", "375", "150", "350"])


# --- ASC 606 Example 5: 120 products at 100, 60 delivered, 30 added --------------------

def unit_contract(mod: Modification):
    # one credit = one product at face value 100.00 (credit_value 100, one token = 100)
    pk = Pack("p", D("12000.00"), D(120))
    return contract(packs={"p": pk}, credit_value=D("100"), modifications=(mod,))


def units(date: str, n: int):
    return usage(date, n * 10000)  # price book: 0.01 per token -> 100.00 per product


def test_example_5_case_a_separate_contract_at_ssp():
    mod = Modification("m", day("2026-04-01"), add_credits=D(30), price=D("2850.00"),
                       ssp=D("2850.00"), approved_by="Controller", approved_on=day("2026-03-30"))
    assert classify(mod).method == "separate"
    result = run(unit_contract(mod),
                 [units("2026-02-10", 60), units("2026-04-10", 60), units("2026-05-10", 30)],
                 [purchase("2026-01-01", "p", "12000.00"),
                  purchase("2026-04-01", "m", "2850.00")], as_of="2026-05-31")
    assert monthly(result, USAGE) == {"2026-02": D("6000.00"), "2026-04": D("6000.00"),
                                      "2026-05": D("2850.00")}
    assert sum(monthly(result, USAGE).values()) == D("14850.00")
    assert len(result.lots) == 2 and result.lots[1].price == D("2850.00")
    [memo] = [b for b in result.bookings if b.rule == "modification"]
    assert memo.meta["method"] == "separate" and "25-12" in memo.meta["reason"]


def test_example_5_case_b_prospective_with_past_credit():
    mod = Modification("m", day("2026-04-01"), add_credits=D(30), price=D("2400.00"),
                       ssp=D("2850.00"), past_credit=D("900.00"), approved_by="Controller",
                       approved_on=day("2026-03-30"), evidence="documents/m.pdf")
    how = classify(mod)
    assert how.method == "prospective" and "below SSP" in how.reason
    result = run(unit_contract(mod),
                 [units("2026-02-10", 60), units("2026-04-10", 30), units("2026-05-10", 30),
                  units("2026-06-10", 30)],
                 [purchase("2026-01-01", "p", "12000.00"),
                  purchase("2026-04-01", "m", "1500.00")], as_of="2026-06-30")
    assert monthly(result, USAGE) == {"2026-02": D("6000.00"), "2026-04": D("2800.00"),
                                      "2026-05": D("2800.00"), "2026-06": D("2800.00")}
    assert monthly(result, ADJ) == {"2026-04": D("-900.00")}
    total = sum(monthly(result, USAGE).values()) + sum(monthly(result, ADJ).values())
    assert total == D("13500.00")  # cash 12,000 + 1,500
    lot = result.lots[0]
    assert rate_of(lot) == Fraction(280, 3) and lot.liability == 0
    mods = [b for b in result.bookings if b.rule == "modification"]
    assert [b.date for b in mods] == [day("2026-04-01")] * 2
    credit, spread = mods
    assert credit.meta["evidence"] == "documents/m.pdf" and "m" in credit.links
    assert spread.meta["rate_after"] == "280/3 (93.333333)"
    assert balance(result, DEFERRED, until="2026-03-31") == D("6000.00")  # never restated


def test_example_7_prospective_price_decrease_70000_a_year():
    # year = 1 credit at 100,000; after 2 years, year 3 at 80,000 and 3 more for 200,000
    lot = Lot("l", "c", "p", D("300000.00"), Fraction(3), day("2026-01-01"), None)
    lot.draw(Fraction(2))
    assert recognize(lot).usage == D("200000.00")
    lot.reprice(D("-20000.00") + D("200000.00"), Fraction(3), "example 7")
    assert rate_of(lot) == Fraction(70000)
    posted = []
    for _ in range(4):
        lot.draw(Fraction(1))
        posted.append(recognize(lot).usage)
    assert posted == [D("70000.00")] * 4 and lot.posted_total.posted == D("480000.00")


def test_catch_up_and_pending_and_new_rates():
    mod = Modification("m", day("2026-04-01"), add_credits=D(30), price=D("2400.00"),
                       method="catch_up", approved_by="Controller", approved_on=day("2026-04-01"))
    result = run(unit_contract(mod), [units("2026-02-10", 60)],
                 [purchase("2026-01-01", "p", "12000.00"),
                  purchase("2026-04-01", "m", "2400.00")], as_of="2026-04-30")
    # 60 of 150 done at 14,400/150 = 96: cumulative 5,760.00, catch-up -240.00
    assert monthly(result, ADJ) == {"2026-04": D("-240.00")}
    pending = Modification("m", day("2026-04-01"), discount=D("0.5"))
    result = run(unit_contract(pending), [units("2026-04-10", 10)],
                 [purchase("2026-01-01", "p", "12000.00")], as_of="2026-04-30")
    assert monthly(result, USAGE) == {"2026-04": D("1000.00")}
    assert [n.meta["status"] for n in result.notices] == ["pending"]
    assert not [b for b in result.bookings if b.rule == "modification"]
    cheaper = Modification("m", day("2026-04-01"), discount=D("0.5"), approved_by="C",
                           approved_on=day("2026-03-31"))
    result = run(unit_contract(cheaper), [units("2026-03-10", 10), units("2026-04-10", 10)],
                 [purchase("2026-01-01", "p", "12000.00")], as_of="2026-04-30")
    # half the list price from the date: 5 products' worth of credits for 10
    assert monthly(result, USAGE) == {"2026-03": D("1000.00"), "2026-04": D("500.00")}


# --- estimation from history (reference §3.2, Example B0) -------------------------------

def test_example_b0_cohort_rates_weighted_and_simple():
    from tokenbooks.plugins.rules import breakage_history as bh
    sold = {"C1": 200000, "C2": 250000, "C3": 300000, "C4": 150000, "C5": 100000}
    unused = {"C1": 44000, "C2": 47500, "C3": 75000, "C4": 27000, "C5": 21000}
    items = [bh.Expired("x", k, ("standard", k, "2025-Q1"), Fraction(sold[k]),
                        Fraction(unused[k]), Fraction(1, 5)) for k in sold]
    rows = bh.cohorts(items)
    assert [r.weighted for r in rows] == [D("0.2200"), D("0.1900"), D("0.2500"), D("0.1800"),
                                          D("0.2100")]
    assert bh.overall(rows, items) == (D("0.2145"), D("0.2100"))
    assert [t.difference for t in bh.backtest(items)][0] == D("0.0200")  # 22% vs 20%


def test_history_from_expired_lots_of_a_run():
    from tokenbooks.plugins.rules import breakage_history as bh
    result = b_run([100000, 150000, 200000, 150000, 60000, 40000], prop_pack())
    [item] = bh.expired([("acme", lot) for lot in result.lots], {"acme": "enterprise"},
                        day("2026-07-31"))
    assert item.cohort == ("p", "enterprise", "2026-Q1")
    assert (item.sold, item.unused, item.applied) == (10000, 3000, Fraction(1, 5))
    [t] = bh.backtest([item])
    assert (t.applied, t.actual, t.difference) == (D("0.2000"), D("0.3000"), D("0.1000"))
    assert bh.expired([("acme", lot) for lot in result.lots], {}, day("2026-06-29")) == []


def test_catch_up_with_past_credit_and_expiry_change():
    mod = Modification("m", day("2026-04-01"), add_credits=D(30), price=D("2400.00"),
                       method="catch_up", past_credit=D("100.00"), approved_by="C",
                       approved_on=day("2026-04-01"))
    result = run(unit_contract(mod), [units("2026-02-10", 60)],
                 [purchase("2026-01-01", "p", "12000.00"),
                  purchase("2026-04-01", "m", "2400.00")], as_of="2026-04-30")
    # catch-up -240.00 (as above), then the credit for past usage -100.00
    assert monthly(result, ADJ) == {"2026-04": D("-340.00")}
    lot = result.lots[0]
    assert lot.liability == D("14400.00") - D("5660.00")
    later = Modification("e", day("2026-03-01"), expires=day("2026-03-31"), approved_by="C",
                         approved_on=day("2026-03-01"))
    result = run(unit_contract(later), [units("2026-02-10", 60)],
                 [purchase("2026-01-01", "p", "12000.00")], as_of="2026-04-30")
    [exp] = [b for b in result.bookings if b.rule == "expiry"]
    assert exp.date == day("2026-03-31")  # the changed expiry: the rest recognized then
    assert -sum(leg.amount for leg in exp.legs if leg.account == BREAKAGE) == D("6000.00")


def test_sample_quarter_shows_each_method_a_pending_one_and_a_revision():
    import json
    from pathlib import Path
    reports = Path(__file__).resolve().parents[1] / "ledgers" / "reports"
    rows = json.loads((reports / "2026-03" / "modifications.json").read_text())["rows"]
    trail = {r["modification"]: r for r in rows if r["section"] == "contract"}
    assert {trail[m]["method"] for m in ("acme-amend-1", "umbrella-amend-1",
                                         "umbrella-amend-2")} == {"separate", "prospective",
                                                                  "catch_up"}
    assert trail["globex-amend-1"]["approved"] == "PENDING"
    assert trail["globex-amend-1"]["revenue"] == "0.00" and not trail["globex-amend-1"]["links"]
    assert all(trail[m]["links"] and trail[m]["evidence"] for m in ("acme-amend-1",
                                                                    "umbrella-amend-2"))
    assert trail["umbrella-amend-2"]["revenue"] != "0.00"  # catch-up and past credit
    january = json.loads((reports / "2026-01" / "breakage.json").read_text())["rows"]
    assert any(r.get("kind") == "breakage-revision" for r in january)
