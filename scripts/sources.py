"""Usage completeness, the sources' side, for the close: each import file of the month
against its event-id index and its archived source document, read again by its importer.

    import file (imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount)
      events of its usage entries  = ids in its event-id index (sidecar or derived)
      ids of the source's month    = ids in the month's indexes (none read but not booked)
      ids of its index             ⊆ ids of the source (none booked from nowhere)

The book's side (what the usage entries hold, per file and per customer) is the reports
library's (``tokenbooks.plugins.reports.completeness``); this module reads the files that
only the close reads: Fava shows what the close recorded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tokenbooks.importers.base import archive_name, file_sha256
from tokenbooks.importers.index import EventIndex, index_file, read_sidecar
from tokenbooks.plugins.reports import Month
from tokenbooks.plugins.reports import completeness as book_side
from tokenbooks.plugins.rules import reconcile

from .import_cmd import make_importers


class SourceReader:
    """The event ids of an archived source document, read again aside by its importer."""

    def __init__(self, month: Month) -> None:
        self.month = month
        self._importers: list[Any] | None = None
        self._cache: dict[str, dict[str, set[str]]] = {}

    def document(self, source: str, sha256: str) -> Path | None:
        if not sha256:
            return None
        name = archive_name(source or "source", sha256)
        for path in sorted((self.month.root / "documents").rglob(f"*.{name}")):
            if file_sha256(path) == sha256:
                return path
        return None

    def ids(self, source: str, sha256: str, month: str) -> set[str] | None:
        if sha256 not in self._cache:
            path = self.document(source, sha256)
            if path is None:
                return None
            if self._importers is None:
                config = self.month.root / "importers.yaml"
                settings = (yaml.safe_load(config.read_text(encoding="utf-8"))
                            if config.exists() else None)
                self._importers = make_importers(self.month.contracts, settings or {})
            found = [i for i in self._importers if i.identify(str(path))]
            if len(found) != 1 or getattr(found[0], "kind", "") != "usage":
                return None
            result = found[0].run(path, index=EventIndex())
            self._cache[sha256] = {m: {i for a in arrays for i in a.to_pylist()}
                                   for m, arrays in result.event_ids.items()}
        return self._cache[sha256].get(month, set())


def file_counts(month: Month) -> list[reconcile.FileCount]:
    """The completeness counts of the month's import files (see the module doc)."""
    origin = book_side.all_files(month)
    sources = SourceReader(month)
    counts = []
    seen: dict[str, Counter[str]] = {}  # events' month -> id -> indexes holding it
    for item in book_side.import_files(month):
        # its sidecar, or its derived index if it matches the file's fingerprint
        sidecar = index_file(item.filename)
        mine = set(read_sidecar(sidecar)) if sidecar is not None else None
        if item.month not in seen:
            seen[item.month] = Counter(
                i for other, (_, _, m) in origin.items()
                if m == item.month and (found := index_file(other)) is not None
                for i in set(read_sidecar(found)))
        twice = sum(1 for i in mine or () if seen[item.month][i] > 1)
        count = reconcile.FileCount(item.file, None if mine is None else len(mine),
                                    item.events, item.source, also_elsewhere=twice)
        ids = sources.ids(item.source, item.sha256, item.month)
        if ids is not None:
            indexed: set[str] = set()
            for other, (_, _, m) in origin.items():
                if m == item.month and (found := index_file(other)) is not None:
                    indexed.update(read_sidecar(found))
            count = reconcile.FileCount(item.file, count.indexed, item.events, item.source,
                                        source_events=len(ids),
                                        not_booked=len(ids - indexed),
                                        not_in_source=len((mine or set()) - ids),
                                        also_elsewhere=twice)
        counts.append(count)
    return counts


def completeness(month: Month) -> tuple[reconcile.Check, Any]:
    """The completeness check of the month, and its table."""
    return book_side.check(month, file_counts(month))
