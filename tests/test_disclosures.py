"""The revenue note (ASC 606-10-50, docs/disclosures.md), on the sample book and on small
books of our own: every disaggregation sums to the ledger's revenue, the contract
balances are the accounts' balances at the period's bounds, the liability rolls forward,
the RPO bands sum to the RPO report's total, a quarter's flows are the sum of its
months', and customer names and segments that would break a table render safely."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from favakit import PERIODS, closed_sample, loaded_sample  # noqa: F401
from pricinglab_kit import contracts, load, usage, write_book

from tokenbooks.plugins import reports
from tokenbooks.plugins.reports import breakage, credits, disclosures, rollforward
from tokenbooks.plugins.rules import disclosures as rules
from tokenbooks.plugins.rules.periods import ONE_DAY, parse_period
from tokenbooks.scripts.cli import cli

D = Decimal
ZERO = D("0.00")
DISAGGREGATIONS = {"revenue_by_stream": "stream", "revenue_by_segment": "segment",
                   "revenue_by_model_family": "family", "revenue_by_timing": "timing"}
FLOWS = ("addition", "recognized", "refund", "other")
ROOTS = {"receivables": "Assets:Receivable", "contract assets: unbilled": "Assets:Unbilled",
         "contract assets: conditional": "Assets:Contract-Assets",
         "contract liabilities": "Liabilities:Deferred-Revenue"}


# --- the ledger's side, computed here from the entries alone --------------------------------


def transactions(ledger: reports.Ledger):
    return ledger.transactions


def gl_revenue(ledger: reports.Ledger, period: str) -> Decimal:
    start, after = parse_period(period)
    return -sum((p.units.number for e in transactions(ledger) if start <= e.date < after
                 for p in e.postings if p.account.startswith("Income:Revenue:")
                 and p.units.currency == ledger.currency), ZERO)  # the note's currency


def gl_balance(ledger: reports.Ledger, root: str, day: datetime.date) -> Decimal:
    """The balance under ``root`` at the end of ``day``; a cut-over's opening balances,
    dated the day after with ``opening`` metadata, are in it (they open that month)."""
    total = sum((p.units.number for e in transactions(ledger)
                 if e.date <= day or (e.date == day + ONE_DAY and e.meta.get("opening"))
                 for p in e.postings if p.account.startswith(root + ":")
                 and p.units.currency == ledger.currency), ZERO)
    return -total if root.startswith("Liabilities") else total


def closing_balance(ledger: reports.Ledger, root: str, day: datetime.date) -> Decimal:
    total = sum((p.units.number for e in transactions(ledger) if e.date <= day
                 for p in e.postings if p.account.startswith(root + ":")
                 and p.units.currency == ledger.currency), ZERO)
    return -total if root.startswith("Liabilities") else total


def rows(table, key: str) -> list[dict]:
    return [r for r in table.rows if r.get(key) != "(total)"]


def assert_ties(ledger: reports.Ledger, note: disclosures.Disclosures) -> None:
    revenue = gl_revenue(ledger, note.period)
    assert note.revenue == revenue
    for name, key in DISAGGREGATIONS.items():
        table = note.table(name)
        assert sum((r["revenue"] for r in rows(table, key)), ZERO) == revenue, name
        assert table.rows[-1][key] == "(total)" and table.rows[-1]["revenue"] == revenue
    before = note.start - ONE_DAY
    for row in note.table("contract_balances").rows:
        root = ROOTS[row["balance"]]
        assert row["opening"] == gl_balance(ledger, root, before), row
        assert row["closing"] == closing_balance(ledger, root, note.end), row
    lines = note.table("contract_liability").rows
    [opening] = [r["amount"] for r in lines if r["line"] == "opening"]
    [closing] = [r["amount"] for r in lines if r["line"] == "closing"]
    changes = sum((r["amount"] for r in lines if r["line"] in FLOWS), ZERO)
    assert opening + changes == closing
    assert opening == gl_balance(ledger, "Liabilities:Deferred-Revenue", before)
    assert closing == closing_balance(ledger, "Liabilities:Deferred-Revenue", note.end)
    memo = {r["kind"]: r["amount"] for r in lines if r["line"] == "memo"}
    assert memo["ledger"] == memo["sub-ledger"] == closing
    rpo = note.table("remaining_performance_obligations")
    month = ledger.month(note.months[-1])
    report_total = credits.rpo_table(month).rows[-1]
    bands = rows(rpo, "band")
    assert [r["band"] for r in bands] == list(rules.BANDS)
    assert sum((r["total"] for r in bands), ZERO) == report_total["total"]
    assert rpo.rows[-1]["total"] == report_total["total"]
    assert (sum((r["remaining_commitments"] for r in bands), ZERO)
            == report_total["remaining_commitments"])
    assert disclosures.failures(note) == []


def flows(note: disclosures.Disclosures) -> dict[tuple[str, ...], Decimal]:
    """Every flow of the note: the disaggregations' lines and the liability's changes."""
    out: dict[tuple[str, ...], Decimal] = defaultdict(lambda: ZERO)
    for name, key in DISAGGREGATIONS.items():
        for r in rows(note.table(name), key):
            out[(name, str(r[key]), str(r.get("stream", "")))] += r["revenue"]
    for r in note.table("contract_liability").rows:
        if r["line"] in FLOWS or r["kind"] == "credit_notes":
            out[("contract_liability", r["line"], r["kind"])] += r["amount"]
    return {k: v for k, v in out.items() if v}


# --- the sample book -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(loaded_sample) -> reports.Ledger:  # noqa: F811
    entries, options = loaded_sample
    return reports.Ledger(entries, options)


@pytest.mark.parametrize("period", [*PERIODS, "2026-Q1"])
def test_the_sample_note_ties_to_the_ledger(sample: reports.Ledger, period: str) -> None:
    assert_ties(sample, disclosures.disclosures(sample, period))


def test_the_sample_quarter(sample: reports.Ledger) -> None:
    note = disclosures.disclosures(sample, "2026-Q1")
    assert note.months == list(PERIODS)
    assert (note.start, note.end) == (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    streams = {r["stream"]: r["revenue"] for r in note.table("revenue_by_stream").rows}
    assert streams["(total)"] == note.revenue > 0
    assert set(streams) >= {"usage", "actions", "breakage", "commitment", "adjustments"}
    segments = {r["segment"] for r in rows(note.table("revenue_by_segment"), "segment")}
    assert segments == {"enterprise", "mid-market", "self-serve"}
    families = {r["family"]: r["models"]
                for r in rows(note.table("revenue_by_model_family"), "family")}
    assert families["gpt-4o"] == "gpt-4o gpt-4o-mini"
    assert families["claude-sonnet-4"] == "claude-sonnet-4-5"
    # the book starts on 2026-01-01: nothing of the quarter's revenue was in an opening
    # balance, whereas February's and March's were (the monthly memos)
    memo = {r["kind"]: r["amount"] for r in note.table("contract_liability").rows
            if r["line"] == "memo"}
    assert memo["from_opening_50_8b"] == ZERO
    for period in ("2026-02", "2026-03"):
        month_note = disclosures.disclosures(sample, period)
        [from_opening] = [r["amount"] for r in month_note.table("contract_liability").rows
                          if r["kind"] == "from_opening_50_8b"]
        assert from_opening == rollforward.report(sample.month(period)).total.from_opening > 0


def test_a_quarter_is_the_sum_of_its_months(sample: reports.Ledger) -> None:
    quarter = disclosures.disclosures(sample, "2026-Q1")
    months = [disclosures.disclosures(sample, p) for p in PERIODS]
    summed: dict[tuple[str, ...], Decimal] = defaultdict(lambda: ZERO)
    for note in months:
        for key, value in flows(note).items():
            summed[key] += value
    assert flows(quarter) == {k: v for k, v in summed.items() if v}
    assert quarter.revenue == sum((m.revenue for m in months), ZERO)
    first, last = months[0].table("contract_balances"), months[-1].table("contract_balances")
    for row, a, b in zip(quarter.table("contract_balances").rows, first.rows, last.rows,
                         strict=True):
        assert (row["opening"], row["closing"]) == (a["opening"], b["closing"])
    assert (quarter.table("remaining_performance_obligations").rows
            == months[-1].table("remaining_performance_obligations").rows)


def test_the_rpo_bands_are_the_rpo_reports_figures(sample: reports.Ledger) -> None:
    note = disclosures.disclosures(sample, "2026-Q1")
    [*bands, total] = note.table("remaining_performance_obligations").rows
    report = credits.rpo_table(sample.month("2026-03")).rows[-1]
    assert total["contract_liability"] == report["contract_liability"]
    # no 29 February in the twelve months after 2026-03-31: the RPO report's 365 days
    assert bands[0]["contract_liability"] == report["within_12_months"]
    assert bands[1]["contract_liability"] + bands[2]["contract_liability"] == report["later"]
    assert bands[0]["remaining_commitments"] == D("4500.00")  # initech: 9 x 500.00
    assert any("50-14A" in p for p in note.text["rpo"])


def test_the_breakage_judgments_are_the_breakage_reports(sample: reports.Ledger) -> None:
    note = disclosures.disclosures(sample, "2026-Q1")
    mine = [(r["customer"], r["pack"], r["method"], r["rate"])
            for r in note.table("breakage_judgments").rows
            if r["section"] == "estimate in force"]
    theirs = [(r["customer"], r["pack"], r["method"], r["rate"])
              for r in breakage.breakage_table(sample.month("2026-03")).rows
              if r["section"] == "in force"]
    assert mine == theirs
    assert ("acme", "standard", "proportional", D("0.10")) in mine


def test_the_modification_methods_of_the_quarter(sample: reports.Ledger) -> None:
    table = disclosures.disclosures(sample, "2026-Q1").table("modifications")
    methods = {r["change"]: (r["method"].split(" (")[0], r["revenue"]) for r in table.rows}
    assert methods["umbrella-amend-1"] == ("prospective", ZERO)
    assert methods["acme-amend-1"] == ("separate contract", ZERO)
    assert methods["umbrella-amend-2"] == ("cumulative catch-up", D("-28.53"))
    assert methods["globex-amend-1"][0] == "pending approval: not applied"
    [revision] = [r for r in table.rows if r["section"] == "breakage revision"]
    assert revision["date"] == datetime.date(2026, 1, 20) and revision["revenue"] < 0
    assert table.notes[0] == ("Methods used in the period: cumulative catch-up, "
                              "prospective, separate contract.")


def test_the_sample_quarter_on_the_command_line(closed_sample: Path) -> None:  # noqa: F811
    runner = CliRunner()
    base = ["report", "disclosures", "--ledger", str(closed_sample), "--period", "2026-Q1"]
    out = {}
    for fmt in ("table", "csv", "json", "markdown"):
        result = runner.invoke(cli, [*base, "--format", fmt])
        assert result.exit_code == 0, result.output
        out[fmt] = result.stdout
    doc = json.loads(out["json"])
    assert doc["period"] == "2026-Q1" and doc["failures"] == []
    assert [t["report"] for t in doc["tables"]][:4] == list(DISAGGREGATIONS)
    assert out["markdown"].startswith("# Revenue from contracts with customers, 2026-Q1")
    assert "## Remaining performance obligations" in out["markdown"]
    assert "Tie-out to the general ledger" in out["table"]
    assert out["csv"].splitlines()[0] == "table,stream,account,description,revenue,share_pct"
    bad = runner.invoke(cli, [*base[:-1], "2026-13"])
    assert bad.exit_code == 2 and "--period" in bad.output


# --- a small book of our own ---------------------------------------------------------------

NAME = 'Globex | "Inc"\r\nLtd \\| x <b>*y*</b>'
SEGMENT = '=1+1 | "mid"\nmarket'
ACME = """\
customer: acme
name: Acme Corp
segment: enterprise
contracts:
  - id: acme-2026
    start: 2026-01-01
    currency: USD
    billing: prepaid
    price_book: list
    credit_value: 0.01
    packs:
      standard: {price: 100.00, credits: 10000, expires_after: 3 months}
      long: {price: 500.00, credits: 50000, expires_after: 18 months}
