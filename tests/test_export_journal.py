"""``tokenbooks export journal``: the period's summarized journal in the ERPs' import
layouts (docs/erp-export.md), on the sample book: the vendors' columns, journals that
balance, totals that are the ledger's movement, ids that survive a re-export, an
unmapped account refused, hostile names escaped."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from beancount.core import data, realization
from beancount.parser import parser
from click.testing import CliRunner
from samplekit import copy_sample

from tokenbooks.plugins.reports import Ledger, journal_export
from tokenbooks.plugins.rules.periods import parse_period
from tokenbooks.scripts import loading
from tokenbooks.scripts.cli import cli

MONTHS = ("2026-01", "2026-02", "2026-03")
ZERO = Decimal("0.00")
AMOUNT = re.compile(r"-?[0-9]+\.[0-9]{2}")

# The sample company's chart of accounts in its ERP (docs/erp-export.md's example).
MAPPING = """\
prefix: TB
accounts:
  Assets:Bank: {code: "1000", name: "Checking"}
  Assets:Stripe: {code: "1010", name: "Stripe Clearing"}
  Assets:Receivable: {code: "1200", name: "Accounts Receivable"}
  Assets:Unbilled: {code: "1210", name: "Unbilled Receivables"}
  Assets:Contract-Assets: {code: "1220", name: "Contract Assets"}
  Assets:FX-Revaluation: {code: "1230", name: "FX Revaluation"}
  Liabilities:Deferred-Revenue: {code: "2400", name: "Deferred Revenue"}
  Liabilities:Customer-Credits: {code: "2410", name: "Customer Credits"}
  Liabilities:Payable:Openai: {code: "2000", name: "Accounts Payable", entity: "OpenAI"}
  Liabilities:Payable:Anthropic: {code: "2000", name: "Accounts Payable", entity: "Anthropic"}
  Liabilities:Sales-Tax: {code: "2200", name: "Sales Tax Payable", entity: none}
  Equity:Opening-Balances: {code: "3900", name: "Opening Balance Equity"}
  Income:Revenue: {code: "4000", name: "Revenue"}
  Income:Revenue:Breakage: {code: "4100", name: "Revenue:Breakage"}
  Income:FX-Gain-Loss: {code: "7100", name: "Foreign Exchange Gain/Loss"}
  Expenses:COGS: {code: "5000", name: "Cost of Revenue:Inference"}
  Expenses:Marketing: {code: "6100", name: "Marketing:Promotional Credits"}
  Expenses:Payment-Processing: {code: "6200", name: "Merchant Fees", entity: none}
customers:
  acme: "Acme Corporation"
