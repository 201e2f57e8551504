"""A closed month that cannot vanish quietly, and payments and events that cannot be
booked twice: each tampering of a closed book is a bean-check error naming what changed.

The books are new books (``store: cache``: the event-id index is derived, outside the
book, and each import file records its fingerprint); the tests of the event-id index run
on both stores, ``store: book`` (a sidecar per import file) being what older books have.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import STORES, build, close, closed_copy, copy_book, errors

from tokenbooks.importers.index import declared_fingerprint, derived_path, fingerprint
from tokenbooks.plugins.entries.sidecars import sidecar_for
from tokenbooks.scripts.cli import cli


@pytest.fixture(scope="module")
def closed_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A book with January closed (kept pristine: each test works on a copy)."""
    book = closed_copy(tmp_path_factory.mktemp("tamper"), "2026-01")
    assert errors(book / "main.beancount") == []
    return book


@pytest.fixture
def book(closed_book: Path, tmp_path: Path) -> Path:
    return copy_book(closed_book, tmp_path)


@pytest.fixture(scope="module")
def closed_sidecar_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with ``store: book``: a sidecar beside each usage import file."""
    book = closed_copy(tmp_path_factory.mktemp("tamper-sidecars"), "2026-01", store="book")
    assert errors(book / "main.beancount") == []
    return book


def one(found: list[str], pattern: str) -> str:
    hits = [e for e in found if re.search(pattern, e)]
    assert hits, found
    return hits[0]


def test_deleting_the_close_file_is_an_error(book: Path) -> None:
    (book / "closes" / "2026-01.beancount").unlink()
    message = one(errors(book / "main.beancount"), "closed period 2026-01")
    assert "no close directive for it" in message and "closes/2026-01.manifest" in message


def test_dropping_the_include_of_the_closes_is_an_error(book: Path) -> None:
    ledger = book / "main.beancount"
    ledger.write_text(ledger.read_text().replace('include "closes/*.beancount"\n', ""))
    one(errors(ledger), r"closed period 2026-01: .* no close directive .*include "
                        r"\"closes/\*\.beancount\" dropped")


def test_dropping_the_lock_stage_is_an_error(book: Path) -> None:
    ledger = book / "main.beancount"
    text = ledger.read_text()
    line = next(x for x in text.splitlines() if x.startswith('plugin "tokenbooks.plugins.book"'))
    config = line.split(" ", 2)[2]
    five = [f'plugin "tokenbooks.plugins.{name}" {config}'
            for name in ("contracts", "revenue", "cogs", "invariants")]
    ledger.write_text(text.replace(line, "\n".join(five)))  # the lock line left out
    one(errors(ledger), r"months 2026-01 of the book are closed .* no plugin line runs "
                        r"tokenbooks\.plugins\.lock")


def test_sealing_an_edited_manifest_again_is_an_error(book: Path) -> None:
    manifest = book / "closes" / "2026-01.manifest"
    close_file = book / "closes" / "2026-01.beancount"
    record = json.loads((book / "reports" / "2026-01" / "lock.json").read_text())
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[1:]))  # an entry taken out of the month's manifest
    from tokenbooks.plugins.rules.manifest import digest
    text = close_file.read_text()
    old = re.search(r'fingerprint: "([0-9a-f]+)"', text).group(1)
    assert old == record["fingerprint"]
    close_file.write_text(text.replace(old, digest(manifest.read_text())))
    message = one(errors(book / "main.beancount"), "sealed again")
    assert "reports/2026-01/lock.json" in message


def test_deleting_or_cutting_a_sidecar_of_a_closed_month_is_an_error(
        closed_sidecar_book: Path, tmp_path: Path) -> None:
    book = copy_book(closed_sidecar_book, tmp_path)
    imports = sorted((book / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    assert imports
    sidecar = sidecar_for(imports[0])
    data = sidecar.read_bytes()
    sidecar.write_bytes(data[: len(data) // 2])  # cut short
    one(errors(book / "main.beancount"), r"closed period 2026-01: file changed after the "
                                         r"close: imports/.*\.events\.gz")
    sidecar.unlink()
    message = one(errors(book / "main.beancount"), r"closed period 2026-01: file removed")
    assert sidecar.name in message


def test_an_edited_fingerprint_header_of_a_closed_import_file_is_a_lock_error(
        book: Path) -> None:
    """With store: cache the fingerprint in the import file's header is what vouches for
    the derived index: the lock seals it with the file's bytes."""
    path = usage_file(book)
    declared = declared_fingerprint(path)
    assert declared is not None and declared.events == 40
    assert derived_path(path).exists() and not sidecar_for(path).exists()
    text = path.read_text()
    for forged in (fingerprint([f"evt-01-{i:04d}" for i in range(39)]),  # one id fewer
                   type(declared)(declared.events, "0" * 64)):  # another sha256
        path.write_text(text.replace(declared.line(), forged.line()))
        message = one(errors(book / "main.beancount"),
                      r"closed period 2026-01: file changed after the close")
        assert path.name in message
    path.write_text(text.replace(declared.line() + "\n", ""))  # the header line dropped
    one(errors(book / "main.beancount"), r"closed period 2026-01: file changed after the "
                                         rf"close: imports/{re.escape(path.name)}")
    path.write_text(text)
    assert errors(book / "main.beancount") == []


