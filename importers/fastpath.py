"""The column-wise path of the importers of other tools' exports (``foreign``).

``ForeignUsageImporter.feed`` maps each record in Python (``event``): exact, and about
ten times slower per row than the canonical importer. A format that declares
``fast_schema`` (the fields its mapping reads, as a pyarrow schema) and ``fast_columns``
(the mapping, column-wise) is read here instead:

1. the records are parsed by ``pyarrow.json`` in bulk: JSON Lines as they are, a JSON
   document's records located first (a scan of its brackets and quotes with numpy;
   the document outside its records is checked and walked in Python, with the
   records replaced by markers, so the path, the order and the bucket context are the
   ones ``foreign.scan`` gives);
2. ``fast_columns`` maps them to the canonical columns, and says which rows it vouches
   for: every other row (a value of another type, a null where the record might lack
   the field, an id it cannot read, a line pyarrow rejects) goes through ``event``
   with its record as ``json`` decodes it, so its event or its quarantine reason is
   the per-record path's, exactly;
3. the events are handed to the core in the very batches the per-record path makes
   (``BATCH`` events, the problems met meanwhile before them), so the output --
   entries, sidecars, quarantine, summaries -- is byte for byte the same.

A file this path cannot vouch for as a whole (not UTF-8, a malformed document, a shape
it does not walk) raises ``Fallback`` before anything is fed: the per-record path reads
it. ``ForeignUsageImporter.fast = False`` turns this path off (the tests compare both).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .usage import (
    EXTRA_COUNTS,
    MAX_COUNT,
    TEXT_FIELDS,
    TOKEN_FIELDS,
    RowProblem,
    class_columns,
)

BLOCK = 1 << 20
SMALLEST = 64  # lines: below this a piece pyarrow rejects is read line by line
_LUT = bytes(1 if c == 0x22 else 2 if c == 0x5C else 3 if c in (0x7B, 0x5B)
             else 4 if c in (0x7D, 0x5D) else 0 for c in range(256))
MARK = "\u0000tb"  # a record's place in a document's skeleton: "\u0000tb<n>"


class Fallback(Exception):
    """The file as a whole is not one this path vouches for: read it record by record."""


# -- column helpers (the Python helpers of ``foreign``, column-wise) ------------------------------


def field(table: pa.Table, path: str) -> pa.Array | None:
    """The column at a dotted path of the records (None if the schema lacks it)."""
    parts = path.split(".")
    if parts[0] not in table.column_names:
        return None
    column = table.column(parts[0]).combine_chunks()
    for part in parts[1:]:
        if not pa.types.is_struct(column.type) or column.type.get_field_index(part) < 0:
            return None
        column = pc.struct_field(column, part)
    return column


def nonempty(column: pa.Array | None, n: int) -> pa.Array:
    """A text column with "" as null (``foreign.text`` skips both)."""
    if column is None:
        return pa.nulls(n, pa.string())
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def first_text(table: pa.Table, *paths: str) -> pa.Array:
    """``foreign.text(record, *paths)`` for text columns: the first non-empty, else ""."""
    n = table.num_rows
    columns = [nonempty(field(table, p), n) for p in paths]
    value = columns[0] if len(columns) == 1 else pc.coalesce(*columns)
    return pc.fill_null(value, "")


def count_of(table: pa.Table, ok: list[pa.Array], *paths: str) -> pa.Array:
    """``foreign.count(record, *paths)`` for int64 columns; a value out of 0..MAX_COUNT
    (which ``whole`` refuses) makes its row slow (appended to ``ok`` as a mask)."""
    n = table.num_rows
    total = pa.repeat(pa.scalar(0, pa.int64()), n)
    for path in paths:
        column = field(table, path)
        if column is None:
            continue
        inside = pc.and_(pc.greater_equal(column, 0), pc.less_equal(column, MAX_COUNT))
        ok.append(pc.fill_null(inside, True))
        total = pc.add(total, pc.fill_null(column, 0))
    return total


_NO_OFFSET = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"


def stamp_of(table: pa.Table, ok: list[pa.Array], path: str) -> pa.Array:
    """``foreign.utc_stamp`` for a text column: RFC 3339 UTC as is, a time without an
    offset with ``Z``; anything else makes its row slow."""
    column = field(table, path)
    if column is None:
        ok.append(pa.repeat(pa.scalar(False), table.num_rows))
        return pa.nulls(table.num_rows, pa.string())
    as_is = pc.and_(pc.ends_with(column, "Z"), pc.match_substring(column, "T"))
    bare = pc.match_substring_regex(column, _NO_OFFSET)
    ok.append(pc.fill_null(pc.or_(as_is, bare), False))
    fixed = pc.binary_join_element_wise(pc.replace_substring(column, " ", "T"), "Z", "")
    return pc.if_else(pc.fill_null(as_is, False), column, fixed)


def flag(table: pa.Table, path: str) -> pa.Array:
    column = field(table, path)
    if column is None:
        return pa.repeat(pa.scalar(False), table.num_rows)
    return pc.fill_null(column, False)


def customer_of(importer: Any, table: pa.Table, ok: list[pa.Array]) -> pa.Array:
    """``ForeignUsageImporter.customer`` column-wise: per path, its values resolved once
    per distinct value (``names_for``, the mapping, the contracts); the first path that
    resolves wins, else the first value (the core quarantines it as unknown); a row with
    no value at all, or a path whose column is not text, is slow."""
    n = table.num_rows
    resolved, raw = [], []
    for path in importer.customer_from:
        column = field(table, path)
        if column is None or not pa.types.is_string(column.type):
            ok.append(pa.repeat(pa.scalar(False), n))
            return pa.nulls(n, pa.string())
        column = nonempty(column, n)
        values = pc.unique(column).to_pylist()
        names = [None if v is None else importer.resolve(path, v) for v in values]
        where = pc.index_in(column, value_set=pa.array(values, pa.string()))
        resolved.append(pa.array(names, pa.string()).take(where))
        raw.append(column)
    if not raw:
        ok.append(pa.repeat(pa.scalar(False), n))
        return pa.nulls(n, pa.string())
    found = pc.coalesce(*resolved, *raw)
    ok.append(pc.is_valid(found))
    return found


def event_table(columns: dict[str, pa.Array], n: int) -> pa.Table:
    """The batch table ``ForeignUsageImporter._flush`` builds from event dicts: a key the
    events lack is a null column."""
    out: dict[str, pa.Array] = {}
    for name in (*TEXT_FIELDS, "timestamp"):
        value = columns.get(name)
        out[name] = pa.nulls(n, pa.string()) if value is None else pc.cast(value, pa.string())
    for name in TOKEN_FIELDS:
        value = columns.get(name)
        out[name] = pa.nulls(n, pa.int64()) if value is None else pc.cast(value, pa.int64())
    unbilled = columns.get("unbilled")
    out["unbilled"] = (pa.repeat(pa.scalar(False), n) if unbilled is None
                       else pc.fill_null(pc.cast(unbilled, pa.bool_()), False))
    for name in EXTRA_COUNTS:  # the token classes the mapping gives (docs/token-classes.md)
        value = columns.get(name)
        if value is not None:
            out[name] = pc.cast(value, pa.int64())
    if columns.get("cache_hit") is not None:
        out["cache_hit"] = columns["cache_hit"]
    return pa.table(out)


def rows_table(events: Sequence[dict[str, Any]]) -> pa.Table:
    """``_flush``'s table of event dicts (raises as it does)."""
    columns: dict[str, pa.Array] = {
        name: pa.array([e.get(name) for e in events], pa.string())
        for name in (*TEXT_FIELDS, "timestamp")}
    for name in TOKEN_FIELDS:
        columns[name] = pa.array([e.get(name) for e in events], pa.int64())
    columns["unbilled"] = pa.array([bool(e.get("unbilled")) for e in events], pa.bool_())
    columns.update(class_columns(events))
    return pa.table(columns)


def all_of(masks: list[pa.Array], n: int) -> pa.Array:
    out = pa.repeat(pa.scalar(True), n)
    for mask in masks:
        out = pc.and_(out, pc.fill_null(mask, False))
    return out


# -- parsing records with pyarrow, piece by piece ------------------------------------------------


