"""Rows per second of each importer of other tools' exports, against canonical JSONL.

    .venv/bin/python scripts/bench_formats.py [--rows 100000] [--rounds 3] [--only helicone]

For each format, writes ``--rows`` records of its own shape (the reference sample's
record, with its id, customer, day and counts varied; seeded, so the same files every
run) and the same number of canonical events as JSON Lines, then times the importer's
``run`` (read, map, validate, dedupe against an empty index, aggregate) on each, best
of ``--rounds``, alternating the two. The ratio is the canonical importer's rows/s over
the format's: the target is at most 2 (no importer slower than 2x per row).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenbooks.importers import (
    anthropic_usage,
    bedrock,
    helicone,
    langfuse,
    litellm,
    litellm_json,
    openai_usage,
    openrouter,
    usage_jsonl,
)
from tokenbooks.importers.index import EventIndex
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = ("acme", "globex", "initech", "hooli", "umbrella")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5")


def _stamp(i: int) -> str:
    return f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.123Z"


def canonical(i: int, rng: random.Random) -> dict[str, Any]:
    return {"event_id": f"evt-{i:09d}", "timestamp": _stamp(i),
            "customer": CUSTOMERS[i % 5], "model": MODELS[i % 4], "feature": "chat",
            "input_tokens": 1000 + rng.randrange(5000), "cached_input_tokens": 100,
            "output_tokens": 100 + rng.randrange(900)}


def litellm_row(i: int, rng: random.Random) -> dict[str, Any]:
    return {"request_id": f"chatcmpl-{i:09d}", "call_type": "acompletion", "spend": 0.0007,
            "prompt_tokens": 1000 + rng.randrange(5000), "completion_tokens": 300,
            "total_tokens": 0, "startTime": _stamp(i).replace("T", " ").rstrip("Z"),
            "model": MODELS[i % 4], "model_group": MODELS[i % 4], "end_user": CUSTOMERS[i % 5],
            "team_id": "team-x", "user": "u1", "status": "success", "request_tags": ["chat"],
            "metadata": {"user_api_key_alias": "prod",
                         "additional_usage_values": {"prompt_tokens_details":
                                                     {"cached_tokens": 100}}}}


def helicone_row(i: int, rng: random.Random) -> dict[str, Any]:
    return {"request_id": f"req-{i:09d}", "request_created_at": _stamp(i),
            "response_status": 200, "provider": "OPENAI", "model": MODELS[i % 4],
            "request_user_id": CUSTOMERS[i % 5], "properties": {},
            "prompt_tokens": 1000 + rng.randrange(5000), "prompt_cache_read_tokens": 100,
            "prompt_cache_write_tokens": 0, "completion_tokens": 300, "cost": 0.0007}


def langfuse_row(i: int, rng: random.Random) -> dict[str, Any]:
    return {"id": f"obs-{i:09d}", "traceId": f"t-{i}", "type": "GENERATION",
            "startTime": _stamp(i), "model": MODELS[i % 4],
            "metadata": {"customer": CUSTOMERS[i % 5]}, "level": "DEFAULT",
            "usageDetails": {"input": 1000 + rng.randrange(5000), "input_cached_tokens": 100,
                             "output": 300, "total": 0}}


def openrouter_row(i: int, rng: random.Random) -> dict[str, Any]:
    return {"id": f"gen-{i:09d}", "created_at": _stamp(i), "model": MODELS[i % 4],
            "external_user": CUSTOMERS[i % 5], "total_cost": 0.0007,
            "native_tokens_prompt": 1000 + rng.randrange(5000), "native_tokens_cached": 100,
            "native_tokens_completion": 300, "tokens_prompt": 0, "tokens_completion": 0}


def bedrock_row(i: int, rng: random.Random) -> dict[str, Any]:
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
            "timestamp": _stamp(i), "accountId": "1111", "requestId": f"r-{i:09d}",
            "operation": "Converse", "modelId": MODELS[i % 4],
            "identity": {"arn": "arn:aws:iam::1111:user/x"},
            "requestMetadata": {"customer": CUSTOMERS[i % 5]},
            "input": {"inputTokenCount": 1000 + rng.randrange(5000),
                      "cacheReadInputTokenCount": 100, "cacheWriteInputTokenCount": 0},
            "output": {"outputTokenCount": 300}}


def openai_result(i: int, rng: random.Random) -> dict[str, Any]:
    return {"object": "organization.usage.completions.result",
            "input_tokens": 1000 + rng.randrange(5000), "output_tokens": 300,
            "input_cached_tokens": 100, "num_model_requests": 3,
            "project_id": CUSTOMERS[i % 5], "user_id": f"user-{i:09d}", "api_key_id": None,
            "model": MODELS[i % 4], "batch": False, "service_tier": "default"}


def anthropic_result(i: int, rng: random.Random) -> dict[str, Any]:
    return {"uncached_input_tokens": 1000 + rng.randrange(5000),
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 0},
            "cache_read_input_tokens": 100, "output_tokens": 300,
            "workspace_id": CUSTOMERS[i % 5], "api_key_id": f"apikey-{i:09d}",
            "model": MODELS[i % 4], "service_tier": "standard", "context_window": "0-200k"}


def write_jsonl(path: Path, rows: int, make: Callable) -> Path:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(json.dumps(make(i, rng)) + "\n")
    return path


def write_document(path: Path, rows: int, make: Callable) -> Path:
    rng = random.Random(7)
    path.write_text(json.dumps({"data": [make(i, rng) for i in range(rows)]}, indent=1))
    return path


def write_buckets(path: Path, rows: int, make: Callable, start: str, page: dict) -> Path:
    rng = random.Random(7)
    per = 1000
    buckets = []
    for b in range(0, rows, per):
        day = b // per % 28
        start_value: Any = (1767225600 + 86400 * day if start == "start_time"
                            else f"2026-01-{1 + day:02d}T00:00:00Z")
        buckets.append({start: start_value,
                        "results": [make(i, rng) for i in range(b, min(rows, b + per))]})
    path.write_text(json.dumps({**page, "data": buckets}))
    return path


def write_litellm_csv(path: Path, rows: int) -> Path:
    rng = random.Random(7)
    names = ["request_id", "call_type", "spend", "prompt_tokens", "completion_tokens",
             "startTime", "model", "model_group", "end_user", "team_id", "user", "metadata",
             "request_tags", "status"]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(names)
        for i in range(rows):
            row = litellm_row(i, rng)
            row["metadata"] = json.dumps(row["metadata"])
            row["request_tags"] = json.dumps(row["request_tags"])
            writer.writerow([row[n] for n in names])
    return path


def timed(importer_factory: Callable, path: Path, rounds: int) -> tuple[float, int]:
    best, imported = float("inf"), 0
    for _ in range(rounds):
        importer = importer_factory()
        gc.collect()
        start = time.perf_counter()
        result = importer.run(path, index=EventIndex())
        best = min(best, time.perf_counter() - start)
        imported = result.imported
    return best, imported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args(argv)
    contracts = load_contracts(ROOT / "contracts")[0]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows = args.rows
        cases: list[tuple[str, Any, Path]] = [
            ("litellm (CSV)", litellm.Importer, write_litellm_csv(tmp / "spend.csv", rows)),
            ("litellm_json", litellm_json.Importer,
             write_jsonl(tmp / "spend.jsonl", rows, litellm_row)),
            ("helicone", helicone.Importer,
             write_document(tmp / "helicone.json", rows, helicone_row)),
            ("langfuse", langfuse.Importer,
             write_document(tmp / "langfuse.json", rows, langfuse_row)),
            ("openrouter", openrouter.Importer,
             write_jsonl(tmp / "openrouter.jsonl", rows, openrouter_row)),
            ("bedrock", bedrock.Importer, write_jsonl(tmp / "bedrock.jsonl", rows, bedrock_row)),
            ("openai_usage", openai_usage.Importer,
             write_buckets(tmp / "openai.json", rows, openai_result, "start_time",
                           {"object": "page"})),
            ("anthropic_usage", anthropic_usage.Importer,
             write_buckets(tmp / "anthropic.json", rows, anthropic_result, "starting_at", {})),
        ]
        if args.only:
            cases = [c for c in cases if any(o in c[0] for o in args.only)]
        base_path = write_jsonl(tmp / "canonical.jsonl", rows, canonical)
        print(f"rows per file: {rows:,}; best of {args.rounds} rounds; "
              f"Python {sys.version.split()[0]}")
        print(f"{'importer':<18}{'rows/s':>12}{'canonical rows/s':>18}{'ratio':>8}  imported")
        for name, kind, path in cases:
            base, _ = timed(lambda: usage_jsonl.Importer(contracts), base_path, args.rounds)
            took, imported = timed(lambda kind=kind: kind(contracts), path, args.rounds)
            own, canon = rows / took, rows / base
            print(f"{name:<18}{own:>12,.0f}{canon:>18,.0f}{canon / own:>8.2f}  {imported:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
