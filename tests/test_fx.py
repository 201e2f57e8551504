"""Foreign currency (docs/currency.md): the rules of ``rules.fx`` and the three worked
examples of the issue, to the cent, on whole books.

Rates in every book below (USD per EUR):

    2026-01-05 1.0850   the EUR pack's purchase date
    2026-01-31 1.0800   January's close: the arrears invoice
    2026-02-27 1.1000   used for 2026-02-28 (the latest on or before)
    2026-03-10 1.0900   the payment
    2026-03-31 1.1000
"""

from __future__ import annotations

import datetime
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from beancount.parser import printer
from beanquery.query import run_query
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenbooks.importers import purchases, rates
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.fx import (
    MissingRate,
    Pool,
    Rates,
    convert,
    price_book_for,
    round_to,
)

D = Decimal
day = datetime.date
ROOT = Path(__file__).resolve().parent.parent

RATES = """\
2026-01-05 price EUR 1.0850 USD
2026-01-31 price EUR 1.0800 USD
2026-02-27 price EUR 1.1000 USD
2026-03-10 price EUR 1.0900 USD
2026-03-31 price EUR 1.1000 USD
"""

LUMEN = """\
customer: lumen
name: Lumen GmbH
contracts:
  - id: lumen-2026
    start: 2026-01-01
    currency: EUR
    fx: {rate: 0.92, from: USD}    # the USD list, at 0.92 EUR per USD
    billing: prepaid
    price_book: list-2026
    credit_value: 0.01
    packs:
      standard:
        price: 1000.00
        credits: 100000
        expires_after: 12 months
        breakage: {method: remote}
    overage: {policy: invoice, multiplier: 1.0}
"""

ARDENT = """\
customer: ardent
name: Ardent SA
contracts:
  - id: ardent-2026
    start: 2026-01-01
    currency: EUR
    billing: arrears
    price_book: list-2026-eur      # a price book in EUR of its own
"""

EUR_BOOK = """\
id: list-2026-eur
currency: EUR
per: 1000000
versions:
  - effective: 2026-01-01
    models:
      gpt-4o: {input: 5.00, cached_input: 2.50, output: 20.00}
"""

MISTRAL = """\
id: mistral
provider: mistral
currency: EUR
per: 1000000
versions:
  - effective: 2026-01-01
    models:
      gpt-4o: {input: 2.00, cached_input: 1.00, output: 8.00}
"""

HEAD = """\
option "operating_currency" "USD"
plugin "tokenbooks.plugins.contracts" "{{'contracts': '{c}'}}"
plugin "tokenbooks.plugins.revenue" "{{'contracts': '{c}'}}"
plugin "tokenbooks.plugins.cogs" "{{'contracts': '{c}'}}"
plugin "tokenbooks.plugins.invariants" "{{'contracts': '{c}'}}"
2026-01-01 open Assets:Bank
2026-01-01 open Income:Revenue:Usage
2026-01-01 open Income:Revenue:Actions
2026-01-01 open Income:Revenue:Breakage
2026-01-01 open Income:Revenue:Commitment
2026-01-01 open Income:Revenue:Adjustments
"""

PACK = """
2026-01-05 * "Lumen GmbH" "Credit purchase: standard"
  customer: "lumen"
  contract: "lumen-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-lumen-1"
  Assets:Bank                          1000.00 EUR
  Liabilities:Deferred-Revenue:Lumen  -1000.00 EUR
"""


def usage(date: str, customer: str, tokens: int) -> str:
    return (f'{date} custom "usage" "{customer}" "gpt-4o" "chat" ""\n'
            f"  input_tokens: {tokens}\n  events: 1\n")


# 20M, 30M, 10M input tokens of gpt-4o at 5.00 USD x 0.92 = 4.60 EUR per 1M:
# 92.00, 138.00 and 46.00 EUR, 9,200 + 13,800 + 4,600 credits of the 100,000
LUMEN_USAGE = (usage("2026-01-10", "lumen", 20_000_000) + usage("2026-02-10", "lumen", 30_000_000)
               + usage("2026-03-10", "lumen", 10_000_000))

