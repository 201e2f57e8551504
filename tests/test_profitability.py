"""The profitability report: margins per customer, model, feature and action, the
concentration line, and figures that tie back to the ledger balances."""

from __future__ import annotations

import csv
import datetime
import io
import json
from decimal import Decimal

import pytest
from beanquery.query import run_query
from click.testing import CliRunner
from cogs_book import balance, bill_line, ledger_text, load, make_contracts, revenue, usage

from tokenbooks.plugins import revenue as revenue_plugin
from tokenbooks.plugins.config import PluginConfig
from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.reports.ledger import Ledger
from tokenbooks.plugins.reports.rows import profitability_rows as rows_of
from tokenbooks.plugins.rules.profitability import (
    ActionCount,
    Row,
    parse_period,
    profitability,
)
from tokenbooks.scripts.cli import cli

D = datetime.date


def profitability_rows(entries, start, end):
    """The report's rows of a loaded book: its transactions and its usage records."""
    return rows_of([e for e in entries if e.__class__.__name__ == "Transaction"],
                   parse_usage(entries).records(), start, end)

# January 2026. acme: revenue 10.00 usage (gpt-4o chat) + 1.50 actions; cost gpt-4o chat
# 2.50, retry (non-billable) 1.00. globex: revenue 0.50 usage (gpt-5-mini); cost 1.20.
# A revenue line with no customer; a February line outside the period; openai bill 6.00.
BODY = (
    usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)
    + usage("2026-01-06", "acme", "gpt-4o", "retry", output_tokens=100_000)
    + usage("2026-01-07", "acme", "", "", "ticket_resolved", completed=3, events=3,
            workflow="tickets")
    + usage("2026-01-07", "acme", "gpt-5-mini", "support", input_tokens=400_000,
            workflow="tickets")
    + usage("2026-01-08", "globex", "gpt-5-mini", "chat", input_tokens=800_000,
            output_tokens=500_000)
    + usage("2026-02-02", "globex", "gpt-4o", "chat", input_tokens=1_000_000)
    + revenue("2026-01-31", "acme", "10.00", model="gpt-4o", feature="chat")
    + revenue("2026-01-31", "acme", "1.50", "Actions", action="ticket_resolved")
    + revenue("2026-01-31", "globex", "0.50", model="gpt-5-mini", feature="chat")
    + revenue("2026-02-28", "globex", "9.00")
    + '2026-01-15 * "misc" "a manual adjustment"\n'
    "  Assets:Bank  0.25 USD\n  Income:Revenue:Adjustments  -0.25 USD\n"
    + bill_line("2026-01-31", "openai", "6.00", "k-jan")
)


@pytest.fixture
def contracts(tmp_path):
    return make_contracts(tmp_path)


@pytest.fixture
def january(contracts):
    entries, errors, options = load(contracts, BODY)
    assert errors == []
    rows, actions = profitability_rows(entries, D(2026, 1, 1), D(2026, 2, 1))
    return entries, options, profitability(rows, actions, "2026-01", "USD")


def by_name(lines):
    return {line.name: line for line in lines}


def test_per_customer_revenue_cost_margin_and_shares(january):
    _, _, report = january
    assert [x.name for x in report.customers] == ["acme", "globex", "(no customer)"]
    acme, globex = by_name(report.customers)["acme"], by_name(report.customers)["globex"]
    assert acme.revenue["Usage"] == Decimal("10.00") and acme.revenue["Actions"] == Decimal("1.50")
    # acme: gpt-4o 2.50 + retry 1.00 + gpt-5-mini 0.10
    assert (acme.cogs, acme.margin, acme.margin_pct) == (
        Decimal("3.60"), Decimal("7.90"), Decimal("68.70"))
    # globex: 800,000 x 0.25 + 500,000 x 2.00 per million = 1.20 against 0.50 of revenue
    assert (globex.cogs, globex.margin, globex.negative) == (
        Decimal("1.20"), Decimal("-0.70"), True)
    assert acme.cost_share == Decimal("75.00") and globex.cost_share == Decimal("25.00")
    assert acme.token_share == Decimal("53.57")  # 1,500,000 of 2,800,000 tokens


def test_non_billable_feature_costs_but_earns_nothing(january):
    _, _, report = january
    retry = by_name(report.features)["retry"]
    assert retry.revenue_total == 0
    assert retry.cogs == retry.non_billable_cogs == Decimal("1.00")
    assert retry.negative