"""
GLOBEX = """\
customer: globex
name: {name}
segment: {segment}
contracts:
  - id: globex-2026
    start: 2026-01-01
    end: 2027-12-31
    currency: USD
    billing: arrears
    price_book: list
    commitment: {{amount: 20.00, period: month, method: remote}}
"""


def purchase(day: str, pack: str, amount: str, payment_id: str) -> str:
    return (f'{day} * "acme" "Credit purchase: {pack}" ^acme-2026\n'
            f'  customer: "acme"\n  contract: "acme-2026"\n  rule: "purchase"\n'
            f'  pack: "{pack}"\n  payment_id: "{payment_id}"\n'
            f"  Assets:Bank  {amount} USD\n  Liabilities:Deferred-Revenue:Acme  -{amount} USD\n\n")


# model m is 10.00 per 1M input tokens (one credit a cent), n 5.00: acme buys 100.00 of
# credits on 03-01 (expiring 06-01), uses 4.00 in March; in the second quarter 10.00,
# 5.00, the 81.00 left expires on 06-01 (remote breakage), a second pack bought 05-05
# gives 3.00 in June, and a long pack (18 months) is bought 06-15. globex, in arrears,
# uses 5.00 and 10.00 against a 20.00 monthly minimum to the end of 2027.
BODY = (purchase("2026-03-01", "standard", "100.00", "pay-1")
        + usage("2026-03-20", "acme", "m", 400000)
        + usage("2026-04-10", "acme", "m", 1000000)
        + usage("2026-04-12", "globex", "n", 1000000)
        + purchase("2026-05-05", "standard", "100.00", "pay-2")
        + usage("2026-05-10", "acme", "m", 500000)
        + usage("2026-05-11", "globex", "n", 2000000)
        + usage("2026-06-10", "acme", "m", 300000)
        + purchase("2026-06-15", "long", "500.00", "pay-3")
        + '2026-06-30 custom "tokenbooks" "note" "the book runs to here"\n')


def yaml_text(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


@pytest.fixture(scope="module")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("disclosures")
    contracts(root, {"acme": ACME, "globex": GLOBEX.format(name=yaml_text(NAME),
                                                           segment=yaml_text(SEGMENT))})
    return write_book(root, BODY)


@pytest.fixture(scope="module")
def small(small_book: Path) -> reports.Ledger:
    return load(small_book)


@pytest.mark.parametrize("period", ["2026-03", "2026-04", "2026-05", "2026-06", "2026-Q1",
                                    "2026-Q2", "2026"])
def test_a_small_note_ties_to_the_ledger(small: reports.Ledger, period: str) -> None:
    assert_ties(small, disclosures.disclosures(small, period))


def test_the_small_quarter_by_hand(small: reports.Ledger) -> None:
    note = disclosures.disclosures(small, "2026-Q2")
    streams = {r["stream"]: r["revenue"] for r in note.table("revenue_by_stream").rows}
    # usage: acme 10 + 5 + 3, globex 5 + 10; commitment: 15 + 10 + 20; breakage: 81
    assert streams == {"usage": D("33.00"), "actions": ZERO, "breakage": D("81.00"),
                       "commitment": D("45.00"), "adjustments": ZERO, "(total)": D("159.00")}
    timing = {(r["timing"], r["stream"]): r["revenue"]
              for r in rows(note.table("revenue_by_timing"), "timing")}
    assert timing == {("over time", "usage"): D("33.00"),
                      ("over time", "commitment"): D("45.00"),
                      ("point in time", "breakage"): D("81.00")}
    segments = {r["segment"]: r["revenue"]
                for r in rows(note.table("revenue_by_segment"), "segment")}
    assert segments == {"enterprise": D("99.00"), SEGMENT: D("60.00")}
    balances = {r["balance"]: (r["opening"], r["closing"])
                for r in note.table("contract_balances").rows}
    assert balances["contract liabilities"] == (D("96.00"), D("597.00"))
    assert balances["contract assets: unbilled"] == (D("60.00"), D("120.00"))  # not invoiced
    lines = {(r["line"], r["kind"]): r["amount"] for r in note.table("contract_liability").rows}
    assert lines[("addition", "purchase")] == D("600.00")
    assert lines[("recognized", "usage")] == D("-18.00")
    assert lines[("recognized", "expiry")] == D("-81.00")
    # 50-8(b): the first lot's 96.00 was in the opening balance and is all recognized in
    # the quarter; the second lot was bought in it. The months say 10 + 5 + (81 + 3):
    # June's opening holds the second lot, the quarter's does not.
    assert lines[("memo", "from_opening_50_8b")] == D("96.00")
    monthly = [disclosures.disclosures(small, p).table("contract_liability").rows
               for p in ("2026-04", "2026-05", "2026-06")]
    assert [next(r["amount"] for r in m if r["kind"] == "from_opening_50_8b")
            for m in monthly] == [D("10.00"), D("5.00"), D("84.00")]
    # RPO at 06-30: the second pack (97.00, expires 08-05) within 12 months, the long pack
    # (500.00, expires 2027-12-15) in 12 to 24; globex's minimum from July 2026 to
    # December 2027: 12 x 20.00 and 6 x 20.00
    rpo = {r["band"]: (r["contract_liability"], r["remaining_commitments"])
           for r in note.table("remaining_performance_obligations").rows}
    assert rpo == {"0-12 months": (D("97.00"), D("240.00")),
                   "12-24 months": (D("500.00"), D("120.00")), "later": (ZERO, ZERO),
                   "(total)": (D("597.00"), D("360.00"))}
    history = [r for r in note.table("breakage_judgments").rows if r["section"] == "history"]
    assert history[0]["history_rate"] == D("0.8100")  # 81.00 of 100.00 unused at expiry


def test_a_small_quarter_is_the_sum_of_its_months(small: reports.Ledger) -> None:
    quarter = disclosures.disclosures(small, "2026-Q2")
    summed: dict[tuple[str, ...], Decimal] = defaultdict(lambda: ZERO)
    for period in ("2026-04", "2026-05", "2026-06"):
        for key, value in flows(disclosures.disclosures(small, period)).items():
            summed[key] += value
    assert flows(quarter) == {k: v for k, v in summed.items() if v}


def test_a_period_past_the_book_says_so(small: reports.Ledger) -> None:
    note = disclosures.disclosures(small, "2026")
    assert note.cautions and "runs to 2026-06-30" in note.cautions[0]
    assert not disclosures.disclosures(small, "2026-Q2").cautions


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row: split at the pipes no backslash escapes."""
    bare = re.sub(r"\\.", "x", line.strip())
    return bare.strip("|").split("|")


