"""Token classes (docs/token-classes.md): cache writes, service tiers, the long-context
band, server-tool calls and gateway cache hits, priced and costed each at its own rate,
from the usage format through the importers to revenue and COGS, to the cent."""

from __future__ import annotations

import datetime
import json
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pytest
from beancount import loader
from cogs_book import GENERAL_ACCOUNTS, balance, generated, make_contracts
from cogs_book import usage as usage_text

from tokenbooks.importers import usage_jsonl
from tokenbooks.importers.index import EventIndex
from tokenbooks.importers.usage import NORMAL, content_hashes
from tokenbooks.plugins.entries.usage import usage_from_entry
from tokenbooks.plugins.rules.classes import class_value, long_context_thresholds
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ModelRates
from tokenbooks.plugins.rules.records import Usage

D = Decimal
DAY = datetime.date(2026, 1, 5)

SONNET = ModelRates(
    input=D("3.00"), cached_input=D("0.30"), output=D("15.00"), cache_write=D("3.75"),
    cache_write_1h=D("6.00"),
    tiers=(("batch", ModelRates(input=D("1.50"), cached_input=D("0.15"), output=D("7.50"),
                                cache_write=D("1.875"),
                                long_context=ModelRates(input=D("3.00"), cached_input=D("0"),
                                                        output=D("11.25"), above=200000,
                                                        given=frozenset({"input", "output"})),
                                given=frozenset({"input", "cached_input", "output"}))),),
    long_context=ModelRates(input=D("6.00"), cached_input=D("0.60"), output=D("22.50"),
                            cache_write=D("7.50"), above=200000,
                            given=frozenset({"input", "cached_input", "output"})))
TOOLS = {"web_search": D("0.01")}


def record(**fields) -> Usage:
    return Usage(date=DAY, customer="acme", model="claude-sonnet-4-5", events=1, **fields)


# -- the rule ----------------------------------------------------------------------------------


def test_each_class_at_its_own_rate_the_worked_example():
    usage = record(input_tokens=1_000_000, cached_input_tokens=200_000, output_tokens=10_000,
                   extra=(("cache_write_tokens", 100_000), ("cache_write_1h_tokens", 50_000),
                          ("web_search_calls", 3)))
    assert usage.uncached_input_tokens == 650_000
    value, problem = class_value(usage, SONNET, 1_000_000, TOOLS)
    # 650k x 3.00 + 200k x 0.30 + 100k x 3.75 + 50k x 6.00 + 10k x 15.00, per 1M, + 3 x 0.01
    assert (value, problem) == (Fraction("2.865"), "")


def test_a_missing_class_rate_is_named_never_the_input_rate():
    plain = ModelRates(input=D("3.00"), cached_input=D("0.30"), output=D("15.00"))
    usage = record(input_tokens=1000, extra=(("cache_write_1h_tokens", 500),))
    value, problem = class_value(usage, plain, 1_000_000, {})
    assert value is None and "no cache_write_1h rate" in problem
    calls = record(input_tokens=10, extra=(("web_search_calls", 2),))
    value, problem = class_value(calls, plain, 1_000_000, {})
    assert value is None and "web_search" in problem


def test_service_tier_and_long_context_pick_their_own_blocks():
    batch = record(tier="batch", input_tokens=1_000_000, cached_input_tokens=100_000,
                   output_tokens=100_000)
    # 900k x 1.50 + 100k x 0.15 + 100k x 7.50 = 1.35 + 0.015 + 0.75
    assert class_value(batch, SONNET, 1_000_000, {}) == (Fraction("2.115"), "")
    long = record(context="long", input_tokens=300_000, output_tokens=10_000)
    assert class_value(long, SONNET, 1_000_000, {}) == (Fraction("2.025"), "")  # 1.80+0.225
    both = record(tier="batch", context="long", input_tokens=300_000, output_tokens=10_000)
    assert class_value(both, SONNET, 1_000_000, {}) == (Fraction("1.0125"), "")
    # the batch long-context block gives no cached_input: cache reads there are an error
    cached = both._replace(cached_input_tokens=1000)
    value, problem = class_value(cached, SONNET, 1_000_000, {})
    assert value is None and "cached_input" in problem and "batch" in problem
    flex = record(tier="flex", input_tokens=10)
    assert class_value(flex, SONNET, 1_000_000, {})[1].startswith("no rates for service tier")


