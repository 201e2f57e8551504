"""Events per second and peak memory at the sizes users have (issue 18): the company's
year through the direct path (``tokenbooks import`` of the raw JSON Lines) and through
DuckDB (``tokenbooks aggregate`` then ``tokenbooks import`` of its folder).

    .venv/bin/python scripts/bench_scale.py --scale 6          # about 10,000,000 events
    .venv/bin/python scripts/bench_scale.py --scale 1 --months 3   # a quick look

Each step runs in a fresh process (``python -m tokenbooks.scripts.cli ...``); its wall
time, CPU time (user + system) and peak resident memory (``ru_maxrss`` of that child
alone) are reported. The events come from ``scripts/fastgen.py``, run the same way
(seeded: the same files every run). Prints a Markdown table for BENCHMARKS.md ("Events
at scale"); events/s per core is the events over the CPU seconds of the step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tokenbooks.scripts.bench_close import child

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tokenbooks.scripts.cli"]


def run(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MiB) of one command in a child (fails loudly)."""
    done = child(argv)
    return done["wall"], done["cpu"], done["peak_mib"]


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
    done = child([sys.executable, "-m", "tokenbooks.scripts.fastgen", "--out",
                  str(args.work / "company"), "--customers", str(args.customers), "--months",
                  str(args.months), "--scale", str(args.scale)])
    seconds, cpu, peak = done["wall"], done["cpu"], done["peak_mib"]
    events = int(done["output"].split(" events in ")[0].replace(",", ""))
    sources = sorted((args.work / "company" / "sources").glob("usage-*.jsonl"))
    contracts = args.work / "company" / "contracts"
    cores = len(os.sched_getaffinity(0))
    figures: dict[str, object] = {"events": events, "cores": cores}

    def row(what: str, key: str, wall: float, cpu: float, peak: float) -> str:
        figures[key] = {"wall": wall, "cpu": cpu, "peak_mib": peak}
        return (f"| {what} | {events:,} | {wall:.1f} | {cpu:.1f} | {events / wall:,.0f} | "
                f"{events / cpu:,.0f} | {peak:,.0f} |")

    rows = [row(f"generate (`scripts/fastgen.py`, {len(sources)} files written)", "generate",
                seconds, cpu, peak)]
    direct = book(args.work / "direct", contracts)
    rows.append(row("direct: `tokenbooks import` of the raw JSON Lines", "direct",
                    *run([*CLI, "import", "--ledger", str(direct), "--no-archive",
                          *map(str, sources)])))
    duck = book(args.work / "duckdb", contracts)
    agg = args.work / "agg"
    aggregate = run([*CLI, "aggregate", "--ledger", str(duck), "--out", str(agg),
                     *map(str, sources)])
    rows.append(row("DuckDB: `tokenbooks aggregate`", "aggregate", *aggregate))
    booked = run([*CLI, "import", "--ledger", str(duck), "--no-archive", str(agg)])
    rows.append(row("DuckDB: `tokenbooks import` of the aggregates", "aggregate_import",
                    *booked))
    rows.append(row("DuckDB: end to end", "duckdb", aggregate[0] + booked[0],
                    aggregate[1] + booked[1], max(aggregate[2], booked[2])))
    text = "\n".join([
        f"Measured with `scripts/bench_scale.py --scale {args.scale:g} --months "
        f"{args.months}` ({args.customers} customers, {cores} cores; each step a fresh "
        f"process, peak = its ru_maxrss; per core = events / CPU seconds):", "",
        "| step | events | wall s | CPU s | events/s | events/s per core | peak MiB |",
        "|---|---|---|---|---|---|---|", *rows])
    print(text)
    (args.work / "results.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
