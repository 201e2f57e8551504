"""The pure cost rules: exact cost, provider and alias resolution, cumulative rounding."""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from cogs_book import make_contracts
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.rules.bills import BillLine, collect, settle
from tokenbooks.plugins.rules.cogs import (
    CostInput,
    attribute,
    attributed_by_provider,
    exact_cost,
    exact_text,
    resolve_model,
)
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ModelRates
from tokenbooks.plugins.rules.records import Usage
from tokenbooks.plugins.rules.rounding import to_cent

D = datetime.date


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    contracts, errors = load_contracts(make_contracts(tmp_path_factory.mktemp("c")))
    assert errors == []
    return contracts


def use(day: D, model: str, feature: str = "chat", customer: str = "acme", **counts) -> CostInput:
    workflow = counts.pop("workflow", "")
    return CostInput(Usage(date=day, customer=customer, model=model, feature=feature,
                           ref=f"t:{day}:{model}:{feature}", **counts), workflow)


def test_worked_example_of_the_reference_gpt_5_mini():
    # usage-formats.md section 8: 186 uncached + 1,024 cached input, 325 output = $0.0007221
    rates = ModelRates(Decimal("0.25"), Decimal("0.025"), Decimal("2.00"))
    usage = Usage(date=D(2026, 1, 1), customer="a", model="gpt-5-mini",
                  input_tokens=186 + 1024, cached_input_tokens=1024, output_tokens=325)
    assert exact_cost(rates, 1_000_000, usage) == Fraction("0.0007221")


def test_cost_uses_the_version_in_force_on_the_usage_date(book):
    lines, issues = attribute([use(D(2026, 3, 15), "gpt-4o", input_tokens=1_000_000),
                               use(D(2026, 3, 16), "gpt-4o", input_tokens=1_000_000)], book)
    assert issues == []
    assert [(str(x.version), x.amount) for x in lines] == [
        ("2025-11-01", Decimal("2.50")), ("2026-03-16", Decimal("2.00"))]


def test_aliases_and_dated_snapshots_resolve_to_the_table_model(book):
    day = D(2026, 1, 5)
    assert resolve_model(book.costs, "gpt-4o-latest", day)[:2] == ("openai", "gpt-4o")
    assert resolve_model(book.costs, "gpt-4o-2024-08-06", day)[:2] == ("openai", "gpt-4o")
    assert resolve_model(book.costs, "claude-sonnet-4-5-20250929", day)[:2] == (
        "anthropic", "claude-sonnet-4-5")
    assert resolve_model(book.costs, "gpt-4o", D(2025, 10, 31)) is None
    assert resolve_model(book.costs, "gpt-9", day) is None


def test_a_model_without_cost_is_an_error_naming_model_customer_and_date(book):
    lines, issues = attribute([use(D(2026, 1, 5), "gpt-9", customer="globex", input_tokens=10),
                               use(D(2026, 1, 5), "gpt-4o", input_tokens=10)], book)
    assert len(lines) == 1 and lines[0].model == "gpt-4o"
    assert len(issues) == 1
    message = issues[0].message
    assert "'gpt-9'" in message and "'globex'" in message and "2026-01-05" in message


def test_many_small_lines_round_cumulatively_so_the_total_ties(book):
    # seven lines of 0.0025 each: rounded one by one they would post 0.00; the total is 0.0175
    inputs = [use(D(2026, 1, 5), "gpt-4o", feature=f"f{i}", input_tokens=1000) for i in range(7)]
    lines, issues = attribute(inputs, book)
    assert issues == []
    # cumulative 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175 -> 0.00, 0.01, ..., 0.02
    assert [str(x.amount) for x in lines] == ["0.00", "0.01", "0.00", "0.00", "0.00", "0.01",
                                              "0.00"]
    assert sum(x.amount for x in lines) == Decimal("0.02") == to_cent(Fraction("0.0175"))


def test_non_billable_feature_still_costs(book):
    lines, _ = attribute([use(D(2026, 1, 5), "gpt-4o", feature="retry",
                              input_tokens=1_000_000)], book)
    assert lines[0].billable is False and lines[0].amount == Decimal("2.50")
    lines, _ = attribute([use(D(2026, 1, 5), "gpt-4o", feature="retry", customer="globex",
                              input_tokens=1_000_000)], book)
    assert lines[0].billable is True


