"""The cut-over (issue 19): a book opened in October from the balances of the spreadsheet
it replaces closes October first, its rollforward opening with those balances and tying
out; the opening receivable is paid like any invoice, the opening unbilled usage is
invoiced by the first close, a commitment in progress counts the usage before the
cut-over, and the opening entries are locked with the cut-over month."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from click.testing import CliRunner
from closekit import ROOT, close, errors, snapshot, write_jsonl
from enginekit import contract, day, monthly, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.cutover import read_opening
from tokenbooks.plugins.rules.model import Commitment
from tokenbooks.scripts.cli import cli

D = Decimal

OPENING = """\
# The spreadsheet's balances on 30 September (docs/cutover.md)
cutover: 2026-10-01
lots:
  - customer: acme
    contract: acme-2026
    pack: large
    purchased: 2026-03-10
    credits: 200000
    liability: 1800.00
    id: legacy-acme-0310
receivables:
  - {customer: globex, invoice: LEGACY-0917, date: 2026-09-30, due: 2026-10-30, amount: 589.77}
unbilled:
  - {customer: globex, amount: 120.00}
"""


def test_a_commitment_in_progress_counts_the_usage_before_the_cut_over():
    """A $5,000 yearly minimum (remote), $4,200 of usage in January to September in the
    old records, $500 in the book: the shortfall at the year's end is 300.00."""
    terms = Commitment(D("5000.00"), period="year", prior_usage=("2026", D("4200.00")))
    c = contract(billing="arrears", credit_value=None, commitment=terms,
                 start=day("2026-01-01"), end=day("2026-12-31"))
    result = run(c, [usage("2026-10-05", 50000)], as_of="2026-12-31")  # 0.01/token: 500
    assert monthly(result, accounts.REVENUE_COMMITMENT) == {"2026-12": D("300.00")}
    [shortfall] = [b for b in result.bookings if b.rule == "commitment"]
    assert shortfall.meta["shortfall"] == D("300.00")
    without = run(contract(billing="arrears", credit_value=None, start=day("2026-01-01"),
                           end=day("2026-12-31"),
                           commitment=Commitment(D("5000.00"), period="year")),
                  [usage("2026-10-05", 50000)], as_of="2026-12-31")
    assert monthly(without, accounts.REVENUE_COMMITMENT) == {"2026-12": D("4500.00")}


