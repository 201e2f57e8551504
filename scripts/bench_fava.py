"""Benchmark: Fava with the tokenbooks pages against Fava without them, on one book.

    .venv/bin/python scripts/bench_fava.py --customers 50 --days 90
    .venv/bin/python scripts/bench_fava.py --customers 200 --days 365 --keep build/bench-200
    .venv/bin/python scripts/bench_fava.py --keep build/bench-200 --reuse --closed

Builds the book of ``scripts/bench_revenue.py`` (the synthetic company's contracts, one
usage entry per customer, day, model and feature, the prepaid customers' purchases) with
a new book's plugin line, twice: with the line ``custom "fava-extension"
"tokenbooks.plugins.fava_ext"`` and without it. ``--closed`` closes every month of the
book first (its invoices, the record of its checks, its lock: what ``tokenbooks close``
writes), as a book in use is.

Each measurement is a fresh process that, timing its CPU (user + system) and wall time:

* first load: makes the Fava application of ``tokenbooks serve`` (read-only, the book
  loaded at once) and answers Fava's income statement, then, with the extension, each of
  the six tokenbooks pages of the default month (what a user opening them waits for);
* reload: touches one file of the book, reloads it as Fava does after a change, and
  answers the same pages again.

The rounds alternate the two books; each figure is the best of ``--rounds``, each ratio
is of CPU seconds within the run (target <= 1.2).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenbooks.scripts import bench_revenue

EXTENSION = '2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext"'
PAGES = ("ContractLiabilities", "Revenue", "Profitability", "CreditsAndBreakage",
         "Modifications", "CloseStatus")

# What the child process runs: the app, the first requests, a touch, a reload, the same
# requests; it prints the CPU and wall seconds of each phase as JSON.
CHILD = r"""
import json, os, sys, time
from pathlib import Path
ledger, pages = Path(sys.argv[1]), sys.argv[2].split(",") if sys.argv[2] else []
from tokenbooks.scripts.serve_cmd import create_app
def timed(work):
    t = (time.process_time(), time.perf_counter())
    work()
    return (time.process_time() - t[0], time.perf_counter() - t[1])
def get(client, url):
    status = client.get(url, headers={"Host": "127.0.0.1:5000"}).status_code
    assert status == 200, (url, status)
out = {}
holder = {}
def first():
    holder["app"] = app = create_app(ledger)
    holder["client"] = client = app.test_client()
    holder["slug"] = slug = app.config["LEDGERS"].first_slug()
    get(client, f"/{slug}/income_statement/")
out["first"] = timed(first)
app, client, slug = holder["app"], holder["client"], holder["slug"]
def tokenbooks_pages():
    for page in pages:
        get(client, f"/{slug}/extension/{page}/")
out["pages"] = timed(tokenbooks_pages)
os.utime(ledger.parent / "accounts.beancount")  # a change: Fava reloads the book
def reload():
    app.config["LEDGERS"][slug].load_file()
    get(client, f"/{slug}/income_statement/")
