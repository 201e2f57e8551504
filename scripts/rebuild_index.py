"""Rebuild the derived event-id indexes of a book from its archived sources.

A usage import file written with ``index: {store: cache}`` records the fingerprint of
its ids in its header (``; event index: 42 events, ids sha256 ... (derived v2)``); the
ids themselves live in ``.tokenbooks/index/<file>.events.zst``, a cache outside the
tracked book (docs/event-index.md). Before every import, ``rebuild`` checks each of them
against its fingerprint; one missing, cut short or holding other ids is made again from
the file's source (``; sha256 ...`` of its header: the copy under ``documents/``, or a
source of this import with that sha256), read again by the importer that identifies
it, with the book's contracts and settings:

1. the ids of the file's month in the source, read alone: what a first import books;
2. if that is not the fingerprint, the same minus the ids of the month's other import
   files (a later import of a source books only what was not booked before, and an id
   is booked in one file of its month only).

The first that has the recorded fingerprint is written; if none has, the import stops
with an error naming the import file and what is missing, before anything is written:
an index is never partial.

    >>> rebuild(book, importers)        # [] when every index matches its fingerprint
    ['rebuilt .tokenbooks/index/2026-01.usage.jsonl.3f2a9c1b.events.zst (42 events)']

``tokenbooks import`` calls ``rebuild`` before it reads a source; ``tokenbooks close``
calls ``rebuild_loaded`` once it has loaded the book (a close without ``--source`` on a
fresh clone rebuilds the index too, or stops at its ``index`` step).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.compute as pc

from tokenbooks.importers.base import file_sha256
from tokenbooks.importers.index import (
    SIDECAR_SUFFIX,
    EventIndex,
    Fingerprint,
    declared_fingerprint,
    derived_path,
    fingerprint,
    index_file,
    read_sidecar,
    sidecar_bytes,
    sorted_ids,
    verified_derived,
)

from . import writing

_SHA_RE = re.compile(r"^; sha256 ([0-9a-f]{64})\s*$")


class IndexUnrecoverable(click.ClickException):
    """A derived index that cannot be made to match its import file's fingerprint."""


def source_sha256(import_file: Path) -> str | None:
    """The sha256 of the source an import file was read from (its header)."""
    with open(import_file, encoding="utf-8", errors="replace") as handle:
        for _ in range(8):
            found = _SHA_RE.match(handle.readline())
            if found:
                return found.group(1)
    return None


def _candidates(book: Path, sha256: str, sources: list[Path]) -> list[Path]:
    found = sorted((book / "documents").rglob(f"*.{sha256[:8]}.*"))
    return [*found, *sources]


class _Reader:
    """Sources read again aside (each once), by the importer that identifies them."""

    def __init__(self, book: Path, importers: list[Any], sources: list[Path]) -> None:
        self.book, self.importers, self.sources = book, importers, sources
        self._read: dict[str, dict[str, tuple[pa.Array, pa.Array | None]] | None] = {}

    def months(self, sha256: str) -> dict[str, tuple[pa.Array, pa.Array | None]] | None:
        if sha256 not in self._read:
            self._read[sha256] = self._months(sha256)
        return self._read[sha256]

    def _months(self, sha256: str) -> dict[str, tuple[pa.Array, pa.Array | None]] | None:
        for path in _candidates(self.book, sha256, self.sources):
            if not path.is_file() or file_sha256(path) != sha256:
                continue
            found = [i for i in self.importers if getattr(i, "kind", "") == "usage"
                     and i.identify(str(path))]
            if len(found) != 1:
                continue
            result = found[0].run(path, index=EventIndex())
            return {month: sorted_ids(pa.chunked_array(ids, pa.string()),
                                      result.event_hashes.get(month))
                    for month, ids in result.event_ids.items()}
        return None


def _others(book: Path, target: Path, month: str) -> set[str]:
    """The ids of the month's other import files, from the indexes that can be trusted."""
    ids: set[str] = set()
    for other in sorted((book / "imports").glob(f"{month}.*.beancount")):
        if other == target:
            continue
        found = index_file(other)
        if found is not None:
            ids.update(read_sidecar(found))
    return ids


