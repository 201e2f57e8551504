"""LiteLLM proxy spend logs: a CSV (or TSV) export of the ``LiteLLM_SpendLogs`` table.

    request_id,call_type,...,prompt_tokens,completion_tokens,startTime,...,model,...
    chatcmpl-9f3b...,acompletion,...,1210,325,2025-11-01 09:14:03.512,...,gpt-5-mini,...

Each request becomes a canonical event: ``request_id`` is the event id, ``startTime``
(UTC, as LiteLLM stores it) the timestamp, the customer is ``end_user`` or else
``team_id`` (optionally renamed by ``customers``), the model is ``model_group`` (the
public name) or else ``model``, the feature the first of ``request_tags``. Input tokens
are ``prompt_tokens`` (every prompt token: LiteLLM counts the cache reads and writes
in it, Anthropic's too), output tokens ``completion_tokens``; the ``metadata`` JSON's
usage (``additional_usage_values``, else ``usage_object``) gives the token classes:

- cached input: ``prompt_tokens_details.cached_tokens`` or ``cache_read_input_tokens``;
- cache writes: ``cache_creation_input_tokens`` (or ``prompt_tokens_details.
  cache_creation_tokens``), of which ``prompt_tokens_details.cache_creation_token_details.
  ephemeral_1h_input_tokens`` are 1-hour writes (``cache_write_1h_tokens``), the rest
  5-minute ones (``cache_write_tokens``; ``ephemeral_5m_input_tokens`` when given);
- web searches: ``server_tool_use.web_search_requests`` (``web_search_calls``).

``cache_hit`` (``True``: LiteLLM answered from its own cache, no provider call) is kept
as the event's ``cache_hit``. A request whose ``status`` is not ``success`` is counted
(``unbilled_events``) but its tokens are not billed. The file is CSV as it is
(``csvtext``, ``lines``): a BOM, TSV told by the header, quoted line breaks, a line that
is not UTF-8 quarantined with its number; a column named twice refuses the file
(``UnreadableSource``).

Chunks of the file are parsed by ``pyarrow.csv``, and the metadata and request tags of
a chunk as JSON Lines by ``pyarrow.json``; the rows that column-wise mapping cannot vouch
for (a value with spaces around it, not ASCII where case matters, JSON that is not an
object or not plain) are mapped one by one by ``event``, which the per-record path
(``fast = False``: Python's csv, then ``event`` for every row) uses for all.

    importer = Importer("contracts/", customers={"team-acme-support": "acme"})
    entries = importer.extract("spendlogs.csv", existing=[])
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import ContractSet, Customer

from . import fastpath as fp
from .base import per_user_limits
from .csvtext import header_of
from .index import EventIndex
from .lines import BLOCK_BYTES, SMALLEST_PIECE, LinesImporter, quoted_records
from .usage import MAX_COUNT, RowProblem, UsageCore, unique_columns, whole

COLUMNS = ("request_id", "startTime", "prompt_tokens", "completion_tokens")
_NO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$")
_NO_OFFSET_RE2 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
USAGE = ("additional_usage_values", "usage_object")  # where the metadata keeps the usage
DETAILS = ("prompt_tokens_details", "cache_creation_token_details")
CACHED = (("prompt_tokens_details", "cached_tokens"), ("cache_read_input_tokens",))
WRITES = (("cache_creation_input_tokens",), ("prompt_tokens_details", "cache_creation_tokens"))
WRITES_1H = ((*DETAILS, "ephemeral_1h_input_tokens"),)
WRITES_5M = ((*DETAILS, "ephemeral_5m_input_tokens"),)
WEB_SEARCHES = (("server_tool_use", "web_search_requests"),)
# a value the column-wise mapping takes as it is: empty, or no space around it
_TRIMMED = r"^(?s:[!-~](.*[!-~])?)?$"
_BLANK = r"^[ \t\n\r\x0b\x0c\x1c-\x1f]*$"  # what str.strip() leaves empty (ASCII)
_JSON_RISKY = r"Inf|-NaN|[\n\r]"  # read by pyarrow otherwise than by json, or a line break


def _header(head: str) -> list[str]:
    return header_of(head)[0]


def usage_value(metadata: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> Any:
    """The first value (not null) at one of ``paths`` of the metadata's usage objects,
    ``additional_usage_values`` before ``usage_object``; None if none has one."""
    for key in USAGE:
        usage = metadata.get(key)
        if not isinstance(usage, dict):
            continue
        for path in paths:
            value: Any = usage
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            if value is not None:
                return value
    return None


def cached_tokens(metadata: Mapping[str, Any]) -> Any:
    """The cached input tokens recorded in a spend log's metadata, or None."""
    return usage_value(metadata, CACHED)


