"""Faults while the book is written: ``tokenbooks import`` and ``tokenbooks close`` killed
(``kill -9``) at many points, a full disk at every write, a file size limit. After each,
a re-run ends with exactly the files of an uninterrupted run (every file of the book's
folder but the lock file, byte for byte) and the book passes bean-check; in between,
the book holds whole files only, and no event-id index without its entries.

Kill points: right after each file lands and just before each rename, through the
writer's test hook (``TOKENBOOKS_FAULT_AFTER``, see ``scripts.writing``), and at seeded
random delays spread over an uninterrupted run. The killed runs are subprocesses (the
``tokenbooks`` command of this checkout, ``python -m tokenbooks.scripts.cli``, whatever
copy of tokenbooks the environment has installed), two at a time; each re-run is the
same command, in process.

The book is a new book (``store: cache``: the event-id index derived under
``.tokenbooks/index/``); ``import-sidecars`` is the same import into a book with
``store: book`` (a sidecar beside each import file), killed after each file.
"""

from __future__ import annotations

import errno
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import PURCHASES, ROOT, errors, month_events, write_jsonl, write_reports

from tokenbooks.scripts import writing
from tokenbooks.scripts.cli import cli

TOKENBOOKS = [sys.executable, "-m", "tokenbooks.scripts.cli"]  # the checkout's
BEAN_CHECK = Path(sys.executable).parent / "bean-check"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
SEED = 20260131
RANDOM_KILLS = 8
WORKERS = 2
TIMEOUT = 120

def snapshot(book: Path) -> dict[str, bytes]:
    """Every file of the book's folder but the lock file (and Beancount's cache)."""
    return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
            if p.is_file() and p.name != writing.LOCK_FILE
            and not p.name.endswith(".picklecache")}


@dataclass
class Scenario:
    """A starting book, the command to run on it, and what an uninterrupted run gives."""

    name: str
    start: Path  # the book's folder before the command
    args: list[str]  # after ``tokenbooks``, with {ledger} for the copy's main.beancount
    before: dict[str, bytes]
    after: dict[str, bytes]
    seconds: float  # an uninterrupted run, as a subprocess
    operations: int  # files it writes or removes (the hook's count)

    def argv(self, book: Path) -> list[str]:
        return [a.replace("{ledger}", str(book / "main.beancount")) for a in self.args]


@dataclass
class Trial:
    label: str
    book: Path
    status: int | None = None  # of the interrupted run
    killed: bool = False
    partial: bool = False  # the interrupted book was neither the one before nor after


def run_command(scenario: Scenario, book: Path, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOKENBOOKS, *scenario.argv(book)], capture_output=True,
                          text=True, timeout=TIMEOUT, env=env or ENV, cwd=book.parent)


def make_scenario(name: str, start: Path, args: list[str], extra_operations: int
                  ) -> Scenario:
    book = start.parent / f"{name}-reference"
    shutil.copytree(start, book)
    began = time.perf_counter()
    done = subprocess.run([*TOKENBOOKS, *[a.replace("{ledger}", str(
        book / "main.beancount")) for a in args]], capture_output=True, text=True,
        timeout=TIMEOUT, cwd=start.parent, env=ENV)
    seconds = time.perf_counter() - began
    assert done.returncode == 0, done.stdout + done.stderr
    check = subprocess.run([str(BEAN_CHECK), str(book / "main.beancount")],
                           capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert check.returncode == 0, check.stdout + check.stderr
    before, after = snapshot(start), snapshot(book)
    changed = sum(1 for k, v in after.items() if before.get(k) != v)
    removed = sum(1 for k in before if k not in after)
    return Scenario(name, start, args, before, after, seconds,
                    changed + removed + extra_operations)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    """``import``: the sources of tests/closekit.py into a new book; ``close``: January
    of that book closed."""
    folder = tmp_path_factory.mktemp("faults")
    fresh = folder / "fresh"
    assert CliRunner().invoke(cli, ["init", str(fresh), "--start", "2026-01-01"]
                              ).exit_code == 0
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, fresh / "contracts" / sub)
    sources = folder / "sources"
    sources.mkdir()
    write_jsonl(sources / "usage-2026-01.jsonl", month_events(1, 4))
    write_jsonl(sources / "usage-2026-02.jsonl", month_events(2, 3))
    (sources / "purchases.csv").write_text(PURCHASES, encoding="utf-8")
    write_reports(sources, fresh / "contracts")
    files = sorted(str(p) for p in sources.iterdir())
    imported = make_scenario("import", fresh, ["import", "--ledger", "{ledger}", *files], 0)
    sidecars = folder / "fresh-sidecars"
    shutil.copytree(fresh, sidecars)
    (sidecars / "importers.yaml").write_text("index: {store: book}\n", encoding="utf-8")
    imported_sidecars = make_scenario("import-sidecars", sidecars,
                                      ["import", "--ledger", "{ledger}", *files], 0)
    assert any(name.startswith(".tokenbooks/index/") for name in imported.after)
    assert not any(name.startswith(".tokenbooks/") for name in imported_sidecars.after)
    # the close writes and later removes its marker (closes/.2026-01.closing)
    closed = make_scenario("close", folder / "import-reference",
                           ["close", "--ledger", "{ledger}", "--period", "2026-01"], 2)
    return {"import": imported, "close": closed, "import-sidecars": imported_sidecars}


