"""The Fava pages' data: the same figures as ``tokenbooks report`` (one computation, two
views), journal filters that select exactly the entries behind a figure, the extension's
configuration errors shown in Fava, and the breakage estimate against history."""

from __future__ import annotations

import datetime
import json
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from fava.application import create_app
from fava.core.filters import AdvancedFilter
from favakit import PERIODS, closed_sample, copy_sample, loaded_sample  # noqa: F401

from tokenbooks.plugins.fava_ext import MODULE, STATE, parse_config
from tokenbooks.plugins.fava_ext import pages as page_data
from tokenbooks.plugins.fava_ext.pages import Pages, Scope
from tokenbooks.plugins.reports import REPORTS, Ledger, tables
from tokenbooks.plugins.reports.rows import liability_rows
from tokenbooks.plugins.rules import breakage_rates, rollforward
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules.lots import Lot
from tokenbooks.plugins.rules.model import (
    Breakage,
    BreakageRevision,
    Contract,
    ContractSet,
    Customer,
    Pack,
)
from tokenbooks.scripts.cli import cli

SLUG = "tokenbooks-sample-company"


@pytest.fixture(scope="module")
def pages(loaded_sample) -> Pages:  # noqa: F811
    entries, options = loaded_sample
    return Pages.compute(entries, options)


def test_months_and_closes(pages: Pages) -> None:
    assert pages.periods == list(PERIODS)
    assert pages.first == "2026-01"
    assert sorted(pages.closed) == list(PERIODS)
    assert all(c["entries"] > 0 and len(c["fingerprint"]) == 64 for c in pages.closed.values())
    assert pages.month(None).period == "2026-03"
    assert pages.month("2026-02").period == "2026-02"
    assert pages.month("1999-01").period == "2026-03"  # an unknown month: the last one


def test_months_setting_keeps_the_last_months(pages: Pages, loaded_sample) -> None:  # noqa: F811
    entries, options = loaded_sample
    last = Pages.compute(entries, options, months=1)
    assert last.periods == ["2026-03"] and last.first == "2026-01"
    assert tables.to_json(last.months["2026-03"].rollforward, "2026-03") == tables.to_json(
        pages.months["2026-03"].rollforward, "2026-03")


@pytest.mark.parametrize("name", ["rollforward", "revenue", "credits", "breakage",
                                  "modifications", "dunning", "checks"])
def test_tables_are_the_reports_tables(pages: Pages, loaded_sample, name: str) -> None:  # noqa: F811
    entries, options = loaded_sample
    field = {"rollforward": "rollforward"}.get(name, name)
    ledger = Ledger(entries, options)  # a view of its own: nothing shared with the pages
    for period in PERIODS:
        expected = REPORTS[name][0](ledger.month(period))
        if name == "checks":  # the pages show what the close recorded for a closed month
            expected = page_data.checks.recorded(ledger.root, period)
        shown = getattr(pages.months[period], field)
        assert tables.to_json(shown, period) == tables.to_json(expected, period)


