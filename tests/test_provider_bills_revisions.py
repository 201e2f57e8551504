"""Provider bills as they arrive (issue 15): a re-issued bill line with another amount
supersedes the booked one (a revision line of the difference, never an edit), in an open
month and for a closed month (a prior-period adjustment of COGS in the open month); a
late bill of a closed month is booked in the open month; a page with ``has_more: true``
is a warning naming the file, and ``--strict`` fails on it. The COGS tie-out still ties.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from click.testing import CliRunner
from closekit import errors
from test_payments import book_copy, january_book

from tokenbooks.importers import anthropic_costs, openai_cost_export, openai_costs
from tokenbooks.scripts.cli import cli

D = Decimal


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """closekit's book with January closed, built once here."""
    return january_book(tmp_path_factory)


def openai_page(day: int, month: int, amount: str, item: str = "gpt-4o, input",
                **extra: object) -> str:
    """An OpenAI costs page of one bucket and line item (amount as JSON number text)."""
    import datetime
    start = int(datetime.datetime(2026, month, day, tzinfo=datetime.UTC).timestamp())
    page = {"object": "page", "data": [{"object": "bucket", "start_time": start,
                                        "end_time": start + 86400, "results": [
        {"object": "organization.costs.result", "amount": {"value": "AMOUNT", "currency": "usd"},
         "line_item": item, "project_id": "proj_revisions"}]}], **extra}
    return json.dumps(page).replace('"AMOUNT"', amount)


def run(ledger: Path, name: str, text: str, *extra: str):
    source = ledger.parent.parent / name
    source.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["import", "--ledger", str(ledger), *extra, str(source)])


