"""Receivables: per-invoice balances and aging (``rules.dunning.balances``), receivables
booked before an invoice billed on the month's invoice without moving money twice
(``rules.invoicing``, the close), the load-time rule of cash application
(``rules.invariants.check_applications``), and a fresh book that accepts
``Liabilities:Customer-Credits:<C>``."""

from __future__ import annotations

import datetime
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from closekit import errors
from conftest import SAMPLE_CONTRACTS
from test_payments import book_copy, january_book, run_import

from tokenbooks.plugins.rules import dunning, invariants, invoicing
from tokenbooks.scripts.cli import cli

D = Decimal
JAN31, MAR2 = datetime.date(2026, 1, 31), datetime.date(2026, 3, 2)


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """closekit's book with January closed (``test_payments``), built once here."""
    return january_book(tmp_path_factory)


# --- balances and aging, to the cent ------------------------------------------------------


def test_payments_that_name_an_invoice_settle_it_the_rest_oldest_first() -> None:
    jan = dunning.Charge("g", "INV-2026-01-G", JAN31, MAR2, D("589.77"), "INV-2026-01-G")
    feb = dunning.Charge("g", "INV-2026-02-G", datetime.date(2026, 2, 28),
                         datetime.date(2026, 3, 30), D("400.00"), "INV-2026-02-G")
    applied = [dunning.Applied("g", "INV-2026-02-G", datetime.date(2026, 3, 5), D("400.00"),
                               "payment"),
               dunning.Applied("g", "INV-2026-01-G", datetime.date(2026, 3, 6), D("50.00"),
                               "credit-note")]
    unnamed = [dunning.Payment("g", datetime.date(2026, 3, 7), D("100.00"))]
    as_of = datetime.date(2026, 4, 30)
    jan_b, feb_b = dunning.balances([jan, feb], unnamed, as_of, applied)
    # February's invoice is paid by the payment naming it, although January's is older;
    # the unnamed 100.00 goes to the oldest left open: January's
    assert (feb_b.paid, feb_b.open, feb_b.settled) == (D("400.00"), D("0.00"),
                                                       datetime.date(2026, 3, 5))
    assert (jan_b.amount, jan_b.paid, jan_b.credited, jan_b.open) == (
        D("589.77"), D("100.00"), D("50.00"), D("439.77"))
    assert (jan_b.days_past_due, jan_b.bucket) == (59, "31-60")
    items = dunning.open_items([jan, feb], unnamed, as_of, applied)
    assert [(i.ref, i.amount) for i in items] == [("INV-2026-01-G", D("439.77"))]
    assert dunning.aging(items) == [{"customer": "g", "current": D("0.00"),
                                     "1-30": D("0.00"), "31-60": D("439.77"),
                                     "61-90": D("0.00"), "90+": D("0.00"),
                                     "total": D("439.77")}]
    # without names, as before: oldest first (January's settled, February's 400 - 50)
    old = dunning.open_items([jan, feb], [dunning.Payment("g", as_of, D("639.77"))], as_of)
    assert [(i.ref, i.amount) for i in old] == [("INV-2026-02-G", D("350.00"))]


def test_a_charge_billed_on_an_invoice_is_settled_by_it() -> None:
    topup = dunning.Charge("u", "Automatic top-up: bulk", datetime.date(2026, 1, 1),
                           JAN31, D("2000.00"), "umbrella-2026.top-up-bulk.2026-01-01")
    inv = dunning.Charge("u", "INV-2026-01-U", JAN31, MAR2, D("2000.00"), "INV-2026-01-U")
    billed = dunning.Applied("u", "umbrella-2026.top-up-bulk.2026-01-01", JAN31,
                             D("2000.00"), "billed")
    # before the invoice: the top-up is open on its own
    (alone,) = dunning.balances([topup], [], datetime.date(2026, 1, 20))
    assert alone.open == D("2000.00")
    both = dunning.balances([topup, inv], [], datetime.date(2026, 2, 10), [billed])
    assert [(b.ref, b.billed, b.open) for b in both] == [
        ("Automatic top-up: bulk", D("2000.00"), D("0.00")),
        ("INV-2026-01-U", D("0.00"), D("2000.00"))]


