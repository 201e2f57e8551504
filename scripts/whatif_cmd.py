"""``tokenbooks whatif``: the book's history re-priced under proposed contracts.

    tokenbooks whatif --ledger main.beancount --period 2026-Q1 --contracts proposals/q2
    tokenbooks whatif --ledger main.beancount --period 2026-03 --contracts DIR --format csv

A thin adapter over ``tokenbooks.plugins.reports.whatif``: load the book (plugins
included), read the proposal (a folder of contract YAML files that replace the book's
files of the same id), run the engine again in memory for the customers it touches and
print booked, proposed and the difference. Never writes the book. A book with errors or
a proposal with errors gives no report: the errors are listed and the exit status is 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from tokenbooks.plugins.reports import tables, whatif
from tokenbooks.plugins.rules.periods import parse_period

from .report_cmd import FORMATS, load_ledger


@click.command("whatif")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-01, 2026-Q1 or 2026.")
@click.option("--contracts", "folder", required=True,
              type=click.Path(exists=True, file_okay=False),
              help="A folder of proposed contract YAML files (price books, customers).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True)
def whatif_cmd(ledger: str, period: str, folder: str, fmt: str) -> None:
    """What-if: booked vs proposed contracts over a period (revenue, deferred revenue,
    breakage, invoices, margin), in memory."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    book = load_ledger(ledger)
    try:
        proposal = whatif.load_proposal(book, Path(folder))
    except whatif.ProposalError as exc:
        for message in exc.messages:
            click.echo(message, err=True)
        raise click.ClickException(f"{folder}: {len(exc.messages)} error(s) in the "
                                   f"proposal; nothing was computed") from exc
    table = whatif.table(whatif.compare(book, proposal, period))
    if fmt == "json":
        click.echo(tables.to_json(table, period), nl=False)
    elif fmt == "csv":
        click.echo(tables.to_csv(table), nl=False)
    else:
        click.echo(tables.to_text(table))
