"""What the importers of other tools' usage exports share: records in, canonical events out.

A foreign usage format (a gateway's log, an observability tool's export, a provider's
usage report) is read as *records*: the objects at a place in a JSON document (a list,
``data``, the ``results`` of each bucket), the lines of a JSON Lines file (gzip'ed or
not), or the rows of a CSV/TSV file. Each record is mapped by its module to a canonical
event (DESIGN.md's fields), which then goes through what canonical usage goes through
(``usage.UsageCore``: validation, quarantine, dedupe against the event-id index,
aggregation, provenance). A subclass says where its records are, what one looks like
and how it maps:

    class Importer(ForeignUsageImporter):
        format_name = "Helicone request export"
        settings_name = "helicone"
        shapes = ("json", "jsonl")
        paths = (("data", "*"), ("*",))
        required = ("request_id", "request_created_at", "model", "provider")
        customer_keys = ("properties.customer", "request_user_id")
        def event(self, record): return {"event_id": ..., "timestamp": ..., ...}

    importer = Importer("contracts/", customers={"cust_00017": "acme"})
    entries = importer.extract("helicone.json", existing=[])

Identification is by content only: the file's shape (JSON document, JSON Lines, CSV),
then the first records must hold every ``required`` field (``looks_like``); the
extension is never enough. ``requires(filepath)`` says which required fields the file
lacks (``tokenbooks import`` shows it for the closest format when nothing recognizes a
file; see ``diagnose``).

The customer of a record is found through ``customer_keys`` (dotted paths; the
``customer_from`` setting replaces them): the first value that is a customer of the
contracts or a key of ``customers`` (the mapping of importers.yaml) wins; else the first
value found, which the core quarantines as an unknown customer; none at all is
quarantined naming the paths tried.

The line of a record is its line in the file (a JSON document's records are located
while they are decoded), so a quarantined record names its line; its content is the
record as JSON. A record ``event`` maps to None carries no usage (a day without
traffic, a span without tokens): it is skipped and not counted as read.
"""

from __future__ import annotations

import csv
import datetime
import functools
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import ContractSet, Customer

from .base import Progress, UsageImporter, per_user_limits
from .index import EventIndex
from .usage import (
    MAX_COUNT,
    TEXT_FIELDS,
    TOKEN_FIELDS,
    RowProblem,
    UnreadableSource,
    UsageCore,
    class_columns,
    unique_columns,
    whole,
)

BATCH = 8192
HEAD_CHARS = 1 << 20  # what identification reads of a file (a record larger: not sampled)
SAMPLE_RECORDS = 20
GZIP_MAGIC = b"\x1f\x8b"
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_NO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$")
Path_ = tuple[str, ...]  # a place in a JSON document: keys, "*" for each element
MISSING = object()


# -- reading text: plain or gzip'ed ------------------------------------------------------------


def open_bytes(path: str | os.PathLike) -> io.BufferedIOBase:
    """The file's bytes, gunzipped if it is gzip (S3 deliveries of Bedrock logs are)."""
    handle = open(path, "rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb")
    handle.seek(0)
    return handle


@functools.lru_cache(maxsize=64)
def _head(path: str, size: int, mtime: int) -> str | None:
    try:
        with open_bytes(path) as handle:
            raw = handle.read(HEAD_CHARS)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 4:
            return None
        text = raw[:exc.start].decode("utf-8")
    return text.lstrip("\ufeff")


