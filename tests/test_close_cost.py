"""What a close and a load of a closed book cost, by structure (not by the clock): the
lock hashes each file of a closed month once and prints only the entries it does not
fingerprint whole (the generated ones); a close loads the book twice (to check it, and
with its invoices), not again to lock it; a month closed with a version-1 manifest still
verifies, beside months closed with version 2."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from closekit import build, close, closed_copy, copy_book, errors

from tokenbooks.plugins import lock
from tokenbooks.plugins.rules import manifest
from tokenbooks.plugins.rules.manifest import Item
from tokenbooks.scripts import loading


@pytest.fixture(scope="module")
def two_closed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The close tests' book with January and February closed (each test a copy)."""
    return closed_copy(tmp_path_factory.mktemp("cost"), "2026-01", "2026-02")


@pytest.fixture
def book(two_closed: Path, tmp_path: Path) -> Path:
    return copy_book(two_closed, tmp_path)


@pytest.fixture(scope="module")
def two_closed_sidecars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, in a book whose event-id index is a sidecar per import file (store: book)."""
    return closed_copy(tmp_path_factory.mktemp("cost-sidecars"), "2026-01", "2026-02",
                       store="book")


def items_of(book: Path, period: str) -> list[Item]:
    return manifest.parse((book / "closes" / f"{period}.manifest").read_text())


class Spy:
    """Counts what the lock stage reads and prints during loads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashed: list[str] = []
        self.printed: list[str] = []
        self.printed_v1: list[str] = []
        of, read = lock.Digests.of, lock.Digests.read
        real_of, real_read = of, read

        def spy_of(digests: lock.Digests, path: str) -> str | None:
            before = len(digests.hashed)
            found = real_of(digests, path)
            self.hashed += digests.hashed[before:]
            return found

        def spy_read(digests: lock.Digests, path: str) -> bytes | None:
            self.hashed.append(path)
            return real_read(digests, path)

        entry_fingerprint, fingerprint = lock.entry_fingerprint, lock.fingerprint

        def spy_entry(entry, root):
            self.printed.append(str(entry.meta.get("filename")))
            return entry_fingerprint(entry, root)

        def spy_v1(entry, root):
            self.printed_v1.append(str(entry.meta.get("filename")))
            return fingerprint(entry, root)

        monkeypatch.setattr(lock.Digests, "of", spy_of)
        monkeypatch.setattr(lock.Digests, "read", spy_read)
        monkeypatch.setattr(lock, "entry_fingerprint", spy_entry)
        monkeypatch.setattr(lock, "fingerprint", spy_v1)


