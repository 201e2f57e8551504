"""The column-wise path of the foreign importers (importers/fastpath.py) changes no byte.

Every format's files -- the reference samples, tests/data/formats, the variants the
format tests write, and generated files full of malformed records -- are imported
twice, record by record (``fast = False``: the per-record path as it was) and
column-wise, and everything the import gives is compared: the entries as written, the
quarantine lines, the counts, the event ids of the sidecars, the digest.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.importers import (
    bedrock,
    fastpath,
    foreign,
    helicone,
    langfuse,
    litellm_json,
    openrouter,
)
from tokenbooks.importers.index import EventIndex
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
DATA = ROOT / "tests" / "data" / "formats"
CONTRACTS = load_contracts(ROOT / "contracts")[0]
FAST = (helicone, bedrock, openrouter, litellm_json, langfuse)
CUSTOMERS = {"cust_00017": "acme", "team-acme-data": "globex", "batch-runner": "globex",
             "billing-app-role": "acme"}


def outputs(module, path: Path, fast: bool, **options) -> tuple:
    importer = module.Importer(CONTRACTS, customers=CUSTOMERS, **options)
    importer.fast = fast
    result = importer.run(path, index=EventIndex())
    return ("".join(format_entry(e) for e in result.entries),
            [q.as_json(path.name) for q in result.quarantine],
            (result.read, result.imported, result.duplicates, result.quarantined),
            {m: [a.to_pylist() for a in ids] for m, ids in result.event_ids.items()},
            result.sha256)


def same(module, path: Path, **options) -> tuple:
    """Both paths' outputs, compared; an unreadable source fails both alike."""
    try:
        before = outputs(module, path, False, **options)
    except Exception as exc:  # noqa: BLE001 - the same exception either way
        with pytest.raises(type(exc), match=None) as info:
            outputs(module, path, True, **options)
        assert str(info.value) == str(exc)
        return ()
    after = outputs(module, path, True, **options)
    assert after == before
    return after


def test_the_fast_path_is_taken_for_a_clean_file(tmp_path, monkeypatch):
    path = tmp_path / "bedrock.jsonl"
    first = json.loads((SAMPLES / "bedrock_invocation_logs.jsonl").read_text().splitlines()[0]
                       ) if SAMPLES.exists() else None
    if first is None:
        pytest.skip("reference samples not available")
    path.write_text("".join(json.dumps({**first, "requestId": f"r{i}"}) + "\n"
                            for i in range(50)))
    calls = []
    monkeypatch.setattr(bedrock.Importer, "event",
                        lambda self, record: calls.append(record) or {})
    importer = bedrock.Importer(CONTRACTS, customers=CUSTOMERS)
    assert importer.run(path, index=EventIndex()).imported == 50
    assert calls == []  # no record went through the per-record mapping


def files() -> list[Path]:
    found = sorted(DATA.glob("*")) + sorted(SAMPLES.glob("*")) if SAMPLES.exists() else []
    return [p for p in found if p.suffix in (".json", ".jsonl", ".csv", ".tsv")]


@pytest.mark.parametrize("module", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_test_file_imports_byte_for_byte_alike(module):
    if not files():
        pytest.skip("no format files")
    for path in files():
        same(module, path)


def test_the_format_tests_variants_alike(tmp_path):
    if not SAMPLES.exists():
        pytest.skip("reference samples not available")
    doc = json.loads((SAMPLES / "helicone_requests.json").read_text())["data"][0]
    lines = [doc, {**doc, "request_id": "r2", "provider": "ANTHROPIC", "prompt_tokens": 100,
                   "prompt_cache_read_tokens": 900, "prompt_cache_write_tokens": 50,
                   "properties": {}, "request_properties": {}},
             {**doc, "request_id": "r3", "response_status": 500},
             {**doc, "request_id": "r4", "completion_tokens": -3}]
    jsonl = tmp_path / "helicone-export.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert same(helicone, jsonl)[2] == (4, 3, 0, 1)
    array = tmp_path / "helicone-array.json"
    array.write_text(json.dumps(lines, indent=2))
    same(helicone, array)
    compact = tmp_path / "helicone-compact.json"
    compact.write_text(json.dumps({"data": lines * 3, "error": None}))  # all on line 1
    same(helicone, compact)
    first = json.loads((SAMPLES / "bedrock_invocation_logs.jsonl").read_text().splitlines()[0])
    cached = {**first, "requestId": "r-cache", "requestMetadata": None,
              "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/billing-app-role/x"},
              "input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 3000,
                        "cacheWriteInputTokenCount": 200}}
    failed = {**first, "requestId": "r-err", "errorCode": "ThrottlingException"}
    stranger = {**first, "requestId": "r-who", "requestMetadata": None,
                "identity": {"arn": "arn:aws:iam::111122223333:user/intern"}}
    gz = tmp_path / "000001.json.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n"
                                         for r in (cached, failed, stranger)).encode(), mtime=0))
    assert same(bedrock, gz)[2] == (3, 2, 0, 1)
    answer = json.loads((SAMPLES / "openrouter_generation.json").read_text())
    other = {**answer["data"], "id": "gen-2", "native_tokens_prompt": None,
             "tokens_prompt": 40, "native_tokens_cached": None,
             "native_tokens_completion": None, "tokens_completion": 9}
    both = tmp_path / "generations.jsonl"
    both.write_text(json.dumps(answer) + "\n" + json.dumps({"data": other}) + "\n"
                    + json.dumps(other) + "\n")
    same(openrouter, both)
    same(helicone, jsonl, customer_from=["properties.Tenant", "request_user_id"])