def summary(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def bill_entries(ledger: Path, provider: str = "openai") -> list[data.Custom]:
    entries, errs, _ = loader.load_file(str(ledger))
    assert errs == [], [e.message for e in errs]
    found = [e for e in entries if isinstance(e, data.Custom) and e.type == "provider-bill"
             and e.values[0].value == provider and "proj_revisions" in e.meta["bill_key"]]
    return sorted(found, key=lambda e: e.meta.get("revision", D(1)))


def bill_transaction(ledger: Path, period: str) -> data.Transaction:
    entries, _, _ = loader.load_file(str(ledger))
    (found,) = [e for e in entries if isinstance(e, data.Transaction)
                and e.meta.get("rule") == "provider-bill" and e.meta.get("provider") == "openai"
                and e.meta.get("period") == period]
    return found


def cogs_check(ledger: Path, period: str) -> dict:
    result = CliRunner().invoke(cli, ["report", "checks", "--ledger", str(ledger), "--period",
                                      period, "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.output)["rows"] if r["check"] == "cogs"]
    return row


def test_a_corrected_bill_in_an_open_month_supersedes_the_first(january: Path,
                                                                tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    before = bill_transaction(ledger, "2026-02").meta["bill_exact"]
    (first,) = summary(run(ledger, "costs-v1.json", openai_page(10, 2, "41.2"), "--json"))
    assert (first["read"], first["imported"], first["duplicates"]) == (1, 1, 0)
    (again,) = summary(run(ledger, "costs-v1.json", openai_page(10, 2, "41.2"), "--json"))
    assert (again["imported"], again["duplicates"]) == (0, 1)  # the same report again
    (fixed,) = summary(run(ledger, "costs-v2.json", openai_page(10, 2, "43.5"), "--json"))
    assert (fixed["read"], fixed["imported"], fixed["duplicates"]) == (1, 1, 0)
    assert "re-issued with another amount" in fixed["notes"][0]
    lines = bill_entries(ledger)
    assert [(e.date.isoformat(), e.values[2].value.number) for e in lines] == [
        ("2026-02-10", D("41.2")), ("2026-02-10", D("2.3"))]
    revision = lines[1].meta
    key = "openai|2026-02-10|proj_revisions|gpt-4o, input"
    assert (revision["bill_key"], revision["revision_of"], revision["supersedes"]) == (
        f"{key}#r2", key, key)
    assert (revision["reported_amount"], revision["previous_amount"]) == ("43.50", "41.20")
    # a third issue supersedes the revision; the old reports again are duplicates
    (third,) = summary(run(ledger, "costs-v3.json", openai_page(10, 2, "40"), "--json"))
    assert third["imported"] == 1
    assert bill_entries(ledger)[2].meta["supersedes"] == f"{key}#r2"
    for name in ("costs-v1.json", "costs-v2.json"):
        (old,) = summary(run(ledger, name, openai_page(10, 2, "41.2" if "v1" in name
                                                       else "43.5"), "--json"))
        assert (old["imported"], old["duplicates"]) == (0, 1)
    assert sum(e.values[2].value.number for e in bill_entries(ledger)) == D("40")
    # the bill counts the supersession once: the latest amount
    assert D(bill_transaction(ledger, "2026-02").meta["bill_exact"]) - D(before) == D("40")
    assert cogs_check(ledger, "2026-02")["status"] == "ok"
    assert errors(ledger) == []


def test_the_correction_of_a_closed_months_bill_is_a_prior_period_adjustment(
        january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    # the provider re-issues a January day of a report already booked in January
    (jan_file,) = sorted((ledger.parent / "imports").glob("2026-01.openai-costs-*.beancount"))
    january_lines = [e for e in loader.load_file(str(ledger))[0]
                     if isinstance(e, data.Custom) and e.type == "provider-bill"
                     and e.meta.get("filename") == str(jan_file)]
    first = january_lines[0]
    key = first.meta["bill_key"]
    _, day, project, item = key.split("|")
    page = openai_page(int(day[-2:]), 1, str(first.values[2].value.number + D("1.25")),
                       item=item)
    page = page.replace('"proj_revisions"', "null" if project == "*" else json.dumps(project))
    if item == "*":
        page = page.replace('"line_item": "*"', '"line_item": null')
    before = bill_transaction(ledger, "2026-02")
    (result,) = summary(run(ledger, "jan-reissued.json", page, "--json"))
    assert (result["imported"], result["duplicates"]) == (1, 0)
    written = sorted((ledger.parent / "imports").glob("*.jan-reissued.json.*.beancount"))
    text = "".join(p.read_text(encoding="utf-8") for p in written)
    assert "2026-02-01 custom \"provider-bill\" \"openai\"" in text
    assert "1.25 USD" in text
    assert '  original_date: 2026-01-' in text and '  prior_period: "2026-01"' in text
    assert f'  supersedes: "{key}"' in text
    # January (closed) is untouched: the lock holds; February's bill has the adjustment
    assert errors(ledger) == []
    after = bill_transaction(ledger, "2026-02")
    assert D(after.meta["bill_exact"]) - D(before.meta["bill_exact"]) == D("1.25")
    (prior,) = [p for p in after.postings if (p.meta or {}).get("prior_period") == "2026-01"]
    assert prior.account == "Expenses:COGS:Unattributed:Openai"
    assert prior.units.number == D("1.25")
    assert cogs_check(ledger, "2026-02")["status"] == "ok"


def test_a_late_bill_of_a_closed_month_is_booked_in_the_open_month(
        january: Path, tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    (result,) = summary(run(ledger, "late.json", openai_page(20, 1, "7.5", item="embeddings"),
                            "--json"))
    assert result["imported"] == 1
    (line,) = bill_entries(ledger)
    assert line.date.isoformat() == "2026-02-01"
    assert (line.meta["original_date"].isoformat(), line.meta["prior_period"]) == (
        "2026-01-20", "2026-01")
    assert line.meta["bill_key"] == "openai|2026-01-20|proj_revisions|embeddings"
    assert errors(ledger) == []
    (prior,) = [p for p in bill_transaction(ledger, "2026-02").postings
                if (p.meta or {}).get("prior_period") == "2026-01"]
    assert prior.units.number == D("7.50")
    assert cogs_check(ledger, "2026-02")["status"] == "ok"
    (again,) = summary(run(ledger, "late.json", openai_page(20, 1, "7.5", item="embeddings"),
                           "--json"))
    assert (again["imported"], again["duplicates"]) == (0, 1)


def test_has_more_is_a_warning_naming_the_file_and_strict_fails(january: Path,
                                                                tmp_path: Path) -> None:
    ledger = book_copy(january, tmp_path)
    page = openai_page(11, 2, "3.0", has_more=True, next_page="page_AAAAAGdGxdEA")
    (result,) = summary(run(ledger, "page-1.json", page, "--json"))
    assert result["imported"] == 1  # the page's own lines are booked
    (warning,) = result["warnings"]
    assert "page-1.json: has_more is true" in warning and "page_AAAAAGdGxdEA" in warning
    text = run(ledger, "page-1b.json", page.replace("3.0", "3.5"))
    assert text.exit_code == 0
    assert "warning: " in text.output and "page-1b.json: has_more is true" in text.output
    strict = run(ledger, "page-1c.json", openai_page(12, 2, "1", has_more=True), "--strict")
    assert strict.exit_code == 1
    assert "has_more is true" in strict.output
    last = run(ledger, "page-2.json", openai_page(13, 2, "1", has_more=False), "--strict")
    assert last.exit_code == 0, last.output


def test_has_more_in_the_anthropic_cost_report(tmp_path: Path) -> None:
    doc = {"data": [{"starting_at": "2026-02-01T00:00:00Z", "ending_at": "2026-02-02T00:00:00Z",
                     "results": [{"currency": "USD", "amount": "126.00000",
                                  "description": "Input Tokens"}]}],
           "has_more": True, "next_page": "page_2"}
    path = tmp_path / "anthropic-cost.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    importer = anthropic_costs.Importer()
    assert importer.identify(str(path))
    importer.extract(str(path), [])
    (warning,) = importer.results[str(path)].warnings
    assert str(path) in warning and "page_2" in warning


def test_the_dashboard_export_and_the_api_revise_each_other(tmp_path: Path) -> None:
    """The cost export and the API page share keys: a later export with another amount
    is a revision of the API's line, in the importers alone (beangulp's path too)."""
    api = tmp_path / "api.json"
    api.write_text(openai_page(3, 2, "2.5", item="gpt-4o, output"), encoding="utf-8")
    entries = openai_costs.Importer().extract(str(api), [])
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("start_time,end_time,amount_value,amount_currency,line_item,project_id\n"
                        "1770076800,1770163200,2.75,usd,\"gpt-4o, output\",proj_revisions\n",
                        encoding="utf-8")
    exporter = openai_cost_export.Importer()
    (revision,) = exporter.extract(str(csv_path), entries)
    assert revision.values[2].value.number == D("0.25")
    assert revision.meta["revision_of"] == entries[0].meta["bill_key"]
    assert exporter.extract(str(csv_path), [*entries, revision]) == []
