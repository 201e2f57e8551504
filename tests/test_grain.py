"""The month grain's cut dates and spans (``rules.grain``), the engine's guard against
an aggregate that covers one, the book option and the import at month grain."""

from __future__ import annotations

import datetime
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from enginekit import book, contract, run
from hypothesis import given, settings
from hypothesis import strategies as st
from samplekit import copy_sample

from tokenbooks.importers.index import index_file
from tokenbooks.plugins import config
from tokenbooks.plugins.entries.usage import at_grain, usage_entry, usage_from_entry
from tokenbooks.plugins.rules.grain import (
    DAY_GRAIN,
    Cuts,
    Spans,
    book_day_grain,
    contract_day_grain,
    customer_cuts,
)
from tokenbooks.plugins.rules.model import (
    ActionPrice,
    Allowance,
    ContractSet,
    Customer,
    Grant,
    Modification,
    Overage,
    Pack,
    Term,
    TopUp,
)
from tokenbooks.plugins.rules.records import Purchase, Usage
from tokenbooks.scripts import loading
from tokenbooks.scripts.cli import cli

D = Decimal
day = datetime.date.fromisoformat


def cuts_of(c, purchases=(), prices=None, as_of=None) -> Cuts:
    contracts = ContractSet({"acme": Customer("acme", "Acme", (c,))},
                            {"list": prices or book()}, {}, ())
    return customer_cuts(contracts.customers["acme"], contracts, purchases, as_of)


def buy(when: str, pack: str = "s", **kw) -> Purchase:
    return Purchase(day(when), "acme", "c1", pack, D("10.00"), "USD", f"pay-{when}",
                    ref=f"p:{when}", **kw)


# --- cut dates ----------------------------------------------------------------------------

def test_every_date_the_contracts_make_matter_is_a_cut():
    c = contract(start=day("2026-01-03"), end=day("2026-06-14"),
                 packs={"s": Pack("s", D("10.00"), D(1000), expires_after=Term(2, "month")),
                        "fixed": Pack("fixed", D("5.00"), D(500), expires=day("2026-05-09"))},
                 grants=(Grant("g1", day("2026-02-11"), D(100), "concession",
                               expires=day("2026-03-21")),),
                 modifications=(Modification("m1", day("2026-04-07"), D(100), D("1.00"),
                                             expires=day("2026-04-28"), approved_by="x",
                                             approved_on=day("2026-04-01")),))
    cuts = cuts_of(c, [buy("2026-01-17"), buy("2026-02-02", expires=day("2026-02-25"))],
                   prices=book(("2026-01-01", "0.01"), ("2026-03-16", "0.02")),
                   as_of=day("2026-06-10"))
    assert [str(d) for d in cuts.dates] == [
        "2026-01-01", "2026-01-03", "2026-01-17", "2026-02-02", "2026-02-11", "2026-02-25",
        "2026-03-16", "2026-03-17", "2026-03-21", "2026-04-02", "2026-04-07", "2026-04-28",
        "2026-05-09", "2026-06-11", "2026-06-15"]
    assert cuts.reason_of(day("2026-03-16")) == "price book list version 2026-03-16"
    assert cuts.reason_of(day("2026-03-17")) == "the lot of pay-2026-01-17 expires"
    assert cuts.span(day("2026-01-20")) == (day("2026-01-17"), day("2026-01-31"))
    assert cuts.span(day("2026-02-05")) == (day("2026-02-02"), day("2026-02-10"))
    assert cuts.span(day("2026-06-12")) == (day("2026-06-11"), day("2026-06-14"))
    assert cuts.span(day("2026-06-20")) == (day("2026-06-15"), day("2026-06-30"))


