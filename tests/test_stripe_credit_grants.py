"""Stripe credit grants (``importers.stripe_credit_grants``): ``billing.credit_grant`` JSON
as the purchases path's entries — promotional grants, paid grants as the purchase of
their charge (booked once with the Stripe payments export, in either order), voids,
priority, expiry, zero-decimal currencies, quarantine, conflicts and identification.

Numbers checked by hand against the files: the reference sample's grant is effective at
1762179725 = 2025-11-03 14:22:05 UTC and expires at 1793715725 = 2026-11-03 14:22:05 UTC
(365 days later); 2000 minor units of usd = 20.00 USD = 2,000 credits at 0.01.
"""

from __future__ import annotations

import calendar
import datetime
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount.core import data
from click.testing import CliRunner
from closekit import errors

from tokenbooks.importers import stripe, stripe_credit_grants
from tokenbooks.importers.diagnose import explain
from tokenbooks.importers.purchase_base import PaymentIndex
from tokenbooks.plugins.entries.purchases import parse_purchases, purchase_from_entry
from tokenbooks.plugins.invariants import twice_paid
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.scripts import loading
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.import_cmd import make_importers

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
GRANT = SAMPLES / "stripe_credit_grant.json"
PAYMENTS = ROOT / "tests" / "data" / "importers" / "stripe_payments.csv"  # = the sample's
CH_2K = "ch_3QhK2bLkdIwHu7ix0aB1cD2e"
CH_10K = "ch_3QhM9cLkdIwHu7ix1fG2hI3j"
SAMPLE_ID = "credgr_test_61R9a6NUWsRmOW3RM41L6nFOS1ekDGHo"
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
      boost: {price: 50.00, credits: 5000, expires_after: 6 months, priority: 10}
    grants:
      - {id: credgr_declared, date: 2026-01-05, credits: 1000, kind: promotional,
         priority: 5}
"""
YAMATO = """\
customer: yamato
name: Yamato KK
contracts:
  - id: yamato-2026
    start: 2026-01-01
    currency: JPY
    billing: prepaid
    price_book: list-jpy
    credit_value: 1
    packs:
      pack-3k: {price: 3000, credits: 3000, expires_after: 12 months}
"""
MAPPING = {"customers": {"cus_QrvQguzkIK8zTj": "tenant", "cus_RaB3cD4eF5gH6i": "tenant",
                         "cus_JpYamato01": "yamato"},
           "packs": {"Purchased Credits - 2,000 pack": "pack-2k",
                     "Purchased Credits - 10,000 pack": "pack-10k",
                     "Credit pack: 2,000 credits": "pack-2k",
                     "Credit pack: 10,000 credits": "pack-10k",
                     "Yamato 3,000": "pack-3k"}}
STRIPE_YAML = """\
stripe:
  customers: {cus_QrvQguzkIK8zTj: tenant, cus_RaB3cD4eF5gH6i: tenant}
  packs: {"Credit pack: 2,000 credits": pack-2k, "Credit pack: 10,000 credits": pack-10k,
          "Purchased Credits - 2,000 pack": pack-2k,
          "Purchased Credits - 10,000 pack": pack-10k}