def test_discount_applies_to_every_class_and_overrides_to_the_standard_block_only():
    usage = record(input_tokens=1_000_000, extra=(("cache_write_tokens", 1_000_000),
                                                  ("web_search_calls", 10)))
    # cache writes are input: uncached 0; 1M x 3.75 x 0.8 + 10 x 0.01 x 0.8
    assert class_value(usage, SONNET, 1_000_000, TOOLS, D("0.8")) == (Fraction("3.08"), "")
    value, _ = class_value(usage, SONNET, 1_000_000, TOOLS, D("0.8"), {"cache_write": D("2")})
    assert value == Fraction("2.08")
    batch = record(tier="batch", input_tokens=1_000_000)
    assert class_value(batch, SONNET, 1_000_000, {}, D(1), {"input": D("9")})[0] == 1.5


# -- the contracts -----------------------------------------------------------------------------

CLASSES_TABLE = """\
id: anthropic
currency: USD
per: 1000000
versions:
  - effective: 2025-11-01
    tools: {web_search: 0.01}
    models:
      claude-sonnet-4-5:
        input: 3.00
        cached_input: 0.30
        output: 15.00
        cache_write: 3.75
        cache_write_1h: 6.00
        tiers:
          batch: {input: 1.50, cached_input: 0.15, output: 7.50, cache_write: 1.875}
        long_context: {above: 200000, input: 6.00, cached_input: 0.60, output: 22.50,
                       cache_write: 7.50, cache_write_1h: 12.00}
"""

CLASSES_BOOK = """\
id: list
currency: USD
per: 1000000
versions:
  - effective: 2025-11-01
    tools: {web_search: 0.02}
    models:
      gpt-4o:            {input: 5.00, cached_input: 2.50, output: 20.00}
      gpt-5-mini:        {input: 0.50, cached_input: 0.05, output: 4.00}
      claude-sonnet-4-5:
        input: 6.00
        cached_input: 0.60
        output: 30.00
        cache_write: 7.50
        cache_write_1h: 12.00
        tiers:
          batch: {input: 3.00, cached_input: 0.30, output: 15.00, cache_write: 3.75}
        long_context: {above: 200000, input: 12.00, cached_input: 1.20, output: 45.00,
                       cache_write: 15.00, cache_write_1h: 24.00}
"""


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = make_contracts(tmp_path, {"acme": "", "globex": "    gateway_cache: free\n"})
    (folder / "costs" / "anthropic.yaml").write_text(CLASSES_TABLE)
    (folder / "price-books" / "list.yaml").write_text(CLASSES_BOOK)
    return folder


def test_price_books_read_tiers_long_context_and_tools(contracts):
    loaded, errors = load_contracts(contracts)
    assert errors == []
    version = loaded.costs["anthropic"].versions[0]
    assert version.tools == {"web_search": D("0.01")}
    rates = version.models["claude-sonnet-4-5"]
    assert (rates.cache_write, rates.cache_write_1h) == (D("3.75"), D("6.00"))
    batch = dict(rates.tiers)["batch"]
    assert batch.rate("cache_write_1h") is None and batch.rate("cached_input") == D("0.15")
    assert rates.long_context is not None and rates.long_context.above == 200000
    gpt = version.models.get("claude-sonnet-4-5")
    assert gpt is rates
    plain = loaded.costs["openai"].versions[0].models["gpt-4o"]
    assert (plain.cache_write, plain.tiers, plain.long_context) == (None, (), None)
    assert loaded.customers["globex"].contracts[0].gateway_cache == "free"
    assert loaded.customers["acme"].contracts[0].gateway_cache == "bill"


def test_a_long_context_block_needs_its_threshold(tmp_path):
    folder = make_contracts(tmp_path)
    (folder / "costs" / "anthropic.yaml").write_text(
        CLASSES_TABLE.replace("above: 200000, ", ""))
    _, errors = load_contracts(folder)
    assert [(e.field, e.message) for e in errors] == [(
        "versions[0].models.claude-sonnet-4-5.long_context.above",
        "is required: the prompt size (tokens) past which the band applies")]


# -- the books ---------------------------------------------------------------------------------


def book(contracts: Path, body: str) -> tuple[list, list]:
    text = ('option "operating_currency" "USD"\n'
            f'plugin "tokenbooks.plugins.contracts" "{{\'contracts\': \'{contracts}\'}}"\n'
            f'plugin "tokenbooks.plugins.revenue" "{{\'contracts\': \'{contracts}\'}}"\n'
            f'plugin "tokenbooks.plugins.cogs" "{{\'contracts\': \'{contracts}\'}}"\n'
            + GENERAL_ACCOUNTS + "2025-11-01 open Assets:Unbilled:Acme USD\n"
            + "2025-11-01 open Assets:Unbilled:Globex USD\n" + textwrap.dedent(body))
    entries, errors, _ = loader.load_string(text)
    return entries, errors


