"""Purchase importers: the canonical purchases CSV and Stripe's payments export."""

from __future__ import annotations

import datetime
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from tokenbooks.importers import purchases, stripe
from tokenbooks.importers.purchase_base import PaymentIndex
from tokenbooks.plugins.entries.purchases import purchase_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "importers"
SHARED = ROOT.parent / "shared" / "reference" / "samples"
HEADER = "date,customer,contract,pack,amount,currency,payment_id,credits,expires\n"

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


@pytest.fixture(scope="module")
def contracts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "contracts", folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / "customers" / "tenant.yaml").write_text(TENANT, encoding="utf-8")
    book, errors = load_contracts(folder)
    assert "tenant" in book.customers, errors
    return book


def write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def records(result):
    return [purchase_from_entry(e) for e in result.entries]


def test_canonical_purchases(tmp_path, contracts):
    path = write(tmp_path / "purchases.csv", [
        "2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-001,,",
        "2026-01-10,acme,,large,4500.00,usd,,,",
        "2026-03-02,umbrella,umbrella-2026,umbrella-amend-1,700.00,USD,pay-002,,",
        "2026-01-05,hooli,hooli-2026,starter,200.00,USD,pay-003,25000,2026-12-31",
    ])
    importer = purchases.Importer(contracts)
    assert importer.identify(str(path))
    result = importer.run(path)
    assert (result.read, result.imported, result.duplicates, result.quarantined) == (4, 4, 0, 0)
    by_pack = {p.pack: p for p in records(result)}
    standard = by_pack["standard"]
    assert (standard.amount, standard.credits, standard.expires, standard.paid) == (
        Decimal("1000.00"), Decimal(100000), datetime.date(2026, 7, 3), True)
    large = by_pack["large"]
    assert (large.contract, large.paid, large.payment_id) == ("acme-2026", False, "")
    entry = next(e for e in result.entries if e.meta["pack"] == "large")
    assert entry.meta["import_key"] == "unpaid/acme/acme-2026/large/2026-01-10/4500.00#1"
    assert [p.account for p in entry.postings] == ["Assets:Receivable:Acme",
                                                  "Liabilities:Deferred-Revenue:Acme"]
    amend = by_pack["umbrella-amend-1"]
    assert (amend.credits, amend.expires) == (Decimal(100000), None)
    assert (by_pack["starter"].credits, by_pack["starter"].expires) == (
        Decimal(25000), datetime.date(2026, 12, 31))
    assert [e.date for e in result.entries] == sorted(e.date for e in result.entries)
    assert all(e.meta["source"] == "purchases.csv" for e in result.entries)


def test_bad_purchase_rows_are_quarantined(tmp_path, contracts):
    rows = [
        "2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-1,,",
        "2026-01-03,acme,acme-2026,mystery,1000.00,USD,pay-2,,",
        "2026-01-03,acme,acme-2026,standard,ten,USD,pay-3,,",
        "2026-01-03,acme,acme-2026,standard,10.005,USD,pay-4,,",
        "2026-01-03,acme,acme-2026,standard,-5.00,USD,pay-5,,",
        "2026-01-03,nobody,,standard,1000.00,USD,pay-6,,",
        "2026-02-30,acme,acme-2026,standard,1000.00,USD,pay-7,,",
        "2026-01-03,acme,acme-2026,standard,1000.00,EUR,pay-8,,",
        "2026-01-03,acme,acme-2099,standard,1000.00,USD,pay-9,,",
        "2025-06-01,acme,,standard,1000.00,USD,pay-10,,",
        "2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-11,1.5,",
        "2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-12,,2025-01-01",
        "2026-01-03,acme,acme-2026",
        "2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-1,,",
    ]
    result = purchases.Importer(contracts).run(write(tmp_path / "bad.csv", rows))
    assert result.read == len(rows) == result.imported + result.duplicates + result.quarantined
    assert (result.imported, result.duplicates, result.quarantined) == (1, 1, 12)
    fields = [(q.line, q.field) for q in result.quarantine]
    assert fields == [(3, "pack"), (4, "amount"), (5, "amount"), (6, "amount"),
                      (7, "customer"), (8, "date"), (9, "currency"), (10, "contract"),
                      (11, "contract"), (12, "credits"), (13, "expires"), (14, "(line)")]
    assert "expected one of: large, standard" in result.quarantine[0].reason
    assert result.quarantine[-1].content == "2026-01-03,acme,acme-2026"


def test_purchases_dedupe_by_payment_id_and_import_key(tmp_path, contracts):
    rows = ["2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-001,,",
            "2026-01-10,acme,,large,4500.00,USD,,,",
            "2026-01-10,acme,,large,4500.00,USD,,,"]  # two unpaid purchases alike
    path = write(tmp_path / "p.csv", rows)
    first = purchases.Importer(contracts).run(path)
    assert (first.imported, len(first.entries)) == (3, 3)
    index = PaymentIndex()
    importer = purchases.Importer(contracts, index=index)
    assert importer.extract(str(path), first.entries) == []
    again = importer.results[str(path)]
    assert (again.read, again.imported, again.duplicates) == (3, 0, 3)


