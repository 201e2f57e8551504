"""The tokenbooks pages in a real browser: ``tokenbooks serve`` (Fava, read-only) on a
closed copy of the sample book, driven by headless Chromium (Debian's ``chromium``,
through Playwright; ``make test`` installs it when missing).

Each page loads without a console error, shows the figures the report functions give, a
chart draws, a figure's link opens the journal filtered to its entries, and a POST is
refused. Screenshots of every page go to ``build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from favakit import ROOT, closed_sample, loaded_sample  # noqa: F401

from tokenbooks.plugins.fava_ext import pages as page_data
from tokenbooks.plugins.reports import REPORTS, Ledger
from tokenbooks.plugins.reports import profitability as month_profitability
from tokenbooks.plugins.reports.checks import recorded

SLUG = "tokenbooks-sample-company"
SHOTS = ROOT / "build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
PAGES = ("ContractLiabilities", "Revenue", "Profitability", "CreditsAndBreakage",
         "Modifications", "CloseStatus")


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path(
        "/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("Debian's chromium is not installed and could not be (make test runs "
                    "`apt-get install chromium` as root): the browser tests need it")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(closed_sample: Path) -> Iterator[str]:  # noqa: F811
    """``tokenbooks serve`` on a free port of 127.0.0.1; yields the book's base URL."""
    port = _free_port()
    log = closed_sample.parent / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "tokenbooks"), "serve", "--ledger",
             str(closed_sample), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}/{SLUG}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "extension/CloseStatus/", timeout=30):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"tokenbooks serve did not start:\n"
                                         f"{log.read_text()}") from None
                time.sleep(0.5)
        text = log.read_text()
        assert "read-only" in text and f"http://127.0.0.1:{port}/" in text
        assert "Fava has no login" not in text  # localhost only: no exposure warning
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (pip install -e "
                    "'.[test]'): the browser tests need it")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


class Page:
    """A browser tab that records console errors and uncaught exceptions."""

    def __init__(self, context, base: str) -> None:
        self.base = base
        self.tab = context.new_page()
        self.errors: list[str] = []
        self.tab.on("console", lambda m: self.errors.append(m.text)
                    if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, name: str, query: str = "") -> None:
        response = self.tab.goto(f"{self.base}extension/{name}/{query}")
        assert response is not None and response.status == 200
        self.tab.wait_for_load_state("networkidle")
        assert self.tab.locator(".tb-page").count() == 1
        assert self.tab.locator("[data-tb-error]").count() == 0

    def text(self, selector: str) -> str:
        return self.tab.locator(selector).inner_text().strip()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def tab(browser, server: str) -> Page:
    return Page(browser, server)


@pytest.fixture(scope="module")
def book(loaded_sample):  # noqa: F811
    entries, options = loaded_sample
    ledger = Ledger(entries, options)
    return {p: ledger.month(p) for p in ("2026-01", "2026-03")}


def _chart_drawn(tab: Page) -> None:
    bars = tab.tab.locator("svelte-component svg rect, svelte-component svg path")
    bars.first.wait_for(state="attached", timeout=15000)
    assert bars.count() > 0
    heights = tab.tab.eval_on_selector_all(
        "svelte-component svg rect", "els => els.map(e => e.getBBox().height)")
    assert any(h > 1 for h in heights), heights


def test_contract_liabilities(tab: Page, book) -> None:
    tab.open("ContractLiabilities", "?period=2026-01")
    table = REPORTS["rollforward"][0](book["2026-01"])
    shown = 0
    for row in table.rows:
        for column in page_data.rollforward_columns(table):
            cell = (f'table[data-tb-table="rollforward"] tr[data-tb-row="{row["customer"]}"] '
                    f'td[data-tb-col="{column}"]')
            assert tab.text(cell) == page_data.cell(row[column]), (row["customer"], column)
            shown += 1
    assert shown >= 4 * len(table.rows)
    # below it, the rollforward of the EUR contracts (lumen), in EUR (docs/currency.md)
    eur = 'table[data-tb-table="rollforward-eur"] tr[data-tb-row="lumen"]'
    assert tab.tab.locator(eur).count() == 1
    closing = tab.tab.locator('tr[data-tb-row="acme"] td[data-tb-col="closing"] a')
    href = closing.get_attribute("href")
    assert "/account/Liabilities:Deferred-Revenue:Acme/" in href and "time=2026-01" in href
    _chart_drawn(tab)
    tab.shot("contract-liabilities")
    assert tab.errors == []


def test_a_figure_opens_its_entries_in_the_journal(tab: Page, book) -> None:
    tab.open("ContractLiabilities", "?period=2026-01")
    link = tab.tab.locator('tr[data-tb-row="acme"] td[data-tb-col="revenue_usage"] a')
    expected = int(link.get_attribute("data-tb-entries"))
    assert expected >= 1
    link.click()  # Fava's in-app navigation
    tab.tab.wait_for_url("**/journal/**")
    tab.tab.wait_for_load_state("networkidle")
    rows = tab.tab.locator("ol.journal li.transaction")
    rows.first.wait_for(timeout=15000)
    assert rows.count() == expected
    for text in rows.all_inner_texts():  # the month's usage entries of acme, no other
        assert text.startswith("2026-01-") and "Acme Corp" in text and "Usage" in text
    filters = tab.tab.locator("input").evaluate_all("els => els.map(e => e.value)")
    assert any('rule:"^(usage)$"' in f and "Deferred-Revenue:Acme" in f for f in filters)
    tab.shot("journal-from-a-figure")
    # back to a tokenbooks page through the sidebar: the page renders after in-app navigation
    tab.tab.locator("aside a", has_text="Revenue").first.click()
    tab.tab.wait_for_url("**/extension/Revenue/**")
    tab.tab.locator('[data-tb-page="revenue"]').wait_for(timeout=15000)
    _chart_drawn(tab)
    assert tab.errors == []


