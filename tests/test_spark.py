"""The Spark aggregation job in local mode: its aggregates, imported, give the same books
as the raw events imported directly (entries byte for byte but for the source name and
sha256, the same event-id index, the same quarantine lines and reasons)."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_import_cmd import new_book, run
from test_usage_daily import body, ids

from tokenbooks.scripts.generate import SAMPLE_PROFILES, events, write_jsonl
from tokenbooks.scripts.spark_aggregate import aggregate, session

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spark():
    spark = session("local[2]", "tokenbooks-test")
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


def sources(folder: Path) -> list[Path]:
    """Four days across a month end, one JSONL per month in partitioned folders, with a
    bad timestamp, a malformed line, a blank line and a repeated event id."""
    paths = []
    for month, first, last in (("2026-01", 30, 31), ("2026-02", 1, 2)):
        start = datetime.date(int(month[:4]), int(month[5:]), first)
        end = start.replace(day=last)
        rows = sorted((e for p in SAMPLE_PROFILES for e in events(p, start, end, 7)),
                      key=lambda e: (e["timestamp"], e["event_id"]))
        path = folder / f"month={month}" / f"usage-{month}.jsonl"
        path.parent.mkdir(parents=True)
        write_jsonl(path, iter(rows))
        paths.append(path)
    with paths[0].open("a", encoding="utf-8") as out:
        out.write('{"event_id":"bad-1","timestamp":"2026-01-31T00:00:00","customer":"acme"}\n'
                  "not json\n\n"
                  + json.dumps(dict(json.loads(paths[0].read_text().split("\n")[5]),
                                    output_tokens=1)) + "\n"
                  + '{"event_id":"x-1","timestamp":"2026-01-31T01:00:00Z","customer":"nobody"}\n')
    return paths


def quarantine(book: Path, conflicts: bool = False) -> list[tuple]:
    """The book's quarantine rows; without the conflicts (an id repeated with other
    content), which the Spark job counts as duplicates (it keeps the first, too)."""
    found = []
    for path in sorted((book / "imports").glob("*.quarantine.jsonl")):
        found += [(q["line"], q["field"], q["reason"], q["content"])
                  for q in map(json.loads, path.read_text().splitlines())]
    if not conflicts:
        found = [q for q in found if not q[2].startswith("conflict:")]
    return found


def spark_quarantine(out: Path) -> list[tuple]:
    found = []
    for path in sorted((out / "quarantine").glob("*.json")):
        found += [(q["line"], q["field"], q["reason"], q["content"])
                  for q in map(json.loads, path.read_text().splitlines())]
    return found


def import_aggregates(tmp_path: Path, out: Path) -> Path:
    ledger = new_book(tmp_path / "agg")
    parts = sorted((out / "aggregates").glob("month=*/*.parquet"))
    assert len(parts) == 2
    result = run(ledger, *parts, extra=("--json",))
    assert result.exit_code == 0, result.output
    for summary in json.loads(result.output):
        assert summary["importer"].endswith("usage_daily.Importer")
        assert summary["read"] == summary["imported"] > 0
    return ledger


def test_spark_aggregates_give_the_books_of_the_raw_events(tmp_path, spark):
    raw = sources(tmp_path / "events")
    raw_ledger = new_book(tmp_path / "raw")
    result = run(raw_ledger, *raw, extra=("--json",))
    assert result.exit_code == 0, result.output
    direct = json.loads(result.output)
    out = tmp_path / "out"
    counts = aggregate(spark, [str(tmp_path / "events")], "jsonl", ROOT / "contracts",
                       str(out))
    assert counts["read"] == sum(s["read"] for s in direct)
    assert counts["duplicates"] == sum(s["duplicates"] + s["conflicts"] for s in direct) == 1
    assert counts["quarantined"] == sum(s["quarantined"] for s in direct) == 3
    agg_ledger = import_aggregates(tmp_path, out)
    books = body(raw_ledger.parent), body(agg_ledger.parent)
    assert sorted(books[0]) == ["2026-01", "2026-02"]
    assert books[0] == books[1]
    assert ids(raw_ledger.parent) == ids(agg_ledger.parent)
    assert spark_quarantine(out) == quarantine(raw_ledger.parent)
    # The aggregates and the raw events dedupe against each other in one book.
    again = json.loads(run(agg_ledger, *raw, extra=("--json",)).output)
    assert [s["imported"] for s in again] == [0, 0]


def test_spark_reads_partitioned_parquet_the_same(tmp_path, spark):
    raw = sources(tmp_path / "events")
    folder = tmp_path / "parquet"
    for path in raw:
        lines = [json.loads(line) for line in path.read_text().splitlines()
                 if line.startswith("{")]
        target = folder / path.parent.name / "part-0.parquet"
        target.parent.mkdir(parents=True)
        columns = ("event_id", "timestamp", "customer", "model", "feature", "input_tokens",
                   "cached_input_tokens", "output_tokens", "action", "status", "user")
        pq.write_table(pa.table({c: [row.get(c) for row in lines] for c in columns}), target)
    direct_ledger = new_book(tmp_path / "raw")
    assert run(direct_ledger, *sorted(folder.rglob("*.parquet"))).exit_code == 0
    out = tmp_path / "out"
    aggregate(spark, [str(folder)], "parquet", ROOT / "contracts", str(out))
    agg_ledger = import_aggregates(tmp_path, out)
    assert body(direct_ledger.parent) == body(agg_ledger.parent)
    assert ids(direct_ledger.parent) == ids(agg_ledger.parent)
    assert [q[:3] for q in spark_quarantine(out)] == [q[:3] for q in
                                                      quarantine(direct_ledger.parent)]
    shutil.rmtree(out)
