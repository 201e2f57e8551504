"""The revenue and invariants plugins on whole books (loader.load_string)."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from beancount import loader
from beancount.core import data
from beancount.parser import printer
from samplekit import copy_sample

ROOT = Path(__file__).resolve().parent.parent
D = Decimal

ACCOUNTS = (ROOT / "ledgers" / "accounts.beancount").read_text()

PURCHASES = """
2026-01-03 * "Acme Corp" "Credit purchase: large" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "large"
  payment_id: "pay-001"
  Assets:Bank                          4500.00 USD
  Liabilities:Deferred-Revenue:Acme   -4500.00 USD

2026-01-03 * "Hooli" "Credit purchase: starter" ^hooli-2026
  customer: "hooli"
  contract: "hooli-2026"
  rule: "purchase"
  pack: "starter"
  payment_id: "pay-002"
  Assets:Bank                          200.00 USD
  Liabilities:Deferred-Revenue:Hooli  -200.00 USD
"""


def usage(date: str, customer: str, model: str = "gpt-4o", action: str = "",
          **meta: int) -> str:
    meta.setdefault("events", 1)
    lines = [f'{date} custom "usage" "{customer}" "{model}" "chat" "{action}"']
    lines += [f"  {k}: {v}" for k, v in meta.items()]
    return "\n".join(lines) + "\n"


def book(contracts: Path, body: str, config: str = "", invariants: bool = True) -> str:
    extra = f", {config}" if config else ""
    plugins = [f'plugin "tokenbooks.plugins.contracts" "{{\'contracts\': \'{contracts}\'}}"',
               f'plugin "tokenbooks.plugins.revenue" "{{\'contracts\': \'{contracts}\'{extra}}}"']
    if invariants:
        plugins.append(
            f'plugin "tokenbooks.plugins.invariants" "{{\'contracts\': \'{contracts}\'}}"')
    return ('option "operating_currency" "USD"\n' + "\n".join(plugins) + "\n" + ACCOUNTS
            + PURCHASES + body)


def load(text: str):
    return loader.load_string(text)


def generated(entries, rule: str | None = None):
    return [e for e in entries if e.meta.get("filename") == "<tokenbooks.revenue>"
            and (rule is None or e.meta.get("rule") == rule)]


def month_totals(entries) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(lambda: D(0))
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                out[(f"{entry.date:%Y-%m}", p.account)] += p.units.number
    return dict(out)


# 1,000,000 gpt-4o input tokens = 5.00 of list value = 500 credits
ACME_USAGE = "".join(usage(f"2026-01-{d:02d}", "acme", input_tokens=1_000_000 * d)
                     for d in (5, 6, 20))
GLOBEX_USAGE = (usage("2026-01-07", "globex", input_tokens=2_000_000, output_tokens=500_000)
                + usage("2026-01-07", "globex", "", "ticket_resolved", completed=7, partial=2,
                        failed=1, events=10))


def test_generated_transactions_are_complete_and_traceable(contracts_dir):
    entries, errors, _ = load(book(contracts_dir, ACME_USAGE + GLOBEX_USAGE))
    assert errors == []
    [acme] = generated(entries, "usage")[:1]
    lot = "acme-2026.large.2026-01-03"
    assert acme.meta["customer"] == "acme" and acme.meta["contract"] == "acme-2026"
    assert acme.meta["lots"] == lot and acme.links == {"acme-2026", lot}
    assert acme.meta["price_book"] == "list-2026@2026-01-01"
    assert acme.meta["usage_entries"] == 3
    assert acme.meta["first_usage"].endswith(":" + str(ACME_LINE(entries, "2026-01-05")))
    # the book's last date is 2026-01-20: January so far is booked on that day
    assert acme.date.isoformat() == "2026-01-20"
    # 31,000,000 tokens x 5.00/1M = 155.00 of list = 15,500 credits x 4,500/500,000 = 139.50
    amounts = {p.account: p.units.number for p in acme.postings}
    assert amounts == {"Liabilities:Deferred-Revenue:Acme": D("139.50"),
                       "Income:Revenue:Usage": D("-139.50")}
    assert all(p.meta["lot"] == lot for p in acme.postings)
    globex = [e for e in generated(entries, "usage") if e.meta["customer"] == "globex"][0]
    # tokens: (2M x 5.00 + 0.5M x 20.00)/1M x 0.9 = 18.00; actions: 0.50 x 8 = 4.00
    assert {p.account: p.units.number for p in globex.postings} == {
        "Assets:Unbilled:Globex": D("22.00"), "Income:Revenue:Usage": D("-18.00"),
        "Income:Revenue:Actions": D("-4.00")}
    for entry in generated(entries):
        assert sum(p.units.number for p in entry.postings) == 0
        assert {"customer", "contract", "rule"} <= set(entry.meta)


def ACME_LINE(entries, date: str) -> int:
    return next(e.meta["lineno"] for e in entries if isinstance(e, data.Custom)
                and e.date.isoformat() == date and e.values[0].value == "acme")


def test_missing_rate_and_unpriced_action_are_errors_at_the_entry(contracts_dir):
    body = (usage("2026-01-08", "globex", "gpt-9", input_tokens=10)
            + usage("2026-01-09", "globex", "", "refund_issued", completed=1)
            + usage("2026-01-09", "nobody", input_tokens=10))
    _, errors, _ = load(book(contracts_dir, body))
    messages = [e.message for e in errors]
    assert any("gpt-9" in m and "globex" in m and "2026-01-08" in m for m in messages)
    assert any("refund_issued" in m and "2026-01-09" in m for m in messages)
    assert any("unknown customer 'nobody'" in m for m in messages)
    missing = next(e for e in errors if "gpt-9" in e.message)
    assert missing.source["lineno"] > 0
    # and the invariant sees those entries were not priced
    assert any("priced exactly once" in m for m in messages)


def test_posting_by_day_gives_the_same_month_totals(contracts_dir):
    body = ACME_USAGE + GLOBEX_USAGE + "".join(
        usage(f"2026-02-{d:02d}", "hooli", input_tokens=333_333 * d) for d in range(1, 20))
    by_month, errors, _ = load(book(contracts_dir, body))
    assert [e for e in errors if "hard stop" not in e.message] == []
    by_day, errors, _ = load(book(contracts_dir, body, "'posting': 'day'"))
    assert errors == []
    def nonzero(totals):
        return {k: v for k, v in totals.items() if v}
    assert nonzero(month_totals(by_month)) == nonzero(month_totals(by_day))
    assert len(generated(by_day)) > len(generated(by_month))


def test_output_is_deterministic(contracts_dir):
    body = ACME_USAGE + GLOBEX_USAGE
    first = [printer.format_entry(e) for e in generated(load(book(contracts_dir, body))[0])]
    second = [printer.format_entry(e) for e in generated(load(book(contracts_dir, body))[0])]
    assert first == second and first


def test_hard_stop_warns_and_can_be_an_error(contracts_dir):
    # hooli: 200.00 for 20,000 credits; 30,000,000 tokens = 150.00 of list = 15,000 credits
    body = "".join(usage(f"2026-02-{d:02d}", "hooli", input_tokens=30_000_000, events=10)
                   for d in (1, 2))
    entries, errors, _ = load(book(contracts_dir, body))
    assert errors == []
    [warning] = [e for e in entries if isinstance(e, data.Custom) and e.type == "tokenbooks"]
    assert warning.values[0].value == "warning" and "hooli" in warning.values[1].value
    assert warning.meta["blocked_events"] == 7  # 10,000 of 15,000 credits of 02-02: ceil(6.67)
    [used] = generated(entries, "usage")
    assert {p.account: p.units.number for p in used.postings}[
        "Income:Revenue:Usage"] == D("-200.00")
    _, errors, _ = load(book(contracts_dir, body, "'hard_stop': 'error'"))
    assert len(errors) == 1 and "hard stop" in errors[0].message


def test_invariants_catch_a_hand_written_overdraw(contracts_dir):
    manual = textwrap.dedent("""
        2026-01-25 * "Acme Corp" "manual"
          Liabilities:Deferred-Revenue:Acme   5000.00 USD
            lot: "acme-2026.large.2026-01-03"
          Income:Revenue:Usage               -5000.00 USD
            lot: "acme-2026.large.2026-01-03"
        """)
    # 4,500 paid; 139.50 drawn by usage (booked on 01-25, the book's last day) + 5,000
    _, errors, _ = load(book(contracts_dir, ACME_USAGE + manual))
    assert [e.message for e in errors] == [
        "lot acme-2026.large.2026-01-03: contract liability negative (-639.50) on 2026-01-25"]


def test_invariants_catch_a_draw_after_expiry_and_an_unbalanced_lot(contracts_dir):
    manual = textwrap.dedent("""
        2027-02-01 * "Acme Corp" "manual"
          Liabilities:Deferred-Revenue:Acme   1.00 USD
            lot: "acme-2026.large.2026-01-03"
          Income:Revenue:Usage               -1.00 USD
            lot: "acme-2026.large.2026-01-03"
        2027-02-02 * "Acme Corp" "manual, revenue not tagged with its lot"
          Liabilities:Deferred-Revenue:Acme   2.00 USD
            lot: "acme-2026.large.2026-01-03"
          Income:Revenue:Usage               -2.00 USD
        """)
    _, errors, _ = load(book(contracts_dir, ACME_USAGE + manual))
    messages = " | ".join(e.message for e in errors)
    assert "drawn on 2027-02-01, on or after its expiry 2027-01-03" in messages
    # 4,500 recognized by the plugin (usage, then breakage at expiry) + 1.00 by hand;
    # 4,503.00 drawn from the liability
    assert ("revenue recognized 4501.00 + liability left -3.00 != consideration 4500.00"
            in messages)
    assert "contract liability negative (-1.00) on 2027-02-01" in messages


def test_config_errors(contracts_dir):
    _, errors, _ = load(book(contracts_dir, ACME_USAGE, "'posting': 'week'"))
    assert any("posting: expected 'month' or 'day'" in e.message for e in errors)


def test_sample_book_checks_with_the_plugins(tmp_path):
    main = copy_sample(tmp_path)
    text = main.read_text()
    line = "plugin \"tokenbooks.plugins.contracts\" \"{'contracts': '../contracts'}\"\n"
    assert line in text
    if "tokenbooks.plugins.revenue" not in text:
        text = text.replace(line, line + "plugin \"tokenbooks.plugins.revenue\" "
                                          "\"{'contracts': '../contracts'}\"\n")
    if "tokenbooks.plugins.invariants" not in text:
        text += "plugin \"tokenbooks.plugins.invariants\" \"{'contracts': '../contracts'}\"\n"
    main.write_text(text + PURCHASES + ACME_USAGE + GLOBEX_USAGE)
    entries, errors, _ = loader.load_file(str(main))
    assert errors == []
    assert generated(entries, "usage")


def test_proportional_breakage_is_tagged_breakage_not_expiry(contracts_dir):
    """A standard pack (proportional breakage, 20% then 10% from Jan 20) used in January:
    its breakage is recognized with the usage, tagged ``rule: breakage``; nothing expired,
    so nothing says ``expiry``."""
    standard = (
        '2026-01-04 * "Acme Corp" "Credit purchase: standard" ^acme-2026\n'
        '  customer: "acme"\n  contract: "acme-2026"\n  rule: "purchase"\n'
        '  pack: "standard"\n  payment_id: "pay-003"\n'
        "  Assets:Bank                          1000.00 USD\n"
        "  Liabilities:Deferred-Revenue:Acme   -1000.00 USD\n")
    entries, errors, _ = load(book(contracts_dir, standard + usage(
        "2026-01-05", "acme", input_tokens=20_000_000)))
    assert errors == []
    legs = [(e.meta["rule"], p.meta.get("rule"), p.units.number) for e in generated(entries)
            for p in e.postings if p.account == "Income:Revenue:Breakage"]
    assert legs and all(leg[:2] == ("usage", "breakage") for leg in legs), legs
    assert not [e for e in generated(entries) if e.meta.get("rule") == "expiry"]
