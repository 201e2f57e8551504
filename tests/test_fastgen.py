"""The vectorized event generator (issue 18): canonical events the usage importer takes
without a quarantined row, the same bytes from the same seed, ids unique and in time
order, hostile names escaped; the workload's purchases and cost reports byte for byte
those of the slow paths; a failed run leaves whole files only."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.importers import usage_jsonl
from tokenbooks.importers.index import EventIndex
from tokenbooks.scripts import fastgen, generate, provider_reports
from tokenbooks.scripts.fastgen import (
    Tables,
    day_lines,
    line_bytes,
    month_days,
    write_company,
    write_events,
)


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


# -- the whole workload: purchases and cost reports as the slow paths write them -----------


def test_company_purchases_and_cost_reports_match_the_slow_paths(tmp_path: Path) -> None:
    counts = write_company(tmp_path / "fast", customers=7, months=2, seed=5, scale=0.4)
    sources = tmp_path / "fast" / "sources"
    assert counts["purchases.csv"] == 3  # every third customer is prepaid: 0, 3, 6
    slow = tmp_path / "slow"
    generate.write_company(slow, customers=7, months=1, seed=5)
    assert (sources / "purchases.csv").read_bytes() == (
        slow / "sources" / "purchases.csv").read_bytes()
    # provider_reports prices each event as it reads the JSON; fastgen sums the tokens
    again = tmp_path / "again"
    again.mkdir()
    for path in sources.glob("usage-*.jsonl"):
        shutil.copy(path, again)
    written = provider_reports.write_reports(again, tmp_path / "fast" / "contracts")
    reports = sorted(p.name for p in sources.glob("*.json"))
    assert reports == sorted(p.name for p in written) and len(reports) == 4
    for name in reports:
        assert (sources / name).read_bytes() == (again / name).read_bytes(), name
    assert json.loads((sources / "openai-costs-2026-02.json").read_text())["data"][27][
        "end_time"] == 1772323200  # 2026-03-01T00:00:00Z: the 28 days of February


# -- a day's events: in file order, numbered in time order, fields from the profile -------

NAMES = st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(
    ['a"b', "c\\", "x\ny", "naïve ☃", "a", "a-0", "a-b", "\u2028", "</script>"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(names=st.lists(NAMES, min_size=1, max_size=6, unique=True),
       per_day=st.lists(st.integers(0, 40), min_size=6, max_size=6),
       seed=st.integers(0, 2 ** 32 - 1))
def test_days_are_in_file_order_and_numbered_in_time_order(
        names: list[str], per_day: list[int], seed: int) -> None:
    profiles = [generate.Profile(name, per_day[i], {"gpt-4o": 1 + i, "m\"odel": 2},
                                 {"chat": 3, "re\\try": 1}, input_tokens=50 + i,
                                 output_tokens=7, cached_share=0.4)
                for i, name in enumerate(names)]
    tables = Tables(profiles)
    first, last = datetime.date(2026, 2, 1), datetime.date(2026, 2, 3)
    for day in month_days(tables, first, last, seed, 28, 0, 1.0):
        events = [json.loads(line) for line in
                  bytes(line_bytes(day_lines(tables, day))).decode().splitlines()]
        assert len(events) == len(day.customer)
        assert [(e["timestamp"], e["event_id"]) for e in events] == sorted(
            (e["timestamp"], e["event_id"]) for e in events)
        assert len({e["event_id"] for e in events}) == len(events)
        for number, profile in enumerate(profiles):
            mine = [e for e in events if e["customer"] == profile.customer]
            # 1..n in time order, the id built from the customer, the day and the number
            assert [e["event_id"] for e in mine] == [
                f"{profile.customer}-{day.date:%Y%m%d}-{k:06d}" for k in
                range(1, len(mine) + 1)]
            assert len(mine) <= round(profile.events_per_day * 1.3 * 1.1) + 1
            assert {e["model"] for e in mine} <= set(profile.models)
            assert {e["feature"] for e in mine} <= set(profile.features)
            assert all(e["timestamp"].startswith(f"{day.date:%Y-%m-%d}T") for e in mine)
            assert all(1 <= e["input_tokens"] and 0 <= e["cached_input_tokens"]
                       <= e["input_tokens"] and e["output_tokens"] >= 0 for e in mine)
            assert number in set(day.customer.tolist()) or not mine


# -- faults: a failed run leaves whole files only; a re-run writes the same bytes -----------


def test_a_failure_leaves_whole_files_and_a_rerun_converges(tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    write_events(tmp_path / "clean", customers=5, months=3, seed=2, scale=0.3)
    calls = {"n": 0}
    real = fastgen.day_lines

    def failing(tables: Tables, day: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 45:  # in February
            raise OSError(28, "No space left on device")
        return real(tables, day)

    monkeypatch.setattr(fastgen, "day_lines", failing)
    with pytest.raises(OSError, match="No space left"):
        write_events(tmp_path / "run", customers=5, months=3, seed=2, scale=0.3)
    sources = tmp_path / "run" / "sources"
    assert sorted(p.name for p in sources.iterdir()) == ["usage-2026-01.jsonl"]
    assert (sources / "usage-2026-01.jsonl").read_bytes() == (
        tmp_path / "clean" / "sources" / "usage-2026-01.jsonl").read_bytes()
    monkeypatch.setattr(fastgen, "day_lines", real)
    write_events(tmp_path / "run", customers=5, months=3, seed=2, scale=0.3)
    clean = sorted((tmp_path / "clean" / "sources").iterdir())
    assert [p.name for p in clean] == sorted(p.name for p in sources.iterdir())
    assert all(p.read_bytes() == (sources / p.name).read_bytes() for p in clean)


def test_a_failed_write_stops_the_run_and_leaves_no_part(tmp_path: Path) -> None:
    sources = tmp_path / "run" / "sources"
    sources.mkdir(parents=True)
    fastgen.Writer.temporary(sources / "usage-2026-02.jsonl").mkdir()  # cannot be opened
    with pytest.raises(IsADirectoryError):
        write_events(tmp_path / "run", customers=5, months=3, seed=2, scale=0.3)
    assert sorted(p.name for p in sources.iterdir()) == [".usage-2026-02.jsonl.tmp",
                                                         "usage-2026-01.jsonl"]


def test_the_command_writes_the_workload(tmp_path: Path) -> None:
    from click.testing import CliRunner

    done = CliRunner().invoke(fastgen.main, ["--out", str(tmp_path / "co"), "--customers",
                                             "4", "--months", "1", "--company"])
    assert done.exit_code == 0, done.output
    names = sorted(p.name for p in (tmp_path / "co" / "sources").iterdir())
    assert names == ["anthropic-cost-report-2026-01.json", "openai-costs-2026-01.json",
                     "purchases.csv", "usage-2026-01.jsonl"]
    events = (tmp_path / "co" / "sources" / "usage-2026-01.jsonl").read_bytes().count(b"\n")
    assert done.output.startswith(f"{events:,} events in ") and events > 300
