"""Canonical usage events as JSON Lines (one event object per line; DESIGN.md).

    {"event_id": "evt-1", "timestamp": "2026-01-05T10:00:00Z", "customer": "acme",
     "model": "gpt-4o", "feature": "chat", "input_tokens": 1200, "output_tokens": 300}

Chunks of the file are parsed by ``pyarrow.json.read_json`` with the canonical schema
(see ``lines``); a line it rejects is parsed by ``json`` and quarantined with why.

    importer = Importer("contracts/")
    entries = importer.extract("usage-2026-01.jsonl", existing=[])
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.json as pj

from .lines import BLOCK_BYTES, LinesImporter
from .usage import COUNT_FIELDS, TEXT_FIELDS, RowProblem

REQUIRED = ("event_id", "timestamp", "customer")
SNIFF_LINES = 20


def schema(timestamp: pa.DataType | None = None) -> pa.Schema:
    fields = [(name, pa.string()) for name in TEXT_FIELDS]
    fields += [(name, pa.int64()) for name in COUNT_FIELDS]
    # a text "true" fails the chunk: read by line (``usage.flag``)
    fields += [("cache_hit", pa.bool_()), ("unbilled", pa.bool_())]
    return pa.schema([*fields, ("timestamp", timestamp or pa.string())])


def timestamp_type(line: bytes) -> pa.DataType:
    """The type to read ``timestamp`` as, from the first event: text or a number."""
    try:
        value = json.loads(line).get("timestamp")
    except (ValueError, AttributeError):
        return pa.string()
    if isinstance(value, int) and not isinstance(value, bool):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def parse_line(line: bytes) -> tuple[str, dict | RowProblem]:
    """(original text, the event object or why the line is not one)."""
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    try:
        value = json.loads(line)
    except UnicodeDecodeError:
        return text, RowProblem("(line)", "expected UTF-8 text")
    except ValueError as exc:
        return text, RowProblem("(line)", f"malformed JSON: {exc}")
    if not isinstance(value, dict):
        return text, RowProblem("(line)", f"expected a JSON object, got {type(value).__name__}")
    return text, value


def sniff(head: str) -> bool:
    """Whether the start of a file is canonical usage: its first JSON object holds the
    canonical ``event_id``, ``timestamp`` and ``customer`` (another tool's JSON Lines,
    a Bedrock invocation log say, has a ``timestamp`` but none of the others). A start
    where no line parses at all is canonical if it names ``event_id`` or ``timestamp``
    (a broken canonical file: reading it says what is wrong with each line)."""
    parsed = False
    for line in head.lstrip("\ufeff").split("\n")[:SNIFF_LINES]:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed = True
            if all(name in value for name in REQUIRED):
                return True
    return not parsed and ('"event_id"' in head or '"timestamp"' in head)


class Importer(LinesImporter):
    """Canonical usage events, JSON Lines (``.jsonl``, ``.ndjson``)."""

    suffixes = (".jsonl", ".ndjson")
    format_name = "JSON Lines usage events"
    _schema = schema()

    def sniff(self, head: str) -> bool:
        return sniff(head)

    def prepare(self, first: bytes) -> None:
        self._schema = schema(timestamp_type(first))

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        return pj.read_json(
            pa.BufferReader(piece),
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pj.ParseOptions(explicit_schema=self._schema,
                                          unexpected_field_behavior="ignore"))

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        return parse_line(line)
