"""Arrears billing, minimum commitments (D1, D1b, ratable, proportional) and tiers."""

from __future__ import annotations

from decimal import Decimal

from enginekit import balance, book, contract, day, monthly, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import Band, Commitment, Tiers
from tokenbooks.plugins.rules.tiers import tiered

D = Decimal
USAGE = accounts.REVENUE_USAGE
COMMITMENT = accounts.REVENUE_COMMITMENT
BREAKAGE = accounts.REVENUE_BREAKAGE
UNBILLED = accounts.unbilled("acme")
DEFERRED = accounts.deferred_revenue("acme")
CONTRACT_ASSETS = accounts.contract_assets("acme")


def arrears(**kw):
    return contract(billing="arrears", credit_value=None, **kw)


def dollars(date: str, amount: str, **kw):
    """Usage worth ``amount`` at the test book's 0.01 per token."""
    return usage(date, int(D(amount) * 100), **kw)


def revenue(result) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for account in (USAGE, COMMITMENT, BREAKAGE, accounts.REVENUE_ACTIONS):
        for month, amount in monthly(result, account).items():
            out[month] = out.get(month, D(0)) + amount
    return {m: a for m, a in out.items() if a}


def test_arrears_usage_against_unbilled():
    # 0.0005 per token: 12.345 on 01-05 and 0.005 on 01-06; by day 12.35 then 0.00
    prices = book(("2026-01-01", "0.0005"))
    used = [usage("2026-01-05", 24690), usage("2026-01-06", 10)]
    result = run(arrears(), used, as_of="2026-01-31", price_book=prices)
    assert monthly(result, USAGE) == {"2026-01": D("12.35")}
    assert balance(result, UNBILLED) == D("12.35")
    by_day = run(arrears(), used, as_of="2026-01-31", price_book=prices, posting="day")
    assert [(b.date, leg.amount, b.meta["usage_entries"]) for b in by_day.bookings
            for leg in b.legs if leg.account == UNBILLED] == [
        (day("2026-01-05"), D("12.35"), 1), (day("2026-01-06"), D("0.00"), 1)]


def test_d1_remote_shortfall_is_commitment_revenue():
    c = arrears(commitment=Commitment(D("5000.00")))
    result = run(c, [dollars("2026-01-10", "4200"), dollars("2026-02-10", "6100")],
                 as_of="2026-02-28")
    assert revenue(result) == {"2026-01": D("5000.00"), "2026-02": D("6100.00")}
    assert monthly(result, COMMITMENT) == {"2026-01": D("800.00")}
    assert monthly(result, USAGE) == {"2026-01": D("4200.00"), "2026-02": D("6100.00")}
    assert balance(result, UNBILLED) == D("11100.00")  # invoices 5,000 + 6,100
    [jan] = [b for b in result.bookings if b.rule == "commitment"]
    assert jan.date == day("2026-01-31") and jan.meta["shortfall"] == D("800.00")


def test_d1b_carryover_of_unused_minimum():
    c = arrears(commitment=Commitment(D("5000.00"), carryover=True))
    result = run(c, [dollars("2026-01-10", "4200"), dollars("2026-02-10", "6100")],
                 as_of="2026-02-28")
    assert revenue(result) == {"2026-01": D("4200.00"), "2026-02": D("6100.00")}
    assert monthly(result, UNBILLED.replace("Assets", "Assets")) == {
        "2026-01": D("5000.00"), "2026-02": D("5300.00")}  # the invoices
    assert balance(result, DEFERRED, until="2026-01-31") == D("-800.00")  # CL 800
    assert balance(result, DEFERRED) == 0


def test_d1b_carryover_lapses_as_breakage():
    c = arrears(commitment=Commitment(D("5000.00"), carryover=True))
    result = run(c, [dollars("2026-01-10", "4200"), dollars("2026-02-10", "5500")],
                 as_of="2026-02-28")
    # 500 of the 800 applied against February's usage beyond 5,000; 300 lapses
    assert monthly(result, BREAKAGE) == {"2026-02": D("300.00")}
    assert revenue(result) == {"2026-01": D("4200.00"), "2026-02": D("5800.00")}
    assert monthly(result, UNBILLED) == {"2026-01": D("5000.00"), "2026-02": D("5000.00")}
    assert balance(result, DEFERRED) == 0


