"""The durable index of imported event ids: a sidecar beside each usage import file.

Usage entries are aggregates: they keep the first and last event id and the count, not
every id. To never count an event twice (the same file imported again, two exports
that overlap, late events of a day already booked), the book keeps the ids of every
event it imported, next to the entries they were added to:

    imports/2026-01.usage-jan.jsonl.3f2a9c1b.beancount    the aggregates (Beancount)
    imports/2026-01.usage-jan.jsonl.3f2a9c1b.events.gz    the ids of their events

A sidecar is gzip (no file name, mtime 0, so the same ids always give the same
bytes) of UTF-8 text: the header line ``# tokenbooks event ids v1``, then the ids of
the events imported into that file, unique and sorted by code point, one per line.
Event ids therefore cannot contain line breaks (such rows are quarantined). The
sidecar is written once with its ``.beancount`` file and never edited; a later import
writes a new pair of files. Commit both to version control.

Event ids are partitioned by the UTC month of the event: an event is looked up only
among the ids of its own month, so a re-import loads the sidecars of the months the
source touches and nothing else. (An id re-used with a timestamp in another month is
therefore a different event.)

    >>> index = EventIndex()
    >>> index.add_sidecar("2026-01", Path("imports/2026-01.x.events.gz"))  # lazily read
    >>> index.claim("2026-01", ["evt-1", "evt-1"])  # [True, False]: new, then seen
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from beancount.core import data

HEADER = "# tokenbooks event ids v1"
COMPRESSLEVEL = 6
SIDECAR_SUFFIX = ".events.gz"
USAGE = "usage"


def sidecar_for(import_file: str | Path) -> Path:
    """The sidecar path of an import file (``x.beancount`` -> ``x.events.gz``)."""
    path = Path(import_file)
    return path.with_name(path.name.removesuffix(".beancount") + SIDECAR_SUFFIX)


def write_sidecar(path: Path, ids: pa.Array | Iterable[str]) -> None:
    """Write the sorted unique ``ids`` to ``path``, byte for byte reproducibly."""
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        unique = pc.unique(ids)
        ordered = unique.take(pc.array_sort_indices(unique)).to_pylist()
    else:
        ordered = sorted(set(ids))
    text = "\n".join([HEADER, *ordered]) + "\n"
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0,
                       compresslevel=COMPRESSLEVEL) as out:
        out.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def read_sidecar(path: Path) -> list[str]:
    """The ids of a sidecar (raises ValueError naming the file if it is not one)."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a tokenbooks event-id index ({exc})") from exc
    lines = text.split("\n")
    if lines[0] != HEADER:
        raise ValueError(f"{path}:1: expected the header {HEADER!r}, got {lines[0][:40]!r}")
    return [line for line in lines[1:] if line]


class EventIndex:
    """Event ids already in the book, by UTC month (``YYYY-MM``), loaded lazily.

    ``register(entries)`` finds the sidecars of the usage entries of a book;
    ``claim(month, ids)`` tells which ids are new and remembers them, so that later
    sources of the same run are deduplicated against earlier ones too.
    """

    def __init__(self) -> None:
        self._pending: dict[str, set[Path]] = {}
        self._loaded: dict[str, set[str]] = {}
        self._known_files: set[str] = set()

    def add_sidecar(self, month: str, path: Path) -> None:
        seen = self._loaded.get(month)
        if seen is not None:
            seen.update(read_sidecar(path))
        else:
            self._pending.setdefault(month, set()).add(path)

    def register(self, entries: Iterable[data.Directive]) -> None:
        """Index the sidecars of every usage entry of ``entries`` (once per file)."""
        for entry in entries:
            if not (isinstance(entry, data.Custom) and entry.type == USAGE):
                continue
            filename = entry.meta.get("filename") if entry.meta else None
            if not filename or not str(filename).endswith(".beancount"):
                continue
            key = f"{filename}|{entry.date:%Y-%m}"
            if key in self._known_files:
                continue
            self._known_files.add(key)
            sidecar = sidecar_for(filename)
            if sidecar.exists():
                self.add_sidecar(f"{entry.date:%Y-%m}", sidecar)

    def month(self, month: str) -> set[str]:
        """The set of ids of ``month`` (reading its sidecars on first use)."""
        seen = self._loaded.get(month)
        if seen is None:
            seen = set()
            for path in sorted(self._pending.pop(month, ())):
                seen.update(read_sidecar(path))
            self._loaded[month] = seen
        return seen

    def claim(self, month: str, ids: Sequence[str]) -> list[bool] | None:
        """For each id, True if it is new (and now remembered), False if seen before;
        None when all of them are new (the common case, checked in C)."""
        seen = self.month(month)
        if not seen or seen.isdisjoint(ids):
            before = len(seen)
            seen.update(ids)
            if len(seen) - before == len(ids):
                return None
            seen.difference_update(ids)  # duplicates inside ``ids``: none was seen before
        add = seen.add
        return [not (i in seen or add(i)) for i in ids]
