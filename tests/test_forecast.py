"""Forecast of an open month: projection, run-out dates and expected breakage checked by
hand on a small book; the day-of-week pattern on plain numbers; the command."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from click.testing import CliRunner
from pricinglab_kit import contracts, load, purchase, usage, write_book

from tokenbooks.plugins.reports import forecast
from tokenbooks.plugins.rules import forecasting
from tokenbooks.scripts.cli import cli

D = Decimal
day = datetime.date.fromisoformat

PRE = """\
customer: pre
name: Pre Co
contracts:
  - id: pre-2026
    start: 2026-01-01
    currency: USD
    billing: prepaid
    price_book: list
    credit_value: 0.01
    packs:
      standard: {price: 100.00, credits: 10000, expires_after: 12 months}
    overage: {policy: invoice, multiplier: 1.5}
"""
HOL = """\
customer: hol
name: Hol Co
contracts:
  - id: hol-2026
    start: 2026-01-01
    currency: USD
    billing: prepaid
    price_book: list
    credit_value: 0.01
    packs:
      standard:
        price: 100.00
        credits: 10000
        expires: 2026-02-28
        breakage: {method: proportional, rate: 0.20, approved_by: "A. Controller"}
    overage: {policy: hard_stop}
"""


def small_book(root: Path) -> Path:
    contracts(root, {"pre": PRE, "hol": HOL})
    body = purchase("2026-01-01", "pre", "standard", "100.00", 10000, "2027-01-01", "p1")
    body += purchase("2026-01-01", "hol", "standard", "100.00", 10000, "2026-02-28", "p2")
    for n in range(1, 11):  # Jan 1..10: pre 200,000 input tokens = 2.00 (200 credits) a
        # day, hol 100,000 = 1.00 (100 credits)
        body += usage(f"2026-01-{n:02d}", "pre", "m", 200_000)
        body += usage(f"2026-01-{n:02d}", "hol", "m", 100_000)
    return write_book(root, body)


def test_run_out_and_expected_breakage_by_hand(tmp_path: Path) -> None:
    result = forecast.forecast(load(small_book(tmp_path)), "2026-01")
    assert (result.as_of, result.elapsed, result.days) == (day("2026-01-10"), 10, 31)
    by = {c.customer: c for c in result.customers}
    pre, hol = by["pre"], by["hol"]
    # no trailing months: the run rate, 20.00 over 10 days -> 62.00 for 31 days
    assert (pre.to_date, pre.run_rate, pre.projected, pre.method) == (
        D("20.00"), D("62.00"), D("62.00"), "run rate")
    # 8,000 credits left at 200 a day: Jan 11 .. Feb 19 (40 days), short on Feb 20
    assert pre.credits_left == D("8000.00") and pre.run_out == day("2026-02-20")
    assert pre.consequence == ("invoice: usage from 2026-02-20 invoiced as overage at list "
                               "x 1.5")
    # overage expected in February: Feb 20..28, 9 days x 2.00 x 1.5 = 27.00; none in Jan;
    # March 31 x 3.00 = 93.00
    assert pre.burn is not None and "2026-01" not in pre.burn.overage
    assert pre.burn.overage["2026-02"] == 27 and pre.burn.overage["2026-03"] == 93
    assert pre.projected_invoice == 0
    # hol: proportional, 20% expected unused: 8,000 credits expected used. To date 1,000
    # used: revenue 100 x 1,000 / 8,000 = 12.50, face 10.00, breakage 2.50 (booked).
    # End of Jan: 3,100 used -> 38.75 - 31.00 = 7.75: January's expected 5.25.
    # Feb 27: 5,800 used; the lot expires on Feb 28 (not usable that day, docs/expiry.md):
    # 100.00 - 58.00 = 42.00: February's 34.25.
    assert hol.credits_left == D("9000.00")
    assert result.breakage == {("2026-01", "hol"): D("5.25"), ("2026-02", "hol"): D("34.25")}
    # no credits on Feb 28, its expiry date: a hard stop from that day
    assert hol.run_out == day("2026-02-28")
    assert hol.consequence == "hard_stop: usage blocked from 2026-02-28 until a pack is bought"
    assert result.horizon[0] == "2026-01" and result.horizon[-1] == "2026-12"


def test_an_earlier_day_runs_the_engine_to_it(tmp_path: Path) -> None:
    ledger = load(small_book(tmp_path))
    result = forecast.forecast(ledger, "2026-01", as_of=day("2026-01-05"))
    pre = {c.customer: c for c in result.customers}["pre"]
    # 5 days x 200 credits used: 9,000 left, 45 days at 200 (Jan 6..31 is 26, Feb 1..19
    # is 19): short on Feb 20, as from Jan 10 at the same rate
    assert (pre.to_date, pre.credits_left, pre.run_out) == (D("10.00"), D("9000.00"),
                                                            day("2026-02-20"))
    assert pre.projected == D("62.00")
    assert ledger.revenue.as_of == day("2026-01-10")  # the load's run is left alone


def test_day_of_week_pattern() -> None:
    # trailing: 4 weeks, weekdays 6.00 and weekends 1.50: mean 4.714..., factors
    # weekdays 6 / (33/7) = 14/11, weekend 1.5 / (33/7) = 7/22
    first = day("2026-01-05")  # a Monday
    days = forecasting.days_between(first, first + datetime.timedelta(days=27))
    daily = {d: Fraction(6) if d.weekday() < 5 else Fraction(3, 2) for d in days}
    factors = forecasting.weekday_factors(daily, days)
    assert factors == (*(Fraction(14, 11),) * 5, Fraction(7, 22), Fraction(7, 22))
    # a month to date Mon..Wed worth 36.00: level 36 / (3 x 14/11) = 66/7; a Saturday
    # left adds 66/7 x 7/22 = 3
    elapsed = forecasting.days_between(day("2026-02-02"), day("2026-02-04"))
    p = forecasting.pattern(36, elapsed, factors)
    assert p.method == "day-of-week" and p.on(day("2026-02-07")) == 3
    assert forecasting.project(36, [day("2026-02-07"), day("2026-02-08")], p) == 42
    assert forecasting.weekday_factors(daily, days[:13]) is None  # too little history
    assert forecasting.run_rate(20, 10, 31) == 62


def test_the_report_command(tmp_path: Path) -> None:
    ledger = small_book(tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "forecast", "--ledger", str(ledger), "--period",
                              "2026-01", "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    rows = {r["customer"]: r for r in doc["rows"] if r["section"] == "customers"}
    assert rows["pre"]["run_out"] == "2026-02-20" and rows["pre"]["projected_value"] == "62.00"
    text = runner.invoke(cli, ["report", "forecast", "--ledger", str(ledger), "--period",
                               "2026-01"])
    assert text.exit_code == 0 and "Forecast 2026-01 as of 2026-01-10" in text.output
    bad = runner.invoke(cli, ["report", "forecast", "--ledger", str(ledger), "--period",
                              "2026-01", "--as-of", "2026-02-03"])
    assert bad.exit_code == 2 and "not in the month" in bad.output


TIE = """\
customer: tie
name: Tie Co
contracts:
  - id: tie-2026
    start: 2026-01-01
    currency: USD
    billing: arrears
    price_book: list
    tiers:
      mode: graduated
      period: month
      bands: [{up_to: 10.00, multiplier: 1.0}, {up_to: null, multiplier: 0.5}]
"""


def test_an_arrears_invoice_is_projected_through_its_monthly_tiers(tmp_path: Path) -> None:
    contracts(tmp_path, {"tie": TIE})
    body = "".join(usage(f"2026-01-{n:02d}", "tie", "m", 200_000) for n in range(1, 11))
    result = forecast.forecast(load(write_book(tmp_path, body)), "2026-01")
    [tie] = result.customers
    # 2.00 a day for 10 days: 20.00 of value, billed 10.00 + 10.00 x 0.5 = 15.00; the run
    # rate gives 62.00 for the month, billed 10.00 + 52.00 x 0.5 = 36.00 (not 15 x 62/20
    # = 46.50, which ignores the band the month reaches)
    assert (tie.to_date, tie.projected, tie.invoice_to_date) == (D("20.00"), D("62.00"),
                                                                 D("15.00"))
    assert tie.projected_invoice == D("36.00")