def assert_well_formed(markdown: str) -> None:
    """Every row of every Markdown table has its header's cells, each on one line."""
    for block in markdown.split("\n\n"):
        lines = [x for x in block.splitlines() if x.startswith("|")]
        if lines:
            assert len(lines) == len(block.splitlines()), block
            assert len({len(_cells(x)) for x in lines}) == 1, block


def test_hostile_names_and_segments_render_safely(small: reports.Ledger) -> None:
    note = disclosures.disclosures(small, "2026-Q2")
    text = disclosures.to_markdown(note)
    assert_well_formed(text)
    assert "<b>" not in text and "\r" not in text
    assert disclosures.md(SEGMENT) in text
    assert disclosures.md(SEGMENT) == '=1+1 \\| "mid" market'
    assert disclosures.md(NAME) == 'Globex \\| "Inc"  Ltd \\\\\\| x \\<b\\>\\*y\\*\\</b\\>'
    # CSV: the cells read back as written, a formula made text
    found = {}
    for row in csv.reader(io.StringIO(disclosures.to_csv(note))):
        if row and row[0] == "revenue_by_segment":
            found[row[1]] = row
        if row and row[0] == "breakage_judgments":
            assert row[3] in ("", "Acme Corp")
    assert "'" + SEGMENT in found
    # JSON: the text as it is; the terminal: one line each
    doc = json.loads(disclosures.to_json(note))
    [segment_table] = [t for t in doc["tables"] if t["report"] == "revenue_by_segment"]
    assert SEGMENT in {r["segment"] for r in segment_table["rows"]}
    terminal = disclosures.to_text(note)
    assert "=1+1 | \"mid\" market" in terminal and "\r" not in terminal


