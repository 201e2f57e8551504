"""Benchmark of the usage import path against a bare ``pyarrow.json.read_json``.

    .venv/bin/python scripts/bench_import.py                 # 1,000,000 events
    .venv/bin/python scripts/bench_import.py --events 200000 --rounds 1

Generates N canonical usage events as JSON Lines (the sample company's customers and
models, one month), then measures in one run, alternating, each in a fresh child
process so that peak memory (``ru_maxrss``) is the child's own:

- ``read_json``: ``pyarrow.json.read_json`` of the whole file (the baseline);
- ``import``: the JSONL importer on the same file -- reading in chunks, hashing
  (sha256), validation, dedupe against the event index, aggregation -- and writing the
  month's ``.beancount`` file and event-id sidecar into a fresh book (the ledger load
  and the copy into ``documents/`` of ``tokenbooks import`` are left out).

It prints events/s of each (best of ``--rounds``), the ratio import / read_json
(target >= 0.5), peak memory of each (target < 1 GiB), and the import's peak memory on
a file half the size, to show how memory grows with the file (only by the event
ids kept for dedupe: the batches are bounded).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CUSTOMERS = ("acme", "globex", "hooli", "initech", "umbrella")
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "claude-haiku-4-5")
FEATURES = ("chat", "summarize", "rag", "embedding")
CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def generate(path: Path, n: int, seed: int = 7) -> None:
    """N canonical events of March 2026, one JSON object per line."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        lines = []
        for i in range(n):
            second = i * (31 * 86400) // n
            day, rest = divmod(second, 86400)
            stamp = f"2026-03-{day + 1:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:" \
                    f"{rest % 60:02d}.{i % 1000:03d}Z"
            customer = CUSTOMERS[i % 5]
            tokens = rng.randint(50, 8000)
            cached = tokens // 4 if i % 3 == 0 else 0
            line = (f'{{"event_id":"evt-{i:09d}","timestamp":"{stamp}",'
                    f'"customer":"{customer}","model":"{MODELS[i % 5]}",'
                    f'"feature":"{FEATURES[i % 4]}","input_tokens":{tokens},'
                    f'"cached_input_tokens":{cached},"output_tokens":{rng.randint(1, 2000)},'
                    f'"user":"u{i % 97}"')
            if customer == "globex" and i % 7 == 0:
                line += ',"action":"ticket_resolved","status":"completed"'
            lines.append(line + "}\n")
            if len(lines) == 10000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def child_baseline(path: Path) -> dict:
    import pyarrow.json as pj

    start = time.perf_counter()
    table = pj.read_json(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": table.num_rows}


def child_import(path: Path, book: Path) -> dict:
    from tokenbooks.importers import usage_jsonl
    from tokenbooks.scripts.import_cmd import write

    importer = usage_jsonl.Importer(CONTRACTS)
    start = time.perf_counter()
    importer.extract(str(path), [])
    result = importer.results[str(path)]
    write(book, result)
    seconds = time.perf_counter() - start
    assert result.read == result.imported + result.duplicates + result.quarantined
    return {"seconds": seconds, "rows": result.read, "imported": result.imported,
            "entries": len(result.entries)}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (child_baseline(Path(rest[0])) if kind == "baseline"
                  else child_import(Path(rest[0]), Path(rest[1])))
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    work = args.dir or Path(tempfile.mkdtemp(prefix="tokenbooks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        events = work / "events.jsonl"
        half = work / "events-half.jsonl"
        print(f"generating {args.events:,} events ...", flush=True)
        generate(events, args.events)
        generate(half, max(1, args.events // 2))
        size = events.stat().st_size
        baseline, imported = [], []
        for n in range(args.rounds):
            baseline.append(run_child("baseline", str(events)))
            book = work / f"book-{n}"
            (book / "imports").mkdir(parents=True, exist_ok=True)
            imported.append(run_child("import", str(events), str(book)))
            shutil.rmtree(book)
        book = work / "book-half"
        (book / "imports").mkdir(parents=True, exist_ok=True)
        small = run_child("import", str(half), str(book))
        best_base = min(r["seconds"] for r in baseline)
        best_import = min(r["seconds"] for r in imported)
        n = args.events
        print(f"file: {size / 2**20:.1f} MiB, {n:,} events, {imported[0]['entries']:,} usage "
              f"entries; best of {args.rounds} rounds")
        print(f"read_json : {best_base:7.3f} s  {n / best_base:12,.0f} events/s  "
              f"peak {max(r['peak_mib'] for r in baseline):7.1f} MiB")
        print(f"import    : {best_import:7.3f} s  {n / best_import:12,.0f} events/s  "
              f"peak {max(r['peak_mib'] for r in imported):7.1f} MiB")
        ratios = [b["seconds"] / i["seconds"] for b, i in zip(baseline, imported, strict=True)]
        print(f"ratio import/read_json: {best_base / best_import:.2f} (best/best); per round: "
              + ", ".join(f"{r:.2f}" for r in ratios) + "   target >= 0.5")
        print(f"import peak at {n // 2:,} events: {small['peak_mib']:.1f} MiB; at {n:,}: "
              f"{max(r['peak_mib'] for r in imported):.1f} MiB   target < 1024 MiB")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