# 200M input tokens at 5.00 EUR per 1M: 1,000.00 EUR of January usage, invoiced on
# 2026-01-31, paid on 2026-03-10
ARREARS = usage("2026-01-20", "ardent", 200_000_000) + """
2026-01-31 * "Ardent SA" "Invoice INV-2026-01-ARDENT for 2026-01" ^INV-2026-01-ARDENT
  customer: "ardent"
  contract: "ardent-2026"
  rule: "invoice"
  invoice: "INV-2026-01-ARDENT"
  period: "2026-01"
  Assets:Receivable:Ardent   1000.00 EUR
    line: 1
    stream: "usage"
  Assets:Unbilled:Ardent    -1000.00 EUR

2026-03-10 * "Ardent SA" "Payment of INV-2026-01-ARDENT" ^INV-2026-01-ARDENT
  customer: "ardent"
  rule: "payment"
  payment_id: "pay-ardent-1"
  invoice: "INV-2026-01-ARDENT"
  Assets:Bank                 1000.00 EUR
  Assets:Receivable:Ardent   -1000.00 EUR
    invoice: "INV-2026-01-ARDENT"
"""

# Mistral bills in EUR: 10M gpt-4o input tokens at 2.00 EUR per 1M = 20.00 EUR in
# January, its bill 20.00 EUR on 2026-01-31 (at 1.0800: 21.60 USD)
BILL = usage("2026-01-12", "ardent", 10_000_000) + """
2026-01-31 custom "provider-bill" "mistral" "gpt-4o, input" 20.00 EUR
  bill_key: "mistral|2026-01-31|gpt-4o, input"
"""


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    return write_contracts(tmp_path)


def write_contracts(tmp_path: Path) -> Path:
    """lumen (EUR pack, the USD list at 0.92) and ardent (EUR arrears), in a new folder."""
    folder = tmp_path / "contracts"
    for sub in ("customers", "price-books", "costs"):
        (folder / sub).mkdir(parents=True)
    (folder / "price-books" / "list-2026.yaml").write_text(
        (ROOT / "contracts" / "price-books" / "list-2026.yaml").read_text())
    (folder / "price-books" / "list-2026-eur.yaml").write_text(EUR_BOOK)
    (folder / "customers" / "lumen.yaml").write_text(LUMEN)
    (folder / "customers" / "ardent.yaml").write_text(ARDENT)
    return folder


def load(contracts: Path, body: str, costs: bool = False):
    if costs:
        (contracts / "costs" / "mistral.yaml").write_text(MISTRAL)
    text = HEAD.format(c=contracts) + body
    if not costs:
        text = text.replace('plugin "tokenbooks.plugins.cogs"', '; plugin "cogs"')
    return loader.load_string(text)


def generated(entries, rule: str, customer: str | None = None):
    return [e for e in entries if isinstance(e, data.Transaction)
            and e.meta.get("rule") == rule and e.meta.get("filename", "").startswith("<")
            and (customer is None or e.meta.get("customer") == customer)]


def legs(entry) -> list[tuple[str, Decimal, str, Decimal | None]]:
    return [(p.account, p.units.number, p.units.currency,
             p.price.number if p.price else None) for p in entry.postings]


# --- the rules ---------------------------------------------------------------------------


