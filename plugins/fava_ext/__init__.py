"""tokenbooks reports inside Fava: a thin adapter over ``fava_ext.pages``.

Enable it in ``main.beancount`` (``tokenbooks init`` and the sample book have the line):

    2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext"
    2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext" "{'months': 12}"

Eight pages appear in Fava's sidebar: Contract liabilities, Revenue, Profitability,
Credits and breakage, Modifications, Close status, and the pricing lab's What-if and
Forecast (``fava_ext.pricing_lab``). Their figures are the reports library's
(``tokenbooks.plugins.reports``) over what the load of the book computed: one ``Pages``
per load, owned by the hidden ``TokenbooksState`` extension (the pages share it), each
month's figures computed when first shown and kept until the book is loaded again. The
pages honour Fava's time filter (the months shown) and its filter bar (the customers of
the entries it selects). The pages only read: nothing here writes.

Configuration (optional, a Python dict literal): ``months``, how many of the book's last
months to show (default: all); ``proposals``, the folder of what-if proposals (default
``proposals`` beside the book). A bad configuration is an error in Fava's error list and
on every page; the pages then use the defaults. A book with errors shows no figures,
as ``tokenbooks report`` refuses such a book.
"""

from __future__ import annotations

import ast
import datetime
from decimal import Decimal
from typing import Any

from beancount.core import data
from fava.context import g
from fava.core.charts import DateAndBalanceWithBudget
from fava.core.inventory import SimpleCounterInventory
from fava.ext import FavaExtensionBase, FavaExtensionError
from fava.internal_api import BarChart
from flask import request
from markupsafe import Markup

from tokenbooks.plugins.reports import NotComputed
from tokenbooks.plugins.rules import accounts

from . import pages as page_data
from . import pricing_lab
from .pages import MonthPage, Pages, Scope

MODULE = "tokenbooks.plugins.fava_ext"
OPTIONS = {"months": "how many of the book's last months to compute (an integer >= 1)",
           "proposals": "the folder of what-if proposals, relative to the book (a string; "
                        "default 'proposals')"}
STATE = "TokenbooksState"
CUSTOMER_ROOTS = (accounts.RECEIVABLE, accounts.UNBILLED, accounts.CONTRACT_ASSETS,
                  accounts.DEFERRED_REVENUE)


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
        elif key == "proposals" and not isinstance(item, str):
            errors.append(f"{MODULE}: 'proposals' must be a folder name, got {item!r}")
        else:
            settings[key] = item
    return settings, errors


class State:
    """What one load of a book gives every page: the pages' data, and what is wrong."""

    def __init__(self, ledger: Any) -> None:
        self.entries = ledger.all_entries
        self.errors: list[str] = []
        self.pages: Pages | None = None
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
            self.pages = Pages(ledger.all_entries, ledger.options, self.settings.get("months"))
        except NotComputed as exc:
            self.errors.append(f"{MODULE}: {exc}")
        except Exception as exc:  # noqa: BLE001 - shown in Fava, never a crash
            self.errors.append(f"{MODULE}: the reports could not be computed: "
                               f"{type(exc).__name__}: {exc}")

    def report(self, ledger: Any) -> None:
        """List what is wrong in Fava's errors."""
        for message in self.errors:
            ledger.extensions.errors.append(FavaExtensionError(
                self.entry.meta if self.entry is not None else None, message, self.entry))


class TokenbooksState(FavaExtensionBase):
    """The pages' shared state, one per load of the book (no page of its own)."""

    def __init__(self, ledger: Any, config: str | None = None) -> None:
        super().__init__(ledger, None)
        self.state: State | None = None

    def after_load_file(self) -> None:
        self.current()

    def current(self) -> State:
        """The state of the ledger's current load, made by the first to ask."""
        if self.state is None or self.state.entries is not self.ledger.all_entries:
            self.state = State(self.ledger)
            self.state.report(self.ledger)
        return self.state