def _rebuild_one(book: Path, path: Path, expected: Fingerprint, reader: _Reader,
                 outcome: str = "nothing was imported") -> str | None:
    """Rebuild one derived index; None when done, else why it cannot be."""
    shown = os.path.relpath(path, book)
    sha256 = source_sha256(path)
    months = reader.months(sha256) if sha256 else None
    if months is None:
        return (f"{shown}: its event-id index ({os.path.relpath(derived_path(path), book)})"
                f" is missing or does not match the file's fingerprint ({expected.events} "
                f"events, ids sha256 {expected.sha256[:12]}...), and its source (sha256 "
                f"{(sha256 or '?')[:12]}...) is not in documents/ nor among the sources "
                f"given, or is no usage source: it cannot be rebuilt; {outcome} "
                f"(restore the source into documents/, or the index file)")
    month = path.name[:7]
    ids, hashes = months.get(month, (pa.array([], pa.string()), None))
    chosen = None
    if fingerprint(ids) == expected:
        chosen = ids, hashes
    else:
        others = _others(book, path, month)
        if others:
            keep = pc.invert(pc.is_in(ids, value_set=pa.array(sorted(others), pa.string())))
            left = ids.filter(keep), hashes.filter(keep) if hashes is not None else None
            if fingerprint(left[0]) == expected:
                chosen = left
    if chosen is None:
        return (f"{shown}: its event-id index is missing or does not match the file's "
                f"fingerprint ({expected.events} events, ids sha256 "
                f"{expected.sha256[:12]}...), and the ids of {month} read again from its "
                f"source ({len(ids)} events, ids sha256 {fingerprint(ids).sha256[:12]}...) "
                f"do not give it (the contracts or settings changed since?): it cannot be "
                f"rebuilt; {outcome}")
    target = derived_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    writing.write_bytes_atomic(target, sidecar_bytes(*chosen, compression="zstd"))
    writing.remove(derived_path(path, SIDECAR_SUFFIX))  # an earlier version's (gzip)
    return None


def rebuild(book: Path, importers: list[Any], sources: list[Path] | None = None,
            outcome: str = "nothing was imported") -> list[str]:
    """Check every derived index of the book; rebuild those missing or stale. Returns
    what was rebuilt; raises IndexUnrecoverable (nothing written for that file) if one
    cannot be rebuilt to its fingerprint, its message ending with ``outcome`` (what the
    command did not do)."""
    stale: list[tuple[Path, Fingerprint]] = []
    for path in sorted((book / "imports").glob("*.beancount")):
        expected = declared_fingerprint(path)
        if expected is not None and verified_derived(path, expected) is None:
            stale.append((path, expected))
    if not stale:
        return []
    reader = _Reader(book, importers, [Path(s) for s in sources or ()])
    done: list[str] = []
    while stale:  # passes: a file may need the others of its month rebuilt first
        failed: list[tuple[Path, Fingerprint, str]] = []
        for path, expected in stale:
            problem = _rebuild_one(book, path, expected, reader, outcome)
            if problem is None:
                done.append(f"rebuilt {os.path.relpath(derived_path(path), book)} "
                            f"({expected.events} events) from the source of "
                            f"{os.path.relpath(path, book)}")
            else:
                failed.append((path, expected, problem))
        if len(failed) == len(stale):
            raise IndexUnrecoverable(failed[0][2])
        stale = [(path, expected) for path, expected, _ in failed]
    return done


def rebuild_loaded(book: Path, options: dict[str, Any], outcome: str) -> list[str]:
    """``rebuild`` for a command that has loaded the book (``tokenbooks close``): the
    importers are made from the load's contracts and the book's ``importers.yaml``, as
    ``tokenbooks import`` makes them. Raises IndexUnrecoverable (ending with ``outcome``),
    or click.ClickException if ``importers.yaml`` is wrong."""
    from tokenbooks.plugins.config import PluginConfig, contracts_folder
    from tokenbooks.plugins.load import Load
    from tokenbooks.plugins.rules.contracts import load_contracts

    from .import_cmd import make_importers, read_settings  # import_cmd imports this module

    stale = [path for path in sorted((book / "imports").glob("*.beancount"))
             if (expected := declared_fingerprint(path)) is not None
             and verified_derived(path, expected) is None]
    if not stale:  # the common case: no importer (nor the contracts) needed
        return []
    load = Load.of(options)
    contracts = (load.contracts if load is not None
                 else load_contracts(contracts_folder(options, PluginConfig()))[0])
    settings = read_settings(book / "importers.yaml") if (book / "importers.yaml").exists() else {}
    return rebuild(book, make_importers(contracts, settings), outcome=outcome)