def test_same_figures_as_the_command_line(pages: Pages, closed_sample: Path) -> None:  # noqa: F811
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "rollforward", "--ledger", str(closed_sample),
                              "--period", "2026-02", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert out.output == tables.to_json(pages.months["2026-02"].rollforward, "2026-02")
    out = runner.invoke(cli, ["report", "profitability", "--ledger", str(closed_sample),
                              "--period", "2026-02", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == json.loads(json.dumps(
        prof.as_dict(pages.months["2026-02"].profitability)))


def test_every_movement_figure_links_to_exactly_its_entries(pages: Pages,
                                                            loaded_sample) -> None:  # noqa: F811
    entries, options = loaded_sample
    ids = Ledger(entries, options).ids
    checked = 0
    for period, month in pages.months.items():
        rows = {r["customer"]: r for r in month.rollforward.rows}
        for column in page_data.rollforward_columns(month.rollforward):
            for customer, row in rows.items():
                figure = row.get(column)
                link = page_data.journal_filter(month, customer, column)
                if column in ("opening", "closing", "gl_closing", "subledger_closing", "ties"):
                    assert link is None
                    continue
                if not figure:
                    continue
                assert link is not None, (period, customer, column)
                if column == "revenue_from_opening_50_8b":
                    continue  # links to the month's revenue entries (checked as "revenue")
                chosen = AdvancedFilter(link.filter).apply(entries)
                assert len(chosen) == link.entries
                assert all(month.start <= e.date <= month.end for e in chosen)
                _, moves, _ = liability_rows(chosen, ids, month.start, month.end)
                again = rollforward.rollforward(period, "USD", {}, moves, {}, [])
                by = {r["customer"]: r for r in rollforward.rows(again)}
                assert by[customer][column] == figure, (period, customer, column, link)
                checked += 1
    assert checked >= 20


def test_revenue_matrix_adds_up_to_each_months_total(pages: Pages) -> None:
    months, rows = page_data.revenue_matrix(pages, "stream")
    assert months == list(PERIODS)
    for i, period in enumerate(months, 1):
        total = next(r for r in pages.months[period].revenue.rows if r["section"] == "total")
        assert sum((row[i] for row in rows), Decimal(0)) == total["total"]
        for section in ("customer", "model"):
            _, by = page_data.revenue_matrix(pages, section)
            assert sum((row[i] for row in by), Decimal(0)) == total["total"]
    series = dict(page_data.liability_series(pages))
    for month in pages.months.values():
        last = month.rollforward.rows[-1]
        assert sum(series[month.end].values(), Decimal(0)) == last["gl_closing"]


def test_expiring_windows_are_cumulative(pages: Pages) -> None:
    month = pages.months["2026-03"]
    windows = page_data.expiring(month)
    assert [w["within_days"] for w in windows] == ["30", "60", "90"]
    lots = [w["lots"] for w in windows]
    assert lots == sorted(lots)
    soon = [r for r in month.credits.rows if r["days_to_expiry"] is not None
            and r["days_to_expiry"] <= 90]
    assert windows[-1]["lots"] == len(soon)


def test_pending_modifications_come_first() -> None:
    table = tables.Table("modifications", "m", ["section", "modification", "date", "approved"],
                         [{"section": "contract", "modification": "a", "date": "2026-01-01",
                           "approved": "yes"},
                          {"section": "contract", "modification": "b", "date": "2026-03-01",
                           "approved": "PENDING"},
                          {"section": "entry", "modification": "c", "date": "2026-02-01"}])
    assert [r["modification"] for r in page_data.pending_first(table)] == ["b", "a", "c"]


@pytest.mark.parametrize("text, settings, fragment", [
    (None, {}, None),
    ("{'months': 2}", {"months": 2}, None),
    ("{'months': foo}", {}, "is not a Python literal"),
    ("{'months': 2", {}, "is not a Python literal"),
    ("[1, 2]", {}, "must be a dict"),
    ("{'month': 2}", {}, "unknown option 'month'"),
    ("{'months': 0}", {}, "'months' must be an integer >= 1"),
    ("{'months': True}", {}, "'months' must be an integer >= 1"),
])
def test_config(text: str | None, settings: dict, fragment: str | None) -> None:
    got, errors = parse_config(text)
    assert got == settings
    if fragment is None:
        assert errors == []
    else:
        assert len(errors) == 1 and fragment in errors[0] and MODULE in errors[0]


def test_bad_config_is_an_error_in_fava_not_a_crash(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    text = ledger.read_text()
    line = f'custom "fava-extension" "{MODULE}"'
    assert line in text
    ledger.write_text(text.replace(line, line + ' "{\'months\': foo}"'))
    app = create_app([str(ledger)], load=True, read_only=True)
    client = app.test_client()
    page = client.get(f"/{SLUG}/extension/ContractLiabilities/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "is not a Python literal" in body and "data-tb-error" in body
    assert 'data-tb-table="rollforward"' in body  # the pages still show, with the defaults
    errors = client.get(f"/{SLUG}/api/errors").get_json()["data"]
    assert any("is not a Python literal" in e["message"] for e in errors)
    assert sum("is not a Python literal" in e["message"] for e in errors) == 1
    assert client.post(f"/{SLUG}/extension/ContractLiabilities/").status_code == 401


def state_of(fava_ledger):  # noqa: ANN001, ANN201
    return fava_ledger.extensions.get_extension(STATE).current()


PAGES = ("ContractLiabilities", "Revenue", "Profitability", "CreditsAndBreakage",
         "Modifications", "CloseStatus")


def test_computed_once_per_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = copy_sample(tmp_path)
    app = create_app([str(ledger)], load=True, read_only=True)
    client = app.test_client()
    fava_ledger = app.config["LEDGERS"][SLUG]
    state = state_of(fava_ledger)
    assert state.pages is not None and state.errors == []
    # every figure of a month is computed once per load: count the engine-side reads and
    # the month computations over two rounds of every page and month
    calls = {"lot_states": 0, "month": 0}
    revenue = state.pages.ledger.revenue
    original = type(revenue).lot_states

    def counted(self, start, end):  # noqa: ANN001, ANN202
        calls["lot_states"] += 1
        return original(self, start, end)

    monkeypatch.setattr(type(revenue), "lot_states", counted)
    for _ in range(2):
        for name in PAGES:
            for period in ("", *PERIODS):
                query = f"?period={period}" if period else ""
                assert client.get(f"/{SLUG}/extension/{name}/{query}").status_code == 200
    assert calls["lot_states"] == len(PERIODS)  # once per month, whatever the pages
    assert state_of(fava_ledger) is state  # no request computed the state again
    fava_ledger.load_file()  # a reload computes once more
    assert state_of(fava_ledger) is not state


def _page(client, name: str, query: str) -> str:  # noqa: ANN001
    page = client.get(f"/{SLUG}/extension/{name}/{query}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_time_filter_picks_the_months_shown(closed_sample: Path) -> None:  # noqa: F811
    app = create_app([str(closed_sample)], load=True, read_only=True)
    client = app.test_client()
    body = _page(client, "ContractLiabilities", "?time=2026-02")
    assert 'data-tb-period="2026-02"' in body
    assert 'data-tb-period="2026-01"' not in body and 'data-tb-period="2026-03"' not in body
    assert "Contract liabilities 2026-02" in body  # the last month of the range by default
    body = _page(client, "Revenue", "?time=2026-01+-+2026-02")
    assert '<th class="num">2026-01</th>' in body and '<th class="num">2026-02</th>' in body
    assert '<th class="num">2026-03</th>' not in body


def test_the_filter_bar_narrows_to_the_customers_it_selects(
        pages: Pages, closed_sample: Path) -> None:  # noqa: F811
    app = create_app([str(closed_sample)], load=True, read_only=True)
    client = app.test_client()
    body = _page(client, "ContractLiabilities", '?period=2026-01&filter=customer:"acme"')
    assert 'data-tb-row="acme"' in body and 'data-tb-row="umbrella"' not in body
    assert "Filtered: customers acme" in body
    # the total is acme's alone: the same figures as acme's row of the whole book
    whole = {r["customer"]: r for r in pages.months["2026-01"].rollforward.rows}
    only = pages.scoped(Scope(customers=frozenset({"acme"}))).months["2026-01"]
    total = only.rollforward.rows[-1]
    assert total["customer"] == "(total)"
    for column in ("opening", "additions", "revenue", "closing", "gl_closing",
                   "subledger_closing"):
        assert total[column] == whole["acme"][column]
    assert total["ties"] == "yes"
    # an account filter selects the customers whose accounts it names
    body = _page(client, "Profitability",
                 "?period=2026-01&account=Liabilities:Deferred-Revenue:Umbrella")
    assert 'data-tb-row="umbrella"' in body and 'data-tb-row="globex"' not in body


def test_a_book_with_errors_shows_no_figures(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    shutil.copy(ledger, ledger.with_name("main.orig"))
    ledger.write_text(ledger.read_text() + "\n2026-02-01 * \"x\"\n  Assets:Nowhere  1 USD\n")
    app = create_app([str(ledger)], load=True, read_only=True)
    body = app.test_client().get(f"/{SLUG}/extension/Revenue/").get_data(as_text=True)
    assert "tokenbooks reports need a book without errors" in body
    assert 'data-tb-table="revenue-stream"' not in body


def _lot(lot_id: str, credits: int, used: int, expires: datetime.date) -> Lot:
    return Lot(lot_id, "c-1", "std", Decimal("100.00"), Fraction(credits),
               datetime.date(2025, 1, 1), expires, method="proportional", used=Fraction(used))


def test_breakage_estimate_in_force_against_history() -> None:
    pack = Pack("std", Decimal("100.00"), Decimal(1000), expires=None, breakage=Breakage(
        "proportional", Decimal("0.20"),
        (BreakageRevision(datetime.date(2026, 3, 31), Decimal("0.10"), "Controller",
                          "Q1 cohorts"),)))
    contract = Contract("c-1", "cust", datetime.date(2025, 1, 1), "USD", "prepaid", "list",
                        packs={"std": pack})
    contracts = ContractSet({"cust": Customer("cust", "Cust", (contract,))}, {}, {}, ())
    lots = [_lot("a", 1000, 700, datetime.date(2026, 1, 31)),
            _lot("b", 3000, 2900, datetime.date(2026, 2, 28)),
            _lot("c", 1000, 0, datetime.date(2026, 12, 31))]  # not expired: no history yet
    (before,) = breakage_rates.estimates(contracts, lots, datetime.date(2026, 3, 30))
    assert (before.rate, before.since) == (Decimal("0.20"), "pack")
    assert before.expired_lots == 2
    assert before.history_rate == Decimal("0.1000")  # (300 + 100) / 4000
    assert before.difference == Decimal("-0.1000")
    (after,) = breakage_rates.estimates(contracts, lots, datetime.date(2026, 3, 31))
    assert (after.rate, after.since) == (Decimal("0.10"), "2026-03-31")
    assert "Q1 cohorts" in after.basis
    (early,) = breakage_rates.estimates(contracts, lots, datetime.date(2026, 1, 1))
    assert early.history_rate is None and early.difference is None
