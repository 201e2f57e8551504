"""Small books for the what-if and forecast tests: a contracts folder and a ledger file
that loads through the one-line book plugin (figures checked by hand in the tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tokenbooks.plugins.reports import Ledger
from tokenbooks.scripts import loading

PRICE_BOOK = """\
id: list
currency: USD
per: 1000000
versions:
  - effective: 2026-01-01
    models:
      m: {input: 10.00, cached_input: 10.00, output: 40.00}
      n: {input: 5.00, cached_input: 5.00, output: 5.00}
"""

COSTS = """\
id: prov
provider: prov
currency: USD
per: 1000000
versions:
  - effective: 2026-01-01
    models:
      m: {input: 2.00, cached_input: 2.00, output: 8.00}
      n: {input: 1.00, cached_input: 1.00, output: 1.00}
"""

ACCOUNTS = """\
2026-01-01 open Assets:Bank USD
2026-01-01 open Income:Revenue:Usage USD
2026-01-01 open Income:Revenue:Actions USD
2026-01-01 open Income:Revenue:Breakage USD
2026-01-01 open Income:Revenue:Commitment USD
2026-01-01 open Income:Revenue:Adjustments USD
2026-01-01 open Income:Revenue:Refunds USD
"""


def contracts(root: Path, customers: dict[str, str], price_book: str = PRICE_BOOK) -> Path:
    folder = root / "contracts"
    for sub in ("costs", "price-books", "customers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "costs" / "prov.yaml").write_text(COSTS)
    (folder / "price-books" / "list.yaml").write_text(price_book)
    for cid, text in customers.items():
        (folder / "customers" / f"{cid}.yaml").write_text(textwrap.dedent(text))
    return folder


def usage(day: str, customer: str, model: str, input_tokens: int = 0,
          output_tokens: int = 0) -> str:
    return (f'{day} custom "usage" "{customer}" "{model}" "chat" ""\n'
            f"  input_tokens: {input_tokens}\n  output_tokens: {output_tokens}\n"
            f"  events: 1\n\n")


def purchase(day: str, customer: str, pack: str, amount: str, credits: int, expires: str,
             payment_id: str) -> str:
    component = customer.title()
    return (f'{day} * "{customer}" "Credit purchase: {pack}" ^{customer}-2026\n'
            f'  customer: "{customer}"\n  contract: "{customer}-2026"\n'
            f'  rule: "purchase"\n  pack: "{pack}"\n  credits: {credits}\n'
            f'  expires: {expires}\n  payment_id: "{payment_id}"\n'
            f"  Assets:Bank  {amount} USD\n"
            f"  Liabilities:Deferred-Revenue:{component}  -{amount} USD\n\n")


def write_book(root: Path, body: str) -> Path:
    ledger = root / "main.beancount"
    ledger.write_text('option "operating_currency" "USD"\n'
                      "plugin \"tokenbooks.plugins.book\" \"{'contracts': 'contracts'}\"\n"
                      + ACCOUNTS + body)
    return ledger


def load(ledger: Path) -> Ledger:
    entries, errors, options = loading.load(ledger)
    assert errors == [], [e.message for e in errors]
    return Ledger(entries, options)
