"""Benchmark: a year's book at the sizes users have (issue 18): its import, bean-check
with and without the plugins (open, then closed), the close of each month (the first
against the twelfth), and Fava's first load and reload.

    .venv/bin/python scripts/bench_close.py --customers 20 --grain day    # minutes
    .venv/bin/python scripts/bench_close.py --customers 1000 --grain month \\
        --work build/bench-close-1000                    # the issue's 1,000 x 365 days
    .venv/bin/python scripts/bench_close.py --import monthly    # each close imports its month
    .venv/bin/python scripts/bench_close.py --work build/bench-close --check-only

Builds the reference workload: the synthetic company of ``generate company`` (C
customers, 5 models, prepaid / arrears / hybrid contracts, the prepaid customers'
purchases) with a year of canonical usage events and the providers' cost reports of
those events, written by ``scripts/fastgen.py --company`` (``--scale`` multiplies the
events per day; ``--generator generate`` writes them with ``generate company`` and
``provider_reports`` instead, slower, as the first figures were), in a new book
(``tokenbooks init``, the company's contracts, the book's plugin line given ``'grain':
GRAIN``). Then, each a fresh process of the ``tokenbooks`` command of this checkout
(``python -m tokenbooks.scripts.cli``: whatever ``PYTHONPATH`` puts first), timed in
wall and CPU seconds (user + system of that child) with its peak resident memory (its
own: ``LAUNCHER`` forks it from a small process):

* ``--import year`` (the default): the whole year imported first (``tokenbooks
  import``); ``bean-check`` of the open year with the book's plugin line and with none
  (the accounts the contracts plugin opens written into the book for that run, so it
  checks without errors), alternating ``--open-rounds`` times, best of each, and their
  ratio (target <= 1.5); then ``tokenbooks close --period 2026-01`` ... ``2026-12`` in
  order: the same book at every close, so what changes from one close to the next is the
  number of months already closed (target: the twelfth close within 1.25x the first);
* ``--import monthly``: each close imports its month's sources (``--source``), as a book
  kept month by month does: the book grows by a month at each close, so its load does.

Then the first and the last close again ``--repeat`` times, alternating, each on a copy
of the book as it found it, best of each, and their ratio; ``bean-check`` of the closed
year with and without the plugins (``--rounds``, target <= 1.5); and Fava on the closed
year (``--fava-rounds``; ``scripts/bench_fava.py``'s child process): its first load
(the app of ``tokenbooks serve``, Fava's income statement, then the six tokenbooks
pages) and its reload after one file of the book is touched, with the book's
``fava-extension`` line, without it, and with neither plugins nor extension, best of
each.

Prints a Markdown table of the figures and writes them as JSON (``--json``, default
``WORK/results-<customers>-<grain>.json``). The work folder keeps the generated company
(reused when complete); the book is made again at every run, and kept:
``--check-only`` measures bean-check of it again.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BEAN_CHECK = Path(sys.executable).parent / "bean-check"
ENV = {**os.environ, "BEANCOUNT_DISABLE_LOAD_CACHE": "1"}
BOOK_PLUGIN = "tokenbooks.plugins.book"
FAVA_BOOKS = {"bare": "no plugins", "without": "plugins, no extension",
              "with": "plugins and the tokenbooks pages"}
EXTENSION_LINE = re.compile(r'^\d{4}-\d\d-\d\d custom "fava-extension" ', re.M)


# Runs the command and writes its own rusage. A fork starts with its parent's resident
# memory as its peak (``ru_maxrss`` survives exec), and this benchmark's process holds a
# loaded book: the command is forked from this small launcher instead, so that its peak
# is its own (plus the launcher's few MiB).
LAUNCHER = r"""
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"status": os.waitstatus_to_exitcode(status), "peak_kib": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, out)
"""


def child(command: list[str], check: bool = True) -> dict[str, Any]:
    """One child process: its wall and CPU seconds (user + system), its peak resident
    memory (MiB, ``ru_maxrss`` of that process alone) and its output; exits if it
    failed and ``check``."""
    with tempfile.TemporaryDirectory() as folder:
        output, result = Path(folder) / "output", Path(folder) / "rusage.json"
        with output.open("wb") as out:
            began = time.perf_counter()
            subprocess.run([PYTHON, "-c", LAUNCHER, str(result), *command], stdout=out,
                           stderr=subprocess.STDOUT, env=ENV, check=True)
            wall = time.perf_counter() - began
        found = json.loads(result.read_text())
        text = output.read_bytes().decode("utf-8", "replace")
    if check and found["status"]:
        raise SystemExit(f"{' '.join(command)} failed ({found['status']}):\n"
                         f"{text[-3000:]}")
    return {"wall": wall, "cpu": found["cpu"], "peak_mib": found["peak_kib"] / 1024,
            "output": text, "status": found["status"]}


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one child process, and its output; exits if it failed."""
    done = child(command)
    return done["wall"], done["cpu"], done["output"]


