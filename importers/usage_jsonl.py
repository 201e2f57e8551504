"""Canonical usage events as JSON Lines (one event object per line; DESIGN.md).

    {"event_id": "evt-1", "timestamp": "2026-01-05T10:00:00Z", "customer": "acme",
     "model": "gpt-4o", "feature": "chat", "input_tokens": 1200, "output_tokens": 300}

Chunks of the file are parsed by ``pyarrow.json.read_json`` with the canonical schema
(see ``lines``); a line it rejects is parsed by ``json`` and quarantined with why. A
file whose first line holds canonical fields only is read with those fields alone
(``narrow_schema``, a third faster), and with all of them from the first line that
has another.

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


UNEXPECTED = "unexpected field"  # pyarrow's error for a key outside the schema


def narrow_schema(full: pa.Schema, first: bytes) -> pa.Schema | None:
    """The fields of ``full`` the first line has, if it has no other key (else None).

    pyarrow reads a chunk about a third faster with only the fields its lines hold
    than with all of the canonical ones (the absent ones are columns of nulls to build)
    and ``ignore`` for other keys. A chunk read with this schema and other keys an
    error is the table read with ``full``, less the columns of fields no line of it
    has, which the core takes as missing, the same as nulls (``UsageCore.validate``).

    >>> narrow_schema(schema(), b'{"event_id": "e1", "timestamp": "..."}').names
    ['event_id', 'timestamp']
    """
    try:
        keys = json.loads(first)
    except ValueError:
        return None
    if not isinstance(keys, dict) or not set(keys) <= set(full.names):
        return None
    return pa.schema([f for f in full if f.name in keys])


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
    _narrow: pa.Schema | None = None

    def sniff(self, head: str) -> bool:
        return sniff(head)

    def prepare(self, first: bytes) -> None:
        self._schema = schema(timestamp_type(first))
        self._narrow = narrow_schema(self._schema, first)

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        narrow = self._narrow
        if narrow is not None:  # the fields of the first line, and no other (see
            # ``narrow_schema``): the same table but for the columns no line has
            try:
                return pj.read_json(
                    pa.BufferReader(piece),
                    read_options=pj.ReadOptions(block_size=BLOCK_BYTES,
                                                 use_threads=self.parse_threads),
                    parse_options=pj.ParseOptions(explicit_schema=narrow,
                                                  unexpected_field_behavior="error"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                if UNEXPECTED in str(exc):  # a line with another field: every field
                    self._narrow = None  # from now on (a value of another type: this
                    # piece only, read as before)
        return pj.read_json(
            pa.BufferReader(piece),
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES, use_threads=self.parse_threads),
            parse_options=pj.ParseOptions(explicit_schema=self._schema,
                                          unexpected_field_behavior="ignore"))

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        return parse_line(line)
