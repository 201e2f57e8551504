"""Contract loading: the sample contracts, every kind of bad file, references, Decimals."""

from __future__ import annotations

import datetime
import shutil
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml

from tokenbooks.plugins.rules.accounts import component as customer_component
from tokenbooks.plugins.rules.contracts import check_purchase, load_contracts, schema
from tokenbooks.plugins.rules.model import Term, add_months

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SAMPLE_CONTRACTS = ROOT / "contracts"

BAD = DATA / "bad-contracts"


def load_bad(tmp_path: Path, name: str, folder: str = "customers"):
    """Load a contracts folder holding the sample price book and one bad file."""
    root = tmp_path / "contracts"
    (root / "customers").mkdir(parents=True)
    (root / "price-books").mkdir()
    shutil.copy(SAMPLE_CONTRACTS / "price-books" / "list-2026.yaml", root / "price-books")
    shutil.copy(BAD / name, root / folder)
    return load_contracts(root, display_base=root)


def messages(errors) -> list[str]:
    return [str(e) for e in errors]


def test_sample_contracts_load_without_errors():
    book, errors = load_contracts(SAMPLE_CONTRACTS)
    assert errors == []
    assert sorted(book.customers) == ["acme", "globex", "hooli", "initech", "lumen", "umbrella"]
    assert sorted(book.costs) == ["anthropic", "openai"]
    acme = book.customers["acme"].contracts[0]
    pack = acme.packs["standard"]
    assert pack.price == Decimal("1000.00") and isinstance(pack.price, Decimal)
    assert pack.credits == 100000
    assert pack.breakage.method == "proportional" and pack.breakage.rate == Decimal("0.20")
    assert pack.expires_after == Term(6, "month")
    assert pack.expiry_for(datetime.date(2026, 1, 31)) == datetime.date(2026, 7, 31)
    assert acme.credit_value == Decimal("0.01")
    # Every number that reaches the model is a Decimal, never a float.
    rates = book.price_books["list-2026"].rates_on("gpt-4o-mini", datetime.date(2026, 3, 1))
    assert rates.cached_input == Decimal("0.15") and type(rates.cached_input) is Decimal


def test_price_book_version_in_force_changes_mid_month():
    book, _ = load_contracts(SAMPLE_CONTRACTS)
    prices = book.price_books["list-2026"]
    assert prices.rates_on("gpt-4o", datetime.date(2026, 6, 15)).input == Decimal("5.00")
    assert prices.rates_on("gpt-4o", datetime.date(2026, 6, 16)).input == Decimal("4.00")
    assert prices.rates_on("gpt-4o", datetime.date(2025, 12, 31)) is None
    assert prices.rates_on("no-such-model", datetime.date(2026, 6, 16)) is None


