"""The beangulp path, first-class: ``beangulp extract`` and Fava's import page over the
tokenbooks importers, with nothing silently dropped.

``BookImporter`` wraps one importer (``tokenbooks.scripts.ingest.book_importers`` wraps
them all, with the book's contracts and ``importers.yaml``; the ``import.py`` that
``tokenbooks init`` writes uses it). Its ``extract`` is the importer's, then:

- what falls in a closed month is dated on the first open day (``importers.late``), as
  ``tokenbooks import`` does;
- rows the importer quarantined, conflicts (an event id booked with other content) and
  warnings (a page with ``has_more``, usage booked without an event-id index) become
  one ``custom "tokenbooks" "warning"`` entry per source, at the end of its entries:
  beangulp has no quarantine file, so the report travels with the entries, in the
  output of ``extract`` and on Fava's import page, where it can be read before saving:

    2026-03-04 custom "tokenbooks" "warning" "usage-2026-03.jsonl: 2 row(s) not imported"
      source: "usage-2026-03.jsonl"
      sha256: "be1b2b68..."
      quarantined: 1
      conflicts: 1
      row_1: "line 7: customer: unknown customer 'acme-old' (expected ...)"
      row_2: "line 9: event_id: conflict: event id 'e9' is already booked ..."

Dedupe is the importers' own: usage against the book's event-id index (and, for usage
booked by beangulp or Fava, which writes no sidecar, against the source found again by
its sha256: ``base.UsageImporter``), bills by ``bill_key``, purchases by ``payment_id``.

    importer = BookImporter(usage_jsonl.Importer("contracts"))
    entries = importer.extract("incoming/usage.jsonl", existing)
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import beangulp
from beancount.core import data

from tokenbooks.plugins.entries.build import value

from . import late

WARNING = "tokenbooks"
SHOWN_ROWS = 20  # rows named in a warning entry; the rest are counted


def report_entry(result: Any, filepath: str, entries: Sequence[data.Directive]
                 ) -> data.Custom | None:
    """The ``custom "tokenbooks" "warning"`` entry of what a source did not import, or
    None when everything was imported."""
    rows = list(result.rejected()) if hasattr(result, "rejected") else []
    warnings = list(getattr(result, "warnings", ()))
    if not rows and not warnings:
        return None
    name = os.path.basename(filepath)
    parts = []
    if rows:
        parts.append(f"{len(rows)} row(s) not imported")
    parts += warnings
    meta: dict[str, object] = {"source": name, "sha256": result.sha256,
                               "quarantined": Decimal(result.quarantined),
                               "conflicts": Decimal(len(getattr(result, "conflicts", ())))}
    for i, row in enumerate(rows[:SHOWN_ROWS], start=1):
        meta[f"row_{i}"] = f"line {row.line}: {row.field}: {row.reason}"
    if len(rows) > SHOWN_ROWS:
        meta["rows_not_shown"] = Decimal(len(rows) - SHOWN_ROWS)
    day = max((e.date for e in entries), default=None)
    if day is None:
        day = datetime.datetime.fromtimestamp(os.path.getmtime(filepath), datetime.UTC).date()
    return data.Custom(data.new_metadata(filepath, 0, meta), day, WARNING,
                       [value("warning"), value(f"{name}: " + "; ".join(parts))])


class BookImporter(beangulp.Importer):
    """One tokenbooks importer for beangulp and Fava (see the module doc)."""

    def __init__(self, importer: Any) -> None:
        self.importer = importer

    @property
    def name(self) -> str:
        return str(self.importer.name)

    def identify(self, filepath: str) -> bool:
        return bool(self.importer.identify(filepath))

    def account(self, filepath: str) -> data.Account:
        return self.importer.account(filepath)

    def date(self, filepath: str) -> datetime.date | None:
        return self.importer.date(filepath)

    def filename(self, filepath: str) -> str | None:
        return self.importer.filename(filepath)

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        entries = list(self.importer.extract(filepath, existing))
        late.redate(entries, late.closed_until(existing))  # never into a closed month
        result = self.importer.results.get(filepath)
        report = report_entry(result, filepath, entries) if result is not None else None
        return entries + ([report] if report is not None else [])

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        self.importer.deduplicate(entries, existing)

    def sort(self, entries: data.Entries, reverse: bool = False) -> None:
        """The importer's order (sorted, reproducible), the report last."""