CLASSED = (
    # acme, Jan 5: 1M input (200k read, 100k written 5m, 50k written 1h), 10k output, 3
    # searches. Revenue: (650k x 6 + 200k x 0.6 + 100k x 7.5 + 50k x 12 + 10k x 30)/1M
    # + 3 x 0.02 = 3.90 + 0.12 + 0.75 + 0.60 + 0.30 + 0.06 = 5.73; cost 2.865
    usage_text("2026-01-05", "acme", "claude-sonnet-4-5", input_tokens=1_000_000,
               cached_input_tokens=200_000, cache_write_tokens=100_000,
               cache_write_1h_tokens=50_000, output_tokens=10_000, web_search_calls=3)
    # batch: revenue 1M x 3.00 + 100k x 15 = 4.50; cost 1.50 + 0.75 = 2.25
    + usage_text("2026-01-06", "acme", "claude-sonnet-4-5", input_tokens=1_000_000,
                 output_tokens=100_000, service_tier="batch")
    # long context: revenue 300k x 12 + 10k x 45 = 4.05; cost 1.80 + 0.225 = 2.025
    + usage_text("2026-01-07", "acme", "claude-sonnet-4-5", input_tokens=300_000,
                 output_tokens=10_000, context="long")
    # plain: revenue 100k x 6 = 0.60, cost 0.30
    + usage_text("2026-01-08", "acme", "claude-sonnet-4-5", input_tokens=100_000)
    # a gateway cache hit: acme bills it (1M x 6 = 6.00), globex does not; no cost
    + usage_text("2026-01-09", "acme", "claude-sonnet-4-5", input_tokens=1_000_000,
                 cache_hit="TRUE")
    + usage_text("2026-01-09", "globex", "claude-sonnet-4-5", input_tokens=1_000_000,
                 cache_hit="TRUE")
)


def test_revenue_and_cost_of_each_class_to_the_cent(contracts):
    entries, errors = book(contracts, CLASSED.replace('"TRUE"', "TRUE"))
    assert [e.message for e in errors] == []
    acme_revenue = -balance([e for e in entries if e.meta.get("customer") == "acme"],
                            "Income:Revenue:Usage")
    assert acme_revenue == D("5.73") + D("4.50") + D("4.05") + D("0.60") + D("6.00")
    globex_revenue = -balance([e for e in entries if e.meta.get("customer") == "globex"],
                              "Income:Revenue:Usage")
    assert globex_revenue == D("0.00")
    cost = balance(generated(entries, "cogs"), "Expenses:COGS:Inference:Anthropic")
    assert cost == D("7.44")  # 2.865 + 2.25 + 2.025 + 0.30; the cache hits cost nothing


# -- the usage format and the importers -------------------------------------------------------


def events_file(path: Path, events: list[dict]) -> Path:
    base = {"timestamp": "2026-01-05T10:00:00Z", "customer": "acme",
            "model": "claude-sonnet-4-5", "feature": "chat"}
    path.write_text("".join(json.dumps({**base, "event_id": f"e{i}", **event}) + "\n"
                            for i, event in enumerate(events)))
    return path


def entries_of(contracts: Path, path: Path):
    result = usage_jsonl.Importer(contracts, index=EventIndex()).run(path)
    return result, [usage_from_entry(e) for e in result.entries]


def test_the_canonical_format_carries_every_class(contracts, tmp_path):
    path = events_file(tmp_path / "usage.jsonl", [
        {"input_tokens": 1000, "cached_input_tokens": 200, "cache_write_tokens": 300,
         "cache_write_1h_tokens": 100, "output_tokens": 50, "web_search_calls": 2},
        {"input_tokens": 500, "cache_write_tokens": 100, "web_search_calls": 1},
        {"input_tokens": 700, "service_tier": "Batch"},
        {"input_tokens": 40, "service_tier": "standard"},  # the plain tier
        {"input_tokens": 10, "cache_hit": True},
        {"input_tokens": 20, "context": "long"},
    ])
    result, usages = entries_of(contracts, path)
    assert (result.read, result.imported, result.quarantined) == (6, 6, 0)
    by_kind = {(u.tier, u.context, u.cache_hit): u for u in usages}
    plain = by_kind[("", "", False)]
    assert (plain.input_tokens, plain.cached_input_tokens, plain.output_tokens,
            plain.events) == (1540, 200, 50, 3)
    assert plain.extra == (("cache_write_tokens", 400), ("cache_write_1h_tokens", 100),
                           ("web_search_calls", 3))
    assert plain.uncached_input_tokens == 1540 - 200 - 500
    assert by_kind[("batch", "", False)].input_tokens == 700
    assert by_kind[("", "", True)].input_tokens == 10
    assert by_kind[("", "long", False)].input_tokens == 20
    text = "\n".join(map(str, (e.meta for e in result.entries)))
    assert "'service_tier': 'batch'" in text and "'cache_hit': True" in text


