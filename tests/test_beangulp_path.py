"""The beangulp path as a first-class path (issue 15): a fresh ``tokenbooks init`` book
ships ``import.py`` and Fava's import config; ``python import.py extract`` twice books
no event twice (the second run finds the events of the first, booked without an
event-id index, through their source); quarantined rows and conflicts are reported as a
``custom "tokenbooks" "warning"`` entry; Fava's ingest functions do the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from beancount import loader
from beancount.core import data
from test_import_cmd import event, jsonl, new_book

from tokenbooks.plugins.entries.usage import parse_usage


def extract(book: Path, *paths: Path) -> str:
    done = subprocess.run([sys.executable, "import.py", "extract", "-e", "main.beancount",
                           *map(str, paths)], cwd=book, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def booked_events(book: Path) -> int:
    entries, errors, _ = loader.load_file(str(book / "main.beancount"))
    assert errors == [], [e.message for e in errors]
    return sum(u.events for u in parse_usage(entries).records())


def test_init_writes_import_py_and_the_fava_import_config(tmp_path: Path) -> None:
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    assert (book / "import.py").is_file() and (book / "incoming").is_dir()
    text = ledger.read_text(encoding="utf-8")
    assert 'custom "fava-option" "import-config" "import.py"' in text
    assert 'custom "fava-option" "import-dirs" "incoming"' in text


def test_extract_twice_books_no_event_twice(tmp_path: Path) -> None:
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    source = jsonl(book / "incoming" / "usage-2026-03.jsonl", [event(i) for i in range(12)])
    first = extract(book, book / "incoming")
    assert 'custom "usage"' in first
    (book / "imports" / "beangulp-1.beancount").write_text(first, encoding="utf-8")
    assert booked_events(book) == 12
    # the same file again, and an overlapping export with 3 new events
    overlap = jsonl(book / "incoming" / "usage-more.jsonl",
                    [event(i) for i in range(9, 15)])
    second = extract(book, source, overlap)
    (book / "imports" / "beangulp-2.beancount").write_text(second, encoding="utf-8")
    assert booked_events(book) == 15
    # after beangulp's archive the source is found in documents/
    done = subprocess.run([sys.executable, "import.py", "archive", "-o", "documents",
                           str(book / "incoming")], cwd=book, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    again = jsonl(tmp_path / "usage-2026-03-copy.jsonl", [event(i) for i in range(15)])
    third = extract(book, again)
    assert 'custom "usage"' not in third.replace('; 2026', '')  # nothing new
    (book / "imports" / "beangulp-3.beancount").write_text(third, encoding="utf-8")
    assert booked_events(book) == 15


def test_quarantined_rows_and_conflicts_are_reported(tmp_path: Path) -> None:
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    jsonl(book / "incoming" / "a.jsonl", [event(1), event(2)])
    (book / "imports" / "b1.beancount").write_text(extract(book, book / "incoming"),
                                                   encoding="utf-8")
    done = subprocess.run([sys.executable, "import.py", "archive", "-o", "documents",
                           str(book / "incoming")], cwd=book, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    bad = jsonl(tmp_path / "bad.jsonl", [event(3, customer="nobody"),
                                         event(2, output_tokens=999), event(4)])
    out = extract(book, bad)
    assert 'custom "tokenbooks" "warning" "bad.jsonl: 2 row(s) not imported' in out
    assert "line 1: customer: unknown customer 'nobody'" in out
    assert "line 2: event_id: conflict: event id 'evt-00002'" in out


def test_favas_import_page_functions(tmp_path: Path) -> None:
    from fava.core.ingest import extract_from_file, load_import_config

    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    source = jsonl(book / "incoming" / "u.jsonl", [event(i) for i in range(5)])
    config = load_import_config(book / "import.py")
    existing, _, _ = loader.load_file(str(ledger))
    (wrapped,) = [w for w in config.importers.values() if w.identify(source)]
    entries = extract_from_file(wrapped, source, existing)
    usage = [e for e in entries if isinstance(e, data.Custom) and e.type == "usage"]
    assert sum(e.meta["events"] for e in usage) == 5
    # saved into the book as Fava would (here: a file the book includes), then again
    from beancount.parser import printer
    (book / "imports" / "fava.beancount").write_text(
        "".join(printer.format_entry(e) + "\n" for e in entries), encoding="utf-8")
    existing, errors, _ = loader.load_file(str(ledger))
    assert errors == []
    config = load_import_config(book / "import.py")  # Fava reloads it
    (wrapped,) = [w for w in config.importers.values() if w.identify(source)]
    again = extract_from_file(wrapped, source, existing)
    assert [e for e in again if isinstance(e, data.Custom) and e.type == "usage"] == []
    assert json.dumps(booked_events(book)) == "5"


def test_usage_booked_without_index_and_without_its_source_is_a_warning(tmp_path: Path) -> None:
    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    jsonl(book / "incoming" / "a.jsonl", [event(1)])
    (book / "imports" / "b1.beancount").write_text(extract(book, book / "incoming"),
                                                   encoding="utf-8")
    (book / "incoming" / "a.jsonl").unlink()  # neither archived nor kept
    out = extract(book, jsonl(tmp_path / "b.jsonl", [event(5)]))
    assert "has no event-id index" in out and "not in documents/" in out
