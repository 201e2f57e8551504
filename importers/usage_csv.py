"""Canonical usage events as CSV: a header row, then one event per row (DESIGN.md).

    event_id,timestamp,customer,model,feature,input_tokens,cached_input_tokens,output_tokens
    evt-1,2026-01-05T10:00:00Z,acme,gpt-4o,chat,1200,200,300

Columns are matched by name, in any order; unknown columns are ignored; a column named
twice in the header refuses the file (``UnreadableSource``). Chunks of the
file are parsed by ``pyarrow.csv`` (see ``lines``), every value as text, then checked
by the shared core. One row per line: a value with a line break inside quotes is not
supported (that row is quarantined as malformed).

    importer = Importer("contracts/")
    entries = importer.extract("usage-2026-01.csv", existing=[])
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv

from .lines import BLOCK_BYTES, LinesImporter
from .usage import RowProblem, unique_columns

REQUIRED = ("event_id", "timestamp", "customer")


def header(head: str) -> list[str]:
    first = head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    return next(csv.reader([first]), [])


class Importer(LinesImporter):
    """Canonical usage events, CSV with a header (``.csv``)."""

    suffixes = (".csv",)
    format_name = "CSV usage events"

    def sniff(self, head: str) -> bool:
        return set(REQUIRED) <= set(header(head))

    def start(self, path: Path) -> tuple[int, int]:
        with open(path, "rb") as handle:
            first = handle.readline()
        self._names = unique_columns(header(first.decode("utf-8", errors="replace")), path)
        return len(first), 2

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        return pv.read_csv(
            pa.BufferReader(piece),
            read_options=pv.ReadOptions(column_names=self._names,
                                        block_size=BLOCK_BYTES),
            parse_options=pv.ParseOptions(newlines_in_values=False),
            convert_options=pv.ConvertOptions(
                column_types={name: pa.string() for name in self._names}))

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return line.decode("utf-8", errors="replace"), RowProblem("(line)",
                                                                      "expected UTF-8 text")
        try:
            values = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            return text, RowProblem("(line)", f"malformed CSV: {exc}")
        if len(values) != len(self._names):
            return text, RowProblem("(line)", f"expected {len(self._names)} fields, got "
                                              f"{len(values)}")
        return text, dict(zip(self._names, values, strict=True))
