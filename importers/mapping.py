"""In-house usage logs through a mapping declared in ``importers.yaml`` (docs/mapping.md).

A team's own gateway log never matches the canonical format exactly. Instead of a
converter, ``importers.yaml`` declares the source, its format and where each canonical
field comes from:

    sources:
      - name: inhouse-gateway
        match: {pattern: "gateway-*.jsonl"}        # and/or columns: [request.id, org]
        format: jsonl                              # csv | tsv | jsonl | json | parquet
        fields:
          event_id: request.id                     # a column, or a path into nested JSON
          timestamp: {column: ts, unit: ms}        # or format: "%d/%m/%Y %H:%M:%S", timezone
          customer: {column: org, lookup: {org_1: acme}}
          model: response.model
          input_tokens: {sum: [usage.prompt_tokens, usage.cache_read_tokens]}
          feature: {constant: chat}

The expression language is data, never code (no eval): a column or dotted path
(``request.id``, ``choices.0.model``; a CSV column is its header name), ``{column:
..., lookup: {...}, default: ...}``, ``{constant: ...}``, ``{sum: [...]}`` (counts),
``{first: [...]}`` (the first non-empty), and for ``timestamp`` the options ``unit``
(s, ms, us, ns: epoch numbers), ``format`` (``strptime``) and ``timezone`` (an IANA
name, for times written without an offset). ``read_sources`` checks a declaration
when the settings are read: an unknown canonical field, a bad expression, a required
field left out is an error naming importers.yaml, its line, the source and the field.
After a file is read, a path that no row holds is an error too (``UnreadableSource``:
nothing is written), so a typo is never a column of blanks.

Each row becomes a canonical event for ``usage.UsageCore``: the same validation,
quarantine, dedupe against the event-id index and provenance as the canonical
importers. A row's "line" is its line in a text file (the first line of a CSV record),
its 1-based position in a JSON array, its row number in Parquet.

    specs = read_sources(yaml.safe_load(text)["sources"], Path("importers.yaml"), text)
    importer = Importer("contracts/", specs[0])
    entries = importer.extract("gateway-2026-01.jsonl", existing=[])
"""

from __future__ import annotations

import csv
import datetime
import difflib
import fnmatch
import json
import os
import re
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import ContractSet, Customer

from .base import HEAD_BYTES, Progress, UsageImporter, per_user_limits
from .index import EventIndex
from .usage import (
    COUNT_FIELDS,
    FIELDS,
    RowProblem,
    UnreadableSource,
    UsageCore,
    unique_columns,
)
from .usage import whole as whole_count

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
CANONICAL = (*FIELDS, "unbilled")  # ``unbilled``: counted, its tokens not billed
REQUIRED = ("event_id", "timestamp", "customer")
UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
SOURCE_KEYS = ("name", "match", "format", "root", "fields")
KINDS = ("column", "constant", "sum", "first")
OPTIONS = {"column": ("lookup", "default", "unit", "format", "timezone"),
           "constant": (), "sum": (), "first": ()}