def test_grouped_by_model_and_feature(january):
    _, _, report = january
    models = by_name(report.models)
    assert (models["gpt-4o"].revenue_total, models["gpt-4o"].cogs) == (
        Decimal("10.00"), Decimal("3.50"))
    assert (models["gpt-5-mini"].revenue_total, models["gpt-5-mini"].cogs) == (
        Decimal("0.50"), Decimal("1.30"))
    # revenue that does not say its model is its own row, so the section still adds up
    assert models["(unassigned)"].revenue_total == Decimal("1.75")
    assert sum(x.revenue_total for x in report.models) == report.total.revenue_total
    assert sum(x.cogs for x in report.features) == report.total.cogs


def test_cost_per_action_type_through_the_workflow(january):
    _, _, report = january
    ticket = by_name(report.actions)["ticket_resolved"]
    assert (ticket.actions, ticket.cogs, ticket.revenue_total) == (
        3, Decimal("0.10"), Decimal("1.50"))
    assert ticket.cost_per_action == Decimal("0.0333")
    assert ticket.revenue_per_action == Decimal("0.5000")


def test_unattributed_cost_is_its_own_line(january):
    _, _, report = january
    assert report.unattributed == {"Openai": Decimal("1.20")}  # bill 6.00 - attributed 4.80
    assert report.cogs_total == Decimal("6.00")
    assert report.gross_margin == Decimal("12.25") - Decimal("6.00")


def test_report_figures_tie_back_to_ledger_balances(january):
    entries, options, report = january
    start, end = "2026-01-01", "2026-02-01"
    revenue_total = -balance(entries, "Income:Revenue", start, end)
    assert sum(x.revenue_total for x in report.customers) == revenue_total == Decimal("12.25")
    for stream in ("Usage", "Actions", "Adjustments"):
        assert sum(x.revenue[stream] for x in report.customers) == -balance(
            entries, f"Income:Revenue:{stream}", start, end)
    assert sum(x.cogs for x in report.customers) == balance(
        entries, "Expenses:COGS:Inference", start, end)
    assert report.unattributed_total == balance(entries, "Expenses:COGS:Unattributed", start, end)
    # per customer, against an independent beanquery of the same book
    _, rows = run_query(entries, options,
                        "SELECT entry_meta('customer') AS c, sum(number) AS n "
                        "WHERE account ~ '^Expenses:COGS:Inference' AND date >= 2026-01-01 "
                        "AND date < 2026-02-01 GROUP BY c ORDER BY c")
    assert {c: n for c, n in rows} == {x.name: x.cogs for x in report.customers if x.cogs}


def test_concentration_top_five_percent_by_cost():
    rows = [Row(D(2026, 1, 5), "Expenses:COGS:Inference:Openai", Decimal(cost), "USD",
                customer=f"c{i:02d}", model="m", feature="f", tokens=tokens)
            for i, (cost, tokens) in enumerate([("50.00", 5000), ("30.00", 2000)]
                                               + [("1.00", 100)] * 20)]
    rows += [Row(D(2026, 1, 31), "Income:Revenue:Usage", Decimal("-10.00"), "USD",
                 customer=f"c{i:02d}") for i in range(22)]
    report = profitability(rows, [ActionCount(D(2026, 1, 2), "c00", "x", 1)], "2026-01", "USD")
    c = report.concentration
    assert c.customers == 22 and c.top == ("c00", "c01")  # ceil(22 x 5%) = 2
    assert c.cost_share == Decimal("80.00")  # 80 of 100
    assert c.token_share == Decimal("77.78")  # 7,000 of 9,000
    assert c.revenue_share == Decimal("9.09")  # 20 of 220


@pytest.mark.parametrize("text, start, end", [
    ("2026-01", D(2026, 1, 1), D(2026, 2, 1)), ("2026-12", D(2026, 12, 1), D(2027, 1, 1)),
    ("2026-Q1", D(2026, 1, 1), D(2026, 4, 1)), ("2026-Q4", D(2026, 10, 1), D(2027, 1, 1)),
    ("2026", D(2026, 1, 1), D(2027, 1, 1)),
])
def test_periods(text, start, end):
    assert parse_period(text) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26", "January"])
def test_bad_period(text):
    with pytest.raises(ValueError, match="expected YYYY-MM, YYYY-Qn or YYYY"):
        parse_period(text)