def head(path: str | os.PathLike) -> str | None:
    """The start of a text file (1 MiB, gunzipped), or None if it is not UTF-8 text."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _head(str(path), stat.st_size, stat.st_mtime_ns)


# -- JSON documents: the records at a path, with their offsets ------------------------------------


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def _scan(text: str, i: int, steps: Path_, depth: int, context: dict[str, Any]
          ) -> Generator[tuple[int, Any, dict[str, Any]], None, int]:
    """Yield (offset, value, context) of each value at ``steps`` from the value at ``i``;
    return the offset after that value. ``context`` holds the scalar fields of the
    enclosing objects (a bucket's ``start_time``, wherever it stands in the bucket)."""
    i = _ws(text, i)
    if not steps:
        value, end = _DECODER.raw_decode(text, i)
        yield i, value, context
        return end
    step, rest = steps[0], steps[1:]
    char = text[i:i + 1]
    if step == "*" and char == "[":
        i = _ws(text, i + 1)
        if text[i:i + 1] == "]":
            return i + 1
        while True:
            i = yield from _scan(text, i, rest, depth + 1, context)
            i = _ws(text, i)
            char = text[i:i + 1]
            if char == ",":
                i += 1
                continue
            if char == "]":
                return i + 1
            raise ValueError(f"expected ',' or ']' at character {i}")
    if step != "*" and char == "{":
        own = dict(context)
        held: list[tuple[int, Any, dict[str, Any]]] | None = [] if depth else None
        i = _ws(text, i + 1)
        if text[i:i + 1] == "}":
            return i + 1
        while True:
            if text[i:i + 1] != '"':
                raise ValueError(f"expected a key at character {i}")
            key, i = scanstring(text, i + 1)
            i = _ws(text, i)
            if text[i:i + 1] != ":":
                raise ValueError(f"expected ':' at character {i}")
            i = _ws(text, i + 1)
            if key == step:
                inner = _scan(text, i, rest, depth + 1, own)
                if held is None:
                    i = yield from inner
                else:
                    while True:
                        try:
                            held.append(next(inner))
                        except StopIteration as stop:
                            i = stop.value
                            break
            else:
                value, i = _DECODER.raw_decode(text, i)
                if not isinstance(value, (dict, list)):
                    own[key] = value
            i = _ws(text, i)
            char = text[i:i + 1]
            if char == ",":
                i = _ws(text, i + 1)
                continue
            if char == "}":
                if held:
                    yield from held
                return i + 1
            raise ValueError(f"expected ',' or '}}' at character {i}")
    _, end = _DECODER.raw_decode(text, i)  # not the shape the path says: nothing here
    return end


def scan(text: str, path: Path_) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    """The values at ``path`` of the JSON document ``text``, in order, with their offset
    and context (raises ValueError at the first malformed character)."""
    gen = _scan(text, 0, path, 0, {})
    yield from gen


def sample_scan(text: str, path: Path_, limit: int = SAMPLE_RECORDS
                ) -> list[tuple[int, Any, dict[str, Any]]]:
    """The first values at ``path`` of the start of a document (cut anywhere)."""
    out = []
    try:
        for item in scan(text, path):
            out.append(item)
            if len(out) >= limit:
                break
    except (ValueError, IndexError):
        pass
    return out


# -- field paths, ids, times ------------------------------------------------------------------


def dig(record: Any, path: str, default: Any = None) -> Any:
    """``record["a"]["b"]`` for ``"a.b"`` (a key holding the whole path, such as a CSV
    column ``amount.value``, wins); ``default`` if any step is missing or null."""
    if type(record) is dict:  # what JSON and CSV give: no ABC check (the hot path)
        value = record.get(path, MISSING)
        if value is not MISSING:
            return default if value is None else value
        if "." not in path:
            return default
    elif isinstance(record, Mapping) and path in record:
        value = record[path]
        return default if value is None else value
    value = record
    for part in path.split("."):
        if type(value) is not dict and not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
        if value is None:
            return default
    return value


def has(record: Any, path: str) -> bool:
    if isinstance(record, Mapping) and path in record:
        return True
    return dig(record, path, MISSING) is not MISSING or _present_null(record, path)


def _present_null(record: Any, path: str) -> bool:
    parent, _, last = path.rpartition(".")
    holder = dig(record, parent) if parent else record
    return isinstance(holder, Mapping) and last in holder


def derived_id(prefix: str, start: datetime.datetime, parts: Sequence[Any]) -> str:
    """A deterministic event id for a record that has none: the format, the bucket's
    start (UTC, to the minute) and 16 hex digits of the sha256 of its natural key (the
    bucket and its group-by fields, joined by U+001F; a null is empty). The same bucket
    exported again gets the same id (a duplicate); its counts are not part of it."""
    key = "\x1f".join("" if p is None else str(p) for p in parts)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{start.astimezone(datetime.UTC):%Y%m%dT%H%M}-{digest}"


def utc_stamp(value: Any, field: str) -> str:
    """A timestamp as the core reads it: RFC 3339 text as is (UTC assumed without an
    offset, as gateways store it), Unix seconds (int or float) as RFC 3339 UTC."""
    if type(value) is str and value[-1:] == "Z" and "T" in value:
        return value  # RFC 3339 UTC as logged (the hot path; the core checks it)
    if isinstance(value, bool) or value is None or value == "":
        raise RowProblem(field, "is required but missing" if value in (None, "")
                         else f"expected a time, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RowProblem(field, f"expected Unix seconds, got {value!r}") from exc
        return moment.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):
        raise RowProblem(field, f"expected an RFC 3339 time, got {value!r}")
    text = value.strip()
    if _NO_OFFSET.match(text):
        return text.replace(" ", "T") + "Z"
    if re.match(r"^\d+(\.\d+)?$", text):
        return utc_stamp(float(text) if "." in text else int(text), field)
    return text


def moment(value: Any, field: str) -> datetime.datetime:
    """A bucket start (RFC 3339 or Unix seconds) as an aware datetime (RowProblem if not)."""
    text = utc_stamp(value, field)
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise RowProblem(field, f"expected RFC 3339 with an offset or Unix seconds, got "
                                f"{value!r}")
    return parsed


def count(record: Any, *paths: str) -> int:
    """The sum of the counts at ``paths`` (missing or null is 0), each a whole number;
    RowProblem naming the source field otherwise (CSV exports write ``212.0``)."""
    total = 0
    for path in paths:
        value = dig(record, path)
        if type(value) is int and 0 <= value <= MAX_COUNT:  # the hot path
            total += value
        elif value is not None and value != "":
            total += whole(value, path)
    return total


def text(record: Any, *paths: str) -> str:
    """The first non-empty value of ``paths`` as text ("" if none)."""
    for path in paths:
        value = dig(record, path)
        if type(value) is str:
            if value:
                return value
            continue
        if value is not None:
            if isinstance(value, (dict, list, bool)):
                raise RowProblem(path, f"expected text, got {json.dumps(value)[:60]}")
            return str(value)
    return ""


# -- what a file holds, for identification -----------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The shape of a file and its first records (or its CSV header)."""

    shape: str  # "json" | "jsonl" | "csv"
    head: str
    header: tuple[str, ...] = ()
    lines: tuple[Any, ...] = ()  # JSON Lines: the first parsed objects


def delimiter(first_line: str) -> str:
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


@functools.lru_cache(maxsize=64)
def _sample(path: str, size: int, mtime: int) -> Sample | None:
    start = _head(path, size, mtime)
    if start is None or not start.strip():
        return None
    stripped = start.lstrip()
    if stripped[:1] in "{[":
        first, _, rest = stripped.partition("\n")
        objects = []
        try:
            objects.append(json.loads(first))
            is_lines = isinstance(objects[0], dict) and bool(rest.strip())
        except ValueError:
            is_lines = False
        if is_lines:
            for line in rest.split("\n")[:SAMPLE_RECORDS]:
                try:
                    objects.append(json.loads(line))
                except ValueError:
                    continue
            return Sample("jsonl", start, lines=tuple(o for o in objects
                                                      if isinstance(o, dict)))
        return Sample("json", stripped)
    first = start.split("\n", 1)[0].rstrip("\r")
    try:
        names = next(csv.reader([first], delimiter=delimiter(first)))
    except (csv.Error, StopIteration):
        return None
    return Sample("csv", start, header=tuple(n.strip() for n in names))


def sample(path: str | os.PathLike) -> Sample | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _sample(str(path), stat.st_size, stat.st_mtime_ns)


# -- the importer ---------------------------------------------------------------------------------


class ForeignUsageImporter(UsageImporter):
    """Base of the importers of other tools' usage formats (see the module doc)."""

    format_name = "usage export"
    settings_name = ""
    shapes: tuple[str, ...] = ("json", "jsonl")
    paths: tuple[Path_, ...] = (("data", "*"), ("*",))  # where a document's records are
    required: tuple[str, ...] = ()  # fields every record holds (dotted paths)
    customer_keys: tuple[str, ...] = ()
    merge_context = False  # records inherit their bucket's scalar fields
    fast = True  # read column-wise where the format can (``fastpath``); False: per record
    fast_fields: dict[str, pa.DataType] = {}  # what ``fast_columns`` reads (dotted paths)

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 per_user: Callable[[Customer], bool] = per_user_limits,
                 index: EventIndex | None = None, account: str = accounts.REVENUE_USAGE,
                 customers: Mapping[str, str] | None = None,
                 customer_from: Sequence[str] | None = None) -> None:
        super().__init__(contracts, per_user, index, account)
        self.customers = {str(k): str(v) for k, v in (customers or {}).items()}
        self.customer_from = tuple(customer_from) if customer_from else self.customer_keys
        self._known = set(self.contracts.customers) | set(self.customers)
        self._renames_paths = type(self).names_for is not ForeignUsageImporter.names_for

    # -- what a subclass provides --------------------------------------------------------------

    def event(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """The canonical event of one record (None: no usage in it); raises RowProblem."""
        raise NotImplementedError

    def looks_like(self, record: Any) -> bool:
        """Whether one record is of this format (by default: it holds every required field)."""
        return isinstance(record, Mapping) and all(has(record, f) for f in self.required)

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        """``event`` column-wise (see ``fastpath``): the canonical columns of the records
        of ``table`` and the rows that carry no usage (None: none), appending to ``ok``
        masks of the rows it vouches for; the other rows go through ``event``."""
        raise NotImplementedError

    def fast_paths(self) -> dict[str, pa.DataType]:
        paths = dict(self.fast_fields)
        for path in self.customer_from:
            paths.setdefault(path, pa.string())
        return paths

    def fast_schema(self) -> pa.Schema | None:
        if not self.fast or not self.fast_fields:
            return None
        from .fastpath import build_schema
        return build_schema(self.fast_paths())

    def resolve(self, path: str, value: str) -> str | None:
        """The customer a key's value names (as ``customer`` finds it), or None."""
        if value in self._known and not self._renames_paths:
            return self.customers.get(value, value)
        for name in self.names_for(path, value):
            if name in self._known:
                return self.customers.get(name, name)
        return None

    def names_for(self, path: str, value: str) -> list[str]:
        """The names a customer key's value may be mapped by (Bedrock: the ARN, then the
        role or user name)."""
        return [value]

    # -- the customer --------------------------------------------------------------------------

    def customer(self, record: Mapping[str, Any]) -> str:
        first = None
        for path in self.customer_from:
            value = dig(record, path)
            if value is None or value == "" or isinstance(value, (dict, list, bool)):
                continue
            if type(value) is str and value in self._known and not self._renames_paths:
                return self.customers.get(value, value)
            for name in self.names_for(path, str(value)):
                if name in self._known:
                    return self.customers.get(name, name)
            if first is None:
                first = str(value)
        if first is None:
            raise RowProblem("customer", "expected a customer key in one of: "
                             f"{', '.join(self.customer_from)} (or name the field with "
                             f"{self.settings_name}.customer_from in importers.yaml)")
        return first

    # -- identification ------------------------------------------------------------------------

    def records_in(self, found: Sample) -> list[Any]:
        """The first records of a sampled file (for ``looks_like`` and ``requires``)."""
        if found.shape == "jsonl":
            return list(found.lines)
        if found.shape == "csv":
            return [dict.fromkeys(found.header, "")]
        for path in self._doc_paths(found.head):
            items = sample_scan(found.head, path)
            if items:
                return [self._record(value, context) for _, value, context in items]
        return []

    def _doc_paths(self, text_: str) -> tuple[Path_, ...]:
        top_list = text_.lstrip()[:1] == "["
        return tuple(p for p in self.paths if (p[:1] == ("*",)) == top_list)

    def identify(self, filepath: str) -> bool:
        found = sample(filepath)
        if found is None or found.shape not in self.shapes:
            return False
        records = self.records_in(found)
        return bool(records) and self.looks_like(records[0])

    def requires(self, filepath: str) -> tuple[list[str], list[str]] | None:
        """(required fields the file lacks, those it has) for its closest record; None if
        the file is not of a shape this format comes in."""
        found = sample(filepath)
        if found is None or found.shape not in self.shapes:
            return None
        best: tuple[list[str], list[str]] | None = None
        for record in self.records_in(found)[:SAMPLE_RECORDS] or [{}]:
            missing = [f for f in self.required if not has(record, f)]
            if best is None or len(missing) < len(best[0]):
                best = (missing, [f for f in self.required if f not in missing])
        return best

    # -- reading -------------------------------------------------------------------------------

    def _record(self, value: Any, context: dict[str, Any]) -> Any:
        if self.merge_context and isinstance(value, dict):
            return {**context, **value}
        return value

    def _rows(self, path: Path, progress: Progress
              ) -> Iterator[tuple[int, Callable[[], str], Any]]:
        """(line, its original text, record or RowProblem) of every record of the file."""
        found = sample(path)
        shape = found.shape if found is not None else "json"
        if shape == "csv":
            yield from self._csv_rows(path, progress)
            return
        with open_bytes(path) as handle:
            try:
                data = handle.read()
            except (OSError, EOFError) as exc:
                raise UnreadableSource(f"{path}: cannot be read ({exc})") from exc
        progress.update(os.path.getsize(path))
        try:
            whole_text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if shape == "json":
                raise UnreadableSource(f"{path}: expected UTF-8 text, got an undecodable "
                                       f"byte at byte {exc.start}") from exc
            whole_text = data.decode("utf-8-sig", errors="replace")
        if shape == "jsonl":
            yield from self._line_rows(whole_text)
        else:
            yield from self._document_rows(path, whole_text)

    def _line_rows(self, whole_text: str) -> Iterator[tuple[int, Callable[[], str], Any]]:
        loads = json.loads
        for number, line in enumerate(whole_text.split("\n"), start=1):
            if not line.strip():
                continue
            line = line.rstrip("\r")
            try:
                value = loads(line)
            except ValueError as exc:
                yield number, _const(line), RowProblem("(line)", f"malformed JSON: {exc}")
                continue
            if "\ufffd" in line:
                yield number, _const(line), RowProblem("(line)", "expected UTF-8 text")
                continue
            yield number, _const(line), value

    def _document_rows(self, path: Path, whole_text: str
                       ) -> Iterator[tuple[int, Callable[[], str], Any]]:
        paths = self._doc_paths(whole_text) or self.paths
        chosen = paths[0]
        for candidate in paths:
            if sample_scan(whole_text[:HEAD_CHARS], candidate, 1):
                chosen = candidate
                break
        line, last = 1, 0
        try:
            for offset, value, context in scan(whole_text, chosen):
                line += whole_text.count("\n", last, offset)
                last = offset
                record = self._record(value, context)
                yield line, functools.partial(_as_json, record), record
        except (ValueError, IndexError) as exc:
            line += whole_text.count("\n", last, min(len(whole_text), _where(exc, last)))
            raise UnreadableSource(f"{path}:{line}: not a JSON document ({exc}); expected "
                                   f"a {self.format_name} document") from exc

    def _csv_rows(self, path: Path, progress: Progress
                  ) -> Iterator[tuple[int, Callable[[], str], Any]]:
        with open_bytes(path) as raw, io.TextIOWrapper(
                raw, encoding="utf-8-sig", newline="", errors="strict") as handle:  # type: ignore[type-var]
            consumed: list[str] = []

            def lines() -> Iterator[str]:
                for one in handle:
                    consumed.append(one)
                    yield one

            first = handle.readline()
            names = next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter(first)))
            names = [n.strip() for n in names]
            unique_columns(names, path)
            progress.update(len(first))
            reader = csv.reader(lines(), delimiter=delimiter(first))
            number = 2
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    content = "".join(consumed).rstrip("\r\n")
                    yield number, _const(content), RowProblem("(line)",
                                                              f"malformed CSV: {exc}")
                    number += max(1, len(consumed))
                    consumed.clear()
                    continue
                content = "".join(consumed).rstrip("\r\n")
                progress.update(sum(len(part) for part in consumed))
                span = max(1, len(consumed))
                consumed.clear()
                if not values:
                    number += span
                    continue
                if len(values) != len(names):
                    yield number, _const(content), RowProblem(
                        "(line)", f"expected {len(names)} fields, got {len(values)}")
                else:
                    yield number, _const(content), dict(zip(names, values, strict=True))
                number += span

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        if self.fast_schema() is not None:
            from .fastpath import Fallback, fast_feed
            try:
                fast_feed(self, path, core, progress, BATCH)
                return
            except Fallback:
                pass
        self.feed_records(path, core, progress)

    def feed_records(self, path: Path, core: UsageCore, progress: Progress) -> None:
        """The per-record path: each record mapped by ``event``."""
        lines: list[int] = []
        originals: list[Callable[[], str]] = []
        events: list[dict[str, Any]] = []
        problems: list[tuple[int, str, RowProblem]] = []
        for line, original, record in self._rows(path, progress):
            if isinstance(record, RowProblem):
                problems.append((line, original(), record))
                continue
            try:
                if type(record) is not dict and not isinstance(record, Mapping):
                    raise RowProblem("(line)", f"expected a JSON object, got "
                                               f"{type(record).__name__}")
                event = self.event(record)
            except RowProblem as problem:
                problems.append((line, original(), problem))
                continue
            if event is None:
                continue
            lines.append(line)
            originals.append(original)
            events.append(event)
            if len(events) >= BATCH:
                self._flush(core, lines, originals, events, problems)
                lines, originals, events, problems = [], [], [], []
        self._flush(core, lines, originals, events, problems)

    def _flush(self, core: UsageCore, lines: list[int], originals: list[Callable[[], str]],
               events: list[dict[str, Any]], problems: list[tuple[int, str, RowProblem]]
               ) -> None:
        if problems:
            core.feed_rows(problems)
        if not events:
            return
        try:
            columns: dict[str, pa.Array] = {
                name: pa.array([e.get(name) for e in events], pa.string())
                for name in (*TEXT_FIELDS, "timestamp")}
            for name in TOKEN_FIELDS:
                columns[name] = pa.array([e.get(name) for e in events], pa.int64())
            columns["unbilled"] = pa.array([bool(e.get("unbilled")) for e in events],
                                           pa.bool_())
            columns.update(class_columns(events))
            table = pa.table(columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            core.feed_rows((line, original(), event) for line, original, event
                           in zip(lines, originals, events, strict=True))
            return
        core.feed_table(table, pa.array(np.asarray(lines, dtype=np.int64)),
                        lambda i: originals[i](), lambda i: events[i])


def _const(value: str) -> Callable[[], str]:
    return lambda: value


def _as_json(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)


def _where(exc: BaseException, default: int) -> int:
    position = getattr(exc, "pos", None)
    if isinstance(position, int):
        return position
    found = re.search(r"character (\d+)", str(exc))
    return int(found.group(1)) if found else default
