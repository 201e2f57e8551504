"""Provider cost reports: both formats in their real units, dedupe, and the bill booked
against the attributed accrual (bill above and below it)."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from beancount.parser import printer
from click.testing import CliRunner
from cogs_book import balance, bill_line, generated, load, make_contracts, usage

from tokenbooks.importers import IMPORTERS
from tokenbooks.importers.anthropic_costs import AnthropicCostsImporter
from tokenbooks.importers.openai_costs import OpenAICostsImporter
from tokenbooks.importers.provider_costs import ReportError
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.provider_reports import write_reports

DATA = Path(__file__).parent / "data" / "provider-costs"
OPENAI = str(DATA / "openai_costs.json")
ANTHROPIC = str(DATA / "anthropic_cost_report.json")


@pytest.fixture
def contracts(tmp_path):
    return make_contracts(tmp_path)


def amounts(entries):
    return [(e.date.isoformat(), e.values[1].value, e.values[2].value.number,
             e.values[2].value.currency) for e in entries]


def test_importers_are_registered_for_the_import_command():
    kinds = {type(i) for i in IMPORTERS}
    assert {OpenAICostsImporter, AnthropicCostsImporter} <= kinds


def test_each_importer_identifies_its_own_format_only():
    openai, anthropic = OpenAICostsImporter(), AnthropicCostsImporter()
    assert openai.identify(OPENAI) and not openai.identify(ANTHROPIC)
    assert anthropic.identify(ANTHROPIC) and not anthropic.identify(OPENAI)
    for usage_report in ("anthropic_usage_report.json", "openai_usage_completions.json"):
        assert not openai.identify(str(DATA / usage_report))
        assert not anthropic.identify(str(DATA / usage_report))


def test_openai_amounts_are_dollars_read_exactly():
    importer = OpenAICostsImporter()
    entries = importer.extract(OPENAI, [])
    assert amounts(entries) == [
        ("2025-11-01", "gpt-5-mini-2025-08-07, input", Decimal("0.024"), "USD"),
        ("2025-11-01", "gpt-5-mini-2025-08-07, output", Decimal("0.0825"), "USD"),
        ("2025-11-01", "gpt-4.1-2025-04-14, input", Decimal("1.25"), "USD"),
        ("2025-11-01", "gpt-4.1-2025-04-14, output", Decimal("1.24"), "USD"),
    ]
    assert entries[0].meta["project_id"] == "proj_7Qk2LmN4pR8sT1vW"
    assert entries[0].meta["bill_key"] == (
        "openai|2025-11-01|proj_7Qk2LmN4pR8sT1vW|gpt-5-mini-2025-08-07, input")
    assert len(entries[0].meta["sha256"]) == 64
    assert importer.account(OPENAI) == "Liabilities:Payable:Openai"
    assert importer.date(OPENAI).isoformat() == "2025-11-01"
    assert importer.filename(OPENAI) == "openai-costs.json"


def test_anthropic_amounts_are_cents_as_strings_divided_by_100():
    entries = AnthropicCostsImporter().extract(ANTHROPIC, [])
    assert amounts(entries) == [
        ("2025-11-01", "Claude Sonnet 4.5 Usage - Input Tokens", Decimal("1.26"), "USD"),
        ("2025-11-01", "Claude Sonnet 4.5 Usage - Cache Read", Decimal("0.384"), "USD"),
        ("2025-11-01", "Claude Sonnet 4.5 Usage - Output Tokens", Decimal("1.425"), "USD"),
        ("2025-11-01", "Web Search", Decimal("0.12"), "USD"),
    ]
    assert entries[0].meta["amount_cents"] == "126.00000"
    assert entries[3].meta["cost_type"] == "web_search" and "model" not in entries[3].meta


def test_float_noise_never_enters(tmp_path):
    report = {"object": "page", "has_more": False, "data": [{
        "object": "bucket", "start_time": 1767225600, "end_time": 1767312000, "results": [
            {"object": "organization.costs.result", "amount": {"value": v, "currency": "usd"},
             "line_item": f"item {i}", "project_id": None}
            for i, v in enumerate(("0.1", "0.2", "0.8958740000000000"))]}]}
    path = tmp_path / "costs.json"
    text = json.dumps(report)
    for v in ("0.1", "0.2", "0.8958740000000000"):  # numbers, as the API writes them
        text = text.replace(f'"{v}"', v)
    path.write_text(text)
    entries = OpenAICostsImporter().extract(str(path), [])
    assert [e.values[2].value.number for e in entries] == [
        Decimal("0.1"), Decimal("0.2"), Decimal("0.895874")]
    assert entries[0].meta["bill_key"] == "openai|2026-01-01|*|item 0"


@pytest.mark.parametrize("importer, source, edit, expected", [
    (OpenAICostsImporter(), OPENAI,
     lambda d: d["data"][0]["results"][1]["amount"].update(value="0.0825"),
     "data[0].results[1].amount.value: expected a number in dollars, got '0.0825'"),
    (OpenAICostsImporter(), OPENAI, lambda d: d["data"][0].pop("start_time"),
     "data[0].start_time: is required but missing"),
    (AnthropicCostsImporter(), ANTHROPIC,
     lambda d: d["data"][0]["results"][2].update(amount=142.5),
     "data[0].results[2].amount: expected a decimal string in cents"),
    (AnthropicCostsImporter(), ANTHROPIC,
     lambda d: d["data"][0].update(starting_at="2025-11-01"),
     "data[0].starting_at: expected an RFC 3339 time with offset"),
])
def test_a_malformed_report_names_file_path_and_expectation(tmp_path, importer, source, edit,
                                                            expected):
    doc = json.loads(Path(source).read_text())
    edit(doc)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ReportError) as caught:
        importer.extract(str(path), [])
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_reimport_and_overlap_never_count_a_line_twice(tmp_path):
    importer = OpenAICostsImporter()
    existing = importer.extract(OPENAI, [])
    result = importer.results[OPENAI]
    assert (result.read, result.imported, result.duplicates) == (4, 4, 0)
    copy = tmp_path / "again.json"
    shutil.copy(OPENAI, copy)
    assert importer.extract(str(copy), existing) == []  # all four already in the book
    result = importer.results[str(copy)]
    assert (result.read, result.imported, result.duplicates, result.kind) == (
        4, 0, 4, "provider-costs")
    # beangulp's own flow: extract without the book, then deduplicate marks them
    again = importer.extract(str(copy), [])
    importer.deduplicate(again, existing)
    assert [("__duplicate__" in e.meta) for e in again] == [True] * 4
    doc = json.loads(Path(OPENAI).read_text())
    doc["data"][0]["results"].append({"object": "organization.costs.result",
                                      "amount": {"value": 0.5, "currency": "usd"},
                                      "line_item": "text-embedding-3-small",
                                      "project_id": "proj_7Qk2LmN4pR8sT1vW"})
    copy.write_text(json.dumps(doc))
    overlap = importer.extract(str(copy), existing)
    assert [e.values[1].value for e in overlap] == ["text-embedding-3-small"]
    result = importer.results[str(copy)]
    assert result.read == result.imported + result.duplicates == 5


def _book_with(contracts, extracted, body):
    text = "".join(printer.format_entry(e) for e in extracted)
    return load(contracts, body + text)


# The sample scenario of the reference: 2025-11-01, both providers.
# openai: acme's gpt-5-mini 96,000 in + 41,250 out = 0.024 + 0.0825 -> 0.11 attributed;
#   the bill (2.5965 -> 2.60) also has gpt-4.1 that no usage explains -> 2.49 unattributed.
# anthropic: 420,000 uncached + 1,280,000 cached + 95,000 out = 1.26 + 0.384 + 1.425 -> 3.07;
#   the bill 3.189 -> 3.19 also has web search -> 0.12 unattributed.
SCENARIO = (
    usage("2025-11-01", "acme", "gpt-5-mini", input_tokens=96000, output_tokens=41250)
    + usage("2025-11-01", "acme", "claude-sonnet-4-5-20250929", input_tokens=1_700_000,
            cached_input_tokens=1_280_000, output_tokens=95000)
)


def test_both_sample_reports_book_bills_above_attributed_cost(contracts):
    extracted = (OpenAICostsImporter().extract(OPENAI, [])
                 + AnthropicCostsImporter().extract(ANTHROPIC, []))
    entries, errors, _ = _book_with(contracts, extracted, SCENARIO)
    assert errors == []
    bills = {t.meta["provider"]: t for t in generated(entries, "provider-bill")}
    openai, anthropic = bills["openai"], bills["anthropic"]
    assert openai.date.isoformat() == "2025-11-30" and openai.links == {"bill-openai-2025-11"}
    assert (openai.meta["bill_exact"], openai.meta["attributed"], openai.meta["unattributed"]) \
        == ("2.5965", Decimal("0.11"), Decimal("2.49"))
    assert [(p.account, p.units.number, (p.meta or {}).get("role")) for p in openai.postings] == [
        ("Liabilities:Payable:Openai", Decimal("0.11"), "accrual-cleared"),
        ("Expenses:COGS:Unattributed:Openai", Decimal("2.49"), None),
        ("Liabilities:Payable:Openai", Decimal("-2.60"), "bill"),
    ]
    assert anthropic.meta["attributed"] == Decimal("3.07")
    assert anthropic.meta["unattributed"] == Decimal("0.12")  # web search: no usage explains it
    # nothing on the bill is lost: attributed + unattributed = the bill; payable = the bill
    for provider, bill in (("Openai", Decimal("2.60")), ("Anthropic", Decimal("3.19"))):
        assert (balance(entries, f"Expenses:COGS:Inference:{provider}")
                + balance(entries, f"Expenses:COGS:Unattributed:{provider}")) == bill
        assert balance(entries, f"Liabilities:Payable:{provider}") == -bill


def test_bill_below_attributed_cost_gives_negative_unattributed(contracts):
    body = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)       # 2.50
            + usage("2026-01-09", "globex", "gpt-4o", output_tokens=100_000)     # 1.00
            + bill_line("2026-01-05", "openai", "1.70", "k1")
            + bill_line("2026-01-09", "openai", "1.304", "k2"))
    entries, errors, _ = load(contracts, body)
    assert errors == []
    bill, = generated(entries, "provider-bill")
    assert bill.meta["attributed"] == Decimal("3.50")
    assert bill.meta["unattributed"] == Decimal("-0.50")  # bill 3.004 -> 3.00
    assert balance(entries, "Expenses:COGS:Unattributed:Openai") == Decimal("-0.50")
    assert balance(entries, "Liabilities:Payable:Openai") == Decimal("-3.00")


def test_bill_follows_late_usage_at_the_next_load(contracts):
    bill = bill_line("2026-01-31", "openai", "5.00", "k1")
    first, _, _ = load(contracts, usage("2026-01-05", "acme", "gpt-4o",
                                        input_tokens=1_000_000) + bill)
    late, _, _ = load(contracts, usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000)
                      + usage("2026-01-20", "globex", "gpt-4o", input_tokens=1_000_000) + bill)
    assert generated(first, "provider-bill")[0].meta["unattributed"] == Decimal("2.50")
    assert generated(late, "provider-bill")[0].meta["unattributed"] == Decimal("0.00")
    assert len(generated(late, "provider-bill")[0].postings) == 2


def test_a_report_line_twice_in_the_book_is_an_error(contracts):
    body = bill_line("2026-01-05", "openai", "1.00", "k1") * 2
    entries, errors, _ = load(contracts, body)
    assert len(errors) == 1 and "'k1'" in errors[0].message
    assert generated(entries, "provider-bill")[0].meta["bill_exact"] == "1"


def test_a_bill_of_a_provider_without_cost_table_is_an_error(contracts):
    _, errors, _ = load(contracts, bill_line("2026-01-05", "mistral", "1.00", "k1"))
    assert len(errors) == 1 and "contracts/costs/mistral.yaml" in errors[0].message


def test_extracted_entries_print_and_parse_back(contracts):
    extracted = AnthropicCostsImporter().extract(ANTHROPIC, [])
    entries, errors, _ = _book_with(contracts, extracted, SCENARIO)
    assert errors == []
    parsed = [e for e in entries if isinstance(e, data.Custom) and e.type == "provider-bill"]
    assert [e.values[2].value for e in parsed] == [e.values[2].value for e in extracted]


def test_synthetic_reports_of_the_sample_generator_leave_the_hidden_cost_unattributed(
        tmp_path, contracts):
    sources = tmp_path / "sources"
    sources.mkdir()
    events = [{"event_id": f"e{i}", "timestamp": "2026-01-05T10:00:00Z", "customer": "acme",
               "model": model, "input_tokens": 1_000_000, "output_tokens": 100_000}
              for i, model in enumerate(("gpt-4o", "claude-sonnet-4-5"))]
    (sources / "usage-2026-01.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    written = write_reports(sources, contracts)
    assert [p.name for p in written] == ["anthropic-cost-report-2026-01.json",
                                         "openai-costs-2026-01.json"]
    assert write_reports(sources, contracts) == written  # and byte-identical:
    first = {p.name: p.read_bytes() for p in written}
    write_reports(sources, contracts)
    assert first == {p.name: p.read_bytes() for p in written}
    extracted = []
    for path in written:
        importer, = [i for i in IMPORTERS if i.identify(str(path))]
        extracted += importer.extract(str(path), [])
    body = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=1_000_000, output_tokens=100_000)
            + usage("2026-01-05", "acme", "claude-sonnet-4-5", input_tokens=1_000_000,
                    output_tokens=100_000))
    entries, errors, _ = _book_with(contracts, extracted, body)
    assert errors == []
    bills = {t.meta["provider"]: t.meta for t in generated(entries, "provider-bill")}
    # openai: 2.50 + 1.00 attributed, 12% embeddings on top; anthropic: 3.00 + 1.50, 8% search
    assert (bills["openai"]["attributed"], bills["openai"]["unattributed"]) == (
        Decimal("3.50"), Decimal("0.42"))
    assert (bills["anthropic"]["attributed"], bills["anthropic"]["unattributed"]) == (
        Decimal("4.50"), Decimal("0.36"))


def test_tokenbooks_import_books_provider_reports_into_a_new_book(tmp_path):
    book = tmp_path / "book"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0
    shutil.rmtree(book / "contracts")
    make_contracts(book)
    sources = tmp_path / "sources"
    sources.mkdir()
    events = [{"event_id": f"e{i}", "timestamp": f"2026-01-0{i + 1}T10:00:00Z",
               "customer": "globex", "model": model, "feature": "chat",
               "input_tokens": 1_000_000, "output_tokens": 100_000}
              for i, model in enumerate(("gpt-4o", "claude-sonnet-4-5"))]
    (sources / "usage-2026-01.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    write_reports(sources, book / "contracts")
    ledger = str(book / "main.beancount")
    result = runner.invoke(cli, ["import", "--ledger", ledger, *map(str, sorted(sources.iterdir()))])
    assert result.exit_code == 0, result.output
    assert "openai_costs" in result.output and "anthropic_costs" in result.output
    entries, errors, _ = loader.load_file(ledger)
    assert errors == []
    bills = {t.meta["provider"]: t.meta for t in generated(entries, "provider-bill")}
    assert bills["openai"]["unattributed"] == Decimal("0.42")
    assert bills["anthropic"]["unattributed"] == Decimal("0.36")
    again = runner.invoke(cli, ["import", "--ledger", ledger, "--json",
                                *map(str, sorted(sources.glob("*.json")))])
    assert again.exit_code == 0, again.output
    assert len(generated(loader.load_file(ledger)[0], "provider-bill")) == 2


def test_tokenbooks_import_refuses_a_malformed_report(tmp_path):
    book = tmp_path / "book"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0
    doc = json.loads(Path(ANTHROPIC).read_text())
    doc["data"][0]["results"][0]["amount"] = 126.0
    bad = tmp_path / "anthropic-cost-report.json"
    bad.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["import", "--ledger", str(book / "main.beancount"), str(bad)])
    assert result.exit_code == 1
    assert "data[0].results[0].amount: expected a decimal string in cents" in result.output
    assert not list((book / "imports").glob("*anthropic*"))
