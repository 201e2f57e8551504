"""``tokenbooks report``: the books' reports, as a table, CSV or JSON.

    tokenbooks report profitability --ledger main.beancount --period 2026-01
    tokenbooks report profitability --ledger main.beancount --period 2026-Q1 --format csv

A thin adapter: load the book (plugins included), extract plain rows
(``tokenbooks.plugins.report_rows``), compute (``tokenbooks.plugins.rules.profitability``),
render. A book with errors gives no report: the errors are listed and the exit status is 1.
"""

from __future__ import annotations

import csv
import datetime
import json
import sys
from collections.abc import Sequence
from decimal import Decimal

import click
from beancount import loader
from beancount.parser import printer

from tokenbooks.plugins import common
from tokenbooks.plugins.report_rows import profitability_rows, revenue_weights
from tokenbooks.plugins.rules.profitability import (
    CSV_COLUMNS,
    STREAMS,
    Line,
    Report,
    as_dict,
    csv_rows,
    parse_period,
    profitability,
)

FORMATS = ("table", "csv", "json")


@click.group()
def report() -> None:
    """Reports over the books (table, CSV or JSON)."""


def load_book(ledger: str) -> tuple[list, dict]:
    entries, errors, options = loader.load_file(ledger)
    if errors:
        for error in errors[:50]:
            click.echo(printer.format_error(error).rstrip(), err=True)
        more = " (first 50 shown)" if len(errors) > 50 else ""
        raise click.ClickException(f"{ledger}: {len(errors)} error(s) in the book{more}; "
                                   f"fix them first (bean-check {ledger})")
    return entries, options


@report.command("profitability")
@click.option("--ledger", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-01, 2026-Q1 or 2026.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--currency", default=None, help="Default: the book's first operating currency.")
def profitability_cmd(ledger: str, period: str, fmt: str, currency: str | None) -> None:
    """Revenue, inference cost and gross margin per customer, model, feature and action."""
    try:
        start, end = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    entries, options = load_book(ledger)
    currency = currency or (options.get("operating_currency") or ["USD"])[0]
    rows, actions = profitability_rows(entries, start, end)
    others = sorted({row.currency for row in rows} - {currency})
    if others:  # the report would not tie to the balances: say so rather than drop them
        raise click.ClickException(
            f"{ledger}: revenue or cost in {', '.join(others)} in {period}; this report is in "
            f"{currency} (expected one currency; choose with --currency)")
    contracts, _ = common.load(options, {})  # its errors are the book's (checked above)
    weights = revenue_weights(entries, contracts, start, end)
    result = profitability(rows, actions, period, currency, weights)
    if fmt == "json":
        click.echo(json.dumps(as_dict(result), indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(result))
    else:
        click.echo(render_table(result))


# --- Table --------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):  # money to the cent; finer figures (cost/action) as they are
        return f"{value:,.2f}" if value.as_tuple().exponent >= -2 else f"{value:,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: text left-aligned, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (Decimal, int)) or row[i] is None for row in rows)
               for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    out += [fmt(r) for r in cells]
    return "\n".join(out)


def _flag(line: Line) -> str:
    return "NEGATIVE" if line.negative else ""


def _margin_rows(lines: Sequence[Line]) -> list[list[object]]:
    return [[x.name, x.revenue_total, x.cogs, x.non_billable_cogs, x.margin, x.margin_pct,
             x.tokens, x.token_share, x.cost_share, _flag(x)] for x in lines]


MARGIN_HEADERS = ("revenue", "cogs", "non-billable", "margin", "margin %", "tokens",
                  "tokens %", "cost %", "flag")


def render_table(report: Report) -> str:
    last = report.end - datetime.timedelta(days=1)
    parts = [f"Profitability {report.period} ({report.start} to {last}), "
             f"{report.currency}", ""]
    parts += ["Customers (by attributed inference cost)",
              table(("customer", *[s.lower() for s in STREAMS], "revenue", "cogs", "margin",
                     "margin %", "tokens %", "cost %", "flag"),
                    [[x.name, *[x.revenue.get(s, Decimal(0)) for s in STREAMS],
                      x.revenue_total, x.cogs, x.margin, x.margin_pct, x.token_share,
                      x.cost_share, _flag(x)] for x in report.customers]), ""]
    c = report.concentration
    if c.customers:
        def pct(value: Decimal | None) -> str:
            return "n/a" if value is None else f"{value}%"

        parts += [f"Concentration: the top {len(c.top)} of {c.customers} customers (5%: "
                  f"{', '.join(c.top)}) use {pct(c.cost_share)} of inference cost "
                  f"({pct(c.token_share)} of tokens) and pay {pct(c.revenue_share)} "
                  f"of revenue", ""]
    parts += ["By model", table(("model", *MARGIN_HEADERS), _margin_rows(report.models)), ""]
    parts += ["By feature", table(("feature", *MARGIN_HEADERS), _margin_rows(report.features)),
              ""]
    if report.actions:
        parts += ["Cost per action type (usage tied to an action by its workflow)",
                  table(("action", "actions", "cogs", "cost/action", "revenue",
                         "revenue/action", "margin", "flag"),
                        [[x.name, x.actions, x.cogs, x.cost_per_action, x.revenue_total,
                          x.revenue_per_action, x.margin, _flag(x)] for x in report.actions]),
                  ""]
    parts += ["Unattributed inference cost (provider bills beyond attributed usage)",
              table(("provider", "cogs"),
                    [[p, v] for p, v in report.unattributed.items()] or [["(none)", None]]),
              ""]
    total = report.total
    parts += ["Total", table(
        ("revenue", "attributed cogs", "unattributed", "total cogs", "gross margin", "margin %"),
        [[total.revenue_total, total.cogs, report.unattributed_total, report.cogs_total,
          report.gross_margin, report.gross_margin_pct]])]
    return "\n".join(parts)
