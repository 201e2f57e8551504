"""``tokenbooks close`` on a small book: each step, each reconciliation failing when it
should, the lock, late usage, idempotence and order."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import (
    PURCHASES,
    ROOT,
    build,
    close,
    errors,
    month_events,
    snapshot,
    write_jsonl,
    write_reports,
)

from tokenbooks.scripts.cli import cli

REPORTS = ("checks", "rollforward", "revenue", "profitability", "credits", "rpo", "breakage",
           "modifications", "invoices", "dunning", "completeness", "cogs")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """January and February imported, nothing closed."""
    return build(tmp_path_factory.mktemp("close"))


@pytest.fixture(scope="module")
def closed_base(base: Path, tmp_path_factory) -> Path:
    """The same book with January closed."""
    target = tmp_path_factory.mktemp("closed") / "book"
    shutil.copytree(base.parent, target)
    result = close(target / "main.beancount", "2026-01")
    assert result.exit_code == 0, result.output
    return target / "main.beancount"


def copy(ledger: Path, tmp_path: Path) -> Path:
    shutil.copytree(ledger.parent, tmp_path / "book")
    return tmp_path / "book" / "main.beancount"


@pytest.fixture
def book(base: Path, tmp_path: Path) -> Path:
    return copy(base, tmp_path)


@pytest.fixture
def closed(closed_base: Path, tmp_path: Path) -> Path:
    return copy(closed_base, tmp_path)


def test_close_invoices_reports_and_locks(closed: Path) -> None:
    root = closed.parent
    text = (root / "invoices" / "2026-01.beancount").read_text()
    assert '2026-01-31 custom "invoice-run" "2026-01"' in text
    assert "INV-2026-01-GLOBEX" in text and "INV-2026-01-INITECH" in text
    assert "due: 2026-03-02" in text  # 30 days of payment terms
    initech = text[text.index("INV-2026-01-INITECH for"):]
    assert 'stream: "commitment"' in initech  # the $500 minimum's shortfall is billed
    for name in REPORTS:
        assert (root / "reports" / "2026-01" / f"{name}.csv").exists()
        doc = json.loads((root / "reports" / "2026-01" / f"{name}.json").read_text())
        assert doc["report"] == name and doc["period"] == "2026-01"
    summary = (root / "reports" / "2026-01" / "summary.md").read_text()
    assert "Status: tied out." in summary
    assert '2026-01-31 custom "close" "2026-01"' in (root / "closes" / "2026-01.beancount"
                                                      ).read_text()
    assert errors(closed) == []


def test_invoices_clear_unbilled_and_tie_to_the_book(closed: Path) -> None:
    rows = json.loads((closed.parent / "reports" / "2026-01" / "invoices.json").read_text())
    totals = {r["invoice"]: r["amount"] for r in rows["rows"] if r["line"] == "total"}
    assert totals["INV-2026-01-INITECH"] == "500.00"
    lines = [r for r in rows["rows"] if r["invoice"] == "INV-2026-01-GLOBEX"
             and r["line"] != "total"]
    assert {r["stream"] for r in lines} >= {"usage", "actions"}
    assert sum(float(r["amount"]) * 100 for r in lines) == pytest.approx(
        float(totals["INV-2026-01-GLOBEX"]) * 100)
    checks = json.loads((closed.parent / "reports" / "2026-01" / "checks.json").read_text())
    assert {r["check"]: r["status"] for r in checks["rows"]} == {
        "quarantine": "ok", "usage completeness": "ok", "unbilled": "ok", "invoices": "ok", "cogs": "ok",
        "rollforward": "ok"}


def test_second_close_changes_nothing(closed: Path) -> None:
    before = snapshot(closed.parent)
    result = close(closed, "2026-01")
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    assert snapshot(closed.parent) == before


def test_out_of_order_close_is_refused(book: Path) -> None:
    result = close(book, "2026-02")
    assert result.exit_code == 1
    assert "2026-01 is not closed" in result.output
    assert not (book.parent / "closes" / "2026-02.beancount").exists()


def test_next_month_closes_after_the_first(closed: Path) -> None:
    result = close(closed, "2026-02")
    assert result.exit_code == 0, result.output
    roll = json.loads((closed.parent / "reports" / "2026-02" / "rollforward.json").read_text())
    total = roll["rows"][-1]
    january = json.loads((closed.parent / "reports" / "2026-01" / "rollforward.json"
                          ).read_text())["rows"][-1]
    assert total["opening"] == january["closing"]
    # 50-8(b): February's prepaid revenue all came out of January's balance
    assert total["revenue_from_opening_50_8b"] == total["revenue"]


def test_lock_refuses_an_edit_of_a_closed_month(closed: Path) -> None:
    usage = next((closed.parent / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    text = usage.read_text()
    edited = re.sub(r"input_tokens: (\d+)", lambda m: f"input_tokens: {int(m[1]) + 1}", text,
                    count=1)
    usage.write_text(edited)
    found = errors(closed)
    assert any("closed period 2026-01: entry changed after the close" in e
               and usage.name in e for e in found), found
    result = close(closed, "2026-02")
    assert result.exit_code == 1 and "FAILED at check" in result.output


def test_lock_refuses_an_entry_added_to_a_closed_month(closed: Path) -> None:
    extra = closed.parent / "imports" / "manual.beancount"
    extra.write_text('2026-01-20 * "Manual" "late fix"\n  Assets:Bank  1.00 USD\n'
                     '  Income:Revenue:Usage  -1.00 USD\n')
    found = errors(closed)
    assert any("entry added after the close" in e and "manual.beancount:1" in e
               for e in found), found


def test_lock_refuses_a_contract_change_that_alters_a_closed_month(closed: Path) -> None:
    book = closed.parent / "contracts" / "customers" / "globex.yaml"
    text = book.read_text()
    assert "discount: 0.10" in text
    book.write_text(text.replace("discount: 0.10", "discount: 0.20"))
    found = errors(closed)
    assert any("closed period 2026-01" in e and "Globex" in e for e in found), found


def test_late_usage_is_booked_in_the_open_month(closed: Path, tmp_path: Path) -> None:
    late = write_jsonl(tmp_path / "late.jsonl", [
        {"event_id": "late-1", "timestamp": "2026-01-15T10:00:00Z", "customer": "globex",
         "model": "gpt-4o", "feature": "chat", "input_tokens": 5000, "output_tokens": 100}])
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "--ledger", str(closed), str(late)])
    assert result.exit_code == 0, result.output
    written = next((closed.parent / "imports").glob("2026-01.late.jsonl.*.beancount"))
    text = written.read_text()
    assert '2026-02-01 custom "usage" "globex" "gpt-4o" "chat"' in text
    assert "original_date: 2026-01-15" in text and 'prior_period: "2026-01"' in text
    assert errors(closed) == []
    again = runner.invoke(cli, ["import", "--ledger", str(closed), str(late), "--json"])
    assert json.loads(again.output)[0]["duplicates"] == 1
    result = close(closed, "2026-02")
    assert result.exit_code == 0, result.output
    rows = json.loads((closed.parent / "reports" / "2026-02" / "completeness.json").read_text())
    globex = next(r for r in rows["rows"] if r["name"] == "globex")
    assert globex["prior_period_events"] == 1


def test_missing_usage_day_fails_completeness(book: Path) -> None:
    usage = next((book.parent / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    text = usage.read_text()
    kept = "\n\n".join(block for block in text.split("\n\n")
                       if not block.startswith("2026-01-03 custom"))
    assert kept != text
    usage.write_text(kept)
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "FAILED at reconcile" in result.output
    assert "usage completeness" in result.output and "missing from the usage sub-ledger" in (
        result.output)
    assert not (book.parent / "closes" / "2026-01.beancount").exists()


def test_edited_deferred_revenue_fails_the_rollforward(book: Path) -> None:
    (book.parent / "imports" / "manual.beancount").write_text(
        '2026-01-20 * "Acme Corp" "hand adjustment"\n  customer: "acme"\n'
        '  Liabilities:Deferred-Revenue:Acme  25.00 USD\n  Income:Revenue:Usage  -25.00 USD\n')
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "rollforward: acme: ledger balance of Liabilities:Deferred-Revenue" in result.output
    assert "a difference of -25.00" in result.output


def test_invoice_issued_twice_fails(book: Path) -> None:
    (book.parent / "invoices" / "2026-01-copy.beancount").write_text(
        '2026-01-31 * "Globex Inc" "Invoice INV-2026-01-GLOBEX for 2026-01"\n'
        '  customer: "globex"\n  rule: "invoice"\n  invoice: "INV-2026-01-GLOBEX"\n'
        '  period: "2026-01"\n  Assets:Receivable:Globex  1.00 USD\n'
        '  Assets:Unbilled:Globex  -1.00 USD\n')
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "invoice INV-2026-01-GLOBEX is in the book 2 times (issued twice)" in result.output


def test_provider_bill_that_does_not_tie_fails(book: Path) -> None:
    (book.parent / "imports" / "manual.beancount").write_text(
        '2026-01-10 * "OpenAI" "invoice booked by hand"\n'
        '  Expenses:COGS:Inference:Openai  10.00 USD\n  Assets:Bank  -10.00 USD\n')
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "cogs: openai: attributed" in result.output and "(difference 10.00)" in result.output


def test_quarantine_stops_the_close_unless_accepted(book: Path, tmp_path: Path) -> None:
    source = tmp_path / "drop"
    source.mkdir()
    write_jsonl(source / "usage-extra.jsonl", [
        {"event_id": "x-1", "timestamp": "2026-01-20T10:00:00Z", "customer": "acme",
         "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1},
        {"event_id": "x-2", "timestamp": "2026-01-20T10:00:00Z", "customer": "acme",
         "model": "gpt-4o", "input_tokens": -5}])
    result = close(book, "2026-01", "--source", str(source))
    assert result.exit_code == 1
    assert "quarantined" in result.output and "--accept-quarantine" in result.output
    result = close(book, "2026-01", "--source", str(source), "--accept-quarantine")
    assert result.exit_code == 0, result.output
    checks = (book.parent / "reports" / "2026-01" / "checks.csv").read_text()
    assert "quarantine,ok,accepted: imports/usage-extra.jsonl." in checks


def test_report_commands_print_the_close_tables(closed: Path) -> None:
    runner = CliRunner()
    for name in ("rollforward", "dunning", "invoices", "credits", "rpo", "checks"):
        result = runner.invoke(cli, ["report", name, "--ledger", str(closed), "--period",
                                     "2026-01", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["report"] == name
    written = (closed.parent / "reports" / "2026-01" / "rollforward.csv").read_text()
    result = runner.invoke(cli, ["report", "rollforward", "--ledger", str(closed), "--period",
                                 "2026-01", "--format", "csv"])
    assert result.output == written
    table = runner.invoke(cli, ["report", "dunning", "--ledger", str(closed), "--period",
                                "2026-01"])
    assert "INV-2026-01-GLOBEX" in table.output and "current" in table.output


def test_events_of_the_source_missing_from_the_book_fail_completeness(book: Path) -> None:
    # A day dropped from the import file and from its event-id index alike: only the
    # archived source still has it.
    from tokenbooks.importers.index import read_sidecar, sidecar_for, write_sidecar

    usage = next((book.parent / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    text = usage.read_text()
    usage.write_text("\n\n".join(block for block in text.split("\n\n")
                                 if not block.startswith("2026-01-03 custom")))
    sidecar = sidecar_for(usage)
    kept = [i for i in read_sidecar(sidecar) if int(i.rsplit("-", 1)[1]) % 4 != 2]
    write_sidecar(sidecar, kept)
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "events of usage-2026-01.jsonl are in no event-id index of the month" in (
        result.output)


def test_months_imported_and_closed_one_by_one(tmp_path: Path) -> None:
    """January closed while the book ends on 4 January (recognition runs to the 31st, the
    minimum commitment is billed); February imported and closed after it, January intact."""
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path / "book"), "--start",
                               "2026-01-01"]).exit_code == 0
    root = tmp_path / "book"
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, root / "contracts" / sub)
    drops = {}
    for month, days in ((1, 4), (2, 3)):
        drop = drops[month] = tmp_path / f"drop-{month}"
        drop.mkdir()
        write_jsonl(drop / f"usage-2026-0{month}.jsonl", month_events(month, days))
        write_reports(drop, root / "contracts")
    (drops[1] / "purchases.csv").write_text(PURCHASES)
    ledger = root / "main.beancount"
    first = close(ledger, "2026-01", "--source", str(drops[1]))
    assert first.exit_code == 0, first.output
    assert "import: usage-2026-01.jsonl: read 40, imported 40" in first.output
    assert "INV-2026-01-INITECH 500.00 USD" in first.output
    second = close(ledger, "2026-02", "--source", str(drops[2]))
    assert second.exit_code == 0, second.output
    assert "rewritten" not in second.output
    assert errors(ledger) == []
