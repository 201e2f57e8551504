"""Foreign currency, the gaps of the first pass (docs/currency.md): the imported
purchases and payments of a EUR customer priced at their date's rate, and the month-end
reports (RPO, credits, dunning, what-if) by transaction currency and in the operating
currency. The books and rates are those of ``test_fx`` (USD per EUR: 2026-01-05 1.0850,
01-31 1.0800, 02-27 1.1000, 03-10 1.0900, 03-31 1.1000).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount.core import data
from beancount.core.amount import Amount
from beanquery.query import run_query
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fx import (
    ACME,
    ARREARS,
    LUMEN,
    LUMEN_USAGE,
    PACK,
    RATES,
    USD_CUSTOMER,
    generated,
    ledger_of,
    legs,
    load,
    write_contracts,
)

from tokenbooks.plugins.entries.fx import price_imports
from tokenbooks.plugins.rules.fx import Rates

D = Decimal


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    """test_fx's contracts: lumen (EUR pack, the USD list at 0.92), ardent (EUR arrears)."""
    return write_contracts(tmp_path)


def _rule(entries, rule: str, customer: str):
    return [e for e in entries if getattr(e, "meta", {}).get("rule") == rule
            and e.meta.get("customer") == customer]


def test_a_eur_purchase_is_priced_at_its_dates_rate_and_the_liability_ends_at_zero(
        contracts: Path):
    # worked example 1: 1,000.00 EUR bought on 2026-01-05, 276.00 EUR drawn by March
    body = RATES + PACK + LUMEN_USAGE
    entries, errors, options = load(contracts, body)
    assert errors == []
    (purchase,) = _rule(entries, "purchase", "lumen")
    assert legs(purchase) == [
        ("Assets:Bank", D("1000.00"), "EUR", D("1.0850")),
        ("Liabilities:Deferred-Revenue:Lumen", D("-1000.00"), "EUR", D("1.0850"))]
    # bean-query in USD: the liability carried at 1,085.00, drawn at the same rate:
    # 1,085.00 - 99.82 - 149.73 - 49.91 = 785.54 USD = 724.00 EUR x 1.0850 (785.54)
    _, rows = run_query(entries, options, """
        SELECT sum(number) AS eur, sum(convert(weight, 'USD')) AS usd
        WHERE account = 'Liabilities:Deferred-Revenue:Lumen'""")
    ((eur, usd),) = rows
    assert eur == D("-724.00")
    assert usd.get_currency_units("USD").number == D("-785.5400")
    # the cash, in USD at the prepayment date's rate
    _, rows = run_query(entries, options, """
        SELECT sum(convert(weight, 'USD')) WHERE account = 'Assets:Bank'""")
    assert rows[0][0].get_currency_units("USD").number == D("1085.0000")


def test_a_eur_payment_is_priced_at_its_date_and_the_fx_is_unchanged(contracts: Path):
    entries, errors, options = load(contracts, RATES + ARREARS)
    assert errors == []
    (payment,) = _rule(entries, "payment", "ardent")
    assert legs(payment) == [("Assets:Bank", D("1000.00"), "EUR", D("1.0900")),
                             ("Assets:Receivable:Ardent", D("-1000.00"), "EUR", D("1.0900"))]
    # the invoice, unbilled to receivable, at its date's rate: the unbilled amount's
    # 1,080.00 USD at the revenue's rate leaves it at 0.00 in USD as well as in EUR
    (invoice,) = _rule(entries, "invoice", "ardent")
    assert [leg[3] for leg in legs(invoice)] == [D("1.0800"), D("1.0800")]
    _, rows = run_query(entries, options, """
        SELECT sum(convert(weight, 'USD')) WHERE account = 'Assets:Unbilled:Ardent'""")
    assert rows[0][0].is_empty()
    (settled,) = generated(entries, "fx-settlement", "ardent")
    assert legs(settled)[1] == ("Income:FX-Gain-Loss:Realized", D("10.00"), "USD", None)
    # in USD the receivable, unbilled and revaluation accounts end at zero: 1,080.00 in,
    # +20.00 remeasured, -10.00 realized, 1,090.00 out at the payment's rate
    _, rows = run_query(entries, options, """
        SELECT sum(convert(weight, 'USD')) WHERE account ~ ':Ardent$'
          AND account ~ '^Assets:(Receivable|Unbilled|FX-Revaluation)'""")
    assert rows[0][0].get_currency_units("USD").number == 0


