"""Customer payments: the canonical payments CSV, cash application (full, partial,
over, several invoices, unapplied, applying held credits), dedupe, redating into the
open month, the quarantine, and the load-time checks of payments.

The book is closekit's: January closed, whose invoices are (to the cent)

    INV-2026-01-ACME       0.33   overage usage
    INV-2026-01-GLOBEX     2.14   usage 0.64, actions 1.50
    INV-2026-01-INITECH  500.00   usage 0.72, commitment 499.28
    INV-2026-01-UMBRELLA 2000.00  the automatic top-up of 2026-01-01 (already receivable)
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from click.testing import CliRunner
from closekit import build, close, errors
from conftest import SAMPLE_CONTRACTS

from tokenbooks.importers import payments
from tokenbooks.plugins.rules.invoicing import apply_payment
from tokenbooks.scripts.cli import cli

D = Decimal
HEADER = "date,customer,invoice,amount,currency,payment_id\n"


def january_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """closekit's book with January closed (copy it with ``book_copy``)."""
    folder = tmp_path_factory.mktemp("january")
    ledger = build(folder)
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    return ledger.parent


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return january_book(tmp_path_factory)


def book_copy(january: Path, tmp_path: Path) -> Path:
    shutil.copytree(january, tmp_path / "book", symlinks=True)
    return tmp_path / "book" / "main.beancount"


def run_import(ledger: Path, name: str, text: str, *extra: str):
    source = ledger.parent.parent / name
    source.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["import", "--ledger", str(ledger), *extra, str(source)])


def imported(ledger: Path, pattern: str) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in
                   sorted((ledger.parent / "imports").glob(pattern)))


def quarantine(ledger: Path, stem: str) -> list[dict]:
    found = sorted((ledger.parent / "imports").glob(f"{stem}*.quarantine.jsonl"))
    return [json.loads(line) for path in found for line in
            path.read_text(encoding="utf-8").splitlines()]


# --- the rule -----------------------------------------------------------------------------


def test_apply_payment_in_full_partly_over_and_over_several_invoices() -> None:
    opened = {"INV-A": D("500.00"), "INV-B": D("300.00"), "INV-C": D("0.00")}
    assert apply_payment(D("500.00"), ["INV-A"], opened) == ([("INV-A", D("500.00"))],
                                                             D("0.00"))
    assert apply_payment(D("200.00"), ["INV-A"], opened) == ([("INV-A", D("200.00"))],
                                                             D("0.00"))
    assert apply_payment(D("510.25"), ["INV-A"], opened) == ([("INV-A", D("500.00"))],
                                                             D("10.25"))
    # in the order given: B first takes its 300.00, A the rest
    assert apply_payment(D("700.00"), ["INV-B", "INV-A"], opened) == (
        [("INV-B", D("300.00")), ("INV-A", D("400.00"))], D("0.00"))
    # an invoice with nothing open takes nothing: all of it is the customer's credit
    assert apply_payment(D("50.00"), ["INV-C"], opened) == ([], D("50.00"))
    assert apply_payment(D("50.00"), [], opened) == ([], D("50.00"))


# --- the importer, on a book ----------------------------------------------------------------


def test_a_full_payment_clears_the_invoice(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "payments.csv",
                        HEADER + "2026-02-05,globex,INV-2026-01-GLOBEX,2.14,USD,wire-1\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-02.payments.csv.*.beancount")
    assert '2026-02-05 * "Globex Inc" "Payment of INV-2026-01-GLOBEX" ^INV-2026-01-GLOBEX' in text
    for line in ('  customer: "globex"', '  rule: "payment"', '  payment_id: "wire-1"',
                 '  invoice: "INV-2026-01-GLOBEX"', "  Assets:Bank                2.14 USD",
                 "  Assets:Receivable:Globex  -2.14 USD",
                 '    invoice: "INV-2026-01-GLOBEX"'):
        assert line in text
    assert errors(ledger) == []


