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
    STORES,
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
        "rollforward": "ok", "clearing": "ok"}


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


def test_changes_to_a_closed_month_are_named_in_book_order(closed: Path) -> None:
    """The book plugin hands the lock a book whose generated entries are at its end, in
    the order the stages made them (revenue, then cost): the lock sorts the closed
    month's entries it compares, so that what changed is named by date, then line, as
    Beancount orders the book (the cost entries of Jan 31 before its revenue entries)."""
    root = closed.parent
    prices = root / "contracts" / "price-books" / "list-2026.yaml"
    text = prices.read_text()
    assert "gpt-4o:            {input: 5.00" in text
    prices.write_text(text.replace("gpt-4o:            {input: 5.00",
                                   "gpt-4o:            {input: 5.50"))
    costs = root / "contracts" / "costs" / "openai.yaml"
    text = costs.read_text()
    assert "gpt-4o:      {input: 2.50" in text
    costs.write_text(text.replace("gpt-4o:      {input: 2.50", "gpt-4o:      {input: 2.75"))
    found = [e for e in errors(closed) if "changed after the close: 2026-01-" in e]
    dates = [re.search(r"changed after the close: (2026-01-\d\d)", e)[1]  # type: ignore[index]
             for e in found]
    kinds = ["cogs" if "COGS" in e or "cogs" in e.split(": ", 1)[0] else "revenue"
             for e in found]
    assert len(found) >= 4 and dates == sorted(dates), found
    last = [k for d, k in zip(dates, kinds, strict=True) if d == "2026-01-31"]
    assert "cogs" in last and "revenue" in last, found
    assert last == sorted(last), found  # cogs (line 0) before revenue (lines 10^9 + n)


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


@pytest.mark.parametrize("store", STORES)
def test_events_of_the_source_missing_from_the_book_fail_completeness(
        base: Path, tmp_path: Path, store: str) -> None:
    # A day dropped from the import file and from its event-id index alike: only the
    # archived source still has it. (With store: cache the index is the fingerprint in
    # the import file's header and the derived file under .tokenbooks/ that matches it.)
    from tokenbooks.importers.index import (
        declared_fingerprint,
        derived_path,
        fingerprint,
        read_sidecar,
        sidecar_for,
        write_sidecar,
    )

    book = copy(base, tmp_path) if store == "cache" else build(tmp_path, store)
    usage = next((book.parent / "imports").glob("2026-01.usage-2026-01.jsonl.*.beancount"))
    text = usage.read_text()
    index = derived_path(usage) if store == "cache" else sidecar_for(usage)
    assert index.exists() and not (sidecar_for(usage) if store == "cache"
                                   else derived_path(usage)).exists()
    kept = [i for i in read_sidecar(index) if int(i.rsplit("-", 1)[1]) % 4 != 2]
    assert 0 < len(kept) < len(read_sidecar(index))
    declared = declared_fingerprint(usage)
    if store == "cache":
        assert declared is not None and declared.events == len(read_sidecar(index))
        text = text.replace(declared.line(), fingerprint(kept).line())
    else:
        assert declared is None
    usage.write_text("\n\n".join(block for block in text.split("\n\n")
                                 if not block.startswith("2026-01-03 custom")))
    write_sidecar(index, kept)
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "index: rebuilt" not in result.output  # the index matches its fingerprint
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


# --- the evidence of a close, and an interrupted lock step --------------------------------


def git(folder: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=T", "-c",
                           "user.email=t@example.com", *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="no git")


def test_the_close_records_its_fingerprint_in_reports(closed: Path) -> None:
    root = closed.parent
    record = json.loads((root / "reports" / "2026-01" / "lock.json").read_text())
    text = (root / "closes" / "2026-01.beancount").read_text()
    fingerprint = re.search(r'fingerprint: "([0-9a-f]+)"', text).group(1)
    entries = int(re.search(r"entries: (\d+)", text).group(1))
    assert record == {"period": "2026-01", "fingerprint": fingerprint,
                      "manifest": "2026-01.manifest", "entries": entries}
    assert not list((root / "closes").glob(".*"))  # no marker left