def test_bad_class_values_are_quarantined_with_the_reason(contracts, tmp_path):
    path = events_file(tmp_path / "usage.jsonl", [
        {"input_tokens": 100, "cached_input_tokens": 60, "cache_write_tokens": 50},
        {"input_tokens": 100, "context": "huge"},
        {"input_tokens": 100, "cache_hit": "maybe"},
        {"web_search_calls": 2, "model": ""},
        {"input_tokens": 100, "web_search_calls": -1},
        {"input_tokens": 100},
    ])
    result, usages = entries_of(contracts, path)
    assert [(q.line, q.field) for q in result.quarantine] == [
        (1, "cache_write_tokens"), (2, "context"), (3, "cache_hit"), (4, "model"),
        (5, "web_search_calls")]
    assert "60 read + 50 written" in result.quarantine[0].reason
    assert [u.input_tokens for u in usages] == [100]


def test_per_request_usage_past_the_threshold_is_in_the_long_context_band(contracts, tmp_path):
    path = events_file(tmp_path / "usage.jsonl", [
        {"input_tokens": 250_000, "output_tokens": 10},  # past 200,000: long
        {"input_tokens": 200_000},  # at the threshold: standard
        {"input_tokens": 250_000, "model": "claude-sonnet-4-5-20250929"},  # a snapshot id
        {"input_tokens": 250_000, "model": "gpt-4o"},  # no band for gpt-4o
    ])
    _, usages = entries_of(contracts, path)
    assert sorted((u.model, u.context, u.input_tokens) for u in usages) == [
        ("claude-sonnet-4-5", "", 200_000), ("claude-sonnet-4-5", "long", 250_000),
        ("claude-sonnet-4-5-20250929", "long", 250_000), ("gpt-4o", "", 250_000)]
    loaded, _ = load_contracts(contracts)
    threshold = long_context_thresholds([*loaded.price_books.values(),
                                         *loaded.costs.values()])
    assert (threshold("anthropic/claude-sonnet-4-5"), threshold("gpt-4o")) == (200000, None)


def test_an_event_without_classes_hashes_as_before_they_existed():
    # the hashes of these two events as computed before the token classes (commit 0266cad)
    rows = [dict(line=1, event_id="e1", day=datetime.date(2026, 1, 5), customer="acme",
                 model="claude-sonnet-4-5", feature="chat", input_tokens=1200,
                 cached_input_tokens=200, output_tokens=300),
            dict(line=2, event_id="e2", day=datetime.date(2026, 2, 1), customer="globex",
                 action="ticket", user="u", completed=1)]
    defaults = {"tier": "", "context": "", "cache_hit": False}
    table = pa.table({f.name: [r.get(f.name, defaults.get(f.name, "" if f.type == pa.string()
                                                        else 0)) for r in rows]
                      for f in NORMAL}, schema=NORMAL)
    assert content_hashes(table).to_pylist() == ["2e294ce7", "0fddbfb4"]
    for name, value in (("tier", "batch"), ("context", "long"), ("cache_hit", True),
                        ("web_search_calls", 1)):
        changed = table.set_column(table.schema.get_field_index(name), name,
                                   pa.array([value, table.column(name)[1].as_py()],
                                            table.schema.field(name).type))
        assert content_hashes(changed).to_pylist()[0] != "2e294ce7", name


def test_a_class_without_its_rate_is_a_bean_check_error(contracts):
    body = usage_text("2026-01-05", "acme", "gpt-4o", input_tokens=1000,
                      cache_write_1h_tokens=500)
    entries, errors = book(contracts, body)
    messages = [e.message for e in errors]
    assert any("no cache_write_1h rate" in m and "'gpt-4o'" in m and "price book" in m
               for m in messages), messages
    assert any("no cache_write_1h rate" in m and "cost table 'openai'" in m
               for m in messages), messages
    assert generated(entries, "cogs") == []


