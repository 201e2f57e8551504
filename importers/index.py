"""The durable index of imported event ids: a sidecar beside each usage import file.

Usage entries are aggregates: they keep the first and last event id and the count, not
every id. To never count an event twice (the same file imported again, two exports
that overlap, late events of a day already booked), the book keeps the ids of every
event it imported, next to the entries they were added to:

    imports/2026-01.usage-jan.jsonl.3f2a9c1b.beancount    the aggregates (Beancount)
    imports/2026-01.usage-jan.jsonl.3f2a9c1b.events.gz    the ids of their events

A sidecar is gzip (level 1, no file name, mtime 0, so the same ids always give the
same bytes) of UTF-8 text: the header line ``# tokenbooks event ids v1``, then the ids of
the events imported into that file, unique and sorted by code point, one per line.
Event ids therefore cannot contain line breaks (such rows are quarantined). The
sidecar is written once with its ``.beancount`` file, just after it (the sidecar is what
marks the events booked: an import file without its sidecar is an interrupted write that
the next import of its source completes, see ``scripts.import_cmd``), and never edited;
a later import writes a new pair of files. Commit both to version control.

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
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from beancount.core import data

from tokenbooks.plugins.entries.usage import booked_month

HEADER = "# tokenbooks event ids v1"
COMPRESSLEVEL = 1  # fast; level 6 saves only ~7% on ids
SIDECAR_SUFFIX = ".events.gz"
USAGE = "usage"


def sidecar_for(import_file: str | Path) -> Path:
    """The sidecar path of an import file (``x.beancount`` -> ``x.events.gz``)."""
    path = Path(import_file)
    return path.with_name(path.name.removesuffix(".beancount") + SIDECAR_SUFFIX)


Writer = Callable[[Path, Iterable[bytes | memoryview]], object]


def write_sidecar(path: Path, ids: pa.Array | pa.ChunkedArray | Iterable[str],
                  write: Writer | None = None) -> None:
    """Write ``ids`` sorted to ``path``, byte for byte reproducibly. An arrow array must
    hold each id once (``EventIndex.claim`` sees to it); other iterables are deduplicated.

    ``write(path, parts)`` writes the file from its parts, streamed: ``tokenbooks
    import`` passes ``scripts.writing.write_bytes_atomic`` (a temporary file, fsync'ed,
    renamed: a crash never leaves a part of a sidecar, see ``scripts.import_cmd``); by
    default a plain write (the importers do not depend on the command line)."""
    parts = sidecar_bytes(ids)
    if write is not None:
        write(path, parts)
        return
    with open(path, "wb") as out:
        for part in parts:
            out.write(part)


def sidecar_bytes(ids: pa.Array | pa.ChunkedArray | Iterable[str]
                  ) -> Iterator[bytes | memoryview]:
    """The bytes of the sidecar of ``ids`` (see ``write_sidecar``), in parts."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    if isinstance(ids, pa.Array) and ids.nbytes < (1 << 30):
        if len(ids) > 1 and not pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py():
            ids = ids.take(pc.array_sort_indices(ids))
        offsets = pa.array([0, len(ids)], pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, ids.cast(pa.string())), "\n")
        body: bytes | memoryview = memoryview(joined[0].as_buffer())
    else:
        body = "\n".join(sorted(set(ids))).encode("utf-8")
    return _gzip([HEADER.encode("utf-8") + b"\n", body, b"\n" if len(body) else b""])


def _gzip(parts: list[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """gzip (RFC 1952: mtime 0, no name, OS 255) of the concatenated ``parts``, streamed
    so the whole text is never copied; the same parts always give the same bytes."""
    level = COMPRESSLEVEL
    flags = 4 if level == 1 else 2 if level == 9 else 0
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    crc, size = 0, 0
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes([flags, 255])
    for part in parts:
        crc = zlib.crc32(part, crc)
        size += len(part)
        yield deflate.compress(part)
    yield deflate.flush()
    yield struct.pack("<LL", crc, size & 0xFFFFFFFF)


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
    sources of the same run are deduplicated against earlier ones too. A source alone
    in a month nobody has ids for yet skips ``claim``: it checks its own ids for
    repeats once, sorted, at the end, and ``commit``s them (see ``usage.UsageCore``).
    """

    def __init__(self) -> None:
        self._pending: dict[str, set[Path]] = {}
        self._arrays: dict[str, list[pa.Array]] = {}
        self._loaded: dict[str, set[str]] = {}
        self._known_files: set[str] = set()

    def has_ids(self, month: str) -> bool:
        """Whether any id of ``month`` is known (in the book or claimed in this run)."""
        return bool(self._pending.get(month) or self._arrays.get(month)
                    or self._loaded.get(month))

    def commit(self, month: str, ids: pa.Array) -> None:
        """Remember the ids of a month a source had to itself (checked unique by it)."""
        seen = self._loaded.get(month)
        if seen is not None:
            seen.update(ids.to_pylist())
        else:
            self._arrays.setdefault(month, []).append(ids)

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
            month = booked_month(entry)  # late usage: its events' month (importers.late)
            key = f"{filename}|{month}"
            if key in self._known_files:
                continue
            self._known_files.add(key)
            sidecar = sidecar_for(filename)
            if sidecar.exists():
                self.add_sidecar(month, sidecar)

    def month(self, month: str) -> set[str]:
        """The set of ids of ``month`` (reading its sidecars on first use)."""
        seen = self._loaded.get(month)
        if seen is None:
            seen = set()
            for path in sorted(self._pending.pop(month, ())):
                seen.update(read_sidecar(path))
            for ids in self._arrays.pop(month, ()):
                seen.update(ids.to_pylist())
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
