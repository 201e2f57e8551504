"""Same event id, different content (issue 15): a conflict, counted beside the
duplicates, written to the quarantine file with the reason, the first booking kept;
``--strict`` fails on it. Within one run (one file, two files) and across runs (the
content hash in the v2 sidecar); a v1 sidecar (ids alone) keeps the old behaviour."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
from test_import_cmd import event, jsonl, new_book, run, snapshot

from tokenbooks.importers.index import (
    HEADER,
    HEADER_V1,
    EventIndex,
    read_sidecar,
    read_sidecar_content,
    write_sidecar,
)
from tokenbooks.importers.usage import NORMAL, content_hashes


def summary(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def quarantine(book: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((book / "imports").glob("*.quarantine.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines()]


def tokens(book: Path) -> int:
    text = "".join(p.read_text(encoding="utf-8")
                   for p in sorted((book / "imports").glob("2026-03.*.beancount")))
    return sum(int(line.split(":")[1]) for line in text.splitlines()
               if line.strip().startswith("input_tokens:"))


def test_a_conflict_across_runs_is_counted_quarantined_and_the_first_kept(tmp_path):
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    first = jsonl(tmp_path / "a.jsonl", [event(i) for i in range(10)])
    (one,) = summary(run(ledger, first, extra=("--json",)))
    assert (one["read"], one["imported"], one["conflicts"]) == (10, 10, 0)
    booked = tokens(book)
    # an overlapping export: e2 as booked (duplicate), e3 with other tokens (conflict)
    second = jsonl(tmp_path / "b.jsonl", [event(2), event(3, input_tokens=5000),
                                          event(11)])
    (two,) = summary(run(ledger, second, extra=("--json",)))
    assert (two["read"], two["imported"], two["duplicates"], two["conflicts"],
            two["quarantined"]) == (3, 1, 1, 1, 0)
    assert two["read"] == two["imported"] + two["duplicates"] + two["conflicts"] + \
        two["quarantined"]
    assert tokens(book) == booked + event(11)["input_tokens"]  # e3's first booking kept
    (row,) = quarantine(book)
    assert (row["source"], row["line"], row["field"]) == ("b.jsonl", 2, "event_id")
    assert row["reason"].startswith("conflict: event id 'evt-00003' is already booked")
    assert "first booking is kept" in row["reason"]
    assert json.loads(row["content"])["input_tokens"] == 5000
    # the text summary has the column, and --strict fails on a conflict
    text = run(ledger, second)
    assert "conflicts" in text.output.splitlines()[0]
    assert "1 conflict(s)" in text.output
    assert run(ledger, second, extra=("--strict",)).exit_code == 1


def test_a_conflict_inside_one_file_and_between_two_files_of_a_run(tmp_path):
    ledger = new_book(tmp_path / "book")
    inside = jsonl(tmp_path / "inside.jsonl",
                   [event(1), event(2), event(1, output_tokens=7), event(2)])
    other = jsonl(tmp_path / "other.jsonl", [event(2, model="gpt-4o-mini-x"), event(4)])
    a, b = summary(run(ledger, inside, other, extra=("--json",)))
    assert (a["read"], a["imported"], a["duplicates"], a["conflicts"]) == (4, 2, 1, 1)
    assert (b["read"], b["imported"], b["duplicates"], b["conflicts"]) == (2, 1, 0, 1)
    rows = quarantine(ledger.parent)
    assert sorted((r["source"], r["line"]) for r in rows) == [("inside.jsonl", 3),
                                                              ("other.jsonl", 1)]


def test_the_same_events_from_csv_and_jsonl_are_duplicates_not_conflicts(tmp_path):
    ledger = new_book(tmp_path / "book")
    events = [event(i) for i in range(6)]
    first = jsonl(tmp_path / "e.jsonl", events)
    columns = ["event_id", "timestamp", "customer", "model", "feature", "input_tokens",
               "cached_input_tokens", "output_tokens", "action", "status"]
    csv = tmp_path / "e.csv"
    csv.write_text(",".join(columns) + "\n" + "".join(
        ",".join(str(e.get(c, "")) for c in columns) + "\n" for e in events), encoding="utf-8")
    summary(run(ledger, first, extra=("--json",)))
    (again,) = summary(run(ledger, csv, extra=("--json",)))
    assert (again["duplicates"], again["conflicts"]) == (6, 0)


def test_sidecars_hold_content_hashes_and_v1_sidecars_still_dedupe(tmp_path):
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    source = jsonl(tmp_path / "a.jsonl", [event(i) for i in range(4)])
    run(ledger, source)
    (sidecar,) = (book / "imports").glob("*.events.gz")
    text = gzip.decompress(sidecar.read_bytes()).decode("utf-8").splitlines()
    assert text[0] == HEADER
    assert [line.split("\t")[0] for line in text[1:]] == [f"evt-{i:05d}" for i in range(4)]
    assert all(len(line.split("\t")[1]) == 8 for line in text[1:])
    assert read_sidecar(sidecar) == [f"evt-{i:05d}" for i in range(4)]
    files = snapshot(book)
    run(ledger, source)
    assert snapshot(book) == files  # byte-identical re-run
    # an older book: its sidecar has ids alone (v1): the same id is a duplicate, as before
    write_sidecar(sidecar, read_sidecar(sidecar))
    assert gzip.decompress(sidecar.read_bytes()).decode().splitlines()[0] == HEADER_V1
    assert set(read_sidecar_content(sidecar).values()) == {None}
    (again,) = summary(run(ledger, jsonl(tmp_path / "b.jsonl", [event(1, input_tokens=9000)]),
                           extra=("--json",)))
    assert (again["duplicates"], again["conflicts"]) == (1, 0)


def test_content_hashes_are_stable_and_see_every_booked_field():
    base = {"line": 1, "event_id": "e", "day": __import__("datetime").date(2026, 3, 1),
            "customer": "acme", "model": "gpt-4o", "feature": "chat", "action": "",
            "user": "", "input_tokens": 10, "cached_input_tokens": 0, "output_tokens": 5,
            "completed": 0, "partial": 0, "failed": 0, "unbilled_events": 0}
    variants = [base, {**base, "line": 9, "event_id": "other"}, {**base, "model": "x"},
                {**base, "output_tokens": 6}, {**base, "user": "u"},
                {**base, "day": __import__("datetime").date(2026, 3, 2)}]
    table = pa.Table.from_pylist(variants, schema=NORMAL)
    hashes = content_hashes(table).to_pylist()
    assert hashes[0] == hashes[1]  # line and id are not content
    assert len(set(hashes[1:])) == 5
    assert hashes[0] == "a1fcf64b"  # the same on every machine, run after run


def test_the_index_tells_conflicts_from_duplicates(tmp_path):
    path = tmp_path / "x.events.gz"
    write_sidecar(path, pa.array(["b", "a"]), hashes=pa.array(["00000002", "00000001"]))
    assert read_sidecar_content(path) == {"a": "00000001", "b": "00000002"}
    index = EventIndex()
    index.add_sidecar("2026-03", path)
    assert index.claim("2026-03", ["a", "c"]) == [False, True]
    index.remember("2026-03", pa.array(["c"]), pa.array(["00000003"]))
    assert index.content("2026-03") == {"a": "00000001", "b": "00000002", "c": "00000003"}