netsuite: {subsidiary: "Tokenbooks Inc."}
xero: {tax_rate: "Tax Exempt", tracking_category: "Customer"}
"""

# The column headings of each vendor's documented import (docs/erp-export.md, Sources).
NETSUITE = ["External ID", "Date", "Posting Period", "Subsidiary", "Currency", "Memo",
            "Account", "Debit", "Credit", "Line Memo", "Name"]
QUICKBOOKS = ["Journal No.", "Journal Date", "Account Name", "Description", "Debits",
              "Credits", "Name"]
XERO = ["Narration", "Date", "Description", "AccountCode", "TaxRate", "Amount",
        "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2"]


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main.beancount of a fresh copy of the sample book, with the mapping beside it."""
    ledger = copy_sample(tmp_path_factory.mktemp("export"))
    (ledger.parent / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return ledger


@pytest.fixture(scope="module")
def loaded(book: Path) -> tuple[list, Ledger]:
    entries, errors, options = loading.load(book)
    assert errors == []
    return entries, Ledger(entries, options, require_revenue=False)


def run(book: Path, *args: str, mapping: Path | None = None):
    argv = ["export", "journal", "--ledger", str(book), *args]
    if mapping is not None:
        argv += ["--mapping", str(mapping)]
    return CliRunner().invoke(cli, argv)


def export(book: Path, fmt: str, period: str = "2026-Q1", mapping: Path | None = None,
           out: Path | None = None) -> str:
    out = out or book.parent / f"journal-{fmt}-{period}.csv"
    result = run(book, "--period", period, "--format", fmt, "--out", str(out),
                 mapping=mapping or book.parent / "mapping.yaml")
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def currencies(book: Path) -> int:
    """The sample's currencies: USD, and EUR once `make sample` imported the EUR
    customer's sources (docs/currency.md): a journal a month and currency."""
    return 2 if any(book.parent.glob("imports/*.usage-eur-*.beancount")) else 1


def money(cell: str) -> Decimal:
    assert cell == "" or AMOUNT.fullmatch(cell), cell  # to the cent, never a float
    return Decimal(cell) if cell else ZERO


# --- the layouts ------------------------------------------------------------------------


def test_each_layout_has_the_columns_of_the_vendors_template(book: Path) -> None:
    assert journal_export.NETSUITE_COLUMNS == NETSUITE
    assert journal_export.QUICKBOOKS_COLUMNS == QUICKBOOKS
    assert journal_export.XERO_COLUMNS == XERO
    for fmt, columns in (("netsuite", NETSUITE), ("quickbooks", QUICKBOOKS),
                         ("xero", XERO)):
        header = next(csv.reader(io.StringIO(export(book, fmt, "2026-01"))))
        assert header == columns, fmt


def test_the_dates_and_the_sign_conventions_of_each_vendor(book: Path) -> None:
    netsuite = rows(export(book, "netsuite", "2026-02"))
    assert {r["Date"] for r in netsuite} == {"02/28/2026"}  # MM/DD/YYYY
    assert {r["Posting Period"] for r in netsuite} == {"Feb 2026"}
    assert {r["Subsidiary"] for r in netsuite} == {"Tokenbooks Inc."}
    assert all((r["Debit"] == "") != (r["Credit"] == "") for r in netsuite)  # one of them
    assert all(money(r["Debit"] or r["Credit"]) > 0 for r in netsuite)  # never negative
    quickbooks = rows(export(book, "quickbooks", "2026-02"))
    assert {r["Journal Date"] for r in quickbooks} == {"02/28/2026"}
    assert all((r["Debits"] == "") != (r["Credits"] == "") for r in quickbooks)
    xero = rows(export(book, "xero", "2026-02"))
    assert {r["Date"] for r in xero} == {"28/02/2026"}  # dd/mm/yyyy
    assert {r["TaxRate"] for r in xero} == {"Tax Exempt"}
    # one signed Amount: a debit positive, a credit negative, line for line
    for n, q in zip(netsuite, xero, strict=True):
        assert money(q["Amount"]) == money(n["Debit"]) - money(n["Credit"])
    usage = [r for r in xero if "Income:Revenue:Usage acme" in r["Description"]]
    assert [(r["AccountCode"], r["Amount"], r["TrackingName1"], r["TrackingOption1"])
            for r in usage] == [("4000", "-412.98", "Customer", "Acme Corporation")]
    payable = [r for r in xero if "Liabilities:Payable:Openai" in r["Description"]]
    # (the EUR customer's usage is in OpenAI's bill too, once the sample has it)
    bill = "-742.63" if currencies(book) == 1 else "-949.71"
    assert [(r["Amount"], r["TrackingName1"], r["TrackingOption1"]) for r in payable] == [
        (bill, "", "")]  # a vendor is no option of the customer tracking category


def test_each_exported_journal_balances(book: Path) -> None:
    for fmt, key, debit, credit in (("netsuite", "External ID", "Debit", "Credit"),
                                    ("quickbooks", "Journal No.", "Debits", "Credits"),
                                    ("csv", "journal_id", "debit", "credit")):
        totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for r in rows(export(book, fmt)):
            totals[r[key]][0] += money(r[debit])
            totals[r[key]][1] += money(r[credit])
        assert len(totals) == 3 * currencies(book), fmt  # one journal a month (and currency)
        for journal_id, (debits, credits) in totals.items():
            assert debits == credits and debits > 0, (fmt, journal_id)
    xero: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for r in rows(export(book, "xero")):
        xero[(r["Narration"], r["Date"])] += money(r["Amount"])
    assert len(xero) == 3 * currencies(book) and set(xero.values()) == {ZERO}


def gl_movement(entries: list, period: str) -> dict[str, Decimal]:
    """Each account's balance at the end of ``period`` less its balance at the start,
    from Beancount's own realization of the ledger."""
    start, end = parse_period(period)
    before = realization.realize([e for e in entries if e.date < start])
    after = realization.realize([e for e in entries if e.date < end])
    out = {}
    for real in realization.iter_children(after):
        if not real.account or real.account.count(":") == 0:
            continue
        closing = real.balance.get_currency_units("USD").number
        opening = realization.get_or_create(before, real.account).balance \
            .get_currency_units("USD").number
        if closing - opening:
            out[real.account] = closing - opening
    return out


def test_the_totals_per_account_are_the_ledgers_movement_of_the_month(book: Path, loaded
                                                                       ) -> None:
    entries, _ = loaded
    exported = rows(export(book, "csv"))
    assert {r["period"] for r in exported} == set(MONTHS)
    for period in MONTHS:
        per_account: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for r in exported:
            if r["period"] == period and r["currency"] == "USD":  # gl_movement's
                assert money(r["amount"]) == money(r["debit"]) - money(r["credit"])
                per_account[r["account"]] += money(r["amount"])
        moved = {account: total for account, total in per_account.items() if total}
        assert moved == gl_movement(entries, period), period  # Assets:Stripe nets to 0
    # and per ERP account, through the mapping, in a vendor's layout
    mapping = journal_export.read_mapping(book.parent / "mapping.yaml")
    expected: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for account, amount in gl_movement(entries, "2026-Q1").items():
        target = mapping.target(account)
        assert target is not None, account
        expected[f"{target.code} {target.name}"] += amount
    got: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for r in rows(export(book, "netsuite")):
        if r["Currency"] == "USD":
            got[r["Account"]] += money(r["Debit"]) - money(r["Credit"])
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}


