"""Money as it really moves through Stripe: the payments export and the itemized balance
report (``importers.stripe``, ``importers.stripe_balance``) — fees, payouts, tax, refund
dates, closed months, and the two exports never booking each other twice."""

from __future__ import annotations

import csv
import datetime
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from beancount.core.amount import Amount
from click.testing import CliRunner
from closekit import build, close, errors

from tokenbooks.importers import late, openai_costs, stripe, stripe_balance
from tokenbooks.importers.purchase_base import PaymentIndex
from tokenbooks.plugins.entries.build import value
from tokenbooks.plugins.entries.purchases import parse_purchases, purchase_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "importers"
PAYMENTS = DATA / "stripe_payments.csv"
BALANCE = DATA / "stripe_balance_change_from_activity_itemized.csv"
CH_2K = "ch_3QhK2bLkdIwHu7ix0aB1cD2e"
CH_10K = "ch_3QhM9cLkdIwHu7ix1fG2hI3j"
RE_10K = "re_3QhN0dLkdIwHu7ix4lMnOpQr"
TENANT = """\
customer: tenant
name: Tenant Co
contracts:
  - id: tenant-2025
    start: 2025-01-01
    currency: USD
    billing: prepaid
    price_book: list-2026
    credit_value: 0.01
    packs:
      pack-2k: {price: 20.00, credits: 2000, expires_after: 12 months}
      pack-10k: {price: 100.00, credits: 10000, expires_after: 12 months}
"""
MAPPING = {"customers": {"cus_QrvQguzkIK8zTj": "tenant", "cus_RaB3cD4eF5gH6i": "tenant"},
           "packs": {"Credit pack: 2,000 credits": "pack-2k",
                     "Credit pack: 10,000 credits": "pack-10k"}}
D = Decimal


@pytest.fixture(scope="module")
def contracts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "contracts", folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / "customers" / "tenant.yaml").write_text(TENANT, encoding="utf-8")
    book, errs = load_contracts(folder)
    assert "tenant" in book.customers, errs
    return book


def payments_importer(contracts, index=None, **over):
    return stripe.Importer(contracts, index=index, **{**MAPPING, **over})


def balance_importer(contracts, index=None, **over):
    return stripe_balance.Importer(contracts, index=index, **{**MAPPING, **over})