def _run(tmp_path, contracts, *args, body=BODY):
    main = tmp_path / "main.beancount"
    main.write_text(ledger_text(contracts, body))
    return CliRunner().invoke(cli, ["report", "profitability", "--ledger", str(main), *args])


def test_cli_json_csv_and_table(tmp_path, contracts):
    result = _run(tmp_path, contracts, "--period", "2026-01", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["customers"][0]["name"] == "acme" and doc["customers"][0]["cogs"] == "3.60"
    assert doc["unattributed"] == {"Openai": "1.20"}
    assert doc["total"]["cogs_total"] == "6.00"
    result = _run(tmp_path, contracts, "--period", "2026-Q1", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    globex = next(r for r in rows if r["section"] == "customer" and r["name"] == "globex")
    assert globex["revenue"] == "9.50" and globex["negative_margin"] == "False"  # Feb included
    result = _run(tmp_path, contracts, "--period", "2026-01")
    assert result.exit_code == 0, result.output
    assert "NEGATIVE" in result.output and "Concentration: the top 1 of 2" in result.output
    assert "Openai" in result.output


def test_cli_refuses_a_book_with_errors(tmp_path, contracts):
    body = usage("2026-01-05", "acme", "gpt-9", input_tokens=10)
    result = _run(tmp_path, contracts, "--period", "2026-01", body=body)
    assert result.exit_code == 1 and "gpt-9" in result.output


def test_revenue_without_model_metadata_is_allocated_by_value_at_contract_rates(tmp_path):
    contracts = make_contracts(tmp_path, {"acme": (
        "    non_billable_features: [retry]\n"
        "    actions:\n      ticket_resolved: {price: 0.50}\n")})
    body = (
        usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)           # list 5.00
        + usage("2026-01-06", "acme", "gpt-4o", "retry", output_tokens=100_000)  # not billable
        + usage("2026-01-07", "acme", "", "", "ticket_resolved", completed=3, events=3,
                workflow="tickets")                                              # 1.50
        + usage("2026-01-07", "acme", "gpt-5-mini", "support", input_tokens=400_000,
                workflow="tickets")                                              # list 0.20
        + revenue("2026-01-31", "acme", "12.00")
        + revenue("2026-01-31", "acme", "1.50", "Actions")
        + revenue("2026-01-31", "acme", "0.40", "Breakage"))
    entries, errors, options = load(contracts, body)
    assert errors == []
    start, end = D(2026, 1, 1), D(2026, 2, 1)
    rows, actions = profitability_rows(entries, start, end)
    # the weights are the engine's values of the usage: run the revenue stage on the load
    # (the book has hand-written revenue, not the plugin's)
    revenue_plugin.stage(Load.of(options), entries, PluginConfig(), entries[-1].date)
    weights = Ledger(entries, options).revenue.weights(start, end)
    report = profitability(rows, actions, "2026-01", "USD", weights)
    features, models = by_name(report.features), by_name(report.models)
    # 12.00 over list values 5.00 (chat) and 0.20 (support): 11.538... and 0.461...
    assert features["chat"].revenue["Usage"] == Decimal("11.54")
    assert features["support"].revenue["Usage"] == Decimal("0.46")
    assert features["retry"].revenue_total == 0 and features["retry"].cogs == Decimal("1.00")
    assert models["gpt-4o"].revenue_total == Decimal("11.54")
    assert features["(unassigned)"].revenue == {"Breakage": Decimal("0.40")}
    ticket = by_name(report.actions)["ticket_resolved"]
    # what a resolved ticket costs (gpt-5-mini 0.10 / 3) against what it earns (fee + tokens)
    assert (ticket.revenue["Actions"], ticket.revenue["Usage"], ticket.cogs) == (
        Decimal("1.50"), Decimal("0.46"), Decimal("0.10"))
    for section in (report.models, report.features):
        assert sum(x.revenue_total for x in section) == report.total.revenue_total


def test_cli_refuses_to_drop_another_currency(tmp_path, contracts):
    body = BODY + ("2025-11-01 open Assets:Cash-Eur EUR\n"
                   "2025-11-01 open Income:Revenue:Usage:Eur EUR\n"
                   '2026-01-20 * "misc" "EUR revenue"\n'
                   "  Assets:Cash-Eur  5.00 EUR\n  Income:Revenue:Usage:Eur  -5.00 EUR\n")
    result = _run(tmp_path, contracts, "--period", "2026-01", body=body)
    assert result.exit_code == 1 and "revenue or cost in EUR" in result.output