@pytest.mark.parametrize("kw, purchases, reason", [
    ({"overage": Overage("top_up", D(1), TopUp("s", D(100)))}, [], "top_up"),
    ({"overage": Overage("hard_stop")}, [], "hard_stop"),
    ({"allowance": Allowance(D(100), per_user=D(10))}, [], "per_user"),
    ({"actions": {"search": ActionPrice(D("0.05"), {})}}, [], "actions"),
    ({"billing": "arrears", "actions": {"search": ActionPrice(D("0.05"), {})}},
     [buy("2026-01-05")], "actions"),
    ({"grants": (Grant("g", day("2026-01-05"), D(5), "promotional"),)}, [], "promotional"),
    ({}, [buy("2026-01-05", grant="promotional")], "promotional"),
])
def test_contracts_whose_figures_depend_on_the_order_of_days_stay_at_day_grain(
        kw, purchases, reason):
    c = contract(packs={"s": Pack("s", D("10.00"), D(1000))}, **kw)
    assert contract_day_grain(c, purchases) == DAY_GRAIN[reason]
    cuts = cuts_of(c, purchases)
    assert cuts.span(day("2026-01-20")) == (day("2026-01-20"), day("2026-01-20"))
    assert DAY_GRAIN[reason] in cuts.problem(day("2026-01-20"), day("2026-01-21"))


def test_plain_arrears_with_actions_and_prepaid_without_need_no_day_grain():
    assert contract_day_grain(contract(billing="arrears", actions={
        "search": ActionPrice(D("0.05"), {})})) == ""
    assert contract_day_grain(contract(packs={"s": Pack("s", D("10.00"), D(1000))})) == ""


def test_book_options_that_post_per_day_keep_day_grain():
    assert book_day_grain("day", "month") == DAY_GRAIN["posting"]
    assert book_day_grain("month", "day") == DAY_GRAIN["cogs_period"]
    assert book_day_grain() == ""


def test_a_customer_without_contract_stays_at_day_grain():
    assert Spans({}).span("nobody", day("2026-01-05")) == (day("2026-01-05"),) * 2


# --- the merge ----------------------------------------------------------------------------

def test_at_grain_merges_a_span_keeps_late_usage_and_provenance():
    spans = Spans({"acme": Cuts("acme", (day("2026-01-10"),))})
    rows = [Usage(day(f"2026-01-{d:02d}"), "acme", "m", "chat", input_tokens=d * 100,
                  events=d) for d in (3, 5, 9, 10, 12)]
    entries = [usage_entry(u, {"source": "u.jsonl", "sha256": "ab",
                               "first_event": f"e{u.date.day}a",
                               "last_event": f"e{u.date.day}z"}) for u in rows]
    late = usage_entry(rows[0], {"source": "u.jsonl", "original_date": day("2025-12-30")})
    merged = at_grain([*entries, late], spans)
    assert [(e.date.day, e.meta.get("until"), e.meta["input_tokens"], e.meta["events"],
             e.meta["first_event"], e.meta["last_event"]) for e in merged[:2]] == [
        (3, day("2026-01-09"), D(1700), D(17), "e3a", "e9z"),
        (10, day("2026-01-12"), D(2200), D(22), "e10a", "e12z")]
    assert merged[2] is late
    assert list(merged[0].meta)[-4:] == ["source", "sha256", "first_event", "last_event"]


# --- the engine's guard -------------------------------------------------------------------

def test_a_purchase_imported_after_the_usage_it_splits_is_an_error_naming_the_entry():
    c = contract(packs={"s": Pack("s", D("10.00"), D(1000))})
    spanning = Usage(day("2026-01-05"), "acme", "m", input_tokens=5000, events=3,
                     until=day("2026-01-25"), ref="imports/2026-01.u.beancount:12")
    result = run(c, [spanning], [buy("2026-01-10")], as_of="2026-01-31")
    assert [e.message for e in result.errors] == [
        "usage entry imports/2026-01.u.beancount:12 of customer 'acme' covers 2026-01-05 "
        "to 2026-01-25, but the contracts treat 2026-01-10 differently from the days "
        "before it (a cut date: purchase pay-2026-01-10); expected it split there: run "
        "tokenbooks regrain (docs/grain.md) to rewrite the open months' usage files"]
    assert result.errors[0].ref == "imports/2026-01.u.beancount:12"
    assert result.priced == 0  # never a figure different from day grain's