def table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def variant(path: Path, target: Path, rows: list[dict[str, str]],
            extra: tuple[str, ...] = ()) -> Path:
    """A file of ``path``'s header (plus ``extra`` columns) with ``rows``: each row a
    change of the sample's first row (missing columns empty)."""
    names, sample = table(path)
    names = [*names, *extra]
    out = io.StringIO()
    writer = csv.DictWriter(out, names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" for name in names} | {**sample[0], **row})
    target.write_text(out.getvalue(), encoding="utf-8")
    return target


def postings(entry) -> list[tuple[str, Decimal]]:
    return [(p.account, p.units.number) for p in entry.postings]


def balances(entries) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                total[p.account] = total.get(p.account, D(0)) + p.units.number
    return total


def close_entry(period: str) -> data.Custom:
    last = {"2025-11": datetime.date(2025, 11, 30), "2026-01": datetime.date(2026, 1, 31)}
    return data.Custom(data.new_metadata("closes.beancount", 1), last[period], "close",
                       [value(period)])


# -- fees and payouts ------------------------------------------------------------------


def test_sample_charge_lands_gross_in_the_clearing_account_with_its_fee(contracts):
    result = payments_importer(contracts).run(PAYMENTS)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    first, second, refund = result.entries
    assert postings(first) == [
        ("Assets:Stripe", D("20.00")), ("Liabilities:Deferred-Revenue:Tenant", D("-20.00")),
        ("Expenses:Payment-Processing", D("0.88")), ("Assets:Stripe", D("-0.88"))]
    assert postings(second) == [
        ("Assets:Stripe", D("100.00")), ("Liabilities:Deferred-Revenue:Tenant", D("-100.00")),
        ("Expenses:Payment-Processing", D("3.20")), ("Assets:Stripe", D("-3.20"))]
    # the consideration is read from the liability legs only
    assert purchase_from_entry(second).amount == D("100.00")
    assert postings(refund) == [("Assets:Stripe", D("-25.00")),
                                ("Liabilities:Deferred-Revenue:Tenant", D("25.00"))]
    assert refund.date == datetime.date(2025, 11, 4)  # the charge's day: its month is open
    assert "original_date" not in refund.meta
    assert balances(result.entries)["Assets:Stripe"] == D("90.92")  # 120 - 4.08 - 25


def test_balance_report_books_charges_fees_refund_and_payout_that_tie_to_the_bank(
        tmp_path, contracts):
    rows = [
        {}, {"balance_transaction_id": "txn_2", "created_utc": "2025-11-04 08:03:41",
             "gross": "100.00", "fee": "3.20", "net": "96.80", "source_id": CH_10K,
             "charge_id": CH_10K, "description": "Credit pack: 10,000 credits",
             "customer_id": "cus_RaB3cD4eF5gH6i"},
        {"balance_transaction_id": "txn_3", "created_utc": "2025-11-05 10:11:12",
         "gross": "-25.00", "fee": "0.00", "net": "-25.00", "reporting_category": "refund",
         "source_id": RE_10K, "charge_id": CH_10K},
        {"balance_transaction_id": "txn_po", "created_utc": "2025-11-07 00:05:00",
         "gross": "-90.92", "fee": "0.00", "net": "-90.92", "reporting_category": "payout",
         "source_id": "po_1QiA1bLkdIwHu7ixMnBvCxZa", "description": "STRIPE PAYOUT",
         "charge_id": "", "customer_id": ""},
    ]
    path = variant(BALANCE, tmp_path / "balance.csv", rows)
    importer = balance_importer(contracts)
    assert importer.identify(str(path))
    assert not payments_importer(contracts).identify(str(path))
    result = importer.run(path)
    assert (result.read, result.imported, result.duplicates, result.quarantined) == (4, 4, 0, 0)
    charge_2k, charge_10k, refund, payout = result.entries
    assert postings(charge_2k)[2:] == [("Expenses:Payment-Processing", D("0.88")),
                                       ("Assets:Stripe", D("-0.88"))]
    assert (refund.date, refund.meta["payment_id"], refund.meta["refund_of"]) == (
        datetime.date(2025, 11, 5), RE_10K, CH_10K)
    assert payout.meta["rule"] == "payout" and payout.date == datetime.date(2025, 11, 7)
    assert postings(payout) == [("Assets:Bank", D("90.92")), ("Assets:Stripe", D("-90.92"))]
    total = balances(result.entries)
    # Stripe's payout report: 120.00 gross - 4.08 fees - 25.00 refunded = 90.92 paid out
    assert total["Assets:Stripe"] == D("0.00")
    assert total["Assets:Bank"] == D("90.92")
    assert total["Expenses:Payment-Processing"] == D("4.08")
    assert total["Liabilities:Deferred-Revenue:Tenant"] == D("-95.00")
    assert balance_importer(contracts, index=importer.index).run(path).imported == 0


@pytest.mark.parametrize("order", [("payments", "balance"), ("balance", "payments")])
def test_the_two_exports_never_book_each_other_twice(contracts, order):
    index = PaymentIndex()
    made = []
    for name in order:
        importer = (payments_importer if name == "payments" else balance_importer)(
            contracts, index=index)
        made.append(importer.run(PAYMENTS if name == "payments" else BALANCE))
    first, second = made
    assert (len(first.entries), second.imported, len(second.entries)) == (3, 0, 0)
    assert second.duplicates == second.read
    total = balances(first.entries)
    assert total["Liabilities:Deferred-Revenue:Tenant"] == D("-95.00")
    assert total["Expenses:Payment-Processing"] == D("4.08")
    (refund,) = [e for e in first.entries if e.meta["rule"] == "refund"]
    expected = (f"{CH_10K}/refund/25.00", datetime.date(2025, 11, 4)) if (
        order[0] == "payments") else (RE_10K, datetime.date(2025, 11, 5))
    assert (refund.meta["payment_id"], refund.date) == expected


def test_a_later_export_books_only_the_refund_beyond_the_balance_reports(tmp_path,
                                                                         contracts):
    index = PaymentIndex()
    balance_importer(contracts, index=index).run(BALANCE)  # refund re_... of 25.00
    names, rows = table(PAYMENTS)
    # a payments export older than the refund is not an error: nothing to book
    older = variant(PAYMENTS, tmp_path / "older.csv", [rows[1] | {"Amount Refunded": "0.00"}])
    stale = payments_importer(contracts, index=index).run(older)
    assert (stale.imported, stale.duplicates, stale.quarantined) == (0, 1, 0)
    later = variant(PAYMENTS, tmp_path / "later.csv", [rows[1] | {"Amount Refunded": "40.00"}])
    result = payments_importer(contracts, index=index).run(later)
    (refund,) = result.entries
    assert (refund.meta["payment_id"], purchase_from_entry(refund).amount) == (
        f"{CH_10K}/refund/40.00", D("15.00"))
    # now older than what the book holds from the payments export itself: quarantined
    again = payments_importer(contracts, index=index).run(older)
    (q,) = again.quarantine
    assert (q.line, q.field) == (2, "Amount Refunded") and "holds 15.00 refunded" in q.reason
    assert balance_importer(contracts, index=index).run(BALANCE).imported == 0


def test_the_balance_report_recognises_a_refund_the_payments_export_booked(tmp_path,
                                                                          contracts):
    index = PaymentIndex()
    payments_importer(contracts, index=index).run(PAYMENTS)  # books ch.../refund/25.00
    names, rows = table(BALANCE)
    second = {**rows[2], "balance_transaction_id": "txn_r2", "source_id": "re_second",
              "created_utc": "2025-11-20 09:00:00", "gross": "-15.00", "net": "-15.00"}
    path = variant(BALANCE, tmp_path / "balance.csv", [*rows, second])
    result = balance_importer(contracts, index=index).run(path)
    assert (result.read, result.imported, result.duplicates) == (4, 1, 3)
    (refund,) = result.entries
    assert (refund.meta["payment_id"], refund.date, purchase_from_entry(refund).amount) == (
        "re_second", datetime.date(2025, 11, 20), D("15.00"))
    # from the book, in a new process, the same
    fresh = PaymentIndex()
    fresh.register([*payments_importer(contracts).run(PAYMENTS).entries, *result.entries])
    assert balance_importer(contracts, index=fresh).run(path).imported == 0


def test_a_fee_the_book_lacks_is_booked_once_on_its_own(tmp_path, contracts):
    names, rows = table(PAYMENTS)
    no_fee = variant(PAYMENTS, tmp_path / "nofee.csv", [rows[0] | {"Fee": ""}])
    index = PaymentIndex()
    (charge,) = payments_importer(contracts, index=index).run(no_fee).entries
    assert len(charge.postings) == 2
    result = balance_importer(contracts, index=index).run(BALANCE)
    fees = [e for e in result.entries if e.meta["rule"] == "fee"]
    assert [(e.meta["fee_of"], e.meta["customer"], postings(e)) for e in fees] == [
        (CH_2K, "tenant", [("Expenses:Payment-Processing", D("0.88")),
                           ("Assets:Stripe", D("-0.88"))])]
    index2 = PaymentIndex()
    index2.register([charge, *result.entries])
    assert not [e for e in balance_importer(contracts, index=index2).run(BALANCE).entries
                if e.meta["rule"] == "fee"]
    assert payments_importer(contracts, index=index2).run(PAYMENTS).imported == 0


def test_stripe_fees_and_payout_reversals(tmp_path, contracts):
    rows = [{"balance_transaction_id": "txn_f", "reporting_category": "fee",
             "gross": "-2.50", "fee": "0.00", "net": "-2.50", "source_id": "",
             "description": "Billing - Usage Fee", "charge_id": "", "customer_id": ""},
            {"balance_transaction_id": "txn_pr", "reporting_category": "payout_reversal",
             "gross": "50.00", "fee": "0.00", "net": "50.00", "source_id": "po_failed",
             "charge_id": "", "customer_id": ""}]
    result = balance_importer(contracts).run(variant(BALANCE, tmp_path / "b.csv", rows))
    fee, reversal = sorted(result.entries, key=lambda e: e.meta["rule"])
    assert (fee.meta["fee_of"], postings(fee)) == (
        "txn_f", [("Expenses:Payment-Processing", D("2.50")), ("Assets:Stripe", D("-2.50"))])
    assert postings(reversal) == [("Assets:Bank", D("-50.00")), ("Assets:Stripe", D("50.00"))]


# -- tax ---------------------------------------------------------------------------------


def test_tax_goes_to_sales_tax_and_refunds_give_it_back_in_proportion(tmp_path, contracts):
    names, rows = table(PAYMENTS)
    charge = rows[1] | {"Amount": "107.25", "Tax": "7.25", "Amount Refunded": "33.33",
                        "tax_jurisdiction (metadata)": "DE"}
    index = PaymentIndex()
    path = variant(PAYMENTS, tmp_path / "p1.csv", [charge], ("tax_jurisdiction (metadata)",))
    result = payments_importer(contracts, index=index).run(path)
    purchase, refund = result.entries
    assert postings(purchase) == [
        ("Assets:Stripe", D("107.25")), ("Liabilities:Sales-Tax:DE", D("-7.25")),
        ("Liabilities:Deferred-Revenue:Tenant", D("-100.00")),
        ("Expenses:Payment-Processing", D("3.20")), ("Assets:Stripe", D("-3.20"))]
    assert purchase_from_entry(purchase).amount == D("100.00")  # net of tax
    # 33.33 of 107.25: tax back 33.33 x 7.25 / 107.25 = 2.2530... -> 2.25
    assert postings(refund) == [("Assets:Stripe", D("-33.33")),
                                ("Liabilities:Sales-Tax:DE", D("2.25")),
                                ("Liabilities:Deferred-Revenue:Tenant", D("31.08"))]
    taxes = [D("2.25")]
    for total in ("66.66", "107.25"):
        path = variant(PAYMENTS, tmp_path / f"p{total}.csv",
                       [charge | {"Amount Refunded": total}], ("tax_jurisdiction (metadata)",))
        (more,) = payments_importer(contracts, index=index).run(path).entries
        taxes.append(postings(more)[1][1])
    # 66.66 -> 4.5060 -> 4.51 (2.26 more); 107.25 -> 7.25 (2.74 more): all of it, exactly
    assert taxes == [D("2.25"), D("2.26"), D("2.74")] and sum(taxes) == D("7.25")


def test_tax_jurisdiction_from_the_settings_else_unknown(tmp_path, contracts):
    names, rows = table(PAYMENTS)
    path = variant(PAYMENTS, tmp_path / "p.csv",
                   [rows[0] | {"Amount": "21.60", "Tax": "1.60"}])
    (entry,) = payments_importer(contracts, tax_jurisdiction="US-CA").run(path).entries
    assert postings(entry)[1] == ("Liabilities:Sales-Tax:US-CA", D("-1.60"))
    (entry,) = payments_importer(contracts).run(path).entries
    assert postings(entry)[1] == ("Liabilities:Sales-Tax:Unknown", D("-1.60"))


# -- refund dates and closed months ---------------------------------------------------------


def test_a_refund_without_a_date_goes_to_the_first_open_month(tmp_path, contracts):
    """The charge of 2025-11-04 is booked, November is closed, then December's payments
    export shows its refund: dated 2025-12-01, with the charge's day."""
    names, rows = table(PAYMENTS)
    first = variant(PAYMENTS, tmp_path / "nov.csv", [rows[1] | {"Amount Refunded": "0.00"}])
    booked = payments_importer(contracts).run(first).entries
    existing = [*booked, close_entry("2025-11")]
    importer = payments_importer(contracts)
    (refund,) = importer.extract(str(PAYMENTS.with_name("stripe_payments.csv")), existing)[-1:]
    assert refund.meta["rule"] == "refund"
    assert refund.date == datetime.date(2025, 12, 1)
    assert (refund.meta["original_date"], refund.meta["prior_period"]) == (
        datetime.date(2025, 11, 4), "2025-11")
    # the charge of 2025-11-03, new to the book, is a prior-period purchase the same way
    charge = next(e for e in importer.results[str(PAYMENTS)].entries
                  if e.meta.get("payment_id") == CH_2K)
    assert (charge.date, charge.meta["original_date"]) == (
        datetime.date(2025, 12, 1), datetime.date(2025, 11, 3))
    assert late.booked_month(charge) == "2025-11"  # written to November's import file


def test_balance_refund_of_a_closed_month_keeps_its_date_as_original(contracts):
    charges = payments_importer(contracts).run(PAYMENTS).entries[:2]  # not the refund
    existing = [*charges, close_entry("2025-11")]
    entries = balance_importer(contracts).extract(str(BALANCE), existing)
    refunds = [e for e in entries if isinstance(e, data.Transaction)
               and e.meta["rule"] == "refund"]
    assert [(e.date, e.meta["original_date"], e.meta["payment_id"]) for e in refunds] == [
        (datetime.date(2025, 12, 1), datetime.date(2025, 11, 5), RE_10K)]


def test_provider_bill_lines_of_a_closed_month_are_redated(tmp_path):
    report = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": 1768435200, "end_time": 1768521600,  # 2026-01-15
         "results": [{"object": "organization.costs.result",
                      "amount": {"value": 1.25, "currency": "usd"},
                      "line_item": "gpt-4o, input", "project_id": None}]}]}
    path = tmp_path / "openai-costs.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    (line,) = openai_costs.Importer().extract(str(path), [close_entry("2026-01")])
    assert (line.date, line.meta["original_date"], line.meta["prior_period"]) == (
        datetime.date(2026, 2, 1), datetime.date(2026, 1, 15), "2026-01")
    assert line.values[2].value == Amount(D("1.25"), "USD")
    assert "2026-01-15" in line.meta["bill_key"]  # the report's day: still its own duplicate


