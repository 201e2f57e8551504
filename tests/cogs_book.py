"""Small books for the COGS, provider bill and profitability tests.

A contracts folder of our own (so the figures do not move when the sample company's
contracts change) and a helper that loads a ledger text through the contracts and cogs
plugins.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

from beancount import loader
from beancount.core import data

COSTS_OPENAI = """\
id: openai
provider: openai
currency: USD
per: 1000000
aliases:
  gpt-4o-latest: gpt-4o
versions:
  - effective: 2025-11-01
    models:
      gpt-4o:      {input: 2.50, cached_input: 1.25, output: 10.00}
      gpt-5-mini:  {input: 0.25, cached_input: 0.025, output: 2.00}
  - effective: 2026-03-16
    models:
      gpt-4o:      {input: 2.00, cached_input: 1.00, output: 8.00}
      gpt-5-mini:  {input: 0.25, cached_input: 0.025, output: 2.00}
"""

COSTS_ANTHROPIC = """\
id: anthropic
currency: USD
per: 1000000
versions:
  - effective: 2025-11-01
    models:
      claude-sonnet-4-5: {input: 3.00, cached_input: 0.30, output: 15.00}
"""

PRICE_BOOK = """\
id: list
currency: USD
per: 1000000
versions:
  - effective: 2025-11-01
    models:
      gpt-4o:            {input: 5.00, cached_input: 2.50, output: 20.00}
      gpt-5-mini:        {input: 0.50, cached_input: 0.05, output: 4.00}
      claude-sonnet-4-5: {input: 6.00, cached_input: 0.60, output: 30.00}
"""

CUSTOMER = """\
customer: {id}
name: {name}
contracts:
  - id: {id}-2026
    start: 2025-11-01
    currency: USD
    billing: arrears
    price_book: list
{extra}"""

GENERAL_ACCOUNTS = """\
2025-11-01 open Assets:Bank USD
2025-11-01 open Income:Revenue:Usage USD
2025-11-01 open Income:Revenue:Actions USD
2025-11-01 open Income:Revenue:Breakage USD
2025-11-01 open Income:Revenue:Commitment USD
2025-11-01 open Income:Revenue:Adjustments USD
"""


def make_contracts(root: Path, customers: dict[str, str] | None = None) -> Path:
    """A contracts folder: openai and anthropic cost tables, a price book, customers.

    ``customers`` maps id -> extra contract YAML (indented under the contract); by
    default acme (``retry`` is non-billable) and globex.
    """
    folder = root / "contracts"
    for sub in ("costs", "price-books", "customers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "costs" / "openai.yaml").write_text(COSTS_OPENAI)
    (folder / "costs" / "anthropic.yaml").write_text(COSTS_ANTHROPIC)
    (folder / "price-books" / "list.yaml").write_text(PRICE_BOOK)
    if customers is None:
        customers = {"acme": "    non_billable_features: [retry]\n", "globex": ""}
    for cid, extra in customers.items():
        (folder / "customers" / f"{cid}.yaml").write_text(
            CUSTOMER.format(id=cid, name=cid.title() + " Corp", extra=extra))
    return folder


def ledger_text(contracts: Path, body: str, cogs_config: str = "") -> str:
    config = cogs_config or f"{{'contracts': '{contracts}'}}"
    return (
        'option "operating_currency" "USD"\n'
        f'plugin "tokenbooks.plugins.contracts" "{{\'contracts\': \'{contracts}\'}}"\n'
        f'plugin "tokenbooks.plugins.cogs" "{config}"\n'
        + GENERAL_ACCOUNTS + textwrap.dedent(body))


def load(contracts: Path, body: str, cogs_config: str = "") -> tuple[list, list, dict]:
    return loader.load_string(ledger_text(contracts, body, cogs_config))


def usage(day: str, customer: str, model: str, feature: str = "chat", action: str = "",
          **counts: int | str) -> str:
    """A ``custom "usage"`` entry as the usage importer writes it."""
    lines = [f'{day} custom "usage" "{customer}" "{model}" "{feature}" "{action}"']
    counts.setdefault("events", 1)
    for key, value in counts.items():
        lines.append(f'  {key}: "{value}"' if isinstance(value, str) else f"  {key}: {value}")
    return "\n".join(lines) + "\n"


def revenue(day: str, customer: str, amount: str, stream: str = "Usage", **meta: str) -> str:
    """A hand-written revenue transaction (the revenue plugin is tested elsewhere)."""
    component = customer.title()
    posting_meta = "".join(f'    {k}: "{v}"\n' for k, v in meta.items())
    return (f'{day} * "{customer}" "revenue"\n  customer: "{customer}"\n  rule: "usage"\n'
            f"  Assets:Unbilled:{component}  {amount} USD\n"
            f"  Income:Revenue:{stream}  -{amount} USD\n{posting_meta}")


def bill_line(day: str, provider: str, amount: str, key: str, label: str = "line") -> str:
    return (f'{day} custom "provider-bill" "{provider}" "{label}" {amount} USD\n'
            f'  bill_key: "{key}"\n')


def generated(entries: list, rule: str) -> list[data.Transaction]:
    return [e for e in entries if isinstance(e, data.Transaction) and e.meta.get("rule") == rule]


def balance(entries: list, account_prefix: str, start: str | None = None,
            end: str | None = None) -> Decimal:
    """The sum of postings under ``account_prefix`` dated in [start, end)."""
    total = Decimal(0)
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        day = entry.date.isoformat()
        if (start and day < start) or (end and day >= end):
            continue
        for posting in entry.postings:
            if posting.account == account_prefix or posting.account.startswith(account_prefix + ":"):
                total += posting.units.number
    return total
