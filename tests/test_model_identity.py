"""One model identity: dated snapshots, provider prefixes and aliases resolve to the
price book's and cost table's model, for pricing, COGS and profitability alike."""

from __future__ import annotations

import datetime
import textwrap
from decimal import Decimal

import pytest
from beancount import loader
from beancount.core import data
from cogs_book import GENERAL_ACCOUNTS, make_contracts, usage

from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.plugins.reports.rows import profitability_rows
from tokenbooks.plugins.rules.cogs import CostInput, attribute, resolve_model
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import Contract, ModelRates, PriceBook, PriceBookVersion
from tokenbooks.plugins.rules.models import candidates, resolve, strip_prefix
from tokenbooks.plugins.rules.pricing import Pricer, PricingError
from tokenbooks.plugins.rules.profitability import profitability
from tokenbooks.plugins.rules.records import Usage

D = datetime.date
KNOWN = {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5"}.__contains__


@pytest.mark.parametrize("logged, model, how", [
    ("gpt-4o", "gpt-4o", "exact"),
    ("gpt-4o-2024-08-06", "gpt-4o", "snapshot"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "snapshot"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "snapshot"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5", "snapshot"),        # Vertex
    ("openai/gpt-4o", "gpt-4o", "prefix"),
    ("azure/gpt-4o-2024-08-06", "gpt-4o", "prefix"),
    ("openrouter/openai/gpt-4o", "gpt-4o", "prefix"),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5", "prefix"),
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", "prefix"),
])
def test_resolver_snapshots_and_prefixes(logged, model, how):
    assert resolve(logged, KNOWN) == (model, logged, how)


def test_resolver_aliases_come_first_and_unknown_ids_resolve_to_nothing():
    aliases = {"fast": "gpt-4o-mini", "gpt-4o": "gpt-4o-mini"}
    assert resolve("fast", KNOWN, aliases) == ("gpt-4o-mini", "fast", "alias")
    assert resolve("openai/fast", KNOWN, aliases).model == "gpt-4o-mini"
    assert resolve("gpt-4o", KNOWN, aliases).model == "gpt-4o-mini"  # the alias wins
    assert resolve("gpt-9", KNOWN) is None
    assert resolve("azure/my-deployment", KNOWN) is None
    # a version suffix is only a Bedrock one after a Bedrock vendor: deepseek-v3 stays
    assert strip_prefix("deepseek-v3") == "deepseek-v3"
    assert candidates("gpt-4o") == [("gpt-4o", "exact")]


LIST = PriceBook("list", "USD", 1_000_000, (
    PriceBookVersion(D(2026, 1, 1), {
        "gpt-4o": ModelRates(Decimal("5.00"), Decimal("2.50"), Decimal("20.00")),
        "gpt-4o-mini": ModelRates(Decimal("0.30"), Decimal("0.15"), Decimal("1.20")),
    }),), aliases={"gpt-4o-latest": "gpt-4o"})
CONTRACT = Contract(id="c", customer="acme", start=D(2026, 1, 1), currency="USD",
                    billing="arrears", price_book="list")


def use(model: str, **counts: int) -> Usage:
    return Usage(date=D(2026, 1, 5), customer="acme", model=model, feature="chat", **counts)


def test_a_dated_id_is_priced_as_its_base_model_and_its_revenue_keyed_by_it():
    pricer = Pricer(CONTRACT, LIST)
    tokens = dict(input_tokens=1_200_000, cached_input_tokens=200_000, output_tokens=300_000)
    # 1.0M x 5.00 + 0.2M x 2.50 + 0.3M x 20.00 = 11.50, whatever the id logged
    for logged in ("gpt-4o", "gpt-4o-2024-08-06", "openai/gpt-4o", "gpt-4o-latest"):
        assert pricer.price(use(logged, **tokens)).tokens == Decimal("11.50"), logged
    day = pricer.price_day(D(2026, 1, 5), [use("gpt-4o", **tokens),
                                           use("gpt-4o-2024-08-06", **tokens),
                                           use("gpt-4o-latest", **tokens)])
    assert day.errors == [] and day.tokens == Decimal("34.50")
    assert list(day.values) == [("gpt-4o", "chat", "")]  # one key: the resolved model
    assert day.logged == {("gpt-4o", "chat", ""): {"gpt-4o-2024-08-06", "gpt-4o-latest"}}


def test_an_unknown_id_is_the_missing_price_error_naming_it():
    pricer = Pricer(CONTRACT, LIST)
    with pytest.raises(PricingError) as raised:
        pricer.price(use("azure/gpt-9-2026-01-01", input_tokens=10))
    message = raised.value.message
    assert "no rate for model 'azure/gpt-9-2026-01-01'" in message
    assert "'gpt-9'" in message and "a missing price is never zero" in message


def test_a_contract_override_of_the_logged_id_prices_it_as_it_is():
    override = Contract(id="c", customer="acme", start=D(2026, 1, 1), currency="USD",
                        billing="arrears", price_book="list", rates={
                            "gpt-4o-2024-08-06": {"input": Decimal("1.00"),
                                                  "output": Decimal("1.00")}})
    pricer = Pricer(override, LIST)
    assert pricer.resolve("gpt-4o-2024-08-06", D(2026, 1, 5)) == "gpt-4o-2024-08-06"
    assert pricer.price(use("gpt-4o-2024-08-06", input_tokens=1_000_000)).tokens == 1


# -- the whole book: revenue, COGS and profitability ---------------------------------------

PRICE_BOOK_WITH_ALIAS = """\
id: list
currency: USD
per: 1000000
aliases:
  house-model: gpt-4o
versions:
  - effective: 2025-11-01
    models:
      gpt-4o:            {input: 5.00, cached_input: 2.50, output: 20.00}
      gpt-5-mini:        {input: 0.50, cached_input: 0.05, output: 4.00}
      claude-sonnet-4-5: {input: 6.00, cached_input: 0.60, output: 30.00}
"""


@pytest.fixture
def contracts(tmp_path):
    folder = make_contracts(tmp_path, {"acme": ""})
    (folder / "price-books" / "list.yaml").write_text(PRICE_BOOK_WITH_ALIAS)
    return folder


def load_book(contracts, body: str):
    text = ('option "operating_currency" "USD"\n'
            f'plugin "tokenbooks.plugins.book" "{{\'contracts\': \'{contracts}\'}}"\n'
            + GENERAL_ACCOUNTS + textwrap.dedent(body))
    return loader.load_string(text)


# January: acme uses gpt-4o under four ids. 1,000,000 input tokens each: list 5.00, cost
# 2.50 (cost table openai, 2025-11-01); four times: revenue 20.00, cost 10.00.
FOUR_IDS = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)
            + usage("2026-01-06", "acme", "gpt-4o-2024-08-06", input_tokens=1_000_000)
            + usage("2026-01-07", "acme", "openai/gpt-4o", input_tokens=1_000_000)
            + usage("2026-01-08", "acme", "house-model", input_tokens=1_000_000))


