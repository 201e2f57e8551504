"""Declared sources (``importers.yaml`` ``sources:``, ``importers.mapping``): the three
worked examples of docs/mapping.md imported through ``tokenbooks import``, tokens
checked by hand; mistakes named with file, line, source and field; formats."""

from __future__ import annotations

import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from beancount import loader
from beancount.core import data
from click.testing import CliRunner

from tokenbooks.importers import mapping
from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")


def new_book(folder: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(folder), "--start", "2026-01-01"])
    assert result.exit_code == 0, result.output
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, folder / "contracts" / sub)
    return folder / "main.beancount"


def run(ledger: Path, *sources: Path, extra: tuple[str, ...] = ()):
    return CliRunner().invoke(cli, ["import", "--ledger", str(ledger), "--json", *extra,
                                    *map(str, sources)])


def snapshot(book: Path) -> dict[str, bytes]:
    return {str(p.relative_to(book)): p.read_bytes()
            for sub in ("imports", "documents") for p in sorted((book / sub).rglob("*"))
            if p.is_file()}


def usages(book: Path) -> list[tuple]:
    """(date, customer, model, feature, input, cached, output, events, unbilled) of the
    book's usage entries."""
    entries, errors, _ = loader.load_file(str(book / "main.beancount"))
    records = parse_usage(entries).records()
    return sorted((str(u.date), u.customer, u.model, u.feature, u.input_tokens,
                   u.cached_input_tokens, u.output_tokens, u.events, u.unbilled_events)
                  for u in records)


def example(settings: str, name: str, content: str | bytes, tmp_path: Path
            ) -> tuple[Path, Path]:
    """A new book with ``settings`` as its importers.yaml and a source file; both must be
    in docs/mapping.md word for word (the docs are what is tested)."""
    assert settings in DOC, "the settings are not docs/mapping.md's"
    if isinstance(content, str):
        assert content in DOC, "the source is not docs/mapping.md's"
    ledger = new_book(tmp_path / "book")
    (ledger.parent / "importers.yaml").write_text(settings, encoding="utf-8")
    source = tmp_path / name
    if isinstance(content, str):
        source.write_text(content, encoding="utf-8")
    else:
        source.write_bytes(content)
    return ledger, source


GATEWAY_YAML = """\
sources:
  - name: inhouse-gateway
    match: {pattern: "gateway-*.jsonl"}
    format: jsonl
    fields:
      event_id: request.id
      timestamp: {column: ts, unit: ms}
      customer: {column: org, lookup: {org_1: acme, org_2: globex}}
      model: response.model
      feature: {constant: chat}
      input_tokens: {sum: [usage.prompt_tokens, usage.cache_read_tokens]}
      cached_input_tokens: usage.cache_read_tokens
      output_tokens: usage.completion_tokens
"""

GATEWAY_LOG = """\
{"request": {"id": "req-001"}, "ts": 1767603600000, "org": "org_1", "response": {"model": "gpt-4o"}, "usage": {"prompt_tokens": 1000, "cache_read_tokens": 200, "completion_tokens": 300}}
{"request": {"id": "req-002"}, "ts": 1767657599000, "org": "org_1", "response": {"model": "gpt-4o"}, "usage": {"prompt_tokens": 500, "completion_tokens": 100}}
{"request": {"id": "req-003"}, "ts": 1767603600000, "org": "org_2", "response": {"model": "gpt-4o-mini"}, "usage": {"prompt_tokens": 2000, "cache_read_tokens": 1000, "completion_tokens": 50}}
{"request": {"id": "req-004"}, "ts": 1767603600000, "org": "org_9", "response": {"model": "gpt-4o"}, "usage": {"prompt_tokens": 10, "completion_tokens": 1}}
"""  # noqa: E501