def test_an_over_applied_charge_gives_its_excess_to_the_oldest_open() -> None:
    a = dunning.Charge("g", "A", JAN31, MAR2, D("100.00"), "A")
    b = dunning.Charge("g", "B", JAN31, MAR2, D("50.00"), "B")
    applied = [dunning.Applied("g", "B", MAR2, D("80.00"), "payment")]
    got = dunning.balances([a, b], [], MAR2, applied)
    assert [(x.ref, x.open) for x in got] == [("A", D("70.00")), ("B", D("0.00"))]


# --- invoicing of receivables booked before the invoice ------------------------------------


def test_a_top_up_is_an_invoice_line_of_its_own() -> None:
    items = [invoicing.UnbilledItem("u", "umbrella-2026", JAN31, "USD", "overage-usage",
                                    D("12.50"))]
    charges = [invoicing.ReceivableItem("u", "umbrella-2026", datetime.date(2026, 1, 17),
                                        "USD", "top-up", D("1000.00"), "lot-2"),
               invoicing.ReceivableItem("u", "umbrella-2026", datetime.date(2026, 1, 3),
                                        "USD", "purchase", D("700.00"), "unpaid/u#1")]
    (inv,) = invoicing.invoices("2026-01", JAN31, items, {}, {"u": 30}, charges)
    assert [(line.stream, line.amount, line.charge) for line in inv.lines] == [
        ("overage-usage", D("12.50"), ""), ("purchase", D("700.00"), "unpaid/u#1"),
        ("top-up", D("1000.00"), "lot-2")]
    assert (inv.total, inv.unbilled_total) == (D("1712.50"), D("12.50"))
    # a customer with only a top-up gets an invoice too
    (only,) = invoicing.invoices("2026-01", JAN31, [], {}, {}, charges[:1])
    assert (only.id, only.total, only.unbilled_total) == ("INV-2026-01-U", D("1000.00"),
                                                          D("0.00"))
    rows = invoicing.rows([only])
    assert rows[0]["charge"] == "lot-2" and rows[-1]["line"] == "total"


def test_the_close_bills_a_top_up_without_moving_money_twice(january: Path) -> None:
    """closekit's umbrella topped up 2,000.00 on 2026-01-01 (Dr Receivable / Cr contract
    liability): January's invoice lists it, with a debit and a credit to the receivable
    that add up to zero, and does not touch Assets:Unbilled."""
    text = (january / "invoices" / "2026-01.beancount").read_text(encoding="utf-8")
    entry = text[text.index('"Invoice INV-2026-01-UMBRELLA'):]
    assert entry.split("\n\n")[0].rstrip("\n").endswith(
        '  Assets:Receivable:Umbrella   2000.00 USD\n'
        '    line: 1\n'
        '    stream: "top-up"\n'
        '    charge: "umbrella-2026.top-up-bulk.2026-01-01"\n'
        '  Assets:Receivable:Umbrella  -2000.00 USD\n'
        '    charge: "umbrella-2026.top-up-bulk.2026-01-01"')
    assert "^umbrella-2026.top-up-bulk.2026-01-01" in entry.split("\n")[0]
    assert "Assets:Unbilled:Umbrella" not in entry.split("\n\n")[0]
    reports = january / "reports" / "2026-01"
    rows = json.loads((reports / "invoices.json").read_text())["rows"]
    umbrella = [r for r in rows if r["customer"] == "umbrella"]
    assert [(r["line"], r["stream"], r["amount"], r["charge"]) for r in umbrella] == [
        (1, "top-up", "2000.00", "umbrella-2026.top-up-bulk.2026-01-01"),
        ("total", "", "2000.00", "")]
    dun = json.loads((reports / "dunning.json").read_text())["rows"]
    opened = [(r["customer"], r["ref"], r["open"]) for r in dun if r["section"] == "open"
              and r["customer"] == "umbrella"]
    assert opened == [("umbrella", "INV-2026-01-UMBRELLA", "2000.00")]  # once, not twice
    aging = {r["customer"]: r["total"] for r in dun if r["section"] == "aging"}
    assert aging["umbrella"] == "2000.00"