def test_a_eur_purchase_with_no_rate_on_its_date_names_the_pair_and_the_date(
        contracts: Path):
    early = PACK.replace("2026-01-05 *", "2026-01-02 *")
    entries, errors, _ = load(contracts, RATES + early)
    messages = [e.message for e in errors]
    assert "purchase: no EUR/USD rate on or before 2026-01-02 (a price entry " \
           "'2026-01-02 price EUR ... USD')" in messages
    (error,) = [e for e in errors if e.message.startswith("purchase:")]
    assert error.source["lineno"] > 0


def test_a_usd_customers_purchase_in_a_mixed_book_carries_no_price(contracts: Path):
    book = ledger_of(contracts, ACME + PACK)
    (purchase,) = _rule(book.entries, "purchase", "acme")
    assert all(p.price is None for p in purchase.postings)


def test_the_rpo_is_a_section_per_currency_and_in_the_operating_currency(contracts: Path):
    from tokenbooks.plugins.reports import credits

    month = ledger_of(contracts, ACME + PACK + LUMEN_USAGE).month("2026-02")
    table = credits.rpo_table(month)
    assert table.columns == ["customer", "currency", "contract_liability",
                             "within_12_months", "later", "remaining_commitments", "total",
                             "total_usd", "all_currencies_usd"]
    assert [(r["customer"], r["currency"], r["contract_liability"], r["total"],
             r["total_usd"], r.get("all_currencies_usd")) for r in table.rows] == [
        # 1,000.00 - 92.00 - 138.00 = 770.00 EUR, at 2026-01-05's 1.0850: 835.45 USD
        ("lumen", "EUR", D("770.00"), D("770.00"), D("835.45"), None),
        ("(total)", "EUR", D("770.00"), D("770.00"), D("835.45"), None),
        ("acme", "USD", D("90.00"), D("90.00"), D("90.00"), None),
        # the last row: the operating currency's total, as in a book of one currency
        ("(total)", "USD", D("90.00"), D("90.00"), D("90.00"), D("925.45"))]


def test_a_one_currency_books_rpo_is_as_it_was(contracts: Path):
    from tokenbooks.plugins.reports import credits

    for name in ("lumen.yaml", "ardent.yaml"):
        (contracts / "customers" / name).unlink()
    month = ledger_of(contracts, ACME).month("2026-01")
    table = credits.rpo_table(month)
    assert table.columns == ["customer", "contract_liability", "within_12_months", "later",
                             "remaining_commitments", "total"]
    assert [(r["customer"], r["total"]) for r in table.rows] == [
        ("acme", D("90.00")), ("(total)", D("90.00"))]


def test_the_credits_report_lists_every_currencys_lots_with_its_currency(contracts: Path):
    from tokenbooks.plugins.reports import credits

    month = ledger_of(contracts, ACME + PACK + LUMEN_USAGE).month("2026-02")
    table = credits.credits_table(month)
    assert table.columns[:2] == ["customer", "currency"]
    assert [(r["customer"], r["currency"], r["remaining_credits"], r["liability"])
            for r in table.rows] == [
        ("acme", "USD", D("9000.00"), D("90.00")),
        # 100,000 - 9,200 - 13,800 credits; 770.00 EUR of liability
        ("lumen", "EUR", D("77000.00"), D("770.00"))]


def test_the_dunning_report_names_each_customers_currency(contracts: Path):
    from tokenbooks.plugins.reports import dunning

    month = ledger_of(contracts, ACME + ARREARS).month("2026-02")
    table = dunning.dunning_table(month)
    assert table.columns[:3] == ["section", "customer", "currency"]
    assert [(r["section"], r["customer"], r["currency"], r.get("total"), r.get("open"))
            for r in table.rows if r["section"] in ("aging", "open")] == [
        ("aging", "ardent", "EUR", D("1000.00"), None),
        ("open", "ardent", "EUR", None, D("1000.00"))]


