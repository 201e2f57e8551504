"""The cogs plugin: attributed cost booked to the cent, grouped so beanquery can split it."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest
from beancount import loader
from beancount.core import data
from beancount.parser import printer
from beanquery.query import run_query
from cogs_book import balance, generated, ledger_text, load, make_contracts, revenue, usage


@pytest.fixture
def contracts(tmp_path):
    return make_contracts(tmp_path)


BODY = (
    # acme, January: gpt-4o chat 0.575 + 0.0125, gpt-4o retry 0.0035 (non-billable),
    # claude (dated snapshot id) 0.0045: openai 0.5910 -> 0.59, anthropic 0.0045 -> 0.00
    usage("2026-01-05", "acme", "gpt-4o", input_tokens=120000, cached_input_tokens=20000,
          output_tokens=30000, events=42)
    + usage("2026-01-20", "acme", "gpt-4o", input_tokens=1000, output_tokens=1000)
    + usage("2026-01-21", "acme", "gpt-4o", "retry", input_tokens=1000, output_tokens=100)
    + usage("2026-01-22", "acme", "claude-sonnet-4-5-20250929", input_tokens=1000,
            output_tokens=100)
    # globex: February, gpt-5-mini via an action's workflow
    + usage("2026-02-03", "globex", "", "", "ticket_resolved", completed=3, events=3,
            workflow="tickets")
    + usage("2026-02-03", "globex", "gpt-5-mini", "support", input_tokens=400000,
            output_tokens=50000, workflow="tickets")
)


def test_cost_is_booked_per_customer_and_period_to_the_cent(contracts):
    entries, errors, _ = load(contracts, BODY)
    assert errors == []
    cogs = generated(entries, "cogs")
    assert [(t.meta["customer"], t.meta["period"], t.date.isoformat()) for t in cogs] == [
        ("acme", "2026-01", "2026-01-22"), ("globex", "2026-02", "2026-02-03")]
    acme = cogs[0]
    assert acme.meta["contract"] == "acme-2026"
    lines = ledger_text(contracts, BODY).splitlines()
    first = lines.index('2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""') + 1
    last = lines.index('2026-01-22 custom "usage" "acme" "claude-sonnet-4-5-20250929" '
                       '"chat" ""') + 1
    assert acme.meta["first_usage"].endswith(f":{first}")
    assert acme.meta["last_usage"].endswith(f":{last}")
    assert acme.meta["usage_entries"] == 4
    assert acme.links == {"acme-2026", "bill-openai-2026-01", "bill-anthropic-2026-01"}
    legs = {(p.account, (p.meta or {}).get("model"), (p.meta or {}).get("feature")):
            p.units.number for p in acme.postings}
    assert legs == {
        ("Expenses:COGS:Inference:Anthropic", "claude-sonnet-4-5", "chat"): Decimal("0.00"),
        ("Expenses:COGS:Inference:Openai", "gpt-4o", "chat"): Decimal("0.59"),
        ("Expenses:COGS:Inference:Openai", "gpt-4o", "retry"): Decimal("0.00"),
        ("Liabilities:Payable:Anthropic", None, None): Decimal("0.00"),
        ("Liabilities:Payable:Openai", None, None): Decimal("-0.59"),
    }
    chat = next(p for p in acme.postings if p.meta and p.meta.get("feature") == "chat"
                and p.meta["model"] == "gpt-4o")
    assert chat.meta["input_tokens"] == 121000 and chat.meta["cached_input_tokens"] == 20000
    assert chat.meta["exact_cost"] == "0.5875" and chat.meta["cost_version"] == "openai 2025-11-01"
    globex = cogs[1]
    # 400,000 x 0.25 + 50,000 x 2.00 per million = 0.10 + 0.10
    assert balance([globex], "Expenses:COGS:Inference:Openai") == Decimal("0.20")
    assert globex.postings[0].meta["action"] == "ticket_resolved"
    assert balance(entries, "Expenses:COGS:Inference") == -balance(entries, "Liabilities:Payable")


def test_non_billable_feature_costs_and_is_marked(contracts):
    body = usage("2026-01-05", "acme", "gpt-4o", "retry", input_tokens=1_000_000)
    entries, errors, _ = load(contracts, body)
    assert errors == []
    leg = generated(entries, "cogs")[0].postings[0]
    assert leg.units.number == Decimal("2.50") and leg.meta["billable"] is False


def test_missing_cost_is_a_bean_check_error_at_the_usage_entry(contracts):
    body = usage("2026-01-05", "globex", "gpt-9", input_tokens=10)
    entries, errors, _ = load(contracts, body)
    assert len(errors) == 1
    error = errors[0]
    assert "'gpt-9'" in error.message and "'globex'" in error.message
    assert "2026-01-05" in error.message
    assert error.source["lineno"] == ledger_text(contracts, body).splitlines().index(
        '2026-01-05 custom "usage" "globex" "gpt-9" "chat" ""') + 1
    assert generated(entries, "cogs") == []  # never a zero cost


def test_day_period_config_gives_one_transaction_per_day(contracts):
    body = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=1000)
            + usage("2026-01-06", "acme", "gpt-4o", input_tokens=1000))
    config = f"{{'contracts': '{contracts}', 'period': 'day'}}"
    entries, errors, _ = load(contracts, body, config)
    assert errors == []
    assert [t.meta["period"] for t in generated(entries, "cogs")] == ["2026-01-05", "2026-01-06"]


def test_bad_config_is_reported(contracts):
    _, errors, _ = load(contracts, "", f"{{'contracts': '{contracts}', 'period': 'week'}}")
    assert any("period: expected one of month, day, got 'week'" in e.message for e in errors)
    _, errors, _ = load(contracts, "", f"{{'contracts': '{contracts}', 'grain': 'day'}}")
    assert any("unknown config key 'grain'" in e.message for e in errors)


def test_malformed_usage_entry_is_reported_once_and_not_costed(contracts):
    body = usage("2026-01-05", "acme", "gpt-4o", input_tokens=5, cached_input_tokens=9)
    entries, errors, _ = load(contracts, body)
    assert len(errors) == 1 and "cached_input_tokens" in errors[0].message
    assert generated(entries, "cogs") == []
    with_revenue = ledger_text(contracts, body).replace(
        'plugin "tokenbooks.plugins.cogs"',
        f"plugin \"tokenbooks.plugins.revenue\" \"{{'contracts': '{contracts}'}}\"\n"
        'plugin "tokenbooks.plugins.cogs"')
    _, errors, _ = loader.load_string(with_revenue)
    assert len(errors) == 1 and "cached_input_tokens" in errors[0].message


def test_beanquery_groups_cost_by_customer_model_and_feature(contracts):
    body = BODY + revenue("2026-01-31", "acme", "3.00", model="gpt-4o", feature="chat")
    entries, errors, options = load(contracts, body)
    assert errors == []
    _, rows = run_query(entries, options,
                        "SELECT entry_meta('customer') AS c, meta('model') AS m, "
                        "meta('feature') AS f, sum(number) AS n "
                        "WHERE account ~ '^Expenses:COGS:Inference' GROUP BY c, m, f "
                        "ORDER BY c, m, f")
    assert [tuple(r) for r in rows] == [
        ("acme", "claude-sonnet-4-5", "chat", Decimal("0.00")),
        ("acme", "gpt-4o", "chat", Decimal("0.59")),
        ("acme", "gpt-4o", "retry", Decimal("0.00")),
        ("globex", "gpt-5-mini", "support", Decimal("0.20")),
    ]


def test_same_book_same_entries(contracts):
    first, _, _ = load(contracts, BODY)
    second, _, _ = load(contracts, BODY)
    def text(entries):
        return "".join(printer.format_entry(e) for e in entries
                       if isinstance(e, data.Transaction))

    assert text(first) == text(second)


def test_template_book_bean_checks_with_the_cogs_plugin(tmp_path):
    book = tmp_path / "book"
    subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli", "init", str(book)],
                   check=True, capture_output=True)
    assert "tokenbooks.plugins.book" in (book / "main.beancount").read_text()  # runs cogs
    result = subprocess.run([sys.executable, "-m", "beancount.scripts.check",
                             str(book / "main.beancount")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_usage_blocked_by_a_hard_stop_still_costs(tmp_path):
    contracts = make_contracts(tmp_path, {"hooli": (
        "    credit_value: 0.01\n"
        "    packs:\n      starter: {price: 10.00, credits: 1000}\n"
        "    overage: {policy: hard_stop}\n")})
    text = (contracts / "customers" / "hooli.yaml").read_text()
    (contracts / "customers" / "hooli.yaml").write_text(text.replace("arrears", "prepaid"))
    body = ('2026-01-02 * "Hooli" "Credit purchase: starter" ^hooli-2026\n'
            '  customer: "hooli"\n  contract: "hooli-2026"\n  rule: "purchase"\n'
            '  pack: "starter"\n  credits: 1000\n  payment_id: "p1"\n'
            "  Assets:Bank  10.00 USD\n  Liabilities:Deferred-Revenue:Hooli  -10.00 USD\n"
            + usage("2026-01-05", "hooli", "gpt-4o", input_tokens=1_000_000)
            + usage("2026-01-06", "hooli", "gpt-4o", input_tokens=4_000_000))
    revenue_plugin = f"plugin \"tokenbooks.plugins.revenue\" \"{{'contracts': '{contracts}'}}\"\n"
    text = ledger_text(contracts, body)
    text = text.replace('plugin "tokenbooks.plugins.cogs"', revenue_plugin
                        + 'plugin "tokenbooks.plugins.cogs"')
    entries, errors, _ = loader.load_string(text)
    assert errors == []
    warnings = [e for e in entries if isinstance(e, data.Custom) and e.type == "tokenbooks"]
    assert any("hard stop" in str(w.values[1].value) for w in warnings)
    assert -balance(entries, "Income:Revenue") == Decimal("10.00")  # only the pack is earned
    assert balance(entries, "Expenses:COGS:Inference") == Decimal("12.50")  # all 5M tokens


def test_a_book_without_cost_tables_says_so_once_and_books_no_cost(tmp_path):
    contracts = make_contracts(tmp_path)
    for table in (contracts / "costs").glob("*.yaml"):
        table.unlink()
    entries, errors, _ = load(contracts, BODY)
    assert errors == []
    assert generated(entries, "cogs") == []
    notices = [e for e in entries if isinstance(e, data.Custom) and e.type == "tokenbooks"]
    assert [(n.date.isoformat(), n.values[1].value[:20]) for n in notices] == [
        ("2026-01-05", "COGS not configured:")]
    # one cost table back: every model it does not price is an error again
    (contracts / "costs" / "anthropic.yaml").write_text(
        (make_contracts(tmp_path / "again") / "costs" / "anthropic.yaml").read_text())
    _, errors, _ = load(contracts, BODY)
    assert errors and all("no cost for model" in e.message for e in errors)