"""
D = Decimal


def write_contracts(folder: Path) -> Path:
    shutil.copytree(ROOT / "contracts", folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / "customers" / "tenant.yaml").write_text(TENANT, encoding="utf-8")
    (folder / "customers" / "yamato.yaml").write_text(YAMATO, encoding="utf-8")
    usd = (ROOT / "contracts" / "price-books" / "list-2026.yaml").read_text(encoding="utf-8")
    (folder / "price-books" / "list-jpy.yaml").write_text(
        usd.replace("id: list-2026", "id: list-jpy").replace("currency: USD", "currency: JPY"),
        encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def contracts(tmp_path_factory):
    book, errs = load_contracts(write_contracts(tmp_path_factory.mktemp("contracts")))
    assert {"tenant", "yamato"} <= set(book.customers), errs
    return book


def grants_importer(contracts, index=None, **over):
    return stripe_credit_grants.Importer(contracts, index=index, **{**MAPPING, **over})


def payments_importer(contracts, index=None):
    return stripe.Importer(contracts, index=index, **MAPPING)


def ts(text: str) -> int:
    """Unix seconds of a UTC time written ``2026-01-05T10:00:00``."""
    return calendar.timegm(datetime.datetime.fromisoformat(text).timetuple())


def grant(gid: str, **over) -> dict:
    """A grant shaped like the reference sample's (paid, 20.00 USD, ch_2k), changed."""
    record = json.loads(GRANT.read_text(encoding="utf-8"))
    record["id"] = gid
    for key, value in over.items():
        if key == "metadata":
            record["metadata"] = value
        elif key == "value":
            record["amount"]["monetary"]["value"] = value
        elif key == "currency":
            record["amount"]["monetary"]["currency"] = value
        else:
            record[key] = value
    return record


def promo(gid: str, **over) -> dict:
    base = {"category": "promotional", "name": "Welcome credits", "metadata": {},
            "value": 500, "effective_at": ts("2026-01-05T10:00:00"),
            "expires_at": ts("2026-04-01T00:00:00")}
    return grant(gid, **{**base, **over})


def listing(path: Path, records: list, has_more: bool = False) -> Path:
    path.write_text(json.dumps({"object": "list", "data": records, "has_more": has_more,
                                "url": "/v1/billing/credit_grants"}, indent=2),
                    encoding="utf-8")
    return path


def postings(entry) -> list[tuple[str, Decimal, str]]:
    return [(p.account, p.units.number, p.units.currency) for p in entry.postings]


def balances(entries) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                total[p.account] = total.get(p.account, D(0)) + p.units.number
    return total


def by_id(entries) -> dict[str, data.Transaction]:
    return {e.meta["grant_id"]: e for e in entries if "grant_id" in e.meta}


# -- the reference sample -------------------------------------------------------------------------


def test_the_sample_paid_grant_books_the_purchase_of_its_charge(contracts):
    importer = grants_importer(contracts)
    assert importer.identify(str(GRANT))
    result = importer.run(GRANT)
    assert (result.read, result.imported, result.duplicates, result.quarantined) == (1, 1, 0, 0)
    [entry] = result.entries
    assert entry.date == datetime.date(2025, 11, 3)  # effective_at, UTC
    assert postings(entry) == [("Assets:Stripe", D("20.00"), "USD"),
                               ("Liabilities:Deferred-Revenue:Tenant", D("-20.00"), "USD")]
    purchase = purchase_from_entry(entry)
    assert (purchase.payment_id, purchase.pack, purchase.credits, purchase.expires,
            purchase.grant) == (CH_2K, "pack-2k", D(2000), datetime.date(2026, 11, 3), "")
    assert (entry.meta["grant_id"], entry.meta["stripe_customer"], entry.meta["priority"]) == (
        SAMPLE_ID, "cus_QrvQguzkIK8zTj", D(50))
    again = grants_importer(contracts, index=importer.index).run(GRANT)
    assert (again.imported, again.duplicates, again.entries) == (0, 1, [])


