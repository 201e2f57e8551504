"""What a new book shows in Fava: amounts to the cent, income positive, the archived
sources on the Documents page; and the lock leaves Fava's lines and documents alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from beancount import loader
from beancount.core import data
from closekit import build, close, errors
from fava.core import FavaLedger


def test_a_new_book_shows_cents_income_positive_and_its_documents(tmp_path: Path) -> None:
    ledger = build(tmp_path)  # tokenbooks init, then an import of usage, purchases, bills
    text = ledger.read_text()
    assert 'option "display_precision" "USD:0.01"' in text
    assert 'custom "fava-option" "invert-income-liabilities-equity" "true"' in text
    fava = FavaLedger(str(ledger))
    assert fava.load_errors == []
    assert fava.fava_options.invert_income_liabilities_equity is True
    assert fava.options["display_precision"]["USD"] == Decimal("0.01")
    # the sources the import archived, under the accounts they were booked to: those the
    # book opens (the bank, usage revenue) and those the contracts plugin opens (payables)
    documents = {(d.account, Path(d.filename).name.split(".")[1])
                 for d in fava.all_entries_by_type.Document}
    assert ("Income:Revenue:Usage", "usage-2026-01") in documents
    assert ("Assets:Bank", "purchases") in documents
    assert any(account.startswith("Liabilities:Payable:") for account, _ in documents)


def test_the_lock_leaves_favas_lines_and_documents_alone(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    assert close(ledger, "2026-01").exit_code == 0
    book = ledger.parent
    # configuration dated in the closed month, and a document filed under it: allowed
    ledger.write_text(ledger.read_text()
                      + '2026-01-15 custom "fava-option" "language" "en"\n')
    late = book / "documents" / "Assets" / "Bank" / "2026-01-20.remittance.pdf"
    late.parent.mkdir(parents=True, exist_ok=True)
    late.write_bytes(b"%PDF-1.4\n")
    assert errors(ledger) == []
    entries, _, _ = loader._load([(str(ledger), True)], None, None, None)
    assert any(isinstance(e, data.Document) and e.filename == str(late) for e in entries)
    # an entry of the books dated in the closed month still fails
    ledger.write_text(ledger.read_text() + '2026-01-16 * "x" "manual"\n'
                      "  Assets:Bank  1.00 USD\n  Income:Revenue:Usage  -1.00 USD\n")
    assert any("closed period 2026-01: entry added after the close" in e
               for e in errors(ledger))


def test_a_title_with_quotes_makes_a_book_that_loads(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli

    title = 'Acme "AI" \\ books'
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "b"), "--title", title])
    assert result.exit_code == 0, result.output
    entries, errs, options = loader.load_file(str(tmp_path / "b" / "main.beancount"))
    assert errs == [] and options["title"] == title
