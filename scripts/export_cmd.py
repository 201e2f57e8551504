"""``tokenbooks export``: the books for other systems.

    tokenbooks export journal --ledger main.beancount --period 2026-01 --format netsuite \\
        --mapping erp-mapping.yaml --out journal-2026-01.csv

``journal`` writes the period's journal summarized by month, account and customer, in
the journal import layout of NetSuite, QuickBooks Online or Xero, or as a plain CSV
(``--format csv``), with a stable external id per journal and per line
(docs/erp-export.md). A thin adapter over ``tokenbooks.plugins.reports.journal_export``:
load the book, read the mapping, build, render, write.

The mapping is ``--mapping``, else ``erp-mapping.yaml`` beside the ledger; the plain CSV
needs none (the Beancount account names are its accounts). With ``--out`` the file is
written atomically (``writing``), else the CSV goes to standard output. An account of
the period that the mapping does not map, a book with errors, a journal the layout
cannot hold: the message names it, the exit status is 1 and no file is written.
Readers need no lock: the export only reads the book.
"""

from __future__ import annotations

from pathlib import Path

import click

from tokenbooks.plugins.reports import journal_export
from tokenbooks.plugins.rules.periods import parse_period

from . import writing
from .report_cmd import load_ledger

DEFAULT_MAPPING = "erp-mapping.yaml"


@click.group()
def export() -> None:
    """Exports of the books for other systems (the ERP's journal import)."""


def mapping_for(ledger: str, mapping: str | None, fmt: str) -> journal_export.Mapping:
    """The mapping asked for, else the book's ``erp-mapping.yaml``, else (the plain CSV
    only) the book's own account names."""
    path = Path(mapping) if mapping else Path(ledger).parent / DEFAULT_MAPPING
    if mapping or path.is_file():
        try:
            return journal_export.read_mapping(path)
        except journal_export.ExportError as exc:
            raise click.ClickException(str(exc)) from exc
    if fmt == "csv":
        return journal_export.identity_mapping()
    raise click.ClickException(
        f"--format {fmt} needs an account mapping: --mapping FILE, or {path} "
        f"(docs/erp-export.md shows one)")


@export.command("journal")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-01, 2026-Q1 or 2026: one journal a month.")
@click.option("--format", "fmt", required=True, type=click.Choice(journal_export.FORMATS),
              help="The ERP's import layout, or csv (every field).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), default=None,
              help=f"Beancount accounts and customers to the ERP's (YAML); default "
                   f"{DEFAULT_MAPPING} beside the ledger.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="The file to write (atomically); default standard output.")
def journal(ledger: str, period: str, fmt: str, mapping: str | None, out: str | None
            ) -> None:
    """The period's journal, summarized by month, account and customer, for an ERP."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    chosen = mapping_for(ledger, mapping, fmt)
    book = load_ledger(ledger, require_revenue=False)  # the postings alone make it
    try:
        result = journal_export.build(book, period, chosen)
        text = journal_export.render(result, fmt)
    except journal_export.ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    for month in result.open_periods:
        click.echo(f"tokenbooks: {month} is not closed: its journal may still change, and "
                   f"an export after a change carries a new version (new ids)", err=True)
    if out is None:
        click.echo(text, nl=False)
    else:
        writing.write_text_atomic(Path(out), text)
    ids = ", ".join(j.journal_id for j in result.journals) or "none"
    click.echo(f"tokenbooks: {period}: {len(result.journals)} journal(s), {result.lines} "
               f"line(s) ({ids}){' to ' + out if out else ''}", err=True)