@pytest.mark.parametrize("order", [("payments", "grants"), ("grants", "payments")])
def test_paid_grants_and_the_payments_export_count_the_money_once(tmp_path, contracts, order):
    # The grant file holds the sample's grant of ch_2k and one of ch_10k (100.00, 10,000
    # credits, effective 2025-11-04 08:03:41 like the charge, expiring a year later).
    grants = listing(tmp_path / "grants.json", [
        grant(SAMPLE_ID),
        grant("credgr_10k", value=10000, customer="cus_RaB3cD4eF5gH6i",
              name="Purchased Credits - 10,000 pack",
              effective_at=ts("2025-11-04T08:03:41"), expires_at=ts("2026-11-04T08:03:41"),
              metadata={"stripe_charge": CH_10K})])
    index = PaymentIndex()
    made = {}
    for name in order:
        if name == "payments":
            made[name] = payments_importer(contracts, index=index).run(PAYMENTS)
        else:
            made[name] = grants_importer(contracts, index=index).run(grants)
    entries = [*made[order[0]].entries, *made[order[1]].entries]
    paid, granted = made["payments"], made["grants"]
    if order[0] == "payments":
        assert (granted.read, granted.imported, granted.duplicates, granted.entries) == (
            2, 0, 2, [])
    else:
        assert (granted.imported, [e.meta["payment_id"] for e in granted.entries]) == (
            2, [CH_2K, CH_10K])
        # the export finds both charges booked: their fees on their own, and the refund
        assert sorted((e.meta["rule"], e.meta.get("fee_of") or e.meta["payment_id"])
                      for e in paid.entries) == [
            ("fee", CH_2K), ("fee", CH_10K), ("refund", f"{CH_10K}/refund/25.00")]
    total = balances(entries)
    # 20.00 + 100.00 charged - 0.88 - 3.20 fees - 25.00 refunded, whichever came first
    assert total["Assets:Stripe"] == D("90.92")
    assert total["Liabilities:Deferred-Revenue:Tenant"] == D("-95.00")
    assert total["Expenses:Payment-Processing"] == D("4.08")
    found, bad = parse_purchases(entries)
    assert not bad and twice_paid(found) == []  # the "booked twice" invariant holds
    bought = {p.payment_id: (p.amount, p.credits, p.expires) for p, _ in found
              if p.kind == "purchase"}
    assert bought == {CH_2K: (D("20.00"), D(2000), datetime.date(2026, 11, 3)),
                      CH_10K: (D("100.00"), D(10000), datetime.date(2026, 11, 4))}
    for name, path in (("payments", PAYMENTS), ("grants", grants)):  # both again: nothing
        importer = (payments_importer if name == "payments" else grants_importer)(
            contracts, index=index)
        assert importer.run(path).imported == 0


# -- a list response -------------------------------------------------------------------------------


def test_a_list_response_books_promotional_voided_and_prioritized_grants(tmp_path, contracts):
    path = listing(tmp_path / "credit_grants.json", [
        promo("credgr_promo"),
        promo("credgr_counted", metadata={"credits": "750"}),
        promo("credgr_void", expires_at=ts("2026-06-01T00:00:00"),
              voided_at=ts("2026-02-15T09:30:00")),
        promo("credgr_boost", priority=10, metadata={"pack": "boost"}, value=5000),
        promo("credgr_never", expires_at=None, priority=None),
    ], has_more=True)
    importer = grants_importer(contracts)
    assert importer.identify(str(path))
    result = importer.run(path)
    assert (result.read, result.imported, result.quarantined) == (5, 5, 0)
    assert result.warnings == [
        f"{path}: has_more is true: this is one page of a longer list of credit grants; the "
        f"grants of the following pages are not imported (list them with starting_after "
        f"and import each page)"]
    booked = by_id(result.entries)
    entry = booked["credgr_promo"]
    assert entry.date == datetime.date(2026, 1, 5)
    assert postings(entry) == [("Liabilities:Deferred-Revenue:Tenant", D("0.00"), "USD")]
    assert (entry.meta["rule"], entry.meta["grant"], entry.meta["payment_id"],
            entry.meta["pack"]) == ("purchase", "promotional", "credgr_promo", "credgr_promo")
    # 500 minor units = 5.00 USD at 0.01 a credit; expiring at midnight UTC on 04-01
    assert (entry.meta["credits"], entry.meta["expires"], entry.meta["priority"]) == (
        D(500), datetime.date(2026, 4, 1), D(50))
    assert booked["credgr_counted"].meta["credits"] == D(750)  # metadata credits win
    void = booked["credgr_void"]  # voided at 09:30 UTC on 02-15: not usable that day
    assert (void.meta["expires"], void.meta["void"]) == (datetime.date(2026, 2, 15),
                                                         datetime.date(2026, 2, 15))
    boost = booked["credgr_boost"]
    assert (boost.meta["pack"], boost.meta["credits"], boost.meta["priority"]) == (
        "boost", D(5000), D(10))
    assert "expires" not in booked["credgr_never"].meta  # null expires_at: never
    again = grants_importer(contracts, index=importer.index).run(path)
    assert (again.read, again.imported, again.duplicates) == (5, 0, 5)