def test_the_whatif_totals_are_in_the_operating_currency(contracts: Path, tmp_path: Path):
    from tokenbooks.plugins.reports import whatif

    book = ledger_of(contracts, ACME + PACK + LUMEN_USAGE)
    folder = tmp_path / "proposal" / "customers"
    folder.mkdir(parents=True)
    # the USD list at 1.00 EUR per USD: 5.00 EUR per 1M input tokens instead of 4.60
    (folder / "lumen.yaml").write_text(LUMEN.replace("rate: 0.92", "rate: 1.00"))
    result = whatif.compare(book, whatif.load_proposal(book, folder.parent), "2026-Q1")
    assert result.errors == []
    b, p = result.booked, result.proposed
    # booked: 92.00 + 138.00 + 46.00 EUR at the pack's 1.0850 = 99.82 + 149.73 + 49.91
    assert b["lumen"]["revenue"] == D("299.46")
    assert b[whatif.TOTAL]["revenue"] == D("309.46")  # acme's 10.00 USD
    # proposed: 100.00 + 150.00 + 50.00 EUR at 1.0850 = 108.50 + 162.75 + 54.25
    assert p["lumen"]["revenue"] == D("325.50")
    assert p[whatif.TOTAL]["revenue"] == D("335.50")
    # deferred at 03-31: acme 90.00 + lumen 724.00 EUR x 1.0850 = 785.54; proposed
    # 700.00 EUR x 1.0850 = 759.50
    assert (b[whatif.TOTAL]["deferred"], p[whatif.TOTAL]["deferred"]) == (
        D("875.54"), D("849.50"))
    notes = whatif.table(result).notes
    assert any(n.startswith("Every figure is in USD") for n in notes)


def test_the_revenue_report_by_transaction_currency_and_in_the_operating_one(
        contracts: Path):
    from tokenbooks.plugins.reports import profitability

    month = ledger_of(contracts, ACME + PACK + LUMEN_USAGE).month("2026-02")
    table = profitability.revenue_table(month)
    got = {(r["section"], r["name"]): (r.get("usage"), r["total"]) for r in table.rows}
    # February: lumen's 138.00 EUR at the pack's 1.0850 = 149.73 USD; acme nothing
    assert got[("customer", "lumen")] == (D("149.73"), D("149.73"))
    assert got[("total", "total")] == (D("149.73"), D("149.73"))
    assert got[("currency", "USD")] == (D("0.00"), D("0.00"))
    assert got[("currency", "EUR")] == (D("138.00"), D("138.00"))
    assert got[("currency", "EUR in USD")] == (D("149.73"), D("149.73"))


def test_the_disclosures_note_per_currency_each_tied_out(contracts: Path):
    from tokenbooks.plugins.reports import disclosures

    book = ledger_of(contracts, ACME + PACK + LUMEN_USAGE)
    usd = disclosures.disclosures(book, "2026-Q1")
    eur = disclosures.disclosures(book, "2026-Q1", "EUR")
    assert disclosures.failures(usd) == [] and disclosures.failures(eur) == []
    assert (usd.currency, usd.revenue, eur.currency, eur.revenue) == (
        "USD", D("10.00"), "EUR", D("276.00"))  # 92.00 + 138.00 + 46.00 EUR
    liability = {r["line"] + r["kind"]: r["amount"]
                 for r in eur.table("contract_liability").rows}
    assert (liability["opening"], liability["additionpurchase"], liability["closing"]) == (
        D("0.00"), D("1000.00"), D("724.00"))
    assert eur.table("remaining_performance_obligations").rows[-1]["total"] == D("724.00")
    assert usd.table("remaining_performance_obligations").rows[-1]["total"] == D("90.00")
    by_currency = usd.table("revenue_by_currency").rows
    assert by_currency == [
        {"currency": "USD", "revenue": D("10.00"), "revenue_usd": D("10.00"),
         "contract_liability": D("90.00"), "contract_liability_usd": D("90.00")},
        # 276.00 EUR at 1.0850: 99.82 + 149.73 + 49.91; 724.00 EUR x 1.0850 = 785.54
        {"currency": "EUR", "revenue": D("276.00"), "revenue_usd": D("299.46"),
         "contract_liability": D("724.00"), "contract_liability_usd": D("785.54")},
        {"currency": "(total)", "revenue_usd": D("309.46"),
         "contract_liability_usd": D("875.54")}]
    # a month note as well as a quarter's
    assert disclosures.failures(disclosures.disclosures(book, "2026-02", "EUR")) == []


def test_the_fava_liabilities_page_shows_each_other_currencys_rollforward(contracts: Path):
    from tokenbooks.plugins.fava_ext.pages import Pages

    (contracts / "customers" / "acme.yaml").write_text(USD_CUSTOMER)
    entries, errors, options = load(contracts, RATES + ACME + PACK + LUMEN_USAGE)
    assert errors == []
    month = Pages(entries, options).month("2026-02")
    # the page's own figures: the operating currency's customers
    assert [(r["customer"], r["closing"]) for r in month.rollforward.rows] == [
        ("acme", D("90.00")), ("(total)", D("90.00"))]
    (eur,) = month.foreign_rollforwards
    assert eur.title == "Contract-liability rollforward 2026-02 (EUR)"
    assert [(r["customer"], r["revenue_usage"], r["closing"]) for r in eur.rows] == [
        ("lumen", D("138.00"), D("770.00")), ("(total)", D("138.00"), D("770.00"))]