def test_revenue(tab: Page, book) -> None:
    tab.open("Revenue")
    for period in ("2026-01", "2026-03"):
        table = REPORTS["revenue"][0](book[period])
        for row in table.rows:
            if row["section"] in ("stream", "customer", "model"):
                cell = (f'table[data-tb-table="revenue-{row["section"]}"] '
                        f'tr[data-tb-row="{row["name"]}"] td[data-tb-col="{period}"]')
                assert tab.text(cell) == page_data.cell(row["total"]), (period, row)
    _chart_drawn(tab)
    tab.shot("revenue")
    assert tab.errors == []


def test_profitability(tab: Page, book) -> None:
    tab.open("Profitability", "?period=2026-03")
    report = month_profitability.of_month(book["2026-03"])
    for line in report.customers:
        row = f'table[data-tb-table="profitability-customers"] tr[data-tb-row="{line.name}"]'
        assert tab.text(f'{row} td[data-tb-col="margin"]') == page_data.cell(line.margin)
        assert tab.text(f'{row} td[data-tb-col="revenue"]') == page_data.cell(
            line.revenue_total)
    assert tab.text("[data-tb-cost-share]") == page_data.cell(
        report.concentration.cost_share) + "%"
    negative = [x.name for x in report.customers if x.negative]
    assert tab.text("[data-tb-negative]") == "Negative margin: " + (
        ", ".join(negative) or "none")
    for provider, cost in report.unattributed.items():
        assert tab.text(f'table[data-tb-table="profitability-unattributed"] '
                        f'tr[data-tb-row="{provider}"] td[data-tb-col="cogs"]'
                        ) == page_data.cell(cost)
    assert tab.text('table[data-tb-table="profitability-total"] td[data-tb-col="gross_margin"]'
                    ) == page_data.cell(report.gross_margin)
    _chart_drawn(tab)
    tab.shot("profitability")
    assert tab.errors == []


def test_credits_and_breakage(tab: Page, book) -> None:
    tab.open("CreditsAndBreakage", "?period=2026-03")
    table = REPORTS["credits"][0](book["2026-03"])
    assert table.rows
    for row in table.rows:
        cells = f'table[data-tb-table="credits"] tr[data-tb-row="{row["lot"]}"]'
        for column in ("remaining_credits", "liability", "days_to_expiry"):
            assert tab.text(f'{cells} td[data-tb-col="{column}"]') == page_data.cell(
                row[column])
    assert tab.tab.locator('table[data-tb-table="expiring"] tbody tr').count() == 3
    assert tab.tab.locator('table[data-tb-table="breakage-rates"] tbody tr').count() >= 1
    tab.shot("credits-and-breakage")
    assert tab.errors == []


def test_modifications(tab: Page, book) -> None:
    tab.open("Modifications")
    rows = tab.tab.locator('table[data-tb-table="modifications"] tbody tr')
    expected = [r for r in REPORTS["modifications"][0](book["2026-03"]).rows
                if r["section"] == "contract"]
    assert rows.count() >= len(expected) >= 1
    states = rows.locator('td[data-tb-col="approved"]').all_inner_texts()
    pending = [s.strip() == "PENDING" for s in states]
    assert pending == sorted(pending, reverse=True)  # pending approvals first
    tab.shot("modifications")
    assert tab.errors == []


def test_close_status(tab: Page, book) -> None:
    tab.open("CloseStatus", "?period=2026-03")
    for period in ("2026-01", "2026-02", "2026-03"):
        assert tab.text(f'table[data-tb-table="closes"] tr[data-tb-row="{period}"] '
                        f'td[data-tb-col="status"]').startswith("closed")
    # a closed month shows the reconciliations its close recorded
    checks = recorded(book["2026-03"].root, "2026-03")
    assert checks is not None and [r["status"] for r in checks.rows] == ["ok"] * 7
    for row in checks.rows:
        assert tab.text(f'table[data-tb-table="checks"] tr[data-tb-row="{row["check"]}"] '
                        f'td[data-tb-col="status"]') == row["status"]
    dunning = REPORTS["dunning"][0](book["2026-03"])
    aging = [r for r in dunning.rows if r["section"] == "aging"]
    for row in aging:
        assert tab.text(f'table[data-tb-table="dunning-aging"] '
                        f'tr[data-tb-row="{row["customer"]}"] td[data-tb-col="total"]'
                        ) == page_data.cell(row["total"])
    tab.shot("close-status")
    assert tab.errors == []


def test_read_only_refuses_a_post(tab: Page, server: str) -> None:
    for url in (f"{server}extension/ContractLiabilities/", f"{server}api/source"):
        response = tab.tab.request.post(url, data={"x": "1"})
        assert response.status == 401, url
    assert tab.tab.request.get(f"{server}extension/ContractLiabilities/").status == 200


def test_serve_warns_beyond_localhost(closed_sample: Path, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "tokenbooks"), "serve", "--ledger",
             str(closed_sample), "--port", str(_free_port()), "--host", "127.0.0.2"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while "Fava has no login" not in log.read_text() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        assert "read-only" in text
        assert "Fava has no login" in text and "reverse proxy" in text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