def tokenbooks(*args: str) -> list[str]:
    return [PYTHON, "-m", "tokenbooks.scripts.cli", *args]


def company(work: Path, customers: int, months: int, seed: int, scale: float = 1.0,
            generator: str = "fastgen") -> Path:
    """The generated company (contracts, sources with the providers' cost reports),
    written once into ``work`` and reused while complete."""
    if generator == "generate":
        folder = work / f"company-{customers}-{months}"
    else:
        folder = work / f"fastgen-{customers}-{months}-x{scale:g}-s{seed}"
    done = folder / "sources" / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    began = time.perf_counter()
    if generator == "generate":
        from tokenbooks.scripts.generate import write_company

        counts = write_company(folder, customers, months, seed)
        subprocess.run([PYTHON, "-m", "tokenbooks.scripts.provider_reports", "--sources",
                        str(folder / "sources"), "--contracts", str(folder / "contracts")],
                       check=True, capture_output=True, env=ENV)
    else:
        from tokenbooks.scripts import fastgen

        counts = fastgen.write_company(folder, customers, months, seed, scale)
    done.write_text(json.dumps(counts) + "\n")
    events = sum(v for k, v in counts.items() if k.startswith("usage"))
    seconds = time.perf_counter() - began
    print(f"company: {customers} customers, {months} months, {events:,} usage events "
          f"written by {generator} in {seconds:.1f} s ({events / seconds:,.0f} events/s; "
          f"{folder})", flush=True)
    return folder


def events_of(folder: Path) -> int:
    counts = json.loads((folder / "sources" / ".complete").read_text())
    return sum(v for k, v in counts.items() if k.startswith("usage"))


def set_grain(ledger: Path, grain: str) -> None:
    """The book's one plugin line given ``'grain': grain`` (the line ``init`` wrote)."""
    from tokenbooks.plugins import config

    if grain != "day" and "grain" not in config.KEYS.get(config.BOOK, ()):
        raise SystemExit(f"this checkout has no {grain} grain: the plugin line of "
                         f"{BOOK_PLUGIN} takes no 'grain' key")
    text = ledger.read_text()
    line = re.compile(r'^plugin "' + re.escape(BOOK_PLUGIN) + r'" "(\{.*\})"$', re.M)
    found = line.search(text)
    if found is None:
        raise SystemExit(f"{ledger}: no plugin line {BOOK_PLUGIN} to set the grain on")
    options = ast.literal_eval(found.group(1))
    if grain == "day" and "grain" not in options:
        return
    options["grain"] = grain
    ledger.write_text(text[:found.start(1)] + repr(options) + text[found.end(1):])


def new_book(work: Path, folder: Path, grain: str = "day") -> Path:
    """A new book with the company's contracts, at ``grain``; its main.beancount."""
    book = work / "book"
    shutil.rmtree(book, ignore_errors=True)
    subprocess.run(tokenbooks("init", str(book), "--start", "2026-01-01"), check=True,
                   capture_output=True, env=ENV)
    for sub in ("customers", "price-books", "costs"):
        for path in sorted((folder / "contracts" / sub).glob("*.yaml")):
            shutil.copy(path, book / "contracts" / sub)
    set_grain(book / "main.beancount", grain)
    return book / "main.beancount"


def month_sources(work: Path, folder: Path, period: str, first: bool) -> Path:
    """A folder of the month's sources: its usage, its cost reports (and the purchases
    with the first month)."""
    source = work / "sources" / period
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for path in sorted((folder / "sources").iterdir()):
        if path.name.endswith(f"{period}.jsonl") or path.name.endswith(f"{period}.json") or (
                first and path.name == "purchases.csv"):
            shutil.copy(path, source)
    return source


def without_plugins(ledger: Path) -> Path:
    """The book's main file with no plugin line, and the accounts the contracts plugin
    opens written into an included file (so the book checks without errors)."""
    from beancount import loader
    from beancount.core import data
    from beancount.parser import printer

    entries, _, _ = loader._load([(str(ledger), True)], None, None, None)
    opens = [e for e in entries if isinstance(e, data.Open)  # the contracts plugin's
             and (e.meta.get("generated_by") or str(e.meta["filename"]).startswith("<"))]
    (ledger.parent / "bench-opens.beancount").write_text(
        "".join(printer.format_entry(e) for e in opens))
    text = ledger.read_text()
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("plugin "))
    path = ledger.with_name("without-plugins.beancount")
    path.write_text(text + 'include "bench-opens.beancount"\n')
    return path