def test_rate_is_the_latest_on_or_before_the_date_and_a_missing_one_names_pair_and_date():
    r = Rates([(day(2026, 1, 30), "EUR", "USD", D("1.0850")),
               (day(2026, 2, 27), "EUR", "USD", D("1.1000"))])
    assert r.rate("EUR", "USD", day(2026, 1, 30)) == D("1.0850")
    assert r.rate("EUR", "USD", day(2026, 2, 1)) == D("1.0850")  # a weekend: Friday's fix
    assert r.rate("EUR", "USD", day(2026, 2, 28)) == D("1.1000")
    assert r.rate("USD", "USD", day(2020, 1, 1)) == 1
    assert r.rate("USD", "EUR", day(2026, 2, 27)) == D(1) / D("1.1000")  # the inverse quote
    with pytest.raises(MissingRate) as found:
        r.rate("EUR", "USD", day(2026, 1, 29))
    assert "EUR/USD" in str(found.value) and "2026-01-29" in str(found.value)
    with pytest.raises(MissingRate, match="GBP/USD rate on or before 2026-03-31"):
        r.rate("GBP", "USD", day(2026, 3, 31))


def test_conversion_is_exact_then_half_up_to_the_minor_unit():
    assert convert(D("92.00"), D("1.0850"), "USD") == D("99.82")  # 99.8200
    assert convert(D("0.05"), D("1.5"), "USD") == D("0.08")  # 0.075 half up
    assert convert(D("-0.05"), D("1.5"), "USD") == D("-0.08")  # away from zero
    assert convert(D("100.00"), D("157.345"), "JPY") == D("15735")  # 15734.5: 0 decimals
    assert round_to(D("1.2345"), "KWD") == D("1.235")  # 3 decimals
    assert str(round_to(D("15734.4"), "JPY")) == "15734"


def test_worked_example_two_as_a_pool_unrealized_then_realized():
    pool = Pool("EUR", "USD")
    assert pool.add(D("1000.00"), D("1.0800")) == D("1080.00")  # 2026-01-31
    assert pool.remeasure(D("1.0800")) == 0  # January's close: the same rate
    assert pool.remeasure(D("1.1000")) == D("20.00")  # February's close: unrealized gain
    assert (pool.balance, pool.carrying) == (D("1000.00"), D("1100.00"))
    assert pool.settle(D("1000.00"), D("1.0900")) == D("-10.00")  # realized loss
    assert (pool.balance, pool.carrying) == (0, 0)
    assert pool.remeasure(D("1.1000")) == 0


def test_a_partial_settlement_relieves_the_average_carrying_rate():
    pool = Pool("EUR", "USD")
    pool.add(D("600.00"), D("1.08"))  # 648.00
    pool.add(D("400.00"), D("1.10"))  # 440.00: 1,088.00 for 1,000.00
    assert pool.settle(D("250.00"), D("1.12")) == D("280.00") - D("272.00")
    assert (pool.balance, pool.carrying) == (D("750.00"), D("816.00"))


money = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
rate = st.decimals(min_value=D("0.5"), max_value=D("2"), places=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "settle", "remeasure"]), money, rate),
                max_size=30), rate)
def test_pool_fx_is_what_was_received_less_what_was_carried(steps, last):
    """Realized + unrealized = received + still carried - carried when added, to the
    cent, whatever the order; a pool settled in full carries nothing."""
    pool = Pool("EUR", "USD")
    added = received = fx = D(0)
    for kind, amount, r in steps:
        if kind == "add":
            added += pool.add(amount, r)
        elif kind == "settle" and pool.balance:
            amount = min(amount, pool.balance)
            received += convert(amount, r, "USD")
            fx += pool.settle(amount, r)
        else:
            fx += pool.remeasure(r)
    fx += pool.remeasure(last)
    assert fx == received + pool.carrying - added
    assert pool.carrying == convert(pool.balance, last, "USD")
    if pool.balance:
        received += convert(pool.balance, last, "USD")
        fx += pool.settle(pool.balance, last)
    assert pool.carrying == 0 and fx == received - added


def test_a_price_book_converted_at_the_contracts_fixed_rate(contracts: Path):
    found, errors = load_contracts(contracts)
    assert errors == []
    contract = found.contract("lumen-2026")
    book = price_book_for(found.price_books["list-2026"], contract)
    rates_ = book.versions[0].models["gpt-4o"]
    assert (book.currency, rates_.input, rates_.output) == ("EUR", D("4.6000"), D("18.4000"))
    arrears = found.contract("ardent-2026")
    assert price_book_for(found.price_books["list-2026-eur"], arrears) is \
        found.price_books["list-2026-eur"]


