"""Recurring credit allowances: fee, rollover cap or expiry, shared or per-user credits."""

from __future__ import annotations

import textwrap
from decimal import Decimal

from enginekit import balance, contract, day, monthly, pack, purchase, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import Allowance, Overage

D = Decimal
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
UNBILLED = accounts.unbilled("acme")
DEFERRED = accounts.deferred_revenue("acme")
RECEIVABLE = accounts.receivable("acme")


def test_allowance_without_rollover_expires_each_month():
    c = contract(billing="arrears", allowance=Allowance(D(100000), fee=D("500.00")))
    result = run(c, [usage("2026-01-10", 60000), usage("2026-02-10", 100000)],
                 as_of="2026-02-28")
    fees = [b for b in result.bookings if b.rule == "allowance"]
    assert [(b.date, b.meta["lot"]) for b in fees] == [
        (day("2026-01-01"), "c1.allowance.2026-01"), (day("2026-02-01"), "c1.allowance.2026-02")]
    assert balance(result, RECEIVABLE) == D("1000.00")
    # 60,000 of 100,000 credits for 500.00 -> 300.00; 40,000 expire on 01-31 -> 200.00
    assert monthly(result, USAGE) == {"2026-01": D("300.00"), "2026-02": D("500.00")}
    assert monthly(result, BREAKAGE) == {"2026-01": D("200.00")}
    assert balance(result, DEFERRED) == 0  # both fees recognized by the end of February


def test_rollover_up_to_the_cap():
    c = contract(billing="arrears",
                 allowance=Allowance(D(100000), fee=D("500.00"), rollover=D(30000)))
    result = run(c, [usage("2026-01-10", 60000), usage("2026-02-10", 120000)],
                 as_of="2026-03-31")
    # 01-31: 40,000 left, 10,000 above the cap forfeited (50.00 of breakage)
    # 03-31: February's 10,000 rolled credits expire (50.00) and March's unused 100,000
    # are trimmed to the cap (70,000 forfeited: 350.00)
    assert monthly(result, BREAKAGE) == {"2026-01": D("50.00"), "2026-03": D("400.00")}
    # February draws January's 30,000 first (earliest expiry, 02-28): 150.00, then
    # 90,000 of February's: 450.00
    assert monthly(result, USAGE) == {"2026-01": D("300.00"), "2026-02": D("600.00")}
    assert balance(result, DEFERRED, lot="c1.allowance.2026-02") == 0
    expiries = [(b.date, b.meta["lot"]) for b in result.bookings if b.rule == "expiry"]
    assert expiries == [(day("2026-01-31"), "c1.allowance.2026-01"),
                        (day("2026-03-31"), "c1.allowance.2026-02"),
                        (day("2026-03-31"), "c1.allowance.2026-03")]
    march = [lot for lot in result.lots if lot.id == "c1.allowance.2026-03"][0]
    # usable through April 30: its expiry is May 1, the first day it cannot be used
    assert march.remaining == 30000 and march.expires == day("2026-05-01")


def test_usage_past_the_allowance_is_invoiced_in_arrears():
    c = contract(billing="arrears", allowance=Allowance(D(1000), fee=D("5.00")))
    result = run(c, [usage("2026-01-10", 1500)], as_of="2026-01-31")
    assert balance(result, UNBILLED) == D("5.00")  # 500 credits x 0.01
    assert monthly(result, USAGE) == {"2026-01": D("10.00")}


def test_per_user_limit_treats_the_credits_as_run_out_for_that_user():
    c = contract(billing="arrears",
                 allowance=Allowance(D(100000), fee=D("1000.00"), per_user=D(20000)))
    used = [usage("2026-01-10", 30000, user="ann"), usage("2026-01-10", 10000, user="bob"),
            usage("2026-01-11", 5000, user="bob"), usage("2026-01-12", 40000)]
    result = run(c, used, as_of="2026-01-20")
    # ann: 20,000 from credits, 10,000 past her limit (100.00 invoiced); bob: 15,000;
    # no user: shared, 40,000 -> 75,000 drawn at 0.01 = 750.00
    assert balance(result, UNBILLED) == D("100.00")
    assert balance(result, DEFERRED) == D("-1000.00") + D("750.00")


def test_per_user_limit_with_hard_stop_blocks_that_user_only():
    c = contract(packs={"p": pack("p", "1000.00", 100000)}, overage=Overage("hard_stop"),
                 allowance=Allowance(D(10), per_user=D(20000)))
    used = [usage("2026-01-10", 30000, user="ann", events=30), usage("2026-01-10", 10000,
                                                                     user="bob")]
    result = run(c, used, [purchase("2026-01-01", "p", "1000.00")], as_of="2026-01-31")
    assert result.blocked_events == 10
    assert balance(result, UNBILLED) == 0


def test_allowance_yaml_is_loaded_and_checked(tmp_path):
    (tmp_path / "price-books").mkdir()
    (tmp_path / "customers").mkdir()
    (tmp_path / "price-books" / "list.yaml").write_text(textwrap.dedent("""\
        id: list
        currency: USD
        versions:
          - effective: 2026-01-01
            models: {m: {input: 1.00, output: 2.00}}
        """))
    customer = textwrap.dedent("""\
        customer: team
        name: Team Co
        contracts:
          - id: team-2026
            start: 2026-01-01
            currency: USD
            billing: arrears
            price_book: list
            credit_value: 0.01
            allowance:
              credits: 100000
              period: month
              fee: 500.00
              rollover: 50000
              per_user: 20000
        """)
    (tmp_path / "customers" / "team.yaml").write_text(customer)
    contracts, errors = load_contracts(tmp_path)
    assert errors == []
    allowance = contracts.customers["team"].contracts[0].allowance
    assert allowance == Allowance(D(100000), "month", D("500.00"), D(50000), D(20000))
    bad = customer.replace("credits: 100000", "credits: 0").replace("    credit_value: 0.01\n", "")
    (tmp_path / "customers" / "team.yaml").write_text(bad)
    _, errors = load_contracts(tmp_path)
    messages = " | ".join(str(e) for e in errors)
    assert "allowance.credits" in messages
    (tmp_path / "customers" / "team.yaml").write_text(customer.replace(
        "    credit_value: 0.01\n", ""))
    _, errors = load_contracts(tmp_path)
    assert any("credit_value" in str(e) and "allowance" in str(e) for e in errors)
