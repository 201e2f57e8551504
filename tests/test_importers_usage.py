"""Usage importers: canonical JSONL/CSV/Parquet and LiteLLM spend logs.

Aggregation and provenance, every kind of bad row with the count identity, dedupe
(re-import, overlapping files, repeats inside a file, late events of a booked day),
and the vectorized path against the row-by-row one.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tokenbooks.importers import litellm, usage_csv, usage_jsonl, usage_parquet
from tokenbooks.importers.index import EventIndex, read_sidecar, write_sidecar
from tokenbooks.importers.usage import UnreadableSource, UsageCore
from tokenbooks.plugins.entries.usage import usage_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "importers"
SHARED = ROOT.parent / "shared" / "reference" / "samples"
CONTRACTS = load_contracts(ROOT / "contracts")[0]


def ev(i: int, **over) -> dict:
    """A valid canonical event."""
    event = {"event_id": f"e{i:04d}", "timestamp": f"2026-03-0{1 + i % 3}T10:00:00Z",
             "customer": ("acme", "globex")[i % 2], "model": "gpt-4o", "feature": "chat",
             "input_tokens": 100 + i, "cached_input_tokens": 10, "output_tokens": 5}
    event.update(over)
    return {k: v for k, v in event.items() if v is not None}


def write_jsonl(path: Path, events: list) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                            for e in events), encoding="utf-8")
    return path


def write_csv(path: Path, events: list[dict]) -> Path:
    names = ["event_id", "timestamp", "customer", "model", "feature", "input_tokens",
             "cached_input_tokens", "output_tokens", "action", "status", "user"]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, names, extrasaction="ignore")
        writer.writeheader()
        for event in events:
            writer.writerow(event)
    return path


def usages(result) -> list:
    return [usage_from_entry(e) for e in result.entries]


def totals(result) -> tuple[int, int, int, int]:
    records = usages(result)
    return (sum(u.input_tokens for u in records), sum(u.cached_input_tokens for u in records),
            sum(u.output_tokens for u in records), sum(u.events for u in records))


def jsonl(index: EventIndex | None = None) -> usage_jsonl.Importer:
    return usage_jsonl.Importer(CONTRACTS, index=index)


def test_jsonl_aggregates_per_customer_day_model_feature_action(tmp_path):
    events = [ev(0, timestamp="2026-03-01T01:00:00Z"), ev(2, timestamp="2026-03-01T23:59:59Z"),
              ev(4, timestamp="2026-03-01T12:00:00+00:00", feature="rag"),
              ev(1, customer="globex", action="ticket_resolved", status="partial",
                 timestamp="2026-03-01T08:00:00Z"),
              ev(3, customer="globex", action="ticket_resolved", status="completed",
                 timestamp="2026-03-01T09:00:00Z", input_tokens=0, cached_input_tokens=0,
                 output_tokens=0, model=None)]
    path = write_jsonl(tmp_path / "usage.jsonl", events)
    importer = jsonl()
    assert importer.identify(str(path))
    entries = importer.extract(str(path), [])
    result = importer.results[str(path)]
    assert (result.read, result.imported, result.duplicates, result.quarantined) == (5, 5, 0, 0)
    keys = [(u.customer, u.date, u.model, u.feature, u.action) for u in usages(result)]
    assert keys == sorted(keys)
    chat = next(u for u in usages(result) if u.customer == "acme" and u.feature == "chat")
    assert (chat.input_tokens, chat.cached_input_tokens, chat.output_tokens, chat.events) == (
        202, 20, 10, 2)
    acme_chat = next(e for e in entries if e.values[2].value == "chat"
                     and e.values[0].value == "acme")
    assert acme_chat.meta["first_event"] == "e0000"
    assert acme_chat.meta["last_event"] == "e0002"
    assert acme_chat.meta["source"] == "usage.jsonl"
    assert len(acme_chat.meta["sha256"]) == 64
    actions = [u for u in usages(result) if u.action]
    assert [(u.model, u.completed, u.partial, u.failed, u.events) for u in actions] == [
        ("", 1, 0, 0, 1), ("gpt-4o", 0, 1, 0, 1)]
    assert importer.date(str(path)) == datetime.date(2026, 3, 1)
    assert importer.filename(str(path)).startswith("usage.") and "/" not in importer.filename(
        str(path))


def test_timestamps_are_booked_on_their_utc_date(tmp_path):
    path = write_jsonl(tmp_path / "tz.jsonl", [
        ev(0, timestamp="2026-03-01T23:30:00-05:00"),   # 2026-03-02 04:30 UTC
        ev(2, timestamp="2026-03-02T00:30:00+02:00"),   # 2026-03-01 22:30 UTC
        ev(4, timestamp="2026-03-05T10:00:00.123456789Z"),
    ])
    days = sorted(u.date.day for u in usages(jsonl().run(path)))
    assert days == [1, 2, 5]
    unix = write_jsonl(tmp_path / "unix.jsonl", [ev(0, timestamp=1772409600),  # 2026-03-02
                                                  ev(2, timestamp=1772409599)])
    assert sorted(u.date.day for u in usages(jsonl().run(unix))) == [1, 2]


BAD_ROWS = [
    ('{"event_id": "x1", "timestamp": ', "(line)", "malformed JSON"),
    ("[1, 2, 3]", "(line)", "expected a JSON object"),
    (ev(901, input_tokens=-5), "input_tokens", "expected a whole number >= 0, got -5"),
    (ev(902, output_tokens=1.5), "output_tokens", "expected a whole number >= 0, got 1.5"),
    (ev(903, input_tokens="many"), "input_tokens", "expected a whole number >= 0"),
    (ev(904, cached_input_tokens=500, input_tokens=100), "cached_input_tokens",
     "expected at most input_tokens (100), got 500"),
    (ev(905, event_id=None), "event_id", "is required but missing"),
    (ev(906, event_id=""), "event_id", "is required but missing"),
    (ev(907, timestamp=None), "timestamp", "is required but missing"),
    (ev(908, timestamp="2026-03-01T10:00:00"), "timestamp", "expected RFC 3339 with an offset"),
    (ev(909, timestamp="yesterday"), "timestamp", "expected RFC 3339 with an offset"),
    (ev(910, customer="nobody"), "customer", "unknown customer 'nobody'"),
    (ev(911, customer=None), "customer", "is required but missing"),
    (ev(912, action="ticket_resolved"), "status", "got none"),
    (ev(913, action="ticket_resolved", status="done"), "status", "got 'done'"),
    (ev(914, model=None), "model", "is required when there are tokens"),
    (ev(915, model="gpt\n4o"), "model", "expected no control character"),
    (ev(916, feature="f" * 201), "feature", "expected at most 200 characters, got 201"),
    (ev(917, output_tokens=10**15 + 1), "output_tokens", "expected at most 1000000000000000"),
    (ev(918, input_tokens=2**63), "input_tokens", "expected at most 1000000000000000"),
]


def test_every_bad_row_kind_is_quarantined_with_its_reason(tmp_path):
    good = [ev(i) for i in range(6)]
    rows = good[:3] + [row for row, _, _ in BAD_ROWS] + good[3:]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    result = jsonl().run(path)
    assert result.read == len(rows)
    assert result.read == result.imported + result.duplicates + result.quarantined
    assert (result.imported, result.quarantined) == (6, len(BAD_ROWS))
    for q, (row, field, reason) in zip(result.quarantine, BAD_ROWS, strict=True):
        assert q.line == rows.index(row) + 1
        assert q.field == field
        assert reason in q.reason
        assert q.content == (row if isinstance(row, str) else json.dumps(row))
        record = json.loads(q.as_json("mixed.jsonl"))
        assert record["source"] == "mixed.jsonl" and record["line"] == q.line
    assert totals(result)[3] == 6


def test_bad_rows_in_csv_and_blank_lines(tmp_path):
    rows = [ev(0), ev(1, input_tokens=-1), ev(2, customer="nobody"), ev(3, input_tokens="1.5"),
            ev(4, timestamp="2026-03-01 10:00"), ev(5)]
    path = write_csv(tmp_path / "usage.csv", rows)
    text = path.read_text().replace("\r\n", "\n")
    lines = text.split("\n")
    lines.insert(3, "")  # a blank line after the second event
    lines.insert(5, "only,three,fields")
    path.write_text("\n".join(lines))
    importer = usage_csv.Importer(CONTRACTS)
    assert importer.identify(str(path))
    result = importer.run(path)
    assert result.read == 7
    assert (result.imported, result.quarantined) == (2, 5)
    by_line = {q.line: (q.field, q.reason) for q in result.quarantine}
    assert by_line[3][0] == "input_tokens"
    assert by_line[5][1].startswith("unknown customer")
    assert by_line[6] == ("(line)", "expected 11 fields, got 3")
    assert by_line[7][0] == "input_tokens"
    assert by_line[8][0] == "timestamp"


def test_csv_and_parquet_give_the_jsonl_entries(tmp_path):
    events = [ev(i, user=f"u{i % 3}") for i in range(30)]
    events += [ev(40, customer="globex", action="ticket_resolved", status="failed")]
    from_jsonl = usages(jsonl().run(write_jsonl(tmp_path / "a.jsonl", events)))
    from_csv = usages(usage_csv.Importer(CONTRACTS).run(write_csv(tmp_path / "a.csv", events)))
    names = sorted({key for event in events for key in event})
    table = pa.table({name: [event.get(name) for event in events] for name in names})
    pq.write_table(table, tmp_path / "a.parquet")
    parquet = usage_parquet.Importer(CONTRACTS)
    assert parquet.identify(str(tmp_path / "a.parquet"))
    from_parquet = usages(parquet.run(tmp_path / "a.parquet"))

    def strip(records):
        return [(u.date, u.customer, u.model, u.feature, u.action, u.input_tokens,
                 u.cached_input_tokens, u.output_tokens, u.events, u.completed, u.failed)
                for u in records]

    assert strip(from_jsonl) == strip(from_csv) == strip(from_parquet)
    assert all(u.user == "" for u in from_jsonl)  # no contract has per-user limits here


def test_parquet_timestamp_column_and_bad_rows(tmp_path):
    stamps = [datetime.datetime(2026, 3, 1, 23, 0, tzinfo=datetime.UTC),
              datetime.datetime(2026, 3, 2, 1, 0, tzinfo=datetime.UTC),
              datetime.datetime(2026, 3, 2, 2, 0, tzinfo=datetime.UTC)]
    table = pa.table({"event_id": ["p1", "p2", "p3"], "timestamp": stamps,
                      "customer": ["acme", "acme", "nobody"], "model": ["gpt-4o"] * 3,
                      "input_tokens": [10, -1, 5]})
    pq.write_table(table, tmp_path / "p.parquet")
    result = usage_parquet.Importer(CONTRACTS).run(tmp_path / "p.parquet")
    assert (result.read, result.imported, result.quarantined) == (3, 1, 2)
    assert [q.line for q in result.quarantine] == [2, 3]
    assert json.loads(result.quarantine[0].content)["input_tokens"] == -1


def test_user_in_the_key_only_for_customers_the_hook_names(tmp_path):
    events = [ev(0, user="ann"), ev(2, user="bob"), ev(1, user="cy"), ev(3, user="dee")]
    for event in events:
        event["timestamp"] = "2026-03-01T10:00:00Z"
    path = write_jsonl(tmp_path / "u.jsonl", events)
    importer = usage_jsonl.Importer(CONTRACTS, per_user=lambda c: c.id == "acme")
    records = usages(importer.run(path))
    assert sorted((u.customer, u.user) for u in records) == [
        ("acme", "ann"), ("acme", "bob"), ("globex", "")]


# -- dedupe ----------------------------------------------------------------------------------


def test_same_file_twice_and_overlapping_files_never_count_twice(tmp_path):
    index = EventIndex()
    first = write_jsonl(tmp_path / "first.jsonl", [ev(i) for i in range(0, 20)])
    second = write_jsonl(tmp_path / "second.jsonl", [ev(i) for i in range(10, 30)])
    one = jsonl(index).run(first)
    again = jsonl(index).run(first)
    assert (again.read, again.imported, again.duplicates, again.entries) == (20, 0, 20, [])
    two = usage_csv.Importer(CONTRACTS, index=index).run(
        write_csv(tmp_path / "second.csv", [ev(i) for i in range(10, 30)]))
    assert (two.read, two.imported, two.duplicates) == (20, 10, 10)
    three = jsonl(index).run(second)
    assert (three.imported, three.duplicates) == (0, 20)
    everything = jsonl().run(write_jsonl(tmp_path / "all.jsonl", [ev(i) for i in range(30)]))
    assert [a + b for a, b in zip(totals(one), totals(two), strict=True)] == list(
        totals(everything))


def test_repeated_ids_inside_a_file_count_once(tmp_path):
    events = [ev(i) for i in range(10)] + [ev(3), ev(7, input_tokens=999)]
    result = jsonl().run(write_jsonl(tmp_path / "rep.jsonl", events))
    # e0007 again with other tokens: a conflict (issue 15), the first booking kept
    assert (result.read, result.imported, result.duplicates, len(result.conflicts)) == (
        12, 10, 1, 1)
    clean = jsonl().run(write_jsonl(tmp_path / "clean.jsonl", [ev(i) for i in range(10)]))
    assert totals(result) == totals(clean)
    assert sorted(pa.chunked_array(result.event_ids["2026-03"]).to_pylist()) == [
        f"e{i:04d}" for i in range(10)]


def test_late_events_of_a_booked_day_add_an_entry_without_double_counting(tmp_path):
    index = EventIndex()
    day = [ev(i, timestamp="2026-03-01T10:00:00Z", customer="acme") for i in range(5)]
    early = jsonl(index).run(write_jsonl(tmp_path / "early.jsonl", day[:3]))
    late = jsonl(index).run(write_jsonl(tmp_path / "late.jsonl", day[1:]))  # 2 old + 2 late
    assert (late.imported, late.duplicates) == (2, 3 - 1)
    (a,), (b,) = usages(early), usages(late)
    assert (a.date, a.events, b.date, b.events) == (b.date, 3, a.date, 2)
    assert late.entries[0].meta["first_event"] == "e0003"
    assert late.entries[0].meta["source"] == "late.jsonl"


def test_sidecars_in_the_book_are_found_from_existing_entries(tmp_path):
    path = write_jsonl(tmp_path / "u.jsonl", [ev(i) for i in range(6)])
    first = jsonl().run(path)
    imports = tmp_path / "imports"
    imports.mkdir()
    target = imports / "2026-03.u.beancount"
    write_sidecar(imports / "2026-03.u.events.gz", pa.chunked_array(first.event_ids["2026-03"]))
    existing = [e._replace(meta={**e.meta, "filename": str(target)}) for e in first.entries]
    importer = jsonl()
    assert importer.extract(str(path), existing) == []
    assert importer.results[str(path)].duplicates == 6
    assert read_sidecar(imports / "2026-03.u.events.gz") == [f"e{i:04d}" for i in range(6)]


def test_sidecar_bytes_are_reproducible(tmp_path):
    write_sidecar(tmp_path / "a.events.gz", ["b", "a", "c"])
    write_sidecar(tmp_path / "b.events.gz", pa.array(["c", "a", "b"]))
    assert (tmp_path / "a.events.gz").read_bytes() == (tmp_path / "b.events.gz").read_bytes()
    (tmp_path / "bad.events.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.events.gz"):
        read_sidecar(tmp_path / "bad.events.gz")


# -- unreadable files --------------------------------------------------------------------------


def test_binary_or_unreadable_files(tmp_path):
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert not jsonl().identify(str(binary))
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('"timestamp" is not json\n{{{\n', encoding="utf-8")
    assert jsonl().identify(str(garbage))
    with pytest.raises(UnreadableSource, match="garbage.jsonl"):
        jsonl().run(garbage)
    notparquet = tmp_path / "x.parquet"
    notparquet.write_bytes(b"PAR1 but not really")
    assert not usage_parquet.Importer(CONTRACTS).identify(str(notparquet))


# -- the fast path agrees with the row-by-row path -----------------------------------------------

values = st.one_of(st.none(), st.integers(-3, 50), st.sampled_from(
    ["", "7", "x", 2.0, 2.5, 10**15, 10**15 + 1, 2**63, "1000000000000001"]))
rows = st.fixed_dictionaries({
    "event_id": st.one_of(st.sampled_from(["a", "b", "c", "d", "", "e\nf", "g" * 201]),
                          st.none()),
    "timestamp": st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-31T23:00:00-02:00",
                                  "2026-03-01 10:00:00", None, "2026-02-28T23:00:00Z"]),
    "customer": st.sampled_from(["acme", "globex", "nobody", None]),
    "model": st.sampled_from(["gpt-4o", "", None, 'gpt"4o\\', "gpt\t4o", "m\x85",
                              "é" * 200, "m" * 201]),
    "input_tokens": values, "cached_input_tokens": values, "output_tokens": values,
    "action": st.sampled_from([None, "", "ticket_resolved"]),
    "status": st.sampled_from([None, "completed", "failed", "bogus"]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(rows, st.just("{broken")), max_size=40))
@example(events=[  # an id twice with other content (hypothesis found it): a conflict
    {"event_id": "a", "timestamp": "2026-03-01T10:00:00Z", "customer": "acme",
     "model": "gpt-4o"},
    {"event_id": "a", "timestamp": "2026-03-01T10:00:00Z", "customer": "acme",
     "model": "gpt-4o", "output_tokens": 1}])
def test_count_identity_and_fast_path_agree_with_row_by_row(tmp_path_factory, events):
    folder = tmp_path_factory.mktemp("prop")
    path = write_jsonl(folder / "p.jsonl", [
        e if isinstance(e, str) else {k: v for k, v in e.items() if v is not None}
        for e in events])
    if events and all(isinstance(e, str) for e in events):
        with pytest.raises(UnreadableSource, match="p.jsonl"):  # nothing but broken lines
            jsonl().run(path)
        return
    result = jsonl().run(path)
    assert result.read == len(events)
    assert result.read == (result.imported + result.duplicates + len(result.conflicts)
                           + result.quarantined)  # (an id twice, other content: a conflict)
    # Row by row in Python, the authority.
    core = UsageCore(CONTRACTS.customers)
    core.fast_dedupe = False  # ids claimed one by one
    core.feed_rows((n + 1, text, value) for n, (text, value) in enumerate(
        usage_jsonl.parse_line(line.encode()) for line in path.read_text().splitlines()))
    slow = core.finish(path, result.sha256, "slow")
    assert (slow.read, slow.imported, slow.duplicates) == (
        result.read, result.imported, result.duplicates)
    assert [(q.line, q.field) for q in slow.quarantine] == [
        (q.line, q.field) for q in result.quarantine]
    assert [(q.line, q.reason) for q in slow.conflicts] == [
        (q.line, q.reason) for q in result.conflicts]
    assert [e.meta for e in slow.entries] == [e.meta for e in result.entries]


# -- LiteLLM ---------------------------------------------------------------------------------------


@pytest.fixture
def shared_samples() -> Path:
    if not SHARED.is_dir():
        pytest.skip("shared reference samples not available")
    return SHARED


def check_litellm_sample(path: Path) -> None:
    importer = litellm.Importer(CONTRACTS, customers={"cust_00017": "acme",
                                                      "team-acme-data": "globex"})
    assert importer.identify(str(path))
    assert not usage_csv.Importer(CONTRACTS).identify(str(path))
    result = importer.run(path)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    acme, globex = usages(result)
    assert (acme.customer, acme.model, acme.feature, acme.date) == (
        "acme", "gpt-5-mini", "support-bot", datetime.date(2025, 11, 1))
    assert (acme.input_tokens, acme.cached_input_tokens, acme.output_tokens) == (1210, 1024, 325)
    assert (globex.customer, globex.model, globex.feature) == ("globex", "claude-sonnet-4-5", "")
    assert (globex.input_tokens, globex.cached_input_tokens, globex.output_tokens) == (
        2380, 0, 740)
    assert result.entries[0].meta["first_event"].startswith("chatcmpl-")


def test_litellm_sample_copy():
    check_litellm_sample(DATA / "litellm_spendlogs.csv")


def test_litellm_shared_sample(shared_samples):
    check_litellm_sample(shared_samples / "litellm_spendlogs.csv")


def test_litellm_failed_requests_are_counted_not_billed(tmp_path):
    source = (DATA / "litellm_spendlogs.csv").read_text(encoding="utf-8").splitlines()
    header, first = source[0], source[1]
    failed = first.replace("chatcmpl-9f3b", "chatcmpl-fail").replace(",success,", ",failure,")
    bad_meta = first.replace("chatcmpl-9f3b", "chatcmpl-badm").replace(
        '"{""user_api_key_alias""', '"{oops')
    unknown = first.replace("chatcmpl-9f3b", "chatcmpl-unkn").replace("cust_00017", "cust_9")
    path = tmp_path / "spend.csv"
    path.write_text("\n".join([header, first, failed, bad_meta, unknown]) + "\n",
                    encoding="utf-8")
    result = litellm.Importer(CONTRACTS, customers={"cust_00017": "acme"}).run(path)
    assert (result.read, result.imported, result.quarantined) == (4, 2, 2)
    (usage,) = usages(result)
    assert (usage.events, usage.unbilled_events, usage.input_tokens) == (2, 1, 1210)
    assert [(q.line, q.field) for q in result.quarantine] == [(4, "metadata"), (5, "customer")]
    assert result.entries[0].meta["events"] == Decimal(2)


def test_a_usage_file_from_the_shared_samples_folder_is_left_alone(shared_samples, tmp_path):
    copy = shutil.copy(shared_samples / "litellm_spendlogs.csv", tmp_path / "s.csv")
    assert litellm.Importer(CONTRACTS).identify(str(copy))


def test_importers_work_in_beangulp_ingest(tmp_path):
    import beangulp
    from click.testing import CliRunner

    path = write_jsonl(tmp_path / "usage.jsonl", [ev(i) for i in range(8)])
    importers = [usage_jsonl.Importer(CONTRACTS), usage_csv.Importer(CONTRACTS)]
    cli = beangulp.Ingest(importers).cli
    runner = CliRunner()
    identified = runner.invoke(cli, ["identify", str(tmp_path)])
    assert identified.exit_code == 0, identified.output
    assert "tokenbooks.importers.usage_jsonl.Importer" in identified.output
    out = tmp_path / "out.beancount"
    extracted = runner.invoke(cli, ["extract", "-o", str(out), str(path)])
    assert extracted.exit_code == 0, extracted.output
    text = out.read_text()
    assert text.count('custom "usage"') == 6 and 'first_event: "e0000"' in text
    (tmp_path / "documents").mkdir()
    archived = runner.invoke(cli, ["archive", "-o", str(tmp_path / "documents"), str(path)])
    assert archived.exit_code == 0, archived.output
    (copy,) = (tmp_path / "documents" / "Income" / "Revenue" / "Usage").iterdir()
    assert copy.name.startswith("2026-03-03.usage.")


def test_date_before_extract_claims_nothing(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [ev(i) for i in range(4)])
    importer = jsonl()
    assert importer.date(str(path)) == datetime.date(2026, 3, 3)
    assert len(importer.extract(str(path), [])) == 4
    assert importer.results[str(path)].duplicates == 0
