"""Retroactive volume tiers (docs/variable-consideration.md): variable consideration
estimated at the band of the expected volume (ASC 606-10-32-5..14, Example 24), a
revised estimate as a cumulative catch-up, and the period's settlement at the actual
band; to the cent. One token is 0.01 of list value (enginekit's price book)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from enginekit import balance, contract, day, monthly, run, usage
from pricinglab_kit import contracts, write_book

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import Band, TierRevision, Tiers
from tokenbooks.plugins.rules.tiers import band_multiplier, estimated
from tokenbooks.scripts import loading

D = Decimal
USAGE = accounts.REVENUE_USAGE
UNBILLED = accounts.unbilled("acme")
BANDS = (Band(D("100000.00"), D("1.0")), Band(D("250000.00"), D("0.9")), Band(None, D("0.8")))
CONTROLLER = "M. Chen, Controller"


def tiers(expected: str = "120000.00", revisions=()) -> Tiers:
    return Tiers("volume", "year", BANDS, retroactive=True, expected_volume=D(expected),
                 approved_by=CONTROLLER, revisions=tuple(revisions))


def year_of_usage() -> list:
    # 10,000.00 of list value a month to June (60,000.00), then 30,000.00 a month
    # (180,000.00): 240,000.00 in the year, in the 0.9 band
    return ([usage(f"2026-{m:02d}-15", 1_000_000) for m in range(1, 7)]
            + [usage(f"2026-{m:02d}-15", 3_000_000) for m in range(7, 13)])


def test_bands() -> None:
    t = tiers()
    assert band_multiplier(t, 120000) == D("0.9") and band_multiplier(t, 300000) == D("0.8")
    assert estimated(t, 60000, 120000) == 54000


def test_a_year_revised_mid_year_and_settled_at_year_end() -> None:
    # Estimate 120,000.00 (band 0.9): January to June 9,000.00 a month (54,000.00).
    # Revised on 07-01 to 300,000.00 (band 0.8): catch-up 60,000 x (0.8 - 0.9) =
    # -6,000.00 that day, its own entry. July to December at 0.8: 24,000.00 a month
    # (144,000.00). Year-end: actual 240,000.00 (band 0.9): true-up 240,000 x 0.1 =
    # 24,000.00 on 12-31. The year: 54,000 - 6,000 + 144,000 + 24,000 = 216,000.00 =
    # 240,000 x 0.9.
    revision = TierRevision(day("2026-07-01"), D("300000.00"), CONTROLLER, "H1 pipeline")
    result = run(contract(billing="arrears", tiers=tiers(revisions=[revision])),
                 year_of_usage(), as_of="2026-12-31")
    assert monthly(result, USAGE, "usage") == {
        **{f"2026-{m:02d}": D("9000.00") for m in range(1, 7)},
        **{f"2026-{m:02d}": D("24000.00") for m in range(7, 13)}}
    [catch_up] = [b for b in result.bookings if b.rule == "tier-revision"]
    assert catch_up.date == day("2026-07-01")
    assert monthly(result, USAGE, "tier-revision") == {"2026-07": D("-6000.00")}
    assert (catch_up.meta["multiplier_before"], catch_up.meta["multiplier_after"]) == (
        D("0.9"), D("0.8"))
    assert catch_up.meta["approved_by"] == CONTROLLER
    [true_up] = [b for b in result.bookings if b.rule == "tier-true-up"]
    assert true_up.date == day("2026-12-31")
    assert true_up.meta["actual_volume"] == D("240000.00")
    assert monthly(result, USAGE, "tier-true-up") == {"2026-12": D("24000.00")}
    assert balance(result, UNBILLED) == D("216000.00")


def test_an_open_period_stays_at_the_estimate() -> None:
    result = run(contract(billing="arrears", tiers=tiers()), year_of_usage(),
                 as_of="2026-09-30")
    # 60,000 + 90,000 = 150,000.00 of list value at 0.9: 135,000.00; no true-up yet
    assert balance(result, UNBILLED) == D("135000.00")
    assert not [b for b in result.bookings if b.rule == "tier-true-up"]


def test_the_next_year_starts_at_the_estimate_in_force() -> None:
    usages = year_of_usage() + [usage("2027-01-15", 1_000_000)]
    result = run(contract(billing="arrears", tiers=tiers()), usages, as_of="2027-01-31")
    # 2026: 240,000 x 0.9 (the estimate's band was right: a true-up of 0.00, booked as
    # the settlement's evidence); January 2027: 10,000.00 at 0.9 = 9,000.00
    [true_up] = [b for b in result.bookings if b.rule == "tier-true-up"]
    assert true_up.date == day("2026-12-31") and all(not leg.amount for leg in true_up.legs)
    assert monthly(result, USAGE)["2027-01"] == D("9000.00")
    assert balance(result, UNBILLED) == D("225000.00")


def test_a_revision_without_approval_is_a_warning_and_not_applied() -> None:
    revision = TierRevision(day("2026-07-01"), D("300000.00"))
    result = run(contract(billing="arrears", tiers=tiers(revisions=[revision])),
                 year_of_usage(), as_of="2026-12-31")
    assert [n.rule for n in result.notices] == ["tier-revision"]
    assert "has no approved_by: not applied" in result.notices[0].message
    assert not [b for b in result.bookings if b.rule == "tier-revision"]
    [true_up] = [b for b in result.bookings if b.rule == "tier-true-up"]
    assert all(not leg.amount for leg in true_up.legs)  # the estimate's band was right
    assert balance(result, UNBILLED) == D("216000.00")


def test_rounding_and_posting_grain() -> None:
    # 6,172.84 of list value (617,284 tokens) on 01-10 at 0.9: 5,555.556, posted 5,555.56.
    # Revised on 01-20 to 300,000.00 (band 0.8): cumulative 6,172.84 x 0.8 = 4,938.272,
    # posted 4,938.27: a catch-up of -617.29 (cumulative rounding, not -617.284 rounded).
    # 6,172.83 more on 01-25: January 12,345.67 x 0.8 = 9,876.536 -> 9,876.54.
    revision = TierRevision(day("2026-01-20"), D("300000.00"), CONTROLLER)
    usages = [usage("2026-01-10", 617_284), usage("2026-01-25", 617_283)]
    by_month = run(contract(billing="arrears", tiers=tiers(revisions=[revision])), usages,
                   as_of="2026-01-31")
    by_day = run(contract(billing="arrears", tiers=tiers(revisions=[revision])), usages,
                 as_of="2026-01-31", posting="day")
    assert monthly(by_month, USAGE) == monthly(by_day, USAGE) == {"2026-01": D("9876.54")}
    assert monthly(by_month, USAGE, "tier-revision") == {"2026-01": D("-617.29")}


BAD = """\
customer: acme
name: Acme
contracts:
  - id: acme-2026
    start: 2026-01-01
    currency: USD
    billing: arrears
    price_book: list
    tiers:
      mode: {mode}
      period: year
      retroactive: true
      expected_volume: {expected}
      bands:
        - {{up_to: 100000.00, multiplier: 1.0}}
        - {{up_to: null, multiplier: 0.9}}
"""


def errors_of(tmp_path: Path, text: str) -> list[str]:
    contracts(tmp_path, {"acme": text})
    ledger = write_book(tmp_path, '2026-01-31 custom "tokenbooks" "note" "end"\n')
    _, errors, _ = loading.load(ledger)
    return [f"{e.source.get('lineno')}: {e.message}" for e in errors]


def test_a_non_numeric_expected_volume_is_an_error_at_its_line(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BAD.format(mode="volume", expected="lots"))
    assert any(e.startswith("13: ") and "tiers.expected_volume: expected a number, got "
               "'lots'" in e for e in errors), errors


def test_retroactive_needs_volume_mode(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BAD.format(mode="graduated", expected="120000.00"))
    assert any(e.startswith("12: ") and "expected mode 'volume' with retroactive" in e
               for e in errors), errors
