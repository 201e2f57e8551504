"""``tokenbooks.plugins.book``: one plugin line, the same book as the five plugin lines."""

from __future__ import annotations

import re
from pathlib import Path

from beancount import loader
from beancount.parser import printer
from closekit import build, close
from samplekit import copy_sample

from tokenbooks.scripts import bench_revenue

FIVE = re.compile(r'^plugin "tokenbooks\.plugins\.(contracts|revenue|cogs|invariants|lock)"'
                  r'.*\n', re.M)


def load(ledger: Path) -> tuple[str, list[str]]:
    entries, errors, _ = loader._load([(str(ledger), True)], None, None, None)
    text = "".join(printer.format_entry(entry) for entry in entries)
    return text, sorted(f"{e.source.get('filename')}:{e.source.get('lineno')}: {e.message}"
                        for e in errors)


def as_one_line(ledger: Path, config: str) -> None:
    text = ledger.read_text()
    assert len(FIVE.findall(text)) == 5
    first = FIVE.search(text).start()
    text = FIVE.sub("", text)
    # four comment lines keep the line numbers, and so the order of same-day entries
    ledger.write_text(text[:first] + f'plugin "tokenbooks.plugins.book" "{config}"\n'
                      + ";\n" * 4 + text[first:])


def test_the_sample_book_is_the_same_under_one_line(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    five = load(ledger)
    as_one_line(ledger, "{'contracts': '../contracts', 'posting': 'month'}")
    one = load(ledger)
    assert five[1] == one[1] == []
    assert one[0] == five[0]
    # what the plugins add is there: revenue, cost and provider-bill transactions
    assert 'rule: "usage"' in one[0] and 'rule: "cogs"' in one[0]
    assert 'rule: "provider-bill"' in one[0]


def as_five_lines(ledger: Path) -> None:
    """A new book's one line (and the four comment lines above it) as five lines."""
    lines = ledger.read_text().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if "tokenbooks.plugins.book" in line)
    assert all(line.startswith(";") for line in lines[at - 4:at])
    five = [line + "\n" for line in bench_revenue.SEPARATE]
    ledger.write_text("".join(lines[:at - 4] + five + lines[at + 1:]))


def test_a_closed_month_is_locked_the_same_under_one_line(tmp_path: Path) -> None:
    ledger = build(tmp_path)  # a new book: one plugin line
    assert close(ledger, "2026-01").exit_code == 0
    text = ledger.read_text()
    closed = ledger.parent / "closes" / "2026-01.beancount"
    # a change to the closed month: an entry added there after the close
    late = ledger.parent / "late.beancount"
    late.write_text('2026-01-15 custom "usage" "acme" "gpt-4o" "chat" ""\n'
                    '  input_tokens: 1000\n  events: 1\n')
    ledger.write_text(text + 'include "late.beancount"\n')
    one = load(ledger)
    assert any("entry added after the close" in e for e in one[1])
    as_five_lines(ledger)
    five = load(ledger)
    assert one == five
    assert closed.exists()


def test_unknown_config_keys_are_named(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    as_one_line(ledger, "{'contracts': '../contracts', 'postings': 'day'}")
    _, errors = load(ledger)
    assert any("unknown config key 'postings'" in e and "posting" in e for e in errors)