def test_the_engine_draws_the_lots_as_the_grants_say(tmp_path):
    # Through `tokenbooks import`: the lots the revenue engine makes of the grants.
    ledger = new_book(tmp_path)
    path = listing(tmp_path / "grants.json", [
        promo("credgr_promo"),
        promo("credgr_void", expires_at=ts("2026-06-01T00:00:00"),
              voided_at=ts("2026-02-15T09:30:00")),
        promo("credgr_boost", priority=10, metadata={"pack": "boost"}, value=5000),
        promo("credgr_declared", priority=5, value=1000),  # the contract declares it
        promo("credgr_prio", priority=20, value=700)])  # a priority of its own
    result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), "--json", str(path)])
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert (summary["read"], summary["imported"], summary["duplicates"]) == (5, 4, 1)
    assert errors(ledger) == []
    lots = book_lots(ledger)
    assert (lots["tenant-2025.credgr_promo.2026-01-05"]) == (
        "promotional", 500, datetime.date(2026, 4, 1), 50)
    assert lots["tenant-2025.credgr_void.2026-01-05"] == (
        "promotional", 500, datetime.date(2026, 2, 15), 50)
    assert lots["tenant-2025.boost.2026-01-05"] == (
        "promotional", 5000, datetime.date(2026, 4, 1), 10)
    assert lots["tenant-2025.grant.credgr_declared"][3] == 5  # the contract's, not a copy
    assert lots["tenant-2025.credgr_prio.2026-01-05"] == (
        "promotional", 700, datetime.date(2026, 4, 1), 20)
    assert not any("credgr_declared.2026" in lot for lot in lots)


def test_a_yen_grant_is_in_yen_not_hundredths(tmp_path, contracts):
    path = listing(tmp_path / "yen.json", [
        promo("credgr_yen", customer="cus_JpYamato01", currency="jpy", value=5000),
        grant("credgr_yen_paid", customer="cus_JpYamato01", currency="jpy", value=3000,
              name="Yamato 3,000", effective_at=ts("2026-02-01T00:00:00"),
              expires_at=ts("2027-02-01T00:00:00"),
              metadata={"stripe_charge": "ch_yen_1", "credits": "3000"})])
    result = grants_importer(contracts).run(path)
    assert (result.imported, result.quarantined) == (2, 0), result.quarantine
    booked = by_id(result.entries)
    assert booked["credgr_yen"].meta["credits"] == D(5000)  # 5000 JPY at 1 a credit
    assert postings(booked["credgr_yen_paid"]) == [
        ("Assets:Stripe", D(3000), "JPY"), ("Liabilities:Deferred-Revenue:Yamato", D(-3000),
                                            "JPY")]
    assert booked["credgr_yen_paid"].meta["credits"] == D(3000)


# -- what is not booked --------------------------------------------------------------------------


