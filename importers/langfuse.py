"""Langfuse observations: ``GET /api/public/observations`` (v1 and v2) and their exports.

Records are ``ObservationsView`` objects, in the API's ``{"data": [...], "meta": {...}}``,
a JSON array or JSON Lines:

    {"data": [{"id": "obs_5c0e", "traceId": "trace_1a2b", "type": "GENERATION",
      "startTime": "2025-11-01T09:14:03.512Z", "model": "gpt-5-mini-2025-08-07",
      "metadata": {"tenant": "cust_00017"},
      "usageDetails": {"input": 186, "input_cached_tokens": 1024, "output": 133,
                       "output_reasoning_tokens": 192, "total": 1535}}], "meta": {...}}

Only ``GENERATION`` and ``EMBEDDING`` observations carry usage; the others (spans,
events) are skipped. Mapping: ``id`` is the event id, ``startTime`` the timestamp, the
model ``model``; the customer ``userId`` (v2 observations and trace exports carry it),
else ``metadata.customer``, ``metadata.customer_id``, ``metadata.tenant`` or
``metadata.user_id`` (renamed by ``customers``). Tokens follow Langfuse's own rule on
``usageDetails`` (its usage types are disjoint, each priced on its own): every key
containing ``input`` is input, every key containing ``output`` is output (``total`` is
neither), so that input is every prompt token. Of the input keys, those that name a
cache read (``cached``, ``cache_read``: ``input_cached_tokens``, ``input_cache_read``,
``cache_read_input_tokens``) are the cached input, those that name a cache write
(``cache_creation``, ``cache_write``: ``input_cache_creation``,
``cache_creation_input_tokens``, ``input_cache_write``) the prompt-cache writes, 1-hour
ones where the key says ``1h`` (``input_cache_creation_1h``, ``cache_write_1h_tokens``),
5-minute ones otherwise (``cache_write_tokens``). Without ``usageDetails`` (or with an
empty one) the legacy ``usage.input`` / ``usage.output`` are read. ``level: ERROR`` is
counted (``unbilled_events``) and not billed.

Column-wise (``fastpath.gateway_feed``), the free-form ``usageDetails`` objects are
found in the records' bytes and read by pyarrow on their own, their keys as they come
(``fast_columns_in``); a record whose ``usageDetails`` is not found exactly once, or
holds a value other than a whole number, is read by ``event``.

Langfuse's daily metrics (``/api/public/metrics/daily``) are not importable: they are
per day and model with no customer key (a per-customer query's ``userId`` filter is not
in the answer) and no event ids; ``tokenbooks import`` says so when given one.

    importer = Importer("contracts/", customers={"cust_00017": "acme"})
    entries = importer.extract("observations.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from . import fastpath as fp
from .base import Progress
from .foreign import ForeignUsageImporter, count, dig, has, text, utc_stamp
from .usage import MAX_COUNT, RowProblem, UsageCore, whole

USAGE_TYPES = ("GENERATION", "EMBEDDING")
DAILY_METRICS = ("date", "countTraces", "countObservations", "usage")
KEY = b'"usageDetails"'


def _is_cached(key: str) -> bool:
    low = key.lower()
    return "input" in low and ("cached" in low or "cache_read" in low)


def kind_of(key: str) -> str:
    """What a ``usageDetails`` key counts: "" (nothing: ``total``), ``input``, ``cached``
    (an input key), ``write`` or ``write_1h`` (input keys), ``output``, or ``other``."""
    low = str(key).lower()
    if low == "total":
        return ""
    if "input" in low:
        if _is_cached(low):
            return "cached"
        if "cache_creation" in low or "cache_write" in low:
            return "write_1h" if "1h" in low else "write"
        return "input"
    return "output" if "output" in low else "other"


def detail_counts(details: Mapping[str, Any]) -> dict[str, int]:
    """The canonical counts of a ``usageDetails`` object (RowProblem for a value that is
    no whole number)."""
    out = dict.fromkeys(("input_tokens", "cached_input_tokens", "output_tokens",
                         "cache_write_tokens", "cache_write_1h_tokens"), 0)
    for key, value in details.items():
        kind = kind_of(key)
        if not kind or value is None:
            continue
        number = whole(value, f"usageDetails.{key}")
        if kind == "output":
            out["output_tokens"] += number
        elif kind != "other":
            out["input_tokens"] += number
            target = {"cached": "cached_input_tokens", "write": "cache_write_tokens",
                      "write_1h": "cache_write_1h_tokens"}.get(kind)
            if target:
                out[target] += number
    return out


class Importer(ForeignUsageImporter):
    """Langfuse observations (API page, JSON array or JSON Lines)."""

    format_name = "Langfuse observations"
    settings_name = "langfuse"
    paths = (("data", "*"), ("*",))
    required = ("id", "traceId", "type", "startTime")
    customer_keys = ("userId", "metadata.customer", "metadata.customer_id",
                     "metadata.tenant", "metadata.user_id")

    def looks_like(self, record: Any) -> bool:
        return super().looks_like(record) and (has(record, "usageDetails")
                                               or has(record, "usage"))

    def event(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = text(record, "type").upper()
        if kind not in USAGE_TYPES:
            return None
        details = dig(record, "usageDetails")
        if isinstance(details, Mapping) and details:
            counts = detail_counts(details)
        elif details is None or isinstance(details, Mapping):
            counts = {"input_tokens": count(record, "usage.input"), "cached_input_tokens": 0,
                      "output_tokens": count(record, "usage.output"),
                      "cache_write_tokens": 0, "cache_write_1h_tokens": 0}
        else:
            raise RowProblem("usageDetails", f"expected an object of counts, got "
                                             f"{type(details).__name__}")
        return {
            "event_id": text(record, "id"),
            "timestamp": utc_stamp(record.get("startTime"), "startTime"),
            "customer": self.customer(record),
            "model": text(record, "model"),
            **counts,
            "user": text(record, "userId"),
            "unbilled": text(record, "level").upper() == "ERROR",
        }

    # -- column-wise ----------------------------------------------------------------------------

    fast_fields = {"id": pa.string(), "type": pa.string(), "startTime": pa.string(),
                   "model": pa.string(), "userId": pa.string(), "level": pa.string(),
                   "usage.input": pa.int64(), "usage.output": pa.int64(),
                   "usageDetails": pa.struct([])}  # (whether there is one: its keys are
    # read from the bytes, ``fast_columns_in``)

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        fp.gateway_read(self, path, core, progress)

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        ok.append(pa.repeat(pa.scalar(False), table.num_rows))  # (needs the bytes)
        return {}, None

    def fast_prepare(self, records: fp.Records) -> Future:
        """The counts of the records' ``usageDetails`` (``_details``), found and read in
        a thread while pyarrow parses the records (``fastpath._mapped``)."""
        index = np.asarray(records.eligible, dtype=np.int64)
        worker = ThreadPoolExecutor(1)
        pending = worker.submit(_details, records, index)
        worker.shutdown(wait=False)
        return pending

    def fast_columns_in(self, table: pa.Table, ok: list[pa.Array], records: fp.Records,
                        index: np.ndarray, pending: Future | None = None
                        ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        n = table.num_rows
        kind = fp.texts_of(table, "type")
        ok.append(pc.string_is_ascii(kind))
        usage = pc.invert(pc.is_in(pc.ascii_upper(kind), value_set=pa.array(USAGE_TYPES)))
        level = fp.texts_of(table, "level")
        ok.append(pc.string_is_ascii(level))
        present = fp.column_at(table, "usageDetails")
        assert present is not None
        if pending is None:
            found, at = _details(records, index), np.arange(n)
        else:  # (the records of ``index`` among the eligible ones ``pending`` read)
            found = pending.result()
            at = np.searchsorted(np.asarray(records.eligible, dtype=np.int64), index)
        keys, objects, bad, keyed, sums = found
        has = pc.is_valid(present).to_numpy(zero_copy_only=False)
        exact = np.where(has, (keys[at] == 1) & (objects[at] == 1), objects[at] == 0)
        ok.append(pa.array(exact & ~bad[at]))
        legacy = pa.array(~keyed[at])
        counts = {name: pa.array(values[at]) for name, values in sums.items()}
        legacy_input = fp.counts_of(table, ok, "usage.input")
        legacy_output = fp.counts_of(table, ok, "usage.output")
        for name, old in (("input_tokens", legacy_input), ("output_tokens", legacy_output)):
            counts[name] = pc.if_else(legacy, old, counts[name])
        for name in ("cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens"):
            counts[name] = pc.if_else(legacy, 0, counts[name])
        return {
            "event_id": fp.texts_of(table, "id"),
            "timestamp": fp.stamps_of(table, ok, "startTime"),
            "customer": fp.customer_column(self, table, ok),
            "model": fp.texts_of(table, "model"),
            **counts,
            "user": fp.texts_of(table, "userId"),
            "unbilled": pc.equal(pc.ascii_upper(level), "ERROR"),
        }, usage if n else None


def _details(records: fp.Records, index: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """What the ``usageDetails`` of the records ``index`` hold, found in their bytes and
    read by pyarrow with the keys they have: per record, the number of its keys named
    ``usageDetails`` and of those holding an object, whether it cannot be read
    column-wise (an object not read, a value that is no whole number), whether its
    object has a key (else the legacy ``usage`` is read), and the counts."""
    n = len(index)
    data, starts, ends = _record_bytes(records, index)
    octets = np.frombuffer(data, np.uint8)
    found = np.flatnonzero(octets == 0x44) if len(octets) else np.zeros(0, np.int64)
    found = found[(found >= 6) & (found + 8 < len(octets))]  # the D of "usageDetails"
    found = found[(octets[found - 6] == 0x22) & (octets[found + 7] == 0x22)]
    window = octets[found[:, None] + np.arange(-6, 8)[None, :]]
    found = found[(window == np.frombuffer(KEY, np.uint8)[None, :]).all(axis=1)]
    colon = fp._skip_blank(octets, found + 7, 1)
    found, colon = found[colon >= 0], colon[colon >= 0]
    keep = octets[colon] == 0x3A
    found, colon = found[keep], colon[keep]
    opening = fp._skip_blank(octets, colon, 1)
    owner = np.searchsorted(starts, found, side="right") - 1
    inside = (owner >= 0) & (found < ends[np.maximum(owner, 0)])
    objects = inside & (opening >= 0) & (octets[np.maximum(opening, 0)] == 0x7B)
    keys = np.bincount(owner[inside], minlength=n) if n else np.zeros(0, np.int64)
    held = np.bincount(owner[objects], minlength=n) if n else np.zeros(0, np.int64)
    opening, owner = opening[objects], owner[objects]
    bad = np.zeros(n, dtype=bool)
    closes = np.flatnonzero(octets == 0x7D)
    after = np.searchsorted(closes, opening)
    ok_span = after < len(closes)
    closing = np.where(ok_span, closes[np.minimum(after, len(closes) - 1)], -1)
    ok_span &= closing < ends[owner]
    bad[owner[~ok_span]] = True
    sums = {name: np.zeros(n, dtype=np.int64) for name in (
        "input_tokens", "cached_input_tokens", "output_tokens", "cache_write_tokens",
        "cache_write_1h_tokens")}
    keyed = np.zeros(n, dtype=bool)
    spans = (opening[ok_span], closing[ok_span] + 1)
    owners = owner[ok_span]
    table = _read_objects(data, *spans)
    if table is None:  # (not read: every record with an object is slow)
        bad[owners] = True
        return keys, held, bad, keyed, sums
    read, parsed = table
    bad[owners[~read]] = True
    rows = owners[read]
    anything = np.zeros(len(rows), dtype=bool)
    fine = np.ones(len(rows), dtype=bool)
    for name in parsed.column_names:
        column = parsed.column(name)
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        anything |= valid
        what = kind_of(name)
        if not what or pa.types.is_null(column.type):
            continue
        if not pa.types.is_integer(column.type):
            fine &= ~valid
            continue
        values = pc.fill_null(column, 0).to_numpy(zero_copy_only=False)
        fine &= (values >= 0) & (values <= MAX_COUNT)
        values = np.where((values >= 0) & (values <= MAX_COUNT), values, 0)
        if what == "output":
            sums["output_tokens"][rows] += values
        elif what != "other":
            sums["input_tokens"][rows] += values
            target = {"cached": "cached_input_tokens", "write": "cache_write_tokens",
                      "write_1h": "cache_write_1h_tokens"}.get(what)
            if target:
                sums[target][rows] += values
    bad[rows[~fine]] = True
    lows, highs = spans[0][read], spans[1][read]
    for j in np.flatnonzero(~anything).tolist():  # {} or keys with nulls only?
        anything[j] = data.find(b'"', int(lows[j]), int(highs[j])) >= 0
    keyed[rows] = anything
    return keys, held, bad, keyed, sums


def _record_bytes(records: fp.Records, index: np.ndarray
                  ) -> tuple[bytes | bytearray, np.ndarray, np.ndarray]:
    """The bytes of the records ``index`` (the file's, or their pieces joined) and each
    one's start and end in them."""
    if isinstance(records, fp.Spans):
        return records.data, records.starts[index], records.ends[index]
    pieces = [records.piece(int(k)) for k in index]
    sizes = np.asarray([len(p) + 1 for p in pieces], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return b"\n".join(pieces) + b"\n", starts, starts + sizes - 1


def _read_objects(data: bytes | bytearray, lows: np.ndarray, highs: np.ndarray
                  ) -> tuple[np.ndarray, pa.Table] | None:
    """The JSON objects at ``lows[j]``..``highs[j]`` of ``data`` read by pyarrow, each key a
    column (its type inferred): (which were read, their table); None if none was."""
    m = len(lows)
    if not m:
        return np.zeros(0, dtype=bool), pa.table({})
    pieces = [data[a:b] for a, b in zip(lows.tolist(), highs.tolist(), strict=True)]
    read = np.zeros(m, dtype=bool)
    tables: list[pa.Table] = []

    def attempt(first: int, stop: int) -> None:
        lines = b"\n".join(pieces[first:stop]) + b"\n"
        try:
            table = pj.read_json(pa.BufferReader(lines),
                                 read_options=pj.ReadOptions(block_size=fp.BLOCK))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            table = None
        if table is not None and table.num_rows == stop - first:
            read[first:stop] = True
            tables.append(table)
            return
        if stop - first <= fp.SMALLEST:
            return
        half = (first + stop) // 2
        attempt(first, half)
        attempt(half, stop)

    attempt(0, m)
    if not tables:
        return None
    try:
        joined = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return read, joined