@pytest.mark.parametrize("kw, until, expected", [
    ({}, "2026-02-03", "it crosses the end of the month on 2026-01-31"),
    ({"end": day("2026-01-20")}, "2026-01-25", "contract c1 ended the day before"),
    ({"overage": Overage("hard_stop")}, "2026-01-07", "stays at day grain (hard stop"),
    ({"packs": {"s": Pack("s", D("10.00"), D(1000), expires=day("2026-01-15"))}},
     "2026-01-20", "pack s expires"),
])
def test_the_guard_names_each_cut(kw, until, expected):
    c = contract(**{"packs": {"s": Pack("s", D("10.00"), D(1000))}, **kw})
    spanning = Usage(day("2026-01-05"), "acme", "m", input_tokens=5000, events=3,
                     until=day(until), ref="f:1")
    result = run(c, [spanning], [], as_of="2026-02-28")
    assert len(result.errors) == 1 and expected in result.errors[0].message
    assert "tokenbooks regrain" in result.errors[0].message


def test_an_aggregate_inside_its_span_is_booked_on_its_first_day():
    c = contract(packs={"s": Pack("s", D("10.00"), D(1000))})
    spanning = Usage(day("2026-01-10"), "acme", "m", input_tokens=5000, events=3,
                     until=day("2026-01-25"), ref="f:1")
    result = run(c, [spanning], [buy("2026-01-10")], as_of="2026-01-31")
    assert result.errors == [] and result.priced == 1


# --- the book option ----------------------------------------------------------------------

def test_the_grain_option_is_checked():
    parsed, errors = config.parse("{'grain': 'week'}", config.BOOK)
    assert [e.message for e in errors] == [
        "tokenbooks.plugins.book: grain: expected 'day' or 'month', got 'week'"]
    assert config.parse("{'grain': 'month'}", config.REVENUE)[0].grain == "month"
    assert config.parse("", config.REVENUE)[0].grain == "day"


def test_init_writes_the_grain(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "'grain': 'day'" in (tmp_path / "b" / "main.beancount").read_text()


# --- the plugins and the import at month grain --------------------------------------------

def test_a_late_purchase_in_a_month_grain_book_is_a_bean_check_error(tmp_path):
    ledger = copy_sample(tmp_path)
    assert CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain",
                                    "month"]).exit_code == 0
    purchase = (ledger.parent / "imports" / "2026-03.purchases.csv.a5db4414.beancount")
    text = purchase.read_text()
    extra = ('\n2026-03-20 * "Acme Corp" "Credit purchase: standard" ^acme-2026\n'
             '  customer: "acme"\n  contract: "acme-2026"\n  rule: "purchase"\n'
             '  pack: "standard"\n  credits: 100000\n  payment_id: "pay-late"\n'
             '  Assets:Bank                        1000.00 USD\n'
             '  Liabilities:Deferred-Revenue:Acme -1000.00 USD\n')
    purchase.write_text(text + extra)
    _, errors, _ = loading.load(ledger)
    guard = [e.message for e in errors if "regrain" in e.message]
    assert len(guard) == 6  # acme's March aggregates across the 20th, each named
    for message in guard:
        assert "customer 'acme' covers 2026-03-" in message
        assert "2026-03-20 differently" in message
        assert "imports/2026-03.usage-2026-03.jsonl.549cd449.beancount:" in message
    assert errors[[e.message for e in errors].index(guard[0])].source["filename"].endswith(
        "imports/2026-03.usage-2026-03.jsonl.549cd449.beancount")
    # the remedy: regrain splits the span at the purchase
    assert CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain",
                                    "month"]).exit_code == 0
    _, errors, _ = loading.load(ledger)
    assert not [e for e in errors if "regrain" in e.message]