def test_unknown_customers_and_malformed_grants_are_quarantined_with_the_reason(tmp_path,
                                                                                contracts):
    no_customer = promo("credgr_nocust")
    del no_customer["customer"]
    records = [
        promo("credgr_ok"),
        promo("credgr_stranger", customer="cus_Unknown0001"),
        no_customer,
        promo("credgr_unit", amount={"type": "custom_pricing_unit",
                                     "custom_pricing_unit": {"id": "cpu_1", "value": "5"}}),
        promo("credgr_text", value="500"),
        promo("credgr_free", category="free"),
        promo("credgr_prio", priority=10),
        promo("credgr_late", effective_at="2026-01-05"),
        promo("credgr_voided", voided_at=ts("2026-01-05T11:00:00")),
        promo("credgr_odd", value=505, metadata={}),  # 5.05 USD at 0.01: 505 credits, fine
        promo("credgr_huge", value=10**20),
        {"object": "billing.meter", "id": "mtr_1"},
        grant("credgr_nocharge", metadata={}),
        grant("credgr_paidvoid", voided_at=ts("2026-01-01T00:00:00")),
    ]
    path = listing(tmp_path / "grants.json", records)
    result = grants_importer(contracts).run(path)
    assert (result.read, result.imported, result.quarantined) == (14, 3, 11)
    assert result.read == (result.imported + result.duplicates + len(result.conflicts)
                           + result.quarantined)
    text = path.read_text(encoding="utf-8")
    problems = {json.loads(q.content).get("id"): (q.field, q.reason) for q in result.quarantine}
    for q in result.quarantine:  # the line of the record in the file
        assert text.splitlines()[q.line - 1].strip() == "{"
        assert json.loads(q.content) in records
    assert problems["credgr_stranger"] == ("customer", (
        "grant credgr_stranger: expected a customer of the contracts: metadata 'customer', "
        "a Stripe customer id mapped in importers.yaml (stripe: customers: "
        "{cus_Unknown0001: <customer>}) or a description pattern on the name; got "
        "'cus_Unknown0001'"))
    assert problems["credgr_nocust"] == ("customer",
                                         "grant credgr_nocust: is required but missing")
    assert problems["credgr_unit"][0] == "amount.type"
    assert "expected 'monetary'" in problems["credgr_unit"][1]
    assert problems["credgr_text"] == ("amount.monetary.value", "grant credgr_text: expected "
                                       "a whole number of minor units, got \"500\"")
    assert problems["credgr_free"] == ("category", "grant credgr_free: expected one of "
                                                   "'paid', 'promotional', got 'free'")
    assert "credgr_prio" not in problems  # a priority of its own: the lot is drawn at it
    assert problems["credgr_late"][0] == "effective_at"
    assert problems["credgr_voided"] == ("voided_at", (
        "grant credgr_voided: voided on 2026-01-05, on or before its date 2026-01-05: no "
        "credit was ever usable, nothing to book"))
    assert problems["mtr_1"] == ("object", "grant mtr_1: expected 'billing.credit_grant', "
                                           "got 'billing.meter'")
    assert problems["credgr_nocharge"][0] == "metadata.stripe_charge"
    assert problems["credgr_paidvoid"][0] == "voided_at"
    assert problems["credgr_huge"] == ("amount.monetary.value", (
        "grant credgr_huge: expected 0 to 999999999999999999 minor units, got "
        "100000000000000000000"))
    assert sorted(by_id(result.entries)) == ["credgr_odd", "credgr_ok", "credgr_prio"]
    assert by_id(result.entries)["credgr_odd"].meta["credits"] == D(505)


def test_a_grant_whose_customer_maps_outside_the_contracts_names_both(tmp_path, contracts):
    path = listing(tmp_path / "grants.json", [promo("credgr_x", customer="cus_Gone")])
    result = grants_importer(contracts, customers={"cus_Gone": "nobody"}).run(path)
    [q] = result.quarantine
    assert (q.field, q.reason) == ("customer", (
        "grant credgr_x: unknown customer 'nobody' (for Stripe customer 'cus_Gone'): "
        "expected a customer of the contracts"))


