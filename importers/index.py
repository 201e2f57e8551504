"""The durable index of imported event ids: a sidecar beside each usage import file.

Usage entries are aggregates: they keep the first and last event id and the count, not
every id. To never count an event twice (the same file imported again, two exports
that overlap, late events of a day already booked), the book keeps the ids of every
event it imported, next to the entries they were added to:

    imports/2026-01.usage-jan.jsonl.3f2a9c1b.beancount    the aggregates (Beancount)
    imports/2026-01.usage-jan.jsonl.3f2a9c1b.events.gz    the ids of their events

A sidecar is gzip (level 1, no file name, mtime 0, so the same ids always give the
same bytes) of UTF-8 text: a header line, then the ids of the events imported into that
file, unique and sorted by code point, one per line. Version 2 (``# tokenbooks event
ids v2``, what the usage importers write) follows each id with a tab and the event's
**content hash**: 8 hex digits (32 bits) of a hash of the event as booked (UTC day,
customer, model, feature, action, user, token and status counts; ``usage.content_hashes``),
so that a later import can tell an event exported again (a duplicate) from another event
under the same id (a conflict: quarantined, the first booking kept). Version 1 (``# tokenbooks
event ids v1``, ids alone; written by earlier versions and for daily aggregates, which
carry no per-event content) is still read: its ids have no known content, so the same
id is a duplicate, as before. A line of v2 may also hold an id alone. 32 bits cost about
4 bytes per event gzipped (a UUID costs about 21); a collision only lets a conflict pass
as a duplicate (1 in 4 billion), the first booking being kept either way.
Event ids therefore cannot contain line breaks or tabs (such rows are quarantined). The
sidecar is written once with its ``.beancount`` file, just after it (the sidecar is what
marks the events booked: an import file without its sidecar is an interrupted write that
the next import of its source completes, see ``scripts.import_cmd``), and never edited;
a later import writes a new pair of files. Commit both to version control.

**The derived index** (``index: {store: cache}`` in ``importers.yaml``, docs/event-index.md):
no sidecar in the book; the import file records the fingerprint of its ids in its header
(``; event index: N events, ids sha256 <hex> (derived v2)``: ``Fingerprint``, the count
and the sha256 of the ids sorted by code point and joined by ``\n``) and the ids go to
``<book>/.tokenbooks/index/<file>.events.zst`` (the sidecar's text, v2, compressed with
zstd level 1: about ten times faster than gzip on random ids, and smaller; the file
is a cache, never in git), trusted only while it matches the fingerprint
(``index_file``) and rebuilt from the archived source otherwise
(``scripts.rebuild_index``). A ``.events.gz`` there (gzip, as earlier versions wrote
it) is trusted the same way, until an import or a rebuild writes its ``.events.zst``.

Event ids are partitioned by the UTC month of the event: an event is looked up only
among the ids of its own month, so a re-import loads the sidecars of the months the
source touches and nothing else. (An id re-used with a timestamp in another month is
therefore a different event.)

    >>> index = EventIndex()
    >>> index.add_sidecar("2026-01", Path("imports/2026-01.x.events.gz"))  # lazily read
    >>> index.claim("2026-01", ["evt-1", "evt-1"])  # [True, False]: new, then seen
    >>> write_sidecar(Path("x.events.gz"), pa.array(["evt-1"]), hashes=pa.array(["0fe33aa6"]))
    >>> read_sidecar_content(Path("x.events.gz"))  # {"evt-1": "0fe33aa6"}
    >>> fingerprint(["evt-2", "evt-1"]).line()  # '; event index: 2 events, ids sha256 ...'
"""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from beancount.core import data

from tokenbooks.plugins.entries.usage import booked_month

HEADER_V1 = "# tokenbooks event ids v1"  # ids alone
HEADER = "# tokenbooks event ids v2"  # id, tab, content hash (or an id alone)
HEADERS = (HEADER_V1, HEADER)
COMPRESSLEVEL = 1  # fast; level 6 saves only ~7% on ids
SIDECAR_SUFFIX = ".events.gz"
DERIVED_SUFFIX = ".events.zst"  # the derived index: zstd (pyarrow's, level 1)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first bytes (RFC 8878)
USAGE = "usage"


def sidecar_for(import_file: str | Path) -> Path:
    """The sidecar path of an import file (``x.beancount`` -> ``x.events.gz``)."""
    path = Path(import_file)
    return path.with_name(path.name.removesuffix(".beancount") + SIDECAR_SUFFIX)


Writer = Callable[[Path, Iterable[bytes | memoryview]], object]


