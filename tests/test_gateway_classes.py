"""The gateway logs' token classes (docs/token-classes.md, docs/formats.md): cache writes
(5-minute and 1-hour, part of the input), gateway cache hits, service tiers and web
searches, from real-shaped files (the reference samples with those fields set); the
counts asserted are read off the files by hand, in the comments. And the column-wise
path of every gateway format gives what the per-record path gives, byte for byte, on
files full of hostile values (LiteLLM's CSV here; the JSON formats in
test_importers_fastpath)."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from test_importers_fastpath import SAMPLES, same

from tokenbooks.importers import (
    bedrock,
    foreign,
    helicone,
    langfuse,
    litellm,
    litellm_json,
    openrouter,
)
from tokenbooks.importers.index import EventIndex
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.usage import usage_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "formats"
CONTRACTS = load_contracts(ROOT / "contracts")[0]
CUSTOMERS = {"cust_00017": "acme", "team-acme-data": "globex", "batch-runner": "globex",
             "billing-app-role": "acme", "team-acme-support": "acme"}


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"reference sample {name} not available")
    return path


def classes(u) -> tuple:
    return (u.input_tokens, u.cached_input_tokens, u.count("cache_write_tokens"),
            u.count("cache_write_1h_tokens"), u.output_tokens, u.events)


def usages(module, path: Path, **options) -> list:
    """The usage of ``path`` (both paths alike: ``same``), one aggregate a key."""
    importer = module.Importer(CONTRACTS, customers=CUSTOMERS, **options)
    assert importer.identify(str(path))
    result = importer.run(path, index=EventIndex())
    assert result.quarantined == 0, [q.reason for q in result.quarantine]
    same(module, path, **options)
    return sorted((usage_from_entry(e) for e in result.entries),
                  key=lambda u: (u.model, u.cache_hit, u.tier))


# -- what each format fills -----------------------------------------------------------------------


def test_helicone_cache_writes_and_anthropic_prompt_tokens(tmp_path):
    doc = json.loads(sample("helicone_requests.json").read_text())
    openai_ = doc["data"][0]  # OPENAI: prompt_tokens 1210 with 1024 cache reads in it
    anthropic = {**openai_, "request_id": "r-anthropic", "provider": "ANTHROPIC",
                 "model": "claude-sonnet-4-5-20250929",
                 "response_model": "claude-sonnet-4-5-20250929",
                 # Anthropic's input_tokens, without the cache: 5000 uncached
                 "prompt_tokens": 5000, "prompt_cache_read_tokens": 1000,
                 "prompt_cache_write_tokens": 500, "completion_tokens": 200}
    small = {**anthropic, "request_id": "r-anthropic-2", "prompt_tokens": 40,
             "prompt_cache_read_tokens": 3000, "prompt_cache_write_tokens": 0,
             "completion_tokens": 10}
    doc["data"] = [openai_, anthropic, small]
    path = tmp_path / "helicone.json"
    path.write_text(json.dumps(doc, indent=2))
    claude, gpt = usages(helicone, path)
    # 5000 + 1000 + 500 = 6500 and 40 + 3000 + 0 = 3040: 9540 input, 4000 read, 500
    # written (one count, 5-minute: Helicone has no other); 200 + 10 output
    assert classes(claude) == (9540, 4000, 500, 0, 210, 2)
    assert classes(gpt) == (1210, 1024, 0, 0, 325, 1)  # OpenAI's count as it is


def bedrock_record() -> dict:
    first = json.loads(sample("bedrock_invocation_logs.jsonl").read_text().splitlines()[0])
    assert first["input"]["cacheWriteInputTokenCount"] == 0
    return {**first, "requestId": "r-cache",
            "input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 3000,
                      "cacheWriteInputTokenCount": 200}}


def test_bedrock_cache_writes_are_part_of_the_input(tmp_path):
    record = bedrock_record()
    path = tmp_path / "bedrock.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "requestId": "r-2"})
                    + "\n")
    (u,) = usages(bedrock, path)
    # inputTokenCount 100 + reads 3000 + writes 200 = 3300 a request, twice
    assert classes(u) == (6600, 6000, 400, 0, 1480, 2)


def test_langfuse_cache_creation_keys(tmp_path):
    doc = json.loads(sample("langfuse_observations.json").read_text())
    obs = doc["data"][0]
    split = {**obs, "id": "obs-split", "model": "claude-sonnet-4-5",
             "usageDetails": {"input": 186, "input_cached_tokens": 1024,
                              "input_cache_creation": 300, "input_cache_creation_1h": 50,
                              "output": 133, "output_reasoning_tokens": 192, "total": 1885}}
    raw = {**obs, "id": "obs-raw", "model": "claude-sonnet-4-5",
           "usageDetails": {"input": 10, "cache_read_input_tokens": 20,
                            "cache_creation_input_tokens": 30, "output": 5}}
    doc["data"] = [obs, split, raw]
    path = tmp_path / "observations.json"
    path.write_text(json.dumps(doc, indent=2))
    claude, gpt = usages(langfuse, path)
    # split: 186 + 1024 + 300 + 50 = 1560 input (1024 read, 300 written for 5 minutes,
    # 50 for an hour), 325 output; raw: 10 + 20 + 30 = 60 input (20 read, 30 written), 5
    assert classes(claude) == (1620, 1044, 330, 50, 330, 2)
    assert classes(gpt) == (1210, 1024, 0, 0, 325, 1)  # the sample as it is


def spend_csv(tmp_path: Path) -> Path:
    rows = list(csv.reader(io.StringIO(sample("litellm_spendlogs.csv").read_text())))
    header, first, second = rows[0], rows[1], rows[2]
    col = {name: i for i, name in enumerate(header)}
    hit = list(first)
    hit[col["request_id"]] = "chatcmpl-hit"
    hit[col["cache_hit"]] = "True"  # answered from LiteLLM's cache
    second = list(second)
    second[col["end_user"]] = "cust_00017"
    second[col["metadata"]] = json.dumps({
        "user_api_key_alias": "analytics-job", "additional_usage_values": {
            "cache_creation_input_tokens": 400, "cache_read_input_tokens": 1000,
            "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 400,
                                      "cache_creation_token_details": {
                                          "ephemeral_5m_input_tokens": 100,
                                          "ephemeral_1h_input_tokens": 300}},
            "server_tool_use": {"web_search_requests": 2}}})
    flat = list(second)
    flat[col["request_id"]] = "msg-flat"
    flat[col["metadata"]] = json.dumps({"usage_object": {"cache_creation_input_tokens": 64,
                                                         "cache_read_input_tokens": 16}})
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, first, hit, second, flat])
    path = tmp_path / "spend.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_litellm_csv_cache_writes_web_searches_and_cache_hits(tmp_path):
    claude, gpt, gpt_hit = usages(litellm, spend_csv(tmp_path))
    # row 3: prompt_tokens 2380 (LiteLLM counts the cache in it), 1000 read, 400 written:
    # 100 for 5 minutes, 300 for an hour, 2 web searches; row 4: 2380, 16 read and 64
    # written (no durations: 5 minutes), in usage_object
    assert classes(claude) == (4760, 1016, 164, 300, 1480, 2)
    assert claude.count("web_search_calls") == 2
    assert (gpt.cache_hit, gpt_hit.cache_hit) == (False, True)
    assert classes(gpt_hit) == classes(gpt) == (1210, 1024, 0, 0, 325, 1)


def test_litellm_json_cache_hits_and_cache_writes(tmp_path):
    lines = (DATA / "litellm_standard_logging_payload.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    hit = {**first, "id": "chatcmpl-hit", "cache_hit": True}
    claude = {**first, "id": "msg-cache", "model": "claude-sonnet-4-5-20250929",
              "model_group": "claude-sonnet-4-5", "prompt_tokens": 2380,
              "metadata": {**first["metadata"], "usage_object": {
                  "cache_creation_input_tokens": 400, "cache_read_input_tokens": 1000,
                  "prompt_tokens_details": {"cache_creation_token_details": {
                      "ephemeral_1h_input_tokens": 300}},
                  "server_tool_use": {"web_search_requests": 1}}}}
    path = tmp_path / "payloads.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (first, hit, claude)))
    sonnet, mini, mini_hit = usages(litellm_json, path)
    # 400 written of which 300 for an hour (the 5-minute count not given: 400 - 300)
    assert classes(sonnet) == (2380, 1000, 100, 300, 325, 1)
    assert sonnet.count("web_search_calls") == 1
    assert (mini.cache_hit, mini_hit.cache_hit) == (False, True)
    # the table's rows (GET /spend/logs) say "True"/"False"
    rows = json.loads((DATA / "litellm_spend_logs_api.json").read_text())
    rows[0]["cache_hit"] = "True"
    api = tmp_path / "spend-logs.json"
    api.write_text(json.dumps(rows, indent=2))
    hits = {u.customer: u.cache_hit for u in usages(litellm_json, api)}
    assert hits == {"acme": True, "globex": False}


def test_openrouter_service_tier(tmp_path):
    answer = json.loads(sample("openrouter_generation.json").read_text())
    generation = answer["data"]
    rows = [{**generation, "id": f"gen-{tier or 'none'}", "service_tier": tier}
            for tier in ("priority", "flex", "default", None)]
    path = tmp_path / "generations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tiers = {u.tier: u.events for u in usages(openrouter, path)}
    assert tiers == {"": 2, "flex": 1, "priority": 1}  # default: the standard tier


# -- the two paths of LiteLLM's CSV alike, on hostile files ------------------------------------

HEADER = ["request_id", "call_type", "spend", "prompt_tokens", "completion_tokens",
          "startTime", "model", "model_group", "end_user", "team_id", "user", "metadata",
          "cache_hit", "request_tags", "status"]
ODD = ("", " ", "12", " 12", "12.0", "-1", "1e3", "9" * 20, "x" * 250, "a\nb", "a\r\nb",
       "é", "\u00a0acme", "acme ", "\x1cacme", "\x00", "True", "FALSE", "maybe", "null",
       '{"a": 1}', "[1, 2]", '["chat", 3]', "[null]", "{oops", "Inf", "NaN", "globex",
       "unknown", "SUCCESS", "failure", "Succès", "2026-01-05T10:00:00+02:00",
       "2026-01-05 10:00:00", "yesterday", "1767607200", '"quoted"', "a,b")
META = ('{"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 100}}}',
        '{"usage_object": {"cache_creation_input_tokens": 50, "cache_read_input_tokens": 10}}',
        '{"additional_usage_values": {"cache_creation_input_tokens": 20, '
        '"prompt_tokens_details": {"cache_creation_token_details": '
        '{"ephemeral_1h_input_tokens": 30}}}}',
        '{"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": "7"}}}',
        '{"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 1.5}}}',
        '{"additional_usage_values": {"server_tool_use": {"web_search_requests": 2}}}',
        '{"usage_object": {"cache_creation_input_tokens": 50000}}',
        '{"a": Infinity}', '{"a": Inf}', '{"a": 1, "a": 2}', "[]", "5", '"text"',
        '{\n"pretty": 1}', ' {"spaced": true} ', '{"k": "v\\u00e9"}')


def litellm_row(i: int, rng: random.Random) -> list[str]:
    row = {"request_id": f"req-{i % 40}", "call_type": "acompletion", "spend": "0.001",
           "prompt_tokens": str(1000 + i), "completion_tokens": "300",
           "startTime": f"2026-01-{1 + i % 28:02d} 10:00:00.123", "model": "gpt-4o",
           "model_group": "gpt-4o", "end_user": ("acme", "globex", "")[i % 3],
           "team_id": "team-acme-data", "user": "u1", "metadata": rng.choice(META),
           "cache_hit": rng.choice(("", "False", "True")), "request_tags": '["chat"]',
           "status": "success"}
    for _ in range(rng.randrange(0, 3)):
        row[rng.choice(HEADER)] = rng.choice(ODD)
    return [row[name] for name in HEADER]


def litellm_file(path: Path, rng: random.Random) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=rng.choice((",", ",", "\t")),
                        lineterminator=rng.choice(("\n", "\r\n")))
    writer.writerow(HEADER)
    lines = []
    for i in range(rng.randrange(1, 120)):
        piece = io.StringIO()
        csv.writer(piece, delimiter=writer.dialect.delimiter,
                   lineterminator=writer.dialect.lineterminator).writerow(
            litellm_row(i, rng))
        text = piece.getvalue()
        roll = rng.random()
        if roll < 0.03:
            text = "\n"  # a blank line
        elif roll < 0.06:
            text = rng.choice(['a,"b\n', "only,three,fields\n", '"x"y,z\n', "x\x00y\n"])
        lines.append(text)
    body = (("\ufeff" if rng.random() < 0.2 else "") + out.getvalue() + "".join(lines))
    raw = body.encode("utf-8")
    if rng.random() < 0.1:  # a line that is not UTF-8
        cut = raw.rfind(b"\n", 0, len(raw) // 2) + 1
        raw = raw[:cut] + b"caf\xe9," + raw[cut:]
    path.write_bytes(raw)
    return path


def litellm_outputs(path: Path, fast: bool) -> tuple:
    importer = litellm.Importer(CONTRACTS, customers=CUSTOMERS)
    importer.fast = fast
    result = importer.run(path, index=EventIndex())
    return ("".join(format_entry(e) for e in result.entries),
            [q.as_json(path.name) for q in result.quarantine],
            (result.read, result.imported, result.duplicates, result.quarantined),
            {m: [a.to_pylist() for a in ids] for m, ids in result.event_ids.items()},
            result.sha256)


@pytest.mark.parametrize("seed", range(60))
def test_litellm_csv_both_paths_alike(tmp_path, seed):
    path = litellm_file(tmp_path / f"spend-{seed}.csv", random.Random(seed))
    try:
        before = litellm_outputs(path, False)
    except Exception as exc:  # noqa: BLE001 - the same exception either way
        with pytest.raises(type(exc)):
            litellm_outputs(path, True)
        return
    assert litellm_outputs(path, True) == before


def test_litellm_csv_reads_column_wise(tmp_path, monkeypatch):
    path = spend_csv(tmp_path)
    calls = []
    original = litellm.Importer.event
    monkeypatch.setattr(litellm.Importer, "event",
                        lambda self, row: calls.append(row) or original(self, row))
    litellm.Importer(CONTRACTS, customers=CUSTOMERS).run(path, index=EventIndex())
    assert calls == []  # no row went through the per-record mapping


def test_litellm_csv_in_chunks_and_batches(tmp_path, monkeypatch):
    """Many chunks (a small chunk size) and the core's batches, both paths alike."""
    import functools

    import tokenbooks.importers.lines as lines

    monkeypatch.setattr(lines, "chunks", functools.partial(lines.chunks, size=4096))
    monkeypatch.setattr(foreign, "BATCH", 7)
    rng = random.Random(7)
    path = litellm_file(tmp_path / "many.csv", rng)
    assert litellm_outputs(path, True) == litellm_outputs(path, False)


