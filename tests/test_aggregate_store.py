"""The pre-aggregation path's id store: each aggregate file ``tokenbooks aggregate``
writes records the count and fingerprint of its ids (Parquet metadata); ``tokenbooks
import DIR`` recomputes them (a tampered store is an error naming the file, nothing
imported), and in a cache book records O(files) bytes: no ids in the tracked book."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_aggregate import aggregate
from test_event_index import CACHE, usage_files
from test_import_cmd import event, jsonl, new_book, run

from tokenbooks.importers import usage_daily
from tokenbooks.importers.index import declared_fingerprint, derived_path, fingerprint


def folder(tmp_path: Path) -> tuple[Path, Path]:
    ledger = new_book(tmp_path / "book")
    source = jsonl(tmp_path / "usage.jsonl", [event(i) for i in range(50)])
    out = tmp_path / "agg"
    aggregate(ledger, out, source)
    return ledger, out


def test_each_aggregate_file_records_its_id_store(tmp_path) -> None:
    _, out = folder(tmp_path)
    (path,) = sorted(out.glob("aggregates/month=*/*.parquet"))
    meta = pq.read_schema(path).metadata
    assert meta[b"tokenbooks.events"] == b"50"
    assert meta[b"tokenbooks.ids_sha256"].decode() == fingerprint(
        [f"evt-{i:05d}" for i in range(50)]).sha256


def test_a_tampered_store_is_detected_and_nothing_is_imported(tmp_path) -> None:
    ledger, out = folder(tmp_path)
    (path,) = sorted(out.glob("aggregates/month=*/*.parquet"))
    table = pq.read_table(path)
    ids = table.column("event_ids").to_pylist()
    ids[0] = [*ids[0][:-1], "evt-99999"]  # one id changed, the metadata kept
    column = pa.array(ids, table.schema.field("event_ids").type)
    pq.write_table(table.set_column(table.schema.get_field_index("event_ids"), "event_ids",
                                    column), path)
    before = sorted(p.name for p in (ledger.parent / "imports").iterdir())
    result = run(ledger, out)
    assert result.exit_code == 1
    assert path.name in result.output and "its id store does not match" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in (ledger.parent / "imports").iterdir()) == before


def test_a_cache_book_holds_the_fingerprint_of_each_batch_not_its_ids(tmp_path) -> None:
    ledger, out = folder(tmp_path)
    book = ledger.parent
    (book / "importers.yaml").write_text(CACHE, encoding="utf-8")
    result = run(ledger, out, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["imported"] > 0
    assert list((book / "imports").glob("*.events.gz")) == []
    (usage,) = usage_files(book)
    assert declared_fingerprint(usage) == fingerprint([f"evt-{i:05d}" for i in range(50)])
    derived_path(usage).unlink()  # rebuilt from the archived aggregate file
    again = run(ledger, out, extra=("--json",))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)[0]["duplicates"] == json.loads(result.stdout)[0]["read"]
    assert usage_daily.EVENTS_KEY == "tokenbooks.events"