def cache_writes(metadata: Mapping[str, Any]) -> dict[str, int]:
    """The prompt-cache writes of a spend log's metadata: 5-minute and 1-hour (RowProblem
    for a count that is no whole number, or 1-hour writes beyond all the writes)."""
    hour = whole(usage_value(metadata, WRITES_1H), "cache_write_1h_tokens")
    minutes = usage_value(metadata, WRITES_5M)
    if minutes is not None:
        five = whole(minutes, "cache_write_tokens")
    else:
        written = usage_value(metadata, WRITES)
        five = whole(written, "cache_write_tokens") - hour if written is not None else 0
        if five < 0:
            raise RowProblem("cache_write_1h_tokens", f"expected at most the cache writes "
                                                      f"({written}), got {hour}")
    return {"cache_write_tokens": five, "cache_write_1h_tokens": hour}


def with_writes(prompt: Any, cached: Any, writes: dict[str, int]) -> Any:
    """``prompt_tokens`` as every prompt token: as logged, or with the cache writes added
    where the reads and writes together exceed it (LiteLLM versions that left Anthropic's
    cache writes out of ``prompt_tokens``: then they cannot be in it). A count that is
    no whole number is left as it is (the core says why)."""
    written = writes["cache_write_tokens"] + writes["cache_write_1h_tokens"]
    if not written:
        return prompt
    try:
        number = whole(prompt, "input_tokens")
        read = whole(cached, "cached_input_tokens")
    except RowProblem:
        return prompt
    return number + written if read + written > number else prompt


def usage_schema(under: str, head: str | None = None
                 ) -> tuple[dict[str, pa.DataType], list[str]]:
    """The fields of the metadata's usage that the mapping reads (dotted paths below
    ``under``), for pyarrow, and the keys left out: with ``head`` (the file's start),
    the paths whose keys it does not name (pyarrow's cost is per field and row; whether
    the rest of the file names them is checked while it parses, by the probes returned:
    text every such key holds)."""
    fields: dict[str, pa.DataType] = {}
    left: set[str] = set()
    for key in USAGE:
        for paths in (CACHED, WRITES, WRITES_1H, WRITES_5M, WEB_SEARCHES):
            for path in paths:
                missing = [step for step in (key, *path)
                           if head is not None and json.dumps(step) not in head]
                if missing:  # (the probe, text of the first key the head lacks)
                    step = missing[0]
                    left.add("cache_creation" if step.startswith("cache_creation")
                             else json.dumps(step)[1:])
                else:
                    fields[".".join((under, key, *path))] = pa.int64()
    return fields, sorted(left)


def usage_columns(table: pa.Table, ok: list[pa.Array], under: str) -> dict[str, pa.Array]:
    """``cached_tokens``, ``cache_writes`` and the web searches column-wise (a count out
    of 0..MAX_COUNT, or 1-hour writes beyond the writes, makes its row slow)."""

    def first(paths: tuple[tuple[str, ...], ...]) -> pa.Array:
        found = []
        for key in USAGE:
            for path in paths:
                column = fp.column_at(table, ".".join((under, key, *path)))
                if column is not None:
                    found.append(column)
        if not found:  # (no record has the keys)
            return pa.nulls(table.num_rows, pa.int64())
        value = pc.coalesce(*found) if len(found) > 1 else found[0]
        ok.append(pc.fill_null(pc.and_(pc.greater_equal(value, 0),
                                       pc.less_equal(value, MAX_COUNT)), True))
        return value

    cached, hour, minutes = first(CACHED), first(WRITES_1H), first(WRITES_5M)
    written, searches = first(WRITES), first(WEB_SEARCHES)
    hour = pc.fill_null(hour, 0)
    rest = pc.subtract(written, hour)
    five = pc.if_else(pc.is_valid(minutes), minutes, pc.fill_null(rest, 0))
    ok.append(pc.fill_null(pc.greater_equal(rest, 0), True))
    return {"cached_input_tokens": pc.fill_null(cached, 0), "cache_write_tokens": five,
            "cache_write_1h_tokens": hour, "web_search_calls": searches}


