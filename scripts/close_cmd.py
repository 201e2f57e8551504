"""``tokenbooks close --ledger FILE --period YYYY-MM``: the month-end close.

    tokenbooks close --ledger books/main.beancount --period 2026-01 --source drop/2026-01

Steps, in order; the first that fails stops the close with a message and exit status 1:

1. import: every file of ``--source`` (``tokenbooks import``'s rules: dedupe, quarantine,
   archive; usage that arrives for a closed month is booked in the first open month,
   see ``importers.late``). Rows quarantined from the month's sources stop the close
   unless ``--accept-quarantine``; their counts are in the report either way.
2. check: the book loads without a single error (``bean-check``); a derived event-id
   index (``store: cache``) missing or stale is rebuilt from the archived sources, or
   the close stops (``rebuild_index``, docs/event-index.md).
3. invoice: one invoice per customer of the month's ``Assets:Unbilled`` (arrears usage,
   actions, overage, commitment shortfall) into ``invoices/YYYY-MM.beancount``.
4. reconcile: usage completeness, unbilled zero, invoices once, COGS = provider bills,
   the contract-liability rollforward tied to the ledger and the lots.
5. reports: ``reports/YYYY-MM/*.csv|json`` and ``summary.md``.
6. lock: ``closes/YYYY-MM.manifest`` and ``closes/YYYY-MM.beancount`` (a ``close``
   directive); from then on ``tokenbooks.plugins.lock`` fails any change to the month.
   The new close is verified on the book already loaded (``close_files.verify_seal``:
   its close file read by an include of the book, the lock's verdict on the month and
   its evidence), not by loading the book again.
   Then the evidence of the close outside ``closes/``: ``reports/YYYY-MM/lock.json`` and,
   when the book's folder is the top of a git work tree, the annotated tag
   ``tokenbooks/close/YYYY-MM`` on HEAD (``close_files``).

The book is loaded twice: to check it (step 2) and once its invoices are written (step
3, for the reports); once when the invoices were written already (a re-run), three times
when the book stops short of the month's last day (the invoice run, dated that day, is
written first: recognition runs to the book's last day). What a load costs does not grow
with the months closed (``plugins.lock``: each of their files is hashed once, not each
entry printed).

A month can be closed only after the month before it (the book's first month aside).
Closing a closed month again imports nothing new into it, rewrites the same reports and
changes nothing (it writes the record and the tag if they are missing).
Exit status 0: closed and tied out.

The close holds the book's lock from start to end (``scripts.writing``; its import does
not take it again) and writes every file atomically, in the order of the steps: the
invoices, the reports, then the lock step, whose close file is the last file of the
close proper (the record and the tag follow it). A crash or a full disk at any point
leaves the month not closed, or closed with its evidence still to write; the next
command rolls back or completes an interrupted lock step (``close_files.recover``), and
closing again ends with exactly the files of an uninterrupted close.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from beancount.core import data
from beancount.parser import printer

from tokenbooks.plugins import config, lock, reports
from tokenbooks.plugins.reports import (
    Ledger,
    Month,
    Table,
    credits,
    invoices,
    profitability,
    rollforward,
    tables,
)
from tokenbooks.plugins.reports import checks as month_checks
from tokenbooks.plugins.rules import reconcile
from tokenbooks.plugins.rules.periods import month_bounds, month_of, previous_month

from . import close_files, loading, rebuild_index, sources
from .import_cmd import open_book, read_settings, run_import

LOCK_PLUGIN = config.LOCK
BOOK_PLUGIN = config.BOOK  # contracts, revenue, cogs, invariants, lock


class CloseFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def load(ledger: Path, step: str) -> tuple[list[data.Directive], dict[str, Any]]:
    """The book, loaded afresh (``loading.load``); CloseFailed at ``step`` if it has errors."""
    entries, errors, options = loading.load(ledger)
    if errors:
        shown = "\n".join(printer.format_error(e).rstrip() for e in errors[:20])
        more = f" (first 20 of {len(errors)})" if len(errors) > 20 else ""
        raise CloseFailed(step, f"the book has {len(errors)} error(s){more}; fix them "
                                f"first (bean-check {ledger}):\n{shown}")
    return entries, options


def first_period(entries: list[data.Directive]) -> str | None:
    """The month of the book's first transaction or custom entry of its own files."""
    for entry in entries:
        if (isinstance(entry, (data.Transaction, data.Custom))
                and not str(entry.meta.get("filename", "<")).startswith("<")):
            return month_of(entry.date)
    return None