def test_the_opening_file_is_checked_against_the_contracts(tmp_path):
    contracts, _ = load_contracts(ROOT / "contracts")
    bad = tmp_path / "opening.yaml"
    bad.write_text(OPENING.replace("cutover: 2026-10-01", "cutover: 2026-10-02")
                   .replace("pack: large", "pack: lrage")
                   .replace("customer: globex, invoice", "customer: globx, invoice")
                   + "commitments:\n  - {customer: initech, usage_to_date: 12.00}\n")
    opening, problems = read_opening(bad, contracts, "USD", "opening.yaml")
    assert opening is None
    assert [(p.line, p.field) for p in problems] == [
        (2, "cutover"), (6, "lots[0].pack"), (12, "receivables[0].customer"),
        (16, "commitments[0].usage_to_date")]
    assert "did you mean" not in problems[1].message and "large" in problems[1].message
    assert "monthly commitment" in problems[3].message
    schema_bad = tmp_path / "schema.yaml"
    schema_bad.write_text("cutover: 2026-10-01\nlots:\n  - {customer: acme, credits: 5}\n")
    _, problems = read_opening(schema_bad, contracts, "USD")
    assert problems and all(p.line == 3 for p in problems)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    runner = CliRunner()
    result = runner.invoke(cli, ["init", str(tmp_path / "book"), "--start", "2026-10"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "book"
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, folder / "contracts" / sub)
    (tmp_path / "opening.yaml").write_text(OPENING, encoding="utf-8")
    return folder / "main.beancount"


def cutover(ledger: Path, opening: Path):
    return CliRunner().invoke(cli, ["cutover", "--ledger", str(ledger), str(opening)])


def rows(ledger: Path, period: str, name: str) -> list[dict]:
    path = ledger.parent / "reports" / period / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def test_a_book_cut_over_in_october_closes_october_from_those_balances(book: Path):
    opening = book.parent.parent / "opening.yaml"
    result = cutover(book, opening)
    assert result.exit_code == 0, result.output
    assert errors(book) == []
    first = snapshot(book.parent)
    assert cutover(book, opening).exit_code == 0  # the same file again: nothing changes
    assert snapshot(book.parent) == first
    archived = book.parent / "documents" / "Equity" / "Opening-Balances" / "2026-10-01.opening.yaml"
    assert archived.read_text() == OPENING
    # October's usage: acme draws its opening lot (0.009 per credit: 1,800 / 200,000)
    sources = book.parent.parent / "sources"
    sources.mkdir()
    write_jsonl(sources / "usage-2026-10.jsonl", [
        {"event_id": "e1", "timestamp": "2026-10-05T10:00:00Z", "customer": "acme",
         "model": "gpt-4o", "feature": "chat", "input_tokens": 2_000_000},
        {"event_id": "e2", "timestamp": "2026-10-31T10:00:00Z", "customer": "globex",
         "model": "gpt-4o", "feature": "chat", "input_tokens": 100_000}])
    result = close(book, "2026-10", "--source", str(sources))
    assert result.exit_code == 0, result.output
    roll = {r["customer"]: r for r in rows(book, "2026-10", "rollforward")}
    acme = roll["acme"]
    # 2M tokens x 4.00/1M (the list's version in force) = 8.00 of list = 800 credits
    # x 0.009 = 7.20
    assert (acme["opening"], acme["additions"], acme["revenue"], acme["closing"]) == (
        "1800.00", "0.00", "7.20", "1792.80")
    assert acme["ties"] == "yes" and acme["revenue_from_opening_50_8b"] == "7.20"
    invoices = {(r["customer"], r["line"]): r for r in rows(book, "2026-10", "invoices")}
    assert invoices[("globex", "total")]["amount"] == "120.36"  # opening 120.00 + 0.36
    assert any(r["customer"] == "globex" and r.get("stream") == "opening"
               and r["amount"] == "120.00" for r in rows(book, "2026-10", "invoices"))
    assert "LEGACY-0917" not in json.dumps(rows(book, "2026-10", "invoices"))
    dunning = rows(book, "2026-10", "dunning")
    legacy = [r for r in dunning if r.get("ref") == "LEGACY-0917"]
    assert legacy and legacy[0]["open"] == "589.77" and legacy[0]["due"] == "2026-10-30"
    # November: globex pays the legacy invoice; it settles like any invoice
    paid = book.parent.parent / "payments.csv"
    paid.write_text("date,customer,invoice,amount,currency,payment_id\n"
                    "2026-11-03,globex,LEGACY-0917,589.77,USD,wire-1\n")
    result = CliRunner().invoke(cli, ["import", "--ledger", str(book), str(paid)])
    assert result.exit_code == 0, result.output
    assert errors(book) == []
    entries, _, _ = loader.load_file(str(book))
    receivable = sum((p.units.number for e in entries if isinstance(e, data.Transaction)
                      for p in e.postings if p.account == "Assets:Receivable:Globex"
                      and (p.meta or {}).get("invoice", e.meta.get("invoice")) == "LEGACY-0917"),
                     D(0))
    assert receivable == 0
    # the opening entries are locked with October: editing one fails bean-check
    (opening_file,) = sorted((book.parent / "imports").glob("2026-10.cutover.*.beancount"))
    text = opening_file.read_text()
    opening_file.write_text(text.replace("1800.00 USD", "1900.00 USD").replace(
        "-1800.00 USD", "-1900.00 USD"))
    assert any("2026-10" in e and "closed" in e.lower() for e in errors(book))
    opening_file.write_text(text)
    result = cutover(book, opening)  # after the first close: the same file is a no-op
    assert result.exit_code == 0, result.output
    other = book.parent.parent / "other.yaml"
    other.write_text(OPENING.replace("1800.00", "1700.00"))
    result = cutover(book, other)
    assert result.exit_code == 1 and "before the book's first close" in result.output


def test_a_cut_over_refuses_a_book_with_history_before_it(book: Path, tmp_path: Path):
    usage_file = write_jsonl(tmp_path / "usage-2026-10.jsonl", [
        {"event_id": "e1", "timestamp": "2026-10-05T10:00:00Z", "customer": "acme",
         "model": "gpt-4o", "feature": "chat", "input_tokens": 1000}])
    assert CliRunner().invoke(cli, ["import", "--ledger", str(book), str(usage_file)]
                              ).exit_code == 0
    later = tmp_path / "later.yaml"
    later.write_text(OPENING.replace("cutover: 2026-10-01", "cutover: 2026-11-01"))
    result = cutover(book, later)
    assert result.exit_code == 1
    assert "dated before the cut-over day 2026-11-01" in result.output
    assert "Traceback" not in result.output