out["reload"] = timed(reload)
out["reload_pages"] = timed(tokenbooks_pages)
out["errors"] = len(app.config["LEDGERS"][slug].errors)
print(json.dumps(out))
"""


def measure(ledger: Path, pages: tuple[str, ...]) -> dict[str, list[float]]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(ledger), ",".join(pages)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{ledger.name}: the Fava child failed:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def close_all(ledger: Path, first: str, last: str) -> None:
    """Close every month from ``first`` to ``last`` as ``tokenbooks close`` does (its
    invoices, its reports' record of the checks, its lock), in two loads. The book is
    written without imports (no event-id index, no archived source, no provider bill),
    so the close's reconciliations against those would fail: they are not run here."""
    from tokenbooks.plugins.reports import Ledger, checks, invoices, tables
    from tokenbooks.plugins.rules.periods import month_bounds, months
    from tokenbooks.scripts import close_files, loading

    root = ledger.parent
    periods = months(first, last)
    began = time.perf_counter()
    entries, errors, options = loading.load(ledger)
    assert not errors, errors[:3]
    book = Ledger(entries, options)
    for period in periods:
        month = book.month(period)
        text = close_files.invoices_text(period, month.end, invoices.compute(month),
                                         month.payees())
        close_files.write_if_changed(root / close_files.INVOICES / f"{period}.beancount", text)
    entries, errors, options = loading.load(ledger)
    assert not errors, errors[:3]
    book = Ledger(entries, options)
    for period in periods:
        month = book.month(period)
        record = checks.table(period, checks.of_book(month))
        folder = root / "reports" / period
        folder.mkdir(parents=True, exist_ok=True)
        close_files.write_if_changed(folder / "checks.json", tables.to_json(record, period))
        close_files.close_files(root, period, month_bounds(period)[1], entries)
    print(f"  closed {periods[0]} to {periods[-1]} in {time.perf_counter() - began:.1f} s",
          flush=True)


def book_lines(folder: Path, extension: bool, closed: bool) -> str:
    plugins = [re.sub(r"'contracts': '[^']*'", "'contracts': 'contracts'", line)
               for line in bench_revenue.plugin_lines()]
    text = ('option "operating_currency" "USD"\n' + "\n".join(plugins) + "\n"
            + (EXTENSION + "\n" if extension else "")
            + 'include "accounts.beancount"\ninclude "purchases.beancount"\n'
              'include "usage.beancount"\n')
    if closed:
        text += 'include "invoices/*.beancount"\ninclude "closes/*.beancount"\n'
    return text


PHASES = ("first", "pages", "reload", "reload_pages")


def run(folder: Path, customers: int, days: int, rounds: int, closed: bool,
        seed: int = 11, reuse: bool = True) -> dict[str, object]:
    """Build (or reuse) the book in ``folder``, measure it ``rounds`` times with and
    without the extension line; the best CPU and wall seconds of each phase, and the
    ratios."""
    began = time.perf_counter()
    if not (reuse and (folder / "usage.beancount").exists()):
        folder.mkdir(parents=True, exist_ok=True)
        entries = bench_revenue.build(folder, customers, days, seed)
        print(f"book: {customers} customers, {days} days, {entries:,} entries written in "
              f"{time.perf_counter() - began:.1f} s ({folder})", flush=True)
    with_ext = folder / ("fava-with-closed.beancount" if closed else "fava-with.beancount")
    without = folder / ("fava-without-closed.beancount" if closed
                        else "fava-without.beancount")
    with_ext.write_text(book_lines(folder, True, closed))
    without.write_text(book_lines(folder, False, closed))
    if closed:
        for sub in ("invoices", "closes"):
            (folder / sub).mkdir(exist_ok=True)
            readme = folder / sub / "README.beancount"
            if not readme.exists():
                readme.write_text("; written by tokenbooks close\n")
        if not (reuse and any((folder / "closes").glob("*.manifest"))):
            last = datetime.date(2026, 1, 1) + datetime.timedelta(days=days - 1)
            close_all(with_ext, "2026-01", f"{last:%Y-%m}")
    best: dict[str, dict[str, list[float]]] = {}
    for round_ in range(rounds):
        for label, path, pages in (("without", without, ()), ("with", with_ext, PAGES)):
            result = measure(path, pages)
            if result["errors"]:
                raise SystemExit(f"{path}: the book has {result['errors']} error(s)")
            mine = best.setdefault(label, {phase: [9e9, 9e9] for phase in PHASES})
            for phase in PHASES:
                mine[phase] = [min(a, b) for a, b in zip(mine[phase], result[phase],
                                                        strict=True)]
            print(f"  round {round_ + 1}, {label} the extension: " + ", ".join(
                f"{phase} {result[phase][0]:.2f} s CPU" for phase in PHASES), flush=True)
    with_, without_ = best["with"], best["without"]
    return {"customers": customers, "days": days, "closed": closed, "rounds": rounds,
            "with": with_, "without": without_,
            "first_ratio": with_["first"][0] / without_["first"][0],
            "first_pages_ratio": (with_["first"][0] + with_["pages"][0])
            / without_["first"][0],
            "reload_ratio": with_["reload"][0] / without_["reload"][0],
            "reload_pages_ratio": (with_["reload"][0] + with_["reload_pages"][0])
            / without_["reload"][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, help="build the book here and keep it")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the book (and closes) already built in --keep")
    parser.add_argument("--closed", action="store_true",
                        help="close every month of the book first")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-fava-"))
    try:
        result = run(folder, args.customers, args.days, args.rounds, args.closed, args.seed,
                     args.reuse)
        for label in ("without", "with"):
            found = result[label]
            assert isinstance(found, dict)
            print(f"{label} the extension (best of {args.rounds}): " + ", ".join(
                f"{phase} {found[phase][0]:.2f} s CPU ({found[phase][1]:.2f} s wall)"
                for phase in PHASES))
        for key, what in (("first_ratio", "first load (the book and Fava's first page)"),
                          ("first_pages_ratio", "first load and the six tokenbooks pages"),
                          ("reload_ratio", "reload (the book and Fava's first page)"),
                          ("reload_pages_ratio", "reload and the six tokenbooks pages")):
            ratio = result[key]
            assert isinstance(ratio, float)
            print(f"ratio {what}, with / without the extension (CPU): {ratio:.2f} (target "
                  f"<= 1.2) {'OK' if ratio <= 1.2 else 'OVER TARGET'}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