def test_example_1_an_inhouse_log_with_renamed_nested_and_summed_columns(tmp_path):
    ledger, source = example(GATEWAY_YAML, "gateway-2026-01.jsonl", GATEWAY_LOG, tmp_path)
    result = run(ledger, source)
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert summary["importer"] == "tokenbooks.importers.mapping.inhouse-gateway"
    assert (summary["read"], summary["imported"], summary["duplicates"],
            summary["quarantined"]) == (4, 3, 0, 1)
    book = ledger.parent
    # by hand: acme (1000 + 200) + (500 + 0) input, 200 cached, 300 + 100 output
    assert usages(book) == [
        ("2026-01-05", "acme", "gpt-4o", "chat", 1700, 200, 400, 2, 0),
        ("2026-01-05", "globex", "gpt-4o-mini", "chat", 3000, 1000, 50, 1, 0)]
    [quarantine] = (book / "imports").glob("*.quarantine.jsonl")
    problem = json.loads(quarantine.read_text())
    assert (problem["line"], problem["field"]) == (4, "customer")
    assert "unknown customer 'org_9'" in problem["reason"]
    # provenance, as the canonical importers write it
    [written] = (book / "imports").glob("2026-01.gateway-2026-01.jsonl.*.beancount")
    text = written.read_text()
    assert 'source: "gateway-2026-01.jsonl"' in text and 'first_event: "req-001"' in text
    assert "; importer tokenbooks.importers.mapping.inhouse-gateway" in text
    assert written.with_name(written.name.replace(".beancount", ".events.gz")).exists()
    # the book checks; importing again changes nothing, byte for byte
    _, errors, _ = loader.load_file(str(ledger))
    assert errors == []
    before = snapshot(book)
    again = run(ledger, source)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)[0]["duplicates"] == 3
    assert snapshot(book) == before


BILLING_YAML = """\
sources:
  - name: billing-export
    match: {columns: [Request ID, Time, Team]}
    format: csv
    fields:
      event_id: Request ID
      timestamp: {column: Time, format: "%d/%m/%Y %H:%M:%S", timezone: Europe/Paris}
      customer:
        first:
          - {column: End User, lookup: {u-77: hooli}}
          - {column: Team, lookup: {team-support: acme, team-data: globex}}
      model: Model
      feature: {column: Product, default: chat}
      input_tokens: Prompt Tokens
      cached_input_tokens: {column: Cached Tokens, default: 0}
      output_tokens: Completion Tokens
"""

BILLING_CSV = """\
Request ID,Time,Team,End User,Model,Product,Prompt Tokens,Cached Tokens,Completion Tokens
r-1,01/02/2026 00:30:00,team-support,,gpt-4o,,1000,,200
r-2,01/02/2026 09:15:00,team-support,,gpt-4o,,3000,1000,400
r-3,01/02/2026 10:00:00,team-data,u-77,claude-sonnet-4-5,search,5000,0,700
r-4,1/2/2026 10:00,team-data,,gpt-4o,,10,0,1
"""


def test_example_2_a_csv_export_with_local_day_first_times_and_a_customer_fallback(
        tmp_path):
    ledger, source = example(BILLING_YAML, "export-feb.csv", BILLING_CSV, tmp_path)
    result = run(ledger, source)
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert (summary["read"], summary["imported"], summary["quarantined"]) == (4, 3, 1)
    book = ledger.parent
    # r-1: 00:30 in Paris is 23:30 UTC the day before
    assert usages(book) == [
        ("2026-01-31", "acme", "gpt-4o", "chat", 1000, 0, 200, 1, 0),
        ("2026-02-01", "acme", "gpt-4o", "chat", 3000, 1000, 400, 1, 0),
        ("2026-02-01", "hooli", "claude-sonnet-4-5", "search", 5000, 0, 700, 1, 0)]
    assert sorted(p.name.split(".")[0] for p in (book / "imports").glob("20*.beancount")) \
        == ["2026-01", "2026-02"]
    [quarantine] = (book / "imports").glob("*.quarantine.jsonl")
    problem = json.loads(quarantine.read_text())
    assert (problem["line"], problem["field"]) == (5, "timestamp")
    assert problem["reason"] == ("column 'Time': expected a time in format "
                                 "'%d/%m/%Y %H:%M:%S', got '1/2/2026 10:00'")


