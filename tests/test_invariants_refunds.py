"""A partially refunded lot passes the invariants, before its expiry and after it (the
engine takes back the credits; a refund past the liability is contra revenue)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

from beancount import loader
from conftest import SAMPLE_CONTRACTS

BOOK = """\
option "operating_currency" "USD"
plugin "tokenbooks.plugins.book" "{'contracts': 'contracts'}"
2026-01-01 open Assets:Bank USD
2026-01-01 open Income:Revenue:Usage USD
2026-01-01 open Income:Revenue:Actions USD
2026-01-01 open Income:Revenue:Breakage USD
2026-01-01 open Income:Revenue:Commitment USD
2026-01-01 open Income:Revenue:Adjustments USD
2026-01-02 * "Acme Corp" "Credit purchase: standard" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-1"
  Assets:Bank                          1000.00 USD
  Liabilities:Deferred-Revenue:Acme   -1000.00 USD
2026-01-10 custom "usage" "acme" "gpt-4o" "chat" ""
  input_tokens: 1000000
  events: 3
2026-01-20 * "Acme Corp" "Refund: standard" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "refund"
  pack: "standard"
  payment_id: "ref-1"
  refund_of: "pay-1"
  Assets:Bank                          -250.00 USD
  Liabilities:Deferred-Revenue:Acme     250.00 USD
"""


def load(tmp_path: Path, last: str) -> list[str]:
    shutil.copytree(SAMPLE_CONTRACTS, tmp_path / "contracts",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    ledger = tmp_path / "main.beancount"
    ledger.write_text(BOOK + f'{last} custom "tokenbooks" "note" "the book runs to here"\n')
    _, errors, _ = loader._load([(str(ledger), True)], None, None, None)
    return [e.message for e in errors]


def test_a_partial_refund_passes_before_the_lots_expiry(tmp_path: Path) -> None:
    assert load(tmp_path, "2026-03-31") == []


def test_a_partial_refund_passes_after_the_lots_expiry(tmp_path: Path) -> None:
    # the standard pack expires after 6 months (2026-07-02): the refund forfeited the
    # rest of the lot on 2026-01-20, nothing is left to recognize at expiry
    assert load(tmp_path, "2027-12-31") == []


def test_a_refund_of_the_whole_payment_after_use_returns_revenue_in_its_month(
        tmp_path: Path) -> None:
    """The 1,000.00 refunded in February is more than the lot's liability: what the lot
    earned in January comes back as contra revenue in February (Income:Revenue:Refunds,
    opened by the contracts plugin in a book that does not open it), January is
    untouched, the rollforward ties and the invariants pass."""
    from tokenbooks.plugins import reports
    from tokenbooks.plugins.reports import rollforward

    shutil.copytree(SAMPLE_CONTRACTS, tmp_path / "contracts",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    ledger = tmp_path / "main.beancount"
    whole = BOOK.replace("2026-01-20 * ", "2026-02-05 * ").replace("250.00 USD", "1000.00 USD")
    ledger.write_text(whole + '2026-02-28 custom "tokenbooks" "note" "end"\n')
    entries, errors, options = loader._load([(str(ledger), True)], None, None, None)
    assert [e.message for e in errors] == []
    book = reports.Ledger(entries, options)
    january = rollforward.report(book.month("2026-01")).total
    february = rollforward.report(book.month("2026-02")).total
    earned = january.revenue_total
    assert earned > 0 and january.closing == Decimal("1000.00") - earned
    # the cash refunded leaves the liability; the part of it the lot no longer held
    # comes back as contra revenue of this month (revenue of kind refunds, negative)
    assert february.refunds == Decimal("1000.00")
    assert february.revenue["refunds"] == -earned
    assert february.closing == february.gl_closing == february.subledger_closing == 0
    assert rollforward.check(book.month("2026-02")).ok