def read_records(records: Records, schema: pa.Schema, newlines: bool
                 ) -> list[tuple[int, int, pa.Table | None]]:
    """Parse the eligible records (each a JSON object) in parts: (first, stop, table of
    eligible records first..stop-1, or None: those are to be read one by one)."""
    out: list[tuple[int, int, pa.Table | None]] = []
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                              newlines_in_values=newlines)
    eligible = records.eligible

    def attempt(first: int, stop: int, data: bytes | None = None) -> None:
        if data is None:
            data = b"\n".join([records.piece(k) for k in eligible[first:stop]]) + b"\n"
        try:
            table = pj.read_json(pa.BufferReader(data),
                                 read_options=pj.ReadOptions(block_size=BLOCK),
                                 parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            table = None
        if table is not None and table.num_rows == stop - first:
            out.append((first, stop, table))
            return
        if stop - first <= SMALLEST:
            out.append((first, stop, None))
            return
        half = (first + stop) // 2
        attempt(first, half)
        attempt(half, stop)

    if eligible:
        attempt(0, len(eligible), records.whole)
    return out


# -- JSON documents: where the records are --------------------------------------------------------


def containers(data: bytes, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the arrays and objects that open at nesting ``depth`` (the top
    value is depth 0), outside strings; Fallback if the brackets do not balance."""
    kinds = np.frombuffer(data.translate(_LUT), np.uint8)
    quotes = np.flatnonzero(kinds == 1)
    if b"\\" in data:  # a backslash: the quotes it escapes are no quotes
        raw = memoryview(data)
        real = np.ones(len(quotes), dtype=bool)
        for k in np.flatnonzero(kinds[np.maximum(quotes - 1, 0)] == 2).tolist():
            i = int(quotes[k]) - 1
            slashes = 0
            while i >= 0 and raw[i] == 0x5C:
                slashes += 1
                i -= 1
            real[k] = slashes % 2 == 0
        quotes = quotes[real]
    opening = np.flatnonzero(kinds == 3)
    closing = np.flatnonzero(kinds == 4)
    opening = opening[np.searchsorted(quotes, opening) % 2 == 0]
    closing = closing[np.searchsorted(quotes, closing) % 2 == 0]
    pos = np.concatenate([opening, closing])
    step = np.concatenate([np.ones(len(opening), np.int64), -np.ones(len(closing), np.int64)])
    order = np.argsort(pos, kind="stable")
    pos, step = pos[order], step[order]
    level = np.cumsum(step)
    if len(level) == 0 or level[-1] != 0 or (level < 0).any():
        raise Fallback("unbalanced")
    before = level - step  # the depth a bracket opens at / closes back to
    opens = np.flatnonzero((step == 1) & (before == depth))
    closes = np.flatnonzero((step == -1) & (level == depth))
    if len(opens) != len(closes):
        raise Fallback("unbalanced")
    return pos[opens], pos[closes] + 1


def skeleton(data: bytes, starts: np.ndarray, ends: np.ndarray) -> Any:
    """The document with each container at ``starts``..``ends`` replaced by a marker,
    decoded with every object as its list of (key, value) pairs (duplicates kept)."""
    parts: list[bytes] = []
    last = 0
    for k, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        parts.append(data[last:start])
        parts.append(b'"\\u0000tb%d"' % k)
        last = end
    parts.append(data[last:])
    try:
        return json.loads(b"".join(parts).decode("utf-8"), object_pairs_hook=list)
    except ValueError as exc:
        raise Fallback("not JSON") from exc


def walk(node: Any, steps: tuple[str, ...], depth: int, context: dict[str, Any],
         out: list[tuple[Any, dict[str, Any]]]) -> None:
    """``foreign._scan`` on a skeleton: (value, context) of each value at ``steps``, in
    the order ``scan`` yields them (an object's records after its last key, but the top
    object's at once, with the keys seen so far)."""
    if not steps:
        out.append((node, context))
        return
    step, rest = steps[0], steps[1:]
    if step == "*":
        if type(node) is list and not _is_object(node):
            if not rest:
                out.extend([(item, context) for item in node])
                return
            for item in node:
                walk(item, rest, depth + 1, context, out)
        return
    if not _is_object(node):
        return
    own = dict(context)
    for key, value in node:
        if key == step:
            walk(value, rest, depth + 1, own if depth else dict(own), out)
        elif not (type(value) is list or isinstance(value, str) and value.startswith(MARK)):
            own[key] = value


def _is_object(node: Any) -> bool:
    return type(node) is list and (not node or type(node[0]) is tuple)


def walk_document(tree: Any, steps: tuple[str, ...]) -> list[tuple[Any, dict[str, Any]]]:
    out: list[tuple[Any, dict[str, Any]]] = []
    walk(tree, steps, 0, {}, out)
    return out


def to_python(node: Any) -> Any:
    """A skeleton value (pairs lists) as ``json`` decodes it (dicts, last key wins)."""
    if type(node) is list:
        if node and type(node[0]) is tuple:
            return {k: to_python(v) for k, v in node}
        return [to_python(v) for v in node]
    return node


def digests(keys: list[bytes]) -> list[str]:
    sha = hashlib.sha256
    return [sha(k).hexdigest()[:16] for k in keys]


def lines_at(newlines: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """1-based line of each byte offset."""
    return np.searchsorted(newlines, offsets) + 1


def json_text(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)



# -- the schema of what a mapping reads ------------------------------------------------------------


def build_schema(fields: dict[str, pa.DataType]) -> pa.Schema | None:
    """A nested schema of dotted paths (None if a path is both a value and a parent)."""
    tree: dict[str, Any] = {}
    for path, kind in fields.items():
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return None
        if parts[-1] in node and (isinstance(node[parts[-1]], dict)) != isinstance(kind, dict):
            return None
        node.setdefault(parts[-1], kind)

    def typed(node: Any) -> pa.DataType:
        if isinstance(node, dict):
            return pa.struct([pa.field(k, typed(v)) for k, v in node.items()])
        return node

    return pa.schema([pa.field(k, typed(v)) for k, v in tree.items()])


# -- the reader ----------------------------------------------------------------------------------


class Records:
    """The records of one file: their lines, pieces for pyarrow, and how to get each one
    (and its original text) as the per-record path has it."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.pieces: list[bytes] = []  # the JSON text of each record pyarrow may read
        self.newlines = False
        self.record: Callable[[int], Any] = lambda k: None
        self.original: Callable[[int], str] = lambda k: ""
        self.context: list[dict[str, Any]] | None = None  # per record (bucket formats)
        self.problems: dict[int, RowProblem] = {}  # records that are problems already
        self.whole: bytes | None = None  # all records, one per line, as they are
        self.eligible: list[int] = []  # the records pyarrow may read
        self.piece: Callable[[int], bytes] = lambda k: self.pieces[k]


def jsonl_records(data: bytes) -> Records:
    out = Records()
    split: list[list[bytes]] = []

    def texts() -> list[bytes]:
        if not split:
            split.append(data.split(b"\n"))
        return split[0]

    octets = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(octets == 10)
    heads = np.concatenate([[0], ends + 1])
    if heads[-1] >= len(data):  # the file ends with a line end: no last line
        heads = heads[:-1]
    simple = (len(heads) > 0 and bool((octets[heads] == 0x7B).all())
              and bool((octets[np.concatenate([ends[:len(heads)] - 1, [len(data) - 1]])
                               [:len(heads)]] == 0x7D).all()))
    if simple:  # every line an object: pyarrow reads the file as it is
        out.lines = (np.arange(len(heads)) + 1).tolist()
        out.whole = data
        keep = out.lines
    else:
        keep = []
        for number, line in enumerate(texts(), start=1):
            if line[:1] == b"{" and line[-1:] in (b"}", b"\r"):
                keep.append(number)
                continue
            if not line.decode("utf-8").strip():
                continue
            keep.append(number)  # read by ``json`` alone (a problem, most likely)
        out.lines = keep
    out.piece = lambda k: texts()[keep[k] - 1]
    out.eligible = (list(range(len(keep))) if simple else
                    [k for k, n in enumerate(keep) if texts()[n - 1][:1] == b"{"])

    def record(k: int) -> Any:
        return json.loads(out.original(k))

    def original(k: int) -> str:
        return texts()[keep[k] - 1].decode("utf-8").rstrip("\r")

    out.record, out.original = record, original
    if simple:
        return out
    chosen = set(out.eligible)
    for k in range(len(keep)):
        if k not in chosen:
            try:
                record(k)
            except ValueError as exc:
                out.problems[k] = RowProblem("(line)", f"malformed JSON: {exc}")
    return out


def document_records(importer: Any, data: bytes, text_: str) -> Records:
    from .foreign import HEAD_CHARS, sample_scan

    paths = importer._doc_paths(text_) or importer.paths
    chosen = paths[0]
    for candidate in paths:
        if sample_scan(text_[:HEAD_CHARS], candidate, 1):
            chosen = candidate
            break
    if importer.merge_context and len(chosen) > 1 and chosen[-2] != "*":
        raise Fallback("context of a record's own object")
    if chosen[:1] == ("*",) and text_.lstrip()[:1] != "[" or not text_.strip():
        raise Fallback("shape")
    starts, ends = containers(data, len(chosen))
    tree = skeleton(data, starts, ends)
    found = walk_document(tree, chosen)
    order: list[int] = []
    for value, _ in found:
        if not (isinstance(value, str) and value.startswith(MARK)):
            raise Fallback("a record that is not an object or array")
        order.append(int(value[len(MARK):]))
    if any(b <= a for a, b in zip(order, order[1:], strict=False)):
        raise Fallback("order")
    chosen_set = set(order)
    for k in range(len(starts)):  # the other values at that depth: still valid JSON?
        if k not in chosen_set:
            try:
                json.loads(data[starts[k]:ends[k]])
            except ValueError as exc:
                raise Fallback("not JSON") from exc
    out = Records()
    picked = np.asarray(order, dtype=np.int64)
    first, last = starts[picked], ends[picked]
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    out.lines = lines_at(newlines, first).tolist()
    out.pieces = [data[a:b] for a, b in zip(first.tolist(), last.tolist(), strict=True)]
    out.newlines = len(newlines) > 0
    contexts = [context for _, context in found]
    merge = importer.merge_context
    out.context = contexts if merge else None
    cache: dict[int, Any] = {}

    def record(k: int) -> Any:
        if k not in cache:
            value = json.loads(out.pieces[k])
            cache[k] = {**contexts[k], **value} if merge and isinstance(value, dict) else value
        return cache[k]

    def original(k: int) -> str:
        return json_text(record(k))

    out.eligible = [k for k, piece in enumerate(out.pieces) if piece[:1] == b"{"]
    for k in range(len(out.pieces)):
        if out.pieces[k][:1] != b"{":
            try:
                record(k)
            except ValueError as exc:
                raise Fallback("not JSON") from exc
    out.record, out.original = record, original
    return out


def merged(records: Records, table: pa.Table, ok: list[pa.Array]) -> pa.Table:
    """A bucket format's records with their bucket's fields (``{**context, **record}``):
    a field a context holds is the record's when not null; else the context's when the
    record's text does not name the field; else the row is slow (null, or absent?)."""
    contexts = records.context or []
    names: set[str] = set()
    for context in {id(c): c for c in contexts}.values():
        names.update(context)
    for name in table.column_names:
        if name not in names:
            continue
        kind = table.schema.field(name).type
        try:
            outer = pa.array([c.get(name) for c in contexts], kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            raise Fallback("context of another type") from None
        own = table.column(name).combine_chunks()
        quoted = b'"%s"' % json.dumps(name)[1:-1].encode()
        lacks = pa.array([quoted not in piece for piece in records.pieces], pa.bool_())
        ok.append(pc.or_(pc.is_valid(own), lacks))
        table = table.set_column(table.column_names.index(name), name,
                                 pc.if_else(pc.is_valid(own), own, outer))
    return table


def fast_feed(importer: Any, path: Any, core: Any, progress: Any, batch: int) -> None:
    """Read ``path`` column-wise into ``core`` (Fallback, before feeding anything, if
    the file as a whole is not one this path vouches for)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from .foreign import GZIP_MAGIC, open_bytes, sample

    schema = importer.fast_schema()
    found = sample(path)
    shape = found.shape if found is not None else "json"
    if schema is None or shape not in ("json", "jsonl"):
        raise Fallback("shape")
    try:
        with open_bytes(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise Fallback("unreadable") from exc
    gzipped = False
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == GZIP_MAGIC
    raw = data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Fallback("not UTF-8") from exc
        if b"\xef\xbf\xbd" in data:
            raise Fallback("U+FFFD")
    for name in importer.fast_paths():  # a key that is a dotted path itself: dig reads it
        if "." in name and json.dumps(name).encode() in data:
            raise Fallback("dotted key")
    if shape == "jsonl":
        records = jsonl_records(data)
    else:
        records = document_records(importer, data, data.decode("utf-8"))
    n = len(records.lines)
    eligible = records.eligible
    parts = read_records(records, schema, records.newlines or shape == "json")
    # map each parsed part; the rest is slow
    fast = np.zeros(n, dtype=bool)
    skip = np.zeros(n, dtype=bool)
    tables: list[tuple[np.ndarray, pa.Table]] = []
    for first, stop, table in parts:
        if table is None:
            continue
        index = np.asarray(eligible[first:stop], dtype=np.int64)
        ok: list[pa.Array] = []
        if records.context is not None:
            sub = Records()
            sub.pieces = [records.piece(k) for k in index.tolist()]
            sub.context = [records.context[k] for k in index.tolist()]
            table = merged(sub, table, ok)
        columns, none = importer.fast_columns(table, ok)
        good = all_of(ok, table.num_rows).to_numpy(zero_copy_only=False)
        fast[index] = good
        if none is not None:
            skip[index] = good & pc.fill_null(none, False).to_numpy(zero_copy_only=False)
        tables.append((index, event_table(columns, table.num_rows)))
    # the per-record path for the others
    slow: dict[int, Any] = {}
    for k in np.flatnonzero(~fast).tolist():
        problem = records.problems.get(k)
        if problem is not None:
            slow[k] = problem
            continue
        try:
            value = records.record(k)
        except ValueError as exc:
            if shape == "json":
                raise Fallback("not JSON") from exc
            slow[k] = RowProblem("(line)", f"malformed JSON: {exc}")
            continue
        try:
            if type(value) is not dict:
                raise RowProblem("(line)", f"expected a JSON object, got "
                                           f"{type(value).__name__}")
            slow[k] = importer.event(value)
        except RowProblem as problem_:
            slow[k] = problem_
    # everything is known: feed, in the per-record path's batches
    progress.update(os.path.getsize(path))
    with ThreadPoolExecutor(1) as hasher:
        hashed = None if gzipped else hasher.submit(core.digest.update, raw)
        _emit(importer, core, records, n, fast, skip, tables, slow, batch)
        if hashed is not None:
            hashed.result()
            core.hashed = True


def _emit(importer: Any, core: Any, records: Records, n: int, fast: np.ndarray,
          skip: np.ndarray, tables: list[tuple[np.ndarray, pa.Table]],
          slow: dict[int, Any], batch: int) -> None:
    # where each record's fast event is: (table number, row)
    which = np.full(n, -1, dtype=np.int64)
    row = np.zeros(n, dtype=np.int64)
    for t, (index, _) in enumerate(tables):
        which[index] = t
        row[index] = np.arange(len(index))
    whole = pa.concat_tables([t for _, t in tables]) if tables else None
    offset = np.cumsum([0] + [len(index) for index, _ in tables])
    position = np.where(which >= 0, offset[np.maximum(which, 0)] + row, -1)
    is_event = fast & ~skip
    for k, value in slow.items():
        if isinstance(value, dict):
            is_event[k] = True
    events = np.flatnonzero(is_event)
    problems = sorted(k for k, v in slow.items() if isinstance(v, RowProblem))
    lines = np.asarray(records.lines, dtype=np.int64)
    p = 0
    for cut in range(0, len(events), batch):
        chunk = events[cut:cut + batch]
        limit = int(chunk[-1]) + 1 if len(chunk) == batch else n
        mine = []
        while p < len(problems) and problems[p] < limit:
            mine.append(problems[p])
            p += 1
        if mine:
            core.feed_rows([(records.lines[k], records.original(k), slow[k]) for k in mine])
        _feed_events(importer, core, records, chunk, fast, whole, position, slow, lines)
    if p < len(problems):
        core.feed_rows([(records.lines[k], records.original(k), slow[k])
                        for k in problems[p:]])


def _feed_events(importer: Any, core: Any, records: Records, chunk: np.ndarray,
                 fast: np.ndarray, whole: pa.Table | None, position: np.ndarray,
                 slow: dict[int, Any], lines: np.ndarray) -> None:
    ks = chunk.tolist()
    slow_here = [i for i, k in enumerate(ks) if not fast[k]]
    dicts: dict[int, dict[str, Any]] = {}

    def event_of(i: int) -> dict[str, Any]:
        k = ks[i]
        if not fast[k]:
            return slow[k]
        if i not in dicts:
            dicts[i] = importer.event(records.record(k))
        return dicts[i]

    try:
        if not slow_here:
            assert whole is not None
            table = whole.take(pa.array(position[chunk]))
        else:
            extra = rows_table([slow[ks[i]] for i in slow_here])
            if whole is None or len(slow_here) == len(ks):
                table = extra
            else:
                fast_pos = [int(position[k]) for k in ks if fast[k]]
                pool = pa.concat_tables([whole.take(pa.array(fast_pos, pa.int64())), extra])
                order = np.empty(len(ks), dtype=np.int64)
                f = s = 0
                for i, k in enumerate(ks):
                    if fast[k]:
                        order[i] = f
                        f += 1
                    else:
                        order[i] = len(fast_pos) + s
                        s += 1
                table = pool.take(pa.array(order))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        core.feed_rows((records.lines[k], records.original(k), event_of(i))
                       for i, k in enumerate(ks))
        return
    core.feed_table(table, pa.array(lines[chunk]), lambda i: records.original(ks[i]),
                    event_of)


# -- bucket pages: a provider's usage report read as one document (``bucket_feed``) ------------
#
# The OpenAI usage API page and the Anthropic usage report are JSON documents of buckets
# (``data[*]``), each with its results (``results[*]``, the records) and its scalar
# fields (the bucket start), which the records inherit (``merge_context``). A compact
# page (no line break before its end: every record on line 1) is parsed by pyarrow as
# one value, buckets and records together, with nothing located in Python; a page
# with line breaks needs each record's offset for its line (``containers``). The
# records' own text and bucket fields are found (``skeleton``) only when a row needs a
# closer look: one the mapping does not vouch for, or one the core quarantines.
# Anything in the document this reading could take differently from ``foreign.scan``
# (a bucket field named like a record field, a key spelled with escapes, a null
# record, a value of another type) raises ``Fallback``: the per-record path reads it.
#
# The rows fed to the core carry the token classes (``CLASS_COUNTS``, ``CLASS_TEXTS``)
# besides the canonical fields, in both paths (``class_rows``, ``flush_classes``).

CLASS_COUNTS = ("cache_write_tokens", "cache_write_1h_tokens", "web_search_calls",
                "code_execution_calls", "file_search_calls")
CLASS_TEXTS = ("service_tier", "context")
PLAIN_TIERS = ("", "standard", "default", "auto")  # the provider's standard tier: ""
_TIER_SIMPLE = r"^[A-Za-z0-9_.-]*$"  # tiers read column-wise (any other: per record)
_BAND = r"[0-9]+(?:\.[0-9]+)?[kKmM]?-[0-9]+(?:\.[0-9]+)?[kKmM]?"  # "0-200k", "200k-1M"
_FIRST_BAND = r"0+(?:\.0+)?[kKmM]?-[0-9]+(?:\.[0-9]+)?[kKmM]?"
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
PAGE_FIELDS = (pa.field("has_more", pa.bool_()), pa.field("next_page", pa.string()))


def tier_name(value: str) -> str:
    """A service tier as the canonical rows name it: lower case, "" for the standard one
    (``standard``, ``default``, ``auto`` or none)."""
    name = value.strip().lower()
    return "" if name in PLAIN_TIERS else name


def tier_column(column: pa.Array, ok: list[pa.Array]) -> pa.Array:
    """``tier_name`` of a text column without nulls (a name of other characters: slow)."""
    ok.append(pc.match_substring_regex(column, _TIER_SIMPLE))
    lower = pc.utf8_lower(column)
    return pc.if_else(pc.is_in(lower, value_set=pa.array(PLAIN_TIERS)), "", lower)


def band_name(value: str, field: str) -> str:
    """A context-window band as the canonical ``context``: "" for none or the first band
    (``0-200k``), ``long`` for any band above it (``200k-1M``); RowProblem otherwise."""
    import re

    if value == "" or re.fullmatch(_FIRST_BAND, value):
        return ""
    if re.fullmatch(_BAND, value):
        return "long"
    raise RowProblem(field, f"expected a context window band such as 0-200k or 200k-1M, "
                            f"got {value[:60]!r}")


def band_column(column: pa.Array, ok: list[pa.Array]) -> pa.Array:
    """``band_name`` of a text column without nulls (a value that is no band: slow)."""
    first = pc.or_(pc.equal(column, ""), pc.match_substring_regex(column, f"^{_FIRST_BAND}$"))
    ok.append(pc.or_(first, pc.match_substring_regex(column, f"^{_BAND}$")))
    return pc.if_else(first, "", "long")


def class_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The text and count columns of the rows fed to the core: the canonical fields and
    the token classes (those the core does not know yet it ignores)."""
    texts = (*TEXT_FIELDS, *(n for n in CLASS_TEXTS if n not in TEXT_FIELDS))
    counts = (*TOKEN_FIELDS, *(n for n in CLASS_COUNTS if n not in TOKEN_FIELDS))
    return texts, counts


def class_table(columns: dict[str, pa.Array], n: int) -> pa.Table:
    """``event_table`` with the token classes."""
    texts, counts = class_fields()
    out: dict[str, pa.Array] = {}
    for name in (*texts, "timestamp"):
        value = columns.get(name)
        out[name] = pa.nulls(n, pa.string()) if value is None else pc.cast(value, pa.string())
    for name in counts:
        value = columns.get(name)
        out[name] = pa.nulls(n, pa.int64()) if value is None else pc.cast(value, pa.int64())
    unbilled = columns.get("unbilled")
    out["unbilled"] = (pa.repeat(pa.scalar(False), n) if unbilled is None
                       else pc.fill_null(pc.cast(unbilled, pa.bool_()), False))
    return pa.table(out)


def class_rows(events: Sequence[dict[str, Any]]) -> pa.Table:
    """``rows_table`` with the token classes (raises as it does)."""
    texts, counts = class_fields()
    columns: dict[str, pa.Array] = {
        name: pa.array([e.get(name) for e in events], pa.string())
        for name in (*texts, "timestamp")}
    for name in counts:
        columns[name] = pa.array([e.get(name) for e in events], pa.int64())
    columns["unbilled"] = pa.array([bool(e.get("unbilled")) for e in events], pa.bool_())
    return pa.table(columns)


def flush_classes(core: Any, lines: list[int], originals: list[Callable[[], str]],
                  events: list[dict[str, Any]], problems: list[tuple[int, str, RowProblem]]
                  ) -> None:
    """``ForeignUsageImporter._flush`` with the token classes in the table."""
    if problems:
        core.feed_rows(problems)
    if not events:
        return
    try:
        table = class_rows(events)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        core.feed_rows((line, original(), event) for line, original, event
                       in zip(lines, originals, events, strict=True))
        return
    core.feed_table(table, pa.array(np.asarray(lines, dtype=np.int64)),
                    lambda i: originals[i](), lambda i: events[i])


def customer_column(importer: Any, table: pa.Table, ok: list[pa.Array]) -> pa.Array:
    """``customer_of``, each path's values resolved only for the rows no earlier path
    resolved (a user id per row is not looked up where the project already names the
    customer)."""
    n = table.num_rows
    found: pa.Array | None = None  # resolved so far
    raws: list[pa.Array] = []
    for path in importer.customer_from:
        column = column_at(table, path)
        if column is None or not pa.types.is_string(column.type):
            ok.append(pa.repeat(pa.scalar(False), n))
            return pa.nulls(n, pa.string())
        column = nonempty(column, n)
        raws.append(column)
        pending = column if found is None else pc.if_else(pc.is_null(found), column, None)
        if pending.null_count == n:
            continue
        values = pc.unique(pending).to_pylist()
        names = [None if v is None else importer.resolve(path, v) for v in values]
        resolved = pa.array(names, pa.string()).take(
            pc.index_in(pending, value_set=pa.array(values, pa.string())))
        found = resolved if found is None else pc.coalesce(found, resolved)
    if not raws:
        ok.append(pa.repeat(pa.scalar(False), n))
        return pa.nulls(n, pa.string())
    value = pc.coalesce(*([] if found is None else [found]), *raws)
    ok.append(pc.is_valid(value))
    return value


def key_digests(parts: Sequence[pa.Array]) -> pa.Array:
    """``foreign.derived_id``'s digest column-wise: the first 16 hex digits of the sha256
    of the text columns (no nulls) joined by U+001F."""
    joined = pc.binary_join_element_wise(*(pc.fill_null(p, "") for p in parts), "\x1f")
    keys = pc.cast(joined, pa.binary()).to_pylist()
    sha = hashlib.sha256
    raw = np.frombuffer(b"".join([sha(key).digest() for key in keys]), np.uint8)
    head = raw.reshape(-1, 32)[:, :8]
    text_ = np.empty((len(keys), 16), np.uint8)
    text_[:, 0::2] = _HEX[head >> 4]
    text_[:, 1::2] = _HEX[head & 15]
    offsets = pa.py_buffer(np.arange(len(keys) + 1, dtype=np.int32) * 16)
    return pa.Array.from_buffers(pa.string(), len(keys),
                                 [None, offsets, pa.py_buffer(text_.tobytes())])


def per_value(column: pa.Array, ok: list[pa.Array], compute: Callable[[Any], tuple[str, ...]],
              width: int) -> list[pa.Array]:
    """``compute`` once per distinct value of ``column`` (a bucket start: a few per page),
    its ``width`` texts as columns; a value it raises RowProblem for makes its rows slow."""
    values = pc.unique(column)
    found: list[tuple[str, ...] | None] = []
    for value in values.to_pylist():
        try:
            found.append(compute(value))
        except RowProblem:
            found.append(None)
    where = pc.index_in(column, value_set=values)
    ok.append(pa.array([f is not None for f in found], pa.bool_()).take(where))
    return [pa.array([None if f is None else f[j] for f in found], pa.string()).take(where)
            for j in range(width)]


def page_fields(data: bytes, names: Sequence[str]) -> dict[str, Any]:
    """The top-level ``names`` of a JSON page (``has_more``, ``next_page``) as
    ``json.loads`` gives them (the last of a key twice): read from the page's last
    members when they hold them all (``{`` + the page from the first of them on is an
    object: they are top-level members), else from the whole page; {} for a page that
    is not a JSON object. Never raises."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\\u" not in data:  # (a key spelled with escapes: the whole page)
        found = {n: data.rfind(json.dumps(n).encode()) for n in names}
        places = [at for at in found.values() if at >= 0]
        if not places:
            return {}
        start = min(places)
        if start > 0 and data[start - 1] != 0x5C:
            try:
                tail = json.loads(b"{" + data[start:])
            except ValueError:
                tail = None
            if isinstance(tail, dict) and all(n in tail for n, at in found.items()
                                              if at >= 0):
                return {n: tail[n] for n in names if n in tail}
    try:
        text_ = data.decode("utf-8")
        doc, _ = json.JSONDecoder().raw_decode(text_, len(text_) - len(text_.lstrip(" \t\n\r")))
    except (ValueError, UnicodeDecodeError):
        return {}
    return {n: doc[n] for n in names if n in doc} if isinstance(doc, dict) else {}


class BucketPage:
    """The records of a compact or line-broken bucket page, as ``bucket_page`` reads
    them: their table (bucket start merged in), their lines, and each one (and its text)
    as the per-record path has it, found on first use."""

    def __init__(self, data: bytes, steps: tuple[str, ...], table: pa.Table,
                 lines: np.ndarray, spans: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.data = data
        self.steps = steps
        self.table = table
        self.n = table.num_rows
        self.lines = lines
        self._spans = spans
        self._found: list[tuple[int, dict[str, Any]]] | None = None
        self._cache: dict[int, Any] = {}
        self.fields: dict[str, Any] = {}  # the page's has_more and next_page

    def _locate(self) -> list[tuple[int, dict[str, Any]]]:
        if self._found is None:  # (RuntimeError, not Fallback: it may be asked mid-feed)
            try:
                starts, ends = self._spans or containers(self.data, len(self.steps))
                tree = skeleton(self.data, starts, ends)
            except Fallback as exc:
                raise RuntimeError(f"bucket page: {exc}") from exc
            self._spans = (starts, ends)
            found = walk_document(tree, self.steps)
            located = []
            for value, context in found:
                if not (isinstance(value, str) and value.startswith(MARK)):
                    raise RuntimeError("bucket page: a record is not an object")
                located.append((int(value[len(MARK):]), context))
            if len(located) != self.n:
                raise RuntimeError(f"bucket page: {len(located)} records located, "
                                   f"{self.n} parsed")
            self._found = located
        return self._found

    def record(self, k: int) -> Any:
        if k not in self._cache:
            where, context = self._locate()[k]
            starts, ends = self._spans  # type: ignore[misc]
            value = json.loads(self.data[int(starts[where]):int(ends[where])])
            self._cache[k] = {**context, **value} if isinstance(value, dict) else value
        return self._cache[k]

    def original(self, k: int) -> str:
        return json_text(self.record(k))


def bucket_page(importer: Any, data: bytes) -> BucketPage:
    """A bucket page (``importer.paths[0]``: data, *, results, *) read by pyarrow whole;
    Fallback if the page holds anything this reading could take otherwise than
    ``foreign.scan`` and ``ForeignUsageImporter._record`` do."""
    steps = tuple(importer.paths[0])
    if steps[1::2] != ("*", "*") or len(steps) != 4:
        raise Fallback("not a bucket page")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.lstrip(b" \t\n\r")[:1] != b"{" or len(data) >= (1 << 31) - 1:
        raise Fallback("shape")
    paths = importer.fast_paths()
    record_schema = build_schema(paths)
    if record_schema is None:
        raise Fallback("schema")
    start, start_type = importer.bucket_start
    inherited = [f for f in record_schema if f.name != start]
    if {steps[0], steps[2], *(f.name for f in PAGE_FIELDS)} & set(record_schema.names):
        raise Fallback("schema")
    record = pa.struct(list(record_schema))
    bucket = pa.struct([pa.field(start, start_type), pa.field(steps[2], pa.list_(record)),
                        *inherited])
    top = pa.schema([pa.field(steps[0], pa.list_(bucket)), pa.field(start, start_type),
                     *inherited, *PAGE_FIELDS])
    reason = _page_risk(data, paths)
    named = data.count(json.dumps(start).encode())
    try:
        page = pj.read_json(pa.BufferReader(data),
                            read_options=pj.ReadOptions(block_size=len(data) + 1),
                            parse_options=pj.ParseOptions(
                                explicit_schema=top, unexpected_field_behavior="ignore",
                                newlines_in_values=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise Fallback("pyarrow") from exc
    if reason:
        raise Fallback(reason)
    if page.num_rows != 1:
        raise Fallback("not one document")
    for field_ in top:  # a field of the page the records would inherit
        if (field_.name != steps[0] and field_ not in PAGE_FIELDS
                and page.column(field_.name).null_count != 1):
            raise Fallback("page field")
    fields = {f.name: page.column(f.name)[0].as_py() for f in PAGE_FIELDS}
    listed = page.column(steps[0]).combine_chunks()
    buckets = listed.flatten()
    bucket_fields = dict(zip([f.name for f in bucket], buckets.flatten(), strict=True))
    for field_ in inherited:  # a bucket field named like a record field
        if bucket_fields[field_.name].null_count != len(buckets):
            raise Fallback("bucket field")
    results = bucket_fields[steps[2]]
    records = results.flatten()
    if records.null_count:
        raise Fallback("a record that is not an object")
    parents = pc.list_parent_indices(results)
    table = pa.Table.from_arrays(records.flatten(), names=list(record_schema.names))
    own = table.column(start).combine_chunks()
    outer = bucket_fields[start]
    if named != (len(outer) - outer.null_count) + (len(own) - own.null_count):
        raise Fallback("a start field that may be null")  # or named in a string
    merged_start = pc.if_else(pc.is_valid(own), own, outer.take(parents))
    table = table.set_column(table.column_names.index(start), start, merged_start)
    n = table.num_rows
    spans = None
    end = len(data)
    while end and data[end - 1] in b" \t\n\r":
        end -= 1
    if data.find(b"\n", 0, end) >= 0:
        starts, ends = containers(data, len(steps))
        spans = (starts, ends)
        if len(starts) != n:
            raise Fallback("other containers at the records' depth")
        newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        lines = lines_at(newlines, starts)
    else:
        lines = np.ones(n, dtype=np.int64)
    out = BucketPage(data, steps, table, lines, spans)
    out.fields = fields
    return out


def _page_risk(data: bytes, paths: Collection[str]) -> str:
    """What in a page pyarrow could read otherwise than ``json``, ``foreign.scan`` and
    ``dig`` do ("" for nothing). Each search is a single byte (memchr) unless that byte
    is there."""
    import re

    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8"
        if b"\xef\xbf\xbd" in data:
            return "U+FFFD"
    if b"\\" in data and b"\\u" in data and (
            re.search(rb'\\u[0-9a-fA-F]{4}(?:[^"\\]|\\.)*"[ \t\n\r]*:', data)  # a key
            or re.search(rb"\\u[dD][89a-fA-F]", data)  # a lone surrogate, to pyarrow
            or re.search(rb"\\u0000tb", data)):  # a skeleton's marker
        return "escapes"
    if (b"I" in data and re.search(rb"Inf(?!inity)", data)
            or b"N" in data and b"-NaN" in data):
        return "Inf"  # a number to pyarrow (RapidJSON), not to ``json``
    if b"." in data and any(json.dumps(name).encode() in data
                            for name in paths if "." in name):
        return "dotted key"  # a key that is a dotted path itself: dig reads it
    return ""


def bucket_feed(importer: Any, path: Any, core: Any, progress: Any, batch: int
                ) -> dict[str, Any]:
    """Read a bucket page column-wise into ``core`` (``importer.bucket_columns`` maps
    the records; Fallback, before feeding anything, if the page is not one this path
    vouches for), in the per-record path's batches, with its very rows. Returns the
    page's ``has_more`` and ``next_page`` (as ``page_fields``)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from .foreign import GZIP_MAGIC, open_bytes, sample

    found = sample(path)
    if found is None or found.shape != "json" or not importer.fast:
        raise Fallback("shape")
    try:
        with open_bytes(path) as handle:
            raw = handle.read()
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == GZIP_MAGIC
    except (OSError, EOFError) as exc:
        raise Fallback("unreadable") from exc
    with ThreadPoolExecutor(1) as hasher:  # the file's sha256 while it is read (no GIL)
        hashed = None if gzipped else hasher.submit(core.digest.update, raw)
        page = bucket_page(importer, raw)
        n = page.n
        ok: list[pa.Array] = []
        data = page.data

        def present(name: str) -> bool:
            return json.dumps(name).encode() in data

        columns, none = importer.bucket_columns(page.table, ok, present)
        fast = all_of(ok, n).to_numpy(zero_copy_only=False)
        skip = (np.zeros(n, dtype=bool) if none is None
                else fast & pc.fill_null(none, False).to_numpy(zero_copy_only=False))
        table = class_table(columns, n)
        slow: dict[int, Any] = {}
        for k in np.flatnonzero(~fast).tolist():
            try:
                record = page.record(k)
            except RuntimeError as exc:
                raise Fallback(str(exc)) from exc
            try:
                slow[k] = importer.event(record)
            except RowProblem as problem:
                slow[k] = problem
        # everything is known: feed (a Fallback above leaves ``core.hashed`` false: the
        # per-record path's digest is the file's)
        progress.update(os.path.getsize(path))
        emit_classes(importer, core, page, fast, skip, table, slow, batch)
        if hashed is not None:
            hashed.result()
            core.hashed = True
    return page.fields


def _bucket_one_batch(core: Any, table: pa.Table, events: np.ndarray) -> bool:
    """Whether feeding the events as one batch gives what feeding them ``BATCH`` at a
    time gives: nothing is quarantined before them (no problems between the batches)
    and no id can be claimed while feeding (a fresh core that checks its months' ids
    once, at the end, for months the index holds no id of: no duplicate or conflict
    to order by batch). Then every batch's rows are validated, kept and aggregated in
    file order either way."""
    import datetime

    if not (getattr(core, "fast_dedupe", False) and core.read == 0 and not core.quarantine
            and not getattr(core, "_ids", None) and hasattr(core.index, "has_ids")):
        return False
    months = set()
    for stamp in pc.unique(table.column("timestamp")).to_pylist():  # (and the others')
        try:
            moment = datetime.datetime.fromisoformat(stamp)
        except (TypeError, ValueError):
            return False
        if moment.tzinfo is None:
            return False
        moment = moment.astimezone(datetime.UTC)
        months.add(f"{moment.year:04d}-{moment.month:02d}")
    return not any(core.index.has_ids(month) for month in months)


def emit_classes(importer: Any, core: Any, page: BucketPage, fast: np.ndarray,
                 skip: np.ndarray, table: pa.Table, slow: dict[int, Any], batch: int
                 ) -> None:
    """Feed the records' events and problems as ``feed_records`` does: ``batch`` events
    a time, the problems met meanwhile before them, each batch's table built as
    ``flush_classes`` builds it (the fast rows' from ``table``)."""
    n = page.n
    is_event = fast & ~skip
    for k, value in slow.items():
        if isinstance(value, dict):
            is_event[k] = True
    events = np.flatnonzero(is_event)
    problems = sorted(k for k, v in slow.items() if isinstance(v, RowProblem))
    lines = page.lines
    p = 0
    if not problems and len(events) > batch and _bucket_one_batch(core, table, events):
        batch = len(events)

    def rows(ks: list[int]) -> list[tuple[int, str, Any]]:
        return [(int(lines[k]), page.original(k), slow[k]) for k in ks]

    for cut in range(0, len(events), batch):
        chunk = events[cut:cut + batch]
        limit = int(chunk[-1]) + 1 if len(chunk) == batch else n
        mine = []
        while p < len(problems) and problems[p] < limit:
            mine.append(problems[p])
            p += 1
        if mine:
            core.feed_rows(rows(mine))
        dicts: dict[int, dict[str, Any]] = {}

        def event_of(i: int, chunk: np.ndarray = chunk, dicts: dict = dicts
                     ) -> dict[str, Any]:
            k = int(chunk[i])
            if not fast[k]:
                return slow[k]
            if i not in dicts:
                dicts[i] = importer.event(page.record(k))
            return dicts[i]

        here = fast[chunk]
        try:
            if here.all() and int(chunk[-1]) - int(chunk[0]) == len(chunk) - 1:
                batch_table = table.slice(int(chunk[0]), len(chunk))
            elif here.all():
                batch_table = table.take(pa.array(chunk))
            else:
                fast_ks, slow_ks = chunk[here], chunk[~here]
                extra = class_rows([slow[k] for k in slow_ks.tolist()])
                pool = pa.concat_tables([table.take(pa.array(fast_ks)), extra])
                order = np.empty(len(chunk), dtype=np.int64)
                order[here] = np.arange(len(fast_ks))
                order[~here] = len(fast_ks) + np.arange(len(slow_ks))
                batch_table = pool.take(pa.array(order))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            core.feed_rows([(int(lines[k]), page.original(k), event_of(i))
                            for i, k in enumerate(chunk.tolist())])
            continue
        core.feed_table(batch_table, pa.array(lines[chunk]),
                        lambda i, chunk=chunk: page.original(int(chunk[i])), event_of)
    if p < len(problems):
        core.feed_rows(rows(problems[p:]))


# -- gateway logs: one parse per file, nothing located in Python (``gateway_feed``) ------------
#
# The importers of gateway logs (LiteLLM's JSON, Helicone, Langfuse, OpenRouter, Bedrock)
# read a file as ``fast_feed`` does, with what makes them about as fast per row as the
# canonical importer (``scripts/bench_formats.py``):
#
# * a JSON document that is an array of records, or an object whose ``data`` member is
#   one (the exports and API pages of these tools), is not scanned for its records:
#   the separators between records are guessed from the layout (``array_records``:
#   ``}, {`` on a line, or each record's ``{`` first on its line), the records made JSON
#   Lines in place (``Spans.blank``) and the guess proved by the parse itself (every
#   piece between two separators one object, or ``Misread``: ``document_records``
#   reads the document);
# * the file is parsed as two halves at once (``_read_halves``: pyarrow lets go of the
#   GIL, and its own threads hardly share one parse of nested fields), by a schema
#   without the top-level objects the file's start does not name (``unnamed_structs``:
#   an absent field costs a value per row all the same), the file parsed again with
#   them if the rest of it names one;
# * meanwhile, a thread looks for what pyarrow could read otherwise than ``json`` and
#   ``dig`` (``risky``) and for those objects' keys, by pyarrow's RE2 over the bytes
#   (``held``: one pass each, at the speed of a search for one byte), Python's ``re``
#   only where RE2 found something;
# * the events go to the core as one batch where that gives what the per-record path's
#   batches give (``_fresh_months``), and in its batches otherwise (``_emit``);
# * a mapping may read the records' bytes besides the table (``fast_columns_in``, and
#   ``fast_prepare`` to start on them while pyarrow parses: Langfuse's free-form
#   ``usageDetails``), or a schema for the file's start (``fast_schema_for``: the
#   LiteLLM metadata's usage).

_DOTTED_KEY = re.compile(rb'\.[^"\\.]*"[ \t\n\r]*:')  # the end of a key with a dot in it
_ESCAPED_KEY = re.compile(rb'\\u[0-9a-fA-F]{4}(?:[^"\\]|\\.)*"[ \t\n\r]*:')
_INF = re.compile(rb"Inf(?!inity)")  # a number to pyarrow (RapidJSON), not to ``json``
_NAN = re.compile(rb"-NaN")
_WS = b" \t\n\r"


def held(data: bytes | bytearray, pattern: str) -> bool:
    """Whether ``data`` holds a match of the RE2 ``pattern``: one pass of pyarrow's RE2
    over the bytes as they are (as fast as a search for the pattern's first byte, for a
    literal or a pattern that starts with a rare byte; many times Python's ``re``)."""
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [
        None, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)])
    return bool(pc.match_substring_regex(whole, pattern)[0].as_py())


def risky(data: bytes | bytearray, dotted: Collection[str]) -> str:
    """What in ``data`` pyarrow could read otherwise than ``json`` and ``dig`` do ("" for
    nothing): a key named like one of the ``dotted`` paths a mapping reads (``dig`` takes
    it for the path), a key spelled with escapes, an ``Inf`` or ``-NaN`` value. Each is
    looked for by RE2 first (``held``), by Python only where it may be."""
    if dotted and held(data, _DOTTED_KEY.pattern.decode()):
        for match in _DOTTED_KEY.finditer(data):
            start = data.rfind(b'"', 0, match.start()) + 1
            key = data[start:match.end()].rstrip(_WS + b":")[:-1]
            if b"\\" in key or key.decode("utf-8", "replace") in dotted:
                return "dotted key"
    if held(data, r"\\u[0-9a-fA-F]{4}") and _ESCAPED_KEY.search(data):
        return "escapes"
    if held(data, "Inf"):
        for match in _INF.finditer(data):
            before = data[max(0, match.start() - 64):match.start()].rstrip(_WS + b"-")
            if not before or before[-1:] in (b":", b"[", b","):
                return "Inf"
    if held(data, "-NaN"):  # pyarrow's, not json's
        return "-NaN"
    return ""


class Spans(Records):
    """``Records`` with each record's bytes: ``starts[k]``..``ends[k]`` of the data. For
    a document, ``blank`` makes its records JSON Lines for pyarrow, in place: the
    separators between them line ends, the line ends and carriage returns in them tabs
    (whitespace between tokens as they were; in a string, as invalid as they were);
    ``restore`` puts the bytes back."""

    def __init__(self, data: bytes | bytearray, starts: np.ndarray, ends: np.ndarray
                 ) -> None:
        super().__init__()
        self.data = data
        self.starts = starts
        self.ends = ends
        self.separators: np.ndarray | None = None
        self.breaks: list[tuple[np.ndarray, int]] = []  # (offsets, byte) of line breaks
        self.region = (0, 0)

    def blank(self) -> None:
        if self.separators is not None and self.whole is None:
            octets = np.frombuffer(self.data, np.uint8)
            for where, _ in self.breaks:
                octets[where] = 0x09
            octets[self.separators] = 0x0A
            low, high = self.region
            self.whole = memoryview(self.data)[low:high]  # type: ignore[assignment]

    def restore(self) -> None:
        if self.separators is not None and self.whole is not None:
            octets = np.frombuffer(self.data, np.uint8)
            octets[self.separators] = 0x2C
            for where, byte in self.breaks:
                octets[where] = byte
            self.whole = None


def line_spans(data: bytes | bytearray) -> Spans:
    """``jsonl_records`` with the bytes of each record's line."""
    records = jsonl_records(data)  # type: ignore[arg-type]  # (bytes-like alike)
    octets = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(octets == 10)
    heads = np.concatenate([[0], ends + 1])
    tails = np.concatenate([ends, [len(data)]])
    numbers = np.asarray(records.lines, dtype=np.int64) - 1
    out = Spans(data, heads[numbers], tails[numbers])
    out.__dict__.update({k: v for k, v in records.__dict__.items()
                         if k not in ("data", "starts", "ends")})
    return out


def _skip_blank(octets: np.ndarray, at: np.ndarray, step: int, limit: int = 256
                ) -> np.ndarray:
    """For each offset of ``at``: the offset of the first byte that is not JSON whitespace
    after it (``step`` 1) or before it (-1), within ``limit`` bytes; -1 if none."""
    out = np.full(len(at), -1, dtype=np.int64)
    todo = np.arange(len(at))
    where = at.astype(np.int64) + step
    for _ in range(limit):
        inside = (where >= 0) & (where < len(octets))
        todo, where = todo[inside], where[inside]
        if not len(todo):
            break
        found = octets[where]
        solid = ~((found == 0x20) | (found == 0x0A) | (found == 0x0D) | (found == 0x09))
        out[todo[solid]] = where[solid]
        todo, where = todo[~solid], where[~solid] + step
    return out


_SOLID = re.compile(rb"[^ \t\n\r]")


def _solid(data: bytes | bytearray, at: int, end: int | None = None) -> int:
    """The offset of the first byte from ``at`` (to ``end``) that is not JSON whitespace,
    or -1."""
    found = _SOLID.search(data, at, len(data) if end is None else end)
    return found.start() if found else -1


def _solid_back(data: bytes | bytearray) -> int:
    """The offset of the last byte that is not JSON whitespace, or -1."""
    size = 4096
    while True:
        tail = data[-size:]
        stripped = len(tail.rstrip(_WS))
        if stripped or size >= len(data):
            return len(data) - len(tail) + stripped - 1
        size *= 16


def _array_region(importer: Any, data: bytes | bytearray) -> tuple[int, int] | None:
    """(start, end) of the text between the brackets of the records' array, for a
    document ``foreign.scan`` reads at ``("*",)`` (an array) or ``("data", "*")`` (the
    ``data`` array of an object, the rest of the object valid JSON without another
    ``data``); None for any other document."""
    from .foreign import HEAD_CHARS, sample_scan

    head = data[:4 * HEAD_CHARS].decode("utf-8", "ignore")[:HEAD_CHARS]
    paths = importer._doc_paths(head) or importer.paths
    chosen = paths[0]
    for candidate in paths:
        if sample_scan(head, candidate, 1):
            chosen = candidate
            break
    first, last = _solid(data, 0), _solid_back(data)
    if first < 0 or last <= first:
        return None
    if tuple(chosen) == ("*",):
        if data[first:first + 1] != b"[" or data[last:last + 1] != b"]":
            return None
        return first + 1, last
    if tuple(chosen) != ("data", "*") or data[first:first + 1] != b"{" or \
            data[last:last + 1] != b"}":
        return None
    at = first
    while True:  # the first key "data" that is a member of the top object
        at = data.find(b'"data"', at + 1)
        if at < 0:
            return None
        try:
            before = json.loads(data[:at] + b'"": 0}', object_pairs_hook=list)
        except ValueError:
            continue
        if not isinstance(before, list) or any(k == "data" for k, _ in before):
            return None
        rest = data[at + 6:at + 70].lstrip(_WS)
        if rest[:1] != b":":
            return None
        opening = data.find(b":", at + 6) + 1
        opening += len(data[opening:opening + 64]) - len(data[opening:opening + 64].lstrip(_WS))
        if data[opening:opening + 1] != b"[":
            return None
        break
    end = last + 1
    for _ in range(64):  # the last "]" the rest of the object follows
        end = data.rfind(b"]", opening, end)
        if end < 0:
            return None
        tail = data[end + 1:last + 1].lstrip(_WS)
        if tail == b"}":
            return opening + 1, end
        if tail[:1] == b",":
            try:
                after = json.loads(b"{" + tail[1:], object_pairs_hook=list)
            except ValueError:
                continue
            if isinstance(after, list) and not any(k == "data" for k, _ in after):
                return opening + 1, end
            return None
    return None


def _line_records(data: bytes | bytearray, octets: np.ndarray, newlines: np.ndarray,
                  first: int, high: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(starts, separators) of a pretty-printed or one-a-line array's records, read off
    its lines: the records' ``{`` first on a line, at the first record's indent (in
    spaces or tabs), the line before ending ``},`` (None if the first record is not the
    first on its line)."""
    line = int(np.searchsorted(newlines, first))
    line_start = int(newlines[line - 1]) + 1 if line else 0
    indent = first - line_start
    if data[line_start:first].strip(b" \t") or indent > 64:
        return None
    lo = int(np.searchsorted(newlines, first, side="right"))
    hi = int(np.searchsorted(newlines, high - indent - 1))
    ends = newlines[lo:hi]
    ends = ends[octets[ends + 1 + indent] == 0x7B]  # (few lines start with "{")
    keep = np.ones(len(ends), dtype=bool)
    for j in range(indent):
        keep &= (octets[ends + 1 + j] == 0x20) | (octets[ends + 1 + j] == 0x09)
    before = ends - 1 - (octets[ends - 1] == 0x0D)  # (a CR before the line end)
    keep &= (octets[before] == 0x2C) & (octets[before - 1] == 0x7D)
    return (np.concatenate([[first], ends[keep] + 1 + indent]).astype(np.int64),
            before[keep].astype(np.int64))


def array_records(importer: Any, data: bytes | bytearray) -> Spans:
    """The records of a JSON document that is an array of objects (or holds one as its
    top object's ``data``), located by the layout of their separators (``}`` ``,``
    ``{``): one after another on a line, one per line, or pretty-printed (every record's
    ``{`` first on its line at the first record's indent). The guess is proved by the
    parse: the pieces between the separators must parse as one object each (else the
    document is read otherwise: Fallback, see ``parse_spans``)."""
    region = _array_region(importer, data)
    if region is None:
        raise Fallback("not an array of records")
    low, high = region
    octets = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(octets == 0x0A)
    broken = bool(len(newlines)) and bool(
        np.searchsorted(newlines, high) > np.searchsorted(newlines, low))
    first = _solid(data, low, high)
    if first < 0:
        starts = separators = np.zeros(0, dtype=np.int64)
    elif data[first:first + 1] != b"{":
        raise Fallback("a record that is not an object")
    elif broken and (lines_ := _line_records(data, octets, newlines, first, high)):
        starts, separators = lines_
    else:
        opens = np.flatnonzero(octets[first + 1:high] == 0x7B) + first + 1
        before = octets[opens - 1]  # an object that is a member's value (": {"): no record
        value = (before == 0x3A) | ((before == 0x20) & (octets[opens - 2] == 0x3A))
        opens = opens[~value]
        comma = _skip_blank(octets, opens, -1)
        opens, comma = opens[comma >= 0], comma[comma >= 0]
        keep = octets[comma] == 0x2C
        opens, comma = opens[keep], comma[keep]
        closing = _skip_blank(octets, comma, -1)
        keep = (closing >= 0) & (octets[np.maximum(closing, 0)] == 0x7D)
        opens, comma = opens[keep], comma[keep]
        line = int(np.searchsorted(newlines, first))
        line_start = int(newlines[line - 1]) + 1 if line else 0
        if broken and not data[line_start:first].strip(_WS):  # at the first one's indent
            at = np.searchsorted(newlines, opens)
            previous = newlines[np.maximum(at - 1, 0)]
            keep = (at > 0) & (previous > comma) & (opens - previous - 1 == first - line_start)
            opens, comma = opens[keep], comma[keep]
        starts = np.concatenate([[first], opens]).astype(np.int64)
        separators = comma.astype(np.int64)
    n = len(starts)
    ends = np.concatenate([separators, [high]]).astype(np.int64) if n else starts
    out = Spans(data, starts, ends)
    out.lines = lines_at(newlines, starts).tolist()
    out.eligible = list(range(n))
    out.separators = separators
    out.region = (low, high)
    if broken:
        inside = newlines[(newlines >= low) & (newlines < high)]
        out.breaks.append((inside, 0x0A))
        if data.find(b"\r", low, high) >= 0:
            returns = np.flatnonzero(octets[low:high] == 0x0D) + low
            out.breaks.append((returns, 0x0D))
    out.newlines = False  # (``blank``: one record a line)
    if not isinstance(data, bytearray):  # (no bytes to change in place: a copy)
        out.data = bytearray(data)
        out.blank()
        out.separators = None
    out.piece = lambda k: bytes(out.data[int(starts[k]):int(ends[k])])
    cache: dict[int, Any] = {}

    def record(k: int) -> Any:
        if k not in cache:
            cache[k] = json.loads(out.piece(k))
        return cache[k]

    out.record = record
    out.original = lambda k: json_text(record(k))
    return out


class Misread(Fallback):
    """The records of a document were not where ``array_records`` guessed: the general
    reading (``document_records``) reads it."""


def unnamed_structs(schema: pa.Schema, head: str) -> tuple[pa.Schema, list[str]]:
    """The schema without its top-level objects whose key the file's start (``head``)
    does not name, and those keys: a field no record has still costs pyarrow a value per
    row (the objects' fields, a dozen for OpenRouter's ``data``); whether the rest of
    the file names one is checked while it parses (``_checks``), the file read again
    with them if so; the tables get them back as nulls (``widened``)."""
    keep, left = [], []
    for field_ in schema:
        if pa.types.is_struct(field_.type) and json.dumps(field_.name) not in head:
            left.append(json.dumps(field_.name)[1:])  # (the probe: the key, its quote)
        else:
            keep.append(field_)
    return pa.schema(keep), left


def widened(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the top-level fields of ``schema`` it lacks, as nulls."""
    for field_ in schema:
        if field_.name not in table.column_names:
            table = table.append_column(field_, pa.nulls(table.num_rows, field_.type))
    return table


def _mapped(importer: Any, records: Records, schema: pa.Schema, document: bool,
            full: pa.Schema | None = None, early: Any = None
            ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, pa.Table]],
                       dict[int, Any]]:
    """The records parsed and mapped: (fast, skip, tables, slow) as ``_emit`` takes them.
    A record of a document ``json`` cannot read raises ``Misread`` (``array_records``
    guessed wrong) or Fallback; of JSON Lines, it is a problem of its line."""
    n = len(records.lines)
    eligible = records.eligible
    prepare = getattr(importer, "fast_prepare", None)  # (work on the bytes, meanwhile)
    pending = prepare(records) if prepare is not None else None
    parts = (_read_halves(records, schema, early)
             or read_records(records, schema, records.newlines))
    fast = np.zeros(n, dtype=bool)
    skip = np.zeros(n, dtype=bool)
    tables: list[tuple[np.ndarray, pa.Table]] = []
    reads_bytes = getattr(importer, "fast_columns_in", None)
    for first, stop, table in parts:
        if table is None:
            continue
        if full is not None and table.num_columns < len(full):
            table = widened(table, full)
        index = np.asarray(eligible[first:stop], dtype=np.int64)
        ok: list[pa.Array] = []
        if reads_bytes is not None:
            columns, none = (reads_bytes(table, ok, records, index) if pending is None
                             else reads_bytes(table, ok, records, index, pending))
        else:
            columns, none = importer.fast_columns(table, ok)
        good = all_of(ok, table.num_rows).to_numpy(zero_copy_only=False)
        fast[index] = good
        if none is not None:
            skip[index] = good & pc.fill_null(none, False).to_numpy(zero_copy_only=False)
        tables.append((index, event_table(columns, table.num_rows)))
    slow: dict[int, Any] = {}
    for k in np.flatnonzero(~fast).tolist():
        problem = records.problems.get(k)
        if problem is not None:
            slow[k] = problem
            continue
        try:
            value = records.record(k)
        except ValueError as exc:
            if document:
                raise (Misread if isinstance(records, Spans) else Fallback)("not JSON") \
                    from exc
            slow[k] = RowProblem("(line)", f"malformed JSON: {exc}")
            continue
        try:
            if type(value) is not dict:
                raise RowProblem("(line)", f"expected a JSON object, got "
                                           f"{type(value).__name__}")
            slow[k] = importer.event(value)
        except RowProblem as problem_:
            slow[k] = problem_
    return fast, skip, tables, slow


def _read_halves(records: Records, schema: pa.Schema, early: Any = None
                 ) -> list[tuple[int, int, pa.Table | None]] | None:
    """``read_records`` of the whole, one record a line, as two halves parsed at once
    (pyarrow lets go of the GIL; its own threads hardly share one parse of nested
    fields; ``early``: the future of ``_halves`` of JSON Lines, started before their
    lines were looked at); None where that does not read every record
    (``read_records`` does)."""
    whole = records.whole
    n = len(records.eligible)
    if whole is None or records.newlines or n < 4 * SMALLEST:
        return None
    if early is not None and not isinstance(whole, memoryview):
        found = early.result()
    else:
        source: Any = whole.obj if isinstance(whole, memoryview) else whole
        if isinstance(whole, memoryview):
            low = records.region[0] if isinstance(records, Spans) else 0
            high = low + len(whole)
        else:
            low, high = 0, len(source)
        found = _halves(source, low, high, schema)
    if found is None:
        return None
    head, tail, first = found
    if head is None or tail is None or head.num_rows != first or \
            head.num_rows + tail.num_rows != n:
        return None
    return [(0, n, pa.concat_tables([head, tail]))]  # (mapped at once)


def _halves(source: Any, low: int, high: int, schema: pa.Schema
            ) -> tuple[pa.Table | None, pa.Table | None, int] | None:
    """The lines of ``source[low:high]`` parsed as two halves at once: (first table,
    second table, the first's number of lines), None if there is no middle line."""
    from concurrent.futures import ThreadPoolExecutor

    view = memoryview(source)
    cut = source.find(b"\n", (low + high) // 2, high) + 1
    if cut <= low or cut >= high:
        return None
    first = source.count(b"\n", low, cut)
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    settings = pj.ReadOptions(block_size=BLOCK, use_threads=False)

    def parse(a: int, b: int) -> pa.Table | None:
        try:
            return pj.read_json(pa.BufferReader(view[a:b]), read_options=settings,
                                parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None

    with ThreadPoolExecutor(1) as other:
        second = other.submit(parse, cut, high)
        head = parse(low, cut)
        tail = second.result()
    return head, tail, first


def gateway_feed(importer: Any, path: Any, core: Any, progress: Any, batch: int) -> None:
    """Read ``path`` column-wise into ``core`` (see the section's notes): Fallback,
    before anything is fed, if the file is not one this path vouches for."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from .foreign import GZIP_MAGIC, open_bytes, sample

    schema = importer.fast_schema()
    found = sample(path)
    shape = found.shape if found is not None else "json"
    if schema is None or shape not in ("json", "jsonl"):
        raise Fallback("shape")
    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == GZIP_MAGIC
        if gzipped:
            with open_bytes(path) as handle:
                raw = bytearray(handle.read())
        else:
            raw = _read_whole(path)
    except (OSError, EOFError) as exc:
        raise Fallback("unreadable") from exc
    full = schema
    unnamed: list[str] = []  # keys the file's start does not name, left out of the schema
    if found is not None:
        if hasattr(importer, "fast_schema_for"):
            schema, unnamed = importer.fast_schema_for(found.head)
        schema, more = unnamed_structs(schema, found.head)
        unnamed = [*unnamed, *more]
    dotted = {name for name in importer.fast_paths() if "." in name}
    with ThreadPoolExecutor(2) as helpers:  # hashlib and pyarrow let go of the GIL
        hashed = None if gzipped else helpers.submit(core.digest.update, raw)
        try:
            data = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
            if not data.isascii():
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise Fallback("not UTF-8") from exc
                if b"\xef\xbf\xbd" in data:
                    raise Fallback("U+FFFD")
            spans = early = None
            if shape == "jsonl":  # parsed meanwhile as if every line were a record, where
                # every line starts an object (pyarrow takes a line "null" for a row of
                # nulls, and crashes on one that starts a block)
                if data[:1] == b"{" and not held(data, r"\n[^{]"):
                    early = helpers.submit(_halves, data, 0, len(data), schema)
                records: Records = (line_spans(data) if hasattr(importer, "fast_columns_in")
                                    else jsonl_records(data))  # type: ignore[arg-type]
            else:
                spans = records = array_records(importer, data)
                if hashed is not None and data is raw:
                    hashed.result()  # (before the separators change)
                spans.blank()
            # meanwhile (pyarrow parses): what pyarrow would read otherwise, and whether
            # a key left out of the schema is in the file after all
            checked = helpers.submit(_checks, data, dotted, unnamed)
            try:
                mapped = _mapped(importer, records, schema, shape == "json", full, early)
                why, named_after_all = checked.result()
                if why:
                    raise Fallback(why)
                if named_after_all:
                    mapped = _mapped(importer, records, full, shape == "json")
                if spans is not None:
                    spans.restore()
            except Misread:
                checked.result()
                if spans is not None:
                    spans.restore()
                records = document_records(importer, bytes(data), data.decode("utf-8"))
                why, named_after_all = _checks(data, dotted, [])
                if why:
                    raise Fallback(why) from None
                mapped = _mapped(importer, records, full, True)
            fast, skip, tables, slow = mapped
        except Fallback:
            if hashed is not None:
                hashed.cancel()
            raise
        # everything is known: feed
        progress.update(os.path.getsize(path))
        _emit_gateway(importer, core, records, fast, skip, tables, slow, batch)
        if hashed is not None:
            hashed.result()
            core.hashed = True


def _checks(data: bytes | bytearray, dotted: Collection[str], unnamed: Sequence[str]
            ) -> tuple[str, bool]:
    """``risky`` and whether any of the ``unnamed`` probes (text in every key left out of
    the schema, such as ``data"`` for ``"data"``) is in ``data`` after all."""
    return risky(data, dotted), any(held(data, re.escape(probe)) for probe in unnamed)


def _read_whole(path: Any) -> bytearray:
    """The file's bytes, read into a ``bytearray`` (a document's separators are blanked
    in place, see ``Spans``)."""
    import os

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        out = bytearray(size)
        view = memoryview(out)
        got = 0
        while got < size:
            n = handle.readinto(view[got:])
            if not n:
                break
            got += n
        rest = handle.read()
    if got < size:
        del out[got:]
    return out + rest if rest else out


def _fresh_months(core: Any, stamps: pa.Array) -> bool:
    """Whether events of these timestamps fed as one batch give what feeding them
    ``foreign.BATCH`` at a time gives, batch by batch alike (``Extraction.event_ids``
    too): a fresh core that checks the ids of its months once, at the end, for months
    the index holds no id of (no id is claimed while feeding); False for a timestamp
    pyarrow does not read as RFC 3339 with an offset."""
    if not (getattr(core, "fast_dedupe", False) and core.read == 0 and not core.quarantine
            and not getattr(core, "_ids", None) and hasattr(core.index, "has_ids")):
        return False
    stamps = pc.drop_null(stamps)
    utc = pc.match_substring_regex(stamps, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.]*[Zz]$")
    if pc.all(utc).as_py() is not False:  # "2026-01-05T10:00:00Z": its month, as written
        months = pc.unique(pc.utf8_slice_codeunits(stamps, 0, 7)).to_pylist()
    else:
        try:
            moments = pc.cast(stamps, pa.timestamp("ns", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return False
        numbers = pc.unique(pc.add(pc.multiply(pc.year(moments), 100), pc.month(moments)))
        months = [f"{m // 100:04d}-{m % 100:02d}" for m in numbers.to_pylist()]
    return not any(core.index.has_ids(month) for month in months)


def _emit_gateway(importer: Any, core: Any, records: Records, fast: np.ndarray,
                  skip: np.ndarray, tables: list[tuple[np.ndarray, pa.Table]],
                  slow: dict[int, Any], batch: int) -> None:
    """``_emit``, as one batch where that gives the same (``_fresh_months``), the problems
    first: the quarantine is sorted by line, so that their order only shows where records
    share a line (a compact document), and then the per-record path's batches are kept."""
    n = len(records.lines)
    is_event = fast & ~skip
    for k, value in slow.items():
        if isinstance(value, dict):
            is_event[k] = True
    events = np.flatnonzero(is_event)
    numbers = np.asarray(records.lines, dtype=np.int64)
    shared = len(numbers) > 1 and bool((numbers[1:] == numbers[:-1]).any())
    if len(events) <= batch or shared and any(isinstance(v, RowProblem)
                                              for v in slow.values()):
        _emit(importer, core, records, n, fast, skip, tables, slow, batch)
        return
    which = np.full(n, -1, dtype=np.int64)
    row = np.zeros(n, dtype=np.int64)
    for t, (index, _) in enumerate(tables):
        which[index] = t
        row[index] = np.arange(len(index))
    whole = pa.concat_tables([t for _, t in tables]) if tables else None
    offset = np.cumsum([0] + [len(index) for index, _ in tables])
    position = np.where(which >= 0, offset[np.maximum(which, 0)] + row, -1)
    quick = events[fast[events]]
    try:
        column = (pa.array([], pa.string()) if whole is None or not len(quick) else
                  whole.column("timestamp").combine_chunks() if len(quick) == len(whole)
                  else whole.column("timestamp").take(pa.array(position[quick])))
        stamps = pa.concat_arrays([pc.cast(column, pa.string()), pa.array(
            [slow[k].get("timestamp") for k in events[~fast[events]].tolist()],
            pa.string())])
        single = _fresh_months(core, stamps)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        single = False
    if not single:
        _emit(importer, core, records, n, fast, skip, tables, slow, batch)
        return
    problems = sorted(k for k, v in slow.items() if isinstance(v, RowProblem))
    if problems:
        core.feed_rows([(records.lines[k], records.original(k), slow[k]) for k in problems])
    if whole is not None and len(quick) == len(events) == whole.num_rows:
        ks = events.tolist() if len(events) != n else None  # (all of them: k is i)
        dicts: dict[int, dict[str, Any]] = {}

        def event_of(i: int) -> dict[str, Any]:
            if i not in dicts:
                dicts[i] = importer.event(records.record(ks[i] if ks is not None else i))
            return dicts[i]

        core.feed_table(whole, pa.array(numbers[events]),
                        lambda i: records.original(ks[i] if ks is not None else i), event_of)
        return
    _feed_events(importer, core, records, events, fast, whole, position, slow, numbers)


def gateway_read(importer: Any, path: Any, core: Any, progress: Any) -> None:
    """``ForeignUsageImporter.feed`` for the gateway logs: ``gateway_feed``, or record
    by record where it falls back (and with ``importer.fast`` off)."""
    from . import foreign

    if importer.fast and importer.fast_schema() is not None:
        try:
            gateway_feed(importer, path, core, progress, foreign.BATCH)
            return
        except Fallback:
            pass
    importer.feed_records(path, core, progress)


# -- the mappings' column helpers, lighter (the checks only where a column needs them) ---------


def column_at(table: pa.Table, path: str) -> pa.Array | None:
    """``field``, the struct columns walked chunk by chunk and only the leaf's chunks
    joined (joining a struct column of many fields copies them all)."""
    parts = path.split(".")
    if parts[0] not in table.column_names:
        return None
    column: Any = table.column(parts[0])
    for part in parts[1:]:
        if not pa.types.is_struct(column.type) or column.type.get_field_index(part) < 0:
            return None
        column = pc.struct_field(column, part)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def texts_of(table: pa.Table, *paths: str) -> pa.Array:
    """``first_text`` (``column_at``)."""
    n = table.num_rows
    columns = []
    for path in paths:
        column = column_at(table, path)
        if column is None:
            column = pa.nulls(n, pa.string())
        elif column.null_count < n:
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
        columns.append(column)
    value = columns[0] if len(columns) == 1 else pc.coalesce(*columns)
    return pc.fill_null(value, "") if value.null_count else value


def counts_of(table: pa.Table, ok: list[pa.Array], *paths: str) -> pa.Array:
    """``count_of``, a column's bounds checked row by row only if its least or greatest
    value is out of them."""
    n = table.num_rows
    total: pa.Array | None = None
    for path in paths:
        column = column_at(table, path)
        if column is None:
            continue
        low, high = pc.min_max(column).values()
        if low.is_valid and (low.as_py() < 0 or high.as_py() > MAX_COUNT):
            ok.append(pc.fill_null(pc.and_(pc.greater_equal(column, 0),
                                           pc.less_equal(column, MAX_COUNT)), True))
        value = pc.fill_null(column, 0) if column.null_count else column
        total = value if total is None else pc.add(total, value)
    return pa.repeat(pa.scalar(0, pa.int64()), n) if total is None else total


def stamps_of(table: pa.Table, ok: list[pa.Array], path: str) -> pa.Array:
    """``stamp_of``, the times without an offset looked for only if some are not RFC
    3339 UTC already."""
    column = column_at(table, path)
    if column is None or not pa.types.is_string(column.type):
        return stamp_of(table, ok, path)
    as_is = pc.and_(pc.ends_with(column, "Z"), pc.match_substring(column, "T"))
    if column.null_count == 0 and pc.all(as_is).as_py():
        return column
    bare = pc.match_substring_regex(column, _NO_OFFSET)
    if column.null_count == 0 and pc.all(bare).as_py():  # times without an offset
        return pc.binary_join_element_wise(pc.replace_substring(column, " ", "T"), "Z", "")
    ok.append(pc.fill_null(pc.or_(as_is, bare), False))
    fixed = pc.binary_join_element_wise(pc.replace_substring(column, " ", "T"), "Z", "")
    return pc.if_else(pc.fill_null(as_is, False), column, fixed)