# -- bad input ---------------------------------------------------------------------------------


def test_bad_stripe_rows_are_quarantined_with_line_field_and_what_was_expected(tmp_path,
                                                                               contracts):
    names, rows = table(PAYMENTS)
    payments = variant(PAYMENTS, tmp_path / "bad-payments.csv", [
        rows[0] | {"id": "ch_eur", "Currency": "eur"},
        rows[1] | {"id": "ch_cheap", "Amount": "90.00", "Amount Refunded": "0.00"},
        rows[1] | {"id": "ch_taxed", "Amount": "10.00", "Tax": "10.00", "Amount Refunded": "0"},
        rows[1] | {"id": "ch_over", "Amount Refunded": "100.01"},
        rows[0] | {"id": "ch_badjur", "Amount": "21.00", "Tax": "1.00",
                   "tax_jurisdiction (metadata)": "Nord/Est"},
        rows[0] | {"id": "ch_fee", "Fee": "-1.00"},
    ], ("tax_jurisdiction (metadata)",))
    result = payments_importer(contracts).run(payments)
    assert result.read == 6 == result.quarantined
    found = {(q.line, q.field): q.reason for q in result.quarantine}
    assert list(found) == [(2, "Currency"), (3, "Amount"), (4, "Tax"), (5, "Amount Refunded"),
                           (6, "tax_jurisdiction"), (7, "Fee")]
    assert "expected USD (the currency of contract 'tenant-2025'), got 'EUR'" in found[2,
                                                                                       "Currency"]
    assert found[3, "Amount"].startswith("expected 100.00 (the price of pack 'pack-10k'")
    assert found[3, "Amount"].endswith("got 90.00")
    assert "expected at most the amount 100.00, got 100.01" in found[5, "Amount Refunded"]
    index = PaymentIndex()
    payments_importer(contracts, index=index).run(PAYMENTS)
    b_names, b_rows = table(BALANCE)
    balance = variant(BALANCE, tmp_path / "bad-balance.csv", [
        b_rows[2] | {"source_id": "re_unknown", "charge_id": "ch_unknown"},
        b_rows[2] | {"source_id": "re_over", "gross": "-100.01", "net": "-100.01"},
        b_rows[2] | {"source_id": "re_eur", "currency": "eur"},
        b_rows[2] | {"source_id": "re_nocharge", "charge_id": ""},
        b_rows[0] | {"balance_transaction_id": "txn_net", "source_id": "ch_net",
                     "charge_id": "ch_net", "net": "19.00"},
        b_rows[0] | {"balance_transaction_id": "txn_d", "reporting_category": "dispute",
                     "gross": "-20.00", "fee": "15.00", "net": "-35.00"},
        b_rows[0] | {"balance_transaction_id": "txn_c", "source_id": "ch_c", "charge_id": "ch_c",
                     "gross": "25.00", "fee": "1.00", "net": "24.00"},
    ])
    result = balance_importer(contracts, index=index).run(balance)
    assert result.read == 7 == result.quarantined + result.duplicates
    found = {(q.line, q.field): q.reason for q in result.quarantine}
    assert list(found) == [(2, "charge_id"), (3, "gross"), (4, "currency"), (5, "charge_id"),
                           (6, "net"), (7, "reporting_category"), (8, "gross")]
    assert "refund of an unknown payment 'ch_unknown'" in found[2, "charge_id"]
    assert ("expected at most 100.00 (charge ch_3QhM9cLkdIwHu7ix1fG2hI3j paid 100.00, "
            "refunded 0.00 so far by refunds of their own), got 100.01: the refund "
            "over-applies") in found[3, "gross"]
    assert "expected USD (the currency of charge" in found[4, "currency"]
    assert "expected gross - fee = 19.12, got 19.00" in found[6, "net"]
    assert "got 'dispute': not booked" in found[7, "reporting_category"]
    assert "expected 20.00 (the price of pack 'pack-2k'" in found[8, "gross"]