TIME_OPTIONS = ("unit", "format", "timezone")
TRUE = frozenset({"true", "yes", "1"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
BATCH = 10_000
MISSING = object()


class MappingError(Exception):
    """A declaration of ``importers.yaml`` that cannot be used: nothing is imported."""


# -- expressions --------------------------------------------------------------------------


def walk(row: Any, path: str) -> Any:
    """The value at ``path`` in ``row`` (a dict of a JSON object or a CSV row), or
    MISSING: the whole path as a key first (a CSV header ``usage.tokens``), then its
    dot-separated parts, a number indexing a list."""
    if isinstance(row, dict) and path in row:
        return row[path]
    value = row
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or value == ""


@dataclass
class Expr:
    """One expression of a field (see the module doc); ``seen`` records the paths
    found in at least one row, for the check after reading."""

    kind: str  # "column" | "constant" | "sum" | "first"
    canonical: str  # the canonical field it gives
    where: str  # "sources[0] (name).fields.input_tokens", for messages
    line: int | None
    path: str = ""
    value: Any = None  # a constant, or a column's default
    has_default: bool = False
    lookup: dict[str, Any] | None = None
    items: list[Expr] = field(default_factory=list)
    unit: int | None = None
    format: str | None = None
    timezone: zoneinfo.ZoneInfo | None = None
    seen: bool = False

    def evaluate(self, row: Any) -> Any:
        if self.kind == "constant":
            if self.canonical == "unbilled":
                return _key(self.value).lower() in TRUE
            return self.value
        if self.kind == "first":
            for item in self.items:
                value = item.evaluate(row)
                if not _empty(value):
                    return value
            return None
        if self.kind == "sum":
            total = 0
            for item in self.items:
                value = item.evaluate(row)
                if _empty(value):
                    continue
                try:
                    total += whole_count(value, self.canonical)
                except RowProblem as problem:
                    raise RowProblem(self.canonical, f"{item.describe()}: {problem.reason}"
                                     ) from None
            return total
        value = walk(row, self.path)
        if value is not MISSING:
            self.seen = True
        if _empty(value):
            if not self.has_default:
                return None
            value = self.value
        elif self.lookup is not None:
            value = self.lookup.get(_key(value), value)  # a value not listed: as it is
        if self.canonical == "timestamp":
            return self.time(value)
        if self.canonical == "unbilled":
            return _key(value).lower() in TRUE
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)  # a Parquet decimal count
        return value

    def time(self, value: Any) -> Any:
        if self.unit is not None:
            number: int | float | None = None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                number = value
            elif isinstance(value, str) and re.match(r"^\d+(\.\d+)?$", value.strip()):
                text = value.strip()
                number = float(text) if "." in text else int(text)
            if number is None:
                raise RowProblem("timestamp", f"{self.describe()}: expected a number of "
                                              f"{self._unit_name()} since 1970, got "
                                              f"{_shown(value)}")
            seconds = number / self.unit if isinstance(number, float) else number // self.unit
            if not 0 <= seconds <= 253402300799:
                raise RowProblem("timestamp", f"{self.describe()}: expected a number of "
                                              f"{self._unit_name()} since 1970, got "
                                              f"{_shown(value)}")
            return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        if self.format is None and self.timezone is None:
            return value  # RFC 3339 with offset or Unix seconds: the core reads it
        if not isinstance(value, str):
            raise RowProblem("timestamp", f"{self.describe()}: expected a time as text, "
                                          f"got {_shown(value)}")
        try:
            stamp = (datetime.datetime.strptime(value.strip(), self.format) if self.format
                     else datetime.datetime.fromisoformat(value.strip()))
        except ValueError:
            expected = (f"a time in format {self.format!r}" if self.format
                        else "an ISO 8601 time")
            raise RowProblem("timestamp", f"{self.describe()}: expected {expected}, got "
                                          f"{_shown(value)}") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=self.timezone)
        return stamp

    def _unit_name(self) -> str:
        return next(name for name, size in UNITS.items() if size == self.unit)

    def describe(self) -> str:
        return f"column {self.path!r}" if self.kind == "column" else self.kind

    def missing(self) -> list[Expr]:
        """The columns without a default that no row held (after reading)."""
        if self.kind == "column":
            return [] if self.seen or self.has_default else [self]
        if self.kind == "first":
            found = [item.missing() for item in self.items]
            return [] if any(not m for m in found) else [m for ms in found for m in ms]
        return [m for item in self.items for m in item.missing()]

    def reset(self) -> None:
        self.seen = False
        for item in self.items:
            item.reset()


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


# -- declarations -------------------------------------------------------------------------


@dataclass
class SourceSpec:
    """One declared source of ``importers.yaml``."""

    name: str
    format: str
    fields: dict[str, Expr]
    settings: Path  # the importers.yaml it was declared in, for messages
    where: str  # "sources[0] (name)"
    pattern: str | None = None
    columns: tuple[str, ...] = ()
    root: str | None = None