def test_import_at_month_grain_writes_what_regrain_writes(tmp_path, monkeypatch):
    """March's usage imported into a month-grain book: the same bytes as March's day
    file regrained, the days merged by span in the usage core and written as text (no
    entry made, no ``at_grain``)."""
    regrained = copy_sample(tmp_path / "a")
    assert CliRunner().invoke(cli, ["regrain", "--ledger", str(regrained), "--grain",
                                    "month"]).exit_code == 0
    ledger = copy_sample(tmp_path / "b")
    imports = ledger.parent / "imports"
    name = "2026-03.usage-2026-03.jsonl.549cd449"
    (imports / f"{name}.beancount").unlink()
    (imports / f"{name}.events.gz").unlink(missing_ok=True)  # a book of store: book
    source = next((ledger.parent / "documents").rglob("*usage-2026-03*"))
    plain = tmp_path / "usage-2026-03.jsonl"
    shutil.copyfile(source, plain)
    assert CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain",
                                    "month"]).exit_code == 0
    from tokenbooks.importers import usage
    from tokenbooks.scripts import import_cmd

    def never(*args, **kwargs):
        raise AssertionError("month grain left the text fast path")

    monkeypatch.setattr(import_cmd, "at_grain", never)
    monkeypatch.setattr(usage, "usage_entries", never)
    result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), str(plain)])
    assert result.exit_code == 0, result.output
    mine = imports / f"{name}.beancount"
    theirs = regrained.parent / "imports" / f"{name}.beancount"
    assert mine.read_bytes() == theirs.read_bytes()
    # and its event-id index matches the fingerprint the file (the same bytes as the
    # regrained one's) records: the import's derived index, or a sidecar
    assert index_file(mine) is not None
    text = (imports / f"{name}.beancount").read_text(encoding="utf-8")
    assert text.count('custom "usage"') == 184 and text.count("  until: ") == 30  # 612 at day grain


# --- why some customers stay at day grain -------------------------------------------------

def test_credits_and_actions_merged_across_a_run_out_would_book_other_figures():
    """Why ``actions`` keeps day grain: tokens on the 1st and 3rd, searches on the 2nd,
    two lots at different prices per credit. Merged, the tokens of the 3rd would draw
    on the 1st, before the searches: the searches would take another share of each lot
    (no date of the contracts says where the first lot runs out)."""
    c = contract(packs={"a": Pack("a", D("10.00"), D(1000)),
                        "b": Pack("b", D("50.00"), D(1000))},
                 actions={"search": ActionPrice(D("0.01"), {"completed": D(1),
                                                             "partial": D(0),
                                                             "failed": D(0)})})
    bought = [Purchase(day("2026-01-01"), "acme", "c1", name, price, "USD", f"pay-{name}",
                       ref=f"p:{name}") for name, price in (("a", D("10.00")),
                                                            ("b", D("50.00")))]
    usages = [Usage(day("2026-01-01"), "acme", "m", input_tokens=740, events=1),
              Usage(day("2026-01-02"), "acme", "", "", "search", events=1500,
                    completed=1500),
              Usage(day("2026-01-03"), "acme", "m", input_tokens=740, events=1)]
    assert cuts_of(c, bought).day_grain == DAY_GRAIN["actions"]
    as_if = Spans({"acme": Cuts("acme", ())})  # the spans if it were not at day grain
    merged = [usage_from_entry(e) for e in at_grain(
        [usage_entry(u, {"source": "u", "lineno": i}) for i, u in enumerate(usages)], as_if)]
    assert [(u.date.day, u.last_day.day, u.input_tokens) for u in merged] == [
        (1, 3, 1480), (2, 2, 0)]
    refused = run(c, merged, bought, as_of="2026-01-31")  # the guard: not booked
    assert len(refused.errors) == 1 and "stays at day grain" in refused.errors[0].message

    def actions(result) -> Decimal:
        return -sum(leg.amount for b in result.bookings for leg in b.legs
                    if leg.account == "Income:Revenue:Actions")

    # day grain: the 1st's 740 credits from lot a; the 1,500 searches (0.01 each: 1,500
    # credits) 260 from lot a (2.60), 1,000 from lot b (50.00), 240 overage (2.40): 55.00
    assert actions(run(c, usages, bought, as_of="2026-01-31")) == D("55.00")
    # booked on the 1st, the 1,480 tokens take lot a and 480 of lot b: the searches
    # 520 of lot b (26.00) and 980 overage (9.80): 35.80
    booked_on_first = [u._replace(until=None) for u in merged]
    assert actions(run(c, booked_on_first, bought, as_of="2026-01-31")) == D("35.80")


