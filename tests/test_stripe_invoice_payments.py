"""A customer paying tokenbooks invoices by card: Stripe charges whose metadata names the
invoices (``invoice (metadata)``, ``payment_metadata[invoice]``) are customer payments
into the clearing account, applied in the order given, with their fee; a payout then
moves the net to the bank. On closekit's book with January closed (``test_payments``:
INV-2026-01-INITECH 500.00)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from closekit import errors
from test_payments import book_copy, imported, january_book, quarantine, run_import

D = Decimal
PAYMENTS = ("id,Description,Created (UTC),Amount,Amount Refunded,Currency,Fee,Tax,Status,"
            "customer (metadata),invoice (metadata)\n")
BALANCE = ("balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,"
           "reporting_category,source_id,description,charge_id,payment_metadata[customer],"
           "payment_metadata[invoice]\n")


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return january_book(tmp_path_factory)


def balances(ledger: Path) -> dict[str, Decimal]:
    entries, _, _ = loader.load_file(str(ledger))
    out: dict[str, Decimal] = {}
    for entry in entries:
        for p in getattr(entry, "postings", []):
            out[p.account] = out.get(p.account, D(0)) + p.units.number
    return out


def dunning(ledger: Path, period: str) -> list[dict]:
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli
    result = CliRunner().invoke(cli, ["report", "dunning", "--ledger", str(ledger),
                                      "--period", period, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["rows"]


def test_a_card_payment_of_two_invoices_then_the_rest_and_the_payout(january: Path,
                                                                     tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    # 300.00 of INITECH's 500.00, by card
    result = run_import(ledger, "unified_payments.csv", PAYMENTS
                        + 'ch_inv_1,Invoice,2026-02-05 10:00:00,300.00,0.00,usd,9.00,0.00,'
                          'Paid,initech,INV-2026-01-INITECH\n')
    assert result.exit_code == 0, result.output
    text = imported(ledger, "2026-02.unified_payments.csv.*.beancount")
    lines = {" ".join(line.split()) for line in text.splitlines()}
    for line in ('  rule: "payment"', '  payment_id: "ch_inv_1"',
                 "  Assets:Stripe              300.00 USD",
                 "  Assets:Receivable:Initech  -300.00 USD",
                 '    invoice: "INV-2026-01-INITECH"',
                 '  fee_of: "ch_inv_1"', "  Expenses:Payment-Processing  9.00 USD"):
        assert " ".join(line.split()) in lines, (line, text)
    # the rest of INITECH's invoice and 5.00 more, from the balance report; then the payout
    result = run_import(ledger, "balance.csv", BALANCE
                        + "txn_1,2026-02-20 09:00:00,2026-02-22 00:00:00,usd,205.00,6.25,"
                          "198.75,charge,ch_inv_2,Invoice,ch_inv_2,initech,"
                          "INV-2026-01-INITECH\n"
                        + "txn_2,2026-02-25 00:00:00,2026-02-25 00:00:00,usd,-489.75,0.00,"
                          "-489.75,payout,po_1,Payout,,,\n")
    assert result.exit_code == 0, result.output
    assert errors(ledger) == []
    total = balances(ledger)
    # 300.00 - 9.00 + 205.00 - 6.25 - 489.75 paid out: the clearing account is empty
    assert total["Assets:Stripe"] == D("0.00")
    assert total["Liabilities:Customer-Credits:Initech"] == D("-5.00")  # the overpayment
    rows = dunning(ledger, "2026-02")
    settled = {r["ref"]: r for r in rows if r["section"] == "settled"}
    assert settled["INV-2026-01-INITECH"]["paid"] == "500.00"
    assert settled["INV-2026-01-INITECH"]["open"] == "0.00"
    before = {p.name: p.read_bytes() for p in (ledger.parent / "imports").iterdir()}
    again = run_import(ledger, "unified_payments.csv", PAYMENTS
                       + 'ch_inv_1,Invoice,2026-02-05 10:00:00,300.00,0.00,usd,9.00,0.00,'
                         'Paid,initech,INV-2026-01-INITECH\n')
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in (ledger.parent / "imports").iterdir()} == before


def test_a_card_payment_of_an_unknown_invoice_is_quarantined(january: Path,
                                                             tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "unified_payments.csv", PAYMENTS
                        + "ch_inv_9,Invoice,2026-02-05 10:00:00,10.00,0.00,usd,0.59,0.00,"
                          "Paid,initech,INV-2026-02-INITECH\n"
                        + "ch_inv_8,Invoice,2026-02-05 10:00:00,10.00,0.00,usd,0.59,0.00,"
                          "Paid,acme,INV-2026-01-INITECH\n")
    assert result.exit_code == 0, result.output
    found = quarantine(ledger, "unified_payments.csv")
    assert [(q["line"], q["field"]) for q in found] == [(2, "invoice (metadata)"),
                                                        (3, "invoice (metadata)")]
    assert found[0]["reason"].startswith("unknown invoice 'INV-2026-02-INITECH'")
    assert found[1]["reason"] == "invoice 'INV-2026-01-INITECH' is initech's, not acme's"
    assert errors(ledger) == []
