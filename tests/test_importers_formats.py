"""Other tools' exports (docs/formats.md): identified by content, imported, checked by hand.

Each format is read from the reference samples (../shared/reference/samples) and from
variants of the vendors' documented shapes (tests/data/formats and files written here);
the token counts and amounts asserted are read off the files by hand, in the comments.
"""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from click.testing import CliRunner

from tokenbooks.importers import (
    anthropic_usage,
    bedrock,
    helicone,
    langfuse,
    litellm_json,
    openai_cost_export,
    openai_usage,
    openrouter,
    openrouter_activity,
    usage_jsonl,
)
from tokenbooks.importers.diagnose import explain
from tokenbooks.importers.index import EventIndex
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.usage import usage_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.import_cmd import identify, make_importers

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
DATA = ROOT / "tests" / "data" / "formats"
CONTRACTS = load_contracts(ROOT / "contracts")[0]

SETTINGS = {
    "litellm_json": {"customers": {"cust_00017": "acme", "team-acme-data": "globex"}},
    "helicone": {"customers": {"cust_00017": "acme"}},
    "langfuse": {"customers": {"cust_00017": "acme"}},
    "openrouter": {"customers": {"cust_00017": "acme"}},
    "bedrock": {"customers": {"batch-runner": "globex"}},
    "openai_usage": {"customers": {"proj_7Qk2LmN4pR8sT1vW": "acme"}},
    "anthropic_usage": {"customers": {"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ": "acme",
                                      "apikey_01Rj2N8SVvo6BePZj99NhmiT": "globex"}},
}


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"reference sample {name} not available")
    return path


def the_importer(path: Path, settings: dict | None = None):
    """The one importer ``tokenbooks import`` picks for ``path``."""
    importers = make_importers(CONTRACTS, SETTINGS if settings is None else settings)
    found = [i for i in importers if i.identify(str(path))]
    assert len(found) == 1, [i.name for i in found]
    assert identify(importers, path) is found[0]
    return found[0]


def usage_of(path: Path, settings: dict | None = None):
    importer = the_importer(path, settings)
    importer.extract(str(path), [])
    result = importer.results[str(path)]
    assert result.read == result.imported + result.duplicates + result.quarantined
    return importer, result, [usage_from_entry(e) for e in result.entries]


def tokens(u) -> tuple:
    return (u.customer, u.model, u.input_tokens, u.cached_input_tokens, u.output_tokens,
            u.events)


# -- customer usage -------------------------------------------------------------------------------


def test_litellm_spend_logs_as_json_from_the_api(tmp_path):
    path = DATA / "litellm_spend_logs_api.json"
    importer, result, records = usage_of(path)
    assert isinstance(importer, litellm_json.Importer)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    # row 1: end_user cust_00017 -> acme; 1210 prompt (1024 cached), 325 completion;
    # row 2: no end_user, team_id team-acme-data -> globex; metadata as JSON text
    assert sorted(tokens(u) for u in records) == [
        ("acme", "gpt-5-mini", 1210, 1024, 325, 1),
        ("globex", "claude-sonnet-4-5", 2380, 0, 740, 1)]
    acme = next(u for u in records if u.customer == "acme")
    assert acme.feature == "support-bot" and str(acme.date) == "2025-11-01"


def test_litellm_standard_logging_payloads_from_callbacks():
    path = DATA / "litellm_standard_logging_payload.jsonl"
    _, result, records = usage_of(path)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    # line 1: startTime 1761988443.512 = 2025-11-01 09:14:03 UTC; cached from usage_object
    # line 2: status failure -> counted, not billed; customer from the team in metadata
    assert sorted((*tokens(u), u.unbilled_events) for u in records) == [
        ("acme", "gpt-5-mini", 1210, 1024, 325, 1, 0),
        ("globex", "claude-sonnet-4-5", 0, 0, 0, 1, 1)]
    assert {str(u.date) for u in records} == {"2025-11-01"}


