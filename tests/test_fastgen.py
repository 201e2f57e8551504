"""The vectorized event generator (issue 18): canonical events the usage importer takes
without a quarantined row, the same bytes from the same seed, ids unique."""

from __future__ import annotations

import json
from pathlib import Path

from tokenbooks.importers import usage_jsonl
from tokenbooks.importers.index import EventIndex
from tokenbooks.scripts.fastgen import write_events


def test_events_import_cleanly_and_repeat_byte_for_byte(tmp_path: Path) -> None:
    counts = write_events(tmp_path / "a", customers=6, months=2, seed=3, scale=0.5)
    again = write_events(tmp_path / "b", customers=6, months=2, seed=3, scale=0.5)
    assert counts == again and sum(counts.values()) > 100
    for name in counts:
        assert (tmp_path / "a" / "sources" / name).read_bytes() == (
            tmp_path / "b" / "sources" / name).read_bytes()
    path = tmp_path / "a" / "sources" / "usage-2026-01.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == counts["usage-2026-01.jsonl"]
    events = [json.loads(line) for line in lines]
    assert len({e["event_id"] for e in events}) == len(events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert all(0 <= e["cached_input_tokens"] <= e["input_tokens"] for e in events)
    result = usage_jsonl.Importer(tmp_path / "a" / "contracts", index=EventIndex()).run(path)
    assert (result.read, result.imported, result.quarantined) == (len(events), len(events), 0)
    booked = sum(int(e.meta["events"]) for e in result.entries)
    assert booked == len(events)