def test_partial_over_several_and_unapplied_payments(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "payments.csv", HEADER
                        + "2026-02-06,initech,INV-2026-01-INITECH,200.00,USD,wire-2\n"
                        + "2026-02-07,umbrella,INV-2026-01-UMBRELLA,2100.00,USD,wire-3\n"
                        + "2026-02-08,hooli,,50.00,USD,wire-4\n"
                        + "2026-02-09,globex,INV-2026-01-ACME,1.00,USD,wire-5\n"
                        + "2026-02-10,acme,INV-2026-01-ACME;INV-2026-01-NONE,1.00,USD,w-6\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-02.payments.csv.*.beancount")
    # partial: 200.00 of 500.00, the invoice stays open for 300.00
    assert "  Assets:Receivable:Initech  -200.00 USD" in text
    # over: the invoice's 2,000.00 to the receivable, 100.00 to the customer's credits
    assert "  Assets:Bank                             2100.00 USD" in text
    assert "  Assets:Receivable:Umbrella             -2000.00 USD" in text
    assert "  Liabilities:Customer-Credits:Umbrella   -100.00 USD" in text
    # unapplied cash: all of it held
    assert '"Hooli" "Payment on account (unapplied cash)"' in text
    assert "  Liabilities:Customer-Credits:Hooli  -50.00 USD" in text
    reasons = {q["line"]: (q["field"], q["reason"]) for q in quarantine(ledger, "payments")}
    assert reasons[5] == ("invoice", "invoice 'INV-2026-01-ACME' is acme's, not globex's")
    assert reasons[6][0] == "invoice"
    assert reasons[6][1].startswith("unknown invoice 'INV-2026-01-NONE' (expected an "
                                    "invoice of the book, INV-<period>-<CUSTOMER>; acme's: "
                                    "INV-2026-01-ACME")
    assert errors(ledger) == []
    assert "5 " in result.output  # read 5 rows
    # the dunning report: initech's invoice open for 300.00, umbrella's and hooli's credits
    report = CliRunner().invoke(cli, ["report", "dunning", "--ledger", str(ledger),
                                      "--period", "2026-02", "--format", "json"])
    rows = json.loads(report.output)["rows"]
    opened = {r["ref"]: r for r in rows if r["section"] == "open"}
    assert D(opened["INV-2026-01-INITECH"]["open"]) == D("300.00")
    assert D(opened["INV-2026-01-INITECH"]["amount"]) == D("300.00")  # as before: left
    assert D(opened["INV-2026-01-INITECH"]["paid"]) == D("200.00")
    assert D(opened["INV-2026-01-INITECH"]["invoiced"]) == D("500.00")
    settled = {r["ref"] for r in rows if r["section"] == "settled"}
    assert settled == {"INV-2026-01-UMBRELLA"}
    credits = {r["customer"]: D(r["credits"]) for r in rows if r["section"] == "aging"}
    assert credits["umbrella"] == D("100.00") and credits["hooli"] == D("50.00")