def test_a_paid_grant_must_agree_with_its_pack_or_its_booked_charge(tmp_path, contracts):
    bigger = listing(tmp_path / "bigger.json", [
        grant("credgr_more", metadata={"stripe_charge": CH_2K, "credits": "2500"})])
    # the charge not booked yet: quarantined against the pack
    first = grants_importer(contracts).run(bigger)
    [q] = first.quarantine
    assert (q.field, q.reason) == ("metadata.credits", (
        "grant credgr_more: expected 2000 credits (those of pack 'pack-2k' of contract "
        "'tenant-2025', which the charge's purchase gives), got 2500"))
    # the payments export first: the charge is booked with 2,000 credits, a conflict
    index = PaymentIndex()
    payments_importer(contracts, index=index).run(PAYMENTS)
    second = grants_importer(contracts, index=index).run(bigger)
    assert (second.imported, second.quarantined, len(second.conflicts)) == (0, 0, 1)
    [c] = second.conflicts
    assert (c.field, c.reason) == ("metadata.credits", (
        f"grant credgr_more: conflict: {CH_2K} is booked (by another source of this run) "
        f"with 2000 credits; the grant gives 2500; the first booking is kept"))
    cheaper = listing(tmp_path / "cheaper.json", [grant(
        "credgr_cheap", value=1800, metadata={"stripe_charge": "ch_new", "credits": "2000"})])
    [q] = grants_importer(contracts).run(cheaper).quarantine
    assert q.field == "amount.monetary.value" and "expected 20.00" in q.reason


def test_a_grant_changed_in_stripe_after_its_import_is_a_conflict(tmp_path):
    ledger = new_book(tmp_path)
    runner = CliRunner()
    path = listing(tmp_path / "grants.json", [promo("credgr_promo")])
    assert runner.invoke(cli, ["import", "--ledger", str(ledger), str(path)]).exit_code == 0
    later = listing(tmp_path / "grants-later.json", [
        promo("credgr_promo", voided_at=ts("2026-02-01T00:00:00"))])
    result = runner.invoke(cli, ["import", "--ledger", str(ledger), "--json", str(later)])
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert (summary["imported"], summary["conflicts"], summary["quarantined"]) == (0, 1, 0)
    [row] = [json.loads(line) for line in
             next((ledger.parent / "imports").glob("grants-later.json.*.quarantine.jsonl"))
             .read_text().splitlines()]
    assert row["field"] == "expires_at" and row["reason"].startswith(
        "grant credgr_promo: conflict: credgr_promo is booked (")
    assert row["reason"].endswith("expiring 2026-04-01; the grant expires 2026-02-01; the "
                                  "first booking is kept")
    strict = runner.invoke(cli, ["import", "--ledger", str(ledger), "--strict", str(later)])
    assert strict.exit_code == 1


def test_a_file_that_is_not_json_is_refused_naming_its_line(tmp_path, contracts):
    path = tmp_path / "grants.json"
    path.write_text('{"object": "list",\n "data": [\n  {"object": "billing.credit_grant",,}\n',
                    encoding="utf-8")
    with pytest.raises(stripe_credit_grants.UnreadableSource, match=r"grants.json:3: not a "
                                                                    r"JSON document"):
        grants_importer(contracts).run(path)


# -- identification ------------------------------------------------------------------------------


def test_only_credit_grants_are_taken_for_credit_grants(tmp_path, contracts):
    importers = make_importers(contracts, {"stripe": MAPPING})
    mine = [i for i in importers if isinstance(i, stripe_credit_grants.Importer)]
    assert len(mine) == 1
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    assert GRANT in samples and len(samples) > 10
    for path in samples:
        found = [type(i).__module__ for i in importers if i.identify(str(path))]
        if path == GRANT:
            assert found == ["tokenbooks.importers.stripe_credit_grants"], found
        else:
            assert "tokenbooks.importers.stripe_credit_grants" not in found, path.name
    array = tmp_path / "array.json"
    array.write_text(json.dumps([grant("a"), promo("b")]), encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"object": "list", "data": [], "has_more": False,
                                 "url": "/v1/billing/credit_grants"}), encoding="utf-8")
    charges = tmp_path / "charges.json"
    charges.write_text(json.dumps({"object": "list", "data": [{"object": "charge",
                                                               "id": "ch_1"}],
                                   "has_more": False, "url": "/v1/charges"}),
                       encoding="utf-8")
    other_list = tmp_path / "meters.json"
    other_list.write_text(json.dumps({"object": "list", "data": [], "url": "/v1/charges"}),
                          encoding="utf-8")
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps(grant("c")), encoding="utf-8")
    for path, expected in ((array, True), (empty, True), (charges, False),
                           (other_list, False), (one_line, True)):
        assert mine[0].identify(str(path)) is expected, path.name
    assert grants_importer(contracts).run(array).read == 2
    assert grants_importer(contracts).run(empty).read == 0
    assert "Stripe credit grants JSON" in explain(importers, charges)  # formats tried