def test_carryover_in_the_last_period_is_revenue():
    c = arrears(commitment=Commitment(D("5000.00"), carryover=True), end=day("2026-01-31"))
    result = run(c, [dollars("2026-01-10", "4200")], as_of="2026-01-31")
    assert monthly(result, COMMITMENT) == {"2026-01": D("800.00")}


def test_ratable_minimum_spread_over_the_period():
    c = arrears(commitment=Commitment(D("5000.00"), method="ratable"))
    used = [dollars("2026-01-10", "4200"), dollars("2026-02-10", "6100")]
    result = run(c, used, as_of="2026-02-28")
    assert revenue(result) == {"2026-01": D("5000.00"), "2026-02": D("6100.00")}
    assert monthly(result, USAGE) == {"2026-02": D("1100.00")}
    by_day = run(c, used, as_of="2026-02-28", posting="day")
    assert revenue(by_day) == revenue(result)
    # by day, on 2026-01-10 ten of 31 days of the minimum are recognized
    assert -sum(leg.amount for b in by_day.bookings if b.date <= day("2026-01-10")
                for leg in b.legs if leg.account == COMMITMENT) == D("1612.90")


def test_proportional_minimum_with_contract_assets():
    c = arrears(commitment=Commitment(D("5000.00"), method="proportional",
                                      expected_usage=D("4000.00")))
    used = [dollars("2026-01-10", "2000"), dollars("2026-01-20", "2200"),
            dollars("2026-02-10", "6100")]
    result = run(c, used, as_of="2026-02-28", posting="day")
    # 1.25 of revenue per unit of usage: 2,000 -> 2,500 (500 ahead of billing)
    assert balance(result, CONTRACT_ASSETS, until="2026-01-10") == D("500.00")
    # 4,200 -> min(5,000, 5,250) = 5,000; the 800 shortfall is billed, the asset cleared
    assert revenue(result) == {"2026-01": D("5000.00"), "2026-02": D("6100.00")}
    assert balance(result, CONTRACT_ASSETS, until="2026-01-31") == 0
    assert monthly(result, UNBILLED) == {"2026-01": D("5000.00"), "2026-02": D("6100.00")}
    monthly_run = run(c, used, as_of="2026-02-28")
    assert revenue(monthly_run) == revenue(result)


def test_tiers_reference_example_graduated_and_volume():
    bands = (Band(D("10000.00"), D("1.0")), Band(None, D("0.8")))
    graduated = arrears(tiers=Tiers("graduated", "month", bands))
    # 1,500,000 credits at 0.01 = 15,000 of list value -> 10,000 + 4,000
    used = [dollars("2026-01-05", "6000"), dollars("2026-01-25", "9000"),
            dollars("2026-02-05", "1000")]
    assert monthly(run(graduated, used, as_of="2026-02-28"), USAGE) == {
        "2026-01": D("14000.00"), "2026-02": D("1000.00")}
    volume = arrears(tiers=Tiers("volume", "month", bands))
    assert monthly(run(volume, used, as_of="2026-02-28"), USAGE) == {
        "2026-01": D("12000.00"), "2026-02": D("1000.00")}
    by_day = run(volume, used, as_of="2026-02-28", posting="day")
    assert monthly(by_day, USAGE) == {"2026-01": D("12000.00"), "2026-02": D("1000.00")}


def test_tiered_function():
    from fractions import Fraction
    bands = Tiers("graduated", "month", (Band(D(100), D(1)), Band(D(200), D("0.5")),
                                         Band(None, D("0.25"))))
    assert tiered(bands, Fraction(50)) == 50
    assert tiered(bands, Fraction(150)) == 125
    assert tiered(bands, Fraction(400)) == 100 + 50 + 50
    assert tiered(None, Fraction(7, 3)) == Fraction(7, 3)


def test_year_tier_period():
    bands = (Band(D("100.00"), D("1.0")), Band(None, D("0.5")))
    c = arrears(tiers=Tiers("graduated", "year", bands))
    result = run(c, [dollars("2026-01-05", "80"), dollars("2026-02-05", "80")],
                 as_of="2026-02-28")
    assert monthly(result, USAGE) == {"2026-01": D("80.00"), "2026-02": D("50.00")}