def without_extension(ledger: Path, name: str = "fava-without.beancount") -> Path:
    """The book's main file without its ``fava-extension`` line (Fava alone)."""
    path = ledger.with_name(name)
    path.write_text(EXTENSION_LINE.sub("; (no extension) ", ledger.read_text()))
    return path


def bean_check(path: Path) -> tuple[float, float, float, str]:
    """Wall and CPU seconds, peak MiB and output of ``bean-check`` of ``path``."""
    done = child([str(BEAN_CHECK), str(path)], check=False)
    return done["wall"], done["cpu"], done["peak_mib"], done["output"].strip()


def compare_checks(books: dict[str, Path], rounds: int, what: str) -> dict[str, list[float]]:
    """bean-check of each book, alternating, ``rounds`` times: the best wall and CPU
    seconds of each (and the least peak MiB), and the ratio of the first to the
    second."""
    best = {label: [float("inf")] * 3 for label in books}
    for round_ in range(rounds):
        for label, path in books.items():
            wall, cpu, peak, output = bean_check(path)
            if output:
                print(f"  bean-check {label} reported:\n{output[:2000]}")
            best[label] = [min(a, b) for a, b in zip(best[label], (wall, cpu, peak),
                                                     strict=True)]
            print(f"  round {round_ + 1}: bean-check of {what} {label}: {wall:.2f} s wall, "
                  f"{cpu:.2f} s CPU", flush=True)
    first, second = list(books)[:2]
    for n, kind in enumerate(("wall", "CPU")):
        ratio = best[first][n] / best[second][n]
        print(f"bean-check of {what}, {first} / {second} ({kind}): {best[first][n]:.2f} / "
              f"{best[second][n]:.2f} s = {ratio:.2f} (target <= 1.5) "
              f"{'OK' if ratio <= 1.5 else 'OVER TARGET'}", flush=True)
    return best


def fava(ledger: Path, rounds: int) -> dict[str, Any]:
    """Fava's first load and reload of the book: with its extension line (and the six
    tokenbooks pages), without it (the plugins still run), and with neither plugins nor
    extension (Beancount's own load), alternating: the best CPU and wall seconds of each
    phase (``bench_fava.measure``, a fresh process each)."""
    from tokenbooks.scripts import bench_fava

    bare = without_extension(without_plugins(ledger), "fava-bare.beancount")
    books = {"with": (ledger, bench_fava.PAGES), "without": (without_extension(ledger), ()),
             "bare": (bare, ())}
    best: dict[str, dict[str, list[float]]] = {}
    errors = 0
    for round_ in range(rounds):
        for label, (path, pages) in books.items():
            result = bench_fava.measure(path, pages)
            errors = max(errors, int(result["errors"]))  # type: ignore[call-overload]
            mine = best.setdefault(label, {p: [9e9, 9e9] for p in bench_fava.PHASES})
            for phase in bench_fava.PHASES:
                mine[phase] = [min(a, b) for a, b in zip(mine[phase], result[phase],
                                                        strict=True)]
            print(f"  round {round_ + 1}, Fava {FAVA_BOOKS[label]}: " + ", ".join(
                f"{phase} {result[phase][0]:.2f} s CPU ({result[phase][1]:.2f} s wall)"
                for phase in bench_fava.PHASES), flush=True)
    if errors:
        print(f"  Fava reported {errors} error(s) on the book", flush=True)
    with_, without, bare_ = best["with"], best["without"], best["bare"]
    return {"with": with_, "without": without, "bare": bare_, "errors": errors,
            "first_ratio": with_["first"][0] / without["first"][0],
            "reload_ratio": with_["reload"][0] / without["reload"][0],
            "first_bare_ratio": with_["first"][0] / bare_["first"][0],
            "reload_bare_ratio": with_["reload"][0] / bare_["reload"][0]}


def usage_entries(book: Path) -> int:
    """The usage aggregates the imports wrote (one ``custom "usage"`` entry each)."""
    return sum(text.count(' custom "usage" ') for text in
               (p.read_text() for p in sorted((book / "imports").rglob("*.beancount"))))