def test_a_payment_of_several_invoices_in_the_order_given(january: Path,
                                                         tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    # February closed too, so that initech has two invoices (February's: its minimum)
    assert close(ledger, "2026-02").exit_code == 0
    result = run_import(ledger, "payments.csv", HEADER
                        + "2026-03-04,initech,INV-2026-02-INITECH;INV-2026-01-INITECH,"
                          "700.00,USD,wire-9\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-03.payments.csv.*.beancount")
    # February's 500.00 first (named first), then 200.00 of January's
    assert ('  Assets:Receivable:Initech  -500.00 USD\n    invoice: "INV-2026-02-INITECH"\n'
            '  Assets:Receivable:Initech  -200.00 USD\n    invoice: "INV-2026-01-INITECH"'
            in text)
    assert "^INV-2026-01-INITECH ^INV-2026-02-INITECH" in text
    assert '  invoice: "INV-2026-02-INITECH;INV-2026-01-INITECH"' in text
    assert errors(ledger) == []


def test_held_credits_applied_to_an_invoice(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    assert run_import(ledger, "cash.csv", HEADER
                      + "2026-02-02,initech,,120.00,USD,wire-20\n").exit_code == 0
    result = run_import(ledger, "apply.csv", HEADER
                        + "2026-02-03,initech,INV-2026-01-INITECH,100.00,USD,apply:1\n"
                        + "2026-02-03,initech,INV-2026-01-INITECH,30.00,USD,apply:2\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-02.apply.csv.*.beancount")
    assert '"Initech LLC" "Customer credits applied to INV-2026-01-INITECH"' in text
    assert "  from_credits: TRUE" in text
    assert "  Liabilities:Customer-Credits:Initech   100.00 USD" in text
    assert "  Assets:Receivable:Initech             -100.00 USD" in text
    assert "Assets:Bank" not in text  # no cash moves
    (problem,) = quarantine(ledger, "apply")
    assert (problem["line"], problem["field"]) == (3, "amount")
    assert problem["reason"] == "expected at most 20.00 (the credits initech holds), got 30.00"
    assert errors(ledger) == []


def test_reimport_is_idempotent_byte_for_byte(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    rows = (HEADER + "2026-02-06,initech,INV-2026-01-INITECH,200.00,USD,wire-2\n"
            + "2026-02-07,initech,INV-2026-01-INITECH,400.00,USD,wire-3\n"
            + "2026-02-09,initech,INV-2026-01-NOPE,1.00,USD,wire-5\n")
    first = run_import(ledger, "payments.csv", rows)
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in (ledger.parent / "imports").iterdir()}
    again = run_import(ledger, "payments.csv", rows, "--json")
    assert json.loads(again.output)[0] | {"source": "", "written": []} == {
        "source": "", "importer": "tokenbooks.importers.payments.Importer", "read": 3,
        "imported": 0, "duplicates": 2, "conflicts": 0, "quarantined": 1, "entries": 0,
        "written": [], "warnings": [], "notes": []}
    assert {p.name: p.read_bytes() for p in (ledger.parent / "imports").iterdir()} == before
    text = imported(ledger, "2026-02.payments.csv.*.beancount")
    # the second payment over-pays: 300.00 to the invoice, 100.00 held
    assert "  Assets:Receivable:Initech             -300.00 USD" in text
    assert "  Liabilities:Customer-Credits:Initech  -100.00 USD" in text


def test_a_payment_of_a_closed_month_is_booked_in_the_open_month(january: Path,
                                                                 tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "late.csv",
                        HEADER + "2026-01-31,acme,INV-2026-01-ACME,0.33,USD,wire-7\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-01.late.csv.*.beancount")
    assert '2026-02-01 * "Acme Corp" "Payment of INV-2026-01-ACME"' in text
    assert "  original_date: 2026-01-31\n  prior_period: \"2026-01\"" in text
    assert errors(ledger) == []  # the lock of January holds


def test_the_cash_account_is_a_setting(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    with open(ledger.parent / "accounts.beancount", "a", encoding="utf-8") as handle:
        handle.write("2026-02-01 open Assets:Wise USD\n")  # January is closed
    (ledger.parent / "importers.yaml").write_text("payments: {account: Assets:Wise}\n")
    result = run_import(ledger, "payments.csv",
                        HEADER + "2026-02-05,globex,INV-2026-01-GLOBEX,2.14,USD,ch_1\n")
    assert result.exit_code == 0, result.output
    assert "  Assets:Wise                2.14 USD" in imported(ledger, "2026-02.payments*")
    assert errors(ledger) == []


def test_bad_rows_are_quarantined_with_their_reason(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "bad.csv", HEADER
                        + "2026-02-05,globex,INV-2026-01-GLOBEX,2.14,EUR,p-1\n"
                        + "2026-02-05,nobody,,2.14,USD,p-2\n"
                        + "2026-02-05,globex,,0.00,USD,p-3\n"
                        + "2026-02-05,globex,,1.005,USD,p-4\n"
                        + "2026-02-05,globex,,1.00,USD,\n"
                        + "2026-02-05,globex,,1.00,EUR,p-6\n"
                        + "2026-02-05,globex,,1.00,USD,pay-1\n"
                        + "2026-02-05,globex,INV-2026-01-GLOBEX;INV-2026-01-GLOBEX,1.00,USD,"
                          "p-8\n"
                        + "2026-02-05,globex,,1.00,USD,apply:x\n")
    assert result.exit_code == 0, result.output
    got = {q["line"]: (q["field"], q["reason"]) for q in quarantine(ledger, "bad")}
    assert got[2] == ("currency", "expected USD (the currency of INV-2026-01-GLOBEX), got 'EUR'")
    assert got[3][0] == "customer" and got[3][1].startswith("unknown customer 'nobody'")
    assert got[4] == ("amount", "expected an amount > 0 to the cent, got '0.00'")
    assert got[5] == ("amount", "expected an amount > 0 to the cent, got '1.005'")
    assert got[6][0] == "payment_id" and got[6][1].startswith("is required but missing")
    assert got[7] == ("currency", "expected USD (the currency of globex's contracts), got "
                                  "'EUR'")
    assert got[8] == ("payment_id", "'pay-1' is the payment id of a purchase in the book "
                                    "(expected each payment once)")
    assert got[9] == ("invoice", "expected each invoice once, got "
                                 "'INV-2026-01-GLOBEX;INV-2026-01-GLOBEX'")
    assert got[10] == ("invoice", "expected the invoices to apply the customer's credits to "
                                  "(payment_id apply:...)")
    assert len(got) == 9  # nothing was imported, nothing was lost
    assert errors(ledger) == []


def test_the_importer_identifies_payments_by_their_header(tmp_path: Path) -> None:
    importer = payments.Importer(SAMPLE_CONTRACTS)
    good = tmp_path / "p.csv"
    good.write_text(HEADER)
    other = tmp_path / "q.csv"
    other.write_text("date,customer,contract,pack,amount,currency,payment_id\n")
    assert importer.identify(str(good)) and not importer.identify(str(other))


# --- load-time checks -----------------------------------------------------------------------

BOOK = """\
option "operating_currency" "USD"
plugin "tokenbooks.plugins.book" "{'contracts': 'contracts'}"
2026-01-01 open Assets:Bank USD
2026-01-01 open Income:Revenue:Usage USD
2026-01-01 open Income:Revenue:Actions USD
2026-01-01 open Income:Revenue:Breakage USD
2026-01-01 open Income:Revenue:Commitment USD
2026-01-01 open Income:Revenue:Adjustments USD
2026-01-31 * "Globex Inc" "Invoice INV-2026-01-GLOBEX for 2026-01" ^INV-2026-01-GLOBEX
  customer: "globex"
  rule: "invoice"
  invoice: "INV-2026-01-GLOBEX"
  period: "2026-01"
  due: 2026-03-02
  Assets:Receivable:Globex   100.00 USD
    line: 1
    stream: "usage"
  Assets:Unbilled:Globex    -100.00 USD
"""


def payment(day: str, pid: str, invoice: str, amount: str, code: str = "USD") -> str:
    return (f'{day} * "Globex Inc" "Payment of {invoice}"\n  customer: "globex"\n'
            f'  rule: "payment"\n  payment_id: "{pid}"\n  invoice: "{invoice}"\n'
            f"  Assets:Bank  {amount} {code}\n  Assets:Receivable:Globex  -{amount} {code}\n"
            f'    invoice: "{invoice}"\n')


def messages(tmp_path: Path, body: str) -> list[str]:
    shutil.copytree(SAMPLE_CONTRACTS, tmp_path / "contracts",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    ledger = tmp_path / "main.beancount"
    ledger.write_text(BOOK + body, encoding="utf-8")
    _, errs, _ = loader._load([(str(ledger), True)], None, None, None)
    return [e.message for e in errs]


def test_payments_that_fit_pass_the_load(tmp_path: Path) -> None:
    assert messages(tmp_path, payment("2026-02-05", "p-1", "INV-2026-01-GLOBEX", "60.00")
                    + payment("2026-02-06", "p-2", "INV-2026-01-GLOBEX", "40.00")) == []


def test_a_payment_of_an_unknown_invoice_is_an_error(tmp_path: Path) -> None:
    assert messages(tmp_path, payment("2026-02-05", "p-1", "INV-2026-01-GLOBX", "60.00")) == [
        "payment 'p-1': unknown invoice 'INV-2026-01-GLOBX' (expected an invoice of the "
        "book, INV-<period>-<CUSTOMER>, written by tokenbooks close)"]


def test_a_payment_that_over_applies_is_an_error(tmp_path: Path) -> None:
    assert messages(tmp_path, payment("2026-02-05", "p-1", "INV-2026-01-GLOBEX", "60.00")
                    + payment("2026-02-06", "p-2", "INV-2026-01-GLOBEX", "40.01")) == [
        "payment 'p-2' over-applies INV-2026-01-GLOBEX: payments 100.01 + credit notes 0.00 "
        "= 100.01 > its total 100.00 (expected the excess in the customer's credits, "
        "Liabilities:Customer-Credits)"]


def test_a_payment_in_another_currency_is_an_error(tmp_path: Path) -> None:
    body = "2026-01-01 open Assets:Bank:Eur EUR\n" + payment(
        "2026-02-05", "p-1", "INV-2026-01-GLOBEX", "60.00", "EUR").replace(
        "Assets:Bank  ", "Assets:Bank:Eur  ")
    assert messages(tmp_path, body) == [
        "payment 'p-1': INV-2026-01-GLOBEX is in USD, got 60.00 EUR"]


def test_a_payment_id_twice_is_an_error_at_both_entries(tmp_path: Path) -> None:
    found = messages(tmp_path, payment("2026-02-05", "p-1", "INV-2026-01-GLOBEX", "10.00")
                     + payment("2026-02-06", "p-1", "INV-2026-01-GLOBEX", "10.00"))
    assert len(found) == 2
    assert all(m.startswith("payment 'p-1' is booked twice: also at ") for m in found)