def test_the_lines_are_by_account_customer_and_month(book: Path, loaded) -> None:
    exported = rows(export(book, "csv", "2026-01"))
    keys = [(r["period"], r["currency"], r["account"], r["customer"]) for r in exported]
    assert len(keys) == len(set(keys))
    usage = {r["customer"]: r for r in exported if r["account"] == "Income:Revenue:Usage"}
    # (and lumen, the EUR customer, in its own journal: docs/currency.md)
    assert set(usage) - {"lumen"} == {"acme", "globex", "hooli", "initech", "umbrella"}
    assert usage["acme"]["entity"] == "Acme Corporation"  # the mapping's
    assert usage["globex"]["entity"] == "Globex Inc"  # the contract's name
    assert usage["acme"]["erp_account_code"] == "4000"
    payable = [r for r in exported if r["account"] == "Liabilities:Payable:Openai"]
    assert [(r["customer"], r["entity"]) for r in payable] == [("", "OpenAI")]  # one line
    # the period's lines, summed, are the ledger's own figures
    _, ledger = loaded
    start, end = parse_period("2026-01")  # [first day, next month)
    revenue = sum((p.units.number for e in ledger.between(start, end) for p in e.postings
                   if p.account == "Income:Revenue:Usage"), ZERO)
    assert sum((money(r["amount"]) for r in usage.values()), ZERO) == revenue


# --- ids and re-exports -----------------------------------------------------------------


def ids(text: str, currency: str | None = None) -> list[tuple[str, str]]:
    return [(r["journal_id"], r["line_id"]) for r in rows(text)
            if currency is None or r["currency"] == currency]


def test_a_reexport_is_byte_identical_with_the_same_external_ids(book: Path) -> None:
    for fmt in journal_export.FORMATS:
        first = export(book, fmt, out=book.parent / f"first.{fmt}.csv")
        again = export(book, fmt, out=book.parent / f"again.{fmt}.csv")
        assert (book.parent / f"first.{fmt}.csv").read_bytes() == \
            (book.parent / f"again.{fmt}.csv").read_bytes(), fmt
        assert first == again
    listed = ids(export(book, "csv"))
    assert len({line for _, line in listed}) == len(listed)  # one id per line
    for journal_id, line_id in listed:
        assert re.fullmatch(r"TB-2026(01|02|03)-[0-9a-f]{8}", journal_id)
        assert len(journal_id) <= 21  # QuickBooks' journal number
        assert re.fullmatch(re.escape(journal_id) + r"-[0-9a-f]{6}", line_id)
    # the same month alone has the same ids as within the quarter
    january = ids(export(book, "csv", "2026-01"))
    assert january == [x for x in listed if x[0].startswith("TB-202601-")]
    # each layout carries them: NetSuite's External ID and the line's memo, ...
    netsuite = rows(export(book, "netsuite"))
    assert [(r["External ID"], r["Line Memo"].split(" ")[0]) for r in netsuite] == listed
    assert [r["Journal No."] for r in rows(export(book, "quickbooks"))] == \
        [j for j, _ in listed]
    assert [r["Description"].split(" ")[0] for r in rows(export(book, "xero"))] == \
        [line for _, line in listed]


