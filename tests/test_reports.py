"""The reports library over a loaded book: the months it knows, the figures of a month
computed once, a customer's share of each, and the checks it runs by itself."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from favakit import PERIODS, closed_sample, loaded_sample  # noqa: F401

from tokenbooks.plugins import reports
from tokenbooks.plugins.reports import checks, profitability, rollforward
from tokenbooks.plugins.rules import reconcile


@pytest.fixture(scope="module")
def ledger(loaded_sample) -> reports.Ledger:  # noqa: F811
    entries, options = loaded_sample
    return reports.Ledger(entries, options)


def test_the_months_and_closes_of_the_book(ledger: reports.Ledger) -> None:
    assert ledger.periods == list(PERIODS)
    assert ledger.first_period == "2026-01"
    assert sorted(ledger.closes) == list(PERIODS)
    assert ledger.month("2026-02") is ledger.month("2026-02")
    with pytest.raises(ValueError, match="expected a month YYYY-MM"):
        ledger.month("2026-Q1")


def test_a_months_figures_are_computed_once(ledger: reports.Ledger) -> None:
    month = ledger.month("2026-03")
    assert rollforward.report(month) is rollforward.report(month)
    assert profitability.of_month(month) is profitability.of_month(month)
    assert month.lots is month.lots


def test_a_customers_share_is_its_row_of_the_whole(ledger: reports.Ledger) -> None:
    month = ledger.month("2026-03")
    whole = {line.customer: line for line in rollforward.report(month).lines}
    for customer in ("acme", "umbrella"):
        only = rollforward.report(month, {customer})
        assert [line.customer for line in only.lines] == [customer, "(total)"]
        assert only.total.closing == whole[customer].closing
        assert only.total.gl_closing == whole[customer].gl_closing
        assert only.total.subledger_closing == whole[customer].subledger_closing
        assert only.total.revenue_total == whole[customer].revenue_total
    mine = profitability.of_month(month, {"acme"})
    everyone = {x.name: x for x in profitability.of_month(month).customers}
    assert [x.name for x in mine.customers] == ["acme"]
    assert mine.total.revenue_total == everyone["acme"].revenue_total
    assert mine.total.cogs == everyone["acme"].cogs


def test_the_checks_of_a_book_name_what_they_did_not_run(ledger: reports.Ledger) -> None:
    table = reports.build("checks", ledger.month("2026-02"))
    status = {row["check"]: row["status"] for row in table.rows}
    assert status == {"usage completeness": "not run", "unbilled": "ok", "invoices": "ok",
                      "cogs": "ok", "rollforward": "ok", "clearing": "ok"}
    recorded = checks.recorded(ledger.root, "2026-02")
    assert recorded is not None
    assert {row["check"]: row["status"] for row in recorded.rows}["usage completeness"] == "ok"
    assert checks.recorded(ledger.root, "2031-01") is None


def test_the_invoices_check_counts_the_months_own_invoices(ledger: reports.Ledger) -> None:
    # every month of the sample is invoiced; the check of January counts January's
    details = {period: checks.invoices(ledger.month(period)).detail for period in PERIODS}
    # (and lumen's EUR overage in January and March, once the sample has its usage:
    # docs/currency.md)
    eur = 1 if "lumen" in {e.meta.get("customer") for e in ledger.transactions} else 0
    assert details["2026-01"].startswith(f"{3 + eur} invoice(s) for 2026-01")
    # March: globex, initech, and umbrella's modification bought without a payment (a
    # receivable booked before any invoice, billed on the month's invoice)
    assert details["2026-03"].startswith(f"{3 + eur} invoice(s) for 2026-03")
    ids = [("INV-1", "a", "2026-01"), ("INV-2", "b", "2026-01"), ("INV-3", "a", "2026-02")]
    assert reconcile.invoices(ids, "2026-01").detail.startswith("2 invoice(s) for 2026-01")
    twice = reconcile.invoices([*ids, ("INV-1", "a", "2026-01")], "2026-01")
    assert not twice.ok and twice.failures == ["invoice INV-1 is in the book 2 times "
                                               "(issued twice)"]


def test_revenue_by_model_is_the_postings_own_split(ledger: reports.Ledger) -> None:
    month = ledger.month("2026-01")
    result = profitability.of_month(month)
    said = Decimal("0.00")
    for entry in month.transactions:
        for posting in entry.postings:
            if posting.account.startswith("Income:Revenue:") and (posting.meta or {}).get(
                    "model") == "gpt-4o":
                # a EUR contract's in USD at its rate, to the cent (docs/currency.md)
                price = posting.price.number if posting.price else 1
                said -= (posting.units.number * price).quantize(Decimal("0.01"),
                                                                ROUND_HALF_UP)
    assert {x.name: x for x in result.models}["gpt-4o"].revenue_total == said
