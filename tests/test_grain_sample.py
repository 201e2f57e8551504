"""The sample book at month grain against day grain (docs/grain.md): every account's
balance at each month end, the invoices and the inference cost the same; fewer usage
entries. And ``tokenbooks regrain`` back and forth, killed mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from samplekit import ROOT, copy_sample

from tokenbooks.plugins import reports
from tokenbooks.plugins.reports import invoices
from tokenbooks.scripts import loading, writing
from tokenbooks.scripts.cli import cli

MONTH_ENDS = ("2026-01-31", "2026-02-28", "2026-03-31")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def regrain(ledger: Path, grain: str) -> str:
    result = CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain", grain])
    assert result.exit_code == 0, result.output
    return result.output


def balances(entries) -> dict[str, dict[tuple[str, str], Decimal]]:
    out: dict[str, dict[tuple[str, str], Decimal]] = {}
    for end in MONTH_ENDS:
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for entry in entries:
            if entry.__class__.__name__ == "Transaction" and str(entry.date) <= end:
                for posting in entry.postings:
                    totals[(posting.account, posting.units.currency)] += posting.units.number
        out[end] = {k: v for k, v in totals.items() if v}
    return out


def usage_count(entries) -> int:
    return sum(1 for e in entries if e.__class__.__name__ == "Custom" and e.type == "usage")


def snapshot(book: Path) -> dict[str, bytes]:
    return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
            if p.is_file() and p.name != writing.LOCK_FILE
            and not p.name.endswith(".picklecache")}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    day = copy_sample(tmp_path_factory.mktemp("day"))
    month = copy_sample(tmp_path_factory.mktemp("month"))
    before = snapshot(month.parent)
    regrain(month, "month")
    return day, month, before


def test_month_grain_keeps_every_balance_and_invoice(books):
    day, month, _ = books
    day_entries, day_errors, day_options = loading.load(day)
    month_entries, month_errors, month_options = loading.load(month)
    assert [e.message for e in month_errors] == [e.message for e in day_errors]
    assert "'grain': 'month'" in month.read_text()
    # 1,944 day aggregates become 536 (the sample: acme, globex, initech and lumen at
    # month grain, hooli's hard stop and umbrella's top-up at day grain)
    assert (usage_count(day_entries), usage_count(month_entries)) == (1944, 536)
    assert balances(month_entries) == balances(day_entries)
    day_ledger = reports.Ledger(day_entries, day_options)
    month_ledger = reports.Ledger(month_entries, month_options)
    for period in ("2026-01", "2026-02", "2026-03"):
        assert invoices.compute(month_ledger.month(period)) == \
            invoices.compute(day_ledger.month(period))


def test_regrain_round_trip_gives_the_day_books_back(books, tmp_path):
    day, _, _ = books
    ledger = copy_sample(tmp_path)
    before = snapshot(ledger.parent)
    regrain(ledger, "month")
    assert "regrained to month: 0 file(s)" in regrain(ledger, "month")  # converged
    regrain(ledger, "day")
    after = snapshot(ledger.parent)
    changed = {k for k in before if before[k] != after.get(k)}
    # the option is now written out; every import file is byte for byte as it was
    assert changed == {"main.beancount"}
    assert "'grain': 'day'" in (ledger.parent / "main.beancount").read_text()


def test_month_to_day_refuses_without_the_archived_source(tmp_path):
    ledger = copy_sample(tmp_path)
    regrain(ledger, "month")
    for path in (ledger.parent / "documents").rglob("*usage-2026-02*"):
        path.unlink()
    result = CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain", "day"])
    assert result.exit_code == 1
    assert ("imports/2026-02.usage-2026-02.jsonl.55cd72e4.beancount: its source "
            "usage-2026-02.jsonl (sha256 55cd72e4") in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kill_after", ["1:tmp", 1, 2, "2:tmp", 3, "4:tmp"])
def test_regrain_killed_mid_run_converges(books, tmp_path, kill_after):
    _, month, before = books
    ledger = copy_sample(tmp_path)
    env = {**ENV, writing.FAULT_VARIABLE: str(kill_after)}
    killed = subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli", "regrain",
                             "--ledger", str(ledger), "--grain", "month"],
                            env=env, capture_output=True, timeout=300)
    assert killed.returncode == 137, killed.stderr
    regrain(ledger, "month")
    assert snapshot(ledger.parent) == snapshot(month.parent)
    assert snapshot(ledger.parent) != before


def test_regrain_leaves_closed_months_as_they_are(books, tmp_path):
    _, month, _ = books
    ledger = copy_sample(tmp_path)
    regrain(ledger, "month")
    closed = CliRunner().invoke(cli, ["close", "--ledger", str(ledger), "--period",
                                      "2026-01"])
    assert closed.exit_code == 0, closed.output
    january = ledger.parent / "imports" / "2026-01.usage-2026-01.jsonl.be1b2b68.beancount"
    kept = january.read_bytes()
    output = regrain(ledger, "day")
    assert "2026-01.usage" not in output and "2026-02.usage" in output
    assert january.read_bytes() == kept  # closed at month grain, stays so
    _, errors, _ = loading.load(ledger)
    assert [e.message for e in errors] == []


def test_month_to_day_refuses_a_source_that_gives_other_counts(tmp_path):
    ledger = copy_sample(tmp_path)
    regrain(ledger, "month")
    march = ledger.parent / "imports" / "2026-03.usage-2026-03.jsonl.549cd449.beancount"
    text = march.read_text()
    march.write_text(text.replace("  events: ", "  events: 1", 1))  # not what it extracts to
    before = snapshot(ledger.parent)
    result = CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain", "day"])
    assert result.exit_code == 1
    assert ("imports/2026-03.usage-2026-03.jsonl.549cd449.beancount: its archived source "
            "documents/") in result.output
    assert "gives other counts for 2026-03 than the file holds" in result.output
    assert "nothing was regrained" in result.output
    assert snapshot(ledger.parent) == before  # not January's or February's file either