def table(figures: dict[str, Any]) -> str:
    """The figures as Markdown rows: what, wall s, CPU s, peak MiB, ratio."""
    rows = ["| step | wall s | CPU s | peak MiB | ratio (target) |", "|---|---|---|---|---|"]

    def row(what: str, wall: float, cpu: float, peak: float | None = None,
            ratio: str = "") -> None:
        rows.append(f"| {what} | {wall:.1f} | {cpu:.1f} | "
                    f"{'' if peak is None else f'{peak:,.0f}'} | {ratio} |")

    def checks(key: str, what: str) -> None:
        found = figures.get(key)
        if not found:
            return
        with_, without = found["with plugins"], found["without plugins"]
        row(f"bean-check {what}, without plugins", without[0], without[1], without[2])
        row(f"bean-check {what}, with plugins", with_[0], with_[1], with_[2],
            ratio=f"{with_[1] / without[1]:.2f} CPU (<= 1.5)")

    if "import" in figures:
        found = figures["import"]
        row(f"import of the year ({figures['events']:,} events, "
            f"{figures['usage_entries']:,} usage entries)", found["wall"], found["cpu"],
            found["peak_mib"])
    checks("bean_check_open", "of the open year")
    closes = figures.get("closes", [])
    if closes:
        first, last = closes[0], closes[-1]
        best = figures.get("close_best", {"first": [first["wall"], first["cpu"]],
                                          "last": [last["wall"], last["cpu"]]})
        row(f"close {first['period']} (best)", best["first"][0], best["first"][1],
            first.get("peak_mib"))
        row(f"close {last['period']} (best)", best["last"][0], best["last"][1],
            last.get("peak_mib"), f"{best['last'][1] / best['first'][1]:.2f} CPU (<= 1.25)")
    checks("bean_check", "of the closed year")
    found = figures.get("fava")
    if found:
        for label, book in FAVA_BOOKS.items():
            what = f"Fava, {book}"
            phases = found[label]
            for phase, doing in (("first", "first load"), ("pages", "the six pages"),
                                 ("reload", "reload after touching a file")):
                if phase == "pages" and label != "with":
                    continue
                ratio = ""
                if label == "with" and phase != "pages":
                    ratio = (f"{found[phase + '_ratio']:.2f} CPU vs no extension, "
                             f"{found[phase + '_bare_ratio']:.2f} vs no plugins")
                row(f"{what}: {doing}", phases[phase][1], phases[phase][0], ratio=ratio)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--grain", choices=("day", "month"), default="day",
                        help="the grain of the book's usage sub-ledger")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the events per customer and day (fastgen)")
    parser.add_argument("--generator", choices=("fastgen", "generate"), default="fastgen")
    parser.add_argument("--import", dest="mode", choices=("year", "monthly"), default="year",
                        help="import the year before the first close, or each month with "
                             "its close")
    parser.add_argument("--no-archive", dest="archive", action="store_false",
                        help="with --import year: import without archiving the sources "
                             "into documents/ (a copy of every source file)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bean-check")
    parser.add_argument("--repeat", type=int, default=2,
                        help="close the first and the last month again this many times, "
                             "alternating, on copies of the book as each found it")
    parser.add_argument("--open-rounds", type=int, default=None,
                        help="with --import year: rounds of bean-check of the open year "
                             "(after the import, before the first close; default --rounds)")
    parser.add_argument("--fava-rounds", type=int, default=2,
                        help="rounds of Fava's first load and reload (0: none)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-close")
    parser.add_argument("--json", type=Path, help="write the figures here (default: "
                                                  "WORK/results-<customers>-<grain>.json)")
    parser.add_argument("--check-only", action="store_true",
                        help="only bean-check the book the last run closed (in --work)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.check_only:
        ledger = args.work / "book" / "main.beancount"
        compare_checks({"with plugins": ledger, "without plugins": without_plugins(ledger)},
                       args.rounds, "the book")
        return
    began = time.perf_counter()
    folder = company(args.work, args.customers, args.months, args.seed, args.scale,
                     args.generator)
    ledger = new_book(args.work, folder, args.grain)
    periods = [f"2026-{m:02d}" for m in range(1, args.months + 1)]
    figures: dict[str, Any] = {
        "customers": args.customers, "months": args.months, "grain": args.grain,
        "scale": args.scale, "generator": args.generator, "import_mode": args.mode,
        "archive": args.archive,
        "events": events_of(folder), "cores": len(os.sched_getaffinity(0))}
    if args.mode == "year":
        files = sorted(str(p) for p in (folder / "sources").iterdir()
                       if not p.name.startswith("."))
        done = child(tokenbooks("import", "--ledger", str(ledger), *files,
                                *([] if args.archive else ["--no-archive"])))
        figures["import"] = {k: done[k] for k in ("wall", "cpu", "peak_mib")}
        figures["usage_entries"] = usage_entries(ledger.parent)
        print(f"import of the year: {done['wall']:.1f} s wall, {done['cpu']:.1f} s CPU, "
              f"peak {done['peak_mib']:,.0f} MiB ({figures['events']:,} events, "
              f"{figures['usage_entries']:,} usage entries)", flush=True)
        rounds = args.rounds if args.open_rounds is None else args.open_rounds
        if rounds:  # the same book before any close: the plugins without a lock
            figures["bean_check_open"] = compare_checks(
                {"with plugins": ledger, "without plugins": without_plugins(ledger)},
                rounds, "the open year")
    closes: list[dict[str, Any]] = []
    sources: dict[str, list[str]] = {}
    states = {"first": args.work / "state-first", "last": args.work / "state-last"}
    for n, period in enumerate(periods):
        sources[period] = ([] if args.mode == "year" else
                           ["--source", str(month_sources(args.work, folder, period, n == 0))])
        for label, at in (("first", 0), ("last", len(periods) - 1)):
            if args.repeat and n == at:  # the book as this close finds it, for the repeats
                shutil.rmtree(states[label], ignore_errors=True)
                shutil.copytree(ledger.parent, states[label])
        done = child(tokenbooks("close", "--ledger", str(ledger), "--period", period,
                                *sources[period]))
        entries = re.search(r"check: (\d+) entries", done["output"])
        closes.append({"period": period, "wall": done["wall"], "cpu": done["cpu"],
                       "peak_mib": done["peak_mib"],
                       "entries": int(entries.group(1)) if entries else 0})
        print(f"close {period}: {done['wall']:.1f} s wall, {done['cpu']:.1f} s CPU, peak "
              f"{done['peak_mib']:,.0f} MiB ({closes[-1]['entries']:,} entries)", flush=True)
    if args.mode == "monthly":
        figures["usage_entries"] = usage_entries(ledger.parent)
    figures["closes"] = closes
    first, last = closes[0], closes[-1]
    for kind in ("wall", "cpu"):
        ratio = last[kind] / first[kind]
        print(f"ratio close {last['period']} / close {first['period']} ({kind}), in "
              f"sequence: {ratio:.2f} (target <= 1.25)")
    if args.repeat:
        # The first and the last close again, alternating, each on a copy of the book as
        # it found it: on a shared machine one run of each swings by a third.
        best = {"first": [first["wall"], first["cpu"]], "last": [last["wall"], last["cpu"]]}
        trial = args.work / "trial"
        for round_ in range(args.repeat):
            for label, period in (("first", periods[0]), ("last", periods[-1])):
                shutil.rmtree(trial, ignore_errors=True)
                shutil.copytree(states[label], trial)
                wall, cpu, _ = timed(tokenbooks("close", "--ledger",
                                                str(trial / "main.beancount"), "--period",
                                                period, *sources[period]))
                best[label] = [min(best[label][0], wall), min(best[label][1], cpu)]
                print(f"  round {round_ + 1}: close {period} again: {wall:.1f} s wall, "
                      f"{cpu:.1f} s CPU", flush=True)
        shutil.rmtree(trial, ignore_errors=True)
        figures["close_best"] = best
        for n, kind in enumerate(("wall", "CPU")):
            ratio = best["last"][n] / best["first"][n]
            print(f"close {periods[-1]} / close {periods[0]} ({kind}, best of "
                  f"{args.repeat + 1}): {best['last'][n]:.1f} / "
                  f"{best['first'][n]:.1f} s = {ratio:.2f} (target <= 1.25) "
                  f"{'OK' if ratio <= 1.25 else 'OVER TARGET'}", flush=True)
    if args.rounds:
        figures["bean_check"] = compare_checks(
            {"with plugins": ledger, "without plugins": without_plugins(ledger)},
            args.rounds, "the closed year")
    if args.fava_rounds:
        figures["fava"] = found = fava(ledger, args.fava_rounds)
        print(f"Fava, with / without the extension (CPU): first load "
              f"{found['first_ratio']:.2f}, reload {found['reload_ratio']:.2f}; with the "
              f"extension / no plugins: first load {found['first_bare_ratio']:.2f}, reload "
              f"{found['reload_bare_ratio']:.2f}", flush=True)
    figures["seconds"] = time.perf_counter() - began
    text = table(figures)
    print(f"\n{args.customers} customers x {args.months} months at {args.grain} grain, "
          f"{figures['events']:,} events, {figures['cores']} cores "
          f"({figures['seconds'] / 60:.0f} min in all):\n\n{text}")
    path = args.json or args.work / f"results-{args.customers}-{args.grain}.json"
    path.write_text(json.dumps({**figures, "table": text}, indent=2) + "\n")
    print(f"\nfigures: {path}")


if __name__ == "__main__":
    main()