PROXY_YAML = """\
sources:
  - name: proxy-report
    match: {pattern: "proxy-report-*.json"}
    format: json
    root: data.requests
    fields:
      event_id: id
      timestamp: created
      customer: metadata.tenant
      model: model
      feature: {column: metadata.feature, default: api}
      input_tokens: usage.input
      cached_input_tokens: {column: usage.input_details.cached, default: 0}
      output_tokens: usage.output
      unbilled: {column: status, lookup: {error: true, timeout: true}}
"""

PROXY_JSON = """\
{"object": "report", "data": {"requests": [
  {"id": "gen-1", "created": 1769932800, "model": "openai/gpt-4o", "status": "success",
   "metadata": {"tenant": "initech"},
   "usage": {"input": 2000, "output": 100, "input_details": {"cached": 500}}},
  {"id": "gen-2", "created": 1769932800, "model": "openai/gpt-4o", "status": "error",
   "metadata": {"tenant": "initech"}, "usage": {"input": 1000, "output": 0}},
  {"id": "gen-3", "created": 1769932800, "model": "anthropic/claude-haiku-4-5",
   "status": "success", "metadata": {"tenant": "globex", "feature": "summarize"},
   "usage": {"input": 4000, "output": 300}}
]}}
"""


def test_example_3_a_json_report_under_a_root_with_failed_requests_and_prefixed_models(
        tmp_path):
    ledger, source = example(PROXY_YAML, "proxy-report-2026-02-01.json", PROXY_JSON,
                             tmp_path)
    result = run(ledger, source)
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert (summary["read"], summary["imported"], summary["quarantined"]) == (3, 3, 0)
    book = ledger.parent
    assert usages(book) == [
        ("2026-02-01", "globex", "anthropic/claude-haiku-4-5", "summarize", 4000, 0, 300,
         1, 0),
        ("2026-02-01", "initech", "openai/gpt-4o", "api", 2000, 500, 100, 2, 1)]
    # priced and costed as the price book's gpt-4o (one model identity)
    entries, errors, _ = loader.load_file(str(ledger))
    assert errors == []
    revenue = [p for e in entries if isinstance(e, data.Transaction)
               and e.meta.get("customer") == "initech" for p in e.postings
               if p.account == "Income:Revenue:Usage" and p.units.number]
    # list gpt-4o: 1,500 x 5.00 + 500 x 2.50 + 100 x 20.00 per 1M = 0.01075 -> 0.01
    assert [(p.meta["model"], p.meta["logged_model"], p.units.number) for p in revenue] \
        == [("gpt-4o", "openai/gpt-4o", Decimal("-0.01"))]


# -- mistakes -----------------------------------------------------------------------------


def settings_error(tmp_path: Path, settings: str) -> str:
    ledger = new_book(tmp_path / "book")
    (ledger.parent / "importers.yaml").write_text(settings, encoding="utf-8")
    source = tmp_path / "gateway-2026-01.jsonl"
    source.write_text(GATEWAY_LOG, encoding="utf-8")
    result = run(ledger, source)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not list((ledger.parent / "imports").glob("*gateway*"))
    return result.output