def test_the_forecasts_breakage_totals_are_per_currency(contracts: Path):
    from tokenbooks.plugins.reports import forecast

    book = ledger_of(contracts, ACME + PACK + LUMEN_USAGE)
    table = forecast.forecast_table(book.month("2026-03"))
    assert table.columns[:3] == ["section", "customer", "currency"]
    totals = {(r["month"], r["currency"]): r["expected_breakage"] for r in table.rows
              if r["section"] == "breakage" and r["customer"] == "(total)"}
    # remote breakage at the packs' expiry, 2027-01-05: acme's 90.00 USD left (no usage
    # since January); lumen's 724.00 EUR less the burn-down of its March rate: two
    # totals, never 455.20 of nothing
    assert {k: v for k, v in totals.items() if v} == {
        ("2027-01", "USD"): D("90.00"), ("2027-01", "EUR"): D("365.20")}
    eur = [r for r in table.rows if r["section"] == "breakage" and r["customer"] == "lumen"]
    assert eur and all(r["currency"] == "EUR" for r in eur)
    for (month, code), value in totals.items():
        mine = [r["expected_breakage"] for r in table.rows if r["section"] == "breakage"
                and r["month"] == month and r["currency"] == code
                and r["customer"] != "(total)"]
        assert value == sum(mine, D("0.00"))


@settings(max_examples=60, deadline=None)
@given(cents=st.integers(1, 10**9), rate=st.decimals("0.0001", "300", places=4),
       offset=st.integers(0, 40))
def test_a_priced_purchase_balances_in_both_currencies_at_its_dates_rate(
        cents: int, rate: Decimal, offset: int):
    amount = Decimal(cents).scaleb(-2)
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=offset)
    rates = Rates([(datetime.date(2026, 1, 1), "EUR", "USD", rate),
                   (datetime.date(2026, 3, 1), "EUR", "USD", rate * 2)])

    def purchase(customer: str, code: str) -> data.Transaction:
        return data.Transaction(
            {"filename": "x.beancount", "lineno": 1, "customer": customer,
             "rule": "purchase"}, day, "*", "", "", frozenset(), frozenset(),
            [data.Posting("Assets:Bank", Amount(amount, code), None, None, None, None),
             data.Posting("Liabilities:Deferred-Revenue:X", Amount(-amount, code), None,
                          None, None, None)])

    eur, usd = purchase("x", "EUR"), purchase("acme", "USD")
    out, missing = price_imports([eur, usd], {"x": "EUR"}, "USD", rates)
    assert missing == [] and out[1] is usd  # another customer's: untouched
    priced = out[0]
    assert all(p.price == Amount(rate, "USD") for p in priced.postings)
    weights = [p.units.number * p.price.number for p in priced.postings]
    assert sum(weights) == 0 and weights[0] == amount * rate


def test_the_fava_expiring_credits_add_the_operating_currencys_lots_only(contracts: Path):
    from tokenbooks.plugins.fava_ext.pages import Pages, expiring

    # both packs bought on 2026-01-05 for 3 months: they expire on 2026-04-05, 5 days
    # after March's end
    (contracts / "customers" / "acme.yaml").write_text(
        USD_CUSTOMER.replace("expires_after: 12 months", "expires_after: 3 months"))
    (contracts / "customers" / "lumen.yaml").write_text(
        LUMEN.replace("expires_after: 12 months", "expires_after: 3 months"))
    entries, errors, options = load(contracts, RATES + ACME + PACK + LUMEN_USAGE)
    assert errors == []
    month = Pages(entries, options).month("2026-03")
    assert {(r["customer"], r["currency"], r["days_to_expiry"]) for r in
            month.credits.rows} == {("acme", "USD", 5), ("lumen", "EUR", 5)}
    # acme's 90.00 USD (9,000 credits) is the sum; lumen's 724.00 EUR is not added
    assert expiring(month)[0] == {"within_days": "30", "lots": 1,
                                  "remaining_credits": D("9000.00"),
                                  "liability": D("90.00")}