def test_a_deleted_cache_never_double_books_after_a_close(
        book: Path, closed_book: Path, tmp_path: Path) -> None:
    """The derived index deleted (a fresh clone, ``rm -rf .tokenbooks``) after January's
    close: importing January's source again, and a copy of it under another name with
    more events, books only the new events; the index comes back byte for byte."""
    ledger = book / "main.beancount"
    cache = book / ".tokenbooks"
    index = {p.name: p.read_bytes() for p in (cache / "index").iterdir()}
    assert len(index) == 2  # January's and February's usage
    imports_before = sorted(p.name for p in (book / "imports").iterdir())
    shutil.rmtree(cache)
    source = closed_book.parent / "sources" / "usage-2026-01.jsonl"
    result = CliRunner().invoke(cli, ["import", "--json", "--ledger", str(ledger), str(source)])
    assert result.exit_code == 0, result.output
    assert "rebuilt .tokenbooks/index/2026-01." in result.stderr
    (summary,) = json.loads(result.stdout)
    assert (summary["imported"], summary["duplicates"]) == (0, 40), summary
    assert sorted(p.name for p in (book / "imports").iterdir()) == imports_before
    assert {p.name: p.read_bytes() for p in (cache / "index").iterdir()} == index
    shutil.rmtree(cache)
    more = tmp_path / "usage-2026-01-again.jsonl"
    lines = source.read_text().splitlines(keepends=True)
    extra = json.loads(lines[0]) | {"event_id": "evt-02-late", "timestamp": "2026-02-02T10:00:00Z"}
    more.write_text("".join(lines) + json.dumps(extra) + "\n")
    result = CliRunner().invoke(cli, ["import", "--json", "--ledger", str(ledger), str(more)])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert (summary["imported"], summary["duplicates"]) == (1, 40), summary
    assert errors(ledger) == []
    assert close(ledger, "2026-02").exit_code == 0  # one booking of each event: it ties out