def test_hostile_names_in_the_judgments_tables(small_book: Path, tmp_path: Path) -> None:
    # a modification of globex's contract in the quarter puts its name in that table
    folder = small_book.parent
    text = (folder / "contracts" / "customers" / "globex.yaml").read_text()
    shutil.copytree(folder / "contracts", tmp_path / "contracts", dirs_exist_ok=True)
    (tmp_path / "contracts" / "customers" / "globex.yaml").write_text(
        text + "    modifications:\n      - {id: globex-amend-1, date: 2026-05-20, "
               "discount: 0.10}\n")
    ledger = load(write_book(tmp_path, BODY))
    note = disclosures.disclosures(ledger, "2026-Q2")
    [row] = note.table("modifications").rows
    assert row["name"] == NAME and row["method"] == "pending approval: not applied"
    markdown = disclosures.to_markdown(note)
    assert_well_formed(markdown)
    assert f"| globex | {disclosures.md(NAME)} | globex-2026 |" in markdown
    [csv_row] = [r for r in csv.reader(io.StringIO(disclosures.to_csv(note)))
                 if r and r[0] == "modifications"]
    assert csv_row[3] == NAME  # the CSV cell as written (quoted, its line break kept)


def test_the_small_book_on_the_command_line(small_book: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "disclosures", "--ledger", str(small_book),
                                 "--period", "2026-Q2", "--format", "csv"])
    assert result.exit_code == 0, result.output
    blocks = result.stdout.split("\n\n")
    assert [b.splitlines()[0].split(",")[0] for b in blocks] == ["table"] * len(blocks)
    assert [b.splitlines()[1].split(",")[0] for b in blocks if len(b.splitlines()) > 1][:4] \
        == list(DISAGGREGATIONS)