def test_helicone_request_export_and_its_customer_property(tmp_path):
    path = sample("helicone_requests.json")
    importer, result, records = usage_of(path)
    assert isinstance(importer, helicone.Importer)
    # prompt_tokens 1210 of which prompt_cache_read_tokens 1024, completion_tokens 325;
    # the property Tenant: acme comes before request_user_id cust_00017
    assert [tokens(u) for u in records] == [("acme", "gpt-5-mini-2025-08-07", 1210, 1024,
                                             325, 1)]
    assert result.entries[0].meta["first_event"] == "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
    # the export CLI's JSON Lines, an Anthropic-style count, a failed request, a bad count
    doc = json.loads(path.read_text())["data"][0]
    lines = [doc, {**doc, "request_id": "r2", "provider": "ANTHROPIC", "prompt_tokens": 100,
                   "prompt_cache_read_tokens": 900, "prompt_cache_write_tokens": 50,
                   "properties": {}, "request_properties": {}},
             {**doc, "request_id": "r3", "response_status": 500},
             {**doc, "request_id": "r4", "completion_tokens": -3}]
    jsonl = tmp_path / "helicone-export.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    _, result, records = usage_of(jsonl)
    assert (result.read, result.imported, result.quarantined) == (4, 3, 1)
    assert (result.quarantine[0].line, result.quarantine[0].field) == (4, "completion_tokens")
    acme = next(u for u in records if u.customer == "acme")
    # r1 1210 (1024) + r2 100 + 900 + 50 = 1050 (900): 2260 (1924); r3 failed: not billed
    assert (acme.input_tokens, acme.cached_input_tokens, acme.output_tokens, acme.events,
            acme.unbilled_events) == (2260, 1924, 650, 3, 1)


def test_langfuse_observations_sum_usage_details_by_langfuse_rule(tmp_path):
    path = sample("langfuse_observations.json")
    importer, result, records = usage_of(path)
    assert isinstance(importer, langfuse.Importer)
    # usageDetails: input 186 + input_cached_tokens 1024 = 1210 (cached 1024);
    # output 133 + output_reasoning_tokens 192 = 325; total is not counted
    assert [tokens(u) for u in records] == [("acme", "gpt-5-mini-2025-08-07", 1210, 1024,
                                             325, 1)]
    # a JSON array: a span (no usage, skipped), a legacy ``usage`` generation, an ERROR
    obs = json.loads(path.read_text())["data"][0]
    legacy = {k: v for k, v in obs.items() if k not in ("usageDetails", "costDetails")}
    items = [{**obs, "id": "span-1", "type": "SPAN", "usageDetails": {}},
             {**legacy, "id": "obs-legacy", "usage": {"input": 50, "output": 7}},
             {**obs, "id": "obs-error", "level": "ERROR"}]
    array = tmp_path / "observations.json"
    array.write_text(json.dumps(items, indent=2))
    _, result, records = usage_of(array)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    assert [(u.input_tokens, u.output_tokens, u.events, u.unbilled_events)
            for u in records] == [(50, 7, 2, 1)]


def test_langfuse_daily_metrics_are_refused_with_why(tmp_path):
    path = sample("langfuse_daily_metrics.json")
    importers = make_importers(CONTRACTS, {})
    assert not [i for i in importers if i.identify(str(path))]
    message = explain(importers, path)
    assert "Langfuse daily metrics" in message and "no customer key" in message


def test_openrouter_generations_one_or_many(tmp_path):
    path = sample("openrouter_generation.json")
    importer, result, records = usage_of(path)
    assert isinstance(importer, openrouter.Importer)
    # native_tokens_prompt 1210, native_tokens_cached 1024, native_tokens_completion 325
    assert [tokens(u) for u in records] == [("acme", "openai/gpt-5-mini", 1210, 1024, 325, 1)]
    answer = json.loads(path.read_text())
    other = {**answer["data"], "id": "gen-2", "external_user": "cust_00017",
             "native_tokens_prompt": None, "tokens_prompt": 40, "native_tokens_cached": None,
             "native_tokens_completion": None, "tokens_completion": 9}
    lines = tmp_path / "generations.jsonl"
    lines.write_text(json.dumps(answer) + "\n" + json.dumps({"data": other}) + "\n")
    _, result, records = usage_of(lines)
    assert result.imported == 2
    assert [tokens(u) for u in records] == [("acme", "openai/gpt-5-mini", 1250, 1024, 334, 2)]