def test_litellm_json_a_usage_key_only_past_the_files_start(tmp_path):
    """The schema leaves out the usage keys the file's first MiB does not name; a record
    past it that has one makes the file read again with them."""
    lines = (DATA / "litellm_standard_logging_payload.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    plain = [json.dumps({**first, "id": f"plain-{i}"}) for i in range(4000)]  # > 1 MiB
    late = {**first, "id": "late", "metadata": {**first["metadata"], "usage_object": {
        "cache_creation_input_tokens": 70, "server_tool_use": {"web_search_requests": 3}}}}
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join([*plain, json.dumps(late)]) + "\n")
    assert len("\n".join(plain)) > 1 << 20
    (u,) = usages(litellm_json, path)
    assert (u.events, u.count("cache_write_tokens"), u.count("web_search_calls")) == (
        4001, 70, 3)


def test_litellm_prompt_tokens_without_the_cache_writes(tmp_path):
    """LiteLLM versions that left Anthropic's cache writes out of ``prompt_tokens`` (input
    and reads only): where the reads and writes exceed it, the writes are added."""
    lines = (DATA / "litellm_standard_logging_payload.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    older = {**first, "id": "msg-older", "model": "claude-sonnet-4-5-20250929",
             "model_group": "claude-sonnet-4-5", "prompt_tokens": 100,
             "metadata": {**first["metadata"], "usage_object": {
                 "cache_read_input_tokens": 40, "cache_creation_input_tokens": 5000}}}
    path = tmp_path / "older.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(older) + "\n")
    sonnet, _ = usages(litellm_json, path)
    # 60 uncached + 40 read (= prompt_tokens 100) + 5000 written = 5100
    assert classes(sonnet) == (5100, 40, 5000, 0, 325, 1)