# -- end to end: a fresh book, a closed month, re-import byte for byte ----------------------


STRIPE_YAML = "stripe:\n  customers: {cus_acme: acme}\n  packs: {'Standard pack': standard}\n"


def acme_exports(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names, rows = table(PAYMENTS)
    payments = variant(PAYMENTS, folder / "unified_payments.csv", [
        rows[0] | {"id": "ch_acme_1", "Description": "Standard pack",
                   "Created (UTC)": "2026-01-20 10:00:00", "Amount": "1000.00",
                   "Amount Refunded": "100.00", "Fee": "29.30", "Customer ID": "cus_acme"}])
    b_names, b_rows = table(BALANCE)
    balance = variant(BALANCE, folder / "balance_change_from_activity.csv", [
        b_rows[0] | {"balance_transaction_id": "txn_a1", "created_utc": "2026-01-20 10:00:00",
                     "gross": "1000.00", "fee": "29.30", "net": "970.70",
                     "source_id": "ch_acme_1", "charge_id": "ch_acme_1",
                     "description": "Standard pack", "customer_id": "cus_acme"},
        b_rows[2] | {"balance_transaction_id": "txn_a2", "created_utc": "2026-02-03 12:00:00",
                     "gross": "-100.00", "net": "-100.00", "source_id": "re_acme_1",
                     "charge_id": "ch_acme_1", "customer_id": "cus_acme"},
        b_rows[0] | {"balance_transaction_id": "txn_a3", "created_utc": "2026-02-05 00:00:00",
                     "gross": "-870.70", "fee": "0.00", "net": "-870.70",
                     "reporting_category": "payout", "source_id": "po_acme_1",
                     "charge_id": "", "customer_id": "", "description": "STRIPE PAYOUT"}])
    return payments, balance


def book_balances(ledger: Path) -> dict[str, Decimal]:
    entries, _, _ = loader.load_file(str(ledger))
    return balances(entries)


def test_a_fresh_book_takes_both_exports_and_ties_the_payout_to_the_bank(tmp_path):
    runner = CliRunner()
    book = tmp_path / "book"
    assert runner.invoke(cli, ["init", str(book), "--start", "2026-01-01"]).exit_code == 0
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, book / "contracts" / sub)
    (book / "importers.yaml").write_text(STRIPE_YAML, encoding="utf-8")
    ledger = book / "main.beancount"
    payments, balance = acme_exports(tmp_path / "sources")
    result = runner.invoke(cli, ["import", "--ledger", str(ledger), "--json",
                                 str(payments), str(balance)])
    assert result.exit_code == 0, result.output
    paid, moved = json.loads(result.output)
    assert (paid["importer"], paid["imported"]) == ("tokenbooks.importers.stripe.Importer", 1)
    assert (moved["importer"], moved["read"], moved["imported"], moved["duplicates"]) == (
        "tokenbooks.importers.stripe_balance.Importer", 3, 1, 2)
    assert errors(ledger) == []
    text = "".join(p.read_text() for p in sorted((book / "imports").glob("2026-01.*")))
    assert " open " not in text  # tokenbooks init opens the clearing and fee accounts
    total = book_balances(ledger)
    # 1000.00 charged - 29.30 fee - 100.00 refunded = 870.70 paid out: the clearing
    # account is empty, the bank holds the payout.
    assert (total["Assets:Stripe"], total["Assets:Bank"]) == (D("0.00"), D("870.70"))
    assert total["Expenses:Payment-Processing"] == D("29.30")
    found, bad = parse_purchases(loader.load_file(str(ledger))[0])
    assert not bad and sorted(p.payment_id for p, _ in found) == [
        "ch_acme_1", "ch_acme_1/refund/100.00"]
    before = {p.name: p.read_bytes() for p in sorted((book / "imports").iterdir())}
    again = runner.invoke(cli, ["import", "--ledger", str(ledger), "--json",
                                str(balance), str(payments)])
    assert again.exit_code == 0, again.output
    assert [r["imported"] for r in json.loads(again.output)] == [0, 0]
    assert {p.name: p.read_bytes() for p in sorted((book / "imports").iterdir())} == before