def test_bedrock_invocation_logs_are_not_canonical_usage(tmp_path):
    path = sample("bedrock_invocation_logs.jsonl")
    assert not usage_jsonl.Importer(CONTRACTS).identify(str(path))
    importer, result, records = usage_of(path)
    assert isinstance(importer, bedrock.Importer)
    # line 1: requestMetadata.tenant acme; 2380 in, 740 out; line 2: no tag, the IAM user
    # batch-runner of identity.arn -> globex; 512 in, 0 out
    assert sorted(tokens(u) for u in records) == [
        ("acme", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 2380, 0, 740, 1),
        ("globex", "amazon.titan-embed-text-v2:0", 512, 0, 0, 1)]
    # an S3 delivery: gzip'ed, with cache tokens, an error, an unmapped role
    first = json.loads(path.read_text().splitlines()[0])
    cached = {**first, "requestId": "r-cache", "requestMetadata": None,
              "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/billing-app-role/x"},
              "input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 3000,
                        "cacheWriteInputTokenCount": 200}}
    failed = {**first, "requestId": "r-err", "errorCode": "ThrottlingException"}
    stranger = {**first, "requestId": "r-who", "requestMetadata": None,
                "identity": {"arn": "arn:aws:iam::111122223333:user/intern"}}
    gz = tmp_path / "000001.json.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n"
                                         for r in (cached, failed, stranger)).encode(),
                                 mtime=0))
    settings = {"bedrock": {"customers": {"billing-app-role": "acme"}}}
    _, result, records = usage_of(gz, settings)
    assert (result.read, result.imported, result.quarantined) == (3, 2, 1)
    assert result.quarantine[0].line == 3 and "intern" in result.quarantine[0].reason
    # r-cache: 100 + 3000 + 200 = 3300 in, 3000 cached; r-err: counted, not billed
    assert [(u.input_tokens, u.cached_input_tokens, u.events, u.unbilled_events)
            for u in records] == [(3300, 3000, 2, 1)]


def test_openai_usage_api_page_and_dashboard_exports_are_one_bucket(tmp_path):
    page = sample("openai_usage_completions.json")
    importer, result, records = usage_of(page)
    assert isinstance(importer, openai_usage.Importer)
    # two results of 2025-11-01 for project proj_7Qk2... -> acme; the empty bucket: nothing
    assert sorted(tokens(u) for u in records) == [
        ("acme", "gpt-4.1-2025-04-14", 1250000, 0, 310000, 1),
        ("acme", "gpt-5-mini-2025-08-07", 182400, 96000, 41250, 1)]
    assert all(e.meta["first_event"].startswith("openai-usage-20251101T0000-")
               for e in result.entries)
    for export in (sample("openai_dashboard_completions_export.csv"),
                   DATA / "openai_dashboard_completions_export.tsv"):
        _, result, records = usage_of(export)  # floats "182400.0", TRUE/FALSE, a blank day
        assert (result.read, result.imported) == (2, 2)
        assert sorted(tokens(u) for u in records) == [
            ("acme", "gpt-4.1-2025-04-14", 1250000, 0, 310000, 1),
            ("acme", "gpt-5-mini-2025-08-07", 182400, 96000, 41250, 1)]
    # the API page and an export of the same bucket and groups (user_id empty, as in the
    # page; the sample export has a user_id, so it is another group): the same event ids
    index = EventIndex()
    first = openai_usage.Importer(CONTRACTS, index=index, customers=SETTINGS[
        "openai_usage"]["customers"]).run(page)
    again = openai_usage.Importer(CONTRACTS, index=index, customers=SETTINGS[
        "openai_usage"]["customers"]).run(DATA / "openai_dashboard_completions_export.tsv")
    assert (first.imported, again.imported, again.duplicates) == (2, 0, 2)