def test_fx_from_must_be_the_price_books_currency(contracts: Path):
    path = contracts / "customers" / "lumen.yaml"
    path.write_text(LUMEN.replace("from: USD", "from: GBP"))
    errors = [f"{e.line}: {e.field}: {e.message}" for e in load_contracts(contracts)[1]]
    assert errors == ["7: contracts[0].fx.from: expected the price book's currency USD, "
                      "got GBP"]
    path.write_text(LUMEN.replace("    fx: {rate: 0.92, from: USD}    # the USD list, at "
                                  "0.92 EUR per USD\n", ""))
    errors = [f"{e.field}: {e.message}" for e in load_contracts(contracts)[1]]
    assert errors == ["contracts[0].currency: expected the price book's currency USD, "
                      "got EUR"]


# --- worked example 1: a EUR pack, consumed over three months while the rate moves ---------


def test_eur_pack_revenue_at_the_purchase_rate_and_no_fx_on_the_liability(contracts: Path):
    entries, errors, options = load(contracts, RATES + PACK + LUMEN_USAGE)
    assert errors == []
    usage_ = generated(entries, "usage", "lumen")
    assert [(e.date.isoformat(), legs(e)) for e in usage_] == [
        ("2026-01-31", [("Liabilities:Deferred-Revenue:Lumen", D("92.00"), "EUR", D("1.0850")),
                        ("Income:Revenue:Usage", D("-92.00"), "EUR", D("1.0850"))]),
        ("2026-02-28", [("Liabilities:Deferred-Revenue:Lumen", D("138.00"), "EUR",
                         D("1.0850")),
                        ("Income:Revenue:Usage", D("-138.00"), "EUR", D("1.0850"))]),
        ("2026-03-31", [("Liabilities:Deferred-Revenue:Lumen", D("46.00"), "EUR", D("1.0850")),
                        ("Income:Revenue:Usage", D("-46.00"), "EUR", D("1.0850"))]),
    ]
    # the liability is non-monetary: no remeasurement, no FX
    assert generated(entries, "fx-remeasurement", "lumen") == []
    assert generated(entries, "fx-settlement", "lumen") == []
    # bean-query: EUR by position, USD by weight (the purchase rate), per month
    _, rows = run_query(entries, options, """
        SELECT year, month, sum(number) AS eur, sum(convert(weight, 'USD')) AS usd
        WHERE account = 'Income:Revenue:Usage' GROUP BY 1, 2 ORDER BY 1, 2""")
    assert [(r[1], r[2], r[3].get_currency_units("USD").number) for r in rows] == [
        (1, D("-92.00"), D("-99.82")), (2, D("-138.00"), D("-149.73")),
        (3, D("-46.00"), D("-49.91"))]


# --- worked example 2: a EUR arrears invoice revalued, then paid at a third rate ------------


def test_eur_receivable_unrealized_at_month_end_then_realized_on_payment(contracts: Path):
    entries, errors, _ = load(contracts, RATES + ARREARS)
    assert errors == []
    (revenue,) = generated(entries, "usage", "ardent")
    assert legs(revenue) == [("Assets:Unbilled:Ardent", D("1000.00"), "EUR", D("1.0800")),
                             ("Income:Revenue:Usage", D("-1000.00"), "EUR", D("1.0800"))]
    fx = [(e.date.isoformat(), e.meta["rule"], legs(e))
          for e in generated(entries, "fx-remeasurement") + generated(entries, "fx-settlement")]
    assert sorted(fx) == [
        ("2026-02-28", "fx-remeasurement",
         [("Assets:FX-Revaluation:Ardent", D("20.00"), "USD", None),
          ("Income:FX-Gain-Loss:Unrealized", D("-20.00"), "USD", None)]),
        ("2026-03-10", "fx-settlement",
         [("Assets:FX-Revaluation:Ardent", D("-10.00"), "USD", None),
          ("Income:FX-Gain-Loss:Realized", D("10.00"), "USD", None)]),
    ]
    # the customer's monetary items in USD: 1,080.00 at the invoice rate, 1,090.00 out
    # at the payment's, and the revaluation's 10.00: nothing left
    usd = D(0)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                if p.account in ("Assets:Receivable:Ardent", "Assets:Unbilled:Ardent",
                                 "Assets:FX-Revaluation:Ardent"):
                    r = p.price.number if p.price else (
                        D("1.0900") if p.units.currency == "EUR" and entry.date.month == 3
                        else D("1.0800") if p.units.currency == "EUR" else D(1))
                    usd += (p.units.number * r).quantize(D("0.01"))
    assert usd == 0