def quarantined(book: Path, entries: list[data.Directive], start: datetime.date,
                end: datetime.date, shas: set[str]) -> list[tuple[str, int]]:
    """Quarantine files of the sources that fed the month, with their row counts."""
    for entry in entries:
        if start <= entry.date <= end and entry.meta and entry.meta.get("sha256"):
            shas.add(str(entry.meta["sha256"])[:8])
    out = []
    for path in sorted((book / "imports").glob("*.quarantine.jsonl")):
        sha8 = path.name.removesuffix(".quarantine.jsonl").rsplit(".", 1)[-1]
        if sha8 in shas:
            rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
            out.append((f"imports/{path.name}", rows))
    return out


def run_close(ledger: Path, period: str, source: Path | None = None,
              accept_quarantine: bool = False,
              echo: Callable[[str], None] = click.echo) -> list[reconcile.Check]:
    """Close ``period`` of the book of ``ledger``; raises CloseFailed at the first failure."""
    ledger = ledger.resolve()
    root = ledger.parent
    try:
        start, end = month_bounds(period)
    except ValueError as exc:
        raise CloseFailed("period", str(exc)) from exc
    if (root / "importers.yaml").exists():  # read again by the reconciliation
        try:
            read_settings(root / "importers.yaml")
        except click.ClickException as exc:
            raise CloseFailed("check", exc.message) from exc

    # 1. import
    shas: set[str] = set()
    if source is not None:
        files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        try:
            done = run_import(ledger, files, quiet=True) if files else []
        except click.ClickException as exc:
            raise CloseFailed("import", exc.message) from exc
        for path, result, _written in done:
            shas.add(result.sha256[:8])
            echo(f"import: {path.name}: read {result.read}, imported {result.imported}, "
                 f"duplicates {result.duplicates}, quarantined {result.quarantined}")
    # 2. check
    entries, options = load(ledger, "check")
    plugins = [name for name, _ in options.get("plugin", ())]
    if not plugins or plugins[-1] not in (LOCK_PLUGIN, BOOK_PLUGIN):
        raise CloseFailed("check", f"{ledger}: expected the line plugin \"{LOCK_PLUGIN}\" "
                                   f"(or \"{BOOK_PLUGIN}\", which runs it last) after every "
                                   f"other plugin line (a closed month must be locked)")
    closes = lock.closed_periods(entries)
    already = period in closes
    first = first_period(entries)
    if not already:
        later = sorted(p for p in closes if p > period)
        if later:
            raise CloseFailed("check", f"{period} is before {later[-1]}, which is closed")
        if first is None or period < first:
            raise CloseFailed("check", f"{period} is before the book's first month "
                                       f"({first or 'none: the book is empty'})")
        if period > first and previous_month(period) not in closes:
            raise CloseFailed("check", f"{previous_month(period)} is not closed: close the "
                                       f"months in order (tokenbooks close --period "
                                       f"{previous_month(period)})")
    try:  # a derived event-id index missing or stale (store: cache): rebuilt from the
        # archived sources before the completeness check reads it (docs/event-index.md)
        for message in rebuild_index.rebuild_loaded(root, options, f"{period} was not closed"):
            echo(f"index: {message}")
    except click.ClickException as exc:
        raise CloseFailed("index", exc.message) from exc
    quarantine = quarantined(root, entries, start, end, shas)
    if quarantine and not accept_quarantine:
        listed = ", ".join(f"{name} ({rows} rows)" for name, rows in quarantine)
        raise CloseFailed("import", f"rows of the month's sources are quarantined: {listed}; "
                                    f"fix and import again, or close with "
                                    f"--accept-quarantine")
    echo(f"check: {len(entries)} entries, no error")

    # 3. invoice
    close_files.ensure_folders(root)
    invoice_file = root / close_files.INVOICES / f"{period}.beancount"
    if already:
        echo(f"invoice: {period} is closed; invoices unchanged")
    else:
        parsed_last = max((e.date for e in entries
                           if not str(e.meta.get("filename", "<")).startswith("<")),
                          default=start)
        month = month_of_book(entries, options, period)
        if parsed_last < end and not invoice_file.exists():
            # The book must reach the month's last day, or recognition stops short of it.
            close_files.write_if_changed(invoice_file, close_files.invoices_text(
                period, end, [], month.payees()))
            entries, options = load(ledger, "invoice")
            month = month_of_book(entries, options, period)
        items = invoices.compute(month)
        text = close_files.invoices_text(period, end, items, month.payees())
        issued = (invoice_file.exists()
                  and 'rule: "invoice"' in invoice_file.read_text(encoding="utf-8"))
        changed = close_files.write_if_changed(invoice_file, text)
        if changed and issued:
            echo(f"invoice: the invoices of {period} changed since the last run (the month "
                 f"is not closed yet): {invoice_file.relative_to(root)} rewritten")
        if changed:  # the book with its invoices, for the reports
            entries, options = load(ledger, "invoice")
        names = ", ".join(f"{i.id} {i.total} {i.currency}" for i in items) or "none"
        echo(f"invoice: {len(items)} invoice(s) in {invoice_file.relative_to(root)}: {names}")
    month = month_of_book(entries, options, period)
    if not any(isinstance(e, data.Custom) and e.type == close_files.INVOICE_RUN
               and str(e.values[0].value) == period for e in entries):
        raise CloseFailed("invoice", f"{invoice_file} is not in the book: expected the line "
                                     f"include \"invoices/*.beancount\" in {ledger.name}")

    # 4. reconcile
    complete, completeness_table = sources.completeness(month)
    _, cogs_table = month_checks.cogs(month)
    checks = [complete, *month_checks.of_book(month)]  # the same checks Fava shows
    checks.insert(0, reconcile.Check(
        "quarantine", True, "accepted: " + ", ".join(f"{n} ({r} rows)" for n, r in quarantine)
        if quarantine else "no row of the month's sources quarantined"))
    # 5. reports (written even when a check fails, so the figures can be read)
    made = [month_checks.table(period, checks), rollforward.table(month),
            *rollforward.foreign_tables(month),  # a rollforward per currency (docs/currency.md)
            profitability.revenue_table(month), profitability.table_of(month),
            credits.credits_table(month), credits.rpo_table(month),
            reports.build("breakage", month), reports.build("modifications", month),
            invoices.invoices_table(month), reports.build("dunning", month),
            completeness_table, cogs_table]
    folder = write_reports(root, period, made, checks)
    for check in checks:
        status = check.status or ("ok" if check.ok else "FAILED")
        echo(f"reconcile: {check.name}: {status}: {check.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        lines = [f"{c.name}: {f}" for c in failed for f in c.failures]
        raise CloseFailed("reconcile", "\n".join(lines) + f"\n(reports in {folder})")
    echo(f"reports: {folder.relative_to(root)}/ ({len(made)} reports, summary.md)")

    # 6. lock
    if already:
        close = closes[period]
        try:
            completed = close_files.write_evidence(
                root, period, str(close.meta.get("fingerprint", "")),
                int(close.meta.get("entries", 0)))
        except (close_files.TagConflict, close_files.GitFailed) as exc:
            raise CloseFailed("lock", str(exc)) from exc
        if completed:
            echo(f"lock: {period} was already closed; its evidence completed: "
                 f"{', '.join(completed)}")
        else:
            echo(f"lock: {period} was already closed; nothing changed")
        return checks
    digests = lock.Digests()  # the month's files, hashed once for the seal and its check
    sealed = close_files.seal(root, period, end, entries, digests)
    try:
        close_files.check_tag(root, period, sealed.fingerprint)
    except close_files.TagConflict as exc:
        raise CloseFailed("lock", str(exc)) from exc
    close_file, _ = close_files.write_seal(root, sealed)
    # What a load of the book would now say of the month, on the book already loaded:
    # the close file read by the book, and the lock's verdict on the month.
    problems = close_files.verify_seal(root, period, entries,
                                       list(options.get("include", ())), digests)
    if problems:
        close_files.unseal(root, period)  # the month stays open
        raise CloseFailed("lock", "\n".join(problems[:20]))
    try:
        close_files.write_evidence(root, period, sealed.fingerprint, sealed.entries)
    except (close_files.TagConflict, close_files.GitFailed) as exc:
        raise CloseFailed("lock", f"{period} is closed, but {exc} (the next command tries "
                                  f"again)") from exc
    close_files.finish(root, period)
    echo(f"lock: {period} closed ({sealed.entries} entries fingerprinted in "
         f"{close_file.relative_to(root)})")
    return checks


def month_of_book(entries: list[data.Directive], options: dict[str, Any],
                  period: str) -> Month:
    """``period`` of the loaded book, as the reports library reads it."""
    try:
        return Ledger(entries, options).month(period)
    except reports.NotComputed as exc:
        raise CloseFailed("check", str(exc)) from exc


def write_reports(root: Path, period: str, made: list[Table],
                  checks: list[reconcile.Check]) -> Path:
    folder = root / "reports" / period
    folder.mkdir(parents=True, exist_ok=True)
    for t in made:
        close_files.write_if_changed(folder / f"{t.name}.csv", tables.to_csv(t))
        close_files.write_if_changed(folder / f"{t.name}.json", tables.to_json(t, period))
    close_files.write_if_changed(folder / "summary.md", summary(period, made, checks))
    return folder


def summary(period: str, made: list[Table], checks: list[reconcile.Check]) -> str:
    by = {t.name: t for t in made}
    ok = all(c.ok for c in checks)
    out = [f"# Month-end close {period}", "",
           f"Status: {'tied out' if ok else 'FAILED'}. Reports: one CSV and one JSON per "
           f"table in this folder ({', '.join(t.name for t in made)}).", "",
           "## Reconciliations", "", tables.to_markdown(by["checks"])]
    sections = [("rollforward", "Contract-liability rollforward",
                 ["customer", "opening", "additions", "revenue", "refunds", "other", "closing",
                  "gl_closing", "subledger_closing", "ties", "revenue_from_opening_50_8b"]),
                ("revenue", "Revenue", None), ("invoices", "Invoices", None),
                ("dunning", "Dunning", None), ("credits", "Credits outstanding", None),
                ("rpo", "Remaining performance obligations", None),
                ("breakage", "Breakage", None), ("modifications", "Modifications", None),
                ("cogs", "COGS tie-out", None), ("completeness", "Usage completeness", None)]
    for name, title, cols in sections:
        t = by[name]
        out += [f"## {title}", "", tables.to_markdown(t, cols)]
        out += [f"- {n}" for n in t.notes]
        if t.notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


@click.command("close")
@click.option("--ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="The month to close, YYYY-MM.")
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="A folder of the month's source files to import first.")
@click.option("--accept-quarantine", is_flag=True,
              help="Close even though rows of the month's sources were quarantined.")
@click.option("--no-wait", is_flag=True,
              help="Exit 1 if another command is writing the book, instead of waiting.")
def close(ledger: Path, period: str, source: Path | None, accept_quarantine: bool,
          no_wait: bool) -> None:
    """Close the month PERIOD: import, check, invoice, reconcile, report and lock."""
    try:
        with open_book(ledger, f"tokenbooks close --period {period}", wait=not no_wait):
            run_close(ledger, period, source, accept_quarantine)
    except CloseFailed as exc:
        click.echo(f"close {period}: FAILED at {exc.step}: {exc.message}", err=True)
        raise SystemExit(1) from exc
    except click.ClickException as exc:  # the book locked, a file not written
        click.echo(f"close {period}: FAILED: {exc.message}", err=True)
        raise SystemExit(1) from exc
    except OSError as exc:
        click.echo(f"close {period}: FAILED: {exc.filename or ledger}: "
                   f"{exc.strerror or exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"close {period}: done, tied out")