def scope() -> Scope:
    """What Fava's time filter and filter bar of the current request show."""
    filtered = g.filtered
    begin = end = None
    if filtered.date_range is not None:
        begin, end = filtered.date_range.begin, filtered.date_range.end
    customers = None
    if request.args.get("filter") or request.args.get("account"):
        found: set[str] = set()
        for entry in filtered.entries:
            customer = (entry.meta or {}).get("customer")
            if isinstance(customer, str):
                found.add(customer)
            if isinstance(entry, data.Transaction):
                for posting in entry.postings:
                    for root in CUSTOMER_ROOTS:
                        if accounts.sub_component(posting.account, root) is not None:
                            found.add(accounts.owner(posting.account, root,
                                                     _ids(filtered.ledger)))
        customers = frozenset(found)
    return Scope(begin, end, customers)


def _ids(ledger: Any) -> dict[str, str]:
    state = ledger.extensions.get_extension(STATE)
    pages = state.current().pages if state is not None else None
    return pages.ledger.ids if pages is not None else {}


def _bars(label: str, series: list[tuple[datetime.date, dict[str, Decimal]]],
          currency: str) -> BarChart:
    rows = []
    for day, parts in series:
        total = sum(parts.values(), Decimal(0))
        rows.append(DateAndBalanceWithBudget(
            day, SimpleCounterInventory({currency: total}),
            {name: SimpleCounterInventory({currency: value})
             for name, value in sorted(parts.items()) if value},
            {}))
    return BarChart(label, rows)


class _Page(FavaExtensionBase):
    """A tokenbooks page: reads the shared state; the template renders it."""

    template_name = ""

    def __init__(self, ledger: Any, config: str | None = None) -> None:
        # The base class would literal_eval the config and raise on a bad one: the
        # config is read (and its errors reported) by the shared state instead.
        super().__init__(ledger, None)
        self.raw_config = config

    @property
    def state(self) -> State:
        holder = self.ledger.extensions.get_extension(STATE)
        assert isinstance(holder, TokenbooksState)  # Fava made it with the pages
        return holder.current()

    @property
    def pages(self) -> Pages | None:
        pages = self.state.pages
        if pages is None:
            return None
        cached: tuple[Pages, Pages] | None = getattr(g, "_tokenbooks_pages", None)
        if cached is not None and cached[0] is pages:
            return cached[1]
        view = pages.scoped(scope())
        setattr(g, "_tokenbooks_pages", (pages, view))  # noqa: B010 - for this request
        return view

    @property
    def errors(self) -> list[str]:
        return self.state.errors

    def month(self) -> MonthPage | None:
        pages = self.pages
        return pages.month(_arg("period")) if pages else None

    def filtered_note(self) -> str:
        """What the filter bar narrowed the page to, or ''."""
        pages = self.pages
        if pages is None or pages.scope.customers is None:
            return ""
        shown = ", ".join(sorted(pages.scope.customers)) or "none"
        return f"Filtered: customers {shown} (totals are of these customers)."

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


class WhatIf(_Page):
    """A proposal of the book's ``proposals/`` folder against the book (``pricing_lab``)."""

    report_title = "What-if"

    def proposals(self) -> list[str]:
        pages = self.pages
        return pricing_lab.proposals(pages, self.state.settings.get("proposals")) if pages \
            else []

    def choices(self) -> list[str]:
        pages = self.pages
        return [*pages.periods, *pricing_lab.quarters(pages.periods)] if pages else []

    def view(self) -> pricing_lab.WhatIfView | None:
        pages = self.pages
        if pages is None:
            return None
        return pricing_lab.whatif_view(pages, self.state.settings.get("proposals"),
                                       _arg("proposal"), _arg("period"))

    def chart(self, view: pricing_lab.WhatIfView, figure: str) -> Markup:
        return Markup(pricing_lab.whatif_chart(view, figure))  # noqa: S704 - our own SVG


class Forecast(_Page):
    """The forecast of a month and each customer's credit burn-down (``pricing_lab``)."""

    report_title = "Forecast"

    def result(self) -> Any:
        pages = self.pages
        return pricing_lab.forecast_of(pages, _arg("period")) if pages else None

    def table(self, result: Any) -> Any:
        return pricing_lab.forecast.table(result)

    def burn_downs(self, result: Any) -> list[tuple[str, Markup]]:
        pages = self.pages
        if pages is None:
            return []
        return [(customer, Markup(pricing_lab.line_svg(customer, points, first)))  # noqa: S704
                for customer, points, first in pricing_lab.burn_down(pages, result)]


del _Page  # Fava instantiates every extension class it finds in this module: pages only