@pytest.mark.parametrize("store", ["cache", "book"])
def test_a_load_hashes_each_file_of_the_closed_months_once_and_prints_the_rest(
        two_closed: Path, two_closed_sidecars: Path, tmp_path: Path, store: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    book = copy_book(two_closed if store == "cache" else two_closed_sidecars, tmp_path)
    items = {p: items_of(book, p) for p in ("2026-01", "2026-02")}
    files = {str((book / i.where).resolve()) for p in items for i in items[p]
             if i.kind in (manifest.FILE, manifest.INDEX)}
    one_by_one = sum(1 for p in items for i in items[p] if i.kind == manifest.ENTRY)
    in_files = sum(1 for p in items for i in items[p] if i.kind == manifest.TEXT)
    # the month's import files (usage, provider bills, purchases), its invoice file and
    # (store: book) the event-id index of its usage, each by one digest; with store:
    # cache the index is outside the book, sealed by the fingerprint in its import file
    assert {Path(f).parent.name for f in files} == {"imports", "invoices"}
    assert any(f.endswith(".events.gz") for f in files) == (store == "book")
    assert in_files > one_by_one > 0  # most entries of a month are in its import files
    spy = Spy(monkeypatch)
    entries, found, _ = loading.load(book / "main.beancount")
    assert found == []
    # N files, each hashed once ...
    assert sorted(spy.hashed) == sorted(files)
    # ... and M entries printed: the month's entries of no file it fingerprints whole
    assert len(spy.printed) == one_by_one and spy.printed_v1 == []
    assert not any("/imports/" in name or "/invoices/" in name for name in spy.printed)
    assert Counter(n.startswith("<") for n in spy.printed)[True] > 0  # the generated ones
    closed = [e for e in entries if lock.locked(e) and e.date.isoformat() < "2026-03"]
    assert len(closed) == one_by_one + in_files  # every entry of the months, one way or other


def test_a_file_is_hashed_again_only_once_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "f.beancount"
    path.write_text("; one\n")
    digests = lock.Digests()
    first = digests.of(str(path))
    assert digests.of(str(path)) == first and digests.hashed == [str(path)]
    path.write_text("; two, longer\n")
    assert digests.of(str(path)) != first and len(digests.hashed) == 2
    os.utime(path, ns=(0, 0))  # the same size, another time: read again
    digests.of(str(path))
    assert len(digests.hashed) == 3
    assert digests.of(str(tmp_path / "missing")) is None


def test_a_close_loads_the_book_twice_and_locks_without_a_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = build(tmp_path)
    calls: list[Path] = []
    load = loading.load

    def counting(path: Path):
        calls.append(path)
        return load(path)

    monkeypatch.setattr(loading, "load", counting)
    spy = Spy(monkeypatch)
    assert close(ledger, "2026-01").exit_code == 0
    assert len(calls) == 2  # check; the book with its invoices. The lock: no load.
    sealed = items_of(ledger.parent, "2026-01")
    files = [i for i in sealed if i.kind in (manifest.FILE, manifest.INDEX)]
    # the lock step: the month's files hashed once for its manifest (not again to check it)
    assert len(spy.hashed) == len(set(spy.hashed)) == len(files)
    calls.clear()
    assert close(ledger, "2026-01").exit_code == 0  # closed already: nothing to write
    assert len(calls) == 1
    calls.clear()
    # February's book stops short of its last day: the month's invoice run goes in first
    # (recognition runs to the book's last day), then the invoices: one load more
    result = close(ledger, "2026-02")
    assert result.exit_code == 0, result.output
    assert len(calls) == 3
    assert errors(ledger) == []


def test_the_lock_step_refuses_a_close_file_the_book_does_not_read(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    ledger.write_text(ledger.read_text().replace('include "closes/*.beancount"\n', ""))
    result = close(ledger, "2026-01")
    assert result.exit_code == 1
    assert "FAILED at lock" in result.output and "is not in the book" in result.output
    root = ledger.parent
    assert not (root / "closes" / "2026-01.beancount").exists()
    assert not (root / "closes" / "2026-01.manifest").exists()
    assert errors(ledger) == []


def as_version_1(book: Path, period: str) -> None:
    """Seal ``period`` again as a close of version 1 did: every entry by its printed
    hash (its close file, manifest and record, as that close wrote them)."""
    entries, found, _ = loading.load(book / "main.beancount")
    assert found == []
    items = [item for item, _ in lock.v1_items(entries, {period}, book)[period]]
    text = manifest.render(items)
    assert text.startswith(manifest.HEADER_V1 + "\n")
    (book / "closes" / f"{period}.manifest").write_text(text)
    close_file = book / "closes" / f"{period}.beancount"
    old = re.search(r'fingerprint: "([0-9a-f]+)"', close_file.read_text()).group(1)
    new = manifest.digest(text)
    close_file.write_text(re.sub(r"entries: \d+", f"entries: {len(items)}",
                                 close_file.read_text().replace(old, new)))
    record = book / "reports" / period / "lock.json"
    kept = json.loads(record.read_text())
    record.write_text(json.dumps({**kept, "fingerprint": new, "entries": len(items)},
                                 indent=2) + "\n")


def test_a_month_closed_with_a_version_1_manifest_still_verifies(
        book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_version_1(book, "2026-01")
    ledger = book / "main.beancount"
    assert errors(ledger) == []
    assert lock.manifest_version(book, "2026-01") == 1
    assert lock.manifest_version(book, "2026-02") == 2
    # a version-1 month is verified entry by entry, as it was closed; version 2 by file
    spy = Spy(monkeypatch)
    loading.load(ledger)
    v1 = sum(1 for i in items_of(book, "2026-01") if not i.what.startswith("file "))
    assert len(spy.printed_v1) == v1
    assert any("/imports/" in name for name in spy.printed_v1)
    assert not any("/imports/" in name for name in spy.printed)
    monkeypatch.undo()
    # the manifests recomputed from the book, each in its version, are the ones sealed
    entries, _, _ = loading.load(ledger)
    now = lock.period_items(entries, {"2026-01", "2026-02"}, book)
    for period in ("2026-01", "2026-02"):
        text = (book / "closes" / f"{period}.manifest").read_text()
        assert manifest.render(item for item, _ in now[period]) == text
    # an edit of either month is caught
    usage = next((book / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    usage.write_text(re.sub(r"input_tokens: (\d+)", lambda m: f"input_tokens: {int(m[1]) + 1}",
                            usage.read_text(), count=1))
    found = errors(ledger)
    assert any("closed period 2026-01: entry changed after the close" in e
               and usage.name in e for e in found), found


def test_the_next_month_closes_after_a_version_1_month(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    assert close(ledger, "2026-01").exit_code == 0
    as_version_1(ledger.parent, "2026-01")
    result = close(ledger, "2026-02")
    assert result.exit_code == 0, result.output
    assert lock.manifest_version(ledger.parent, "2026-02") == 2
    assert errors(ledger) == []
    again = close(ledger, "2026-01")
    assert again.exit_code == 0 and "nothing changed" in again.output


def test_the_version_2_manifest_round_trip() -> None:
    items = [Item("e" * 32, "2026-01-31 transaction A | Usage | usage a", "<tokenbooks.revenue>",
                  manifest.ENTRY),
             Item("f" * 64, "file imports/a.beancount", "imports/a.beancount", manifest.FILE,
                  12),
             Item("1" * 64, "file imports/a.events.gz", "imports/a.events.gz",
                  manifest.INDEX),
             Item("2" * 32, "2026-01-02 custom usage a m chat", "imports/a.beancount:7",
                  manifest.TEXT),
             Item("3" * 32, "2026-01-03 custom usage a m chat", "imports/ab.beancount:9",
                  manifest.TEXT)]
    text = manifest.render(items)
    assert text.splitlines()[0] == manifest.HEADER_V2
    assert [line.split("\t")[0] for line in text.splitlines()[1:]] == [
        "entry", "file", "index", "text", "text"]
    assert sorted(manifest.parse(text), key=repr) == sorted(items, key=repr)
    assert manifest.render(reversed(items)) == text
    version, head = manifest.parse_head(text)
    assert version == 2 and [i.kind for i in head] == ["entry", "file", "index"]
    assert manifest.parse_text(text, "imports/a.beancount") == [items[3]]
    with pytest.raises(ValueError, match="a kind each"):
        manifest.render([items[0], Item("a", "one", "f:1")])
    with pytest.raises(ValueError, match="expected the header"):
        manifest.parse("# some other file\n")
