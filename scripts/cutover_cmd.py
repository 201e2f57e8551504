"""``tokenbooks cutover --ledger FILE OPENING.yaml``: open a book with the balances of the
records it replaces (``rules.cutover``, docs/cutover.md).

    tokenbooks init books --start 2026-10            # accounts open on the cut-over day
    cp contracts/customers/*.yaml books/contracts/customers/
    tokenbooks cutover --ledger books/main.beancount opening.yaml
    tokenbooks close --ledger books/main.beancount --period 2026-10

Checks the file against the contracts (every error together, with file, line and
field), then writes the opening entries to ``imports/<YYYY-MM>.cutover.<sha8>.beancount``
and archives the file under ``documents/Equity/Opening-Balances/`` (the evidence an
auditor traces the opening balances to). The book must hold nothing dated before the
cut-over day and no closed month: the cut-over month is its first close. Running it again
with the same file changes nothing; with another file (before the first close) it
replaces the opening entries. Under the book's lock, every file written atomically; the
book is loaded after the write and a book with errors is rolled back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
from beancount.core import data
from beancount.parser import printer

from tokenbooks.plugins import lock
from tokenbooks.plugins.config import PluginConfig, contracts_folder
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.cutover import opening_entries
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.cutover import Opening, read_opening

from . import loading, writing
from .import_cmd import open_book

DOCUMENTS = Path("documents") / "Equity" / "Opening-Balances"


class CutoverFailed(click.ClickException):
    pass


def cutover_file(book: Path, opening: Opening, sha256: str) -> Path:
    return book / "imports" / f"{opening.period}.cutover.{sha256[:8]}.beancount"


def render(opening: Opening, entries: list[data.Directive], source: str, sha256: str) -> str:
    head = (f"; Opening balances at the cut-over {opening.date}, written by `tokenbooks "
            f"cutover` from {source}\n; (sha256 {sha256}): do not edit; run it again with "
            f"the corrected file before the first close.\n\n")
    return head + "\n".join(format_entry(e) for e in entries)


def run_cutover(ledger: Path, source: Path) -> Path:
    """Write the cut-over of ``source`` into the book of ``ledger``; returns the file."""
    book = ledger.resolve().parent
    raw = source.read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    entries, errors, options = loading.load(ledger)
    load = Load.of(options)
    contracts, contract_errors = ((load.contracts, load.contract_errors) if load is not None
                                  else load_contracts(contracts_folder(options,
                                                                       PluginConfig())))
    if contract_errors:
        raise CutoverFailed("the contracts have errors; fix them first:\n" + "\n".join(
            str(e) for e in contract_errors[:20]))
    currency = (options.get("operating_currency") or ["USD"])[0]
    opening, problems = read_opening(source, contracts, currency, source.name)
    if opening is None:
        raise CutoverFailed(f"{source}: {len(problems)} problem(s):\n" + "\n".join(
            str(p) for p in problems))
    ours = {p.resolve() for p in (book / "imports").glob("*.cutover.*.beancount")}
    target = cutover_file(book, opening, sha256)
    closed = lock.closed_periods(entries)
    if closed and target.resolve() not in ours:
        raise CutoverFailed(f"{', '.join(sorted(closed))} closed: a cut-over comes before "
                            f"the book's first close")
    for entry in entries:
        filename = str((entry.meta or {}).get("filename", "<"))
        if filename.startswith("<") or Path(filename).resolve() in ours:
            continue
        if isinstance(entry, (data.Transaction, data.Custom, data.Balance)) and (
                entry.date < opening.date) and not (
                isinstance(entry, data.Custom) and entry.type.startswith("fava-")):
            raise CutoverFailed(f"{filename}:{entry.meta.get('lineno')}: the book holds "
                                f"entries dated before the cut-over day {opening.date}; "
                                f"expected a book that starts at the cut-over")
    opened = [e for e in entries if isinstance(e, data.Open)
              and e.account == accounts.OPENING_BALANCES]
    if not opened or opened[0].date > opening.date:
        raise CutoverFailed(f"{accounts.OPENING_BALANCES} is not open on {opening.date}; "
                            f"expected it opened on or before the cut-over day (tokenbooks "
                            f"init --start {opening.period} opens it)")
    text = render(opening, opening_entries(opening, contracts), source.name, sha256)
    before = {p: p.read_bytes() for p in ours}
    writing.write_text_atomic(target, text)
    for old in ours - {target.resolve()}:
        writing.remove(old)
    archived = book / DOCUMENTS / f"{opening.date.isoformat()}.{source.name}"
    _, errors, _ = loading.load(ledger)
    if errors:
        writing.remove(target)
        for path, content in before.items():  # the opening entries as they were
            writing.write_bytes_atomic(path, content)
        shown = "\n".join(printer.format_error(e).rstrip() for e in errors[:20])
        raise CutoverFailed(f"the book would have {len(errors)} error(s) with these "
                            f"opening balances (nothing written):\n{shown}")
    if not archived.exists() or archived.read_bytes() != raw:
        writing.copy_atomic(source, archived, sha256)
    return target


@click.command("cutover")
@click.option("--ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--no-wait", is_flag=True,
              help="Exit 1 if another command is writing the book, instead of waiting.")
@click.argument("opening", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def cutover(ledger: Path, opening: Path, no_wait: bool) -> None:
    """Open the book with the balances of OPENING (YAML: lots, receivables, unbilled,
    commitments at the cut-over day; docs/cutover.md)."""
    try:
        with open_book(ledger, "tokenbooks cutover", wait=not no_wait):
            written = run_cutover(ledger, opening)
    except CutoverFailed as exc:
        click.echo(f"cutover: FAILED: {exc.message}", err=True)
        raise SystemExit(1) from exc
    except click.ClickException as exc:
        click.echo(f"cutover: FAILED: {exc.message}", err=True)
        raise SystemExit(1) from exc
    except OSError as exc:
        click.echo(f"cutover: FAILED: {exc.filename or opening}: {exc.strerror or exc}",
                   err=True)
        raise SystemExit(1) from exc
    click.echo(f"cutover: opening balances in {written.relative_to(ledger.resolve().parent)}")
