"""Benchmark of the usage import path against a bare ``pyarrow.json.read_json``.

    .venv/bin/python scripts/bench_import.py                         # 1M and 4M, day and month
    .venv/bin/python scripts/bench_import.py --events 200000 --grains day --rounds 1

The workload is the company's (``tokenbooks.scripts.fastgen``: 200 customers, 24 months
from 2026-01, seed 11, about 4,050,000 events): one JSONL file of its first N events,
month after month. Measured in one run, alternating, each in a fresh child process so
that peak memory (``ru_maxrss``) is the child's own:

- ``read_json``: ``pyarrow.json.read_json`` of the whole file (the baseline), in
  pyarrow's default memory pool, and again in the import's (jemalloc:
  ``importers.memory``), so that the ratio's share of the allocator shows;
- ``import``: what ``tokenbooks import`` does with the file, the ledger load and the
  copy into ``documents/`` left out: reading in chunks, hashing (sha256), validation,
  dedupe against the event index, aggregation (``--grains``: ``day``, or ``month``: the
  spans of calendar months, ``CalendarMonths``), each finished month spilled to disk,
  then the month files and their event-id indexes (``--store``: ``cache``, the derived
  index, or ``book``, sidecars) written into a fresh book.

It prints, per size and grain, the seconds of each (best of ``--rounds``), the ratio
read_json / import (throughput of the import over read_json's; targets >= 0.25 at day
grain, >= 0.5 at month grain), the peak memory of each, and the import's peak at the
largest size over its peak at the smallest (target <= 1.25: memory does not grow with
the file), and the load average (1 minute) after each size and grain: on a shared
machine the ratio moves with it (read_json parses in threads, on cores others use).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

CUSTOMERS, MONTHS, SEED = 200, 24, 11


class CalendarMonths:
    """Spans of calendar months (the month grain, as ``UsageCore(spans=...)`` takes it)."""

    def span(self, customer: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        first = day.replace(day=1)
        after = (first + datetime.timedelta(days=32)).replace(day=1)
        return first, after - datetime.timedelta(days=1)


def company(work: Path) -> Path:
    """The company's contracts and usage files (written once in ``work``)."""
    folder = work / f"company-{CUSTOMERS}-{MONTHS}"
    if not (folder / "sources" / f"usage-{2026 + (MONTHS - 1) // 12}-"
                                 f"{(MONTHS - 1) % 12 + 1:02d}.jsonl").exists():
        from tokenbooks.scripts.fastgen import write_events

        write_events(folder, CUSTOMERS, MONTHS, SEED, 1.0)
    return folder


def events_file(work: Path, folder: Path, n: int) -> Path:
    """The first ``n`` events of the company, one file (fails if it has fewer)."""
    target = work / f"events-{n}.jsonl"
    if target.exists():
        return target
    left = n
    with target.open("w", encoding="utf-8") as out:
        for month in sorted((folder / "sources").glob("usage-*.jsonl")):
            with month.open(encoding="utf-8") as handle:
                lines = list(islice(handle, left))
            out.writelines(lines)
            left -= len(lines)
            if not left:
                break
    if left:
        target.unlink()
        raise SystemExit(f"{folder}: fewer than {n:,} events")
    return target


def child_baseline(path: Path, pool: str = "default") -> dict:
    import pyarrow.json as pj

    if pool == "import":  # the import's memory pool (``importers.memory``)
        from tokenbooks.importers.memory import use_import_pool

        use_import_pool()
    start = time.perf_counter()
    table = pj.read_json(path)
    return {"seconds": time.perf_counter() - start, "rows": table.num_rows}


def child_import(path: Path, contracts: Path, book: Path, grain: str, store: str) -> dict:
    from tokenbooks.importers import usage_jsonl
    from tokenbooks.importers.memory import use_import_pool
    from tokenbooks.scripts.import_cmd import COMPRESSION, SPILL, write

    start = time.perf_counter()
    use_import_pool()  # as ``tokenbooks import`` does (``importers.memory``)
    importer = usage_jsonl.Importer(contracts)
    importer.spill = book.joinpath(*SPILL)  # as ``tokenbooks import`` sets it
    importer.index_compression = COMPRESSION[store]
    if grain == "month":
        importer.spans = CalendarMonths()
    result = importer.extract_result(str(path), [])
    write(book, result, store=store)
    seconds = time.perf_counter() - start
    assert result.read == result.imported + result.duplicates + result.quarantined
    assert result.quarantined == 0, result.quarantine[:3]
    return {"seconds": seconds, "rows": result.read, "entries": result.entry_count()}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--grains", nargs="+", default=["day", "month"],
                        choices=["day", "month"])
    parser.add_argument("--store", default="cache", choices=["cache", "book"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (child_baseline(Path(rest[0]), *rest[1:]) if kind == "baseline"
                  else child_import(Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3],
                                    rest[4]))
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    work = args.dir or Path(tempfile.mkdtemp(prefix="tokenbooks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        folder = company(work)
        rows = []
        for n in args.events:
            path = events_file(work, folder, n)
            for grain in args.grains:
                base, pooled, imported = [], [], []
                for r in range(args.rounds):  # alternating: read_json, import, ...
                    base.append(run_child("baseline", str(path)))
                    pooled.append(run_child("baseline", str(path), "import"))
                    book = work / f"book-{n}-{grain}-{r}"
                    shutil.rmtree(book, ignore_errors=True)
                    (book / "imports").mkdir(parents=True)
                    imported.append(run_child("import", str(path), str(folder / "contracts"),
                                              str(book), grain, args.store))
                    shutil.rmtree(book)
                b = min(x["seconds"] for x in base)
                p = min(x["seconds"] for x in pooled)
                i = min(x["seconds"] for x in imported)
                rows.append((n, grain, path.stat().st_size, b, p, i, imported[0]["entries"],
                             max(x["peak_mib"] for x in base),
                             max(x["peak_mib"] for x in imported)))
                print(f"  {n:,} events, {grain} grain: read_json {b:.2f} s (in the import's "
                      f"pool {p:.2f} s), import {i:.2f} s, ratio {b / i:.2f} ({p / i:.2f}) "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        print(f"\nbest of {args.rounds} round(s); store {args.store}; ratio: read_json / "
              f"import (read_json in pyarrow's default memory pool; in brackets, in the "
              f"import's, jemalloc: importers.memory)")
        print("| events | grain | file MiB | read_json s | read_json, import's pool s | "
              "import s | events/s | ratio | entries | read_json peak MiB | "
              "import peak MiB |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, grain, size, b, p, i, entries, bpeak, ipeak in rows:
            print(f"| {n:,} | {grain} | {size / 2**20:.0f} | {b:.2f} | {p:.2f} | {i:.2f} | "
                  f"{n / i:,.0f} | {b / i:.2f} ({p / i:.2f}) | {entries:,} | {bpeak:.0f} | "
                  f"{ipeak:.0f} |")
        for grain in args.grains:
            peaks = [(n, ipeak) for n, g, *_, ipeak in rows if g == grain]
            if len(peaks) > 1:
                (small, low), (big, high) = peaks[0], peaks[-1]
                print(f"{grain} grain: import peak at {big:,} / at {small:,} events: "
                      f"{high / low:.2f}   target <= 1.25")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