def test_a_missing_rate_is_an_error_naming_the_pair_and_the_date(contracts: Path):
    no_march = RATES.replace("2026-03-10 price EUR 1.0900 USD\n", "")
    no_march = no_march.replace("2026-02-27 price EUR 1.1000 USD\n", "")
    entries, errors, _ = load(contracts, no_march.replace("2026-01-05 price EUR 1.0850 USD\n",
                                                          "") + PACK + LUMEN_USAGE)
    messages = [e.message for e in errors]
    assert any("no EUR/USD rate on or before 2026-01-31" not in m and
               "no EUR/USD rate on or before 2026-01-05" in m for m in messages), messages
    # at the contract, and the purchase itself at its line (priced at its date's rate)
    assert all(e.source["filename"].endswith("lumen.yaml") for e in errors
               if not e.message.startswith("purchase:"))
    assert [e.message for e in errors if e.message.startswith("purchase:")] == [
        "purchase: no EUR/USD rate on or before 2026-01-05 (a price entry "
        "'2026-01-05 price EUR ... USD')"]
    _, errors, _ = load(contracts, "2026-02-27 price EUR 1.1000 USD\n" + ARREARS)
    # at the contract, and at the invoice's own line (priced at its date's rate)
    assert sorted(e.message for e in errors) == [
        "contract 'ardent-2026': no EUR/USD rate on or before 2026-01-31 (a price entry "
        "'2026-01-31 price EUR ... USD')",
        "invoice: no EUR/USD rate on or before 2026-01-31 (a price entry "
        "'2026-01-31 price EUR ... USD')"]


# --- worked example 3: a provider bill in EUR ----------------------------------------------


def test_a_provider_bill_in_eur_is_cogs_at_the_rate_of_the_bills_date(contracts: Path):
    entries, errors, options = load(contracts, RATES + BILL, costs=True)
    assert errors == []
    (cost,) = generated(entries, "cogs")
    assert legs(cost) == [("Expenses:COGS:Inference:Mistral", D("20.00"), "EUR", D("1.0800")),
                          ("Liabilities:Payable:Mistral", D("-20.00"), "EUR", D("1.0800"))]
    (bill,) = generated(entries, "provider-bill")
    assert bill.date == day(2026, 1, 31)
    assert {(a, n, c, r) for a, n, c, r in legs(bill)} == {
        ("Liabilities:Payable:Mistral", D("20.00"), "EUR", D("1.0800")),
        ("Liabilities:Payable:Mistral", D("-20.00"), "EUR", D("1.0800"))}
    _, rows = run_query(entries, options, """
        SELECT sum(convert(weight, 'USD')) AS usd WHERE account ~ '^Expenses:COGS'""")
    assert rows[0][0].get_currency_units("USD").number == D("21.60")
    no_rate, errors, _ = load(contracts, BILL, costs=True)
    assert any("provider cost: no EUR/USD rate on or before 2026-01-31" in e.message
               for e in errors)


# --- the edges ------------------------------------------------------------------------------


