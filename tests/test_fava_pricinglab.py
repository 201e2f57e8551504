"""The pricing lab's Fava pages: What-if (the proposals under the book's proposals/) and
Forecast (with the credits burn-down), their figures those of the reports library."""

from __future__ import annotations

import shutil

import pytest
from fava.application import create_app
from samplekit import copy_sample

from tokenbooks.plugins.fava_ext import STATE, parse_config
from tokenbooks.plugins.reports import forecast, tables, whatif

SLUG = "tokenbooks-sample-company"


@pytest.fixture(scope="module")
def app_and_book(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    ledger = copy_sample(tmp_path_factory.mktemp("fava-lab"))
    proposals = ledger.parent / "proposals"
    shutil.copytree(ledger.parents[1] / "contracts", proposals / "as-booked")
    cheaper = proposals / "cheaper-gpt-4o" / "price-books"
    cheaper.mkdir(parents=True)
    text = (ledger.parents[1] / "contracts" / "price-books" / "list-2026.yaml").read_text()
    old = "gpt-4o:            {input: 5.00, cached_input: 2.50, output: 20.00}"
    assert old in text
    (cheaper / "list-2026.yaml").write_text(text.replace(old, old.replace("20.00", "18.00")))
    app = create_app([str(ledger)], load=True, read_only=True)
    return app, ledger


def _get(app, path: str) -> str:  # noqa: ANN001
    page = app.test_client().get(f"/{SLUG}/extension/{path}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_whatif_page_shows_a_proposal_and_its_chart(app_and_book) -> None:  # noqa: ANN001
    app, _ = app_and_book
    body = _get(app, "WhatIf/?proposal=cheaper-gpt-4o&period=2026-Q1")
    assert 'data-tb-page="whatif"' in body and 'data-tb-chart="whatif"' in body
    assert 'data-tb-proposal="as-booked"' in body and 'data-tb-table="whatif-total"' in body
    state = app.config["LEDGERS"][SLUG].extensions.get_extension(STATE).current()
    ledger = state.pages.ledger
    result = whatif.compare(ledger, whatif.load_proposal(
        ledger, app_and_book[1].parent / "proposals" / "cheaper-gpt-4o"), "2026-Q1")
    revenue = result.proposed[whatif.TOTAL]["revenue"]
    assert result.difference(whatif.TOTAL, "revenue") < 0  # cheaper output: less revenue
    assert tables.cell(revenue) in body
    # computed once per load: the page's result is kept with the period's last month
    cached = ledger.month("2026-03").cache[("whatif", "cheaper-gpt-4o", "2026-Q1")]
    _get(app, "WhatIf/?proposal=cheaper-gpt-4o&period=2026-Q1")
    assert ledger.month("2026-03").cache[("whatif", "cheaper-gpt-4o", "2026-Q1")] is cached


def test_whatif_page_as_booked_has_no_difference(app_and_book) -> None:  # noqa: ANN001
    app, _ = app_and_book
    _get(app, "WhatIf/?proposal=as-booked&period=2026-Q1")
    state = app.config["LEDGERS"][SLUG].extensions.get_extension(STATE).current()
    view = state.pages.ledger.month("2026-03").cache[("whatif", "as-booked", "2026-Q1")]
    assert view.errors == [] and view.result is not None
    assert all(view.result.difference(whatif.TOTAL, f) == 0 for f in whatif.FIGURES)


def test_whatif_page_ignores_a_name_that_is_not_a_proposal(app_and_book) -> None:  # noqa: ANN001
    app, _ = app_and_book
    body = _get(app, "WhatIf/?proposal=../../etc&period=1999-01")
    assert 'data-tb-proposal="as-booked"' in body  # the first proposal, the last month
    assert '<strong data-tb-period="2026-03">' in body


def test_forecast_page_shows_the_report_and_the_burn_downs(app_and_book) -> None:  # noqa: ANN001
    app, _ = app_and_book
    body = _get(app, "Forecast/?period=2026-03")
    assert 'data-tb-page="forecast"' in body
    for customer in ("acme", "hooli", "umbrella"):  # the prepaid customers
        assert f'data-tb-chart="burn-{customer}"' in body
    assert 'data-tb-chart="burn-globex"' not in body  # arrears: no credits
    state = app.config["LEDGERS"][SLUG].extensions.get_extension(STATE).current()
    expected = forecast.table(forecast.forecast(state.pages.ledger, "2026-03"))
    shown = forecast.table(state.pages.ledger.month("2026-03").cache["forecast"])
    assert tables.to_json(shown, "2026-03") == tables.to_json(expected, "2026-03")


def test_proposals_option() -> None:
    assert parse_config("{'proposals': 'lab'}") == ({"proposals": "lab"}, [])
    assert "must be a folder name" in parse_config("{'proposals': 3}")[1][0]