def test_stripe_exports_after_the_close_never_write_into_the_closed_month(tmp_path):
    # a book made before tokenbooks init opened the clearing account, January closed:
    # the import opens it, on the first open day
    ledger = build(tmp_path)
    accounts_file = ledger.parent / "accounts.beancount"
    accounts_file.write_text("".join(
        line for line in accounts_file.read_text().splitlines(keepends=True)
        if "Assets:Stripe" not in line))
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    (ledger.parent / "importers.yaml").write_text(STRIPE_YAML, encoding="utf-8")
    book = ledger.parent
    payments, balance = acme_exports(tmp_path / "sources")
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "--ledger", str(ledger), str(payments),
                                 str(balance)])
    assert result.exit_code == 0, result.output
    assert errors(ledger) == []
    january = next((book / "imports").glob("2026-01.unified_payments.csv.*.beancount"))
    text = january.read_text()
    # the January charge and its refund (no date in the export): the first open day
    assert text.count("2026-02-01 * \"Acme Corp\"") == 2
    assert text.count("original_date: 2026-01-20") == 2
    assert text.count('prior_period: "2026-01"') == 2
    opened = next((book / "imports").glob("2026-02.unified_payments.csv.*.beancount"))
    assert "2026-02-01 open Assets:Stripe" in opened.read_text()
    total = book_balances(ledger)
    assert (total["Assets:Stripe"], total["Assets:Bank"] - D("3200.00")) == (
        D("0.00"), D("870.70"))
