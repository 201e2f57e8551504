"""The parsed usage cache: one parse per load, and no work left for the garbage collector."""

from __future__ import annotations

import datetime
import gc

from tokenbooks.plugins import ledger
from tokenbooks.plugins.rules.records import Usage


def entries(n: int) -> list:
    day = datetime.date(2026, 1, 5)
    return [ledger.usage_entry(Usage(day, "acme", "gpt-4o", "chat", input_tokens=1000 + i,
                                     cached_input_tokens=10, output_tokens=500, events=3),
                               {"source": "usage-2026-01.jsonl"}) for i in range(n)]


def test_usage_table_parses_once_and_keeps_metadata_untracked() -> None:
    book = entries(50)
    assert not any(gc.is_tracked(e.meta) for e in book)  # Beancount's dicts of atoms
    found, fields, bad = ledger.usage_table(book)
    assert bad == [] and len(found) == len(fields) == 50
    assert fields[7][5] == 1007 and fields[7][6] == 10
    # cached as plain tuples that the collector has let go: the dicts stay untracked, so a
    # large book is not rescanned by full collections after the plugins
    assert all(type(e.meta[ledger.PARSED]) is tuple for e in book)
    assert not any(gc.is_tracked(e.meta) for e in book)
    assert not any(gc.is_tracked(e.meta[ledger.PARSED]) for e in book)
    # later readers get the same records without parsing again
    again = ledger.usage_table(book)[1]
    assert all(a is b for a, b in zip(again, fields, strict=True))
    assert ledger.usage_from_entry(book[7]) == Usage(*fields[7])
    assert isinstance(ledger.usage_from_entry(book[7]), Usage)


def test_malformed_entries_are_reported_and_not_cached() -> None:
    book = entries(2)
    book[1].meta["input_tokens"] = book[1].meta["input_tokens"] + ledger.Decimal("0.5")
    found, fields, bad = ledger.usage_table(book)
    assert len(found) == 1 and len(bad) == 1
    assert "input_tokens: expected a whole number >= 0" in bad[0][1]
    assert ledger.PARSED not in book[1].meta