# -- malformed records: generated ------------------------------------------------------------------

TEMPLATES = {
    helicone: {"request_id": "req-1", "request_created_at": "2026-01-05T10:00:00.123Z",
               "response_status": 200, "provider": "OPENAI", "model": "gpt-4o",
               "request_user_id": "acme", "properties": {"Tenant": "globex"},
               "prompt_tokens": 1200, "prompt_cache_read_tokens": 100,
               "prompt_cache_write_tokens": 0, "completion_tokens": 300},
    bedrock: {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
              "timestamp": "2026-01-05T10:00:00Z", "requestId": "r-1", "modelId": "gpt-4o",
              "identity": {"arn": "arn:aws:iam::1111:user/batch-runner"},
              "requestMetadata": {"customer": "acme"},
              "input": {"inputTokenCount": 1000, "cacheReadInputTokenCount": 100,
                        "cacheWriteInputTokenCount": 0}, "output": {"outputTokenCount": 300}},
    openrouter: {"id": "gen-1", "created_at": "2026-01-05T10:00:00Z", "model": "gpt-4o",
                 "external_user": "acme", "total_cost": 0.0007, "native_tokens_prompt": 1000,
                 "native_tokens_cached": 100, "native_tokens_completion": 300,
                 "tokens_prompt": 0, "tokens_completion": 0, "service_tier": "flex"},
    langfuse: {"id": "obs-1", "traceId": "t-1", "type": "GENERATION",
               "startTime": "2026-01-05T10:00:00.123Z", "model": "gpt-4o",
               "metadata": {"customer": "acme", "tenant": "globex"}, "level": "DEFAULT",
               "usageDetails": {"input": 1000, "input_cached_tokens": 100,
                                "input_cache_creation": 20, "output": 300, "total": 1420},
               "usage": {"input": 1120, "output": 300}},
    litellm_json: {"request_id": "chatcmpl-1", "call_type": "acompletion", "spend": 0.0007,
                   "prompt_tokens": 1000, "completion_tokens": 300,
                   "startTime": "2026-01-05 10:00:00.123", "model": "gpt-4o",
                   "model_group": "gpt-4o", "end_user": "acme", "team_id": "team-acme-data",
                   "user": "u1", "status": "success", "request_tags": ["chat"],
                   "cache_hit": False,
                   "metadata": {"user_api_key_alias": "prod", "additional_usage_values": {
                       "prompt_tokens_details": {
                           "cached_tokens": 100, "cache_creation_token_details": {
                               "ephemeral_5m_input_tokens": 20,
                               "ephemeral_1h_input_tokens": 30}},
                       "cache_creation_input_tokens": 50,
                       "server_tool_use": {"web_search_requests": 1}}}},
}
ODD_VALUES = (None, "", -1, 10**16, 2**70, 1.0, 1.5, "12", "x" * 250, "a\nb", True, [], {},
              ["chat", 3], "2026-01-05T10:00:00+02:00", "yesterday", 1767607200, "ERROR",
              "FAILURE", "Success", "é", "\u0000", "unknown-customer", "globex", 250, 404)


