"""The reports and checks of a loaded book: a library, read by the close, the
``tokenbooks report`` command and the Fava pages alike (no click, no importers, no Fava).

    from tokenbooks.plugins import reports
    ledger = reports.Ledger(entries, options)        # a book loaded with the plugins
    table = reports.build("rollforward", ledger.month("2026-01"))
    print(reports.tables.to_text(table))

Each month-end report is a function of a ``Month`` that gives a ``tables.Table``
(rendered as text, CSV, JSON, Markdown or a Fava page); ``REPORTS`` lists them by name.
The figures are computed at most once per load: a ``Month`` keeps what its reports
computed, a ``Ledger`` its months.
"""

from __future__ import annotations

from collections.abc import Callable

from . import (
    breakage,
    checks,
    credits,
    dunning,
    invoices,
    modifications,
    profitability,
    rollforward,
    tables,
)
from .ledger import Ledger, Month, NotComputed
from .tables import Table

__all__ = ["REPORTS", "Ledger", "Month", "NotComputed", "Table", "build", "tables"]

COMPLETENESS = "usage completeness"
AT_CLOSE = ("runs at the close: it counts the events of the archived sources and of the "
            "event-id indexes against the usage entries")


def _checks(month: Month) -> Table:
    """The checks a loaded book can run by itself (completeness: at the close)."""
    return checks.table(month.period, [checks.not_run(COMPLETENESS, AT_CLOSE),
                                       *checks.of_book(month)], skipped=[COMPLETENESS])


REPORTS: dict[str, tuple[Callable[[Month], Table], str]] = {
    "rollforward": (rollforward.table, "Contract-liability rollforward per customer, tied "
                                       "to the ledger and the lots, with the 50-8(b) memo."),
    "revenue": (profitability.revenue_table, "Revenue by stream, customer and model."),
    "credits": (credits.credits_table, "Credits outstanding per lot, expiring within "
                                       "30/60/90 days."),
    "rpo": (credits.rpo_table, "Remaining performance obligations per customer."),
    "breakage": (breakage.breakage_table, "Breakage revenue of the month per lot."),
    "modifications": (modifications.modifications_table, "Contract modifications."),
    "invoices": (invoices.invoices_table, "The month's invoices, line by line."),
    "dunning": (dunning.dunning_table, "Receivables by age; invoices that jumped against "
                                       "the trailing 3-month average."),
    "checks": (_checks, "The close's reconciliations for the month."),
}


def build(name: str, month: Month) -> Table:
    """The report ``name`` of ``month`` (KeyError for a name not in ``REPORTS``)."""
    return REPORTS[name][0](month)