def test_aging_after_payments_on_the_book(january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    result = run_import(ledger, "payments.csv",
                        "date,customer,invoice,amount,currency,payment_id\n"
                        "2026-03-10,initech,INV-2026-01-INITECH,150.00,USD,w-1\n"
                        "2026-03-11,umbrella,,2000.00,USD,w-2\n")  # unnamed: held
    assert result.exit_code == 0, result.output
    out = CliRunner().invoke(cli, ["report", "dunning", "--ledger", str(ledger), "--period",
                                   "2026-03", "--format", "json"])
    rows = json.loads(out.output)["rows"]
    opened = {r["ref"]: r for r in rows if r["section"] == "open"}
    initech = opened["INV-2026-01-INITECH"]
    assert (initech["open"], initech["days_past_due"], initech["bucket"]) == (
        "350.00", 29, "1-30")
    # umbrella paid on account: the invoice stays open, the cash is held as credits
    assert opened["INV-2026-01-UMBRELLA"]["open"] == "2000.00"
    aging = {r["customer"]: r for r in rows if r["section"] == "aging"}
    assert (aging["umbrella"]["1-30"], aging["umbrella"]["credits"]) == ("2000.00", "2000.00")
    assert errors(ledger) == []


# --- the load-time rule ---------------------------------------------------------------------


def test_check_applications() -> None:
    totals = {"INV-1": invariants.InvoiceTotal("g", "USD", D("100.00"))}

    def app(i: int, inv: str, amount: str, kind: str = "payment", customer: str = "g",
            code: str = "USD") -> invariants.Application:
        return invariants.Application(i, datetime.date(2026, 2, 1 + i), customer, inv, code,
                                      D(amount), kind, f"id-{i}")

    assert invariants.check_applications(totals, [app(0, "INV-1", "70.00"),
                                                  app(1, "INV-1", "30.00", "credit note")]) == []
    found = invariants.check_applications(totals, [
        app(0, "INV-1", "70.00"), app(1, "INV-1", "30.01", "credit note"),
        app(2, "INV-9", "1.00"), app(3, "INV-1", "1.00", customer="h"),
        app(4, "INV-1", "1.00", code="EUR")])
    assert [i for i, _ in found] == [1, 2, 3, 4]
    assert found[0][1].startswith("credit note 'id-1' over-applies INV-1: payments 70.00 + "
                                  "credit notes 30.01 = 100.01 > its total 100.00")
    assert found[2][1] == "payment 'id-3': invoice INV-1 is g's, not h's"


# --- a fresh book ----------------------------------------------------------------------------


def test_a_fresh_book_opens_the_customer_credits(tmp_path: Path) -> None:
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book), "--start", "2026-01-01"]).exit_code == 0
    shutil.copy(SAMPLE_CONTRACTS / "customers" / "hooli.yaml", book / "contracts" / "customers")
    shutil.copy(SAMPLE_CONTRACTS / "price-books" / "list-2026.yaml",
                book / "contracts" / "price-books")
    ledger = book / "main.beancount"
    assert errors(ledger) == []
    result = run_import(ledger, "cash.csv", "date,customer,invoice,amount,currency,payment_id\n"
                                            "2026-01-15,hooli,,80.00,USD,w-1\n")
    assert result.exit_code == 0, result.output
    text = "".join(p.read_text() for p in (book / "imports").glob("2026-01.cash*.beancount"))
    assert "Liabilities:Customer-Credits:Hooli  -80.00 USD" in text
    assert errors(ledger) == []

