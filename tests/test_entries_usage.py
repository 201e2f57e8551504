"""The usage sub-ledger both ways: what the importers write is what the plugins read, the
malformed entries are kept out and named, and reading leaves Beancount's metadata dicts
as the garbage collector found them (a book has hundreds of thousands)."""

from __future__ import annotations

import datetime
import gc
from decimal import Decimal
from pathlib import Path

from beancount.parser import parser, printer

from tokenbooks.plugins.entries.usage import parse_usage, usage_entry, usage_from_entry
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules.model import ContractSet
from tokenbooks.plugins.rules.records import Usage

DAY = datetime.date(2026, 1, 5)


def entries(n: int) -> list:
    return [usage_entry(Usage(DAY, "acme", "gpt-4o", "chat", input_tokens=1000 + i,
                              cached_input_tokens=10, output_tokens=500, events=3,
                              workflow="wf-1" if i == 0 else ""),
                        {"source": "usage-2026-01.jsonl"}) for i in range(n)]


def test_written_and_read_back_the_same() -> None:
    written = entries(3)
    text = "".join(printer.format_entry(e) for e in written)
    assert 'workflow: "wf-1"' in text
    parsed, errors, _ = parser.parse_string(text)
    assert errors == []
    table = parse_usage(parsed)
    assert table.bad == [] and len(table.rows) == 3
    first = table.records()[0]
    assert (first.input_tokens, first.cached_input_tokens, first.output_tokens,
            first.events, first.workflow) == (1000, 10, 500, 3, "wf-1")
    assert usage_from_entry(parsed[1]) == table.records()[1]


def test_every_usage_entry_names_its_customer_and_stays_untracked() -> None:
    book = entries(50)
    assert not any(gc.is_tracked(e.meta) for e in book)  # Beancount's dicts of atoms
    table = parse_usage(book)
    assert [e.meta["customer"] for e in table.entries] == ["acme"] * 50
    assert not any(gc.is_tracked(e.meta) for e in book)  # a string added, nothing else


def test_malformed_entries_are_named_and_left_out() -> None:
    book = entries(3)
    book[1].meta["input_tokens"] = book[1].meta["input_tokens"] + Decimal("0.5")
    book[2].meta["cached_input_tokens"] = Decimal(10**9)
    table = parse_usage(book)
    assert len(table.rows) == 1 and [m for _, m in table.bad] == [
        "input_tokens: expected a whole number >= 0, got Decimal('1001.5')",
        "cached_input_tokens: expected at most input_tokens"]


def test_a_load_parses_its_usage_once() -> None:
    load = Load(Path("."), Path("contracts"), ContractSet({}, {}, {}, ()), [])
    book = entries(5)
    first = load.usage_table(book)
    assert load.usage_table(book) is first and len(first.rows) == 5
