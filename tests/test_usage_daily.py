"""Daily usage aggregates (``usage_daily``): the same entries as the raw events, dedupe
across raw and aggregated imports in both directions, quarantine rules, CSV and Parquet."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_import_cmd import event, jsonl, new_book, run

from tokenbooks.importers.index import read_sidecar

COLUMNS = ("customer", "date", "model", "feature", "action", "user", "input_tokens",
           "cached_input_tokens", "output_tokens", "events", "completed", "partial",
           "failed", "unbilled_events", "first_event", "last_event", "event_ids")


def aggregates(events: list[dict]) -> list[dict]:
    """Daily aggregates of canonical events, computed the simple way (for the test)."""
    groups: dict[tuple, dict] = {}
    order: dict[tuple, list[str]] = defaultdict(list)
    for e in events:
        key = (e["customer"], e["timestamp"][:10], e["model"], e["feature"],
               e.get("action", ""), "")
        row = groups.setdefault(key, dict(zip(COLUMNS[:6], key, strict=True), **{
            n: 0 for n in COLUMNS[6:14]}))
        for n in ("input_tokens", "cached_input_tokens", "output_tokens"):
            row[n] += e.get(n, 0)
        row["events"] += 1
        if e.get("action"):
            row[e["status"]] += 1
        order[key].append(e["event_id"])
    for key, row in groups.items():
        row.update(first_event=order[key][0], last_event=order[key][-1],
                   event_ids=sorted(order[key]))
    return [groups[k] for k in sorted(groups)]


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "event_ids": "\n".join(row["event_ids"])})
    return path


def body(book: Path) -> dict[str, str]:
    """The month files of a book without their provenance (header, source, sha256)."""
    out = {}
    for path in sorted((book / "imports").glob("2026-*.beancount")):
        lines = [line for line in path.read_text().splitlines()
                 if not line.startswith(";") and "  source: " not in line
                 and "  sha256: " not in line]
        out[path.name.split(".")[0]] = "\n".join(lines)
    return out


def ids(book: Path) -> set[str]:
    return {i for p in (book / "imports").glob("*.events.gz") for i in read_sidecar(p)}


@pytest.mark.parametrize("writer", [write_parquet, write_csv])
def test_aggregates_give_the_books_of_the_raw_events(tmp_path, writer):
    events = [event(i) for i in range(60)]
    raw_book = new_book(tmp_path / "raw")
    agg_book = new_book(tmp_path / "agg")
    assert run(raw_book, jsonl(tmp_path / "usage.jsonl", events)).exit_code == 0
    source = writer(tmp_path / f"daily{'.parquet' if writer is write_parquet else '.csv'}",
                    aggregates(events))
    result = run(agg_book, source, extra=("--json",))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)[0]
    assert summary["importer"].endswith("usage_daily.Importer")
    assert summary["read"] == summary["imported"] == len(aggregates(events))
    assert body(raw_book.parent) == body(agg_book.parent)
    assert ids(raw_book.parent) == ids(agg_book.parent) == {e["event_id"] for e in events}


def test_dedupe_across_raw_and_aggregated_imports(tmp_path):
    events = [event(i) for i in range(60)]
    rows = aggregates(events)
    ledger = new_book(tmp_path / "a")
    assert run(ledger, write_parquet(tmp_path / "d.parquet", rows)).exit_code == 0
    again = json.loads(run(ledger, jsonl(tmp_path / "u.jsonl", events),
                           extra=("--json",)).output)[0]
    assert (again["read"], again["imported"], again["duplicates"]) == (60, 0, 60)
    ledger = new_book(tmp_path / "b")
    assert run(ledger, jsonl(tmp_path / "u.jsonl", events[:30])).exit_code == 0
    after = json.loads(run(ledger, write_parquet(tmp_path / "d.parquet", rows),
                           extra=("--json",)).output)[0]
    assert after["read"] == after["imported"] + after["duplicates"] + after["quarantined"]
    partly = [r for r in rows if 0 < len(set(r["event_ids"]) & {e["event_id"] for e in
                                                                  events[:30]}) < r["events"]]
    assert after["quarantined"] == len(partly)
    quarantine = next((ledger.parent / "imports").glob("*.quarantine.jsonl")).read_text()
    assert "already in the book; aggregate again without them" in quarantine


def test_rules_quarantine_with_row_field_and_reason(tmp_path):
    rows = aggregates([event(i) for i in range(10)])
    bad = [dict(rows[0], customer="nobody"), dict(rows[1], events=rows[1]["events"] + 1),
           dict(rows[2], cached_input_tokens=rows[2]["input_tokens"] + 1),
           dict(rows[3], date="2026-02-30"), dict(rows[4], first_event="evt-x"),
           dict(rows[5], event_ids=rows[5]["event_ids"] * 2)]
    ledger = new_book(tmp_path / "b")
    result = json.loads(run(ledger, write_parquet(tmp_path / "d.parquet", bad + rows[6:]),
                            extra=("--json",)).output)[0]
    assert (result["read"], result["quarantined"], result["imported"]) == (
        len(rows), 6, len(rows) - 6)
    lines = [json.loads(line) for line in
             next((ledger.parent / "imports").glob("*.quarantine.jsonl")).open()]
    assert [(q["line"], q["field"]) for q in lines] == [
        (1, "customer"), (2, "events"), (3, "cached_input_tokens"), (4, "date"),
        (5, "first_event"), (6, "event_ids")]
    assert "expected the number of distinct event_ids" in lines[1]["reason"]
