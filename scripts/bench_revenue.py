"""Benchmark: the cost of the tokenbooks plugins at every load (bean-check, Fava).

    .venv/bin/python scripts/bench_revenue.py                      # 200 customers, a year
    .venv/bin/python scripts/bench_revenue.py --customers 50 --days 90 --rounds 1

Builds a synthetic book in a temporary folder: the contracts of the generator's synthetic
company (``tokenbooks.scripts.generate``: 200 customers, 5 models, a mix of prepaid with
automatic top-up, arrears and hybrid with a monthly minimum), one ``custom "usage"``
entry per customer, day, model and feature for a year (written directly with
``tokenbooks.plugins.entries.usage.usage_entry`` and the Beancount printer, as the usage
importer writes them), and the credit purchases of the prepaid customers. Every account
is opened in the book itself, so the book also checks without any plugin.

Then it measures, in one run and alternating (``--rounds``, 3 by default: single runs
on a shared machine swing by a third), ``bean-check`` (no cache, a fresh process each
time) of the same book with the plugin lines of a new book
(``scripts/templates/main.beancount``: ``tokenbooks.plugins.book``, which runs
contracts, revenue, cogs, invariants and lock), with those five as a line each, with
contracts, revenue and invariants only, and with the plugin lines removed, and prints
the best time of each and their ratios (target <= 1.5).
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.usage import usage_entry
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.records import Usage
from tokenbooks.scripts.generate import write_company_contracts

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "scripts" / "templates" / "main.beancount"
REVENUE_PLUGINS = ("contracts", "revenue", "invariants")
GENERAL = ("Assets:Bank", "Equity:Opening-Balances", *accounts.GENERAL_ACCOUNTS)


# The same plugins as the template's one line, one line each (as in ledgers/main.beancount).
SEPARATE = [
    "plugin \"tokenbooks.plugins.contracts\" \"{'contracts': 'contracts'}\"",
    "plugin \"tokenbooks.plugins.revenue\" \"{'contracts': 'contracts', 'posting': 'month'}\"",
    "plugin \"tokenbooks.plugins.cogs\" \"{'contracts': 'contracts'}\"",
    "plugin \"tokenbooks.plugins.invariants\" \"{'contracts': 'contracts'}\"",
    "plugin \"tokenbooks.plugins.lock\"",
]


def plugin_lines() -> list[str]:
    """The plugin lines of a new book (``tokenbooks init``)."""
    lines = [line for line in TEMPLATE.read_text().splitlines() if line.startswith("plugin ")]
    return [line.replace("{{", "{").replace("}}", "}") for line in lines]


def build(folder: Path, customers: int, days: int, seed: int) -> int:
    """Write contracts/, usage.beancount, purchases.beancount, accounts.beancount."""
    profiles = write_company_contracts(folder / "contracts", customers, seed)
    start = datetime.date(2026, 1, 1)
    opens = [f"2026-01-01 open {a} USD" for a in dict.fromkeys(GENERAL)]
    purchases = []
    for i, profile in enumerate(profiles):
        opens += [f"2026-01-01 open {a} USD" for a in accounts.customer_accounts(profile.customer)]
        if i % 3 == 0:  # the generator's prepaid customers
            c = profile.customer
            purchases.append(
                f'2026-01-01 * "Customer {i}" "Credit purchase: standard" ^{c}-2026\n'
                f'  customer: "{c}"\n  contract: "{c}-2026"\n  rule: "purchase"\n'
                f'  pack: "standard"\n  payment_id: "pay-{c}-0001"\n'
                f'  Assets:Bank  500.00 USD\n  {accounts.deferred_revenue(c)}  -500.00 USD\n')
    for provider in ("openai", "anthropic"):
        opens += [f"2026-01-01 open {a} USD" for a in accounts.provider_accounts(provider)]
    (folder / "accounts.beancount").write_text("\n".join(opens) + "\n")
    (folder / "purchases.beancount").write_text("\n".join(purchases))
    rng = random.Random(seed)
    count = 0
    with open(folder / "usage.beancount", "w", encoding="utf-8") as out:
        for n in range(days):
            day = start + datetime.timedelta(days=n)
            for profile in profiles:
                for model in sorted(profile.models):
                    for feature in sorted(profile.features):
                        events = max(1, int(profile.events_per_day * profile.models[model]
                                            * profile.features[feature] / 10
                                            * rng.uniform(0.5, 1.5)))
                        tokens = events * profile.input_tokens
                        usage = Usage(day, profile.customer, model, feature,
                                      input_tokens=tokens, cached_input_tokens=tokens // 4,
                                      output_tokens=events * profile.output_tokens,
                                      events=events)
                        entry = usage_entry(usage, {
                            "source": f"usage-{day:%Y-%m}.jsonl",
                            "first_event": f"{profile.customer}-{day:%Y%m%d}-000001"})
                        out.write(format_entry(entry))
                        count += 1
    return count + len(purchases)


def write_main(folder: Path, name: str, plugins: list[str]) -> Path:
    path = folder / name
    path.write_text('option "operating_currency" "USD"\n' + "\n".join(plugins) + "\n"
                    'include "accounts.beancount"\ninclude "purchases.beancount"\n'
                    'include "usage.beancount"\n')
    return path


def breakdown(path: Path) -> dict[str, float]:
    """CPU seconds of each plugin in one in-process load (cache off)."""
    import importlib
    import os

    from beancount import loader

    os.environ["BEANCOUNT_DISABLE_LOAD_CACHE"] = "1"
    times: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("plugin "):
            continue
        module = importlib.import_module(line.split('"')[1])
        label = module.__name__.rsplit(".", 1)[-1]
        for name in module.__plugins__:
            function = getattr(module, name)

            def timed(*args, _f=function, _n=label, **kw):
                began = time.process_time()
                try:
                    return _f(*args, **kw)
                finally:
                    times[_n] = times.get(_n, 0.0) + time.process_time() - began
            setattr(module, name, timed)
    began = time.process_time()
    loader.load_file(str(path))
    times["whole load"] = time.process_time() - began
    return times


def check(path: Path) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one ``bean-check -C`` child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "bean-check"), "-C", str(path)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, (done.stderr + done.stdout).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, help="build the book here and keep it")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each plugin in one in-process load")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the book already built in --keep")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-revenue-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        if not (args.reuse and (folder / "usage.beancount").exists()):
            entries = build(folder, args.customers, args.days, args.seed)
            print(f"book: {args.customers} customers, {args.days} days, {entries:,} entries "
                  f"written in {time.perf_counter() - began:.1f} s ({folder})", flush=True)
        plugins = [re.sub(r"'contracts': '[^']*'", "'contracts': 'contracts'", line)
                   for line in plugin_lines()]
        revenue_only = [line for line in SEPARATE
                        if line.split('"')[1].rsplit(".", 1)[-1] in REVENUE_PLUGINS]
        books = {
            "without plugins": write_main(folder, "without.beancount", []),
            "all plugins": write_main(folder, "with.beancount", plugins),
            "all plugins, a line each": write_main(folder, "separate.beancount", SEPARATE),
            "revenue plugins": write_main(folder, "revenue.beancount", revenue_only),
        }
        for label in ("all plugins", "all plugins, a line each", "revenue plugins"):
            lines = (plugins if label == "all plugins" else SEPARATE if label.endswith("each")
                     else revenue_only)
            print(f"{label}: " + ", ".join(line.split('"')[1] for line in lines))
        best = dict.fromkeys(books, float("inf"))
        best_cpu = dict.fromkeys(books, float("inf"))
        for round_ in range(args.rounds):
            for label, path in books.items():
                elapsed, cpu, output = check(path)
                if output:
                    print(f"  {label}: bean-check reported:\n{output[:2000]}")
                best[label] = min(best[label], elapsed)
                best_cpu[label] = min(best_cpu[label], cpu)
                print(f"  round {round_ + 1}: bean-check, {label}: {elapsed:.2f} s wall, "
                      f"{cpu:.2f} s CPU", flush=True)
        for label in books:
            print(f"bean-check {label}: {best[label]:.2f} s wall, {best_cpu[label]:.2f} s CPU "
                  f"(best of {args.rounds})")
        # CPU time is the robust figure on a shared machine; wall time is what users see.
        for label in ("all plugins", "all plugins, a line each", "revenue plugins"):
            for kind, table in (("wall", best), ("CPU", best_cpu)):
                ratio = table[label] / table["without plugins"]
                print(f"ratio {label} / without ({kind}): {ratio:.2f} (target <= 1.5) "
                      f"{'OK' if ratio <= 1.5 else 'OVER TARGET'}")
        if args.breakdown:
            times = breakdown(books["all plugins"])
            print("CPU seconds per plugin in one load: " + ", ".join(
                f"{name} {seconds:.2f}" for name, seconds in times.items()))
            whole = times.pop("whole load")
            print(f"in that load: plugins {sum(times.values()):.2f} s of {whole:.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
