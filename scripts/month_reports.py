"""``tokenbooks report <name> --ledger FILE --period YYYY-MM``: the month-end reports.

    tokenbooks report rollforward --ledger main.beancount --period 2026-01
    tokenbooks report dunning --ledger main.beancount --period 2026-03 --format csv

The same tables ``tokenbooks close`` writes to ``reports/YYYY-MM/`` (see
``close_reports``), for any month, closed or not, as a table, CSV or JSON. Before a month
is invoiced the dunning report compares each customer's accrued unbilled amount with
its trailing average, so collections can warn before the invoice lands.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from . import close_checks, close_reports, tables
from .close_reports import Book
from .report_cmd import FORMATS, load_book
from .tables import Table


def _rollforward(book: Book) -> Table:
    return close_reports.rollforward_table(close_checks.rollforward_report(book))


def _rpo(book: Book) -> Table:
    return close_reports.rpo_table(book, close_checks.rollforward_report(book))


def _checks(book: Book) -> Table:
    roll = close_checks.rollforward_report(book)
    checks = [close_checks.completeness(book)[0], close_checks.unbilled_check(book),
              close_checks.invoices_check(book), close_checks.cogs(book)[0],
              close_checks.rollforward_check(roll)]
    return close_checks.checks_table(book.period, checks)


REPORTS: dict[str, tuple[Callable[[Book], Table], str]] = {
    "rollforward": (_rollforward, "Contract-liability rollforward per customer, tied to the "
                                  "ledger and the lots, with the 50-8(b) memo."),
    "revenue": (close_reports.revenue_table, "Revenue by stream, customer and model."),
    "credits": (close_reports.credits_table, "Credits outstanding per lot, expiring within "
                                             "30/60/90 days."),
    "rpo": (_rpo, "Remaining performance obligations per customer."),
    "breakage": (close_reports.breakage_table, "Breakage revenue of the month per lot."),
    "modifications": (close_reports.modifications_table, "Contract modifications."),
    "invoices": (close_reports.invoices_table, "The month's invoices, line by line."),
    "dunning": (close_reports.dunning_table, "Receivables by age; invoices that jumped "
                                             "against the trailing 3-month average."),
    "checks": (_checks, "The close's reconciliations for the month."),
}


def make_command(name: str, build: Callable[[Book], Table], help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="The book's main.beancount.")
    @click.option("--period", required=True, help="The month, YYYY-MM.")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                  show_default=True)
    def command(ledger: str, period: str, fmt: str) -> None:
        try:
            close_reports.month_bounds(period)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from exc
        entries, options = load_book(ledger)
        table = build(Book(entries, options, period))
        if fmt == "json":
            click.echo(tables.to_json(table, period), nl=False)
        elif fmt == "csv":
            click.echo(tables.to_csv(table), nl=False)
        else:
            click.echo(tables.to_text(table))

    return command


COMMANDS = [make_command(name, build, text) for name, (build, text) in REPORTS.items()]