class Importer(LinesImporter):
    """LiteLLM ``LiteLLM_SpendLogs`` CSV (or TSV) export."""

    suffixes = (".csv", ".tsv")
    format_name = "LiteLLM spend logs"
    quote = b'"'
    fast = True  # pyarrow, column-wise; False: Python's csv and ``event`` for every row
    _delimiter = ","
    _names: list[str] = []

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 per_user: Callable[[Customer], bool] = per_user_limits,
                 index: EventIndex | None = None, account: str = accounts.REVENUE_USAGE,
                 customers: Mapping[str, str] | None = None) -> None:
        super().__init__(contracts, per_user, index, account)
        self.customers = dict(customers or {})

    def sniff(self, head: str) -> bool:
        return set(COLUMNS) <= set(_header(head))

    # -- one row ------------------------------------------------------------------------------

    def event(self, row: Mapping[str, str]) -> dict[str, Any]:
        """The canonical event of one spend-log row (raises RowProblem)."""
        raw = row.get("metadata") or ""
        metadata: Any = {}
        if raw.strip():
            try:
                metadata = json.loads(raw)
            except ValueError as exc:
                raise RowProblem("metadata", f"expected JSON, got malformed JSON ({exc})"
                                 ) from exc
        tags: Any = []
        if (row.get("request_tags") or "").strip():
            try:
                tags = json.loads(row["request_tags"])
            except ValueError as exc:
                raise RowProblem("request_tags", f"expected a JSON list ({exc})") from exc
        stamp = (row.get("startTime") or "").strip()
        if _NO_OFFSET.match(stamp):
            stamp += "Z"  # LiteLLM stores UTC without an offset
        who = (row.get("end_user") or "").strip() or (row.get("team_id") or "").strip()
        status = (row.get("status") or "").strip().lower()
        usage = metadata if isinstance(metadata, dict) else {}
        cached, writes = cached_tokens(usage), cache_writes(usage)
        return {
            "event_id": row.get("request_id"), "timestamp": stamp,
            "customer": self.customers.get(who, who),
            "model": (row.get("model_group") or "").strip() or row.get("model"),
            "feature": str(tags[0]) if isinstance(tags, list) and tags else "",
            "input_tokens": with_writes(row.get("prompt_tokens"), cached, writes),
            "cached_input_tokens": cached,
            **writes,
            "web_search_calls": usage_value(usage, WEB_SEARCHES),
            "output_tokens": row.get("completion_tokens"),
            "user": row.get("user") or "",
            "unbilled": status not in ("", "success"),
            "cache_hit": row.get("cache_hit"),
        }

    # -- the file: CSV as it is (``lines``) ---------------------------------------------------

    def start(self, path: Path) -> tuple[int, int]:
        with open(path, "rb") as handle:
            first = handle.readline()
        names, self._delimiter = header_of(first.decode("utf-8", errors="replace"))
        self._names = unique_columns(names, path)
        return len(first), 2

    def read_chunk(self, piece: memoryview | bytes) -> pa.Table:
        return pv.read_csv(
            pa.BufferReader(piece),
            read_options=pv.ReadOptions(column_names=self._names, block_size=BLOCK_BYTES),
            parse_options=pv.ParseOptions(newlines_in_values=False,
                                          delimiter=self._delimiter),
            convert_options=pv.ConvertOptions(
                column_types={name: pa.string() for name in self._names}))

    def _values(self, text: str) -> dict[str, str] | RowProblem:
        try:
            values = next(csv.reader([text], delimiter=self._delimiter))
        except csv.Error as exc:
            return RowProblem("(line)", f"malformed CSV: {exc}")
        if len(values) != len(self._names):
            return RowProblem("(line)", f"expected {len(self._names)} fields, got "
                                        f"{len(values)}")
        return dict(zip(self._names, values, strict=True))

    def _mapped(self, text: str) -> tuple[str, dict | RowProblem]:
        values = self._values(text)
        if isinstance(values, RowProblem):
            return text, values
        try:
            return text, self.event(values)
        except RowProblem as problem:
            return text, problem

    def parse_line(self, line: bytes) -> tuple[str, dict | RowProblem]:
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return line.decode("utf-8", errors="replace"), RowProblem("(line)",
                                                                      "expected UTF-8 text")
        return self._mapped(text)

    def parse_records(self, lines: list[bytes], first_line: int
                      ) -> Iterator[tuple[int, str, dict | RowProblem]]:
        """The events of ``lines``: a quoted value may span lines (the record keeps the
        number of its first line); a line that is not UTF-8 is a record of its own."""
        for k, end in quoted_records(lines):
            if end == k + 1:
                yield (first_line + k, *self.parse_line(lines[k]))
                continue
            joined = b"\n".join(line.rstrip(b"\r") for line in lines[k:end])
            try:
                text = joined.decode("utf-8")
            except UnicodeDecodeError:
                yield (first_line + k, joined.decode("utf-8", errors="replace"),
                       RowProblem("(line)", "expected UTF-8 text"))
            else:
                yield (first_line + k, *self._mapped(text))

    def _feed_piece(self, core: UsageCore, piece: memoryview | bytes, first_line: int,
                    count: int, lines: list[bytes] | None = None) -> None:
        """``LinesImporter._feed_piece``, each piece's rows mapped (``_feed_rows``), the
        rows of one chunk fed to the core at once, as the per-record path feeds them."""
        found: list[tuple[int, str, Any]] = []  # (line, text, event or problem)
        tables: list[tuple[pa.Table, np.ndarray, Callable[[int], str], Callable]] = []
        self._read_piece(piece, first_line, count, lines, found, tables)
        if not tables:
            core.feed_rows(found)
            return
        problems = [item for item in found if isinstance(item[2], RowProblem)]
        if problems:
            core.feed_rows(problems)
        self._feed_events(core, tables, [item for item in found
                                         if not isinstance(item[2], RowProblem)])

    def _read_piece(self, piece: memoryview | bytes, first_line: int, count: int,
                    lines: list[bytes] | None, found: list, tables: list) -> None:
        split: list[list[bytes]] = [lines] if lines is not None else []

        def get_lines() -> list[bytes]:
            if not split:
                parts = bytes(piece).split(b"\n")
                if parts and parts[-1] == b"":
                    parts.pop()
                split.append(parts)
            return split[0]

        table = None
        if self.fast:
            try:
                table = self.read_chunk(piece)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                table = None
        if table is not None:
            if table.num_rows == count:
                rows: range | list[int] = range(count)
            else:  # blank lines: map the rows to the lines that are not blank
                rows = [k for k, text in enumerate(get_lines()) if text.strip()]
            if len(rows) == table.num_rows:
                numbers = np.asarray(rows, dtype=np.int64) + first_line

                def original(i: int, rows: Any = rows) -> str:
                    return get_lines()[rows[i]].decode("utf-8", errors="replace"
                                                       ).rstrip("\r")

                self._map_table(table, numbers, original, found, tables)
                return
        all_lines = get_lines()
        if not self.fast or len(all_lines) <= SMALLEST_PIECE:
            found.extend(self.parse_records(all_lines, first_line))
            return
        half = self.split_at(all_lines, len(all_lines) // 2)
        for start, part in ((0, all_lines[:half]), (half, all_lines[half:])):
            self._read_piece(b"\n".join(part) + b"\n", first_line + start, len(part), part,
                             found, tables)

    # -- column-wise ----------------------------------------------------------------------------

    def _map_table(self, table: pa.Table, numbers: np.ndarray,
                   original: Callable[[int], str], found: list, tables: list) -> None:
        """Map the rows of a CSV table: the ones the columns vouch for into ``tables``,
        the others (``event``, one by one) into ``found``."""
        n = table.num_rows
        ok: list[pa.Array] = []
        columns = self.fast_columns(table, ok)
        good = fp.all_of(ok, n).to_numpy(zero_copy_only=False)
        keep = np.flatnonzero(good)
        if len(keep):
            events = _events_table(columns, n)
            if len(keep) < n:
                events = events.take(pa.array(keep))

            def value(i: int, keep: np.ndarray = keep) -> dict[str, Any]:
                row = table.slice(int(keep[i]), 1).to_pylist()[0]
                return self.event(row)

            tables.append((events, numbers[keep], lambda i, keep=keep: original(int(keep[i])),
                           value))
        others = np.flatnonzero(~good)
        if len(others):
            for i, row in zip(others.tolist(), table.take(pa.array(others)).to_pylist(),
                              strict=True):
                try:
                    item: Any = self.event(row)
                except RowProblem as problem:
                    item = problem
                found.append((int(numbers[i]), original(i), item))

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]) -> dict[str, pa.Array]:
        """``event`` column-wise, appending to ``ok`` the rows it vouches for."""
        n = table.num_rows
        names = set(table.column_names)

        def column(name: str) -> pa.Array:
            if name in names:
                return table.column(name).combine_chunks()
            return pa.nulls(n, pa.string())

        def trimmed(name: str, ascii_: bool = False) -> pa.Array:
            value = pc.fill_null(column(name), "")
            ok.append(pc.match_substring_regex(value, _TRIMMED))
            if ascii_:
                ok.append(pc.string_is_ascii(value))
            return value

        stamp = trimmed("startTime", ascii_=True)
        bare = pc.match_substring_regex(stamp, _NO_OFFSET_RE2)
        stamp = pc.if_else(bare, pc.binary_join_element_wise(stamp, "Z", ""), stamp)
        end_user, team = trimmed("end_user"), trimmed("team_id")
        who = pc.if_else(pc.equal(end_user, ""), team, end_user)
        customer = who
        if self.customers:
            values = pc.unique(who)
            renamed = pa.array([self.customers.get(v, v) for v in values.to_pylist()],
                               pa.string())
            customer = renamed.take(pc.index_in(who, value_set=values))
        group = trimmed("model_group")
        model = pc.if_else(pc.equal(group, ""), column("model"), group)
        status = trimmed("status", ascii_=True)
        low = pc.ascii_lower(status)
        unbilled = pc.invert(pc.or_(pc.equal(low, ""), pc.equal(low, "success")))
        parsed = self._json_columns(column("metadata"), column("request_tags"), ok)
        prompt = column("prompt_tokens")
        digits = pc.fill_null(pc.match_substring_regex(prompt, r"^[0-9]{1,15}$"), False)
        number = pc.cast(pc.if_else(digits, prompt, "0"), pa.int64())
        written = pc.add(parsed["cache_write_tokens"], parsed["cache_write_1h_tokens"])
        some = pc.greater(written, 0)
        ok.append(pc.or_(pc.invert(some), digits))  # (a count of other text: ``event``)
        apart = pc.and_(some, pc.greater(pc.add(parsed["cached_input_tokens"], written),
                                         number))
        prompt = pc.if_else(apart, pc.cast(pc.add(number, written), pa.string()), prompt)
        return {
            "event_id": column("request_id"), "timestamp": stamp, "customer": customer,
            "model": model, "feature": parsed.pop("feature"),
            "input_tokens": prompt,
            "output_tokens": column("completion_tokens"),
            "user": pc.fill_null(column("user"), ""), "unbilled": unbilled,
            "cache_hit": column("cache_hit"), **parsed,
        }

    def _json_columns(self, metadata: pa.Array, tags: pa.Array, ok: list[pa.Array]
                      ) -> dict[str, pa.Array]:
        """The usage of the metadata and the first request tag, the two JSON values of each
        row read by pyarrow as one line ``{"m": <metadata>, "t": <tags>}``; a row whose
        JSON pyarrow cannot read as an object and a list of text is slow."""
        n = len(metadata)
        plain = []
        for value, empty in ((metadata, "{}"), (tags, "[]")):
            value = pc.fill_null(value, "")
            blank = pc.match_substring_regex(value, _BLANK)
            plain.append(pc.if_else(blank, empty, value))
            ok.append(pc.invert(pc.match_substring_regex(value, _JSON_RISKY)))
        lines = pc.binary_join_element_wise('{"m":', plain[0], ',"t":', plain[1], "}\n", "")
        text_ = lines.buffers()[2]
        offsets = np.frombuffer(lines.buffers()[1], np.int32)[:n + 1]
        body = text_[int(offsets[0]):int(offsets[-1])].to_pybytes() if n else b""
        schema = fp.build_schema({**usage_schema("m")[0], "t": pa.list_(pa.string())})
        assert schema is not None
        records = fp.Records()
        records.whole = body
        records.eligible = list(range(n))
        records.piece = lambda k: body[int(offsets[k] - offsets[0]):
                                       int(offsets[k + 1] - offsets[0]) - 1]
        parts = fp.read_records(records, schema, False)
        good = np.zeros(n, dtype=bool)
        pieces: list[pa.Table] = []
        for first, stop, table in parts:
            if table is None:
                table = pa.table({name: pa.nulls(stop - first, schema.field(name).type)
                                  for name in schema.names})
            else:
                good[first:stop] = True
            pieces.append(table)
        whole_ = pa.concat_tables(pieces) if pieces else pa.table(
            {name: pa.nulls(0, schema.field(name).type) for name in schema.names})
        ok.append(pa.array(good))
        out = usage_columns(whole_, ok, "m")
        listed = whole_.column("t").combine_chunks()
        some = pc.fill_null(pc.greater(pc.list_value_length(listed), 0), False)
        first_tag = pc.list_element(pc.if_else(some, listed, pa.scalar(["-"], listed.type)),
                                    0)
        ok.append(pc.or_(pc.invert(some), pc.is_valid(first_tag)))
        out["feature"] = pc.if_else(some, first_tag, "")
        return out

    def _feed_events(self, core: UsageCore,
                     tables: list[tuple[pa.Table, np.ndarray, Callable[[int], str], Callable]],
                     others: list[tuple[int, str, Any]]) -> None:
        """The events of one chunk, in line order, as one batch: the tables' rows and the
        ``others`` (mapped one by one) together."""
        parts = [events for events, _, _, _ in tables]
        numbers = [lines for _, lines, _, _ in tables]
        if others:
            numbers.append(np.asarray([item[0] for item in others], dtype=np.int64))
        sizes = np.cumsum([0] + [len(lines) for lines in numbers])
        lines = np.concatenate(numbers)
        order = None
        if len(lines) > 1 and bool((lines[1:] < lines[:-1]).any()):
            order = np.argsort(lines, kind="stable")
            lines = lines[order]

        def find(j: int) -> tuple[int, int]:
            at = int(order[j]) if order is not None else j
            part = int(np.searchsorted(sizes, at, side="right")) - 1
            return part, at - int(sizes[part])

        def text_of(j: int) -> str:
            part, i = find(j)
            return others[i][1] if part == len(tables) else tables[part][2](i)

        def value_of(j: int) -> dict[str, Any]:
            part, i = find(j)
            return others[i][2] if part == len(tables) else tables[part][3](i)

        try:
            if others:
                parts.append(_rows_table([item[2] for item in others]))
            table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            if order is not None:
                table = table.take(pa.array(order))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            core.feed_rows((int(lines[j]), text_of(j), value_of(j)) for j in range(len(lines)))
            return
        core.feed_table(table, pa.array(lines), text_of, value_of)


RAW_COUNTS = ("input_tokens", "output_tokens")  # the CSV's text, read by the core


def _events_table(columns: dict[str, pa.Array], n: int) -> pa.Table:
    """``fastpath.event_table`` with the CSV's counts as text (``RAW_COUNTS``)."""
    table = fp.event_table({k: v for k, v in columns.items() if k not in RAW_COUNTS}, n)
    for name in RAW_COUNTS:
        table = table.set_column(table.column_names.index(name), name,
                                 pc.cast(columns[name], pa.string()))
    return table


def _rows_table(events: list[dict[str, Any]]) -> pa.Table:
    """``fastpath.rows_table`` with the CSV's counts as text (``RAW_COUNTS``)."""
    table = fp.rows_table([{k: v for k, v in e.items() if k not in RAW_COUNTS}
                           for e in events])
    for name in RAW_COUNTS:
        table = table.set_column(table.column_names.index(name), name,
                                 pa.array([e.get(name) for e in events], pa.string()))
    return table