def test_a_changed_export_gets_new_ids_and_an_unchanged_one_keeps_them(
        book: Path, tmp_path: Path) -> None:
    before = ids(export(book, "csv"), "USD")  # (a EUR journal has no Stripe fee)
    changed = tmp_path / "changed.yaml"
    changed.write_text(MAPPING.replace('{code: "6200", name: "Merchant Fees"',
                                       '{code: "6210", name: "Stripe Fees"'))
    after = ids(export(book, "csv", mapping=changed), "USD")
    # February holds the Stripe fee: its journal is another version, every line too
    feb = [x for x in before if x[0].startswith("TB-202602-")]
    feb_after = [x for x in after if x[0].startswith("TB-202602-")]
    assert len(feb) == len(feb_after) and not set(feb) & set(feb_after)
    # January and March did not change: their ids are the same
    assert [x for x in before if not x[0].startswith("TB-202602-")] == \
        [x for x in after if not x[0].startswith("TB-202602-")]


def test_a_closed_month_reexported_is_the_same_file(tmp_path: Path) -> None:
    from tokenbooks.scripts.close_cmd import run_close

    ledger = copy_sample(tmp_path)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    result = run(ledger, "--period", "2026-01", "--format", "csv", "--out",
                 str(tmp_path / "open.csv"), mapping=mapping)
    assert result.exit_code == 0 and "2026-01 is not closed" in result.output
    run_close(ledger, "2026-01", echo=lambda _text: None)
    first = export(ledger, "netsuite", "2026-01", mapping, tmp_path / "closed.csv")
    result = run(ledger, "--period", "2026-01", "--format", "netsuite", "--out",
                 str(tmp_path / "again.csv"), mapping=mapping)
    assert result.exit_code == 0 and "not closed" not in result.output
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "closed.csv").read_bytes()
    # the close booked January's invoices (receivable against unbilled): a new version
    closed = ids(export(ledger, "csv", "2026-01", mapping, tmp_path / "closed-csv.csv"))
    opened = ids((tmp_path / "open.csv").read_text())
    assert closed[0][0] != opened[0][0]
    assert any("Accounts Receivable" in r["Account"] for r in rows(first))


# --- refusals ---------------------------------------------------------------------------


def test_an_unmapped_account_is_an_error_naming_it_and_writes_nothing(book: Path,
                                                                       tmp_path: Path
                                                                       ) -> None:
    partial = tmp_path / "partial.yaml"
    partial.write_text("\n".join(line for line in MAPPING.splitlines()
                                 if "Payment-Processing" not in line
                                 and "Assets:Stripe" not in line) + "\n")
    out = tmp_path / "journal.csv"
    for fmt in journal_export.FORMATS:
        result = run(book, "--period", "2026-02", "--format", fmt, "--out", str(out),
                     mapping=partial)
        assert result.exit_code == 1, result.output
        assert "no ERP account for Assets:Stripe, Expenses:Payment-Processing" in \
            result.output
        assert not out.exists()
    # January has neither: it exports
    assert run(book, "--period", "2026-01", "--format", "xero", "--out", str(out),
               mapping=partial).exit_code == 0
    assert out.exists()


