"""Credit notes: the canonical credit notes CSV on closekit's book with January closed
(``test_payments``): a credit note on an arrears invoice reduces its receivable and the
revenue stream it corrects, in the open month, linked to the invoice; what does not fit
is quarantined; a credit note twice or of an unknown invoice fails the load."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import errors
from test_payments import (
    BOOK,
    book_copy,
    imported,
    january_book,
    messages,
    payment,
    quarantine,
    run_import,
)

from tokenbooks.scripts.cli import cli

D = Decimal
HEADER = "date,customer,invoice,stream,amount,currency,credit_note_id,reason\n"


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """closekit's book with January closed (``test_payments``), built once here."""
    return january_book(tmp_path_factory)


def report(ledger: Path, name: str, period: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["report", name, "--ledger", str(ledger), "--period",
                                      period, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["rows"]


def test_a_credit_note_on_an_arrears_invoice(january: Path, tmp_path: Path) -> None:
    """INV-2026-01-INITECH bills 500.00 (usage 0.72, commitment 499.28): a 99.28 credit
    of the commitment on 2026-02-10 leaves 400.72 open; February's commitment revenue
    is 99.28 lower, January's (closed) is untouched."""
    ledger = book_copy(january, tmp_path)
    before = report(ledger, "revenue", "2026-02")
    result = run_import(ledger, "credits.csv", HEADER
                        + "2026-02-10,initech,INV-2026-01-INITECH,commitment,99.28,USD,CN-1,"
                          "goodwill\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-02.credits.csv.*.beancount")
    assert ('2026-02-10 * "Initech LLC" "Credit note CN-1 on INV-2026-01-INITECH: goodwill" '
            "^INV-2026-01-INITECH" in text)
    for line in ('  rule: "credit-note"', '  credit_note_id: "CN-1"',
                 '  invoice: "INV-2026-01-INITECH"', '  stream: "commitment"',
                 '  reason: "goodwill"', "  Income:Revenue:Commitment   99.28 USD",
                 "  Assets:Receivable:Initech  -99.28 USD"):
        assert line in text
    assert errors(ledger) == []
    rows = report(ledger, "dunning", "2026-02")
    (inv,) = [r for r in rows if r["section"] == "open" and r["customer"] == "initech"]
    assert (D(inv["invoiced"]), D(inv["credited"]), D(inv["paid"]), D(inv["open"])) == (
        D("500.00"), D("99.28"), D("0.00"), D("400.72"))

    def commitment(rows: list[dict]) -> Decimal:
        return sum((D(r["commitment"]) for r in rows
                    if r["section"] == "stream" and r["name"] == "commitment"), D(0))

    after = report(ledger, "revenue", "2026-02")
    assert commitment(before) - commitment(after) == D("99.28")  # the stream it corrects
    assert commitment(report(ledger, "revenue", "2026-01")) == D("499.28")  # untouched
    # the rollforward shows it as its own (memo) column: it is not a liability movement
    roll = {r["customer"]: r for r in report(ledger, "rollforward", "2026-02")}
    assert D(roll["initech"]["credit_notes_memo"]) == D("99.28")
    assert D(roll["(total)"]["credit_notes_memo"]) == D("99.28")


def test_a_credit_note_of_a_closed_month_is_booked_in_the_open_month(
        january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "credits.csv", HEADER
                        + "2026-01-31,globex,INV-2026-01-GLOBEX,actions,0.50,USD,CN-2,\n")
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-01.credits.csv.*.beancount")
    assert '2026-02-01 * "Globex Inc" "Credit note CN-2 on INV-2026-01-GLOBEX (actions)"' in text
    assert '  original_date: 2026-01-31\n  prior_period: "2026-01"' in text
    assert "  Income:Revenue:Actions     0.50 USD" in text
    assert errors(ledger) == []  # January's lock holds


def test_what_does_not_fit_is_quarantined(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    assert run_import(ledger, "pay.csv", "date,customer,invoice,amount,currency,payment_id\n"
                      "2026-02-05,globex,INV-2026-01-GLOBEX,2.00,USD,w-1\n").exit_code == 0
    result = run_import(ledger, "bad.csv", HEADER
                        + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.15,USD,CN-1,\n"
                        + "2026-02-10,globex,INV-2026-01-GLOBX,usage,0.10,USD,CN-2,\n"
                        + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.10,EUR,CN-3,\n"
                        + "2026-02-10,globex,INV-2026-01-GLOBEX,commitment,0.10,USD,CN-4,\n"
                        + "2026-02-10,umbrella,INV-2026-01-UMBRELLA,top-up,10.00,USD,CN-5,\n"
                        + "2026-02-10,acme,INV-2026-01-GLOBEX,usage,0.10,USD,CN-6,\n"
                        + "2026-02-10,initech,INV-2026-01-INITECH,usage,0.73,USD,CN-7,\n"
                        + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.14,USD,CN-8,\n")
    assert result.exit_code == 0, result.output
    got = {q["line"]: (q["field"], q["reason"]) for q in quarantine(ledger, "bad")}
    assert got[2] == ("amount", "expected at most 0.14 (what INV-2026-01-GLOBEX has open: "
                                "2.14 less payments and credit notes), got 0.15")
    assert got[3][0] == "invoice" and got[3][1].startswith(
        "unknown invoice 'INV-2026-01-GLOBX' (expected an invoice of the book")
    assert got[4] == ("currency", "expected USD (the currency of INV-2026-01-GLOBEX), got "
                                  "'EUR'")
    assert got[5] == ("stream", "INV-2026-01-GLOBEX bills no 'commitment' (expected one of "
                                "its streams: usage, actions)")
    assert got[6][0] == "stream" and "book it as a refund" in got[6][1]
    assert got[7] == ("invoice", "invoice 'INV-2026-01-GLOBEX' is globex's, not acme's")
    assert got[8] == ("amount", "expected at most 0.72 (what INV-2026-01-INITECH billed for "
                                "usage less its credit notes), got 0.73")
    assert 9 not in got  # 0.14 fits: what is open
    assert "  Assets:Receivable:Globex  -0.14 USD" in imported(ledger, "2026-02.bad.csv*")
    assert errors(ledger) == []
    again = run_import(ledger, "bad.csv", HEADER
                       + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.15,USD,CN-1,\n"
                       + "2026-02-10,globex,INV-2026-01-GLOBX,usage,0.10,USD,CN-2,\n"
                       + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.10,EUR,CN-3,\n"
                       + "2026-02-10,globex,INV-2026-01-GLOBEX,commitment,0.10,USD,CN-4,\n"
                       + "2026-02-10,umbrella,INV-2026-01-UMBRELLA,top-up,10.00,USD,CN-5,\n"
                       + "2026-02-10,acme,INV-2026-01-GLOBEX,usage,0.10,USD,CN-6,\n"
                       + "2026-02-10,initech,INV-2026-01-INITECH,usage,0.73,USD,CN-7,\n"
                       + "2026-02-10,globex,INV-2026-01-GLOBEX,usage,0.14,USD,CN-8,\n")
    assert "wrote" not in again.output  # the same source: nothing changes


def note(day: str, note_id: str, invoice: str, amount: str) -> str:
    return (f'{day} * "Globex Inc" "Credit note {note_id}"\n  customer: "globex"\n'
            f'  rule: "credit-note"\n  credit_note_id: "{note_id}"\n  invoice: "{invoice}"\n'
            f'  stream: "usage"\n  Income:Revenue:Usage  {amount} USD\n'
            f'  Assets:Receivable:Globex  -{amount} USD\n    invoice: "{invoice}"\n')


def test_credit_notes_at_load(tmp_path: Path) -> None:
    assert BOOK  # the invoice INV-2026-01-GLOBEX of 100.00
    (tmp_path / "a").mkdir()
    assert messages(tmp_path / "a", note("2026-02-05", "CN-1", "INV-2026-01-GLOBEX", "30.00")
                    + payment("2026-02-06", "p-1", "INV-2026-01-GLOBEX", "70.00")) == []
    (tmp_path / "b").mkdir()
    assert messages(tmp_path / "b", note("2026-02-05", "CN-1", "INV-2026-01-GLOBEX", "30.00")
                    + payment("2026-02-06", "p-1", "INV-2026-01-GLOBEX", "70.01")) == [
        "payment 'p-1' over-applies INV-2026-01-GLOBEX: payments 70.01 + credit notes 30.00 "
        "= 100.01 > its total 100.00 (expected the excess in the customer's credits, "
        "Liabilities:Customer-Credits)"]
    (tmp_path / "c").mkdir()
    found = messages(tmp_path / "c", note("2026-02-05", "CN-1", "INV-2026-01-GLOBEX", "1.00")
                     + note("2026-02-06", "CN-1", "INV-2026-01-GLOBEX", "1.00"))
    assert len(found) == 2 and all(m.startswith("credit note 'CN-1' is booked twice")
                                   for m in found)
    (tmp_path / "d").mkdir()
    assert messages(tmp_path / "d", note("2026-02-05", "CN-9", "INV-2026-02-GLOBEX",
                                         "1.00")) == [
        "credit note 'CN-9': unknown invoice 'INV-2026-02-GLOBEX' (expected an invoice of "
        "the book, INV-<period>-<CUSTOMER>, written by tokenbooks close)"]
