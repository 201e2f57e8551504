"""Line-oriented usage files read in big chunks by pyarrow, line by line only at fault.

``LinesImporter`` reads a file in chunks of whole lines (16 MiB), hashing them as it
goes (a thread), and gives each chunk to ``read_chunk`` (pyarrow): a thread parses the
next chunk while this one validates, deduplicates and aggregates the one before, in
order, so the result is the one of reading them one after the other. A chunk
pyarrow rejects (a malformed line, a value of the wrong type) is split in halves until
the lines at fault are parsed one by one by ``parse_line`` and quarantined with their
reason; the rest of the chunk still goes through pyarrow. Blank lines are skipped.
A format whose records may span lines (CSV's quoted line breaks) sets ``quote``: chunks
and halves are then cut only where the quotes before the cut are balanced, and
``parse_records`` groups the lines of a piece into records.

    class Importer(LinesImporter):
        def read_chunk(self, piece: memoryview) -> pa.Table: ...      # may raise
        def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]: ...
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from .base import Progress, UsageImporter
from .usage import RowProblem, UsageCore

CHUNK_BYTES = 16 << 20
FIRST_CHUNK_BYTES = 1 << 20  # the first chunk, then twice the one before, up to
# CHUNK_BYTES: the first is parsed while nothing else can be done, so it is small
BLOCK_BYTES = 1 << 20  # pyarrow parses the blocks of a chunk in parallel; a longer line
# fails its chunk, which then goes line by line
SMALLEST_PIECE = 64  # lines: below this a failing piece is parsed line by line


def balanced_cut(block: bytes, cut: int, quote: bytes) -> int:
    """The last line end at or before ``cut`` with an even number of ``quote`` bytes
    before it (not inside a quoted value), or ``cut`` if there is none."""
    at = cut
    while at > 0 and block.count(quote, 0, at) % 2:
        at = block.rfind(b"\n", 0, at - 1) + 1
    return at if at > 0 else cut


def chunks(path: Path, start: int = 0, size: int = CHUNK_BYTES,
           quote: bytes | None = None, first: int = FIRST_CHUNK_BYTES
           ) -> Iterator[memoryview]:
    """The file from byte ``start`` in pieces of about ``first`` bytes, then twice the
    one before up to ``size``, each ending at a line end (no copy); with ``quote``, at a
    line end outside quotes where there is one."""
    want = min(first, size)
    with open(path, "rb") as handle:
        handle.seek(start)
        while block := handle.read(want):
            size_read, want = want, min(size, 2 * want)
            cut = block.rfind(b"\n") + 1
            if quote is not None and 0 < cut < len(block):
                cut = balanced_cut(block, cut, quote)
            if 0 < cut < len(block):
                handle.seek(cut - len(block), 1)
            elif cut == 0 and len(block) == size_read:  # a line longer than a chunk
                block += handle.readline()
                cut = len(block)
            else:
                cut = len(block)
            yield memoryview(block)[:cut]


def quoted_records(lines: list[bytes]) -> Iterator[tuple[int, int]]:
    """(first, end) of each record of ``lines`` (CSV): a quoted value may span lines, a
    quote never closed leaves its line a record of its own (malformed), blank lines are
    no record."""
    k = 0
    while k < len(lines):
        raw = lines[k]
        if not raw.strip():
            k += 1
            continue
        end = k + 1
        if raw.count(b'"') % 2:  # an open quote: the record goes on
            odd = True
            while end < len(lines) and odd:
                odd = lines[end].count(b'"') % 2 == 0
                end += 1
            if odd:  # never closed: the line alone (malformed)
                end = k + 1
        yield k, end
        k = end


COUNT_BLOCK = 1 << 18  # bytes compared at a time by ``line_count``


def line_count(piece: memoryview | bytes) -> int:
    """The lines of ``piece`` (the last one may lack its line end). Compared a block at
    a time into one small buffer (numpy lets go of the GIL): a comparison of the whole
    chunk at once makes a 16 MiB temporary each time, whose fresh pages cost more to
    fault in than the comparison itself (0.3 s per million events, measured)."""
    octets = np.frombuffer(piece, np.uint8)
    found = np.empty(min(len(octets), COUNT_BLOCK), np.bool_)
    ends = 0
    for start in range(0, len(octets), COUNT_BLOCK):
        block = octets[start:start + COUNT_BLOCK]
        out = found[:len(block)]
        np.equal(block, 10, out=out)
        ends += int(np.count_nonzero(out))
    return ends + (0 if ends and piece[-1] == 10 else 1)


def _load_pandas() -> None:
    """Import pandas, which pyarrow loads at the first ``pa.array`` (a quarter of a
    second), while the first chunk is parsed."""
    try:
        importlib.import_module("pandas")
    except ImportError:  # (pyarrow does without it)
        pass


class LinesImporter(UsageImporter):
    """Base of the importers of line-oriented files (JSON Lines, CSV)."""

    quote: bytes | None = None  # records may span lines inside this quote (CSV)
    parse_threads = True  # whether ``read_chunk`` may parse a chunk's blocks in threads;
    # ``feed`` turns it off while it parses ahead (the reading is the other thread)

    def start(self, path: Path) -> tuple[int, int]:
        """(byte offset, line number) of the first data line; after a header, say."""
        return 0, 1

    def prepare(self, first: bytes) -> None:
        """Look at the first data line before reading (e.g. to choose types)."""

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        raise NotImplementedError

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        raise NotImplementedError

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        offset, line = self.start(path)
        progress.update(offset)
        with open(path, "rb") as handle:
            core.digest.update(handle.read(offset))
        # Two helpers, as pyarrow and hashlib let go of the GIL: one hashes the chunks in
        # order, the other parses the next chunk while this thread validates and
        # aggregates the one before (a format that reads its pieces its own way, an
        # overridden ``_feed_piece``, parses them there, as before).
        ahead = type(self)._feed_piece is LinesImporter._feed_piece
        threads = self.parse_threads
        self.parse_threads = threads and not ahead  # (one thread a chunk: the cores are
        try:  # this thread's and the parser's)
            self._feed_chunks(path, core, progress, offset, line, ahead)
        finally:
            self.parse_threads = threads
        core.hashed = True

    def _feed_chunks(self, path: Path, core: UsageCore, progress: Progress, offset: int,
                     line: int, ahead: bool) -> None:
        prepared = False
        with ThreadPoolExecutor(1) as hasher, ThreadPoolExecutor(1) as parser:
            if ahead:  # (before the first hash: the hasher is idle until then)
                hasher.submit(_load_pandas)
            hashed = None
            waiting: tuple[memoryview, int, Future | int] | None = None
            for chunk in chunks(path, offset, quote=self.quote):
                if not prepared:
                    whole: bytes = chunk.obj  # type: ignore[assignment]  # (chunks())
                    self.prepare(bytes(whole[:whole.find(b"\n")]))
                    prepared = True
                parsed = parser.submit(self._parse_counted, chunk) if ahead else None
                if hashed is not None:
                    hashed.result()
                hashed = hasher.submit(core.digest.update, chunk)
                if waiting is not None:
                    line += self._feed_parsed(core, progress, *waiting)
                waiting = (chunk, line, parsed if parsed is not None else line_count(chunk))
            if waiting is not None:
                self._feed_parsed(core, progress, *waiting)
            if hashed is not None:
                hashed.result()

    def _feed_parsed(self, core: UsageCore, progress: Progress, chunk: memoryview,
                     line: int, parsed: Future | int) -> int:
        """Feed a chunk parsed meanwhile (``parsed``: its line count and table), or parse
        it now (``parsed``: its line count); its line count. A parse that fails
        otherwise than on the data (a read error, say) raises here, in order."""
        if isinstance(parsed, int):
            self._feed_piece(core, chunk, line, parsed)
            count = parsed
        else:
            count, table = parsed.result()
            self._feed_read(core, chunk, line, count, None, table)
        progress.update(len(chunk))
        return count

    def _parse_counted(self, piece: memoryview) -> tuple[int, pa.Table | None]:
        """(line count, ``_parse``) of a chunk, in the parsing thread."""
        return line_count(piece), self._parse(piece)

    def _parse(self, piece: memoryview | bytes) -> pa.Table | None:
        """``read_chunk``, None where pyarrow rejects the piece (it is then split)."""
        try:
            return self.read_chunk(piece)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None

    def _feed_piece(self, core: UsageCore, piece: memoryview | bytes, first_line: int,
                    count: int, lines: list[bytes] | None = None) -> None:
        """Parse ``piece`` (``count`` whole lines from ``first_line``), or split it."""
        self._feed_read(core, piece, first_line, count, lines, self._parse(piece))

    def _feed_read(self, core: UsageCore, piece: memoryview | bytes, first_line: int,
                   count: int, lines: list[bytes] | None, table: pa.Table | None) -> None:
        """``_feed_piece`` of a piece parsed already (``table``; None: pyarrow rejected
        it, so it is split)."""
        split: list[list[bytes]] = [lines] if lines is not None else []

        def get_lines() -> list[bytes]:
            if not split:
                parts = bytes(piece).split(b"\n")
                if parts and parts[-1] == b"":
                    parts.pop()
                split.append(parts)
            return split[0]

        if table is not None:
            if table.num_rows == count:
                rows: range | list[int] = range(count)
                numbers = pa.array(np.arange(first_line, first_line + count, dtype=np.int64))
            else:  # blank lines: map the rows to the lines that are not blank
                rows = [k for k, text in enumerate(get_lines()) if text.strip()]
                numbers = pa.array(np.asarray(rows, dtype=np.int64) + first_line)
            if len(rows) == table.num_rows:

                def original(i: int) -> str:
                    text = get_lines()[rows[i]]
                    return text.decode("utf-8", errors="replace").rstrip("\r")

                core.feed_table(table, numbers, original)
                return
        all_lines = get_lines()
        if len(all_lines) <= SMALLEST_PIECE:
            core.feed_rows(self.parse_records(all_lines, first_line))
            return
        half = self.split_at(all_lines, len(all_lines) // 2)
        for start, part in ((0, all_lines[:half]), (half, all_lines[half:])):
            self._feed_piece(core, b"\n".join(part) + b"\n", first_line + start, len(part),
                             part)

    def parse_records(self, lines: list[bytes], first_line: int
                      ) -> Iterator[tuple[int, str, dict | RowProblem]]:
        """(line, text, values) of each record of ``lines``: one per non-blank line."""
        for k, text in enumerate(lines):
            if text.strip():
                yield (first_line + k, *self.parse_line(text))

    def split_at(self, lines: list[bytes], half: int) -> int:
        """Where to cut a failing piece in two: at ``half``, or (``quote``) the nearest
        line before which the quotes are balanced."""
        if self.quote is None:
            return half
        odd, balanced = False, []
        for k, text in enumerate(lines):
            if not odd:
                balanced.append(k)
            if text.count(self.quote) % 2:
                odd = not odd
        fits = [k for k in balanced if 0 < k < len(lines)]
        return min(fits, key=lambda k: abs(k - half)) if fits else half