def test_csv_and_daily_aggregates_carry_the_classes_too(contracts, tmp_path):
    from tokenbooks.importers import usage_csv, usage_daily

    csv_path = tmp_path / "usage.csv"
    csv_path.write_text(
        "event_id,timestamp,customer,model,input_tokens,cache_write_1h_tokens,"
        "service_tier,cache_hit\n"
        "c1,2026-01-05T10:00:00Z,acme,claude-sonnet-4-5,900,400,priority,false\n"
        "c2,2026-01-05T11:00:00Z,acme,claude-sonnet-4-5,100,,,TRUE\n"
        "c3,2026-01-05T12:00:00Z,acme,claude-sonnet-4-5,100,200,,\n")
    result = usage_csv.Importer(contracts, index=EventIndex()).run(csv_path)
    usages = sorted((usage_from_entry(e) for e in result.entries), key=lambda u: u.tier)
    assert [(q.line, q.field) for q in result.quarantine] == [(4, "cache_write_tokens")]
    assert [(u.tier, u.cache_hit, u.input_tokens, u.extra) for u in usages] == [
        ("", True, 100, ()), ("priority", False, 900, (("cache_write_1h_tokens", 400),))]
    daily = tmp_path / "daily.csv"
    daily.write_text(
        "customer,date,model,feature,action,user,input_tokens,events,event_ids,first_event,"
        "last_event,service_tier,context,cache_write_tokens,web_search_calls\n"
        'acme,2026-01-06,claude-sonnet-4-5,chat,,,5000,2,"d1\nd2",d1,d2,batch,long,1000,4\n')
    result = usage_daily.Importer(contracts, index=EventIndex()).run(daily)
    (usage,) = [usage_from_entry(e) for e in result.entries]
    assert (usage.tier, usage.context, usage.input_tokens, usage.extra) == (
        "batch", "long", 5000, (("cache_write_tokens", 1000), ("web_search_calls", 4)))


def test_unbilled_reads_the_same_in_every_canonical_format(contracts, tmp_path):
    """``unbilled`` (counted, not billed) is true/false text or a boolean in every
    format: "false" is false, an empty cell is false, anything else is quarantined
    with the reason (never a traceback)."""
    import pyarrow.parquet as pq

    from tokenbooks.importers import usage_csv, usage_parquet

    csv_path = tmp_path / "usage.csv"
    csv_path.write_text(
        "event_id,timestamp,customer,model,input_tokens,unbilled\n"
        "u1,2026-01-05T10:00:00Z,acme,gpt-4o,100,false\n"
        "u2,2026-01-05T10:00:00Z,acme,gpt-4o,100,\n"
        "u3,2026-01-05T10:00:00Z,acme,gpt-4o,100,TRUE\n"
        "u4,2026-01-05T10:00:00Z,acme,gpt-4o,100,maybe\n")
    result = usage_csv.Importer(contracts, index=EventIndex()).run(csv_path)
    assert [(q.line, q.field) for q in result.quarantine] == [(5, "unbilled")]
    (usage,) = [usage_from_entry(e) for e in result.entries]
    assert (usage.input_tokens, usage.events, usage.unbilled_events) == (200, 3, 1)
    jsonl = events_file(tmp_path / "usage.jsonl", [
        {"input_tokens": 100, "model": "gpt-4o", "unbilled": False},
        {"input_tokens": 100, "model": "gpt-4o"},
        {"input_tokens": 100, "model": "gpt-4o", "unbilled": True}])
    _, usages = entries_of(contracts, jsonl)
    assert [(u.input_tokens, u.unbilled_events) for u in usages] == [(200, 1)]
    parquet = tmp_path / "usage.parquet"
    pq.write_table(pa.table({
        "event_id": ["p1", "p2"], "timestamp": ["2026-01-05T10:00:00Z"] * 2,
        "customer": ["acme"] * 2, "model": ["gpt-4o"] * 2, "input_tokens": [100, 100],
        "unbilled": [False, True]}), parquet)
    result = usage_parquet.Importer(contracts, index=EventIndex()).run(parquet)
    assert [(usage_from_entry(e).input_tokens, usage_from_entry(e).unbilled_events)
            for e in result.entries] == [(100, 1)]


def test_the_spark_job_bands_long_prompts_as_the_import_does(contracts):
    from tokenbooks.scripts.spark_aggregate import validate_lines

    loaded, _ = load_contracts(contracts)
    books = [*loaded.price_books.values(), *loaded.costs.values()]
    lines = [json.dumps({"event_id": f"s{i}", "timestamp": "2026-01-05T10:00:00Z",
                         "customer": "acme", "model": "claude-sonnet-4-5",
                         "input_tokens": tokens}) for i, tokens in enumerate((250_000, 1000))]
    batch = validate_lines(lines, 1, "usage.jsonl", frozenset(loaded.customers), frozenset(),
                           books)
    assert batch.column("context").to_pylist() == ["long", ""]