def _lines(text: str | None) -> Callable[[Sequence[str | int]], int | None]:
    """The line (1-based) of the node at a path of keys and indexes of ``text``'s
    ``sources`` section, or None."""
    try:
        root = yaml.compose(text) if text else None
    except yaml.YAMLError:
        root = None

    def line(path: Sequence[str | int]) -> int | None:
        node = root
        found = node.start_mark.line + 1 if node is not None else None
        for step in ("sources", *path):
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) \
                    and step < len(node.value):
                node = node.value[step]
            else:
                node = None
            if node is None:
                break
            found = node.start_mark.line + 1
        return found

    return line


def read_sources(raw: Any, settings: Path, text: str | None = None) -> list[SourceSpec]:
    """The ``sources`` section of ``settings`` (``importers.yaml``, its ``text`` for the
    lines), checked; MappingError naming the file, line, source and field otherwise."""
    line_of = _lines(text)

    def fail(path: Sequence[str | int], where: str, message: str) -> MappingError:
        line = line_of(path)
        return MappingError(f"{settings}{f':{line}' if line else ''}: {where}: {message}")

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise fail((), "sources", f"expected a list of sources, got {type(raw).__name__}")
    specs = []
    names: set[str] = set()
    for i, source in enumerate(raw):
        where = f"sources[{i}]"
        if not isinstance(source, dict):
            raise fail((i,), where, f"expected a mapping (name, match, format, fields), "
                                    f"got {type(source).__name__}")
        name = source.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail((i, "name"), f"{where}.name", "expected a name of letters, digits, "
                                                     f"- and _ (at most 64), got {name!r}")
        where = f"{where} ({name})"
        if name in names:
            raise fail((i, "name"), f"{where}.name", "expected each source name once")
        names.add(name)
        for key in source:
            if key not in SOURCE_KEYS:
                raise fail((i, key), f"{where}.{key}", f"unknown setting{_hint(key, SOURCE_KEYS)}"
                                                       f"; expected one of: "
                                                       f"{', '.join(SOURCE_KEYS)}")
        form = source.get("format")
        if form not in FORMATS:
            raise fail((i, "format"), f"{where}.format",
                       f"expected one of {', '.join(FORMATS)}, got {form!r}")
        match = source.get("match")
        if not isinstance(match, dict) or not match or set(match) - {"pattern", "columns"}:
            raise fail((i, "match"), f"{where}.match", "expected pattern: (a file name "
                                                       "pattern such as 'gateway-*.jsonl') "
                                                       f"and/or columns: [...], got {match!r}")
        pattern = match.get("pattern")
        if pattern is not None and not (isinstance(pattern, str) and pattern):
            raise fail((i, "match", "pattern"), f"{where}.match.pattern",
                       f"expected a file name pattern, got {pattern!r}")
        columns = match.get("columns", [])
        if not isinstance(columns, list) or not all(isinstance(c, str) and c
                                                    for c in columns):
            raise fail((i, "match", "columns"), f"{where}.match.columns",
                       f"expected a list of column names or paths, got {columns!r}")
        root = source.get("root")
        if root is not None and (form != "json" or not isinstance(root, str) or not root):
            raise fail((i, "root"), f"{where}.root", "expected the path of the array of "
                                                     "records, for format json only, got "
                                                     f"{root!r}")
        fields = source.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise fail((i, "fields"), f"{where}.fields", "expected a mapping of canonical "
                                                         "fields to expressions")
        exprs = {}
        for canonical, raw_expr in fields.items():
            at = f"{where}.fields.{canonical}"
            path: tuple[str | int, ...] = (i, "fields", str(canonical))
            if canonical not in CANONICAL:
                raise fail(path, at, f"unknown canonical field {canonical!r}"
                                     f"{_hint(str(canonical), CANONICAL)}; expected one "
                                     f"of: {', '.join(CANONICAL)}")
            try:
                exprs[canonical] = _expr(raw_expr, canonical, at, line_of(path), top=True)
            except _Bad as bad:
                raise fail(path, at, str(bad)) from None
        for required in REQUIRED:
            if required not in exprs:
                raise fail((i, "fields"), f"{where}.fields.{required}",
                           f"is required (expected an expression for each of "
                           f"{', '.join(REQUIRED)})")
        specs.append(SourceSpec(name, form, exprs, settings, where, pattern, tuple(columns),
                                root))
    return specs