def test_openai_usage_without_a_customer_key_is_quarantined(tmp_path):
    doc = json.loads(sample("openai_usage_completions.json").read_text())
    for result in doc["data"][0]["results"]:
        result.update(project_id=None, api_key_id=None, user_id=None)
    path = tmp_path / "ungrouped.json"
    path.write_text(json.dumps(doc, indent=1))
    _, result, _ = usage_of(path)
    assert result.quarantined == 2
    assert all("project_id, api_key_id, user_id" in q.reason for q in result.quarantine)
    unmapped = usage_of(sample("openai_usage_completions.json"), {})[1]
    assert unmapped.quarantined == 2 and "proj_7Qk2LmN4pR8sT1vW" in unmapped.quarantine[0].reason


def test_anthropic_usage_report_current_and_legacy_names():
    path = sample("anthropic_usage_report.json")
    importer, result, records = usage_of(path)
    assert isinstance(importer, anthropic_usage.Importer)
    # row 1: workspace -> acme: 420,000 + 1,280,000 read + 64,000 5m + 0 1h = 1,764,000
    # input, 1,280,000 cached, 95,000 out; row 2: no workspace, no key -> quarantined
    assert [tokens(u) for u in records] == [("acme", "claude-sonnet-4-5-20250929", 1764000,
                                             1280000, 95000, 1)]
    assert result.quarantined == 1 and result.quarantine[0].field == "customer"
    _, result, records = usage_of(DATA / "anthropic_usage_legacy.json")
    # legacy: input_tokens 150,000 + cache_creation_input_tokens 20,000 + read 5,000
    assert [tokens(u) for u in records] == [("globex", "claude-haiku-4-5-20251001", 175000,
                                             5000, 38000, 1)]


def test_reimport_is_idempotent_and_output_byte_identical(tmp_path):
    for path in (sample("helicone_requests.json"), sample("bedrock_invocation_logs.jsonl"),
                 DATA / "litellm_standard_logging_payload.jsonl",
                 sample("openai_dashboard_completions_export.csv")):
        texts = []
        for _ in range(2):
            importer = the_importer(path)
            importer.extract(str(path), [])
            texts.append("".join(format_entry(e) for e in importer.results[str(path)].entries))
        assert texts[0] == texts[1] and texts[0]
        index = EventIndex()
        kind = type(the_importer(path))
        settings = SETTINGS[kind.settings_name]
        once = kind(CONTRACTS, index=index, customers=settings["customers"]).run(path)
        twice = kind(CONTRACTS, index=index, customers=settings["customers"]).run(path)
        assert twice.imported == 0 and twice.duplicates == once.imported > 0


def test_a_bad_record_of_a_json_document_names_its_line(tmp_path):
    doc = json.loads(sample("langfuse_observations.json").read_text())
    bad = {**doc["data"][0], "id": "obs-2", "startTime": "yesterday"}
    doc["data"].append(bad)
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(doc, indent=2))
    _, result, _ = usage_of(path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if '"id": "obs-2"' in text) - 1  # the record's "{" is on the line before
    assert [(q.line, q.field) for q in result.quarantine] == [(line, "timestamp")]
    assert json.loads(result.quarantine[0].content)["id"] == "obs-2"


# -- provider cost ----------------------------------------------------------------------------------


def test_openai_dashboard_cost_export_is_a_provider_bill(tmp_path):
    path = sample("openai_dashboard_costs_export.csv")
    importer = the_importer(path)
    assert isinstance(importer, openai_cost_export.Importer)
    entries = importer.extract(str(path), [])
    # one day with cost: 2.5965000000000000 dollars, not grouped (line item, project: *)
    assert [(str(e.date), e.values[0].value, e.values[1].value, e.values[2].value.number,
             e.meta["bill_key"]) for e in entries] == [
        ("2025-11-01", "openai", "all line items", Decimal("2.5965"), "openai|2025-11-01|*|*")]
    assert importer.extract(str(path), entries) == []  # the same line again: a duplicate
    tsv = tmp_path / "costs.tsv"
    tsv.write_text(path.read_text().replace(",", "\t").replace("2.5965000000000000", "oops"))
    with pytest.raises(Exception, match=r"costs.tsv:2: amount_value: expected a number"):
        the_importer(tsv).extract(str(tsv), [])


