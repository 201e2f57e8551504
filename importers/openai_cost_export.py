"""OpenAI dashboard cost export (Usage page, Costs, Export; CSV or TSV) -> provider bills.

The Costs API's fields flattened, one row per day bucket (and line item and project,
when grouped by them):

    start_time,end_time,start_time_iso,end_time_iso,amount_value,amount_currency,line_item,project_id,organization_id,organization_name
    1761955200,1762041600,2025-11-01T00:00:00+00:00,2025-11-02T00:00:00+00:00,2.5965000000000000,usd,,,org-Qw3E,Acme AI

    2025-11-01 custom "provider-bill" "openai" "all line items" 2.5965 USD
      bill_key: "openai|2025-11-01|*|*"

Each row becomes the line the costs API importer (``openai_costs``) makes of the same
result, with the same natural key (provider, bucket day, ``project_id``, ``line_item``;
empty means "all", ``*``): the export and the API page of a day dedupe against each
other when grouped alike. ``amount_value`` is read as written (a Decimal, never a
float); rows without an amount (days without cost) are skipped. An unreadable amount,
currency or time is an error naming the file, line and column, and nothing is imported.

    importer = Importer()
    entries = importer.extract("openai-costs-2025-11.csv", existing=[])
"""

from __future__ import annotations

import csv
import datetime
import os
from decimal import Decimal, InvalidOperation
from typing import Any

from beancount.core import data

from tokenbooks.plugins.rules.bills import BillLine

from .foreign import delimiter, sample
from .openai_costs import RESULT, OpenAICostsImporter
from .provider_costs import ReportError, book_lines

REQUIRED = ("start_time", "amount_value", "amount_currency")


class OpenAICostExportImporter(OpenAICostsImporter):
    """The OpenAI dashboard cost export (CSV/TSV) -> provider bill lines."""

    format_name = "OpenAI dashboard cost export"
    required = REQUIRED

    def identify(self, filepath: str) -> bool:
        found = sample(filepath)
        return (found is not None and found.shape == "csv"
                and set(REQUIRED) <= set(found.header) and "input_tokens" not in found.header)

    def rows(self, filepath: str) -> list[tuple[BillLine, dict[str, object]]]:
        """The export's lines (ReportError naming file, line and column if one is bad)."""
        try:
            with open(filepath, encoding="utf-8-sig", newline="") as handle:
                first = handle.readline()
                handle.seek(0)
                reader = csv.DictReader(handle, delimiter=delimiter(first))
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ReportError(f"{filepath}: cannot be read as CSV ({exc})") from exc
        out = []
        for number, row in enumerate(rows, start=2):
            raw = (row.get("amount_value") or "").strip()
            if not raw:
                continue  # a day without cost
            where = f"{filepath}:{number}"
            try:
                value = Decimal(raw)
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite():
                raise ReportError(f"{where}: amount_value: expected a number of dollars, "
                                  f"got {raw!r}")
            start = (row.get("start_time") or "").strip()
            if not start.isdigit():
                raise ReportError(f"{where}: start_time: expected Unix seconds, got {start!r}")
            result: dict[str, Any] = {
                "object": RESULT,
                "amount": {"value": value, "currency": (row.get("amount_currency") or "").strip()},
                "line_item": (row.get("line_item") or "").strip() or None,
                "project_id": (row.get("project_id") or "").strip() or None,
            }
            day = datetime.datetime.fromtimestamp(int(start), datetime.UTC).date()
            try:
                line, meta = self._line(result, day, "row", filepath)
            except ReportError as exc:
                raise ReportError(str(exc).replace(f"{filepath}: row.amount.", f"{where}: amount_")
                                  ) from exc
            if (row.get("organization_id") or "").strip():
                meta["organization_id"] = row["organization_id"].strip()
            out.append((line, meta))
        return out

    def date(self, filepath: str) -> datetime.date | None:
        days = [line.day for line, _ in self.rows(filepath)]
        return max(days) if days else None

    def filename(self, filepath: str) -> str | None:
        return f"{self.provider}-cost-export.csv"

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        """As ``ProviderCostImporter.extract``, from the CSV rows (duplicates, revisions
        and closed months alike: ``provider_costs.book_lines``)."""
        lines = self.rows(filepath)
        self.progress.update(os.path.getsize(filepath))
        result = book_lines(self.name, filepath, lines, existing)
        self.results[filepath] = result
        return list(result.entries)

Importer = OpenAICostExportImporter
