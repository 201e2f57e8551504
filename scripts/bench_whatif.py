"""Benchmark: a what-if of one quarter against the same book's load (target <= 2x).

    .venv/bin/python scripts/bench_whatif.py --book build/bench/fava-200-365/fava-with.beancount
    .venv/bin/python scripts/bench_whatif.py --customers 50 --days 90 --rounds 1

Without ``--book`` it builds the synthetic company's book (``scripts/bench_revenue.py``'s
``build``: the generator's contracts, one usage entry per customer, day, model and
feature, the prepaid customers' purchases) in a temporary folder. It then measures, in
one process and alternating (``--rounds``), a load of the book as every command loads it
(``scripts.loading``: plugins, no pickle cache, the cyclic GC paused), and a what-if of
``--period`` over the loaded book with a proposal that lowers every output rate of every
price book by 10% (so every customer whose contracts use them is run again): reading the
proposal, the engine's runs, both sides' figures and the table. And, for the record, the
forecast of the book's last month. Prints the best CPU and wall time of each and the
ratio what-if / load.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from tokenbooks.plugins.reports import Ledger, forecast, whatif
from tokenbooks.plugins.rules.periods import month_of
from tokenbooks.scripts import bench_revenue, loading


def cheaper_output(book_contracts: Path, into: Path) -> Path:
    """A proposal: every price book with its output rates 10% lower."""
    folder = into / "proposal"
    (folder / "price-books").mkdir(parents=True)
    for path in sorted((book_contracts / "price-books").glob("*.y*ml")):
        text = re.sub(r"output: ([0-9.]+)",
                      lambda m: f"output: {(Decimal(m[1]) * Decimal('0.9')).normalize():f}",
                      path.read_text())
        (folder / "price-books" / path.name).write_text(text)
    return folder


def timed(function, *args):  # noqa: ANN001, ANN002, ANN201
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, help="an existing book (its main file)")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--period", default="2026-Q1")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-whatif-"))
    try:
        if args.book is None:
            count = bench_revenue.build(tmp, args.customers, args.days, args.seed)
            plugins = [re.sub(r"'contracts': '[^']*'", "'contracts': 'contracts'", line)
                       for line in bench_revenue.plugin_lines()]
            book = bench_revenue.write_main(tmp, "with.beancount", plugins)
            print(f"book: {args.customers} customers x {args.days} days, {count:,} entries "
                  f"({tmp})", flush=True)
        else:
            book = args.book.resolve()
        folder = cheaper_output(book.parent / "contracts", tmp)
        best = {"load": [float("inf")] * 2, "whatif": [float("inf")] * 2,
                "forecast": [float("inf")] * 2}
        for round_ in range(args.rounds):
            (entries, errors, options), wall, cpu = timed(loading.load, book)
            assert not errors, errors[:3]
            best["load"] = [min(best["load"][0], wall), min(best["load"][1], cpu)]
            print(f"  round {round_ + 1}: load {wall:.2f} s wall, {cpu:.2f} s CPU "
                  f"({len(entries):,} entries)", flush=True)

            def run_whatif(entries=entries, options=options):  # noqa: ANN001, ANN202
                ledger = Ledger(entries, options)
                proposal = whatif.load_proposal(ledger, folder)
                result = whatif.compare(ledger, proposal, args.period)
                return result, whatif.table(result)

            (result, table), wall, cpu = timed(run_whatif)
            best["whatif"] = [min(best["whatif"][0], wall), min(best["whatif"][1], cpu)]
            moved = result.difference(whatif.TOTAL, "revenue")
            print(f"  round {round_ + 1}: what-if {args.period} {wall:.2f} s wall, "
                  f"{cpu:.2f} s CPU ({len(result.proposal.customers)} customers run again, "
                  f"revenue {result.booked[whatif.TOTAL]['revenue']} -> "
                  f"{result.proposed[whatif.TOTAL]['revenue']} ({moved}), "
                  f"{len(table.rows)} rows)", flush=True)
            ledger = Ledger(entries, options)
            last = month_of(ledger.revenue.as_of)
            _, wall, cpu = timed(forecast.forecast, ledger, last)
            best["forecast"] = [min(best["forecast"][0], wall),
                                min(best["forecast"][1], cpu)]
            print(f"  round {round_ + 1}: forecast {last} {wall:.2f} s wall, {cpu:.2f} s CPU",
                  flush=True)
            del entries, options, ledger, result, table
        for name, (wall, cpu) in best.items():
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU (best of {args.rounds})")
        for i, kind in enumerate(("wall", "CPU")):
            ratio = best["whatif"][i] / best["load"][i]
            print(f"ratio what-if / load ({kind}): {ratio:.2f} (target <= 2) "
                  f"{'OK' if ratio <= 2 else 'OVER TARGET'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
