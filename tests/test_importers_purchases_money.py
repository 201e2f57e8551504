"""The canonical purchases CSV as money really moves: tax collected, the pack's price
checked, purchases of a closed month booked in the open one, and a fresh book that
accepts the accounts they need."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from click.testing import CliRunner
from closekit import errors

from tokenbooks.importers import purchases
from tokenbooks.importers.purchase_base import PaymentIndex, tax_back
from tokenbooks.plugins.entries.build import value
from tokenbooks.plugins.entries.purchases import purchase_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS, _ = load_contracts(ROOT / "contracts")
HEADER = "date,customer,contract,pack,amount,currency,payment_id,credits,expires,tax,tax_jurisdiction\n"
D = Decimal


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def postings(entry) -> list[tuple[str, Decimal]]:
    return [(p.account, p.units.number) for p in entry.postings]


def test_tax_goes_to_sales_tax_never_into_the_contract_liability(tmp_path):
    path = write(tmp_path / "p.csv", [
        "2026-01-03,acme,acme-2026,standard,1080.00,USD,pay-1,,,80.00,US-NY",
        "2026-01-04,hooli,hooli-2026,starter,219.00,USD,,,,19.00,DE",  # unpaid: receivable
        "2026-01-05,acme,acme-2026,large,4500.00,USD,pay-3,,,,",  # no tax: as before
    ])
    result = purchases.Importer(CONTRACTS).run(path)
    assert (result.imported, result.quarantined) == (3, 0)
    acme, hooli, large = result.entries
    assert postings(acme) == [("Assets:Bank", D("1080.00")),
                              ("Liabilities:Sales-Tax:US-NY", D("-80.00")),
                              ("Liabilities:Deferred-Revenue:Acme", D("-1000.00"))]
    assert purchase_from_entry(acme).amount == D("1000.00")  # revenue base: net of tax
    assert postings(hooli) == [("Assets:Receivable:Hooli", D("219.00")),
                               ("Liabilities:Sales-Tax:DE", D("-19.00")),
                               ("Liabilities:Deferred-Revenue:Hooli", D("-200.00"))]
    assert purchase_from_entry(hooli).paid is False
    assert postings(large) == [("Assets:Bank", D("4500.00")),
                               ("Liabilities:Deferred-Revenue:Acme", D("-4500.00"))]
    index = PaymentIndex()
    index.register(result.entries)
    assert (index.charges["pay-1"].paid, index.charges["pay-1"].tax) == (D("1080.00"),
                                                                         D("80.00"))


def test_tax_jurisdiction_column_else_setting_else_unknown(tmp_path):
    path = write(tmp_path / "p.csv", ["2026-01-03,acme,,standard,1070.00,USD,pay-1,,,70.00,"])
    (entry,) = purchases.Importer(CONTRACTS).run(path).entries
    assert postings(entry)[1] == ("Liabilities:Sales-Tax:Unknown", D("-70.00"))
    (entry,) = purchases.Importer(CONTRACTS, tax_jurisdiction="US-TX").run(path).entries
    assert postings(entry)[1] == ("Liabilities:Sales-Tax:US-TX", D("-70.00"))


def test_an_amount_that_is_not_the_packs_price_is_quarantined_with_the_price(tmp_path):
    path = write(tmp_path / "p.csv", [
        "2026-01-03,acme,acme-2026,standard,900.00,USD,pay-1,,,,",
        "2026-01-03,acme,acme-2026,standard,1080.00,USD,pay-2,,,70.00,US-NY",
        "2026-03-05,acme,acme-2026,acme-amend-1,1700.00,USD,pay-3,,,,",
        "2026-01-03,acme,acme-2026,standard,900.00,USD,pay-4,90000,,,",  # credits override
        "2026-03-05,acme,acme-2026,acme-amend-1,1800.00,USD,pay-5,,,,",
        "2026-01-03,acme,acme-2026,standard,50.00,USD,pay-6,,,50.00,US-NY",
        "2026-01-03,acme,acme-2026,standard,1010.00,USD,pay-7,,,10.00,New York!",
        "2026-01-03,acme,acme-2026,standard,1010.00,USD,pay-8,,,-10.00,US-NY",
    ])
    result = purchases.Importer(CONTRACTS).run(path)
    assert result.read == 8 == result.imported + result.quarantined
    assert sorted(e.meta["payment_id"] for e in result.entries) == ["pay-4", "pay-5"]
    found = [(q.line, q.field, q.reason) for q in result.quarantine]
    assert [(line, field) for line, field, _ in found] == [
        (2, "amount"), (3, "amount"), (4, "amount"), (7, "tax"), (8, "tax_jurisdiction"),
        (9, "tax")]
    assert found[0][2] == ("expected 1000.00 (the price of pack 'standard' of contract "
                           "'acme-2026', net of tax; or give credits to override), got 900.00")
    assert found[1][2].endswith("got 1080.00 less tax 70.00 = 1010.00")
    assert found[2][2].startswith("expected 1800.00 (the price of modification 'acme-amend-1'")
    assert "expected tax below the amount 50.00" in found[3][2]
    assert "expected a jurisdiction such as US-CA" in found[4][2]
    assert "expected an amount >= 0 to the cent" in found[5][2]


def test_tax_back_is_in_proportion_and_rounded_half_up_on_the_running_total():
    # 1080.00 paid with 80.00 tax, refunded in three parts: 6.75 ... exactly 80.00
    assert tax_back(D("91.13"), D("1080.00"), D("80.00")) == D("6.75")  # 6.7503...
    assert tax_back(D("6.75"), D("1080.00"), D("80.00")) == D("0.50")  # 0.5 exactly
    assert tax_back(D("0.27"), D("1080.00"), D("80.00")) == D("0.02")  # 0.02 exactly
    assert tax_back(D("0.20"), D("1080.00"), D("80.00")) == D("0.01")  # 0.0148 -> 0.01
    assert tax_back(D("1080.00"), D("1080.00"), D("80.00")) == D("80.00")


def close(period: str, last: datetime.date) -> data.Custom:
    return data.Custom(data.new_metadata("closes.beancount", 1), last, "close", [value(period)])


def test_a_purchase_of_a_closed_month_is_booked_on_the_first_open_day(tmp_path):
    path = write(tmp_path / "p.csv", ["2026-01-20,acme,,standard,1000.00,USD,pay-1,,,,",
                                      "2026-02-02,acme,,standard,1000.00,USD,pay-2,,,,"])
    importer = purchases.Importer(CONTRACTS)
    existing = [close("2026-01", datetime.date(2026, 1, 31)),
                data.Open(data.new_metadata("accounts.beancount", 1),
                          datetime.date(2026, 1, 1), "Assets:Bank", ["USD"], None)]
    made = importer.extract(str(path), existing)
    # the book opens no Liabilities:Deferred-Revenue:Acme (no contracts plugin here):
    # opened on the first open day, never in the closed month
    opened = [(e.date, e.account) for e in made if isinstance(e, data.Open)]
    assert opened == [(datetime.date(2026, 2, 1), "Liabilities:Deferred-Revenue:Acme")]
    late, on_time = [e for e in made if isinstance(e, data.Transaction)]
    assert (late.date, late.meta["original_date"], late.meta["prior_period"]) == (
        datetime.date(2026, 2, 1), datetime.date(2026, 1, 20), "2026-01")
    assert late.meta["expires"] == datetime.date(2026, 7, 20)  # from the day it was bought
    assert on_time.date == datetime.date(2026, 2, 2) and "original_date" not in on_time.meta


def test_a_fresh_book_opens_the_tax_account_and_reimports_byte_for_byte(tmp_path):
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book), "--start", "2026-01-01"]).exit_code == 0
    for sub in ("customers", "price-books", "costs"):
        for source in (ROOT / "contracts" / sub).glob("*.yaml"):
            (book / "contracts" / sub / source.name).write_bytes(source.read_bytes())
    (book / "importers.yaml").write_text("purchases: {tax_jurisdiction: US-CA}\n",
                                         encoding="utf-8")
    ledger = book / "main.beancount"
    path = write(tmp_path / "purchases.csv", [
        "2026-02-03,acme,,standard,1072.50,USD,pay-1,,,72.50,",
        "2026-03-01,hooli,,starter,200.00,USD,pay-2,,,,",
    ])
    result = runner.invoke(cli, ["import", "--ledger", str(ledger), "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["imported"] == 2
    assert errors(ledger) == []
    opened = (next((book / "imports").glob("2026-01.purchases.csv.*.beancount"))
              .read_text())
    assert "2026-01-01 open Liabilities:Sales-Tax:US-CA" in opened
    entries, _, _ = loader.load_file(str(ledger))
    total: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                total[p.account] = total.get(p.account, D(0)) + p.units.number
    assert total["Liabilities:Sales-Tax:US-CA"] == D("-72.50")
    assert total["Assets:Bank"] == D("1272.50")
    before = {p.name: p.read_bytes() for p in sorted((book / "imports").iterdir())}
    again = runner.invoke(cli, ["import", "--ledger", str(ledger), "--json", str(path)])
    assert json.loads(again.output)[0]["duplicates"] == 2
    assert {p.name: p.read_bytes() for p in sorted((book / "imports").iterdir())} == before


@pytest.mark.parametrize("text, expected", [
    ("purchases: {tax_jurisdiction: 'New York!'}\n", "purchases.tax_jurisdiction: expected"),
    ("stripe: {bank: bank}\n", "stripe.bank: expected a Beancount account name"),
])
def test_tax_and_bank_settings_are_checked(tmp_path, text, expected):
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book), "--start", "2026-01-01"]).exit_code == 0
    (book / "importers.yaml").write_text(text, encoding="utf-8")
    path = write(tmp_path / "p.csv", [])
    result = runner.invoke(cli, ["import", "--ledger", str(book / "main.beancount"),
                                 str(path)])
    assert result.exit_code == 1 and expected in result.output, result.output
