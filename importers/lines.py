"""Line-oriented usage files read in big chunks by pyarrow, line by line only at fault.

``LinesImporter`` reads a file in chunks of whole lines (16 MiB), hashing them as it
goes, and gives each chunk to ``read_chunk`` (pyarrow, in parallel blocks). A chunk
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

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from .base import Progress, UsageImporter
from .usage import RowProblem, UsageCore

CHUNK_BYTES = 16 << 20
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
           quote: bytes | None = None) -> Iterator[memoryview]:
    """The file from byte ``start`` in pieces of about ``size`` bytes, each ending at a
    line end (no copy); with ``quote``, at a line end outside quotes where there is one."""
    with open(path, "rb") as handle:
        handle.seek(start)
        while block := handle.read(size):
            cut = block.rfind(b"\n") + 1
            if quote is not None and 0 < cut < len(block):
                cut = balanced_cut(block, cut, quote)
            if 0 < cut < len(block):
                handle.seek(cut - len(block), 1)
            elif cut == 0 and len(block) == size:  # a line longer than a chunk
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


def line_count(piece: memoryview) -> int:
    whole: bytes = piece.obj  # type: ignore[assignment]  # the block chunks() read
    ends = whole.count(b"\n", 0, len(piece))
    return ends + (0 if ends and piece[-1] == 10 else 1)


class LinesImporter(UsageImporter):
    """Base of the importers of line-oriented files (JSON Lines, CSV)."""

    quote: bytes | None = None  # records may span lines inside this quote (CSV)

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
        prepared = False
        with open(path, "rb") as handle:
            core.digest.update(handle.read(offset))
        with ThreadPoolExecutor(1) as hasher:  # hashlib lets go of the GIL: hash meanwhile
            hashed = None
            for chunk in chunks(path, offset, quote=self.quote):
                if hashed is not None:
                    hashed.result()
                hashed = hasher.submit(core.digest.update, chunk)
                if not prepared:
                    whole: bytes = chunk.obj  # type: ignore[assignment]  # (chunks())
                    self.prepare(bytes(whole[:whole.find(b"\n")]))
                    prepared = True
                count = line_count(chunk)
                self._feed_piece(core, chunk, line, count)
                line += count
                progress.update(len(chunk))
            if hashed is not None:
                hashed.result()
        core.hashed = True

    def _feed_piece(self, core: UsageCore, piece: memoryview | bytes, first_line: int,
                    count: int, lines: list[bytes] | None = None) -> None:
        """Parse ``piece`` (``count`` whole lines from ``first_line``), or split it."""
        try:
            table = self.read_chunk(piece)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            table = None
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