def test_a_vendor_layout_without_a_mapping_is_refused(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "journal.csv"
    result = run(book, "--period", "2026-01", "--format", "quickbooks", "--out", str(out))
    assert result.exit_code == 1
    assert "needs an account mapping" in result.output and not out.exists()
    # the plain CSV names the book's own accounts
    result = run(book, "--period", "2026-01", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {r["erp_account_code"] == r["account"] for r in rows(out.read_text())} == {True}


def test_what_a_layout_cannot_hold_is_refused(book: Path, tmp_path: Path) -> None:
    no_tax = tmp_path / "no-tax.yaml"
    no_tax.write_text(MAPPING.replace('tax_rate: "Tax Exempt", ', ""))
    result = run(book, "--period", "2026-01", "--format", "xero", mapping=no_tax)
    assert result.exit_code == 1 and "Xero needs a tax rate" in result.output
    codes_only = tmp_path / "codes.yaml"
    codes_only.write_text(MAPPING.replace(', name: "Checking"', ""))
    result = run(book, "--period", "2026-01", "--format", "quickbooks", mapping=codes_only)
    assert result.exit_code == 1 and "Assets:Bank: no ERP account for quickbooks" in \
        result.output
    result = run(book, "--period", "2026-13", "--format", "csv")
    assert result.exit_code == 2 and "--period" in result.output


def test_xero_takes_at_most_300_lines_a_file(book: Path, loaded,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, ledger = loaded
    mapping = journal_export.read_mapping(book.parent / "mapping.yaml")
    quarter = journal_export.build(ledger, "2026-Q1", mapping)
    monkeypatch.setattr(journal_export, "XERO_MAX_LINES", quarter.lines - 1)
    with pytest.raises(journal_export.ExportError, match="export one month at a time"):
        journal_export.render(quarter, "xero")
    by_account = journal_export.parse_mapping(MAPPING + "by_customer: false\n")
    fewer = journal_export.build(ledger, "2026-Q1", by_account)
    assert fewer.lines < quarter.lines
    assert {line.customer for j in fewer.journals for line in j.lines} == {""}
    journal_export.render(fewer, "xero")


class Book:
    """What ``journal_export.build`` reads of a ``Ledger``, over a few parsed entries."""

    currency = "USD"
    closes: dict = {}

    def __init__(self, text: str) -> None:
        entries, errors, _ = parser.parse_string(text)
        assert errors == []
        self.transactions = [e for e in entries if isinstance(e, data.Transaction)]

    def between(self, start, end) -> list:
        return [e for e in self.transactions if start <= e.date < end]

    def payees(self) -> dict[str, str]:
        return {"acme": "Acme Corp"}


PLAIN = journal_export.parse_mapping("accounts:\n  Assets: {code: \"1\"}\n"
                                     "  Income: {code: \"4\"}\n")


def test_two_currencies_make_two_journals_and_a_journal_must_balance_to_the_cent() -> None:
    two = Book("""
2026-01-05 * "pack" #x
  customer: "acme"
  Assets:Bank        100.00 USD
  Income:Revenue    -100.00 USD
2026-01-06 * "pack"
  Assets:Bank         90.00 EUR
  Income:Revenue     -90.00 EUR
""")
    export = journal_export.build(two, "2026-01", PLAIN)  # type: ignore[arg-type]
    assert [(j.currency, j.debits, j.credits) for j in export.journals] == [
        ("EUR", Decimal("90.00"), Decimal("90.00")), ("USD", Decimal("100.00"),
                                                      Decimal("100.00"))]
    assert len({j.journal_id for j in export.journals}) == 2
    assert export.open_periods == ("2026-01",)
    usd = export.journals[1]
    assert [(line.customer, line.entity) for line in usd.lines] == [("acme", "Acme Corp")] * 2
    fine = Book("""
2026-01-05 * "fraction of a cent"
  Assets:Bank        100.004 USD
  Income:Revenue    -100.004 USD
""")
    with pytest.raises(journal_export.ExportError, match="finer than a cent"):
        journal_export.build(fine, "2026-01", PLAIN)  # type: ignore[arg-type]
    priced = Book("""
2026-01-05 * "converted"
  Assets:Bank        110.00 USD
  Income:Revenue    -100.00 EUR @ 1.10 USD
""")
    with pytest.raises(journal_export.ExportError, match="the EUR postings of the month sum to -100.00, not zero"):
        journal_export.build(priced, "2026-01", PLAIN)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, message", [
    ("accounts:\n  Assets:Bank: {code: \"\"}\n", "no ERP account: give a code: or a name:"),
    ("accounts:\n  Assets:Bank: \"1000\"\n", "expected code: and/or name:"),
    ("accounts:\n  Assets:Bank: {number: 1000}\n", "unknown key 'number'"),
    ("accounts:\n  assets:bank: {code: \"1000\"}\n", "is not a Beancount account"),
    ("accounts: {}\n", "accounts: none given"),
    ("accounts:\n  Assets:Bank: {code: \"1\"}\nprefix: TOOLONG\n", "prefix: 1 to 4"),
    ("accounts:\n  Assets:Bank: {code: \"1\"}\nxero: {date_format: \"M/D/Y\"}\n",
     "date_format: expected one of"),
    ("accounts: [\n", "not valid YAML"),
])
def test_a_mapping_file_that_is_not_valid_is_refused(text: str, message: str) -> None:
    with pytest.raises(journal_export.MappingError, match=re.escape(message)):
        journal_export.parse_mapping(text, "m.yaml")


def test_the_mapping_reads_codes_as_text_and_the_longest_parent_wins() -> None:
    mapping = journal_export.parse_mapping(
        "accounts:\n  Income:Revenue: {code: 0400}\n"
        "  Income:Revenue:Breakage: {code: 0410, entity: none}\n")
    usage = mapping.target("Income:Revenue:Usage")
    breakage = mapping.target("Income:Revenue:Breakage")
    assert usage is not None and usage.code == "0400" and usage.entity == "customer"
    assert breakage is not None and breakage.code == "0410" and breakage.entity == "none"
    assert mapping.target("Income:Revenues") is None  # a parent by component only
    assert mapping.target("Assets:Bank") is None


# --- hostile names ----------------------------------------------------------------------


HOSTILE = ('=HYPERLINK("http://evil.example","Acme, ""Inc""")\nSecond line',
           "+1, \"quoted\"\r\n@SUM(A1)", "-cmd|' /C calc'!A0", "Tab\there, and \"a\" comma")
# as written: control characters as spaces, a formula's first character behind a quote
WRITTEN = ("'=HYPERLINK(\"http://evil.example\",\"Acme, \"\"Inc\"\"\") Second line",
           "'+1, \"quoted\"  @SUM(A1)", "'-cmd|' /C calc'!A0", "Tab here, and \"a\" comma")


def _yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\t", "\\t") + '"'


def test_hostile_customer_names_are_escaped(book: Path, tmp_path: Path) -> None:
    names = dict(zip(("acme", "globex", "hooli", "initech"), HOSTILE, strict=True))
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(MAPPING.replace('customers:\n  acme: "Acme Corporation"\n',
                                       "customers:\n" + "".join(
                                           f"  {c}: {_yaml(n)}\n" for c, n in names.items())))
    for fmt, column in (("netsuite", "Name"), ("quickbooks", "Name"),
                        ("xero", "TrackingOption1"), ("csv", "entity")):
        text = export(book, fmt, "2026-01", hostile, tmp_path / f"{fmt}.csv")
        header, *body = list(csv.reader(io.StringIO(text)))
        assert len(text.splitlines()) == len(body) + 1  # no line broken by a name
        assert all(len(row) == len(header) for row in body)
        assert set(WRITTEN) <= {row[header.index(column)] for row in body}, fmt
        for row in body:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (fmt, cell)
                assert "\n" not in cell and "\r" not in cell and "\t" not in cell
                assert not cell.startswith("-") or AMOUNT.fullmatch(cell), (fmt, cell)


def test_a_hostile_customer_name_in_the_contracts_is_escaped(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    contract = tmp_path / "contracts" / "customers" / "acme.yaml"
    contract.write_text(contract.read_text().replace(
        "name: Acme Corp", f"name: {_yaml(HOSTILE[0])}"))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.replace('  acme: "Acme Corporation"\n', ""))
    text = export(ledger, "quickbooks", "2026-01", mapping, tmp_path / "qb.csv")
    acme = [r for r in rows(text) if " acme" in r["Description"]]
    assert acme and {r["Name"] for r in acme} == {WRITTEN[0]}
