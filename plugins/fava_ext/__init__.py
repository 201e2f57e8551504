"""tokenbooks reports inside Fava: a thin adapter over ``fava_ext.pages``.

Enable it in ``main.beancount`` (``tokenbooks init`` and the sample book have the line):

    2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext"
    2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext" "{'months': 12}"

Six pages appear in Fava's sidebar: Contract liabilities, Revenue, Profitability, Credits
and breakage, Modifications, Close status. Their figures come from the functions behind
``tokenbooks report`` (``pages.Pages.compute``), computed once per load of the book in
``after_load_file``, never per request. The pages only read: nothing here writes.

Configuration (optional, a Python dict literal): ``months``, how many of the book's last
months to compute (default: all). A bad configuration is an error in Fava's error list
and on every page; the pages then use the defaults. A book with errors shows no figures,
as ``tokenbooks report`` refuses such a book.
"""

from __future__ import annotations

import ast
import datetime
from decimal import Decimal
from typing import Any

from fava.core.charts import DateAndBalanceWithBudget
from fava.core.inventory import SimpleCounterInventory
from fava.ext import FavaExtensionBase, FavaExtensionError
from fava.internal_api import BarChart
from flask import request

from . import pages as page_data
from .pages import Pages

MODULE = "tokenbooks.plugins.fava_ext"
OPTIONS = {"months": "how many of the book's last months to compute (an integer >= 1)"}


def parse_config(text: str | None) -> tuple[dict[str, Any], list[str]]:
    """The extension's settings from its config string, and what is wrong with it."""
    if text is None or not str(text).strip():
        return {}, []
    try:
        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        return {}, [f"{MODULE}: the configuration {text!r} is not a Python literal "
                    f"({type(exc).__name__}: {exc}); expected a dict such as "
                    f"\"{{'months': 12}}\""]
    if not isinstance(value, dict):
        return {}, [f"{MODULE}: the configuration must be a dict such as "
                    f"\"{{'months': 12}}\", got {type(value).__name__} {value!r}"]
    errors = []
    settings: dict[str, Any] = {}
    for key, item in value.items():
        if key not in OPTIONS:
            known = ", ".join(f"'{k}' ({v})" for k, v in OPTIONS.items())
            errors.append(f"{MODULE}: unknown option {key!r}; expected one of: {known}")
        elif key == "months" and (not isinstance(item, int) or isinstance(item, bool)
                                  or item < 1):
            errors.append(f"{MODULE}: 'months' must be an integer >= 1, got {item!r}")
        else:
            settings[key] = item
    return settings, errors


class _State:
    """What one load of a book gives every page: computed once, shared."""

    def __init__(self, ledger: Any) -> None:
        self.entries = ledger.all_entries
        self.errors: list[str] = []
        self.pages: Pages | None = None
        self.settings: dict[str, Any] = {}
        entry = None
        for custom in ledger.all_entries_by_type.Custom:
            if (custom.type == "fava-extension" and custom.values
                    and str(custom.values[0].value) == MODULE):
                entry = custom
                break
        config = entry.values[1].value if entry is not None and len(entry.values) > 1 else None
        self.settings, self.errors = parse_config(config)
        self.config_errors = list(self.errors)
        self.entry = entry
        if ledger.load_errors:
            self.errors.append(f"The book has {len(ledger.load_errors)} error(s) (see "
                               f"Errors): tokenbooks reports need a book without errors, "
                               f"as `tokenbooks report` does.")
            return
        try:
            self.pages = Pages.compute(ledger.all_entries, ledger.options,
                                       self.settings.get("months"))
        except Exception as exc:  # noqa: BLE001 - shown in Fava, never a crash
            self.errors.append(f"{MODULE}: the reports could not be computed: "
                               f"{type(exc).__name__}: {exc}")


_STATES: dict[int, _State] = {}


def state_of(ledger: Any) -> _State:
    """The state of the ledger's current load, computed by the first page to ask."""
    state = _STATES.get(id(ledger))
    if state is None or state.entries is not ledger.all_entries:
        state = _State(ledger)
        _STATES[id(ledger)] = state
        for message in state.errors:
            ledger.extensions.errors.append(FavaExtensionError(
                state.entry.meta if state.entry is not None else None, message, state.entry))
    return state