@pytest.mark.parametrize("old, new, expected", [
    ("      input_tokens:", "      input_tokns:",
     "importers.yaml:11: sources[0] (inhouse-gateway).fields.input_tokns: unknown canonical "
     "field 'input_tokns' (did you mean 'input_tokens'?); expected one of: event_id, "),
    ("{column: ts, unit: ms}", "{column: ts, unit: minutes}",
     "importers.yaml:7: sources[0] (inhouse-gateway).fields.timestamp: unit: expected one "
     "of s, ms, us, ns, got 'minutes'; nothing was imported"),
    ("{constant: chat}", "{eval: \"'chat'\"}",
     "importers.yaml:10: sources[0] (inhouse-gateway).fields.feature: expected exactly one "
     "of column, constant, sum, first, got eval"),
    ("{sum: [usage.prompt_tokens, usage.cache_read_tokens]}", "{sum: usage.prompt_tokens}",
     "importers.yaml:11: sources[0] (inhouse-gateway).fields.input_tokens: sum: expected a "
     "list of expressions, got 'usage.prompt_tokens'"),
    ("      feature: {constant: chat}", "      feature: {sum: [a, b]}",
     "fields.feature: sum: only for counts"),
    ("      event_id: request.id\n", "",
     "sources[0] (inhouse-gateway).fields.event_id: is required"),
    ("{column: ts, unit: ms}", "{column: ts, format: '%d/%m/%Y'}",
     "fields.timestamp: format: '%d/%m/%Y' has no offset (%z); expected a timezone: too"),
    ("{column: ts, unit: ms}", "{column: ts, timezone: Mars/Olympus}",
     "fields.timestamp: timezone: expected an IANA time zone such as UTC or Europe/Paris, "
     "got 'Mars/Olympus'"),
    ("    format: jsonl", "    format: xml",
     "importers.yaml:4: sources[0] (inhouse-gateway).format: expected one of csv, tsv, "
     "jsonl, json, parquet, got 'xml'"),
    ("    match: {pattern: \"gateway-*.jsonl\"}", "    match: gateway-*.jsonl",
     "sources[0] (inhouse-gateway).match: expected pattern:"),
    ("      event_id: request.id", "      event_id: {constant: x}",
     "fields.event_id: expected a column: every event needs its own id"),
])
def test_a_bad_declaration_names_the_file_line_source_and_field(tmp_path, old, new,
                                                               expected):
    assert old in GATEWAY_YAML
    output = settings_error(tmp_path, GATEWAY_YAML.replace(old, new))
    assert expected in output.replace("\n", " ").replace("  ", " ") or expected in output, \
        output


def test_a_path_no_record_holds_stops_the_import_naming_the_field(tmp_path):
    settings = GATEWAY_YAML.replace(
        "{sum: [usage.prompt_tokens, usage.cache_read_tokens]}",
        "{sum: [usage.prompt_tokens, usage.cache_reads]}")
    output = settings_error(tmp_path, settings)
    assert ("importers.yaml:11: sources[0] (inhouse-gateway).fields.input_tokens: column "
            "'usage.cache_reads' is in no record of gateway-2026-01.jsonl") in output
    assert "nothing was written" in output
    # with a default it may be absent
    ledger = new_book(tmp_path / "other")
    (ledger.parent / "importers.yaml").write_text(settings.replace(
        "usage.cache_reads]", "{column: usage.cache_reads, default: 0}]"))
    source = tmp_path / "gateway-2026-01.jsonl"
    result = run(ledger, source)
    assert result.exit_code == 0, result.output


def test_the_mistakes_shown_in_the_docs_are_the_real_messages(tmp_path):
    for n, (old, new) in enumerate((("      input_tokens:", "      input_tokns:"),
                                    ("{column: ts, unit: ms}",
                                     "{column: ts, unit: minutes}"))):
        output = settings_error(tmp_path / str(n), GATEWAY_YAML.replace(old, new))
        message = " ".join(output.split()).removeprefix("Error: ")
        shown = message.rsplit("/", 1)[-1].split(" expected one of: event_id")[0]
        assert shown in " ".join(DOC.split()), message


def test_a_declared_source_wins_over_the_canonical_importer(tmp_path):
    # a JSONL file with canonical-looking keys, declared by pattern
    settings = """\
sources:
  - name: renamed
    match: {pattern: "ours-*.jsonl"}
    format: jsonl
    fields:
      event_id: event_id
      timestamp: timestamp
      customer: {column: who, lookup: {A: acme}}
      model: model
      input_tokens: tokens_in
"""
    ledger = new_book(tmp_path / "book")
    (ledger.parent / "importers.yaml").write_text(settings)
    source = tmp_path / "ours-1.jsonl"
    source.write_text(json.dumps({"event_id": "e1", "timestamp": "2026-01-05T10:00:00Z",
                                  "who": "A", "model": "gpt-4o", "tokens_in": 7}) + "\n")
    result = run(ledger, source)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["importer"].endswith("mapping.renamed")
    assert usages(ledger.parent) == [("2026-01-05", "acme", "gpt-4o", "", 7, 0, 0, 1, 0)]