def check_stripe_sample(path: Path, contracts) -> None:
    packs = {"Credit pack: 2,000 credits": "pack-2k", "Credit pack: 10,000 credits": "pack-10k"}
    importer = stripe.Importer(contracts, customers={"cus_QrvQguzkIK8zTj": "tenant",
                                                     "cus_RaB3cD4eF5gH6i": "tenant"},
                               packs=packs)
    assert importer.identify(str(path))
    assert not purchases.Importer(contracts).identify(str(path))
    result = importer.run(path)
    assert (result.read, result.imported, result.quarantined) == (2, 2, 0)
    made = records(result)
    assert [(p.kind, p.pack, p.amount, p.payment_id, p.refund_of) for p in made] == [
        ("purchase", "pack-2k", Decimal("20.00"), "ch_3QhK2bLkdIwHu7ix0aB1cD2e", ""),
        ("purchase", "pack-10k", Decimal("100.00"), "ch_3QhM9cLkdIwHu7ix1fG2hI3j", ""),
        ("refund", "pack-10k", Decimal("25.00"), "ch_3QhM9cLkdIwHu7ix1fG2hI3j/refund/25.00",
         "ch_3QhM9cLkdIwHu7ix1fG2hI3j"),
    ]
    refund = result.entries[2]
    assert refund.meta["rule"] == "refund"
    assert [(p.account, p.units.number) for p in refund.postings] == [
        ("Assets:Stripe", Decimal("-25.00")), ("Liabilities:Deferred-Revenue:Tenant",
                                             Decimal("25.00"))]
    assert made[0].expires == datetime.date(2026, 11, 3)


def test_stripe_sample_copy(contracts):
    check_stripe_sample(DATA / "stripe_payments.csv", contracts)


def test_stripe_shared_sample(contracts):
    if not SHARED.is_dir():
        pytest.skip("shared reference samples not available")
    check_stripe_sample(SHARED / "stripe_payments.csv", contracts)


def test_stripe_later_refund_books_the_difference_and_failures_are_quarantined(
        tmp_path, contracts):
    index = PaymentIndex()
    lines = (DATA / "stripe_payments.csv").read_text(encoding="utf-8").splitlines()
    first = tmp_path / "may.csv"
    first.write_text("\n".join(lines) + "\n", encoding="utf-8")
    importer = stripe.Importer(contracts, index=index,
                               customers={"cus_QrvQguzkIK8zTj": "tenant",
                                          "cus_RaB3cD4eF5gH6i": "tenant"},
                               description_pattern=r"Credit pack: (?P<pack>\d+),000")
    # Packs named by the pattern: "2" and "10" are not packs of the contract.
    bad = importer.run(first)
    assert bad.quarantined == 2 and bad.quarantine[0].field == "pack"
    importer = stripe.Importer(contracts, index=index,
                               customers={"cus_QrvQguzkIK8zTj": "tenant",
                                          "cus_RaB3cD4eF5gH6i": "tenant"},
                               packs={"Credit pack: 2,000 credits": "pack-2k",
                                      "Credit pack: 10,000 credits": "pack-10k"})
    one = importer.run(first)
    assert (one.imported, len(one.entries)) == (2, 3)
    later = tmp_path / "june.csv"
    more = lines[2].replace(",100.00,25.00,usd,100.00,25.00,", ",100.00,40.00,usd,100.00,40.00,")
    failed = lines[1].replace("ch_3QhK2b", "ch_FAILED").replace(",Paid,", ",Failed,")
    later.write_text("\n".join([lines[0], lines[1], more, failed]) + "\n", encoding="utf-8")
    two = importer.run(later)
    assert (two.read, two.imported, two.duplicates, two.quarantined) == (3, 1, 1, 1)
    (refund,) = records(two)
    assert (refund.kind, refund.amount, refund.payment_id) == (
        "refund", Decimal("15.00"), "ch_3QhM9cLkdIwHu7ix1fG2hI3j/refund/40.00")
    assert two.quarantine[0].field == "Status" and "'Failed'" in two.quarantine[0].reason
    assert importer.run(later).imported == 0


@pytest.mark.parametrize("column", ["Created date (UTC)", "Created"])
def test_stripe_unified_and_legacy_layouts(tmp_path, contracts, column):
    """The unified payments export names the creation time ``Created date (UTC)``, the
    legacy export ``Created``: the same charges, the same books."""
    sample = ROOT / "tests" / "data" / "importers" / "stripe_payments.csv"
    text = sample.read_text(encoding="utf-8")
    assert "Created (UTC)" in text.splitlines()[0]
    renamed = tmp_path / "unified_payments.csv"
    lines = text.splitlines(keepends=True)
    renamed.write_text(lines[0].replace("Created (UTC)", column) + "".join(lines[1:]),
                       encoding="utf-8")
    check_stripe_sample(renamed, contracts)


def test_stripe_export_without_a_creation_column_is_not_stripe(tmp_path, contracts):
    sample = ROOT / "tests" / "data" / "importers" / "stripe_payments.csv"
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "x.csv"
    path.write_text(lines[0].replace("Created (UTC)", "When") + "".join(lines[1:]),
                    encoding="utf-8")
    assert not stripe.Importer(contracts).identify(str(path))