def _bars(label: str, series: list[tuple[datetime.date, dict[str, Decimal]]],
          currency: str) -> BarChart:
    data = []
    for day, parts in series:
        total = sum(parts.values(), Decimal(0))
        data.append(DateAndBalanceWithBudget(
            day, SimpleCounterInventory({currency: total}),
            {name: SimpleCounterInventory({currency: value})
             for name, value in sorted(parts.items()) if value},
            {}))
    return BarChart(label, data)


class _Page(FavaExtensionBase):
    """A tokenbooks page: reads the shared state; the template renders it."""

    template_name = ""

    def __init__(self, ledger: Any, config: str | None = None) -> None:
        # The base class would literal_eval the config and raise on a bad one: the
        # config is read (and its errors reported) in after_load_file instead.
        super().__init__(ledger, None)
        self.raw_config = config

    def after_load_file(self) -> None:
        state_of(self.ledger)

    @property
    def state(self) -> _State:
        return state_of(self.ledger)

    @property
    def pages(self) -> Pages | None:
        return self.state.pages

    @property
    def errors(self) -> list[str]:
        return self.state.errors

    def month(self) -> page_data.Month | None:
        return self.pages.month(_arg("period")) if self.pages else None

    # helpers for the templates
    cell = staticmethod(page_data.cell)
    sections = staticmethod(page_data.sections)

    def label(self, column: str) -> str:
        return page_data.label(column)

    def is_number(self, value: object) -> bool:
        return isinstance(value, (Decimal, int)) and not isinstance(value, bool)

    def numeric(self, rows: list[dict[str, object]], column: str) -> bool:
        """Whether a column holds figures (right-aligned): some row has a number there."""
        return any(self.is_number(row.get(column)) for row in rows)


def _arg(name: str) -> str | None:
    return request.args.get(name)


class ContractLiabilities(_Page):
    report_title = "Contract liabilities"

    def columns(self) -> list[str]:
        month = self.month()
        return page_data.rollforward_columns(month.rollforward) if month else []

    def link(self, customer: str, column: str) -> Any:
        month = self.month()
        return page_data.journal_filter(month, customer, column) if month else None

    def account(self, customer: str) -> str:
        return page_data.account_of(customer)

    def time_range(self, column: str) -> str | None:
        """The time filter of an opening or closing balance's account journal."""
        month, pages = self.month(), self.pages
        if month is None or pages is None or pages.first is None:
            return None
        if column == "opening":
            if month.period == pages.first:
                return None
            before = month.start - datetime.timedelta(days=1)
            return f"{pages.first} - {before:%Y-%m}"
        if column in ("closing", "gl_closing"):
            return f"{pages.first} - {month.period}"
        return None

    def charts(self) -> list[BarChart]:
        pages = self.pages
        if pages is None:
            return []
        return [_bars("Deferred revenue at month end, by customer",
                      page_data.liability_series(pages), pages.currency)]


class Revenue(_Page):
    report_title = "Revenue"

    def matrix(self, section: str) -> tuple[list[str], list[list[object]]]:
        return page_data.revenue_matrix(self.pages, section) if self.pages else ([], [])

    def charts(self) -> list[BarChart]:
        pages = self.pages
        if pages is None:
            return []
        return [_bars(f"Revenue by {section}", page_data.revenue_series(pages, section),
                      pages.currency) for section in ("stream", "customer", "model")]


class Profitability(_Page):
    report_title = "Profitability"

    def charts(self) -> list[BarChart]:
        pages = self.pages
        if pages is None:
            return []
        return [_bars("Gross margin by customer (revenue - attributed inference cost)",
                      page_data.margin_series(pages), pages.currency)]


class CreditsAndBreakage(_Page):
    report_title = "Credits and breakage"

    def expiring(self) -> list[dict[str, object]]:
        month = self.month()
        return page_data.expiring(month) if month else []


class Modifications(_Page):
    report_title = "Modifications"

    def trail(self) -> Any:
        return page_data.audit_trail(self.pages) if self.pages else None

    def trail_columns(self, trail: Any) -> list[str]:
        return ["section", *page_data.used_columns(trail)] if trail.rows else trail.columns


class CloseStatus(_Page):
    report_title = "Close status"


del _Page  # Fava instantiates every extension class it finds in this module: pages only