def test_the_generated_entries_print_and_parse_back(contracts: Path):
    entries, errors, _ = load(contracts, RATES + PACK + LUMEN_USAGE + ARREARS)
    assert errors == []
    text = "".join(printer.format_entry(e) for e in entries
                   if e.meta.get("filename", "").startswith("<tokenbooks.revenue"))
    assert "92.00 EUR @ 1.0850 USD" in text
    assert "Income:FX-Gain-Loss:Unrealized  -20.00 USD" in text


def test_a_usd_book_has_no_fx_account_and_no_price(tmp_path: Path, contracts: Path):
    (contracts / "customers" / "lumen.yaml").unlink()
    (contracts / "customers" / "ardent.yaml").write_text(
        ARDENT.replace("EUR", "USD").replace("list-2026-eur", "list-2026"))
    entries, errors, _ = load(contracts, usage("2026-01-20", "ardent", 1_000_000))
    assert errors == []
    assert not any(isinstance(e, data.Open) and "FX" in e.account for e in entries)
    assert all(p.price is None for e in entries if isinstance(e, data.Transaction)
               for p in e.postings)


def test_a_purchase_in_a_currency_the_contract_does_not_use_is_quarantined(
        tmp_path: Path, contracts: Path):
    source = tmp_path / "p.csv"
    source.write_text("date,customer,contract,pack,amount,currency,payment_id\n"
                      "2026-01-05,lumen,lumen-2026,standard,1000.00,USD,pay-1\n"
                      "2026-01-06,lumen,lumen-2026,standard,1000.00,EUR,pay-2\n")
    result = purchases.Importer(contracts).run(source)
    assert (result.read, result.imported, result.quarantined) == (2, 1, 1)
    (q,) = result.quarantine
    assert (q.line, q.field) == (2, "currency")
    assert q.reason == "expected EUR (the currency of contract 'lumen-2026'), got 'USD'"


# --- the rates importer ---------------------------------------------------------------------


def test_rates_csv_and_beanprice_output_become_price_entries(tmp_path: Path):
    csv = tmp_path / "rates.csv"
    csv.write_text("date,currency,rate,quote\n2026-01-30,EUR,1.0850,\n2026-01-30,JPY,0.0067,USD\n"
                   "2026-01-30,EUR,1.0850,\n2026-01-30,EUR,1.2,\nx,EUR,1,\n2026-02-01,E\"R,1,\n"
                   "2026-02-01,EUR,0,\n2026-02-01,USD,1,\n")
    importer = rates.Importer()
    found = importer.extract(str(csv), [])
    result = importer.results[str(csv)]
    assert [printer.format_entry(e).splitlines()[0] for e in found] == [
        "2026-01-30 price EUR                                1.0850 USD",
        "2026-01-30 price JPY                                0.0067 USD"]
    assert (result.read, result.imported, result.duplicates, len(result.conflicts),
            result.quarantined) == (8, 2, 1, 1, 4)
    assert [(q.line, q.field) for q in result.rejected()] == [
        (5, "rate"), (6, "date"), (7, "currency"), (8, "rate"), (9, "currency")]
    prices = tmp_path / "eur.prices"
    prices.write_text("; bean-price -e USD:yahoo/EURUSD=X\n2026-01-30 price EUR 1.0850 USD\n"
                      "2026-01-31 price EUR 1.0800 USD\n")
    assert importer.identify(str(prices)) and importer.identify(str(csv))
    again = importer.extract(str(prices), found)  # the book holds 2026-01-30 already
    assert [(e.date, e.amount.number) for e in again] == [(day(2026, 1, 31), D("1.0800"))]
    assert importer.results[str(prices)].duplicates == 1
    assert rates.rates_file(prices)[0].amount.number == D("1.0850")


def test_a_rates_file_loads_into_a_book_that_prices_by_it(tmp_path: Path, contracts: Path):
    source = tmp_path / "r.prices"
    source.write_text(RATES)
    body = "".join(printer.format_entry(e) for e in rates.rates_file(source))
    entries, errors, _ = load(contracts, body + PACK + LUMEN_USAGE)
    assert errors == [] and len(generated(entries, "usage", "lumen")) == 3


