"""Validate the contracts and open the accounts they imply.

    plugin "tokenbooks.plugins.contracts" "{'contracts': 'contracts'}"

Loads every YAML file of the contracts folder (customers, price books, cost tables),
reports each problem as a ``bean-check`` error at the YAML file and line, and adds the
files to the include list so that editing a contract makes Beancount and Fava reload.

It also opens, for each customer, the accounts of the public interface on the
customer's first contract start, unless the book opens them itself:

    ; contracts/customers/acme.yaml: customer acme, first contract starts 2026-01-01
    2026-01-01 open Assets:Receivable:Acme
    2026-01-01 open Assets:Unbilled:Acme
    2026-01-01 open Assets:Contract-Assets:Acme
    2026-01-01 open Liabilities:Deferred-Revenue:Acme

and, for each provider with a cost table, ``Expenses:COGS:Inference:<Provider>``,
``Expenses:COGS:Unattributed:<Provider>`` and ``Liabilities:Payable:<Provider>`` from
its first cost version.
"""

from __future__ import annotations

from typing import Any

from beancount.core import data

from . import common
from .rules import accounts

__plugins__ = ("contracts",)


def contracts(entries: data.Directives, options_map: dict[str, Any],
              config: str | None = None) -> tuple[data.Directives, list]:
    settings, errors = common.parse_config(config, common.CONTRACTS_PLUGIN)
    book, contract_errors = common.load(options_map, settings)
    errors += common.contract_errors(contract_errors, options_map)

    opened = {e.account for e in entries if isinstance(e, data.Open)}
    new: list[data.Directive] = []

    def open_account(account: str, date, source: str, currency: str | None) -> None:
        if account in opened:
            return
        opened.add(account)
        meta = data.new_metadata(source, 0, {"generated_by": "tokenbooks.plugins.contracts"})
        new.append(data.Open(meta, date, account, [currency] if currency else None, None))

    for customer in sorted(book.customers.values(), key=lambda c: c.id):
        first = min(customer.contracts, key=lambda c: c.start)
        for account in accounts.customer_accounts(customer.id):
            open_account(account, first.start, customer.source, None)
    for provider, table in sorted(book.costs.items()):
        for account in accounts.provider_accounts(provider):
            open_account(account, table.versions[0].effective, table.source, None)
    return entries + new, errors
