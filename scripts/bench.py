"""The benchmark suite on the reference workload; writes BENCHMARKS.md.

    make bench                                              # the default sizes below
    python -m tokenbooks.scripts.bench --events 1000000 10000000 --customers 50 200 1000

On the synthetic company of ``tokenbooks.scripts.generate`` (N customers, 5 models,
prepaid / arrears / hybrid contracts, a year of events), each figure the median of
``--rounds`` runs, each run a fresh process (no Beancount cache), the runs of a
comparison interleaved and their ratio taken within each round:

1. import: ``tokenbooks``'s usage import of one JSONL file of N events (read, hash,
   validate, dedupe, aggregate, spill the finished months, write the month files as
   text from the tables and their sidecars: ``extract_result`` then
   ``import_cmd.write``, as ``tokenbooks import`` does) against a bare
   ``pyarrow.json.read_json`` of the same file; events/s and the ratio;
2. memory: peak RSS of the import at N/4, N/2 and N events against the file size;
3. books of C customers (usage entries per customer, day, model and feature, as
   ``scripts/bench_revenue.py`` builds them): ``bean-check`` with and without the
   tokenbooks plugin lines and the ratio, and Fava's first load (``FavaLedger``);
4. close: ``tokenbooks close --period 2026-01 --source`` on a new book of C customers:
   the month's usage, purchases and provider bills imported, checked, invoiced,
   reconciled, reported and locked;
5. Fava: the first load and a reload of the same books with and without the line
   ``custom "fava-extension" "tokenbooks.plugins.fava_ext"``, open and with every month
   closed (``scripts/bench_fava.py``), CPU seconds and their ratio.

``--sections`` runs some of them and replaces only their sections of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tokenbooks.scripts import bench_fava, bench_revenue
from tokenbooks.scripts.bench_import import events_file
from tokenbooks.scripts.generate import write_company

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def child(kind: str, args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter; its own peak RSS included."""
    out = subprocess.run([sys.executable, "-m", "tokenbooks.scripts.bench", "--child", kind,
                          *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(kind: str, args: list[str]) -> dict:
    if kind == "read_json":  # each timer starts after the imports of its modules
        import pyarrow.json as pj

        began = time.perf_counter()
        rows = pj.read_json(args[0]).num_rows
    elif kind == "import":
        from tokenbooks.importers import usage_jsonl
        from tokenbooks.importers.memory import use_import_pool
        from tokenbooks.scripts.import_cmd import SPILL, write

        began = time.perf_counter()
        use_import_pool()
        importer = usage_jsonl.Importer(args[1])  # as ``tokenbooks import`` runs it: the
        # finished months spilled to disk, the entries left tables (written as text)
        importer.spill = Path(args[2]).joinpath(*SPILL)
        result = importer.extract_result(args[0], [])
        write(Path(args[2]), result)
        assert result.read == result.imported + result.duplicates + result.quarantined
        assert result.quarantined == 0, result.quarantine[:3]
        rows = result.read
    elif kind == "fava":
        from fava.core import FavaLedger

        began = time.perf_counter()
        ledger = FavaLedger(args[0])
        rows = len(ledger.all_entries)
        assert not ledger.errors, ledger.errors[:3]
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    return {"seconds": time.perf_counter() - began, "rows": rows,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(command: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return time.perf_counter() - began


def company(work: Path, customers: int, months: int = 12) -> Path:
    folder = work / f"company-{customers}"
    if not (folder / "sources" / f"usage-2026-{months:02d}.jsonl").exists():
        write_company(folder, customers, months)
    return folder



def bench_import(work: Path, n: int, customers: int, rounds: int) -> dict:
    folder = company(work, customers)
    path = events_file(work, folder, n)
    contracts = str(folder / "contracts")
    base, imported, ratios = [], [], []
    for r in range(rounds):
        book = work / f"book-import-{r}"
        shutil.rmtree(book, ignore_errors=True)
        (book / "imports").mkdir(parents=True)
        b = child("read_json", [str(path)])
        i = child("import", [str(path), contracts, str(book)])
        shutil.rmtree(book)
        base.append(b)
        imported.append(i)
        ratios.append(b["seconds"] / i["seconds"])
        print(f"  import {n:,}: round {r + 1}: read_json {b['seconds']:.2f} s, import "
              f"{i['seconds']:.2f} s", flush=True)
    memory = []
    for part in (n // 4, n // 2):
        small = events_file(work, folder, part)
        book = work / "book-memory"
        shutil.rmtree(book, ignore_errors=True)
        (book / "imports").mkdir(parents=True)
        memory.append((part, small.stat().st_size, child("import", [str(small), contracts,
                                                                   str(book)])["peak_mib"]))
        shutil.rmtree(book)
    memory.append((n, path.stat().st_size, statistics.median(i["peak_mib"] for i in imported)))
    return {"events": n, "customers": customers, "bytes": path.stat().st_size,
            "read_json": statistics.median(b["seconds"] for b in base),
            "read_json_mib": statistics.median(b["peak_mib"] for b in base),
            "import": statistics.median(i["seconds"] for i in imported),
            "ratio": statistics.median(ratios), "memory": memory}


def bench_book(work: Path, customers: int, days: int, rounds: int) -> dict:
    folder = work / f"book-{customers}-{days}"
    if not (folder / "usage.beancount").exists():
        folder.mkdir(parents=True, exist_ok=True)
        bench_revenue.build(folder, customers, days, 11)
    plugins = [line.replace("'contracts': 'contracts/'", "'contracts': 'contracts'")
               for line in bench_revenue.plugin_lines()]
    # the book as a user has it: the plugin line and Fava's tokenbooks pages
    with_ = bench_revenue.write_main(folder, "with.beancount",
                                     [*plugins, bench_fava.EXTENSION])
    without = bench_revenue.write_main(folder, "without.beancount", [])
    entries = sum(1 for line in (folder / "usage.beancount").open() if "custom" in line)
    checks: dict[str, list[float]] = {"with": [], "without": [], "fava": [], "with_cpu": [],
                                      "without_cpu": []}
    ratios = []
    for r in range(rounds):
        for label, path in (("with", with_), ("without", without)):
            seconds, cpu, output = bench_revenue.check(path)  # wall, CPU of the child
            if output:
                raise SystemExit(f"bean-check {path}:\n{output[:2000]}")
            checks[label].append(seconds)
            checks[f"{label}_cpu"].append(cpu)
        ratios.append(checks["with_cpu"][-1] / checks["without_cpu"][-1])
        checks["fava"].append(child("fava", [str(with_)])["seconds"])
        print(f"  book {customers}: round {r + 1}: bean-check {checks['with'][-1]:.1f} s / "
              f"{checks['without'][-1]:.1f} s, fava {checks['fava'][-1]:.1f} s", flush=True)
    return {"customers": customers, "days": days, "usage_entries": entries,
            **{k: statistics.median(v) for k, v in checks.items()},
            "ratio": statistics.median(ratios)}


def bench_close(work: Path, customers: int, rounds: int) -> dict:
    folder = company(work, customers)
    source = work / f"close-{customers}-source"
    if not source.exists():
        source.mkdir()
        shutil.copy(folder / "sources" / "usage-2026-01.jsonl", source)
        shutil.copy(folder / "sources" / "purchases.csv", source)
        run([str(BIN / "python"), "-m", "tokenbooks.scripts.provider_reports",
             "--sources", str(source), "--contracts", str(folder / "contracts")])
    template = work / f"close-{customers}-book"
    if not template.exists():
        run([str(BIN / "tokenbooks"), "init", str(template), "--start", "2026-01-01"])
        for sub in ("customers", "price-books", "costs"):
            for path in (folder / "contracts" / sub).glob("*.yaml"):
                shutil.copy(path, template / "contracts" / sub)
    times = []
    for r in range(rounds):
        book = work / "close-run"
        shutil.rmtree(book, ignore_errors=True)
        shutil.copytree(template, book)
        times.append(run([str(BIN / "tokenbooks"), "close", "--ledger",
                          str(book / "main.beancount"), "--period", "2026-01", "--source",
                          str(source)]))
        print(f"  close {customers}: round {r + 1}: {times[-1]:.1f} s", flush=True)
    events = sum(1 for _ in (source / "usage-2026-01.jsonl").open())
    return {"customers": customers, "events": events, "seconds": statistics.median(times)}


def bench_fava_books(work: Path, specs: list[str], closed: list[str], rounds: int
                     ) -> list[dict]:
    out = []
    for spec, shut in [(s, False) for s in specs] + [(s, True) for s in closed]:
        customers, days = (int(x) for x in spec.split(":"))
        folder = work / f"fava-{customers}-{days}"
        print(f"  fava {customers} x {days}{', closed' if shut else ''}", flush=True)
        out.append(bench_fava.run(folder, customers, days, rounds, shut))
    return out


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    from importlib.metadata import version

    libs = ", ".join(f"{p} {version(p)}" for p in ("beancount", "fava", "pyarrow"))
    return (f"{cpu}, {os.cpu_count()} cores, {kib / 2**20:.1f} GiB memory, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
            f"{libs}")


def fava_section(args: argparse.Namespace, favas: list[dict]) -> list[str]:
    lines = ["## Fava with the tokenbooks pages", "",
             f"`scripts/bench_fava.py` on the book of `scripts/bench_revenue.py` (plugin line "
             f"of a new book), with and without the line `custom \"fava-extension\" "
             f"\"tokenbooks.plugins.fava_ext\"`: in a fresh process each, the application of "
             f"`tokenbooks serve` made and Fava's income statement answered (first load), "
             f"then the six tokenbooks pages of the default month (pages); one file touched "
             f"and the book reloaded as Fava does after a change, the income statement "
             f"answered (reload), the six pages again. CPU seconds, best of "
             f"{args.rounds} alternating rounds; \"closed\": every month of the book closed "
             f"first (its invoices, the record of its checks, its lock). Measured on "
             f"{datetime.date.today():%Y-%m-%d}; target: within 1.2x.", "",
             "| customers | days | months | without: first load s | with: first load s | "
             "with: pages s | ratio | ratio with pages | without: reload s | with: "
             "reload s | ratio | ratio with pages |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in favas:
        w, o = f["with"], f["without"]
        lines.append(f"| {f['customers']:,} | {f['days']} | "
                     f"{'closed' if f['closed'] else 'open'} | {o['first'][0]:.2f} | "
                     f"{w['first'][0]:.2f} | {w['pages'][0]:.2f} | {f['first_ratio']:.2f} | "
                     f"{f['first_pages_ratio']:.2f} | {o['reload'][0]:.2f} | "
                     f"{w['reload'][0]:.2f} | {f['reload_ratio']:.2f} | "
                     f"{f['reload_pages_ratio']:.2f} |")
    return lines


def report(args: argparse.Namespace, imports: list[dict], books: list[dict],
           closes: list[dict], favas: list[dict]) -> str:
    lines = ["# Benchmarks", "",
             f"Written by `{' '.join(['python -m tokenbooks.scripts.bench', *sys.argv[1:]])}` "
             f"on {datetime.date.today():%Y-%m-%d}.", "",
             f"Machine: {machine()}.", "",
             f"Each figure is the median of {args.rounds} runs, each a fresh process; the "
             "runs of a comparison alternate and each ratio is taken within one round "
             "(median of the rounds' ratios). Workload: the synthetic company of "
             "`tokenbooks.scripts.generate company` (seed 11).", "",
             *(["Not in this run: the 10M-event import (`--events 10000000 "
                "--import-customers 1000`; the generator writes some 8,000 events/s, so "
                "its file alone takes about 20 minutes to write on this machine). Books "
                "of 200 and 1,000 customers cover 90 and 31 days (`--days`) to keep the "
                "default run near half an hour on 2 cores.", ""]
              if 10_000_000 not in args.events else []),
             "## Import", "",
             "One JSONL file of the company's first N events (its year, month after month); "
             "import = read, sha256, validate, dedupe, aggregate, write month files and "
             "event-id sidecars; ratio = import throughput / `pyarrow.json.read_json` "
             "throughput on the same file.", "",
             "| events | customers | file MiB | read_json s | import s | import events/s "
             "| ratio |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in imports:
        lines.append(f"| {r['events']:,} | {r['customers']} | {r['bytes'] / 2**20:,.0f} | "
                     f"{r['read_json']:.2f} | {r['import']:.2f} | "
                     f"{r['events'] / r['import']:,.0f} | {r['ratio']:.2f} |")
    lines += ["", "Peak memory (RSS) of the import against the file size (read_json of the "
              "whole file for comparison):", "",
              "| events | file MiB | import peak MiB | read_json peak MiB (whole file) |",
              "|---:|---:|---:|---:|"]
    for r in imports:
        for n, size, peak in r["memory"]:
            base = f"{r['read_json_mib']:,.0f}" if n == r["events"] else ""
            lines.append(f"| {n:,} | {size / 2**20:,.0f} | {peak:,.0f} | {base} |")
    lines += ["", "## Books: bean-check and Fava", "",
              "A book of C customers with one `custom \"usage\"` entry per customer, day, "
              "model and feature (`scripts/bench_revenue.py`'s book), purchases of the "
              "prepaid customers; bean-check with the plugin line of a new book "
              "(`tokenbooks.plugins.book`: contracts, revenue, cogs, invariants, lock) "
              "and with none, wall seconds "
              "and CPU seconds of the child (the ratio is of CPU seconds, robust on a "
              "shared machine); Fava's first load (`FavaLedger`) of the book with "
              "plugins and the line of the tokenbooks pages. Measured on "
              f"{datetime.date.today():%Y-%m-%d}.", "",
              "| customers | days | usage entries | bean-check with plugins s (CPU) "
              "| without s (CPU) | ratio (CPU) | Fava first load s |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for b in books:
        lines.append(f"| {b['customers']:,} | {b['days']} | {b['usage_entries']:,} | "
                     f"{b['with']:.1f} ({b['with_cpu']:.1f}) | {b['without']:.1f} "
                     f"({b['without_cpu']:.1f}) | {b['ratio']:.2f} | "
                     f"{b['fava']:.1f} |")
    lines += ["", "## Month-end close", "",
              "`tokenbooks close --period 2026-01 --source` on a new book of C customers: "
              "January's usage events, the purchases and the provider bills imported, then "
              "check, invoice, reconcile, reports, lock.", "",
              "| customers | events of the month | close s |", "|---:|---:|---:|"]
    for c in closes:
        lines.append(f"| {c['customers']:,} | {c['events']:,} | {c['seconds']:.1f} |")
    lines += ["", *fava_section(args, favas)]
    return "\n".join(lines) + "\n"


def merge(old: str, new: str, sections: list[str], head_too: bool = False) -> str:
    """``old`` BENCHMARKS.md with the ``## `` sections of ``new`` that were run replaced
    (or added), the others as they were (those other scripts write, such as
    ``bench_whatif.py``'s and ``bench_formats.py``'s, included); with ``head_too`` the
    text before the first section too (a run of every section)."""
    def split(text: str) -> dict[str, str]:
        parts: dict[str, str] = {}
        for chunk in ("\n" + text).split("\n## ")[1:]:
            title = chunk.split("\n", 1)[0]
            parts[title] = "## " + chunk.rstrip("\n") + "\n"
        return parts
    titles = {"import": "Import", "books": "Books: bean-check and Fava",
              "close": "Month-end close", "fava": "Fava with the tokenbooks pages"}
    mine, theirs = split(new), split(old)
    head = (new if head_too else old).split("\n## ", 1)[0].rstrip("\n") + "\n"
    for name in sections:
        theirs[titles[name]] = mine[titles[name]]
    return head + "".join("\n" + text for text in theirs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--import-customers", type=int, default=200,
                        help="customers of the company the import files come from")
    parser.add_argument("--customers", type=int, nargs="*", default=[50, 200, 1000])
    parser.add_argument("--days", type=int, nargs="*", default=[365, 90, 31],
                        help="days of each book (one value for all, or one per --customers)")
    parser.add_argument("--close-customers", type=int, nargs="*", default=[200])
    parser.add_argument("--fava", nargs="*", default=["50:90", "200:365"],
                        help="books CUSTOMERS:DAYS for the Fava section")
    parser.add_argument("--fava-closed", nargs="*", default=["200:365"],
                        help="the same, with every month closed")
    parser.add_argument("--sections", nargs="*",
                        choices=["import", "books", "close", "fava"],
                        default=["import", "books", "close", "fava"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1:])))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ["BEANCOUNT_DISABLE_LOAD_CACHE"] = "1"
    run_all = set(args.sections) == {"import", "books", "close", "fava"}
    imports = ([bench_import(args.work, n, args.import_customers, args.rounds)
                for n in args.events] if "import" in args.sections else [])
    days = args.days * len(args.customers) if len(args.days) == 1 else args.days
    if len(days) != len(args.customers):
        raise SystemExit("--days: expected one value, or one per --customers")
    books = ([bench_book(args.work, c, d, args.rounds)
              for c, d in zip(args.customers, days, strict=True)]
             if "books" in args.sections else [])
    closes = ([bench_close(args.work, c, args.rounds) for c in args.close_customers]
              if "close" in args.sections else [])
    favas = (bench_fava_books(args.work, args.fava, args.fava_closed, args.rounds)
             if "fava" in args.sections else [])
    text = report(args, imports, books, closes, favas)
    if args.out.exists():
        text = merge(args.out.read_text(encoding="utf-8"), text, args.sections, run_all)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