def test_docs_worked_example_matches(contracts: Path):
    text = (ROOT / "docs" / "currency.md").read_text()
    for figure in ("99.82", "149.73", "49.91", "1,080.00", "1,100.00", "1,090.00", "21.60"):
        assert figure in text
    assert textwrap.dedent("currency.md") in (ROOT / "docs" / "README.md").read_text()


# --- reports: by transaction currency and in the operating currency ------------------------

USD_CUSTOMER = """\
customer: acme
name: Acme Corp
contracts:
  - id: acme-2026
    start: 2026-01-01
    currency: USD
    billing: prepaid
    price_book: list-2026
    credit_value: 0.01
    packs:
      standard: {price: 100.00, credits: 10000, expires_after: 12 months}
    overage: {policy: invoice, multiplier: 1.0}
"""

ACME = """
2026-01-05 * "Acme Corp" "Credit purchase: standard"
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-acme-1"
  Assets:Bank                         100.00 USD
  Liabilities:Deferred-Revenue:Acme  -100.00 USD
""" + usage("2026-01-20", "acme", 2_000_000)  # 10.00 USD of the 100.00


def ledger_of(contracts: Path, body: str):
    from tokenbooks.plugins.reports.ledger import Ledger

    (contracts / "customers" / "acme.yaml").write_text(USD_CUSTOMER)
    entries, errors, options = load(contracts, RATES + body)
    assert errors == []
    return Ledger(entries, options)


def test_the_rollforward_is_one_section_per_currency_each_tied_out(contracts: Path):
    from tokenbooks.plugins.reports import rollforward

    month = ledger_of(contracts, ACME + PACK + LUMEN_USAGE).month("2026-02")
    usd, eur = (rollforward.report(month, currency=c) for c in ("USD", "EUR"))
    assert [(x.customer, x.opening, x.revenue_total, x.gl_closing, x.subledger_closing)
            for x in usd.lines] == [("acme", D("90.00"), 0, D("90.00"), D("90.00")),
                                    ("(total)", D("90.00"), 0, D("90.00"), D("90.00"))]
    assert [(x.customer, x.opening, x.revenue_total, x.gl_closing, x.subledger_closing)
            for x in eur.lines] == [
        ("lumen", D("908.00"), D("138.00"), D("770.00"), D("770.00")),
        ("(total)", D("908.00"), D("138.00"), D("770.00"), D("770.00"))]
    check = rollforward.check(month)
    assert check.ok and " | EUR: opening 908.00 + additions 0.00 - revenue 138.00" in \
        check.detail and check.detail.startswith("opening 90.00 + additions 0.00")
    assert [(r["customer"], r["closing"]) for r in rollforward.table(month).rows] == [
        ("acme", D("90.00")), ("(total)", D("90.00"))]
    (eur_table,) = rollforward.foreign_tables(month)
    assert (eur_table.name, eur_table.title) == (
        "rollforward-eur", "Contract-liability rollforward 2026-02 (EUR)")
    assert [(r["customer"], r["closing"]) for r in eur_table.rows] == [
        ("lumen", D("770.00")), ("(total)", D("770.00"))]


def test_a_foreign_contract_without_activity_leaves_the_rollforward_as_it_was(
        contracts: Path):
    from tokenbooks.plugins.reports import rollforward

    month = ledger_of(contracts, ACME).month("2026-01")
    assert rollforward.check(month).detail.startswith("opening 0.00 + additions 100.00")
    assert " | " not in rollforward.check(month).detail
    assert rollforward.foreign_tables(month) == []


def test_profitability_in_the_operating_currency_and_in_the_transaction_currency(
        contracts: Path):
    from tokenbooks.plugins.reports import profitability

    book = ledger_of(contracts, ACME + PACK + LUMEN_USAGE)
    usd = {c.name: c.revenue_total for c in profitability.report(book, "2026-Q1").customers}
    assert usd == {"acme": D("10.00"), "lumen": D("99.82") + D("149.73") + D("49.91")}
    eur = profitability.report(book, "2026-Q1", "EUR")
    assert {c.name: c.revenue_total for c in eur.customers} == {"lumen": D("276.00")}


