"""The import's speed-ups give the bytes of the plain path: the chunks parsed ahead in a
thread with only the fields the file has (``usage_jsonl.narrow_schema``), the finished
months spilled by a thread, the ids sorted by numpy (``usage.sort_order``); a failure in
either thread is the error the plain path raises, and ``tokenbooks import`` says it
without a traceback."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_import_cmd import event, jsonl, new_book, run

from tokenbooks.importers import lines, usage, usage_jsonl
from tokenbooks.scripts.import_cmd import write

ROOT_CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def book_bytes(book: Path) -> dict[str, bytes]:
    return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
            if p.is_file()}


def imported(source: Path, book: Path, monkeypatch: pytest.MonkeyPatch, *,
             narrow: bool = True, ahead: bool = True, spill: bool = True,
             chunk: int = 2048, compression: str = "gzip", store: str = "cache"
             ) -> tuple[dict[str, bytes], list]:
    """The book one import of ``source`` writes (index in the cache), and its quarantine
    rows, with the speed-ups on or off."""
    with monkeypatch.context() as patch:
        patch.setattr(lines, "chunks", functools.partial(lines.chunks, size=chunk))
        if not narrow:
            patch.setattr(usage_jsonl, "narrow_schema", lambda full, first: None)
        if not ahead:  # as a format that reads its pieces itself does
            patch.setattr(usage_jsonl.Importer, "_feed_piece",
                          lambda self, *a, **k: lines.LinesImporter._feed_piece(self, *a, **k))
        (book / "imports").mkdir(parents=True)
        importer = usage_jsonl.Importer(ROOT_CONTRACTS)
        importer.spill = book / ".tokenbooks" / "spill" if spill else None
        importer.index_compression = compression  # of the spilled ids
        result = importer.extract_result(str(source), [])
        write(book, result, store=store)
    rows = [(q.line, q.field, q.reason, q.content) for q in result.rejected()]
    return book_bytes(book), rows


# -- ids sorted by numpy ------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)),
                        min_size=1, max_size=70), unique=True, max_size=60))
def test_sort_order_is_the_code_point_order_of_arrow(values) -> None:
    ids = pa.array(values, pa.string())
    order = usage.sort_order(ids)
    assert ids.take(order).to_pylist() == sorted(values)  # Python: code point order
    assert order.to_pylist() == pc.array_sort_indices(ids).to_pylist()


def test_sort_order_of_ids_with_a_common_prefix_of_whole_words() -> None:
    values = ["cust0102-20260101-000002", "cust0102-20260101-000001", "cust0102-2026",
              "cust0102", "cust0101-20260131-999999", "é-1", "z"]
    assert pa.array(values).take(usage.sort_order(pa.array(values))).to_pylist() == \
        sorted(values)
    sliced = pa.array(["x", *values])[1:]  # an offset into the buffers
    assert sliced.take(usage.sort_order(sliced)).to_pylist() == sorted(values)
    zero = pa.array(["b\x00", "b", "a"])  # a zero byte: arrow's sort
    assert usage.sort_order(zero).to_pylist() == [2, 1, 0]


_TEXT = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["acme", "zeta", "Ä", "a b", ""]),
                          st.integers(20000, 20004), _TEXT, st.sampled_from(["chat", ""]),
                          st.sampled_from(["", "long"]), st.booleans(),
                          st.integers(0, 10**6)), max_size=40))
def test_sort_by_keys_is_pyarrows_sort_by(rows) -> None:
    """Ties kept in table order (stable), text by code point, constant keys skipped."""
    import datetime

    epoch = datetime.date(1970, 1, 1)
    table = pa.table({
        "customer": pa.array([r[0] for r in rows], pa.string()),
        "day": pa.array([epoch + datetime.timedelta(days=r[1]) for r in rows], pa.date32()),
        "model": pa.array([r[2] for r in rows], pa.string()),
        "feature": pa.array([r[3] for r in rows], pa.string()),
        "action": pa.array([""] * len(rows), pa.string()),
        "user": pa.array([""] * len(rows), pa.string()),
        "tier": pa.array([r[4] for r in rows], pa.string()),
        "context": pa.array([""] * len(rows), pa.string()),
        "cache_hit": pa.array([r[5] for r in rows], pa.bool_()),
        "input_tokens": pa.array([r[6] for r in rows], pa.int64()),
    })
    expected = table.sort_by([(k, "ascending") for k in usage.KEYS])
    assert usage.sort_by_keys(table).equals(expected)


def test_unique_sorted_finds_a_repeated_id() -> None:
    ids = [pa.array(["b", "a"]), pa.array(["c", "a"])]
    hashes = [pa.array(["2", "1"]), pa.array(["3", "4"])]
    assert usage.unique_sorted(ids, hashes) is None
    found = usage.unique_sorted(ids[:1], hashes[:1])
    assert found is not None
    assert [a.to_pylist() for a in found] == [["a", "b"], ["1", "2"]]


# -- the narrow schema --------------------------------------------------------------------


def test_narrow_schema_is_the_first_lines_fields_or_none() -> None:
    full = usage_jsonl.schema()
    first = b'{"event_id": "e", "timestamp": "2026-01-01T00:00:00Z", "customer": "acme"}'
    assert usage_jsonl.narrow_schema(full, first).names == ["event_id", "customer",
                                                            "timestamp"]
    assert usage_jsonl.narrow_schema(full, b'{"event_id": "e", "note": 1}') is None
    assert usage_jsonl.narrow_schema(full, b'{"event_id": ') is None
    assert usage_jsonl.narrow_schema(full, b'[1, 2]') is None


HOSTILE = [
    # a field the first line does not have, further down; a key written with an
    # escape; a field of no schema; a value of another type; blank lines; a count past
    # int64; a line that is no JSON; text with quotes and a line break escaped
    lambda i: {**event(i), "action": "ticket_resolved", "status": "completed"},
    lambda i: json.dumps(event(i)).replace('"feature"', '"\\u0066eature"'),
    lambda i: {**event(i), "note": {"deep": [1, 2]}},
    lambda i: {**event(i), "input_tokens": "12"},
    lambda i: "   ",
    lambda i: json.dumps(event(i))[:-1] + ', "output_tokens": 99999999999999999999}',
    lambda i: '{"event_id": "evt-x", "timestamp": ',
    lambda i: {**event(i), "feature": 'say "hi"\n\u2028', "user": "u\\1"},
    lambda i: {**event(i), "cache_write_tokens": 10, "service_tier": "Flex",
               "cache_hit": True},
]


@pytest.mark.parametrize("kind", range(len(HOSTILE)))
def test_a_file_read_with_the_narrow_schema_gives_the_bytes_of_the_full_one(
        tmp_path, monkeypatch, kind) -> None:
    events: list = [event(i) for i in range(120)]
    for at in (3, 70, 71, 119):  # in the first chunk, and later ones
        events[at] = HOSTILE[kind](at)
    source = jsonl(tmp_path / "hostile.jsonl", events)
    fast = imported(source, tmp_path / "fast", monkeypatch)
    plain = imported(source, tmp_path / "plain", monkeypatch, narrow=False, ahead=False,
                     spill=False)
    assert fast == plain
    assert fast[0]  # something written


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 399), st.sampled_from(range(len(HOSTILE)))),
                max_size=12), st.sampled_from([600, 2048, 1 << 20]))
def test_hostile_lines_anywhere_give_the_bytes_of_the_plain_path(
        tmp_path_factory, monkeypatch, changes, chunk) -> None:
    folder = tmp_path_factory.mktemp("hostile")
    events: list = [event(i, timestamp=f"2026-0{1 + i // 140}-{1 + i % 28:02d}T10:00:00Z")
                    for i in range(400)]
    for at, kind in changes:
        events[at] = HOSTILE[kind](at)
    source = jsonl(folder / "events.jsonl", events)
    fast = imported(source, folder / "fast", monkeypatch, chunk=chunk)
    plain = imported(source, folder / "plain", monkeypatch, narrow=False, ahead=False,
                     spill=False, chunk=chunk)
    assert fast == plain


# -- months spilled by a thread; failures in the threads ------------------------------------


def three_months(late: bool) -> list[dict]:
    events = [event(i, timestamp=f"2026-{1 + i % 3:02d}-{1 + i % 4:02d}T10:00:00Z")
              for i in range(300)]
    events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    if late:  # January comes back at the end, after February was handed to the thread
        january = [e for e in events if e["timestamp"].startswith("2026-01")][:10]
        events = [e for e in events if e not in january] + january
    return events


@pytest.mark.parametrize("late", [False, True])
def test_months_spilled_by_the_thread_give_the_bytes_of_months_kept(
        tmp_path, monkeypatch, late) -> None:
    source = jsonl(tmp_path / "three.jsonl", three_months(late))
    spilled = imported(source, tmp_path / "spilled", monkeypatch)
    kept = imported(source, tmp_path / "kept", monkeypatch, spill=False, ahead=False)
    assert spilled == kept
    assert len([name for name in spilled[0] if name.startswith("imports/")]) == 3
    assert not list((tmp_path / "spilled").rglob("*.tokenbooks.tmp"))


def test_spilled_ids_in_either_compression_give_the_same_book(tmp_path, monkeypatch
                                                              ) -> None:
    """The spill keeps a month's ids as its index file's bytes: zstd, as ``tokenbooks
    import`` spills them for a derived index (moved as they are), or gzip, a sidecar's
    (the write repacks them): the same book, the derived index zstd."""
    source = jsonl(tmp_path / "three.jsonl", three_months(True))
    zstd = imported(source, tmp_path / "zstd", monkeypatch, compression="zstd")
    gzip = imported(source, tmp_path / "gzip", monkeypatch, compression="gzip")
    kept = imported(source, tmp_path / "kept", monkeypatch, spill=False)
    assert zstd == gzip == kept
    derived = sorted(name for name in zstd[0] if name.startswith(".tokenbooks/index/"))
    assert len(derived) == 3 and all(name.endswith(".events.zst") for name in derived)
    assert all(zstd[0][name][:4] == b"\x28\xb5\x2f\xfd" for name in derived)
    sidecars = [imported(source, tmp_path / f"book-{c}", monkeypatch, compression=c,
                         store="book") for c in ("zstd", "gzip")]  # (sidecars: gzip)
    assert sidecars[0] == sidecars[1]
    names = [name for name in sidecars[0][0] if name.endswith(".events.gz")]
    assert len(names) == 3 and all(sidecars[0][0][n][:2] == b"\x1f\x8b" for n in names)


def test_chunks_start_small_and_double_up_to_their_size(tmp_path) -> None:
    """The first chunk is parsed while nothing else can be done: ``first`` bytes, then
    twice the one before up to ``size``; each ends at a line end, a line longer than
    its chunk whole, and together they are the file."""
    text = b"".join(b"%05d" % i + b"x" * 94 + b"\n" for i in range(200))  # 100 B a line
    text = b"L" * 700 + b"\n" + text + b"tail without newline"
    path = tmp_path / "lines.jsonl"
    path.write_bytes(text)
    pieces = [bytes(piece) for piece in lines.chunks(path, size=4096, first=256)]
    assert b"".join(pieces) == text
    assert pieces[0] == b"L" * 700 + b"\n"  # longer than the first chunk: whole
    assert [len(p) for p in pieces[1:6]] == [500, 1000, 2000, 4000, 4000]
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    whole = [bytes(p) for p in lines.chunks(path, size=1 << 20)]  # (the file in one read:
    assert whole == [text[:text.rfind(b"\n") + 1], b"tail without newline"]  # to its
    # last line end, then the rest)


def test_an_id_repeated_in_a_spilled_month_is_read_again_id_by_id(tmp_path,
                                                                  monkeypatch) -> None:
    events = three_months(False)
    events[40] = dict(events[3])  # January's id twice: a duplicate, found at the end
    source = jsonl(tmp_path / "twice.jsonl", events)
    spilled = imported(source, tmp_path / "spilled", monkeypatch)
    kept = imported(source, tmp_path / "kept", monkeypatch, spill=False, ahead=False)
    assert spilled == kept


def test_a_read_error_in_the_reader_thread_is_the_error_of_the_plain_path(
        tmp_path, monkeypatch) -> None:
    source = jsonl(tmp_path / "events.jsonl", three_months(False))
    calls = []

    def failing(self, piece):
        calls.append(len(piece))
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        return original(self, piece)

    original = usage_jsonl.Importer.read_chunk
    monkeypatch.setattr(usage_jsonl.Importer, "read_chunk", failing)
    for ahead in (True, False):
        calls.clear()
        with pytest.raises(OSError, match="Input/output error"):
            imported(source, tmp_path / f"book-{ahead}", monkeypatch, ahead=ahead)


def test_a_full_disk_in_the_spill_thread_is_a_clear_error_of_the_import(
        tmp_path, monkeypatch) -> None:
    ledger = new_book(tmp_path / "book", store="cache")
    book = ledger.parent
    source = jsonl(tmp_path / "events.jsonl", three_months(False))
    monkeypatch.setattr(lines, "chunks", functools.partial(lines.chunks, size=2048))

    def full(path, table):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(usage, "_write_ipc", full)
    result = run(ledger, source)
    assert result.exit_code != 0
    assert "No space left on device" in result.output
    assert "Traceback" not in result.output
    assert not list((book / "imports").glob("2026-*.beancount"))
    monkeypatch.undo()
    again = run(ledger, source)  # room again: the import goes through
    assert again.exit_code == 0, again.output
    assert len(list((book / "imports").glob("2026-*.beancount"))) == 3


def test_a_read_that_fails_leaves_no_spill_thread_writing(tmp_path, monkeypatch) -> None:
    """A failure after a month was handed to the spill thread: the read waits it out, so
    nothing is written into the book after the command has let go of it."""
    import threading

    source = jsonl(tmp_path / "events.jsonl", three_months(False))
    handed = []
    original = usage.UsageCore._spill_month

    def spill_then_fail(self, month):
        original(self, month)
        handed.append(month)
        raise RuntimeError("the read failed here")

    monkeypatch.setattr(usage.UsageCore, "_spill_month", spill_then_fail)
    with pytest.raises(RuntimeError, match="the read failed here"):
        imported(source, tmp_path / "book", monkeypatch)
    assert handed == ["2026-01"]
    assert not [t for t in threading.enumerate() if t.name.startswith("tokenbooks-spill")]
