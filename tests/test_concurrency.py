"""One writer at a time: two ``tokenbooks import`` (or an import and a close) started
together book every event once; a command that finds the book locked waits, saying once
who holds it, or with ``--no-wait`` exits 1 naming the holder. The imports race on a
book of each event-id index store (docs/event-index.md): ``cache`` (a new book's) and
``book`` (sidecars, older books)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import ROOT, STORES, build, errors, event, write_jsonl

from tokenbooks.importers.index import derived_path, index_file, read_sidecar, sidecar_for
from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.scripts import writing
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.loading import load

TOKENBOOKS = [sys.executable, "-m", "tokenbooks.scripts.cli"]  # this checkout's command
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
TIMEOUT = 120


@pytest.fixture(scope="module", params=STORES)
def fresh(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    folder = tmp_path_factory.mktemp("concurrency") / "book"
    assert CliRunner().invoke(cli, ["init", str(folder), "--start", "2026-01-01",
                                    "--index", request.param]).exit_code == 0
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, folder / "contracts" / sub)
    return folder


@pytest.fixture
def book(fresh: Path, tmp_path: Path) -> Path:
    shutil.copytree(fresh, tmp_path / "book")
    return tmp_path / "book"


def events(first: int, last: int) -> list[dict]:
    return [event(i, 1, 1 + i % 9) for i in range(first, last)]


def start(book: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*TOKENBOOKS, *args[:1], "--ledger",
                             str(book / "main.beancount"), *args[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def booked(book: Path) -> tuple[int, list[str]]:
    """Events in the usage entries, and the ids of every event-id index (with repeats)."""
    entries, errs, _ = load(book / "main.beancount")
    assert errs == []
    table = parse_usage(entries)
    cache = "store: cache" in (book / "importers.yaml").read_text()
    ids = []
    for path in sorted((book / "imports").glob("*.beancount")):
        if 'custom "usage"' not in path.read_text(encoding="utf-8"):
            continue
        found = index_file(path)  # a sidecar, or a derived index matching the fingerprint
        assert found == (derived_path(path) if cache else sidecar_for(path)), path
        ids += read_sidecar(found)
    return sum(u.events for u in table.records()), ids


@pytest.mark.parametrize("round_", range(3))
def test_two_imports_of_the_same_file_book_it_once(book: Path, tmp_path: Path,
                                                   round_: int) -> None:
    source = write_jsonl(tmp_path / "usage.jsonl", events(0, 80))
    first, second = start(book, "import", str(source)), start(book, "import", str(source))
    results = [finish(first), finish(second)]
    assert [code for code, _, _ in results] == [0, 0], results
    count, ids = booked(book)
    assert count == 80 and len(ids) == 80 and len(set(ids)) == 80
    assert len(list((book / "imports").glob("*.beancount"))) == 2  # README and one file


@pytest.mark.parametrize("round_", range(3))
def test_two_imports_of_overlapping_files_book_each_event_once(book: Path, tmp_path: Path,
                                                               round_: int) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", events(0, 60))
    two = write_jsonl(tmp_path / "two.jsonl", events(40, 100))
    first, second = start(book, "import", str(one)), start(book, "import", str(two))
    results = [finish(first), finish(second)]
    assert [code for code, _, _ in results] == [0, 0], results
    count, ids = booked(book)
    assert count == 100 and sorted(ids) == sorted(e["event_id"] for e in events(0, 100))


HOLDER = textwrap.dedent("""
    import sys
    from tokenbooks.scripts.writing import BookLock
    with BookLock(sys.argv[1], "tokenbooks close --period 2026-01 (a test's holder)"):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes it
""")


@contextmanager
def held(book: Path) -> Iterator[subprocess.Popen[str]]:
    """The book's lock held by another process until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(book)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=TIMEOUT)


def test_no_wait_exits_1_naming_the_holder(book: Path, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "usage.jsonl", events(0, 10))
    before = sorted(p.name for p in (book / "imports").iterdir())
    with held(book) as holder:
        code, out, err = finish(start(book, "import", "--no-wait", str(source)))
        assert code == 1, (out, err)
        (line,) = err.strip().splitlines()
        assert f"pid {holder.pid}" in line and "tokenbooks close --period 2026-01" in line
        assert "--no-wait" in line and "Traceback" not in err
        code, out, err = finish(start(book, "close", "--period", "2026-01", "--no-wait"))
        assert code == 1 and f"pid {holder.pid}" in err, (out, err)
        assert "FAILED" in err and "Traceback" not in err
    assert sorted(p.name for p in (book / "imports").iterdir()) == before
    # the lock file holds no holder once it is released
    assert (book / writing.LOCK_FILE).read_text() == ""


def test_a_second_command_waits_saying_once_who_holds_the_book(book: Path,
                                                              tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "usage.jsonl", events(0, 10))
    with held(book) as holder:
        waiting = start(book, "import", "--json", str(source))
        assert waiting.stderr is not None
        line = waiting.stderr.readline()  # said before it blocks
        assert "waiting" in line and f"pid {holder.pid}" in line
        assert waiting.poll() is None  # still waiting while the lock is held
    code, out, err = finish(waiting)
    assert code == 0, err
    assert "waiting" not in err  # said once
    assert json.loads(out)[0]["imported"] == 10


def test_an_import_and_a_close_at_once_leave_a_book_without_errors(tmp_path: Path) -> None:
    ledger = build(tmp_path)  # January and February of closekit imported
    _, before = booked(ledger.parent)
    more = write_jsonl(tmp_path / "more.jsonl", [event(i, 2, 3) for i in range(100, 120)])
    closing = start(ledger.parent, "close", "--period", "2026-01")
    importing = start(ledger.parent, "import", str(more))
    (code, out, err), (code2, out2, err2) = finish(closing), finish(importing)
    assert code == 0, out + err
    assert code2 == 0, out2 + err2
    assert errors(ledger) == []
    count, ids = booked(ledger.parent)
    assert count == len(before) + 20 and len(set(ids)) == len(ids) == count