# --- the rules ---------------------------------------------------------------------------------


def test_model_families() -> None:
    assert [rules.model_family(m) for m in (
        "gpt-4o", "gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "claude-haiku-4-5",
        "openai/gpt-4o-2024-08-06", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "gemini-2.5-flash", "o3-mini", "mistral-large", "(unassigned)")] == [
        "gpt-4o", "gpt-4o", "gpt-5", "claude-sonnet-4", "claude-haiku-4", "gpt-4o",
        "claude-sonnet-4", "gemini-2.5", "o3", "mistral-large", "(unassigned)"]


def test_timing_of_each_kind_of_revenue() -> None:
    over, point = rules.OVER_TIME, rules.POINT_IN_TIME
    assert rules.timing("Usage", "usage") == over
    assert rules.timing("Breakage", "usage", "breakage") == over  # proportional
    assert rules.timing("Breakage", "usage", "expiry") == over  # (as older books tag it)
    assert rules.timing("Breakage", "breakage-revision") == over
    assert rules.timing("Breakage", "expiry") == point
    assert rules.timing("Breakage", "void") == point
    assert rules.timing("Breakage", "refund") == point
    assert rules.timing("Breakage", "commitment", "commitment-lapse") == point
    assert rules.timing("Usage", "expiry") == over  # the usage of an expiry's catch-up
    assert rules.timing("Commitment", "commitment") == over