def test_contract_details_are_modelled():
    book, _ = load_contracts(SAMPLE_CONTRACTS)
    globex = book.customers["globex"].contracts[0]
    assert globex.discount == Decimal("0.10")
    assert globex.rates == {"gpt-4o-mini": {"input": Decimal("0.25"), "output": Decimal("1.00")}}
    assert globex.tiers.bands[0].up_to == Decimal("500.00") and globex.tiers.bands[1].up_to is None
    assert globex.actions["ticket_resolved"].weights == {
        "completed": Decimal("1.0"), "partial": Decimal("0.5"), "failed": Decimal("0")}
    assert globex.non_billable_features == frozenset({"retry"})
    assert globex.end is None and globex.payment_terms_days == 30
    initech = book.customers["initech"].contracts[0]
    assert initech.commitment.amount == Decimal("500.00") and initech.commitment.method == "remote"
    umbrella = book.customers["umbrella"].contracts[0]
    mod = umbrella.modifications[0]
    assert mod.approved and mod.add_credits == 100000 and mod.ssp == Decimal("800.00")
    assert umbrella.overage.top_up.pack == "bulk" and umbrella.overage.top_up.below == 20000
    assert book.provider_of("gpt-4o", datetime.date(2026, 2, 1)) == "openai"
    assert book.provider_of("claude-haiku-4-5", datetime.date(2026, 2, 1)) == "anthropic"
    assert book.customers["acme"].contract_on(datetime.date(2027, 1, 1)) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad-yaml.yaml",
         ["customers/bad-yaml.yaml:7: invalid YAML: expected ',' or '}', but got '<scalar>' "
          "(while parsing a flow mapping started on line 6)"]),
        ("bad-enum.yaml",
         ["customers/bad-enum.yaml:7: contracts[0].billing: expected one of 'prepaid', "
          "'arrears', got 'prepay'"]),
        ("missing-field.yaml",
         ["customers/missing-field.yaml:4: contracts[0].start: is required but missing"]),
        ("typo-field.yaml",
         ["customers/typo-field.yaml:9: contracts[0].dicount: unknown field 'dicount' (did you "
          "mean 'discount'?); expected one of: " + ", ".join(sorted(
              schema()["$defs"]["contract"]["properties"]))]),
        ("sub-cent.yaml",
         ["customers/sub-cent.yaml:12: contracts[0].packs.standard.price: expected an amount "
          "to the cent (2 decimal places), got 1000.005"]),
        ("bad-date.yaml",
         ["customers/bad-date.yaml:5: invalid value: expected a date that exists, got "
          "2026-02-30 (day is out of range for month)"]),
        ("no-price-book.yaml",
         ["customers/no-price-book.yaml:8: contracts[0].price_book: price book 'list-2025' "
          "not found in price-books/ (expected one of: list-2026)"]),
        ("bad-top-up.yaml",
         ["customers/bad-top-up.yaml:14: contracts[0].overage.top_up.pack: expected a pack of "
          "this contract (small), got 'large'"]),
        ("end-before-start.yaml",
         ["customers/end-before-start.yaml:6: contracts[0].end: expected an end on or after "
          "the start 2026-06-01, got 2026-01-31"]),
        ("duplicate-key.yaml",
         ["customers/duplicate-key.yaml:8: contracts[0].billing: duplicate key 'billing'"]),
        ("text-for-number.yaml",
         ["customers/text-for-number.yaml:9: contracts[0].discount: expected a number, got "
          "'ten percent'"]),
    ],
)
def test_bad_customer_file_gives_one_precise_error(tmp_path, name, expected):
    book, errors = load_bad(tmp_path, name)
    assert messages(errors) == expected
    # A file with errors contributes nothing: nothing half-valid is ever priced.
    assert book.customers == {}


def test_all_errors_of_a_file_are_reported_together(tmp_path):
    _, errors = load_bad(tmp_path, "many-errors.yaml")
    assert messages(errors) == [
        "customers/many-errors.yaml:6: contracts[0].currency: expected an upper-case currency "
        "code such as USD, got 'usd'",
        "customers/many-errors.yaml:9: contracts[0].draw_order: expected one of "
        "'earliest_expiry', 'oldest', got 'newest'",
        "customers/many-errors.yaml:12: contracts[0].packs.standard.price: expected a number "
        ">= 0, got -5.00",
        "customers/many-errors.yaml:13: contracts[0].packs.standard.credits: expected a number "
        ">= 1, got 0",
    ]


