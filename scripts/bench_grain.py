"""Benchmark: the same book at day grain and at month grain (docs/grain.md).

    .venv/bin/python scripts/bench_grain.py --customers 50 --days 90 --rounds 2

Builds ``scripts/bench_revenue.py``'s synthetic book (one usage entry per customer, day,
model and feature), writes its usage again at month grain (``entries.usage.at_grain``
over the spans of its contracts and purchases, as ``tokenbooks regrain`` does), and
prints the usage entries of each, the best ``bean-check`` CPU seconds of each (a fresh
process, no cache, alternating rounds), and whether every account's balance at every
month end is the same (it must be).
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from beancount import loader
from beancount.core import data
from beancount.parser import parser as beancount_parser

from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.purchases import parse_purchases
from tokenbooks.plugins.entries.usage import at_grain
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.grain import spans_for
from tokenbooks.scripts.bench_revenue import TEMPLATE, build, check, write_main


def month_ends(entries: list[data.Directive]) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    month = None
    for entry in sorted((e for e in entries if isinstance(e, data.Transaction)),
                        key=lambda e: e.date):
        if month is not None and f"{entry.date:%Y-%m}" != month:
            out[month] = {k: v for k, v in totals.items() if v}
        month = f"{entry.date:%Y-%m}"
        for posting in entry.postings:
            if posting.units is not None and posting.units.number is not None:
                totals[posting.account] += posting.units.number
    if month is not None:
        out[month] = {k: v for k, v in totals.items() if v}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder, args.customers, args.days, args.seed)
        plugin = next(line for line in TEMPLATE.read_text().splitlines()
                      if line.startswith("plugin ")).replace("{{", "{").replace("}}", "}")
        day_main = write_main(folder, "day.beancount", [plugin])
        contracts, _ = load_contracts(folder / "contracts")
        purchases = [p for p, _ in parse_purchases(beancount_parser.parse_file(
            str(folder / "purchases.beancount"))[0])[0]]
        spans = spans_for(contracts, purchases)
        usage, _, _ = beancount_parser.parse_file(str(folder / "usage.beancount"))
        usage.sort(key=lambda e: e.meta["lineno"])
        monthly = at_grain(usage, spans)
        (folder / "usage-month.beancount").write_text("".join(map(format_entry, monthly)))
        month_main = day_main.with_name("month.beancount")
        month_main.write_text(day_main.read_text().replace('"usage.beancount"',
                                                           '"usage-month.beancount"'))
        best = {"day": float("inf"), "month": float("inf")}
        for _ in range(args.rounds):
            for name, path in (("day", day_main), ("month", month_main)):
                _, cpu, output = check(path)
                best[name] = min(best[name], cpu)
        day_entries, day_errors, _ = loader.load_file(str(day_main))
        month_entries, month_errors, _ = loader.load_file(str(month_main))
        same = (month_ends(day_entries) == month_ends(month_entries)
                and [e.message for e in day_errors] == [e.message for e in month_errors])
        print(f"{args.customers} customers, {args.days} days "
              f"({datetime.date.today()}, best of {args.rounds})")
        print(f"  usage entries  day {len(usage):,}  month {len(monthly):,}  "
              f"({len(usage) / max(len(monthly), 1):.1f}x fewer)")
        print(f"  bean-check CPU s  day {best['day']:.2f}  month {best['month']:.2f}  "
              f"(ratio {best['month'] / best['day']:.2f})")
        print(f"  every balance at every month end the same: {same}")


if __name__ == "__main__":
    main()
