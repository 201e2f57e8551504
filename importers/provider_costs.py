"""What the provider cost report importers share: JSON reading, provenance, dedupe.

A provider's cost report becomes one ``custom "provider-bill"`` entry per report line (a
day bucket and a line item, in dollars, exact as reported; see
``tokenbooks.plugins.entries.bills``). The importer books no transaction itself: the
``tokenbooks.plugins.cogs`` plugin adds the lines up per provider and posting period and,
at every load, sets the bill against the cost attributed to usage of that provider and
period, so the unattributed remainder stays right when usage arrives after the bill.

A report line already in the book (same ``bill_key``: provider, bucket day and the
report's group-by fields) with the same amount, or from the same report file (its
sha256), is left out by ``extract`` and counted as a duplicate (and ``deduplicate``
marks it, for beangulp's own flow), so re-importing a report or an overlapping one
never counts a line twice; the plugin also refuses a key booked twice.

A line **re-issued with another amount** (the provider corrected a day) supersedes the
booked one, which is never edited: a new line books the difference, keyed
``<bill_key>#r<n>``, with ``revision_of`` (the report's key), ``supersedes`` (the key of
the line it corrects), ``revision``, ``reported_amount`` (the amount as now reported)
and ``previous_amount`` (the total booked so far). The lines of a key always add up to
the latest report, so the bill of the period counts the supersession once:

    2026-01-05 custom "provider-bill" "openai" "gpt-4o, input" 41.20 USD
      bill_key: "openai|2026-01-05|*|gpt-4o, input"
    2026-01-05 custom "provider-bill" "openai" "gpt-4o, input" 2.30 USD
      bill_key: "openai|2026-01-05|*|gpt-4o, input#r2"
      revision_of: "openai|2026-01-05|*|gpt-4o, input"
      supersedes: "openai|2026-01-05|*|gpt-4o, input"
      reported_amount: "43.50"
      previous_amount: "41.20"

A line of a closed month (a late bill, or the correction of a closed month's bill) is
dated on the first day of the first open month, with ``original_date`` and
``prior_period`` (``importers.late``): a prior-period adjustment of COGS in the open
month (the cogs plugin books it as its own ``Expenses:COGS:Unattributed`` posting with
``prior_period``). Its ``bill_key`` keeps the report's day, so it stays a duplicate of
itself. A page with ``"has_more": true`` is one page of a longer report: its lines are
imported and a warning names the file (the import is incomplete; ``tokenbooks import
--strict`` fails on it). ``self.results[filepath]`` keeps the counts (read = imported +
duplicates) for the summary of ``tokenbooks import``. A malformed report is an error
naming the file, the JSON path and what was expected, and nothing of it is imported.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import beangulp
from beancount.core import data

from tokenbooks.plugins.entries.bills import (
    KEY,
    PROVIDER_BILL,
    REVISION_OF,
    bill_entry,
    booked_bills,
)
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.bills import BillLine

from . import late

MAX_BYTES = 64 * 1024 * 1024


class ReportError(ValueError):
    """A cost report that cannot be read: names the file, the JSON path and the problem."""


def read_json(filepath: str) -> Any:
    """The JSON document of ``filepath`` with every number as a Decimal (never a float)."""
    try:
        with open(filepath, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ReportError(f"{filepath}: cannot read file: {exc}") from exc
    if len(raw) > MAX_BYTES:
        raise ReportError(f"{filepath}: larger than {MAX_BYTES} bytes; expected one report page")
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_int=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{filepath}: not a JSON document: {exc}") from exc


def tidy(amount: Decimal) -> Decimal:
    """``amount`` without trailing zeros beyond the cent, in fixed point: 1.2600000 -> 1.26."""
    text = format(amount, "f")
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")
        text = f"{whole}.{frac}"
    return Decimal(text)


def sha256(filepath: str) -> str:
    digest = hashlib.sha256()
    with open(filepath, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require(obj: Any, name: str, path: str, filepath: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise ReportError(f"{filepath}: {path}.{name}: is required but missing")
    return obj[name]


def key_part(value: Any) -> str:
    """A group-by field in a natural key; null (aggregated across) becomes ``*``."""
    return "*" if value is None else str(value)


class Progress:
    """Bytes read so far; ``tokenbooks import`` may plug a progress bar in ``callback``."""

    def __init__(self) -> None:
        self.callback: Callable[[int], None] | None = None

    def update(self, n: int) -> None:
        if self.callback is not None:
            self.callback(n)


@dataclass
class CostExtraction:
    """What one report gave: its entries and the line counts (read = imported + duplicates).

    A malformed report raises ``ReportError`` instead: nothing of it is imported, so
    nothing is ever quarantined.
    """

    source: Path
    sha256: str
    importer: str
    kind: str = "provider-costs"
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantine: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    event_ids: dict = field(default_factory=dict)
    event_hashes: dict = field(default_factory=dict)
    conflicts: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the import is incomplete
    notes: list[str] = field(default_factory=list)  # revised lines, said once
    revised: int = 0

    @property
    def quarantined(self) -> int:
        return 0

    def rejected(self) -> list:
        return []


def has_more_warning(doc: Any, filepath: str) -> list[str]:
    """The warning of a page that is not the last (``"has_more": true``), if it is one."""
    if isinstance(doc, dict) and doc.get("has_more") is True:
        following = doc.get("next_page")
        hint = f" (next_page {str(following)!r})" if following else ""
        return [f"{filepath}: has_more is true: this is one page of a longer report"
                f"{hint}; the lines of the following pages are not imported (fetch them "
                f"with the page token and import each page)"]
    return []


def book_lines(importer: str, filepath: str, lines: list[tuple[BillLine, dict[str, object]]],
               existing: data.Entries) -> CostExtraction:
    """The extraction of a report's ``lines`` against the bill lines of ``existing``:
    new lines, duplicates (same amount, or the same report file again) and revisions
    (another amount: a line of the difference that ``supersedes`` the last one); every
    line of a closed month dated in the first open month (``importers.late``)."""
    digest = sha256(filepath)
    provenance = {"source": os.path.basename(filepath), "sha256": digest}
    booked = booked_bills(existing)
    result = CostExtraction(Path(filepath), digest, importer, read=len(lines))
    seen: set[str] = set()
    for line, meta in lines:
        if line.key in seen:
            raise ReportError(f"{filepath}: report line {line.key!r} appears twice; "
                              f"expected each bucket and line item once")
        seen.add(line.key)
        state = booked.get(line.key)
        if state is None:
            result.entries.append(bill_entry(line, {**provenance, **meta}))
            continue
        if digest in state.sources or line.amount == state.total:
            result.duplicates += 1
            continue
        revision = state.revision + 1
        key = f"{line.key}#r{revision}"
        difference = tidy(line.amount - state.total)
        result.entries.append(bill_entry(
            BillLine(provider=line.provider, day=line.day, amount=difference,
                     currency=line.currency, key=key, label=line.label),
            {**provenance, **meta, REVISION_OF: line.key, "supersedes": state.latest,
             "revision": Decimal(revision), "reported_amount": format(line.amount, "f"),
             "previous_amount": format(state.total, "f")}))
        state.total, state.latest, state.revision = line.amount, key, revision
        result.revised += 1
    late.redate(result.entries, late.closed_until(existing))  # never into a closed month
    result.imported = len(result.entries)
    if result.revised:
        result.notes.append(f"{result.revised} bill line(s) re-issued with another amount: "
                            f"booked as revisions of the earlier lines (supersedes)")
    return result


class ProviderCostImporter(beangulp.Importer):
    """Base class: subclasses set ``provider`` and implement ``looks_like`` and ``lines``."""

    provider = ""

    def __init__(self, provider: str | None = None) -> None:
        if provider:
            self.provider = provider
        self.progress = Progress()
        self.results: dict[str, CostExtraction] = {}

    def looks_like(self, doc: Any) -> bool:
        raise NotImplementedError

    def lines(self, doc: Any, filepath: str) -> list[tuple[BillLine, dict[str, object]]]:
        """The report's lines, each with its group-by fields as entry metadata."""
        raise NotImplementedError

    def _doc(self, filepath: str) -> Any | None:
        if not filepath.lower().endswith(".json"):
            return None
        try:
            return read_json(filepath)
        except ReportError:
            return None

    def identify(self, filepath: str) -> bool:
        doc = self._doc(filepath)
        return doc is not None and self.looks_like(doc)

    def account(self, filepath: str) -> data.Account:
        return accounts.payable(self.provider)

    def date(self, filepath: str) -> datetime.date | None:
        days = [line.day for line, _ in self.lines(read_json(filepath), filepath)]
        return max(days) if days else None

    def filename(self, filepath: str) -> str | None:
        return f"{self.provider}-costs.json"

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        """The report's lines as entries, leaving out those already in ``existing``.

        What the file gave (lines read, imported, duplicates) is kept in
        ``self.results[filepath]`` for ``tokenbooks import``'s summary.
        """
        doc = read_json(filepath)
        lines = self.lines(doc, filepath)
        self.progress.update(os.path.getsize(filepath))
        result = book_lines(self.name, filepath, lines, existing)
        result.warnings += has_more_warning(doc, filepath)
        self.results[filepath] = result
        return list(result.entries)

    def deduplicate(self, entries: data.Entries, existing: Sequence[data.Directive]) -> None:
        """Mark lines whose ``bill_key`` is already in the book as duplicates (a
        revision has a key of its own, ``...#r<n>``)."""
        known = {e.meta[KEY]: e for e in existing
                 if isinstance(e, data.Custom) and e.type == PROVIDER_BILL and KEY in e.meta}
        for entry in entries:
            match = known.get(entry.meta.get(KEY))
            if match is not None:
                entry.meta["__duplicate__"] = match