# --- invariants of the spans --------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 120), max_size=12), st.integers(0, 120))
def test_spans_partition_each_month_at_the_cuts(offsets, at):
    start = day("2026-01-01")
    cuts = Cuts("acme", tuple(sorted({start + datetime.timedelta(days=n) for n in offsets})))
    when = start + datetime.timedelta(days=at)
    first, last = cuts.span(when)
    assert first <= when <= last and (first.year, first.month) == (last.year, last.month)
    assert cuts.problem(first, last) is None
    assert not [d for d in cuts.dates if first < d <= last]
    # the days around belong to the spans next to it
    if first.day > 1:
        assert cuts.span(first - datetime.timedelta(days=1))[1] == first - \
            datetime.timedelta(days=1)
        assert first in cuts.dates
    after = last + datetime.timedelta(days=1)
    assert cuts.span(after)[0] == after  # a span ends where the next begins
    if last > first:
        assert cuts.problem(first, last + datetime.timedelta(days=1)) is not None


def test_hostile_names_survive_a_regrain(tmp_path):
    """Quotes, backslashes and non-ASCII in names: merged and written, read back alike."""
    from beancount.parser import parser

    from tokenbooks.scripts.regrain_cmd import UsageFile

    names = ('m"x\\y', "féature ☃", 'a\\"b')
    entries = [usage_entry(Usage(day(f"2026-01-0{d}"), "acme", names[0], names[1],
                                 names[2], events=d, completed=d), {
        "source": 'src "1".jsonl', "sha256": "ab", "first_event": f'e"{d}',
        "last_event": f"e\\{d}"}) for d in (1, 2)]
    path = tmp_path / "2026-01.u.beancount"
    path.write_text("; Imported by tokenbooks from x\n; Generated\n")
    found = UsageFile(path)
    text = found.render(at_grain(entries, Spans({"acme": Cuts("acme", ())})))
    path.write_text(text)
    back, errors, _ = parser.parse_file(str(path))
    assert errors == []
    assert [v.value for v in back[0].values] == ["acme", *names]
    assert (back[0].meta["events"], back[0].meta["until"], back[0].meta["first_event"],
            back[0].meta["last_event"], back[0].meta["source"]) == (
        D(3), day("2026-01-02"), 'e"1', "e\\2", 'src "1".jsonl')


def test_the_default_as_of_reaches_the_last_day_an_aggregate_covers(tmp_path):
    """A month-grain book whose last entry is dated the 1st recognizes to the 31st, as
    the same book at day grain does."""
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path / "b"), "--start",
                               "2026-01-01"]).exit_code == 0
    book = tmp_path / "b"
    root = Path(__file__).resolve().parents[1]
    for sub in ("customers", "price-books", "costs"):
        for path in (root / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, book / "contracts" / sub)
    usage = Usage(day("2026-01-01"), "initech", "gpt-4o", "chat", input_tokens=1000,
                  events=2, until=day("2026-01-31"))
    from tokenbooks.plugins.entries.usage_text import format_usage
    (book / "imports" / "2026-01.u.beancount").write_text(format_usage(usage_entry(
        usage, {"source": "u.jsonl"})))
    from tokenbooks.plugins.load import Load
    _, errors, options = loading.load(book / "main.beancount")
    assert [e.message for e in errors] == []
    assert Load.of(options).revenue.as_of == day("2026-01-31")


def test_commands_read_the_books_grain_and_refuse_a_bad_one():
    import click

    from tokenbooks.scripts.book_grain import BookGrain, book_grain

    lines = [(config.REVENUE, "{'posting': 'day', 'grain': 'month'}"),
             (config.COGS, "{'period': 'day'}")]
    assert book_grain({"plugin": lines}) == BookGrain("month", "day", "day")
    assert book_grain({"plugin": []}) == BookGrain()
    with pytest.raises(click.ClickException) as caught:
        book_grain({"plugin": [(config.BOOK, "{'grain': 'weekly'}")]})
    assert caught.value.message == (
        "the book's plugin line tokenbooks.plugins.book: tokenbooks.plugins.book: grain: "
        "expected 'day' or 'month', got 'weekly'; nothing was written")
