"""A month closes before its provider bill arrives (issue 19): the cost stays accrued from
usage, the COGS check says "accrued, bill pending" (exit 0); the bill, when it comes,
clears that accrual in the open month and books only the difference, a COGS true-up
linked to the closed month, shown by the report of the month it arrived in."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from click.testing import CliRunner
from closekit import ROOT, close, errors, month_events, write_jsonl

from tokenbooks.plugins.rules.bills import Bill, pending, settle
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.provider_reports import write_reports

D = Decimal


def test_the_rule_clears_a_pending_accrual_once_and_trues_it_up():
    import datetime

    def bill(period: str, exact: str, prior: tuple = ()) -> Bill:
        day = datetime.date.fromisoformat(f"{period}-01")
        return Bill("openai", period, day, day, "USD", D(exact), 1, day, day, prior)

    attributed = {("openai", "2026-01"): D("100.00"), ("openai", "2026-02"): D("80.00")}
    feb = bill("2026-02", "183.004", (("2026-01", D("103.004")),))
    march = bill("2026-03", "1.00", (("2026-01", D("1.00")),))  # a correction, later
    assert pending(attributed, [], "2026-01") == {"openai": D("100.00")}
    first, second = settle([march, feb], attributed)
    assert first.bill is feb and first.cleared == (("2026-01", D("100.00")),)
    assert first.true_ups() == [("2026-01", D("103.00"), D("3.00"))]
    assert first.unattributed == D("3.00")  # 183.00 - 80.00 - 100.00: the true-up only
    assert second.cleared == () and second.true_ups() == [("2026-01", D("1.00"), D("1.00"))]
    # a month with a bill of its own is never pending, and its accrual is not cleared again
    january = bill("2026-01", "99.00")
    assert pending(attributed, [january], "2026-01") == {}
    assert settle([january, feb], attributed)[1].cleared == ()


@pytest.fixture(scope="module")
def held_back(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """closekit's book without January's OpenAI cost report (held back: it is late)."""
    folder = tmp_path_factory.mktemp("late")
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(folder / "book"), "--start", "2026-01-01"]
                         ).exit_code == 0
    book = folder / "book"
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, book / "contracts" / sub)
    sources = folder / "sources"
    sources.mkdir()
    write_jsonl(sources / "usage-2026-01.jsonl", month_events(1, 4))
    write_jsonl(sources / "usage-2026-02.jsonl", month_events(2, 3))
    write_reports(sources, book / "contracts")
    late = folder / "openai-costs-2026-01.json"
    (sources / late.name).rename(late)
    ledger = book / "main.beancount"
    result = runner.invoke(cli, ["import", "--ledger", str(ledger),
                                 *sorted(map(str, sources.iterdir()))])
    assert result.exit_code == 0, result.output
    return ledger, late


def rows(ledger: Path, period: str, name: str) -> list[dict]:
    path = ledger.parent / "reports" / period / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def openai_january_cost(ledger: Path) -> Decimal:
    entries, errs, _ = loader.load_file(str(ledger))
    assert errs == []
    return sum((p.units.number for e in entries if isinstance(e, data.Transaction)
                and e.meta.get("rule") == "cogs" and e.meta.get("period") == "2026-01"
                for p in e.postings if p.account == "Expenses:COGS:Inference:Openai"), D(0))


def test_a_month_closes_accrued_and_its_late_bill_trues_up_the_open_month(held_back, tmp_path):
    source, late = held_back
    shutil.copytree(source.parent, tmp_path / "book", symlinks=True)
    ledger = tmp_path / "book" / "main.beancount"
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    assert "reconcile: cogs: accrued, bill pending" in result.output
    accrued = openai_january_cost(ledger)
    assert accrued > 0
    (check,) = [r for r in rows(ledger, "2026-01", "checks") if r["check"] == "cogs"]
    assert check["status"] == "accrued, bill pending"
    assert f"openai {accrued:.2f} accrued" in check["detail"]
    cogs = {r["provider"]: r for r in rows(ledger, "2026-01", "cogs")}
    assert cogs["openai"]["status"] == "accrued, bill pending"

    # the bill arrives in February: booked there, January untouched (locked)
    result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), str(late)])
    assert result.exit_code == 0, result.output
    assert errors(ledger) == []
    billed = sum((D(str(r["amount"]["value"])) for b in json.loads(late.read_text())["data"]
                  for r in b["results"]), D(0)).quantize(D("0.01"))
    entries, _, _ = loader.load_file(str(ledger))
    (feb,) = [e for e in entries if isinstance(e, data.Transaction)
              and e.meta.get("rule") == "provider-bill" and e.meta.get("provider") == "openai"
              and e.meta.get("period") == "2026-02"]
    assert "bill-openai-2026-01" in feb.links
    cleared = [p for p in feb.postings if (p.meta or {}).get("prior_period") == "2026-01"
               and p.account == "Liabilities:Payable:Openai"]
    assert [p.units.number for p in cleared] == [accrued]
    true_up = [p.units.number for p in feb.postings
               if p.account == "Expenses:COGS:Unattributed:Openai"
               and (p.meta or {}).get("prior_period") == "2026-01"]
    assert sum(true_up, D(0)) == billed - accrued
    # every accrual is cleared: what is payable to OpenAI is what it billed, no more
    (bill_leg,) = [p.units.number for p in feb.postings if (p.meta or {}).get("role") == "bill"]
    payable = sum((p.units.number for e in entries if isinstance(e, data.Transaction)
                   for p in e.postings if p.account == "Liabilities:Payable:Openai"), D(0))
    assert payable == bill_leg
    result = close(ledger, "2026-02")
    assert result.exit_code == 0, result.output
    cogs = {r["provider"]: r for r in rows(ledger, "2026-02", "cogs")}
    assert cogs["openai"]["status"] == "ok"
    assert D(cogs["openai"]["prior_period_bills"]) == billed
    assert D(cogs["openai"]["prior_period_true_up"]) == billed - accrued