class _Bad(Exception):
    pass


def _hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _expr(raw: Any, canonical: str, where: str, line: int | None, top: bool = False) -> Expr:
    counts = canonical in COUNT_FIELDS
    if isinstance(raw, str):
        if not raw:
            raise _Bad("expected a column or path, got an empty text")
        return Expr("column", canonical, where, line, path=raw)
    if not isinstance(raw, dict):
        raise _Bad(f"expected a column or path (text) or a mapping with one of "
                   f"{', '.join(KINDS)}, got {_shown(raw)}")
    kinds = [k for k in KINDS if k in raw]
    if len(kinds) != 1:
        raise _Bad(f"expected exactly one of {', '.join(KINDS)}, got "
                   f"{', '.join(map(str, raw)) or 'none'}")
    kind = kinds[0]
    for key in raw:
        if key != kind and key not in OPTIONS[kind]:
            allowed = OPTIONS[kind]
            raise _Bad(f"unknown option {key!r} of {kind}"
                       + (f"; expected one of: {', '.join(allowed)}" if allowed else
                          " (it takes none)"))
    expr = Expr(kind, canonical, where, line)
    if kind == "constant":
        value = raw["constant"]
        if canonical == "event_id":
            raise _Bad("expected a column: every event needs its own id, not a constant")
        if counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _Bad(f"expected a whole number >= 0 for a count, got {_shown(value)}")
        elif canonical in ("unbilled", "cache_hit"):
            if not isinstance(value, (bool, str, int)):
                raise _Bad(f"expected true or false, got {_shown(value)}")
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _Bad(f"expected a text constant, got {_shown(value)}")
        expr.value = value
        return expr
    if kind in ("sum", "first"):
        items = raw[kind]
        if not isinstance(items, list) or not items:
            raise _Bad(f"{kind}: expected a list of expressions, got {_shown(items)}")
        if kind == "sum" and not counts:
            raise _Bad(f"sum: only for counts ({', '.join(COUNT_FIELDS)})")
        expr.items = [_expr(item, canonical, where, line) for item in items]
        return expr
    path = raw["column"]
    if not isinstance(path, str) or not path:
        raise _Bad(f"column: expected a column name or path, got {_shown(path)}")
    expr.path = path
    if "default" in raw:
        expr.value, expr.has_default = raw["default"], True
    if "lookup" in raw:
        table = raw["lookup"]
        if not isinstance(table, dict) or not table or not all(
                isinstance(v, (str, int)) for v in table.values()):
            raise _Bad(f"lookup: expected a mapping of values to values, got {_shown(table)}")
        expr.lookup = {_key(k): v for k, v in table.items()}
    timing = [key for key in TIME_OPTIONS if key in raw]
    if timing and canonical != "timestamp":
        raise _Bad(f"{timing[0]}: only for timestamp")
    if "unit" in raw:
        if raw["unit"] not in UNITS:
            raise _Bad(f"unit: expected one of {', '.join(UNITS)}, got {_shown(raw['unit'])}")
        if "format" in raw or "timezone" in raw:
            raise _Bad("unit: epoch numbers are UTC; expected no format or timezone with it")
        expr.unit = UNITS[raw["unit"]]
    if "format" in raw:
        form = raw["format"]
        if not isinstance(form, str) or "%" not in form:
            raise _Bad(f"format: expected a strptime format such as '%d/%m/%Y %H:%M:%S', "
                       f"got {_shown(form)}")
        if "%z" not in form and "timezone" not in raw:
            raise _Bad(f"format: {form!r} has no offset (%z); expected a timezone: too "
                       f"(UTC, Europe/Paris, ...)")
        expr.format = form
    if "timezone" in raw:
        name = raw["timezone"]
        try:
            expr.timezone = zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _Bad(f"timezone: expected an IANA time zone such as UTC or "
                       f"Europe/Paris, got {_shown(name)}") from None
    return expr


# -- the importer -------------------------------------------------------------------------


