"""The derived event-id index (``index: {store: cache}``): no sidecar in the book, a
fingerprint in each import file, the ids under ``.tokenbooks/index/``, rebuilt from the
archived source when missing, cut short or stale; never a partial index."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from test_import_cmd import check, event, jsonl, new_book, run

from tokenbooks.importers.index import (
    Fingerprint,
    declared_fingerprint,
    derived_path,
    fingerprint,
    read_sidecar,
)
from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.scripts.cli import cli

CACHE = "index:\n  store: cache\n"
ROOT = Path(__file__).resolve().parents[1]
ROOT_CONTRACTS = ROOT / "contracts"


def cache_book(folder: Path) -> Path:
    ledger = new_book(folder, store="cache")  # what tokenbooks init writes
    (folder / "importers.yaml").write_text(CACHE, encoding="utf-8")
    return ledger


def usage_files(book: Path) -> list[Path]:
    return sorted((book / "imports").glob("2026-*.beancount"))


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, Path]:
    ledger = cache_book(tmp_path / "book")
    source = jsonl(tmp_path / "usage-march.jsonl", [event(i) for i in range(40)])
    result = run(ledger, source)
    assert result.exit_code == 0, result.output
    return ledger, source


def test_fingerprint_is_count_and_sha256_of_the_sorted_ids() -> None:
    assert fingerprint(["b", "a", "é"]) == Fingerprint(
        3, hashlib.sha256("a\nb\né".encode()).hexdigest())
    assert fingerprint([]) == Fingerprint(0, hashlib.sha256(b"").hexdigest())


@settings(max_examples=60, deadline=None)
@given(st.sets(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                       max_size=12), max_size=30))
def test_fingerprint_is_the_set_and_tells_any_change(ids: set[str]) -> None:
    listed = sorted(ids)
    assert fingerprint(listed[::-1]) == fingerprint(listed)
    if listed:
        assert fingerprint(listed[1:]) != fingerprint(listed)  # one fewer
        assert fingerprint([listed[0] + "x", *listed[1:]]) != fingerprint(listed)


def test_a_cache_book_tracks_no_ids_and_records_the_fingerprint(imported) -> None:
    ledger, _ = imported
    book = ledger.parent
    assert list((book / "imports").glob("*.events.gz")) == []
    (usage,) = usage_files(book)
    recorded = declared_fingerprint(usage)
    assert recorded == fingerprint([f"evt-{i:05d}" for i in range(40)])
    assert recorded is not None and recorded.events == 40
    assert read_sidecar(derived_path(usage)) == [f"evt-{i:05d}" for i in range(40)]
    assert ".tokenbooks/" in (book / ".gitignore").read_text().splitlines()
    events = sum(r.events for r in parse_usage(check(ledger)).records())
    assert events == 40


def test_the_derived_index_is_the_sidecar_text_in_zstd(imported) -> None:
    """The cache holds a sidecar's text (v2: each id, a tab, its content hash), zstd
    compressed: what ``zstd -dc`` prints."""
    import gzip

    from tokenbooks.importers.index import ZSTD_MAGIC, sidecar_bytes, unpacked

    ledger, _ = imported
    (usage,) = usage_files(ledger.parent)
    derived = derived_path(usage)
    assert derived.name.endswith(".events.zst") and derived.read_bytes()[:4] == ZSTD_MAGIC
    text = unpacked(derived.read_bytes())
    lines = text.decode().splitlines()
    assert lines[0] == "# tokenbooks event ids v2" and len(lines) == 41
    ids = [line.split("\t")[0] for line in lines[1:]]
    hashes = [line.split("\t")[1] for line in lines[1:]]
    assert ids == [f"evt-{i:05d}" for i in range(40)]
    assert text == gzip.decompress(b"".join(sidecar_bytes(ids, hashes)))
    assert derived.read_bytes() == b"".join(sidecar_bytes(ids, hashes, "zstd"))


def test_an_earlier_versions_gzip_index_is_trusted_until_it_is_rebuilt(imported) -> None:
    """A book imported by a version that wrote the cache as gzip (``.events.gz``): it is
    verified against the fingerprint and read as before, no rebuild; once damaged, the
    rebuild writes the ``.events.zst`` and removes it."""
    import gzip

    from tokenbooks.importers.index import index_file, unpacked

    ledger, source = imported
    book = ledger.parent
    (usage,) = usage_files(book)
    derived = derived_path(usage)
    legacy = derived.with_name(derived.name.replace(".events.zst", ".events.gz"))
    zstd_bytes = derived.read_bytes()
    legacy.write_bytes(gzip.compress(unpacked(zstd_bytes), mtime=0))
    derived.unlink()
    assert index_file(usage) == legacy
    result = run(ledger, source, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert "rebuilt" not in result.output
    assert '"duplicates": 40' in result.output and '"imported": 0' in result.output
    assert legacy.exists() and not derived.exists()
    legacy.write_bytes(legacy.read_bytes()[:20])  # cut short: rebuilt, as zstd
    result = run(ledger, source, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert "rebuilt .tokenbooks/index/" in result.output and '"duplicates": 40' in result.output
    assert derived.read_bytes() == zstd_bytes and not legacy.exists()


@pytest.mark.parametrize("damage", ["delete", "truncate", "stale"])
def test_a_damaged_index_is_rebuilt_and_the_same_source_is_all_duplicates(
        imported, damage: str) -> None:
    ledger, source = imported
    book = ledger.parent
    (usage,) = usage_files(book)
    derived = derived_path(usage)
    good = derived.read_bytes()
    if damage == "delete":
        derived.unlink()
    elif damage == "truncate":
        derived.write_bytes(good[: len(good) // 2])
    else:  # another index's bytes: valid gzip, other ids
        from tokenbooks.importers.index import write_sidecar
        write_sidecar(derived, ["evt-00000"])
    before = {p: p.read_bytes() for p in (book / "imports").iterdir()}
    result = run(ledger, source, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert "rebuilt .tokenbooks/index/" in result.output
    assert '"duplicates": 40' in result.output and '"imported": 0' in result.output
    assert derived.read_bytes() == good  # rebuilt to the bytes the import wrote
    assert {p: p.read_bytes() for p in (book / "imports").iterdir()} == before


def test_an_overlapping_second_source_is_rebuilt_from_what_it_added(tmp_path) -> None:
    """Two sources of one month overlapping by half: the second file's ids are its
    source's minus the first's; both indexes deleted, both rebuilt (in two passes)."""
    ledger = cache_book(tmp_path / "book")
    book = ledger.parent
    first = jsonl(tmp_path / "a.jsonl", [event(i) for i in range(20)])
    second = jsonl(tmp_path / "b.jsonl", [event(i) for i in range(10, 30)])
    assert run(ledger, first).exit_code == 0
    assert run(ledger, second).exit_code == 0
    files = usage_files(book)
    assert [declared_fingerprint(f).events for f in files] == [20, 10]
    kept = {f: derived_path(f).read_bytes() for f in files}
    for f in files:
        derived_path(f).unlink()
    result = run(ledger, second, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert '"duplicates": 20' in result.output
    assert {f: derived_path(f).read_bytes() for f in files} == kept


def test_an_index_that_cannot_be_rebuilt_stops_the_import_and_writes_nothing(
        imported, tmp_path: Path) -> None:
    ledger, source = imported
    book = ledger.parent
    (usage,) = usage_files(book)
    derived_path(usage).unlink()
    for copy in (book / "documents").rglob("*.jsonl"):
        copy.unlink()  # the archived source gone too
    other = jsonl(tmp_path / "other.jsonl", [event(i) for i in range(100, 110)])
    before = sorted(p.relative_to(book) for p in book.rglob("*") if p.is_file())
    result = run(ledger, other)
    assert result.exit_code == 1
    assert usage.name in result.output and "cannot be rebuilt" in result.output
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    after = sorted(p.relative_to(book) for p in book.rglob("*") if p.is_file())
    assert after == before


def test_changed_contracts_that_change_the_ids_are_an_error_not_a_partial_index(
        imported) -> None:
    ledger, source = imported
    book = ledger.parent
    (usage,) = usage_files(book)
    derived_path(usage).unlink()
    (book / "contracts" / "customers" / "acme.yaml").unlink()  # acme's events: quarantined
    result = run(ledger, jsonl(source.parent / "x.jsonl", [event(5)]))
    assert result.exit_code == 1, result.output
    assert "do not give it" in result.output and usage.name in result.output
    assert not derived_path(usage).exists()


def test_old_books_with_sidecars_keep_them_and_new_files_go_to_the_cache(tmp_path) -> None:
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    (book / "importers.yaml").unlink()  # a book made before init wrote store: cache
    first = jsonl(tmp_path / "a.jsonl", [event(i) for i in range(20)])
    assert run(ledger, first).exit_code == 0
    assert len(list((book / "imports").glob("*.events.gz"))) == 1  # the default: book
    (book / "importers.yaml").write_text(CACHE, encoding="utf-8")
    second = jsonl(tmp_path / "b.jsonl", [event(i) for i in range(10, 30)])
    result = run(ledger, second, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert '"duplicates": 10' in result.output and '"imported": 10' in result.output
    assert len(list((book / "imports").glob("*.events.gz"))) == 1
    new = [f for f in usage_files(book) if declared_fingerprint(f) is not None]
    assert len(new) == 1 and declared_fingerprint(new[0]).events == 10


def test_a_bad_store_setting_is_an_error_naming_the_file(tmp_path) -> None:
    ledger = new_book(tmp_path / "book")
    (ledger.parent / "importers.yaml").write_text("index: {store: git}\n")
    result = run(ledger, jsonl(tmp_path / "a.jsonl", [event(1)]))
    assert result.exit_code == 1
    assert "importers.yaml: index.store: expected one of book, cache" in result.output
    assert "got 'git'; nothing was imported" in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_tracked_bytes_per_event_are_the_entries_alone(tmp_path) -> None:
    """Bytes under git-tracked paths after importing N events: no ids in git (the
    imports/ files hold the entries and a 100-byte fingerprint per file)."""
    ledger = cache_book(tmp_path / "book")
    book = ledger.parent
    n = 2000
    source = jsonl(tmp_path / "usage.jsonl", [event(i) for i in range(n)])
    subprocess.run(["git", "init", "-q", str(book)], check=True)
    assert run(ledger, source, extra=("--no-archive",)).exit_code == 0
    subprocess.run(["git", "-C", str(book), "add", "-A"], check=True)
    tracked = subprocess.run(["git", "-C", str(book), "ls-files", "imports"], check=True,
                             capture_output=True, text=True).stdout.split()
    assert not any(".tokenbooks/" in name for name in tracked)
    assert not any(name.endswith(".events.gz") for name in tracked)
    ignored = subprocess.run(["git", "-C", str(book), "status", "--ignored", "--short"],
                             check=True, capture_output=True, text=True).stdout
    assert ".tokenbooks/" in ignored
    size = sum((book / name).stat().st_size for name in tracked)
    (usage,) = usage_files(book)
    entries = sum(1 for line in usage.read_text().splitlines() if " custom " in line)
    # 2000 events: 4 days x 5 customers (a model each day), and globex's action on
    # each day: 24 entries of about 300 bytes; the ids (some 21 bytes each gzipped as
    # a sidecar) are not tracked
    assert entries == 24
    assert size < 400 * entries
    print(f"tracked bytes per event: {size / n:.1f} ({size} bytes, {entries} entries)")


# -- the months a source is done with, spilled; spans; kills -------------------------------


def three_months(order: str) -> list[dict]:
    events = [event(i, timestamp=f"2026-{1 + i % 3:02d}-{1 + i % 4:02d}T10:00:00Z")
              for i in range(90)]
    events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    if order == "late":  # ten January events at the end: January comes back
        january = [e for e in events if e["timestamp"].startswith("2026-01")][:10]
        events = [e for e in events if e not in january] + january
    return events


@pytest.mark.parametrize("order", ["sorted", "late"])
def test_spilled_months_write_the_bytes_of_months_kept_in_memory(tmp_path, order,
                                                                 monkeypatch) -> None:
    import functools

    from tokenbooks.importers import lines, usage_jsonl
    from tokenbooks.scripts.import_cmd import write

    monkeypatch.setattr(lines, "chunks", functools.partial(lines.chunks, size=2048))
    source = jsonl(tmp_path / "three.jsonl", three_months(order))
    books = {}
    for spill in (False, True):
        book = tmp_path / f"book-{spill}"
        (book / "imports").mkdir(parents=True)
        importer = usage_jsonl.Importer(ROOT_CONTRACTS)
        importer.spill = book / ".tokenbooks" / "spill" if spill else None
        result = importer.extract_result(str(source), [])
        assert result.imported == 90 and result.entry_count() > 0
        # sorted: January and February spilled (March read to the end); late: January
        # spilled, read back for its late events; February spilled
        assert sorted(result.spilled) == ({"sorted": ["2026-01", "2026-02"],
                                           "late": ["2026-02"]}[order] if spill else [])
        write(book, result)
        books[spill] = {p.name: p.read_bytes() for p in (book / "imports").iterdir()}
        leftovers = list((book / ".tokenbooks").rglob("*.tokenbooks.tmp"))
        assert leftovers == []
    assert len(books[True]) == 6 and books[True] == books[False]


def test_spans_date_an_aggregate_on_its_first_day_with_until(tmp_path) -> None:
    import datetime

    from tokenbooks.importers.usage import UsageCore

    class Halves:
        def span(self, customer: str, day: datetime.date):
            if day.day <= 15:
                return day.replace(day=1), day.replace(day=15)
            return day.replace(day=16), day.replace(day=28)

    core = UsageCore(customers={"acme"}, spans=Halves())
    rows = [(n, "{}", {"event_id": f"e{n}", "timestamp": f"2026-02-{d:02d}T01:00:00Z",
                       "customer": "acme", "model": "m", "input_tokens": 10 * n})
            for n, d in enumerate([1, 3, 15, 16, 28], start=1)]
    core.feed_rows(rows)
    result = core.finish(Path("x.jsonl"), "0" * 64, "test")
    entries = result.entries
    assert [(e.date.isoformat(), e.meta.get("until"), e.meta["events"], e.meta["input_tokens"])
            for e in entries] == [("2026-02-01", datetime.date(2026, 2, 15), 3, 60),
                                  ("2026-02-16", datetime.date(2026, 2, 28), 2, 90)]
    assert list(entries[0].meta)[2:6] == ["input_tokens", "events", "until", "source"]
    from tokenbooks.plugins.entries.usage_text import format_usage, joined, table_text
    from tokenbooks.plugins.rules.records import EXTRA_COUNTS

    text = bytes(joined(table_text(result.usage_table, "x.jsonl", "0" * 64, EXTRA_COUNTS)))
    assert text.decode() == "".join("\n" + format_usage(e) for e in entries)
    assert "  until: 2026-02-15\n  source:" in text.decode()
    assert result.event_ids["2026-02"][0].to_pylist() == ["e1", "e2", "e3", "e4", "e5"]

    class Across:
        def span(self, customer, day):
            return day, day + datetime.timedelta(days=40)

    core = UsageCore(customers={"acme"}, spans=Across())
    core.feed_rows(rows[:1])  # (the days are merged by span at the end)
    with pytest.raises(ValueError, match="within one calendar month"):
        core.finish(Path("x.jsonl"), "0" * 64, "test")


def test_an_import_into_a_cache_book_killed_after_any_file_converges(tmp_path) -> None:
    import os
    import sys

    from tokenbooks.scripts import writing

    start = tmp_path / "start"
    cache_book(start)
    source = jsonl(tmp_path / "three.jsonl", three_months("sorted"))
    reference = tmp_path / "reference"
    shutil.copytree(start, reference)
    assert run(reference / "main.beancount", source).exit_code == 0
    after = snapshot(reference)
    assert any(".tokenbooks/index/" in name for name in after)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    n, finished = 0, False
    while not finished:
        n += 1
        book = tmp_path / f"kill-{n}"
        shutil.copytree(start, book)
        done = subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli", "import",
                               "--ledger", str(book / "main.beancount"), str(source)],
                              env={**env, writing.FAULT_VARIABLE: str(n)},
                              capture_output=True, text=True, cwd=tmp_path)
        finished = done.returncode == 0
        if not finished:
            assert done.returncode == 137, done.stderr
            again = run(book / "main.beancount", source)
            assert again.exit_code == 0, again.output
        assert snapshot(book) == after, n
    assert n >= 8  # the archive, the .gitignore, 3 x (entries, index); and one past them


def snapshot(book: Path) -> dict[str, bytes]:
    from tokenbooks.scripts import writing

    return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
            if p.is_file() and p.name != writing.LOCK_FILE
            and not p.name.endswith(".picklecache")}


def test_a_cache_book_closes_and_locks_its_month(tmp_path) -> None:
    """The close's completeness check reads the derived index (its fingerprint matches);
    the lock seals the import file, which holds the fingerprint; after the close, an
    index deleted is rebuilt by the next import and the month stays as it was."""
    import closekit

    ledger = closekit.build(tmp_path)  # tokenbooks init: store: cache
    assert "index: {store: cache}" in (ledger.parent / "importers.yaml").read_text()
    book = ledger.parent
    assert list((book / "imports").glob("*.events.gz")) == []
    result = closekit.close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    assert closekit.errors(ledger) == []
    (january,) = [f for f in usage_files(book) if f.name.startswith("2026-01.usage")]
    derived_path(january).unlink()
    again = run(ledger, *sorted((tmp_path / "sources").glob("usage-*.jsonl")),
                extra=("--json",))
    assert again.exit_code == 0, again.output
    assert derived_path(january).exists() and closekit.errors(ledger) == []


def test_two_sources_of_one_run_dedupe_against_spilled_months(tmp_path, monkeypatch) -> None:
    """The first source's months spilled (small chunks): the second, overlapping it by
    half, finds its events in the spilled ids; the book is the one of two imports."""
    import functools
    import json

    from tokenbooks.importers import lines

    monkeypatch.setattr(lines, "chunks", functools.partial(lines.chunks, size=2048))
    events = three_months("sorted")
    first = jsonl(tmp_path / "first.jsonl", events[:60])
    second = jsonl(tmp_path / "second.jsonl", events[30:])
    together = cache_book(tmp_path / "together")
    result = run(together, first, second, extra=("--json",))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["imported"], r["duplicates"]) for r in rows] == [(60, 0), (30, 30)]
    apart = cache_book(tmp_path / "apart")
    assert run(apart, first).exit_code == 0 and run(apart, second).exit_code == 0
    files = {p.name: p.read_bytes() for p in (together.parent / "imports").iterdir()}
    assert files == {p.name: p.read_bytes() for p in (apart.parent / "imports").iterdir()}
    assert not list((together.parent / ".tokenbooks").rglob("*.tokenbooks.tmp"))


# -- migrating an older book (store: book) to the derived index -------------------------


def migrate(ledger: Path):
    return CliRunner().invoke(cli, ["migrate-index", "--ledger", str(ledger)])


@pytest.fixture(scope="module")
def sidecar_book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """closekit's book kept with sidecars (store: book), January closed; and the same
    book made with store: cache, for the bytes a migration must end with."""
    import closekit

    folder = tmp_path_factory.mktemp("migrate")
    old = closekit.closed_copy(folder / "old", "2026-01", store="book")
    new = closekit.closed_copy(folder / "new", "2026-01", store="cache")
    (old / "importers.yaml").write_text(CACHE, encoding="utf-8")  # step 1 of the doc
    return old, new


def test_migrating_moves_the_open_months_sidecars_and_keeps_the_closed_ones(
        sidecar_book: tuple[Path, Path], tmp_path: Path) -> None:
    import closekit

    old, new = sidecar_book
    book = closekit.copy_book(old, tmp_path)
    ledger = book / "main.beancount"
    result = migrate(ledger)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "migrated imports/2026-02.usage-2026-02.jsonl.b620dfac.beancount (30 events)",
        "1 file(s) migrated, 1 kept (closed months: 2026-01)"]
    # February: the bytes of a store: cache import; January: sealed by its lock, kept
    for name in ("imports/2026-02.usage-2026-02.jsonl.b620dfac.beancount",
                 ".tokenbooks/index/2026-02.usage-2026-02.jsonl.b620dfac.events.zst"):
        assert (book / name).read_bytes() == (new / name).read_bytes(), name
    assert [p.name for p in (book / "imports").glob("*.events.gz")] == [
        "2026-01.usage-2026-01.jsonl.98732069.events.gz"]
    assert closekit.errors(ledger) == []
    again = migrate(ledger)  # nothing left to do
    assert again.output.splitlines() == ["0 file(s) migrated, 1 kept (closed months: 2026-01)"]
    # the migrated index deleted: rebuilt, and the sources again are all duplicates
    shutil.rmtree(book / ".tokenbooks")
    sources = sorted((old.parent / "sources").glob("usage-*.jsonl"))
    result = run(ledger, *sources, extra=("--json",))
    assert result.exit_code == 0, result.output
    assert '"imported": 0' in result.stdout and '"imported": 1' not in result.stdout
    assert closekit.close(ledger, "2026-02").exit_code == 0


def test_migrating_needs_store_cache_first(sidecar_book: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    import closekit

    book = closekit.copy_book(sidecar_book[0], tmp_path)
    (book / "importers.yaml").write_text("index: {store: book}\n", encoding="utf-8")
    before = closekit.snapshot(book)
    result = migrate(book / "main.beancount")
    assert result.exit_code == 1
    assert "importers.yaml: expected index: {store: cache}" in result.output
    assert "nothing was migrated" in result.output and "Traceback" not in result.output
    assert closekit.snapshot(book) == before


def test_a_migration_killed_after_any_file_converges(sidecar_book: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    """Killed after each write (index, import file, sidecar removed): the re-run ends
    with the files of an uninterrupted run, and the book loads without error between."""
    import os
    import sys

    import closekit

    from tokenbooks.scripts import writing

    start = sidecar_book[0]
    reference = closekit.copy_book(start, tmp_path / "reference")
    assert migrate(reference / "main.beancount").exit_code == 0
    after = snapshot(reference)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    n, finished = 0, False
    while not finished:
        n += 1
        book = closekit.copy_book(start, tmp_path / f"kill-{n}")
        done = subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli",
                               "migrate-index", "--ledger", str(book / "main.beancount")],
                              env={**env, writing.FAULT_VARIABLE: str(n)},
                              capture_output=True, text=True, cwd=tmp_path)
        finished = done.returncode == 0
        if not finished:
            assert done.returncode == 137, done.stderr
            assert closekit.errors(book / "main.beancount") == []  # a consistent book
            again = migrate(book / "main.beancount")
            assert again.exit_code == 0, again.output
        assert snapshot(book) == after, n
    assert n == 4  # the index, the import file, the sidecar removed; and one past them