def postings(entries, prefix: str):
    return [p for e in entries if isinstance(e, data.Transaction) for p in e.postings
            if p.account.startswith(prefix)]


def test_revenue_and_cost_of_a_model_logged_under_four_ids_meet_under_one(contracts):
    entries, errors, _ = load_book(contracts, FOUR_IDS)
    assert errors == []
    revenue = postings(entries, "Income:Revenue:Usage")
    assert [(p.meta["model"], p.meta.get("logged_model"), -p.units.number) for p in revenue] \
        == [("gpt-4o", "gpt-4o-2024-08-06,house-model,openai/gpt-4o", Decimal("20.00"))]
    cost = postings(entries, "Expenses:COGS:Inference")
    # the price book's alias names the model for cost too (the cost table has none)
    assert [(p.meta["model"], p.meta.get("logged_model"), p.units.number) for p in cost] \
        == [("gpt-4o", "gpt-4o-2024-08-06,house-model,openai/gpt-4o", Decimal("10.00"))]


def test_the_profitability_report_shows_one_line_for_a_dated_model(contracts):
    body = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)
            + usage("2026-01-06", "acme", "gpt-4o-2024-08-06", input_tokens=1_000_000,
                    output_tokens=100_000)
            + usage("2026-01-07", "acme", "claude-sonnet-4-5-20250929",
                    input_tokens=1_000_000))
    entries, errors, _ = load_book(contracts, body)
    assert errors == []
    transactions = [e for e in entries if isinstance(e, data.Transaction)]
    rows, actions = profitability_rows(transactions, parse_usage(entries).records(),
                                       D(2026, 1, 1), D(2026, 2, 1))
    report = profitability(rows, actions, "2026-01", "USD")
    models = {line.name: line for line in report.models}
    assert sorted(models) == ["claude-sonnet-4-5", "gpt-4o"]
    # gpt-4o: revenue 2 x 5.00 + 0.1M x 20.00 = 12.00; cost 2 x 2.50 + 0.1M x 10.00 = 6.00
    gpt = models["gpt-4o"]
    assert (gpt.revenue_total, gpt.cogs, gpt.margin) == (
        Decimal("12.00"), Decimal("6.00"), Decimal("6.00"))
    # claude-sonnet-4-5: revenue 6.00, cost 3.00 (not a 100%-margin ghost)
    claude = models["claude-sonnet-4-5"]
    assert (claude.revenue_total, claude.cogs) == (Decimal("6.00"), Decimal("3.00"))


def test_an_unknown_model_id_is_a_bean_check_error_naming_it(contracts):
    entries, errors, _ = load_book(
        contracts, usage("2026-01-05", "acme", "openai/gpt-9-2026-01-01", input_tokens=10))
    messages = [str(getattr(e, "message", e)) for e in errors]
    assert any("no rate for model 'openai/gpt-9-2026-01-01'" in m for m in messages), messages
    assert any("no cost for model 'openai/gpt-9-2026-01-01'" in m for m in messages), messages


def test_cost_resolution_shares_the_resolver(tmp_path):
    book, problems = load_contracts(make_contracts(tmp_path))
    assert problems == []
    day = D(2026, 1, 5)
    assert resolve_model(book.costs, "openai/gpt-4o", day)[:2] == ("openai", "gpt-4o")
    assert resolve_model(book.costs, "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
                         day)[:2] == ("anthropic", "claude-sonnet-4-5")
    # a snapshot in one table is not preferred over the exact id in another
    lines, issues = attribute([CostInput(Usage(date=day, customer="acme",
                                               model="openai/gpt-4o-2024-08-06",
                                               input_tokens=1_000_000))], book)
    assert issues == [] and [(x.model, x.logged, x.amount) for x in lines] == [
        ("gpt-4o", "openai/gpt-4o-2024-08-06", Decimal("2.50"))]
