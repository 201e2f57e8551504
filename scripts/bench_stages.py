"""Where one load of a book spends its CPU: each stage of the book plugin, timed.

    .venv/bin/python scripts/bench_stages.py path/to/main.beancount

Loads the book once, as ``bean-check`` does (Beancount's pickle cache off), with each
stage of ``tokenbooks.plugins.book`` (contracts, revenue, cogs, invariants, lock) and the
hot functions inside them (``parse_usage``, the engine's ``run_contract``, the cost
attribution ``attribute_usages``, ``to_transaction``) wrapped in a CPU timer, and the
garbage collector's passes timed by generation (in the plugin or out of it). Prints CPU
seconds; a nested figure is part of its stage's (the engine is part of revenue). A
measurement, not a test: compare runs of the same book on a quiet machine.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

STAGES = ("contracts", "revenue", "cogs", "invariants", "lock")


def timed(times: dict[str, float], label: str, function: Callable[..., Any]
          ) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            times[label] += time.process_time() - began
    return wrapper


def main(ledger: str) -> None:
    os.environ["BEANCOUNT_DISABLE_LOAD_CACHE"] = "1"
    from beancount import loader

    from tokenbooks.plugins import book, cogs, contracts, invariants, load, lock, revenue

    times: dict[str, float] = defaultdict(float)
    for module, name in zip((contracts, revenue, cogs, invariants, lock), STAGES,
                            strict=True):
        module.stage = timed(times, name, module.stage)  # type: ignore[attr-defined]
    load.parse_usage = timed(times, "  parse_usage", load.parse_usage)
    revenue.run_contract = timed(times, "  run_contract (engine)", revenue.run_contract)
    revenue.to_transaction = timed(times, "  to_transaction", revenue.to_transaction)
    cogs.attribute_usages = timed(times, "  attribute_usages", cogs.attribute_usages)
    in_book = [False]
    plugin = book.book

    def whole(*args: Any, **kwargs: Any) -> Any:
        in_book[0] = True
        began = time.process_time()
        try:
            return plugin(*args, **kwargs)
        finally:
            times["book plugin"] += time.process_time() - began
            in_book[0] = False

    book.book = whole  # (Beancount finds it by name)
    started = [0.0]

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
            return
        where = "in the plugin" if in_book[0] else "outside it"
        times[f"gc generation {info['generation']}, {where}"] += (
            time.process_time() - started[0])

    gc.callbacks.append(collector)
    began = time.process_time()
    entries, errors, _ = loader.load_file(ledger)
    total = time.process_time() - began
    print(f"{ledger}: {len(entries):,} entries, {len(errors)} errors, {total:.2f} s CPU")
    for label in ("book plugin", *STAGES):
        print(f"  {label:32s} {times.pop(label, 0.0):8.2f}")
        if label == "revenue":
            for nested in ("  parse_usage", "  run_contract (engine)", "  to_transaction"):
                print(f"  {nested:32s} {times.pop(nested, 0.0):8.2f}")
        if label == "cogs":
            print(f"  {'  attribute_usages':32s} {times.pop('  attribute_usages', 0.0):8.2f}")
    for label, seconds in sorted(times.items()):
        print(f"  {label:32s} {seconds:8.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench_stages.py path/to/main.beancount")
    main(sys.argv[1])
