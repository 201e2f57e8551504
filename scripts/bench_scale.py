"""Events per second and peak memory at the sizes users have (issue 18): the company's
year through the direct path (``tokenbooks import`` of the raw JSON Lines) and through
DuckDB (``tokenbooks aggregate`` then ``tokenbooks import`` of its folder).

    .venv/bin/python scripts/bench_scale.py --scale 6          # about 10,000,000 events
    .venv/bin/python scripts/bench_scale.py --scale 1 --months 3   # a quick look

Each step runs in a fresh process (``python -m tokenbooks.scripts.cli ...``); its wall
time and peak resident memory (``ru_maxrss`` of the child) are reported. The events
come from ``scripts/fastgen.py`` (seeded: the same files every run). Prints a Markdown
table for BENCHMARKS.md ("Events at scale").
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tokenbooks.scripts.fastgen import write_events

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tokenbooks.scripts.cli"]


def run(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak MiB) of one command in a child process (fails loudly)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed:\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of the children is the largest of any child so far: a new maximum only
    return seconds, max(peak, before) / 1024


def book(folder: Path, contracts: Path) -> Path:
    subprocess.run([*CLI, "init", str(folder), "--start", "2026-01-01"], check=True,
                   capture_output=True)
    shutil.rmtree(folder / "contracts" / "customers")
    for sub in ("customers", "price-books", "costs"):
        target = folder / "contracts" / sub
        target.mkdir(parents=True, exist_ok=True)
        for path in (contracts / sub).glob("*.yaml"):
            shutil.copy(path, target / path.name)
    return folder / "main.beancount"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=6.0)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-scale")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    started = time.perf_counter()
    counts = write_events(args.work / "company", args.customers, args.months, 11, args.scale)
    events = sum(counts.values())
    generated = time.perf_counter() - started
    sources = sorted((args.work / "company" / "sources").glob("usage-*.jsonl"))
    contracts = args.work / "company" / "contracts"
    cores = len(os.sched_getaffinity(0))
    rows = [f"| generate (fastgen) | {events:,} | {generated:.1f} | {events / generated:,.0f} "
            f"| {events / generated / cores:,.0f} | — |"]
    direct = book(args.work / "direct", contracts)
    seconds, peak = run([*CLI, "import", "--ledger", str(direct), "--no-archive",
                         *map(str, sources)])
    rows.append(f"| direct: import the raw JSON Lines | {events:,} | {seconds:.1f} | "
                f"{events / seconds:,.0f} | {events / seconds / cores:,.0f} | {peak:,.0f} |")
    duck = book(args.work / "duckdb", contracts)
    agg = args.work / "agg"
    seconds_a, peak_a = run([*CLI, "aggregate", "--ledger", str(duck), "--out", str(agg),
                             *map(str, sources)])
    rows.append(f"| DuckDB: aggregate | {events:,} | {seconds_a:.1f} | "
                f"{events / seconds_a:,.0f} | {events / seconds_a / cores:,.0f} | "
                f"{peak_a:,.0f} |")
    seconds_i, peak_i = run([*CLI, "import", "--ledger", str(duck), "--no-archive", str(agg)])
    total = seconds_a + seconds_i
    rows.append(f"| DuckDB: import the aggregates | {events:,} | {seconds_i:.1f} | "
                f"{events / seconds_i:,.0f} | {events / seconds_i / cores:,.0f} | "
                f"{peak_i:,.0f} |")
    rows.append(f"| DuckDB: end to end | {events:,} | {total:.1f} | {events / total:,.0f} | "
                f"{events / total / cores:,.0f} | {max(peak_a, peak_i):,.0f} |")
    text = "\n".join([
        f"Measured with `scripts/bench_scale.py --scale {args.scale:g} --months "
        f"{args.months}` ({args.customers} customers, {cores} cores; each step a fresh "
        f"process, peak = its ru_maxrss):", "",
        "| step | events | seconds | events/s | events/s per core | peak MiB |",
        "|---|---|---|---|---|---|", *rows])
    print(text)


if __name__ == "__main__":
    main()
