"""``tokenbooks report``: the books' reports, as a table, CSV or JSON.

    tokenbooks report profitability --ledger main.beancount --period 2026-Q1 --format csv
    tokenbooks report rollforward --ledger main.beancount --period 2026-01
    tokenbooks report dunning --ledger main.beancount --period 2026-03 --format json
    tokenbooks report forecast --ledger main.beancount --period 2026-03 --as-of 2026-03-15

A thin adapter over the reports library (``tokenbooks.plugins.reports``): load the book
(plugins included, ``loading.load``), build the report, render it. The month-end reports
are the tables ``tokenbooks close`` writes to ``reports/YYYY-MM/``, for any month,
closed or not; ``checks`` runs the close's reconciliations, completeness against the
archived sources included. A book with errors gives no report: the errors are listed and
the exit status is 1.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from beancount.core import data
from beancount.parser import printer

from tokenbooks.plugins import reports
from tokenbooks.plugins.reports import (
    Ledger,
    Month,
    Table,
    checks,
    disclosures,
    forecast,
    profitability,
    tables,
)
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules.periods import month_bounds, parse_period

from . import loading, sources

FORMATS = ("table", "csv", "json")


@click.group()
def report() -> None:
    """Reports over the books (table, CSV or JSON)."""


def load_book(ledger: str) -> tuple[list[data.Directive], dict[str, Any]]:
    """The loaded book; a ClickException listing its errors if it has any."""
    entries, errors, options = loading.load(Path(ledger))
    if errors:
        for error in errors[:50]:
            click.echo(printer.format_error(error).rstrip(), err=True)
        more = " (first 50 shown)" if len(errors) > 50 else ""
        raise click.ClickException(f"{ledger}: {len(errors)} error(s) in the book{more}; "
                                   f"fix them first (bean-check {ledger})")
    return entries, options


def load_ledger(ledger: str, require_revenue: bool = True) -> Ledger:
    entries, options = load_book(ledger)
    try:
        return Ledger(entries, options, require_revenue)
    except reports.NotComputed as exc:
        raise click.ClickException(f"{ledger}: {exc}") from exc


@report.command("profitability")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-01, 2026-Q1 or 2026.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--currency", default=None, help="Default: the book's first operating currency.")
def profitability_cmd(ledger: str, period: str, fmt: str, currency: str | None) -> None:
    """Revenue, inference cost and gross margin per customer, model, feature and action."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    book = load_ledger(ledger, require_revenue=False)  # postings alone make the report
    try:
        result = profitability.report(book, period, currency)
    except profitability.OtherCurrency as exc:
        raise click.ClickException(f"{ledger}: {exc}") from exc
    if fmt == "json":
        click.echo(json.dumps(prof.as_dict(result), indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(tables.csv_row(prof.CSV_COLUMNS))
        writer.writerows(tables.csv_row([row.get(k) for k in prof.CSV_COLUMNS])
                         for row in prof.csv_rows(result))
    else:
        click.echo(profitability.text(result))


def month_checks(month: Month) -> Table:
    """The close's reconciliations of the month, completeness at the sources included."""
    complete, _ = sources.completeness(month)
    return checks.table(month.period, [complete, *checks.of_book(month)])


def builders() -> dict[str, tuple[Callable[[Month], Table], str]]:
    """The month-end reports of the library, with ``checks`` run as the close runs it."""
    out = dict(reports.REPORTS)
    out["checks"] = (month_checks, out["checks"][1])
    return out


def make_command(name: str, build: Callable[[Month], Table], help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="The book's main.beancount.")
    @click.option("--period", required=True, help="The month, YYYY-MM.")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                  show_default=True)
    def command(ledger: str, period: str, fmt: str) -> None:
        try:
            month_bounds(period)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from exc
        table = build(load_ledger(ledger).month(period))
        if fmt == "json":
            click.echo(tables.to_json(table, period), nl=False)
        elif fmt == "csv":
            click.echo(tables.to_csv(table), nl=False)
        else:
            click.echo(tables.to_text(table))

    return command


for _name, (_build, _text) in builders().items():
    report.add_command(make_command(_name, _build, _text))


@report.command("forecast")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="The open month, YYYY-MM.")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Forecast as of this day of the month (default: the book's last day).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def forecast_cmd(ledger: str, period: str, as_of: Any, fmt: str) -> None:
    """Projection of an open month: usage, invoices against the trailing average, credit
    run-out dates, expected breakage of the next twelve months."""
    try:
        month_bounds(period)
        result = forecast.forecast(load_ledger(ledger), period,
                                   as_of.date() if as_of is not None else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    table = forecast.table(result)
    if fmt == "json":
        click.echo(tables.to_json(table, period), nl=False)
    elif fmt == "csv":
        click.echo(tables.to_csv(table), nl=False)
    else:
        click.echo(tables.to_text(table))


@report.command("disclosures")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-03, 2026-Q1 or 2026.")
@click.option("--format", "fmt", type=click.Choice((*FORMATS, "markdown")), default="table",
              show_default=True)
@click.option("--currency", default=None,
              help="The note of the contracts in this currency (docs/currency.md). "
                   "Default: the book's first operating currency.")
def disclosures_cmd(ledger: str, period: str, fmt: str, currency: str | None) -> None:
    """The revenue note of a period (ASC 606-10-50): revenue disaggregated, contract
    balances, remaining performance obligations and the judgments, tied to the ledger
    (docs/disclosures.md). Exit status 1 when a tie-out fails."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    book = load_ledger(ledger)
    try:
        note = disclosures.disclosures(book, period, currency)
    except profitability.OtherCurrency as exc:
        raise click.ClickException(f"{ledger}: {exc}") from exc
    render = {"json": disclosures.to_json, "csv": disclosures.to_csv,
              "markdown": disclosures.to_markdown}.get(fmt, disclosures.to_text)
    click.echo(render(note), nl=False)
    failed = disclosures.failures(note)
    if failed:
        raise click.ClickException("the note does not tie to the ledger: "
                                   + "; ".join(failed))