def whole_files_only(scenario: Scenario, book: Path) -> None:
    """The interrupted book: each file is the one before or the one after, whole (or a
    temporary file, or the close's marker), and no sidecar is without its entries."""
    now = snapshot(book)
    for name, content in now.items():
        base = Path(name).name
        if writing.is_temporary(Path(name)) or base.endswith(".closing"):
            continue
        assert content in (scenario.before.get(name), scenario.after.get(name)), (
            f"{name}: neither the file before the run nor the one after it")
        if name.endswith((".events.gz", ".events.zst")):  # a sidecar, or a derived index
            entries = "imports/" + base.rpartition(".events.")[0] + ".beancount"  # (cache)
            assert now.get(entries) == scenario.after[entries], (
                f"{name} without its entries {entries}")


def rerun(scenario: Scenario, book: Path) -> None:
    result = CliRunner().invoke(cli, scenario.argv(book))
    assert result.exit_code == 0, result.output


def recovered(scenario: Scenario, book: Path) -> bool:
    if snapshot(book) != scenario.after:
        return False
    return errors(book / "main.beancount") == []


def interrupt(scenario: Scenario, trial: Trial, env: dict[str, str] | None,
              delay: float | None) -> Trial:
    shutil.copytree(scenario.start, trial.book)
    if delay is None:
        done = run_command(scenario, trial.book, env)
        trial.status = done.returncode
        return trial
    process = subprocess.Popen([*TOKENBOOKS, *scenario.argv(trial.book)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=trial.book.parent, env=ENV)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        trial.killed = True
    trial.status = process.wait(timeout=TIMEOUT)
    if trial.status == 0:
        # The run ended between the timeout and the signal: it finished, nothing was killed.
        trial.killed = False
    return trial


def kill_trials(scenario: Scenario, folder: Path, points: list[int], before_rename: list[int]
                ) -> tuple[int, int]:
    """Run the trials (interrupted runs two at a time), check each; (trials, recovered)."""
    plans: list[tuple[Trial, dict[str, str] | None, float | None]] = []
    for n in points:
        env = {**ENV, writing.FAULT_VARIABLE: str(n)}
        plans.append((Trial(f"after file {n}", folder / f"after-{n}"), env, None))
    for n in before_rename:
        env = {**ENV, writing.FAULT_VARIABLE: f"{n}:tmp"}
        plans.append((Trial(f"before rename {n}", folder / f"tmp-{n}"), env, None))
    rng = random.Random(f"{SEED}-{scenario.name}")
    for i in range(RANDOM_KILLS):
        delay = scenario.seconds * rng.uniform(0.15, 1.1)
        plans.append((Trial(f"kill at {delay:.2f} s", folder / f"kill-{i}"), None, delay))
    with ThreadPoolExecutor(WORKERS) as pool:
        trials = list(pool.map(lambda plan: interrupt(scenario, *plan), plans))
    good = 0
    for trial in trials:
        if trial.killed or trial.status != 0:
            assert trial.status in (137, -signal.SIGKILL), (trial.label, trial.status)
        whole_files_only(scenario, trial.book)
        trial.partial = snapshot(trial.book) not in (scenario.before, scenario.after)
        rerun(scenario, trial.book)
        assert recovered(scenario, trial.book), trial.label
        good += 1
    killed = [t for t in trials if t.killed]
    print(f"\n{scenario.name}: {len(trials)} interrupted runs ({len(killed)} killed at a "
          f"random time, {sum(t.partial for t in trials)} left a book part written), "
          f"{good} recovered; an uninterrupted run takes {scenario.seconds:.2f} s")
    return len(trials), good


def test_import_killed_anywhere_converges(scenarios: dict[str, Scenario],
                                          tmp_path: Path) -> None:
    scenario = scenarios["import"]
    assert scenario.operations >= 10
    points = list(range(1, scenario.operations + 1))
    trials, good = kill_trials(scenario, tmp_path, points, [1, 2, 3, 6, 9,
                                                           scenario.operations])
    assert trials >= 20 and good == trials


def test_import_into_a_sidecar_book_killed_after_any_file_converges(
        scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    """store: book (older books): the sidecar written after its entries, as before."""
    scenario = scenarios["import-sidecars"]
    assert any(name.endswith(".events.gz") for name in scenario.after)
    points = list(range(1, scenario.operations + 1))
    trials, good = kill_trials(scenario, tmp_path, points, [2, scenario.operations])
    assert trials >= 10 and good == trials


def test_close_killed_anywhere_converges(scenarios: dict[str, Scenario],
                                         tmp_path: Path) -> None:
    scenario = scenarios["close"]
    last = scenario.operations  # ... marker, manifest, close file, lock.json, marker gone
    assert last >= 25
    points = sorted({1, 2, 7, 13, 19, *range(last - 6, last + 1)})
    trials, good = kill_trials(scenario, tmp_path, points, [1, last - 3, last - 2, last - 1])
    assert trials >= 20 and good == trials


def test_the_hook_counts_every_file_the_commands_write(scenarios: dict[str, Scenario],
                                                       tmp_path: Path) -> None:
    """One past the last file: the run is whole (so the trials above cover every file)."""
    for scenario in scenarios.values():
        book = tmp_path / scenario.name
        shutil.copytree(scenario.start, book)
        env = {**ENV, writing.FAULT_VARIABLE: str(scenario.operations + 1)}
        done = run_command(scenario, book, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert snapshot(book) == scenario.after


# --- a full disk --------------------------------------------------------------------------


class FullDisk:
    """A file object that takes half of what it is given, then fails as a full disk."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, data) -> int:
        self.out.write(bytes(data)[: max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextmanager
def disk_full_at(k: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """The k-th file the writer opens fails half way through (ENOSPC)."""
    real = writing.atomic_file
    opened: list[Path] = []

    @contextmanager
    def failing(path: Path):
        opened.append(path)
        with real(path) as out:
            yield FullDisk(out) if len(opened) == k else out

    with monkeypatch.context() as patch:
        patch.setattr(writing, "atomic_file", failing)
        yield opened


@pytest.mark.parametrize("name", ["import", "close"])
def test_a_full_disk_at_any_write_is_one_clear_line_and_a_rerun_converges(
        scenarios: dict[str, Scenario], name: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = scenarios[name]
    writes = scenario.operations - (1 if name == "close" else 0)  # a removal is no write
    for k in range(1, writes + 1):
        book = tmp_path / f"full-{k}"
        shutil.copytree(scenario.start, book)
        with disk_full_at(k, monkeypatch) as opened:
            result = CliRunner().invoke(cli, scenario.argv(book))
        assert len(opened) == k
        assert result.exit_code == 1, (k, result.output)
        lines = [line for line in result.output.splitlines()
                 if "cannot write" in line]
        assert len(lines) == 1, result.output
        assert "No space left on device" in lines[0] and str(opened[-1]) in lines[0]
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not [p for p in book.rglob("*") if writing.is_temporary(p)]
        whole_files_only(scenario, book)
        rerun(scenario, book)
        assert recovered(scenario, book), k


def test_a_file_size_limit_is_a_clear_error_and_a_rerun_converges(
        scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    """Under ``ulimit -f`` (a real write cut short by the system: EFBIG)."""
    scenario = scenarios["import"]
    book = tmp_path / "book"
    shutil.copytree(scenario.start, book)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    done = subprocess.run([*TOKENBOOKS, *scenario.argv(book)], capture_output=True,
                          text=True, timeout=TIMEOUT, preexec_fn=limit, env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.strip()]
    assert line.startswith("Error: cannot write ") and "File too large" in line
    assert not [p for p in book.rglob("*") if writing.is_temporary(p)]
    whole_files_only(scenario, book)
    rerun(scenario, book)
    assert recovered(scenario, book)