def test_errors_of_several_files_are_reported_together(tmp_path):
    root = tmp_path / "contracts"
    shutil.copytree(SAMPLE_CONTRACTS, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for name in ("bad-enum.yaml", "no-price-book.yaml", "sub-cent.yaml"):
        shutil.copy(BAD / name, root / "customers")
    shutil.copy(BAD / "unordered-versions.yaml", root / "price-books")
    book, errors = load_contracts(root, display_base=root)
    assert [e.file for e in errors] == [
        "customers/bad-enum.yaml", "customers/no-price-book.yaml", "customers/sub-cent.yaml",
        "price-books/unordered-versions.yaml"]
    assert str(errors[-1]) == ("price-books/unordered-versions.yaml:7: versions[1].effective: "
                              "expected versions in increasing date order, got 2026-01-01 "
                              "after 2026-06-01")
    # The good customers still load.
    assert sorted(book.customers) == ["acme", "globex", "hooli", "initech", "lumen", "umbrella"]


def test_cross_file_checks(contracts_dir):
    customers = contracts_dir / "customers"
    (customers / "acme-copy.yaml").write_text(
        (customers / "acme.yaml").read_text().replace("name: Acme Corp", "name: Copy"))
    (customers / "a-cme.yaml").write_text(
        "customer: acme_\nname: Clash\ncontracts:\n  - id: clash-1\n    start: 2026-01-01\n"
        "    currency: EUR\n    billing: arrears\n    price_book: list-2026\n")
    book, errors = load_contracts(contracts_dir, display_base=contracts_dir)
    # Files are read in name order (a-cme, acme-copy, acme): the later duplicate is refused.
    assert messages(errors) == [
        "customers/a-cme.yaml:6: contracts[0].currency: expected the price book's currency "
        "USD, got EUR",
        "customers/acme-copy.yaml:2: customer: account component 'Acme' is also that of "
        "customer 'acme_'; expected distinct ids",
        "customers/acme.yaml:2: customer: duplicate customer id 'acme', also in "
        "customers/acme-copy.yaml",
    ]
    assert "acme_" not in book.customers and "acme" not in book.customers


def test_overlapping_contracts_of_one_customer(tmp_path):
    root = tmp_path / "contracts"
    (root / "customers").mkdir(parents=True)
    (root / "price-books").mkdir()
    shutil.copy(SAMPLE_CONTRACTS / "price-books" / "list-2026.yaml", root / "price-books")
    (root / "customers" / "two.yaml").write_text(
        "customer: two\nname: Two\ncontracts:\n"
        "  - {id: two-a, start: 2026-01-01, end: 2026-06-30, currency: USD, billing: arrears, "
        "price_book: list-2026}\n"
        "  - {id: two-b, start: 2026-06-01, currency: USD, billing: arrears, "
        "price_book: list-2026}\n")
    _, errors = load_contracts(root, display_base=root)
    assert messages(errors) == [
        "customers/two.yaml:5: contracts[1].start: contract 'two-b' starts 2026-06-01, inside "
        "contract 'two-a' (expected contracts of a customer not to overlap)"]


def test_missing_contracts_folder(tmp_path):
    book, errors = load_contracts(tmp_path / "nope")
    assert book.customers == {} and len(errors) == 1
    assert errors[0].message == "contracts folder not found"


def test_check_purchase_references():
    book, _ = load_contracts(SAMPLE_CONTRACTS)
    day = datetime.date(2026, 2, 1)
    assert check_purchase(book, "acme", "acme-2026", "standard", day) is None
    assert check_purchase(book, "acme", None, "large", day) is None
    assert check_purchase(book, "umbrella", "umbrella-2026", "umbrella-amend-1", day) is None
    assert check_purchase(book, "acme", "acme-2026", "jumbo", day) == (
        "contract 'acme-2026' has no pack or modification 'jumbo' (expected one of: large, "
        "standard, acme-amend-1)")
    assert check_purchase(book, "nobody", None, "standard", day) == "unknown customer 'nobody'"
    assert check_purchase(book, "acme", "acme-1999", "standard", day) == (
        "customer 'acme' has no contract 'acme-1999'")
    assert check_purchase(book, "acme", None, "standard", datetime.date(2027, 3, 1)) == (
        "customer 'acme' has no contract in force on 2027-03-01")


def _as_editor_sees(path: Path):
    """A YAML file as a JSON Schema editor plugin validates it: dates as text."""
    def stringify(v):
        if isinstance(v, dict):
            return {k: stringify(x) for k, x in v.items()}
        if isinstance(v, list):
            return [stringify(x) for x in v]
        return v.isoformat() if isinstance(v, datetime.date) else v
    return stringify(yaml.safe_load(path.read_text()))


def test_schema_validates_sample_files_for_editors():
    """The shipped schema is plain JSON Schema: an editor or jsonschema alone can use it."""
    root_schema = schema()
    jsonschema.Draft202012Validator.check_schema(root_schema)
    validator = jsonschema.Draft202012Validator(root_schema)
    for path in sorted(SAMPLE_CONTRACTS.glob("*/*.yaml")):
        assert list(validator.iter_errors(_as_editor_sees(path))) == [], path
    # ...and it flags what tokenbooks flags, without tokenbooks.
    assert list(validator.iter_errors(_as_editor_sees(BAD / "bad-enum.yaml")))


def test_date_and_name_helpers():
    assert add_months(datetime.date(2026, 1, 31), 1) == datetime.date(2026, 2, 28)
    assert add_months(datetime.date(2026, 11, 30), 3) == datetime.date(2027, 2, 28)
    assert Term(90, "day").after(datetime.date(2026, 1, 1)) == datetime.date(2026, 4, 1)
    assert Term(1, "year").after(datetime.date(2028, 2, 29)) == datetime.date(2029, 2, 28)
    assert customer_component("acme") == "Acme"
    assert customer_component("big-co") == "Big-Co"
    assert customer_component("cust_00017") == "Cust-00017"