class Importer(UsageImporter):
    """A usage source declared in ``importers.yaml`` (see the module doc)."""

    declared = True  # ``tokenbooks import``: a declared source wins over the formats

    def __init__(self, contracts: ContractSet | str | os.PathLike, spec: SourceSpec,
                 per_user: Callable[[Customer], bool] = per_user_limits,
                 index: EventIndex | None = None, account: str = accounts.REVENUE_USAGE
                 ) -> None:
        super().__init__(contracts, per_user, index, account)
        self.spec = spec
        self.format_name = f"{spec.format} (source {spec.name!r} of {spec.settings.name})"

    @property
    def name(self) -> str:
        return f"tokenbooks.importers.mapping.{self.spec.name}"

    # -- identification ----------------------------------------------------------------------

    def identify(self, filepath: str) -> bool:
        spec = self.spec
        path = Path(filepath)
        if spec.pattern is not None and not fnmatch.fnmatchcase(path.name, spec.pattern):
            return False
        if spec.columns:
            try:
                first = self._first_record(path)
            except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException,
                    UnreadableSource, csv.Error):
                return False
            return first is not None and all(walk(first, c) is not MISSING
                                             for c in spec.columns)
        return path.is_file()

    def _first_record(self, path: Path) -> Any:
        form = self.spec.format
        if form == "parquet":
            with open(path, "rb") as handle:
                if handle.read(4) != b"PAR1":
                    return None
            parquet = pq.ParquetFile(path)
            batch = next(parquet.iter_batches(batch_size=1), None)
            if batch is None or batch.num_rows == 0:
                return dict.fromkeys(parquet.schema_arrow.names)
            return batch.to_pylist()[0]
        with open(path, "rb") as handle:  # only the start of a text file
            start = handle.read(HEAD_BYTES)
        if b"\x00" in start:
            return None
        head = start.decode("utf-8", errors="replace").lstrip("\ufeff")
        if form == "json":
            if not head.lstrip().startswith(("{", "[")):
                return None
            records = self._records(path)
            return records[0] if records else None
        for text in head.splitlines():
            if not text.strip():
                continue
            if form == "jsonl":
                value = json.loads(text)
                return value if isinstance(value, dict) else None
            names = next(csv.reader([text], delimiter=self._delimiter()))
            return dict.fromkeys(names, "")
        return None

    def _delimiter(self) -> str:
        return "\t" if self.spec.format == "tsv" else ","

    # -- reading --------------------------------------------------------------------------------

    def event(self, row: Any) -> dict[str, Any]:
        """The canonical event of one record (raises RowProblem)."""
        if not isinstance(row, dict):
            raise RowProblem("(line)", f"expected a record (a JSON object), got "
                                       f"{type(row).__name__}")
        return {name: expr.evaluate(row) for name, expr in self.spec.fields.items()}

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        for expr in self.spec.fields.values():
            expr.reset()
        form = self.spec.format
        rows: Iterator[tuple[int, str, Any]]
        if form in ("csv", "tsv"):
            rows = self._csv_rows(path, progress)
        elif form == "jsonl":
            rows = self._jsonl_rows(path, progress)
        elif form == "json":
            rows = self._json_rows(path, progress)
        else:
            rows = self._parquet_rows(path, progress)
        batch: list[tuple[int, str, Any]] = []
        any_row = False
        for line, content, record in rows:
            if not isinstance(record, RowProblem):
                any_row = any_row or isinstance(record, dict)  # the paths' check
                try:
                    record = self.event(record)
                except RowProblem as problem:
                    record = problem
            batch.append((line, content, record))
            if len(batch) >= BATCH:
                core.feed_rows(batch)
                batch = []
        core.feed_rows(batch)
        if any_row:
            self._check_seen(path)

    def _check_seen(self, path: Path) -> None:
        for name, expr in self.spec.fields.items():
            for missing in expr.missing():
                where = f":{missing.line}" if missing.line else ""
                raise UnreadableSource(
                    f"{self.spec.settings}{where}: {self.spec.where}.fields.{name}: "
                    f"{missing.describe()} is in no record of {path.name} (expected it in "
                    f"at least one; a typo? give default: if it may be absent)")

    def _csv_rows(self, path: Path, progress: Progress) -> Iterator[tuple[int, str, Any]]:
        consumed: list[str] = []
        bad: list[bool] = []

        def lines() -> Iterator[str]:
            with open(path, "rb") as handle:
                first = True
                for raw in handle:
                    progress.update(len(raw))
                    if first and raw.startswith(b"\xef\xbb\xbf"):
                        raw = raw[3:]
                    first = False
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        text = raw.decode("utf-8", errors="replace")
                        bad.append(True)
                    consumed.append(text)
                    yield text

        reader = csv.reader(lines(), delimiter=self._delimiter())
        try:
            names = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UnreadableSource(f"{path}: the header cannot be read as "
                                   f"{self.spec.format.upper()} ({exc})") from exc
        if bad:
            raise UnreadableSource(f"{path}: the header is not UTF-8 text")
        unique_columns(names, path)
        line = 1 + len(consumed)
        consumed.clear()
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                text = "".join(consumed).rstrip("\r\n")
                yield line, text, RowProblem("(line)", f"malformed CSV: {exc}")
            else:
                text = "".join(consumed).rstrip("\r\n")
                if bad:
                    yield line, text, RowProblem("(line)", "expected UTF-8 text")
                elif values and len(values) != len(names):
                    yield line, text, RowProblem("(line)", f"expected {len(names)} fields, "
                                                           f"got {len(values)}")
                elif values:
                    yield line, text, dict(zip(names, values, strict=True))
            line += len(consumed)
            consumed.clear()
            bad.clear()

    def _jsonl_rows(self, path: Path, progress: Progress) -> Iterator[tuple[int, str, Any]]:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                progress.update(len(raw))
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                try:
                    value = json.loads(raw)
                except UnicodeDecodeError:
                    yield number, text, RowProblem("(line)", "expected UTF-8 text")
                    continue
                except ValueError as exc:
                    yield number, text, RowProblem("(line)", f"malformed JSON: {exc}")
                    continue
                yield number, text, value

    def _records(self, path: Path) -> list[Any]:
        try:
            with open(path, "rb") as handle:
                document = json.loads(handle.read())
        except ValueError as exc:
            raise UnreadableSource(f"{path}: not a JSON document ({exc})") from exc
        root = self.spec.root
        if root is not None:
            document = walk(document, root)
            if document is MISSING:
                raise UnreadableSource(f"{self.spec.settings}: {self.spec.where}.root: "
                                       f"{root!r} is not in {path.name} (expected the path "
                                       f"of the array of records)")
        if not isinstance(document, list):
            raise UnreadableSource(f"{path}: expected a JSON array of records"
                                   + (f" at {root!r}" if root else
                                      " (or root: the path of one, in importers.yaml)")
                                   + f", got {type(document).__name__}")
        return document

    def _json_rows(self, path: Path, progress: Progress) -> Iterator[tuple[int, str, Any]]:
        records = self._records(path)
        progress.update(path.stat().st_size)
        for number, record in enumerate(records, start=1):
            yield number, json.dumps(record, ensure_ascii=False, sort_keys=True), record

    def _parquet_rows(self, path: Path, progress: Progress
                      ) -> Iterator[tuple[int, str, Any]]:
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: not a readable Parquet file ({exc})") from exc
        unique_columns(parquet.schema_arrow.names, path, "schema")
        per_row = path.stat().st_size / max(1, parquet.metadata.num_rows)
        number = 1
        try:
            for batch in parquet.iter_batches(batch_size=BATCH):
                for record in batch.to_pylist():
                    yield number, json.dumps(record, default=str, ensure_ascii=False,
                                             sort_keys=True), record
                    number += 1
                progress.update(round(batch.num_rows * per_row))
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: Parquet data unreadable near row {number} "
                                   f"({exc})") from exc


def importers(contracts: ContractSet, specs: Sequence[SourceSpec], index: EventIndex
              ) -> list[Importer]:
    """One importer per declared source, sharing ``index``."""
    return [Importer(contracts, spec, index=index) for spec in specs]

