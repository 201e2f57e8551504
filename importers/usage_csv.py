"""Canonical usage events as CSV: a header row, then one event per row (DESIGN.md).

    event_id,timestamp,customer,model,feature,input_tokens,cached_input_tokens,output_tokens
    evt-1,2026-01-05T10:00:00Z,acme,gpt-4o,chat,1200,200,300

Columns are matched by name, in any order; unknown columns are ignored; a column named
twice in the header refuses the file (``UnreadableSource``). A UTF-8 BOM is dropped;
a header with tabs makes the file TSV (``csvtext``: by content, ``.csv`` or ``.tsv``).
Chunks of the file are parsed by ``pyarrow.csv`` (see ``lines``), every value as text,
then checked by the shared core. A quoted value may hold line breaks (a note, a
prompt): chunks are cut outside quotes, and the pieces pyarrow cannot read line by line
are read record by record by Python's ``csv`` (the row keeps the number of its first
line). A line that is not UTF-8 is quarantined with its number ("expected UTF-8 text"),
the rest of the file imported.

    importer = Importer("contracts/")
    entries = importer.extract("usage-2026-01.csv", existing=[])
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv

from .csvtext import header_of
from .lines import BLOCK_BYTES, LinesImporter, quoted_records
from .usage import RowProblem, unique_columns

REQUIRED = ("event_id", "timestamp", "customer")


def header(head: str) -> list[str]:
    return header_of(head)[0]


class Importer(LinesImporter):
    """Canonical usage events, CSV with a header (``.csv``)."""

    suffixes = (".csv", ".tsv")
    format_name = "CSV usage events"
    quote = b'"'
    _delimiter = ","

    def sniff(self, head: str) -> bool:
        return set(REQUIRED) <= set(header(head))

    def start(self, path: Path) -> tuple[int, int]:
        with open(path, "rb") as handle:
            first = handle.readline()
        names, self._delimiter = header_of(first.decode("utf-8", errors="replace"))
        self._names = unique_columns(names, path)
        return len(first), 2

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        return pv.read_csv(
            pa.BufferReader(piece),
            read_options=pv.ReadOptions(column_names=self._names,
                                        block_size=BLOCK_BYTES),
            parse_options=pv.ParseOptions(newlines_in_values=False,
                                          delimiter=self._delimiter),
            convert_options=pv.ConvertOptions(
                column_types={name: pa.string() for name in self._names}))

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return line.decode("utf-8", errors="replace"), RowProblem("(line)",
                                                                      "expected UTF-8 text")
        try:
            values = next(csv.reader([text], strict=True, delimiter=self._delimiter))
        except csv.Error as exc:
            return text, RowProblem("(line)", f"malformed CSV: {exc}")
        if len(values) != len(self._names):
            return text, RowProblem("(line)", f"expected {len(self._names)} fields, got "
                                              f"{len(values)}")
        return text, dict(zip(self._names, values, strict=True))

    def parse_records(self, lines: list[bytes], first_line: int
                      ) -> Iterator[tuple[int, str, dict | RowProblem]]:
        """The records of ``lines``: a quoted value may span lines (the record keeps the
        number of its first line); a line that is not UTF-8 is a record of its own."""
        for k, end in quoted_records(lines):
            if end == k + 1:
                yield (first_line + k, *self.parse_line(lines[k]))
            else:
                yield (first_line + k, *self._parse_record(lines[k:end]))

    def _parse_record(self, lines: list[bytes]) -> tuple[str, dict | RowProblem]:
        joined = b"\n".join(line.rstrip(b"\r") for line in lines)
        try:
            text = joined.decode("utf-8")
        except UnicodeDecodeError:
            return joined.decode("utf-8", errors="replace"), RowProblem(
                "(line)", "expected UTF-8 text")
        try:
            values = next(csv.reader([text], strict=True, delimiter=self._delimiter))
        except csv.Error as exc:
            return text, RowProblem("(line)", f"malformed CSV: {exc}")
        if len(values) != len(self._names):
            return text, RowProblem("(line)", f"expected {len(self._names)} fields, got "
                                              f"{len(values)}")
        return text, dict(zip(self._names, values, strict=True))
