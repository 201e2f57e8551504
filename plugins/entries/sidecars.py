"""The event-id index of an import file: the sidecar that holds the ids of its events.

    imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount   the usage entries
    imports/2026-01.usage-2026-01.jsonl.be1b2b68.events.gz   the ids of their events

The importers write it (``tokenbooks.importers.index``: gzip, mtime 0, the sorted unique
ids); the close counts it against the entries, and the lock fingerprints it once the
month is closed. A book with ``index: {store: cache}`` has no sidecars: each import file
records the fingerprint of its ids instead, and the ids live in a derived index outside
the tracked book (``importers.index.derived_path``, docs/event-index.md); the lock then
covers the fingerprint through the import file's bytes.
"""

from __future__ import annotations

from pathlib import Path

SUFFIX = ".events.gz"


def sidecar_for(import_file: str | Path) -> Path:
    """The sidecar path of an import file (``x.beancount`` -> ``x.events.gz``)."""
    path = Path(import_file)
    return path.with_name(path.name.removesuffix(".beancount") + SUFFIX)