def test_importing_a_rates_file_twice_changes_nothing(tmp_path: Path):
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path / "b")]).exit_code == 0
    source = tmp_path / "rates.csv"
    source.write_text("date,currency,rate\n2026-01-30,EUR,1.0850\n2026-01-30,EUR,1.09\n"
                      "2026-02-27,EUR,1.1000\n")
    ledger = str(tmp_path / "b" / "main.beancount")
    first = runner.invoke(cli, ["import", "--ledger", ledger, str(source)])
    assert first.exit_code == 0, first.output
    files = {p.name: p.read_bytes() for p in (tmp_path / "b" / "imports").iterdir()}
    names = sorted(n.split(".", 1)[0] + "." + n.rsplit(".", 1)[-1] for n in files)
    assert names == ["2026-01.beancount", "2026-02.beancount", "README.beancount",
                     "rates.jsonl"]
    again = runner.invoke(cli, ["import", "--ledger", ledger, str(source)])
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "b" / "imports").iterdir()} == files
    quarantine = [b for n, b in files.items() if n.endswith(".quarantine.jsonl")]
    assert b"a line above gives 1.0850 USD for EUR on 2026-01-30" in quarantine[0]


def test_a_rates_import_killed_after_any_file_converges(tmp_path: Path):
    """Fault injection (scripts.writing's hook): killed after each file it writes, or
    before its rename, a re-run leaves the files of an uninterrupted run."""
    import os
    import shutil
    import subprocess
    import sys

    from click.testing import CliRunner

    from tokenbooks.scripts import writing
    from tokenbooks.scripts.cli import cli

    start = tmp_path / "start"
    assert CliRunner().invoke(cli, ["init", str(start)]).exit_code == 0
    source = tmp_path / "rates.csv"
    source.write_text("date,currency,rate\n2026-01-30,EUR,1.0850\n2026-01-30,EUR,1.09\n"
                      "2026-02-27,EUR,1.1000\n2026-03-31,EUR,1.1000\n")

    def files(book: Path) -> dict[str, bytes]:
        return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
                if p.is_file() and p.name != writing.LOCK_FILE
                and not p.name.endswith(".picklecache")}

    def run(book: Path, fault: str | None) -> int:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        if fault:
            env[writing.FAULT_VARIABLE] = fault
        return subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli", "import",
                               "--ledger", str(book / "main.beancount"), str(source)],
                              capture_output=True, timeout=120, env=env).returncode

    reference = tmp_path / "reference"
    shutil.copytree(start, reference)
    assert run(reference, None) == 0
    after = files(reference)
    written = sum(1 for k, v in after.items() if files(start).get(k) != v)
    assert written == 5  # the archived copy, the quarantine, three months of rates
    for fault in [*map(str, range(1, written + 1)), *(f"{n}:tmp" for n in (1, written))]:
        book = tmp_path / f"fault-{fault.replace(':', '-')}"
        shutil.copytree(start, book)
        run(book, fault)  # killed at the fault (or done, past the last file)
        result = CliRunner().invoke(cli, ["import", "--ledger", str(book / "main.beancount"),
                                          str(source)])
        assert result.exit_code == 0, result.output
        assert files(book) == after, fault


def test_a_book_without_an_operating_currency_converts_nothing(contracts: Path):
    text = (HEAD.format(c=contracts).replace('option "operating_currency" "USD"\n', "")
            .replace('plugin "tokenbooks.plugins.cogs"', '; plugin "cogs"'))
    entries, errors, _ = loader.load_string(text + PACK + LUMEN_USAGE)  # and no rates
    assert errors == []
    (first, *_) = generated(entries, "usage", "lumen")
    assert legs(first)[0] == ("Liabilities:Deferred-Revenue:Lumen", D("92.00"), "EUR", None)