def usage_file(book: Path) -> Path:
    found = sorted((book / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    assert found
    return found[0]


def test_deleting_an_entry_of_a_closed_import_file_is_an_error(book: Path) -> None:
    """The file is fingerprinted whole; what changed in it is named entry by entry."""
    path = usage_file(book)
    blocks = path.read_text().split("\n\n")
    gone = blocks.pop(2)  # the header, the first entry, then this one
    path.write_text("\n\n".join(blocks))
    day, customer = re.search(r'^(\S+) custom "usage" "([^"]+)"', gone, re.MULTILINE).groups()
    message = one(errors(book / "main.beancount"),
                  r"closed period 2026-01: entry removed or changed after the close")
    assert f"{day} custom usage {customer}" in message and path.name in message


def test_cutting_a_closed_import_file_short_is_an_error(book: Path) -> None:
    path = usage_file(book)
    text = path.read_text()
    path.write_text(text[: text.rfind("\n2026-01-", 0, len(text) // 2) + 1])
    found = errors(book / "main.beancount")
    assert sum("closed period 2026-01: entry removed or changed after the close" in e
               and path.name in e for e in found) >= 5, found


def test_deleting_a_closed_import_file_or_dropping_its_include_is_an_error(
        book: Path) -> None:
    ledger = book / "main.beancount"
    path = usage_file(book)
    text = ledger.read_text()
    # every import file of the book but the month's usage
    others = sorted(p.name for p in (book / "imports").glob("*.beancount") if p != path)
    ledger.write_text(text.replace('include "imports/*.beancount"\n', "".join(
        f'include "imports/{name}"\n' for name in others)))
    one(errors(ledger), rf"closed period 2026-01: file imports/{re.escape(path.name)} gave "
                        rf"the book \d+ entries at the close, none now")
    ledger.write_text(text)
    path.unlink()
    one(errors(ledger), rf"closed period 2026-01: file removed after the close: "
                        rf"imports/{re.escape(path.name)}")


def test_an_entry_added_to_a_closed_import_file_is_an_error_in_any_month(book: Path) -> None:
    path = usage_file(book)
    path.write_text(path.read_text() + '\n2026-03-02 custom "usage" "acme" "gpt-4o" "chat" ""\n'
                                       '  input_tokens: 1000\n  events: 1\n')
    message = one(errors(book / "main.beancount"),
                  r"closed period 2026-01: entry added after the close: 2026-03-02")
    assert "a file of a closed period cannot change" in message


def test_editing_a_closed_invoice_is_an_error(book: Path) -> None:
    invoices = book / "invoices" / "2026-01.beancount"
    text = invoices.read_text()
    amount = re.search(r"Assets:Receivable:\S+\s+(\d+\.\d\d) USD", text).group(1)
    invoices.write_text(text.replace(f" {amount} USD", f" {float(amount) + 1:.2f} USD", 1))
    found = errors(book / "main.beancount")
    assert any("closed period 2026-01: entry changed after the close" in e
               and "invoices/2026-01.beancount" in e for e in found), found


def test_a_purchases_file_imported_again_under_another_name_is_an_error(
        book: Path, closed_book: Path, tmp_path: Path) -> None:
    again = tmp_path / "purchases-copy.csv"
    shutil.copy(closed_book.parent / "sources" / "purchases.csv", again)
    # the importer's own dedupe knows the payment ids: a copy of the entries, as a user
    # would paste them into a file of their own, is what bean-check must catch
    purchases = sorted((book / "imports").glob("*.purchases.csv.*.beancount"))
    assert purchases
    copy = book / "imports" / "2026-02.purchases-copy.beancount"
    copy.write_text(purchases[-1].read_text())
    found = errors(book / "main.beancount")
    message = one(found, r"payment '.*' is booked twice")
    assert copy.name in message or purchases[-1].name in message
    result = CliRunner().invoke(cli, ["import", "--ledger", str(book / "main.beancount"),
                                      str(again)])
    assert "duplicates" in result.output or result.exit_code != 0


@pytest.mark.parametrize("store", STORES)
def test_events_booked_in_two_import_files_fail_the_close(tmp_path: Path, store: str) -> None:
    ledger = build(tmp_path, store)  # January and February imported, nothing closed
    imports = ledger.parent / "imports"
    original = sorted(imports.glob("2026-01.usage-2026-01.jsonl.*.beancount"))[0]
    copy = imports / original.name.replace("2026-01.usage-2026-01", "2026-01.usage-copy")
    shutil.copy(original, copy)
    if store == "book":
        shutil.copy(sidecar_for(original), sidecar_for(copy))
    # (store: cache) the copy's derived index is missing: the close rebuilds it from the
    # source its header names, and the completeness check sees every id twice
    result = close(ledger, "2026-01")
    assert result.exit_code == 1
    assert ("index: rebuilt" in result.output) == (store == "cache"), result.output
    assert re.search(r"usage completeness: imports/2026-01\.usage-\S+: \d+ event ids of its "
                     r"index are in another event-id index of the month too \(booked twice\)",
                     result.output), result.output


def test_a_deleted_sidecar_fails_the_close_of_an_open_month(tmp_path: Path) -> None:
    ledger = build(tmp_path, "book")
    original = sorted((ledger.parent / "imports").glob("2026-01.usage-*.beancount"))[0]
    sidecar_for(original).unlink()
    result = close(ledger, "2026-01")
    assert result.exit_code == 1 and "without an event-id index" in result.output


def test_a_deleted_or_cut_derived_index_is_rebuilt_by_the_close(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    book = ledger.parent
    usage = sorted((book / "imports").glob("2026-01.usage-*.beancount"))[0]
    derived = derived_path(usage)
    kept = derived.read_bytes()
    derived.write_bytes(kept[: len(kept) // 2])  # cut short (a full disk, a crash)
    (book / ".tokenbooks" / "index" / derived_path(sorted(
        (book / "imports").glob("2026-02.usage-*.beancount"))[0]).name).unlink()
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    rebuilt = [line for line in result.output.splitlines() if line.startswith("index: ")]
    assert len(rebuilt) == 2 and "(40 events)" in rebuilt[0], result.output
    assert derived.read_bytes() == kept


def test_a_derived_index_that_cannot_be_rebuilt_fails_the_close(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    book = ledger.parent
    usage = sorted((book / "imports").glob("2026-01.usage-*.beancount"))[0]
    derived_path(usage).unlink()
    for archived in (book / "documents").rglob("*usage-2026-01*"):  # the source gone too
        archived.unlink()
    result = close(ledger, "2026-01")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"imports/{usage.name}: its event-id index" in result.output, result.output
    assert "cannot be rebuilt; 2026-01 was not closed" in result.output
    assert not (book / "closes" / "2026-01.beancount").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_in_a_git_book_the_tag_keeps_the_fingerprint_when_the_rest_is_rewritten(
        tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(ledger.parent), "-c", "user.name=T", "-c",
                        "user.email=t@example.com", *args], check=True, capture_output=True)

    ledger = build(tmp_path)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "the book")
    assert close(ledger, "2026-01").exit_code == 0
    book = ledger.parent
    # the manifest edited, its fingerprint sealed again in the close file and in lock.json
    from tokenbooks.plugins.rules.manifest import digest
    manifest = book / "closes" / "2026-01.manifest"
    manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[1:]))
    new = digest(manifest.read_text())
    close_file = book / "closes" / "2026-01.beancount"
    text = close_file.read_text()
    old = re.search(r'fingerprint: "([0-9a-f]+)"', text).group(1)
    close_file.write_text(text.replace(old, new))
    record = book / "reports" / "2026-01" / "lock.json"
    record.write_text(record.read_text().replace(old, new))
    message = one(errors(ledger), "sealed again")
    assert "git tag tokenbooks/close/2026-01" in message
