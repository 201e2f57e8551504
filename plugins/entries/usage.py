"""The usage sub-ledger: ``custom "usage"`` aggregates, written by the importers and read
back into ``rules.records.Usage`` by the plugins.

One customer, UTC day, model, feature and action, with its provenance:

    2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
      input_tokens: 120000
      cached_input_tokens: 20000
      output_tokens: 30000
      events: 42
      source: "usage-2026-01.jsonl"
      sha256: "9f2c..."
      first_event: "evt-000001"
      last_event: "evt-000042"

An action aggregate has the action as fourth value and its outcomes in metadata
(``completed``, ``partial``, ``failed``); ``user``, ``until`` (the last day a month-grain
aggregate covers) and ``workflow`` are optional. So are the token classes of
docs/token-classes.md, written only when they are not the plain case: ``service_tier``
(``"batch"``, ``"priority"``, ...), ``context: "long"``, ``cache_hit: TRUE`` (served by
the gateway's cache) and the counts ``cache_write_tokens``, ``cache_write_1h_tokens``
(part of ``input_tokens``, like ``cached_input_tokens``), ``web_search_calls``,
``code_execution_calls``, ``file_search_calls``. ``events`` is required and at least 1
(an aggregate counts events: one with tokens but no events, or with no counts at all,
is malformed, an error of the plugins like any malformed entry). The importers write
these entries with ``build.format_entry``, which escapes quotes and backslashes in the
names. At load, ``parse_usage`` also gives every
usage entry a ``customer`` metadata (its first value), so that Fava's filter
``customer:"acme"`` shows a customer's usage beside the entries generated for it.
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from beancount.core import data

from ..rules.periods import month_of
from ..rules.records import EXTRA_COUNTS, Usage
from .build import value

USAGE = "usage"
COUNT_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "events",
                "completed", "partial", "failed", "unbilled_events")
# the metadata of the token classes (docs/token-classes.md)
_CLASS_KEYS = frozenset(("service_tier", "context", "cache_hit", *EXTRA_COUNTS))
# the metadata of an aggregate with none of the optional fields but ``until`` (counts,
# provenance, and the ``customer`` a load adds): its record is read without looking them up
_PLAIN_KEYS = frozenset(("filename", "lineno", "input_tokens", "cached_input_tokens",
                         "output_tokens", "events", "until", "customer", "source", "sha256",
                         "first_event", "last_event", "original_date"))
_new_usage = tuple.__new__  # Usage's fields in order, without its keyword-handling __new__
_until = operator.itemgetter(Usage._fields.index("until"))
# positions in a row of UsageTable.rows (Usage's fields)
CUSTOMER, ACTION, EVENTS, WORKFLOW, REF = (Usage._fields.index(n) for n in (
    "customer", "action", "events", "workflow", "ref"))


@dataclass
class UsageTable:
    """The usage entries of a book, parsed once per load: each well-formed entry and the
    fields of its record (in book order), and (entry, message) for the malformed ones.

    The fields are kept as plain tuples (``Usage``'s fields, in order), not as ``Usage``:
    a tuple of strings, numbers and dates is untracked by the garbage collector after its
    first collection, so a few hundred thousand of them, kept for the load, add nothing to
    the full collections that follow (a named tuple stays tracked: measured, 1.3 s more
    collection on a load of 413,000 usage entries). ``records()`` makes the ``Usage``
    records for a stage that needs them, for as long as it does.
    """

    entries: list[data.Custom] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    bad: list[tuple[data.Custom, str]] = field(default_factory=list)

    def records(self) -> list[Usage]:
        """The ``Usage`` record of each well-formed entry, in book order (new ones)."""
        new = _new_usage
        return [new(Usage, row) for row in self.rows]

    def last_until(self) -> datetime.date | None:
        """The last day a month-grain aggregate covers (None if none has ``until``): the
        book's last date at day grain, which the default ``as_of`` must reach."""
        return max(filter(None, map(_until, self.rows)), default=None)  # (C-level loop)

    def actions(self) -> list[Usage]:
        """The records of the action aggregates (few: kept by the reports)."""
        new = _new_usage
        return [new(Usage, row) for row in self.rows if row[ACTION]]


def is_usage(entry: data.Directive) -> bool:
    return entry.__class__ is data.Custom and entry.type == USAGE


def parse_usage(entries: Iterable[data.Directive]) -> UsageTable:
    """Every usage entry of ``entries``, parsed (the one pass of a load over them)."""
    table = UsageTable()
    found, rows, bad = table.entries, table.rows, table.bad
    custom = data.Custom
    for entry in entries:
        if entry.__class__ is custom and entry.type == USAGE:
            try:
                fields = _usage_fields(entry)
            except ValueError as exc:
                bad.append((entry, str(exc)))
                continue
            if "customer" not in entry.meta:
                entry.meta["customer"] = fields[1]
            found.append(entry)
            rows.append(fields)
    return table


def booked_month(entry: data.Directive) -> str:
    """The month whose event ids an entry's import file holds: ``original_date``'s (late
    usage of a closed month is dated in the first open month, ``importers.late``)."""
    day = (entry.meta or {}).get("original_date")
    return month_of(day if isinstance(day, datetime.date) else entry.date)


def usage_from_entry(entry: data.Custom) -> Usage:
    """The Usage record of one ``custom "usage"`` entry (raises ValueError if malformed)."""
    return _new_usage(Usage, _usage_fields(entry))


def _count(raw: object, name: str, least: int = 0) -> int:
    if isinstance(raw, Decimal) and raw.is_finite():
        numerator, denominator = raw.as_integer_ratio()
        if denominator == 1 and numerator >= least:
            return numerator
    elif raw.__class__ is int and isinstance(raw, int) and raw >= least:  # (not a bool)
        return raw
    raise ValueError(f"{name}: expected a whole number >= {least}, got {raw!r}")


def _usage_fields(entry: data.Custom) -> tuple:
    # The hot path of every load: positional access, one integer check per count.
    values = entry.values
    size = len(values)
    customer = values[0].value if size else None
    if not customer or not isinstance(customer, str):
        raise ValueError('expected custom "usage" "<customer>" "<model>" "<feature>" "<action>"')
    model = (values[1].value or "") if size > 1 else ""
    feature = (values[2].value or "") if size > 2 else ""
    action = (values[3].value or "") if size > 3 else ""
    get = entry.meta.get
    # Unrolled for the four counts every entry has (a loop measured 13% slower).
    raw = get("input_tokens")
    input_tokens = 0
    if raw is not None:
        input_tokens, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or input_tokens < 0:
            input_tokens = _count(raw, "input_tokens")
    raw = get("cached_input_tokens")
    cached = 0
    if raw is not None:
        cached, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or cached < 0:
            cached = _count(raw, "cached_input_tokens")
    raw = get("output_tokens")
    output = 0
    if raw is not None:
        output, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or output < 0:
            output = _count(raw, "output_tokens")
    raw = get("events")  # required, at least 1: no extra test (the one below says < 1)
    if raw is None:
        raise ValueError("events: is required (the number of events the entry counts, "
                         "at least 1)")
    events, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
    if one != 1 or events < 1:
        events = _count(raw, "events", 1)
    if cached > input_tokens:
        raise ValueError("cached_input_tokens: expected at most input_tokens")
    completed = partial = failed = unbilled = 0
    user = workflow = None
    tier, context, cache_hit = "", "", False
    extra: tuple[tuple[str, int], ...] = ()
    if not entry.meta.keys() <= _PLAIN_KEYS:  # the plain aggregate: one test for them all
        # completed, partial, failed, unbilled_events: often absent (unrolled, as above)
        raw = get("completed")
        if raw is not None:
            completed = _count(raw, "completed")
        raw = get("partial")
        if raw is not None:
            partial = _count(raw, "partial")
        raw = get("failed")
        if raw is not None:
            failed = _count(raw, "failed")
        raw = get("unbilled_events")
        if raw is not None:
            unbilled = _count(raw, "unbilled_events")
        user = get("user")
        workflow = get("workflow")
        if not _CLASS_KEYS.isdisjoint(entry.meta):  # (rare)
            extra = tuple((name, count) for name in EXTRA_COUNTS
                          if (count := _count(get(name, 0), name)))
            tier, context, cache_hit = _classes(get("service_tier"), get("context"),
                                                get("cache_hit"), extra, input_tokens,
                                                cached)
    until = get("until")
    return (entry.date, customer, model, feature, action, input_tokens, cached, output,
            events, completed, partial, failed, unbilled, str(user) if user else "",
            until if isinstance(until, datetime.date) else None,
            workflow if workflow.__class__ is str else "",
            f"{get('filename', '?')}:{get('lineno', 0)}", tier, context, cache_hit, extra)


def _classes(tier: object, context: object, cache_hit: object,
             extra: tuple[tuple[str, int], ...], input_tokens: int, cached: int
             ) -> tuple[str, str, bool]:
    """The token-class fields of an entry that has some, checked."""
    if tier is not None and (not isinstance(tier, str) or tier in ("", "standard")):
        raise ValueError(f"service_tier: expected a tier name other than standard, "
                         f"got {tier!r}")
    if context is not None and context != "long":
        raise ValueError(f'context: expected "long" (the long-context band), got {context!r}')
    if cache_hit is not None and cache_hit is not True:
        raise ValueError(f"cache_hit: expected TRUE, got {cache_hit!r}")
    writes = sum(count for name, count in extra if name.startswith("cache_write"))
    if cached + writes > input_tokens:
        raise ValueError("cache_write_tokens: expected cache reads and writes together at "
                         f"most input_tokens ({input_tokens}), got {cached} + {writes}")
    return tier or "", context or "", cache_hit is True


def usage_entry(usage: Usage, provenance: dict[str, object]) -> data.Custom:
    """The ``custom "usage"`` entry for ``usage``, with provenance metadata."""
    meta: dict[str, object] = {}
    for name in COUNT_FIELDS:
        count = getattr(usage, name)
        if count or name == "events":
            meta[name] = Decimal(count)
    if usage.user:
        meta["user"] = usage.user
    if usage.until and usage.until != usage.date:
        meta["until"] = usage.until
    if usage.workflow:
        meta["workflow"] = usage.workflow
    if usage.tier:
        meta["service_tier"] = usage.tier
    if usage.context:
        meta["context"] = usage.context
    if usage.cache_hit:
        meta["cache_hit"] = True
    for name, count in usage.extra:
        meta[name] = Decimal(count)
    meta.update(provenance)
    return data.Custom(
        data.new_metadata(str(provenance.get("source", "<import>")), 0, meta), usage.date,
        USAGE, [value(usage.customer), value(usage.model), value(usage.feature),
                value(usage.action)],
    )


_TOKEN_KEYS = ("input_tokens", "output_tokens", *EXTRA_COUNTS)
# The metadata a usage entry's record is made of (the rest is provenance).
_RECORD_KEYS = frozenset(("filename", "lineno", "customer", *COUNT_FIELDS, "until", "user",
                          "workflow", "first_event", "last_event", *_CLASS_KEYS))


def at_grain(entries: list[data.Directive], spans: Any) -> list[data.Directive]:
    """``entries`` with their usage aggregates merged per span (``rules.grain.Spans``):
    the aggregates of one key and one provenance whose days fall in one span become one,
    dated its first day with events, with ``until`` its last (docs/grain.md). Late usage
    (``original_date``) and other entries stay as they are; the usage comes out sorted
    as the importers write it (customer, day, key). Idempotent.

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""  (events 3)
        2026-01-06 custom "usage" "acme" "gpt-4o" "chat" ""  (events 4)
        -> 2026-01-05 custom "usage" ... events: 7, until: 2026-01-06
    """
    groups: dict[tuple, list[tuple[Usage, dict[str, object], data.Custom]]] = {}
    others: list[data.Directive] = []
    first_at: int | None = None
    for entry in entries:
        if not is_usage(entry) or "original_date" in (entry.meta or {}):
            others.append(entry)
            continue
        if first_at is None:
            first_at = len(others)
        meta = entry.meta
        rest = {k: v for k, v in meta.items() if k not in _RECORD_KEYS}
        values = [v.value or "" for v in entry.values[:4]]  # type: ignore[union-attr]
        values += [""] * (4 - len(values))
        first, last = spans.span(values[0], entry.date)
        # (days without tokens merge apart: inference cost counts the events of the
        # entries with tokens, rules.cogs)
        tokens = any(meta.get(name) for name in _TOKEN_KEYS)
        key = (values[0], first, values[1], values[2], values[3],
               str(meta.get("user") or ""), meta.get("service_tier") or "",
               meta.get("context") or "", meta.get("cache_hit") is True,
               meta.get("workflow") or "", not tokens,
               tuple(sorted((k, repr(v)) for k, v in rest.items())))
        if first == last:  # a day-grain span: nothing to merge, the entry as it is
            groups.setdefault(key, []).append((None, {}, entry))  # type: ignore[arg-type]
            continue
        usage = usage_from_entry(entry)  # type: ignore[arg-type]
        groups.setdefault(key, []).append((usage, {
            **rest, "first_event": entry.meta.get("first_event"),
            "last_event": entry.meta.get("last_event")}, entry))  # type: ignore[arg-type]
    if first_at is None:
        return entries
    merged = []
    for key, items in groups.items():
        if len(items) == 1 or items[0][0] is None:  # alone in its span: as it is
            merged += [(key[0], entry.date, key[2:], entry) for _, _, entry in items]
            continue
        items.sort(key=lambda item: (item[0].date, item[0].last_day))
        usages = [u for u, _, _ in items]
        head, tail = usages[0], max(usages, key=lambda u: u.last_day)
        counts = {name: sum(getattr(u, name) for u in usages) for name in COUNT_FIELDS}
        extra: dict[str, int] = {}
        for u in usages:
            for name, count in u.extra:
                extra[name] = extra.get(name, 0) + count
        record = head._replace(**counts, until=tail.last_day,
                               extra=tuple((n, extra[n]) for n in EXTRA_COUNTS if n in extra))
        provenance = {k: v for k, v in items[0][1].items() if v is not None}
        last_event = items[-1][1].get("last_event")
        if last_event is not None:
            provenance["last_event"] = last_event
        merged.append((key[0], record.date, key[2:], usage_entry(record, provenance)))
    merged.sort(key=lambda item: item[:3])
    return others[:first_at] + [entry for *_, entry in merged] + others[first_at:]