def mutate(record: dict, rng: random.Random) -> dict:
    record = json.loads(json.dumps(record))
    for _ in range(rng.randrange(1, 3)):
        holder = record
        keys = list(holder)
        key = rng.choice(keys)
        while isinstance(holder.get(key), dict) and holder[key] and rng.random() < 0.6:
            holder = holder[key]
            key = rng.choice(list(holder))
        action = rng.random()
        if action < 0.15:
            holder.pop(key, None)
        elif action < 0.2:
            holder[key + ".x"] = 1
        else:
            holder[key] = rng.choice(ODD_VALUES)
    return record


def render(records: list, rng: random.Random, shape: str) -> str:
    if shape == "jsonl":
        out = []
        for record in records:
            roll = rng.random()
            if roll < 0.03:
                out.append("")  # a blank line
            elif roll < 0.05:
                out.append(rng.choice(['{"request_id": ', "null", "[1, 2]", "5", '"x"',
                                       "   ", '{"a": 1} {"b": 2}', "{}", '{"a": NaN}']))
            line = json.dumps(record, indent=None if rng.random() < 0.97 else 1)
            out.append(line.replace("\n", " ") + ("\r" if rng.random() < 0.02 else ""))
        return "\n".join(out) + ("\n" if rng.random() < 0.8 else "")
    indent = rng.choice((None, 1, 2))
    if shape == "array":
        return json.dumps(records, indent=indent)
    return json.dumps({"meta": {"page": {"n": 1}}, "data": records, "error": None},
                      indent=indent)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), module=st.sampled_from(FAST),
       shape=st.sampled_from(("jsonl", "array", "data")), batch=st.sampled_from((3, 8192)))
def test_malformed_records_are_quarantined_alike(tmp_path, monkeypatch, seed, module,
                                                 shape, batch):
    monkeypatch.setattr(foreign, "BATCH", batch)
    rng = random.Random(seed)
    template = TEMPLATES[module]
    id_key = next(k for k in ("request_id", "requestId", "id") if k in template)
    records = []
    for i in range(rng.randrange(1, 40)):
        record = {**template, id_key: f"e-{i % 30}"}  # some ids repeat
        records.append(mutate(record, rng) if rng.random() < 0.4 else record)
    path = tmp_path / f"f-{seed}.{'jsonl' if shape == 'jsonl' else 'json'}"
    path.write_text(render(records, rng, shape), encoding="utf-8")
    same(module, path)


def test_a_broken_document_fails_alike(tmp_path):
    record = TEMPLATES[helicone]
    for text in (json.dumps({"data": [record, record]})[:-5],
                 json.dumps({"data": [record]}) + " trailing",
                 '{"data": [' + json.dumps(record) + ', 5, null]}',
                 '{"data": [' + json.dumps(record) + '], "data": [' + json.dumps(record) + "]}",
                 json.dumps({"data": [{**record, "x": float("nan")}]}),
                 '\ufeff' + json.dumps({"data": [record]}),
                 json.dumps({"data": [{**record, "model": 'a"\\"b\\\\'}]})):
        path = tmp_path / "doc.json"
        path.write_text(text, encoding="utf-8")
        same(helicone, path)


def test_skeleton_walk_matches_scan():
    text = json.dumps({"object": "page", "data": [
        {"start_time": 1, "results": [{"a": 1}, {"a": 2}], "end": 2},
        {"results": [], "start_time": 3}, {"start_time": 4, "results": [{"b": [1]}]}],
        "has_more": False})
    data = text.encode()
    steps = ("data", "*", "results", "*")
    starts, ends = fastpath.containers(data, len(steps))
    walked = fastpath.walk_document(fastpath.skeleton(data, starts, ends), steps)
    scanned = list(foreign.scan(text, steps))
    assert [json.loads(data[starts[int(v[3:])]:ends[int(v[3:])]]) for v, _ in walked] == [
        value for _, value, _ in scanned]
    assert [c for _, c in walked] == [c for _, _, c in scanned]


def test_langfuse_reads_column_wise_too(tmp_path, monkeypatch):
    if not SAMPLES.exists():
        pytest.skip("reference samples not available")
    doc = json.loads((SAMPLES / "langfuse_observations.json").read_text())
    record = doc["data"][0]
    doc["data"] = [{**record, "id": f"obs-{i}"} for i in range(50)]
    path = tmp_path / "observations.json"
    path.write_text(json.dumps(doc, indent=2))
    calls = []
    monkeypatch.setattr(langfuse.Importer, "event",
                        lambda self, record: calls.append(record) or {})
    importer = langfuse.Importer(CONTRACTS, customers=CUSTOMERS)
    assert importer.run(path, index=EventIndex()).imported == 50
    assert calls == []  # no record went through the per-record mapping
