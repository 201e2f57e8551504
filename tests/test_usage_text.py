"""``format_usage``: the bytes of ``build.format_entry`` (Beancount's printer) for usage
entries, on hostile names and metadata; and the sample book's usage import files the
same bytes as the printer writes them."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

from beancount.core import data
from beancount.parser import parser
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.plugins.entries.build import format_entry, value
from tokenbooks.plugins.entries.usage import usage_entry
from tokenbooks.plugins.entries.usage_text import format_usage
from tokenbooks.plugins.rules.records import Usage

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ['a"b', "back\\slash", '\\"', "ünïcødé ☃ 𝄞", "", " lead", "trail ", "tab\there",
           "line\nbreak", "'single'", "{braces}", "\\", '"']
names = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))


@settings(max_examples=300, deadline=None)
@given(customer=names.filter(bool), model=names, feature=names, action=names, user=names,
       workflow=names, source=names, tier=names, counts=st.lists(
           st.integers(0, 10**15), min_size=3, max_size=3), events=st.integers(1, 10**6),
       until=st.none() | st.dates(), cache_hit=st.booleans())
def test_format_usage_is_the_printer(customer, model, feature, action, user, workflow,
                                     source, tier, counts, events, until, cache_hit):
    day = datetime.date(2026, 3, 1)
    usage = Usage(date=day, customer=customer, model=model, feature=feature, action=action,
                  user=user, events=events, input_tokens=counts[0] + counts[1],
                  cached_input_tokens=counts[1], output_tokens=counts[2],
                  completed=1 if action else 0, until=until, workflow=workflow, tier=tier,
                  cache_hit=cache_hit, extra=(("web_search_calls", 3),))
    entry = usage_entry(usage, {"source": source, "sha256": "ab" * 32,
                                "first_event": customer, "last_event": f'{model}"'})
    assert format_usage(entry) == format_entry(entry)


def test_other_values_and_entries_go_to_the_printer():
    meta = data.new_metadata("x", 1, {"n": Decimal("1.50"), "flag": False, "none": None,
                                      "when": datetime.date(2026, 1, 2), "__hidden": 1})
    entry = data.Custom(meta, datetime.date(2026, 1, 1), "usage", [value("a\\b")])
    assert format_usage(entry) == format_entry(entry)
    assert format_usage(entry).splitlines() == [
        '2026-01-01 custom "usage" "a\\\\b"', "  n: 1.50", "  flag: FALSE", "  none: ",
        "  when: 2026-01-02"]
    other = entry._replace(values=[value(Decimal("2"))])
    assert format_usage(other) == format_entry(other)
    assert format_usage(entry._replace(values=[])) == format_entry(entry._replace(values=[]))


def test_the_sample_books_usage_files_print_the_same_bytes():
    """Every usage import file of the sample book, loaded and written again both ways:
    the same bytes (the header aside)."""
    files = sorted((ROOT / "ledgers" / "imports").glob("*.usage-*.beancount"))
    assert files
    for path in files[:3]:
        entries, errors, _ = parser.parse_file(str(path))  # (sorted by the parser)
        usage = [e for e in entries if isinstance(e, data.Custom) and e.type == "usage"]
        assert usage and not errors
        fast = "".join("\n" + format_usage(e) for e in usage)
        slow = "".join("\n" + format_entry(e) for e in usage)
        assert fast == slow
        body = path.read_text(encoding="utf-8").split("\n\n", 1)[1]
        assert sorted(body.split("\n\n")) == sorted(fast.lstrip("\n").split("\n\n"))


printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
hostile = st.one_of(st.sampled_from([h for h in HOSTILE if "\n" not in h and "\t" not in h]),
                    printable)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.tuples(hostile.filter(bool), hostile, hostile, hostile,
                                 st.integers(1, 28), st.integers(0, 10**12),
                                 st.booleans(), st.sampled_from(["", "batch", 'pri"o'])),
                       min_size=1, max_size=25))
def test_the_table_writer_is_the_printer(events):
    """``table_text`` (pyarrow, column by column) against Beancount's printer on the
    entries of the same aggregates: names with quotes, backslashes and unicode, users,
    tiers, cache hits, actions, big counts."""
    from tokenbooks.importers.usage import UsageCore
    from tokenbooks.plugins.entries.usage_text import joined, table_text
    from tokenbooks.plugins.rules.records import EXTRA_COUNTS

    customers = {e[0] for e in events}
    core = UsageCore(customers=customers, per_user=customers)
    rows = []
    for n, (customer, model, feature, user, day, tokens, hit, tier) in enumerate(events):
        row = {"event_id": f'id"{n}\\', "timestamp": f"2026-03-{day:02d}T00:00:00Z",
               "customer": customer, "model": model or "m", "feature": feature,
               "user": user, "input_tokens": tokens, "output_tokens": n,
               "cache_hit": hit, "service_tier": tier, "web_search_calls": n % 3}
        if n % 4 == 0:
            row.update(action='act"ion', status="partial")
        rows.append((n + 1, "{}", row))
    core.feed_rows(rows)
    result = core.finish(Path('a"b\\c.jsonl'), "f" * 64, "test")
    assert result.read == len(events) and not result.quarantine
    text = bytes(joined(table_text(result.usage_table, result.source.name, result.sha256,
                                   EXTRA_COUNTS))).decode()
    assert text == "".join("\n" + format_entry(e) for e in result.entries)


def test_sums_past_int64_are_kept_exact_and_written_the_same(monkeypatch):
    """Past ``peak x events >= 2^63`` the groups go to Python ints (``UsageCore._exact``);
    the bound lowered, the same events give the same entries and the same text."""
    from tokenbooks.importers import usage
    from tokenbooks.plugins.entries.usage_text import joined, table_text
    from tokenbooks.plugins.rules.records import EXTRA_COUNTS

    rows = [(n + 1, "{}", {"event_id": f"e{n:03d}", "customer": "acme", "model": "m",
                           "timestamp": f"2026-03-{1 + n % 3:02d}T00:00:00Z",
                           "input_tokens": 10**12 + n, "output_tokens": n})
            for n in range(200)]

    def books() -> tuple[str, list]:
        core = usage.UsageCore(customers={"acme"})
        for start in range(0, 200, 50):
            core.feed_rows(rows[start:start + 50])
        result = core.finish(Path("x.jsonl"), "0" * 64, "test")
        text = bytes(joined(table_text(result.usage_table, "x.jsonl", "0" * 64,
                                       EXTRA_COUNTS))).decode()
        return text, [format_entry(e) for e in result.entries]

    fast = books()
    monkeypatch.setattr(usage, "INT64_MAX", 10**13)
    exact = books()
    assert exact == fast
    assert "  input_tokens: 67000000006633\n" in fast[0]  # day 1: 67 events, n = 0, 3, ..
