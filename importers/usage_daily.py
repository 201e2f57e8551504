"""Pre-aggregated usage: daily aggregates (Parquet or CSV) with the ids of their events.

Written by ``tokenbooks.scripts.spark_aggregate`` (or any job that aggregates the
canonical events the same way), one row per customer, UTC day, model, feature, action
and user -- the key and counts of a ``custom "usage"`` entry -- and its provenance:

| column | meaning |
|---|---|
| customer, date (YYYY-MM-DD), model, feature, action, user | the key (text; empty allowed but customer, date) |
| input_tokens, cached_input_tokens, output_tokens | token sums (whole numbers >= 0) |
| events, completed, partial, failed, unbilled_events | event counts |
| first_event, last_event | ids of the first and last event of the row |
| service_tier, context, cache_hit | optional: the token classes' key (docs/token-classes.md) |
| cache_write_tokens, cache_write_1h_tokens, web_search_calls, code_execution_calls, file_search_calls | optional counts (cache writes are part of input_tokens) |
| event_ids | every id of the row: Parquet list<string>; CSV one text cell, ids joined by line breaks |

Rules (a row breaking one is quarantined with its row number, field and reason): the
customer is one of the contracts; the date exists; names (the key's text, the event ids)
are within the bounds of ``usage`` (200 characters, no control character); counts are
whole numbers from 0 to 10^15 (``usage.MAX_COUNT``: a row's sums are added up in Python
ints, which never wrap), cached <= input, tokens need a model; each id appears once and
``events`` equals their number; an action's completed + partial + failed equal
``events``, and without an action they are 0; ``unbilled_events`` <= ``events``; first
and last event are among the ids. ``user`` is kept only for customers aggregated per user (as for raw events).

Dedupe is by event id, against the same event-id index as raw imports: a row whose ids
are all in the book (or in a row before it) is a duplicate; a row with some ids known
and some not is quarantined (an aggregate cannot be split: aggregate it again without
those events); a row with none known is imported and its ids go into the sidecar of
its month, so a raw import of the same events later finds them all duplicates. Rows of
one key (several partial aggregates) are summed into one entry.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tokenbooks.plugins.entries.usage import usage_entry
from tokenbooks.plugins.rules.records import (
    ACTION_STATUSES,
    CACHE_WRITES,
    EXTRA_COUNTS,
    Usage,
)

from .base import UsageImporter, file_sha256, read_head
from .index import EventIndex, Fingerprint, fingerprint
from .usage import (
    CONTEXTS,
    CONTROL,
    MAX_NAME,
    TOKEN_FIELDS,
    Extraction,
    Quarantined,
    RowProblem,
    UnreadableSource,
    flag,
    name_text,
    tier_name,
    unique_columns,
    whole,
)
from .usage_csv import header

EVENTS_KEY = "tokenbooks.events"  # Parquet metadata of ``tokenbooks aggregate``'s files:
IDS_KEY = "tokenbooks.ids_sha256"  # how many ids the event_ids column holds, and the
# fingerprint of their set (``index.fingerprint``): the id store, verified on import
KEY_FIELDS = ("customer", "date", "model", "feature", "action", "user")
EVENT_COUNTS = ("events", *ACTION_STATUSES, "unbilled_events")
CLASS_KEYS = ("service_tier", "context", "cache_hit")
COLUMNS = (*KEY_FIELDS, *TOKEN_FIELDS, *EVENT_COUNTS, "first_event", "last_event", "event_ids",
           *CLASS_KEYS, *EXTRA_COUNTS)
REQUIRED = ("customer", "date", "events", "event_ids")
BATCH_ROWS = 4096


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowProblem(name, f"expected text, got {value!r}")
    return name_text(value, name)


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [i for i in value.replace("\r", "").split("\n") if i]
    if isinstance(value, list) and all(isinstance(i, str) for i in value):
        return value
    raise RowProblem("event_ids", f"expected a list of event ids, got {str(value)[:80]!r}")


def check_row(row: dict[str, Any], customers: frozenset[str], per_user: frozenset[str]
              ) -> tuple[tuple, list[int], list[str], str, str]:
    """(key, counts in ``ledger`` order, ids, first, last) of a valid aggregate row."""
    customer = _text(row, "customer")
    if customer not in customers:
        raise RowProblem("customer", f"unknown customer {customer!r} (expected a customer "
                                     "of contracts/customers/)")
    raw_day = row.get("date")
    try:
        day = (raw_day if isinstance(raw_day, datetime.date)
               else datetime.date.fromisoformat(str(raw_day)))
    except ValueError:
        raise RowProblem("date", f"expected a date YYYY-MM-DD, got {raw_day!r}") from None
    model, feature, action = (_text(row, n) for n in ("model", "feature", "action"))
    user = _text(row, "user")  # checked, kept for the customers aggregated per user
    user = user if customer in per_user else ""
    tokens = [whole(row.get(n), n) for n in TOKEN_FIELDS]
    counts = {n: whole(row.get(n), n) for n in EVENT_COUNTS}
    if tokens[1] > tokens[0]:
        raise RowProblem("cached_input_tokens", f"expected at most input_tokens "
                                                f"({tokens[0]}), got {tokens[1]}")
    extra = [whole(row.get(n), n) for n in EXTRA_COUNTS]
    writes = sum(c for n, c in zip(EXTRA_COUNTS, extra, strict=True) if n in CACHE_WRITES)
    if writes and tokens[1] + writes > tokens[0]:
        raise RowProblem("cache_write_tokens", f"expected cache reads and writes together at "
                                               f"most input_tokens ({tokens[0]}), got "
                                               f"{tokens[1]} + {writes}")
    if (any(tokens) or any(extra)) and not model:
        raise RowProblem("model", "is required when there are tokens or tool calls")
    tier = tier_name(_text(row, "service_tier"))
    context = _text(row, "context").strip().lower()
    if context not in CONTEXTS:
        raise RowProblem("context", f'expected "long" or nothing, got {context!r}')
    cache_hit = flag(row.get("cache_hit"), "cache_hit")
    ids = _ids(row.get("event_ids"))
    if "" in ids or any("\n" in i for i in ids):
        raise RowProblem("event_ids", "expected ids without empty ones or line breaks")
    if any(len(i) > MAX_NAME for i in ids) or CONTROL.search("".join(ids)):
        for i in ids:
            name_text(i, "event_ids")  # says which
    if len(set(ids)) != len(ids):
        raise RowProblem("event_ids", "expected each event id once, got an id repeated")
    events = counts["events"]
    if events < 1 or events != len(set(ids)):
        raise RowProblem("events", f"expected the number of distinct event_ids "
                                   f"({len(set(ids))}, at least 1), got {events}")
    outcomes = sum(counts[n] for n in ACTION_STATUSES)
    if (action and outcomes != events) or (not action and outcomes):
        want = f"{events} (events)" if action else "0 (no action)"
        raise RowProblem("completed", f"expected completed + partial + failed = {want}, "
                                      f"got {outcomes}")
    if counts["unbilled_events"] > events:
        raise RowProblem("unbilled_events", f"expected at most events ({events}), got "
                                            f"{counts['unbilled_events']}")
    first, last = _text(row, "first_event"), _text(row, "last_event")
    for name, value in (("first_event", first), ("last_event", last)):
        if value not in ids:
            raise RowProblem(name, f"expected one of the row's event_ids, got {value!r}")
    key = (customer, day, model, feature, action, user, tier, context, cache_hit)
    return key, [*tokens, *(counts[n] for n in EVENT_COUNTS), *extra], ids, first, last


class Importer(UsageImporter):
    """Daily usage aggregates with event ids (``.parquet``, ``.csv``)."""

    suffixes = (".parquet", ".pq", ".csv")
    format_name = "daily usage aggregates"

    def identify(self, filepath: str) -> bool:
        if not str(filepath).lower().endswith(self.suffixes):
            return False
        try:
            if str(filepath).lower().endswith(".csv"):
                head = read_head(filepath)
                names = (head or "").split("\n", 1)[0].strip().strip("\ufeff").split(",")
            else:
                names = pq.read_schema(filepath).names
        except (OSError, pa.ArrowException):
            return False
        return set(REQUIRED) <= set(names) and "timestamp" not in names

    def rows(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            if path.suffix.lower() == ".csv":
                unique_columns(header(read_head(path) or ""), path)
                table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(
                    newlines_in_values=True), convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in COLUMNS}, strings_can_be_null=False))
                batches = table.to_batches(BATCH_ROWS)
            else:
                parquet = pq.ParquetFile(path)
                unique_columns(parquet.schema_arrow.names, path, "schema")
                names = [n for n in COLUMNS if n in parquet.schema_arrow.names]
                batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=names)
            for batch in batches:
                yield from batch.to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: not readable as {self.format_name} ({exc})"
                                   ) from exc

    def verify_store(self, path: Path) -> None:
        """A file ``tokenbooks aggregate`` wrote records the count and fingerprint of its
        ids (``EVENTS_KEY``, ``IDS_KEY``): recomputed from its ``event_ids`` column, they
        must match (else UnreadableSource: the store was changed, nothing is imported)."""
        if path.suffix.lower() == ".csv":
            return
        try:
            parquet = pq.ParquetFile(path)
            meta = parquet.schema_arrow.metadata or {}
            events, ids_sha = meta.get(EVENTS_KEY.encode()), meta.get(IDS_KEY.encode())
            if events is None or ids_sha is None:
                return  # written by another job: no id store to verify
            found = store_fingerprint(parquet.read(columns=["event_ids"]).column("event_ids"))
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: not readable as {self.format_name} ({exc})"
                                   ) from exc
        if (str(found.events), found.sha256) != (events.decode(), ids_sha.decode()):
            raise UnreadableSource(
                f"{path}: its id store does not match its fingerprint: {IDS_KEY} records "
                f"{events.decode()} events, ids sha256 {ids_sha.decode()[:12]}..., the "
                f"event_ids column holds {found.events}, ids sha256 {found.sha256[:12]}... "
                f"(changed after tokenbooks aggregate wrote it); aggregate the sources "
                f"again")

    def run(self, path: Path, index: EventIndex | None = None) -> Extraction:
        index = index if index is not None else self.index
        self.verify_store(path)
        customers = frozenset(self.contracts.customers)
        per_user = frozenset(self.per_user_customers())
        result = Extraction(source=path, sha256=file_sha256(path), importer=self.name,
                            kind="usage")
        groups: dict[tuple, list] = {}
        for number, row in enumerate(self.rows(path), start=1):
            result.read += 1
            try:
                key, counts, ids, first, last = check_row(row, customers, per_user)
            except RowProblem as problem:
                result.quarantine.append(Quarantined(number, problem.field, problem.reason,
                                                     _content(row)))
                continue
            month = f"{key[1]:%Y-%m}"
            seen = index.month(month)
            known = sum(1 for i in ids if i in seen)
            if known == len(ids):
                result.duplicates += 1
                continue
            if known:
                result.quarantine.append(Quarantined(
                    number, "event_ids", f"{known} of its {len(ids)} events are already in "
                    "the book; aggregate again without them", _content(row)))
                continue
            seen.update(ids)
            result.event_ids.setdefault(month, []).append(pa.array(ids, pa.string()))
            result.imported += 1
            group = groups.get(key)
            if group is None:
                groups[key] = [counts, first, last]
            else:
                group[0] = [a + b for a, b in zip(group[0], counts, strict=True)]
                group[2] = last
        result.entries = [self._entry(key, value, path, result.sha256)
                          for key, value in sorted(groups.items())]
        result.quarantine.sort(key=lambda q: q.line)
        return result

    @staticmethod
    def _entry(key: tuple, value: list, path: Path, sha256: str):
        customer, day, model, feature, action, user, tier, context, cache_hit = key
        counts = dict(zip((*TOKEN_FIELDS, *EVENT_COUNTS, *EXTRA_COUNTS), value[0],
                          strict=True))
        extra = tuple((n, counts.pop(n)) for n in EXTRA_COUNTS)
        usage = Usage(date=day, customer=customer, model=model, feature=feature,
                      action=action, user=user, **counts, tier=tier, context=context,
                      cache_hit=cache_hit, extra=tuple(item for item in extra if item[1]))
        return usage_entry(usage, {"source": path.name, "sha256": sha256,
                                          "first_event": value[1], "last_event": value[2]})


def store_fingerprint(event_ids: pa.ChunkedArray | pa.Array) -> Fingerprint:
    """The fingerprint of every id of an ``event_ids`` list column (``index.fingerprint``)."""
    return fingerprint(pc.list_flatten(event_ids))


def _content(row: dict[str, Any]) -> str:
    ids = row.get("event_ids")
    shown = dict(row)
    if isinstance(ids, list) and len(ids) > 20:
        shown["event_ids"] = [*ids[:20], f"... {len(ids) - 20} more"]
    return json.dumps(shown, default=str, ensure_ascii=False, sort_keys=True)