def test_workflow_ties_token_cost_to_the_action_it_served(book):
    inputs = [
        CostInput(Usage(date=D(2026, 1, 5), customer="acme", action="ticket_resolved",
                        completed=2, events=2, ref="t:1"), "wf-tickets"),
        use(D(2026, 1, 5), "gpt-4o", input_tokens=1000, workflow="wf-tickets"),
        use(D(2026, 1, 5), "gpt-4o", feature="search", input_tokens=1000, workflow="other"),
    ]
    lines, issues = attribute(inputs, book)
    assert issues == []
    assert {(x.feature, x.action) for x in lines} == {("chat", "ticket_resolved"),
                                                       ("search", "")}


def test_a_workflow_serving_two_action_types_is_an_error(book):
    inputs = [CostInput(Usage(date=D(2026, 1, 5), customer="acme", action=a, events=1,
                              ref=f"t:{a}"), "wf") for a in ("a", "b")]
    _, issues = attribute(inputs, book)
    assert len(issues) == 1 and "'wf'" in issues[0].message


def test_month_aggregate_across_a_cost_version_is_an_error(book):
    item = CostInput(Usage(date=D(2026, 3, 10), until=D(2026, 3, 20), customer="acme",
                           model="gpt-4o", input_tokens=5, ref="t:1"))
    lines, issues = attribute([item], book)
    assert lines == [] and "2026-03-16" in issues[0].message


def test_day_grain_gives_one_period_per_day(book):
    inputs = [use(D(2026, 1, d), "gpt-4o", input_tokens=1000) for d in (1, 2)]
    assert {x.period for x in attribute(inputs, book, "day")[0]} == {"2026-01-01", "2026-01-02"}
    assert {x.period for x in attribute(inputs, book)[0]} == {"2026-01"}


def test_exact_text_is_fixed_point():
    assert exact_text(Fraction(1, 10**7)) == "0.0000001"
    assert exact_text(Fraction(10)) == "10"
    assert exact_text(Decimal("1.2600000")) == "1.26"


def test_bill_is_rounded_and_set_against_attributed_cost():
    lines = [BillLine("openai", D(2026, 1, d), Decimal(v), "USD", f"k{d}")
             for d, v in ((1, "0.1"), (2, "0.2"), (31, "1.004"))]
    bills, problems = collect(lines)
    assert problems == [] and len(bills) == 1
    assert bills[0].exact == Decimal("1.304") and bills[0].amount == Decimal("1.30")
    above, = settle(bills, {("openai", "2026-01"): Decimal("1.00")})
    below, = settle(bills, {("openai", "2026-01"): Decimal("1.50")})
    assert above.unattributed == Decimal("0.30") and below.unattributed == Decimal("-0.20")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["gpt-4o", "gpt-5-mini", "claude-sonnet-4-5"]),
                          st.sampled_from(["chat", "rag", "retry"]),
                          st.integers(1, 28), st.integers(0, 3_000_000),
                          st.integers(0, 100), st.integers(0, 500_000)),
                min_size=1, max_size=25))
def test_totals_tie_to_the_cent_per_customer_provider_period(tmp_path_factory, rows):
    contracts, _ = load_contracts(make_contracts(tmp_path_factory.mktemp("h")))
    inputs = [use(D(2026, 2, day), model, feature, input_tokens=inp,
                  cached_input_tokens=inp * pct // 100, output_tokens=out)
              for model, feature, day, inp, pct, out in rows]
    lines, issues = attribute(inputs, contracts)
    assert issues == []
    exact: dict[str, Fraction] = {}
    for item in inputs:
        if not (item.usage.input_tokens or item.usage.output_tokens):
            continue  # nothing used, nothing costed
        provider, model, table = resolve_model(contracts.costs, item.usage.model, item.usage.date)
        rates = table.rates_on(model, item.usage.date)
        exact[provider] = exact.get(provider, Fraction(0)) + exact_cost(rates, table.per,
                                                                        item.usage)
    totals = attributed_by_provider(lines)
    assert totals == {(p, "2026-02"): to_cent(v) for p, v in exact.items()}