def test_an_object_only_past_the_files_start(tmp_path):
    """Top-level objects the file's first MiB does not name are left out of the parse;
    one past it makes the file read again with them (OpenRouter's whole answers)."""
    generation = json.loads(sample("openrouter_generation.json").read_text())["data"]
    plain = [json.dumps({**generation, "id": f"gen-{i}"}) for i in range(2500)]  # > 1 MiB
    wrapped = {"data": {**generation, "id": "gen-wrapped", "native_tokens_prompt": 7,
                        "native_tokens_cached": 0}}
    path = tmp_path / "generations.jsonl"
    path.write_text("\n".join([*plain, json.dumps(wrapped)]) + "\n")
    assert len("\n".join(plain)) > 1 << 20
    (u,) = usages(openrouter, path)
    assert (u.events, u.input_tokens) == (2501, 2500 * 1210 + 7)


def test_a_line_that_is_no_object_never_reaches_pyarrow(tmp_path):
    """pyarrow reads a JSON Lines line ``null`` as a row of nulls (and crashes where one
    starts its block): such a file is parsed only line by line where lines are objects."""
    first = json.loads(sample("bedrock_invocation_logs.jsonl").read_text().splitlines()[0])
    lines = [json.dumps({**first, "requestId": f"r-{i}"}) for i in range(600)]
    middle = len("\n".join(lines)) // 2
    at = next(i for i in range(600) if len("\n".join(lines[:i])) >= middle)
    lines.insert(at, "null")  # the first line of the second half
    path = tmp_path / "bedrock.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = same(bedrock, path)
    assert result[2][:2] == (601, 600)  # read: the null line too (quarantined)