# -- helpers of the command tests --------------------------------------------------------------------


def new_book(tmp_path: Path) -> Path:
    folder = tmp_path / "book"
    result = CliRunner().invoke(cli, ["init", str(folder), "--start", "2025-01-01"])
    assert result.exit_code == 0, result.output
    write_contracts(folder / "contracts")
    (folder / "importers.yaml").write_text(STRIPE_YAML, encoding="utf-8")
    return folder / "main.beancount"


def book_lots(ledger: Path) -> dict[str, tuple[str, int, datetime.date | None, int]]:
    _, errs, options = loading.load(ledger)
    assert errs == []
    found = Load.of(options)
    assert found is not None and found.revenue is not None
    return {lot.id: (lot.kind, int(lot.credits), lot.expires, lot.priority)
            for run in found.revenue.runs.values() for lot in run.lots}


@pytest.mark.parametrize("order", [("payments", "grants"), ("grants", "payments")])
def test_tokenbooks_import_takes_both_in_either_order(tmp_path, order):
    ledger = new_book(tmp_path)
    sources = {"payments": PAYMENTS, "grants": GRANT}
    runner = CliRunner()
    args = ["import", "--ledger", str(ledger), "--json", *(str(sources[n]) for n in order)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = {Path(r["source"]).name: r for r in json.loads(result.output)}
    granted = rows["stripe_credit_grant.json"]
    assert granted["importer"] == "tokenbooks.importers.stripe_credit_grants.Importer"
    assert (granted["imported"], granted["duplicates"]) == (
        (0, 1) if order[0] == "payments" else (1, 0))
    assert errors(ledger) == []  # bean-check with the plugins: no payment booked twice
    entries, _, _ = loading.load(ledger)
    imports = str(ledger.parent / "imports")
    total = balances(e for e in entries if str(e.meta.get("filename", "")).startswith(imports))
    assert total["Assets:Stripe"] == D("90.92") and total[
        "Liabilities:Deferred-Revenue:Tenant"] == D("-95.00")
    lots = book_lots(ledger)
    assert lots["tenant-2025.pack-2k.2025-11-03"] == ("paid", 2000,
                                                      datetime.date(2026, 11, 3), 50)
    again = runner.invoke(cli, [*args[:3], "--json", *(str(sources[n]) for n in order[::-1])])
    assert again.exit_code == 0, again.output
    assert [r["imported"] for r in json.loads(again.output)] == [0, 0]


def test_the_beangulp_path_sees_the_importer(tmp_path):
    from tokenbooks.scripts.ingest import book_importers

    ledger = new_book(tmp_path)
    wrapped = book_importers(ledger.parent)
    found = [w for w in wrapped if w.identify(str(GRANT))]
    assert [w.name for w in found] == ["tokenbooks.importers.stripe_credit_grants.Importer"]
    entries = found[0].extract(str(GRANT), [])
    assert [e.meta.get("payment_id") for e in entries if isinstance(e, data.Transaction)] == [
        CH_2K]
    bad = listing(tmp_path / "bad.json", [promo("credgr_stranger", customer="cus_Nope")])
    report = found[0].extract(str(bad), [])[-1]
    assert isinstance(report, data.Custom) and report.meta["quarantined"] == 1
    assert report.meta["row_1"].startswith("line 4: customer: grant credgr_stranger:")