# -- formats ------------------------------------------------------------------------------


def importer(tmp_path: Path, settings: str) -> mapping.Importer:
    path = tmp_path / "importers.yaml"
    path.write_text(settings)
    specs = mapping.read_sources(yaml.safe_load(settings)["sources"], path, settings)
    return mapping.Importer(ROOT / "contracts", specs[0])


def test_tsv_with_a_bom_a_quoted_multiline_field_and_an_undecodable_line(tmp_path):
    imp = importer(tmp_path, textwrap.dedent("""\
        sources:
          - name: tabs
            match: {columns: [id, when, team]}
            format: tsv
            fields:
              event_id: id
              timestamp: {column: when, unit: s}
              customer: team
              model: model
              input_tokens: in
              output_tokens: out
        """))
    source = tmp_path / "log.tsv"
    source.write_bytes(
        b"\xef\xbb\xbfid\twhen\tteam\tmodel\tin\tout\tnote\n"
        b"a\t1767603600\tacme\tgpt-4o\t10\t1\t\"two\nlines\"\n"
        b"b\t1767603600\tacme\tgpt-4o\t\xff\t1\tx\n"
        b"c\t1767603600\tacme\tgpt-4o\t20\t2\tplain\n")
    assert imp.identify(str(source))
    entries = imp.extract(str(source), [])
    result = imp.results[str(source)]
    assert (result.read, result.imported, result.quarantined) == (3, 2, 1)
    # the quoted note spans lines 2-3 (a column not mapped): the record is line 2
    assert [(q.line, q.field, q.reason) for q in result.quarantine] == [
        (4, "(line)", "expected UTF-8 text")]
    assert [(e.meta["input_tokens"], e.meta["output_tokens"]) for e in entries] == [
        (Decimal(30), Decimal(3))]


def test_parquet_with_nested_columns(tmp_path):
    imp = importer(tmp_path, textwrap.dedent("""\
        sources:
          - name: lake
            match: {pattern: "*.parquet", columns: [meta.org]}
            format: parquet
            fields:
              event_id: id
              timestamp: {column: ts, unit: us}
              customer: {column: meta.org, lookup: {o1: acme}}
              model: meta.model
              input_tokens: {sum: [tokens.prompt, tokens.cached]}
              cached_input_tokens: tokens.cached
              output_tokens: tokens.output
        """))
    source = tmp_path / "usage.parquet"
    pq.write_table(pa.table({
        "id": ["p1", "p2"], "ts": [1767603600_000000, 1767603601_000000],
        "meta": [{"org": "o1", "model": "gpt-4o"}, {"org": "o1", "model": "gpt-4o"}],
        "tokens": [{"prompt": 100, "cached": 10, "output": 5},
                   {"prompt": 200, "cached": None, "output": 7}]}), source)
    assert imp.identify(str(source))
    entries = imp.extract(str(source), [])
    assert [(e.values[0].value, e.meta["input_tokens"], e.meta["cached_input_tokens"],
             e.meta["output_tokens"], e.meta["events"]) for e in entries] == [
        ("acme", Decimal(310), Decimal(10), Decimal(12), Decimal(2))]


def test_a_json_document_without_the_root_array_is_unreadable(tmp_path):
    imp = importer(tmp_path, PROXY_YAML)
    source = tmp_path / "proxy-report-x.json"
    source.write_text('{"data": {"rows": []}}')
    with pytest.raises(mapping.UnreadableSource, match="root: 'data.requests' is not in"):
        imp.extract(str(source), [])