def write_sidecar(path: Path, ids: pa.Array | pa.ChunkedArray | Iterable[str],
                  write: Writer | None = None,
                  hashes: pa.Array | pa.ChunkedArray | Sequence[str] | None = None,
                  compression: str = "gzip") -> None:
    """Write ``ids`` sorted to ``path``, byte for byte reproducibly. An arrow array must
    hold each id once (``EventIndex.claim`` sees to it); other iterables are deduplicated.
    ``hashes`` (aligned with ``ids``): their content hashes, written as version 2;
    without them the sidecar is version 1 (ids alone).

    ``write(path, parts)`` writes the file from its parts, streamed: ``tokenbooks
    import`` passes ``scripts.writing.write_bytes_atomic`` (a temporary file, fsync'ed,
    renamed: a crash never leaves a part of a sidecar, see ``scripts.import_cmd``); by
    default a plain write (the importers do not depend on the command line).
    ``compression`` ``zstd``: a derived index's bytes (the same text)."""
    parts = sidecar_bytes(ids, hashes, compression)
    if write is not None:
        write(path, parts)
        return
    with open(path, "wb") as out:
        for part in parts:
            out.write(part)


def _array(values: pa.Array | pa.ChunkedArray | Iterable[str]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if isinstance(values, pa.Array):
        return values
    return pa.array(list(values), pa.string())


def sidecar_bytes(ids: pa.Array | pa.ChunkedArray | Iterable[str],
                  hashes: pa.Array | pa.ChunkedArray | Sequence[str] | None = None,
                  compression: str = "gzip") -> Iterator[bytes | memoryview]:
    """The bytes of the sidecar of ``ids`` (see ``write_sidecar``), in parts; with
    ``compression`` ``zstd``, those of a derived index (the same text)."""
    pack = _zstd if compression == "zstd" else _gzip
    if hashes is not None:
        id_array, hash_array = _array(ids).cast(pa.string()), _array(hashes).cast(pa.string())
        if len(id_array) != len(hash_array):
            raise ValueError(f"{len(id_array)} ids but {len(hash_array)} content hashes")
        if len(id_array) > 1 and not pc.all(pc.less_equal(id_array[:-1], id_array[1:])).as_py():
            order = pc.array_sort_indices(id_array)
            id_array, hash_array = id_array.take(order), hash_array.take(order)
        # each line "id\thash\n" is one value; their bytes, back to back, are the body
        ended = pc.binary_join_element_wise(hash_array, pa.scalar(""), "\n")
        lines = pc.binary_join_element_wise(id_array, ended, "\t")
        ends = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset)
        body: bytes | memoryview = (memoryview(lines.buffers()[2])[ends[0]:ends[-1]]
                                    if len(lines) else b"")
        return pack([HEADER.encode("utf-8") + b"\n", body])
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    if isinstance(ids, pa.Array) and ids.nbytes < (1 << 30):
        if len(ids) > 1 and not pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py():
            ids = ids.take(pc.array_sort_indices(ids))
        offsets = pa.array([0, len(ids)], pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, ids.cast(pa.string())), "\n")
        body = memoryview(joined[0].as_buffer())
    else:
        body = "\n".join(sorted(set(ids))).encode("utf-8")
    return pack([HEADER_V1.encode("utf-8") + b"\n", body, b"\n" if len(body) else b""])


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