def test_openrouter_activity_is_a_provider_bill():
    path = sample("openrouter_activity.json")
    importer = the_importer(path)
    assert isinstance(importer, openrouter_activity.Importer)
    entries = importer.extract(str(path), [])
    # usage 0.1534 and 3.066 USD on 2025-11-01, per model permaslug and endpoint
    assert [(e.values[1].value, e.values[2].value.number) for e in entries] == [
        ("openai/gpt-5-mini-2025-08-07", Decimal("0.1534")),
        ("anthropic/claude-4.5-sonnet-20250929", Decimal("3.066"))]


# -- when nothing recognizes a file -------------------------------------------------------------------


def test_nothing_recognizes_a_file_says_what_was_tried_and_what_is_missing(tmp_path):
    importers = make_importers(CONTRACTS, {})
    almost = tmp_path / "calls.jsonl"
    record = json.loads(sample("bedrock_invocation_logs.jsonl").read_text().splitlines()[0])
    del record["schemaType"], record["requestId"]
    almost.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    message = explain(importers, almost)
    assert message.startswith("no importer recognizes this file (JSON Lines). Tried: ")
    assert "Helicone request export" in message and "Stripe payments export" in message
    assert ("Closest: Bedrock invocation logs: the file lacks schemaType, requestId (it has "
            "timestamp, modelId, input.inputTokenCount)") in message
    header = tmp_path / "usage.csv"
    header.write_text("event_id,timestamp,model,input_tokens\ne1,2026-01-01T00:00:00Z,x,1\n")
    assert "Closest: CSV usage events: the file lacks customer" in explain(importers, header)
    grant = sample("stripe_credit_grant.json")
    assert "none of them is close" in explain(importers, grant)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 10)
    assert "not UTF-8 text" in explain(importers, binary)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert "it is empty" in explain(importers, empty)


def test_the_import_command_names_the_closest_format_without_a_traceback(tmp_path):
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0
    shutil.rmtree(book / "contracts")
    shutil.copytree(ROOT / "contracts", book / "contracts")
    almost = tmp_path / "helicone.json"
    doc = json.loads(sample("helicone_requests.json").read_text())
    del doc["data"][0]["request_created_at"]
    almost.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["import", "--ledger", str(book / "main.beancount"),
                                 str(almost)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "helicone.json: no importer recognizes this file" in result.output
    assert "Closest: Helicone request export: the file lacks request_created_at" in (
        " ".join(result.output.split()))


def test_tokenbooks_import_books_foreign_usage_with_importers_yaml(tmp_path):
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0
    shutil.rmtree(book / "contracts")
    shutil.copytree(ROOT / "contracts", book / "contracts")
    (book / "importers.yaml").write_text(
        "helicone: {customers: {acme-tenant: acme}, customer_from: [properties.Tenant]}\n"
        "bedrock: {customers: {batch-runner: globex}}\n")
    doc = json.loads(sample("helicone_requests.json").read_text())
    doc["data"][0]["properties"] = {"Tenant": "acme-tenant"}
    source = tmp_path / "helicone.json"
    source.write_text(json.dumps(doc))
    ledger = str(book / "main.beancount")
    result = runner.invoke(cli, ["import", "--ledger", ledger, "--json", str(source),
                                 str(sample("bedrock_invocation_logs.jsonl"))])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["read"], r["imported"], r["quarantined"]) for r in rows] == [(1, 1, 0),
                                                                          (2, 2, 0)]
    entries, errors, _ = loader.load_file(ledger)
    usage = [e for e in entries if getattr(e, "type", "") == "usage"]
    assert {e.values[0].value for e in usage} == {"acme", "globex"}
    again = runner.invoke(cli, ["import", "--ledger", ledger, "--json", str(source)])
    assert json.loads(again.output)[0]["duplicates"] == 1
    (book / "importers.yaml").write_text("helicone: {customer_from: tenant}\n")
    bad = runner.invoke(cli, ["import", "--ledger", ledger, str(source)])
    assert bad.exit_code == 1 and "helicone.customer_from: expected a list" in bad.output