def git_book(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the book")


def plugin_reads_the_tag(root: Path) -> None:
    """The lock plugin must read the tag's period as the close names it."""
    from tokenbooks.plugins import lock as lock_plugin

    record = json.loads((root / "reports" / "2026-01" / "lock.json").read_text())
    assert lock_plugin.git_tags(root) == {"2026-01": record["fingerprint"]}


@needs_git
def test_a_book_at_the_top_of_a_git_work_tree_is_tagged(book: Path) -> None:
    from tokenbooks.scripts import close_files

    root = book.parent
    git_book(root)
    result = close(book, "2026-01")
    assert result.exit_code == 0, result.output
    record = json.loads((root / "reports" / "2026-01" / "lock.json").read_text())
    message = git(root, "tag", "-l", "--format=%(objecttype) %(contents)",
                  "tokenbooks/close/2026-01")
    assert message.startswith("tag ") and f"fingerprint: {record['fingerprint']}" in message
    assert git(root, "rev-parse", "tokenbooks/close/2026-01^{commit}") == git(
        root, "rev-parse", "HEAD")
    with pytest.raises(close_files.TagConflict, match="exists with another fingerprint"):
        close_files.check_tag(root, "2026-01", "0" * 64)
    close_files.check_tag(root, "2026-01", record["fingerprint"])
    with pytest.raises(close_files.TagConflict):
        close_files.write_evidence(root, "2026-01", "0" * 64, 1)
    assert json.loads((root / "reports" / "2026-01" / "lock.json").read_text()) == record
    plugin_reads_the_tag(root)
    assert errors(book) == []
    before = snapshot(root)
    again = close(book, "2026-01")
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert snapshot(root) == before


@needs_git
def test_a_tag_with_another_fingerprint_stops_the_close_before_it_locks(book: Path) -> None:
    root = book.parent
    git_book(root)
    git(root, "tag", "-a", "-m", "fingerprint: " + "ab" * 32, "tokenbooks/close/2026-01")
    result = close(book, "2026-01")
    assert result.exit_code == 1
    assert "tokenbooks/close/" in result.output
    assert not (root / "closes" / "2026-01.beancount").exists()
    assert not (root / "closes" / "2026-01.manifest").exists()
    assert not (root / "reports" / "2026-01" / "lock.json").exists()


@needs_git
def test_a_book_in_a_folder_of_another_repository_is_not_tagged(book: Path,
                                                               tmp_path: Path) -> None:
    outer = book.parent.parent  # the book in <repo>/book, as the sample book in ledgers/
    git_book(outer)
    result = close(book, "2026-01")
    assert result.exit_code == 0, result.output
    assert git(outer, "tag", "-l") == ""
    assert (book.parent / "reports" / "2026-01" / "lock.json").exists()


def test_a_close_stopped_in_its_lock_step_is_undone_or_completed(book: Path,
                                                                tmp_path: Path) -> None:
    from tokenbooks.scripts import close_files

    reference = tmp_path / "reference"
    shutil.copytree(book.parent, reference)
    assert close(reference / "main.beancount", "2026-01").exit_code == 0
    root = book.parent
    record = json.loads((reference / "reports" / "2026-01" / "lock.json").read_text())
    # Stopped after the manifest: alone, it says the month was closed (the lock plugin
    # reports a close deleted); the marker says the close was under way.
    close_files.write_if_changed(root / "closes" / ".2026-01.closing", json.dumps(record))
    shutil.copy(reference / "closes" / "2026-01.manifest", root / "closes")
    assert errors(book)
    result = close(book, "2026-01")
    assert result.exit_code == 0, result.output
    assert "stopped before the month was closed; undone" in result.output
    assert snapshot(root) == snapshot(reference)
    # Stopped after the close file: the next command, whichever, writes the record.
    (root / "reports" / "2026-01" / "lock.json").unlink()
    close_files.write_if_changed(root / "closes" / ".2026-01.closing", "{}\n")
    late = write_jsonl(tmp_path / "none.jsonl", [])
    result = CliRunner().invoke(cli, ["import", "--ledger", str(book), "--no-archive",
                                      str(late)])
    assert "stopped after the month was closed; completed (reports/2026-01/lock.json)" in (
        result.output)
    assert snapshot(root) == snapshot(reference)


def test_a_manifest_without_a_close_and_no_marker_is_left_to_the_lock(closed: Path) -> None:
    """A close file deleted (no close under way): the next close does not undo the
    evidence, the lock plugin reports it."""
    root = closed.parent
    (root / "closes" / "2026-01.beancount").unlink()
    result = close(closed, "2026-01")
    assert result.exit_code == 1 and "no close directive for it" in result.output
    assert (root / "closes" / "2026-01.manifest").exists()