def _zstd(parts: list[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """zstd (one frame, pyarrow's codec at its level 1) of the concatenated ``parts``;
    the same parts always give the same bytes."""
    out = pa.BufferOutputStream()
    with pa.CompressedOutputStream(out, "zstd") as packed:
        for part in parts:
            packed.write(part)
    yield memoryview(out.getvalue())


def repacked(raw: bytes, compression: str = "zstd") -> Iterator[bytes | memoryview]:
    """The bytes, in ``compression`` (``zstd``: a derived index; ``gzip``: a sidecar), of
    the same text as the index file ``raw``."""
    return (_zstd if compression == "zstd" else _gzip)([unpacked(raw)])


def unpacked(raw: bytes) -> bytes:
    """The text of an index file's bytes, zstd or gzip (by its first bytes); raises
    OSError, EOFError or zlib.error if they are cut short or damaged."""
    if raw[:4] == ZSTD_MAGIC:
        return pa.CompressedInputStream(pa.BufferReader(raw), "zstd").read()
    return gzip.decompress(raw)


def _sidecar_lines(path: Path) -> list[str]:
    try:
        text = unpacked(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a tokenbooks event-id index ({exc})") from exc
    lines = text.split("\n")
    if lines[0] not in HEADERS:
        raise ValueError(f"{path}:1: expected the header {HEADER!r} (or {HEADER_V1!r}), "
                         f"got {lines[0][:40]!r}")
    return [line for line in lines[1:] if line]


def read_sidecar(path: Path) -> list[str]:
    """The ids of a sidecar, v1 or v2 (raises ValueError naming the file if it is not
    one)."""
    return [line.partition("\t")[0] for line in _sidecar_lines(path)]


def read_sidecar_content(path: Path) -> dict[str, str | None]:
    """Each id of a sidecar with its content hash (None: not known, a v1 sidecar)."""
    out: dict[str, str | None] = {}
    for line in _sidecar_lines(path):
        event, tab, digest = line.partition("\t")
        out[event] = digest if tab else None
    return out


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
        self._sidecars: dict[str, list[Path]] = {}  # every sidecar of a month
        self._remembered: dict[str, list[tuple[pa.Array, pa.Array]]] = {}
        self._content: dict[str, dict[str, str | None]] = {}
        self.unindexed: dict[str, set[str]] = {}  # sha256 of a source -> months booked
        # from it in files without a sidecar (the beangulp path)
        self.resolved: set[str] = set()  # of those, the sources whose ids are known now
        self.stale: set[str] = set()  # import files whose derived index is missing or
        # does not match their fingerprint (``scripts.rebuild_index`` rebuilds them)

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
        self._sidecars.setdefault(month, []).append(path)
        content = self._content.get(month)
        if content is not None:
            content.update(read_sidecar_content(path))
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
            found = index_file(filename)  # a sidecar, or a verified derived index
            if found is not None:
                self.add_sidecar(month, found)
                continue
            if declared_fingerprint(filename) is not None:
                self.stale.add(str(filename))  # ``tokenbooks import`` rebuilds it first
            if isinstance(entry.meta.get("sha256"), str):  # booked by beangulp or Fava
                # (no index), or a derived index missing: the importers re-read the
                # source (``base.UsageImporter``)
                self.unindexed.setdefault(entry.meta["sha256"], set()).add(month)

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

    # -- content hashes (conflicts: the same id, another event) ------------------------

    def remember(self, month: str, ids: pa.Array, hashes: pa.Array) -> None:
        """Remember the content hashes of ids booked in this run (aligned arrays)."""
        content = self._content.get(month)
        if content is not None:
            content.update(zip(ids.to_pylist(), hashes.to_pylist(), strict=True))
        else:
            self._remembered.setdefault(month, []).append((ids, hashes))

    def forget(self, month: str, ids: pa.Array) -> None:
        """Forget the content hashes of ``ids`` (a core rolled back)."""
        gone = set(ids.to_pylist())
        content = self._content.get(month)
        if content is not None:
            for event in gone:
                content.pop(event, None)
        kept = []
        for known, hashes in self._remembered.get(month, []):
            mask = pc.invert(pc.is_in(known, value_set=pa.array(sorted(gone), pa.string())))
            kept.append((known.filter(mask), hashes.filter(mask)))
        if month in self._remembered:
            self._remembered[month] = kept

    def content(self, month: str) -> dict[str, str | None]:
        """Each known id of ``month`` with its content hash (None: not known), built on
        first use (only a month where an id came back needs it)."""
        content = self._content.get(month)
        if content is None:
            content = {}
            for path in sorted(self._sidecars.get(month, ())):
                content.update(read_sidecar_content(path))
            for ids, hashes in self._remembered.pop(month, ()):
                content.update(zip(ids.to_pylist(), hashes.to_pylist(), strict=True))
            self._content[month] = content
        return content


# -- the derived index (outside the tracked book), verified by a fingerprint -----------

FINGERPRINT_LINE = "; event index: "  # the header line of an import file that records it
DERIVED_FOLDER = (".tokenbooks", "index")  # under the book's folder, git-ignored
_FINGERPRINT_RE = re.compile(r"^; event index: (\d+) events?, ids sha256 ([0-9a-f]{64})"
                             r"(?: \(derived (v\d+)\))?\s*$")


@dataclass(frozen=True)
class Fingerprint:
    """What an import file records of the ids of its events: how many, and the sha256
    of their UTF-8 text sorted by code point and joined by ``\\n`` (no final newline).
    Any other set of ids (one more, one fewer, one changed) has another fingerprint."""

    events: int
    sha256: str
    version: str = "v2"  # the format of the derived index file (the sidecar format)

    def line(self) -> str:
        return (f"{FINGERPRINT_LINE}{self.events} event{'' if self.events == 1 else 's'}, "
                f"ids sha256 {self.sha256} (derived {self.version})")


def sorted_ids(ids: pa.Array | pa.ChunkedArray | Iterable[str],
               hashes: Sequence[pa.Array] | None = None) -> tuple[pa.Array, pa.Array | None]:
    """``ids`` as one string array sorted by code point (UTF-8 byte order), and their
    content hashes (``hashes``: arrays aligned with them, or None) in the same order."""
    array = _array(ids).cast(pa.string())
    aligned = None
    if hashes is not None:
        aligned = (pa.concat_arrays(list(hashes)).cast(pa.string()) if len(hashes)
                   else pa.array([], pa.string()))
        if len(aligned) != len(array):
            raise ValueError(f"{len(array)} ids but {len(aligned)} content hashes")
    if len(array) > 1 and not pc.all(pc.less_equal(array[:-1], array[1:])).as_py():
        order = pc.array_sort_indices(array)
        array = array.take(order)
        aligned = aligned.take(order) if aligned is not None else None
    return array, aligned


def fingerprint(ids: pa.Array | pa.ChunkedArray | Iterable[str]) -> Fingerprint:
    """The fingerprint of a set of ids (each once: ``EventIndex.claim`` sees to it).

    >>> fingerprint(["b", "a"]) == Fingerprint(2, hashlib.sha256(b"a\\nb").hexdigest())
    True
    """
    array, _ = sorted_ids(ids)
    digest = hashlib.sha256()
    if len(array):
        offsets = pa.array([0, len(array)], pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, array), "\n")
        digest.update(memoryview(joined[0].as_buffer()))
    return Fingerprint(len(array), digest.hexdigest())


def derived_path(import_file: str | Path, suffix: str = DERIVED_SUFFIX) -> Path:
    """Where the derived index of an import file is written: ``<book>/.tokenbooks/index/``
    (``imports/`` is always a folder of the book's folder); ``suffix`` ``.events.gz``:
    where versions before the zstd cache wrote it (``derived_files``)."""
    path = Path(import_file)
    return path.parent.parent.joinpath(*DERIVED_FOLDER, path.name.removesuffix(".beancount")
                                       + suffix)


def derived_files(import_file: str | Path) -> tuple[Path, Path]:
    """The derived index files an import file may have, in the order they are trusted:
    the zstd one this version writes, then the gzip one of earlier versions."""
    return derived_path(import_file), derived_path(import_file, SIDECAR_SUFFIX)


def verified_derived(import_file: str | Path, expected: Fingerprint) -> Path | None:
    """The derived index file of ``import_file`` whose ids have the fingerprint
    ``expected`` (``verified``), if one has."""
    for path in derived_files(import_file):
        if verified(path, expected):
            return path
    return None


def declared_fingerprint(import_file: str | Path) -> Fingerprint | None:
    """The fingerprint an import file records in its header, if any."""
    try:
        with open(import_file, encoding="utf-8", errors="replace") as handle:
            head = [handle.readline() for _ in range(8)]
    except OSError:
        return None
    for line in head:
        found = _FINGERPRINT_RE.match(line)
        if found:
            return Fingerprint(int(found.group(1)), found.group(2), found.group(3) or "v2")
    return None


def verified(path: Path, expected: Fingerprint) -> bool:
    """Whether ``path`` is an index file whose ids have the fingerprint ``expected``
    (False if it is missing, cut short, not an index, or holds other ids)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if _VERIFIED.get(key) == expected:  # read and checked already in this process
        return True
    try:
        text = unpacked(path.read_bytes())
    except (OSError, EOFError, zlib.error):
        return False
    header, _, body = text.partition(b"\n")
    if header.decode("utf-8", "replace") not in HEADERS:
        return False
    # The ids are the lines without their content hashes: their bytes, in the file's
    # order, hash to the fingerprint only if they are the sorted set it was made of.
    if body and not body.endswith(b"\n"):
        return False
    lines = pc.split_pattern(pa.array([body[:-1]], pa.large_binary()), b"\n")
    lines = lines.flatten() if body else pa.array([], pa.large_binary())
    ids = pc.list_element(pc.split_pattern(lines, b"\t", max_splits=1), 0)
    if len(ids) != expected.events:
        return False
    digest = hashlib.sha256()
    if len(ids):
        offsets = pa.array([0, len(ids)], pa.int64())
        joined = pc.binary_join(pa.LargeListArray.from_arrays(offsets, ids),
                                pa.scalar(b"\n", pa.large_binary()))
        digest.update(memoryview(joined[0].as_buffer()))
    if digest.hexdigest() != expected.sha256:
        return False
    _VERIFIED[key] = expected
    return True


_VERIFIED: dict[tuple[str, int, int, int], Fingerprint] = {}  # (path, size, mtime, inode)


def index_file(import_file: str | Path) -> Path | None:
    """The event-id index of an import file as it can be trusted now: its sidecar in the
    book (older books), or its derived index if that matches the file's fingerprint;
    None otherwise (no index: an unfinished write, or a derived index to rebuild)."""
    sidecar = sidecar_for(import_file)
    if sidecar.exists():
        return sidecar
    expected = declared_fingerprint(import_file)
    if expected is None:
        return None
    return verified_derived(import_file, expected)