def test_bands_and_commitment_periods() -> None:
    day = datetime.date
    end = day(2026, 3, 31)
    assert rules.band(day(2027, 3, 31), end) == rules.WITHIN_12
    assert rules.band(day(2027, 4, 1), end) == rules.WITHIN_24
    assert rules.band(day(2028, 3, 31), end) == rules.WITHIN_24  # 29 Feb 2028 between
    assert rules.band(day(2028, 4, 1), end) == rules.LATER
    assert rules.band(None, end) == rules.LATER
    assert rules.months_later(day(2027, 2, 28), 12) == day(2028, 2, 29)
    assert rules.months_later(day(2026, 1, 31), 1) == day(2026, 2, 28)
    assert rules.months_later(day(2026, 1, 15), 1) == day(2026, 2, 15)
    assert list(rules.commitment_periods(end, day(2026, 6, 15), "month")) == [
        day(2026, 4, 30), day(2026, 5, 31), day(2026, 6, 15)]
    assert list(rules.commitment_periods(end, day(2028, 6, 30), "year")) == [
        day(2027, 12, 31), day(2028, 6, 30)]
    assert rules.commitment_bands(D("500.00"), end, day(2028, 6, 30), "month") == {
        rules.WITHIN_12: D("6000.00"), rules.WITHIN_24: D("6000.00"),
        rules.LATER: D("1500.00")}
