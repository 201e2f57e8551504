"""Validate the contracts and open the accounts they imply.

    plugin "tokenbooks.plugins.contracts" "{'contracts': 'contracts'}"

Loads every YAML file of the contracts folder (customers, price books, cost tables),
reports each problem as a ``bean-check`` error at the YAML file and line, and adds the
files to the include list so that editing a contract makes Beancount and Fava reload.
It is the first stage of a load: the contracts it reads are the load's
(``tokenbooks.plugins.load``), for every later stage.

It also opens, for each customer, the accounts of the public interface on the
customer's first contract start, unless the book opens them itself:

    ; contracts/customers/acme.yaml: customer acme, first contract starts 2026-01-01
    2026-01-01 open Assets:Receivable:Acme
    2026-01-01 open Assets:Unbilled:Acme
    2026-01-01 open Assets:Contract-Assets:Acme
    2026-01-01 open Liabilities:Deferred-Revenue:Acme
    2026-01-01 open Liabilities:Customer-Credits:Acme    ; cash held for the customer

and, for each provider with a cost table, ``Expenses:COGS:Inference:<Provider>``,
``Expenses:COGS:Unattributed:<Provider>`` and ``Liabilities:Payable:<Provider>`` from
its first cost version. With ``option "documents" "documents"``, the documents archived
under the accounts it opens (``documents/Liabilities/Payable/Openai/...``, the provider
bills the importers archive) become ``document`` entries, as Beancount makes them for
the accounts the book opens itself (Fava's Documents page lists them all).
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from beancount.core import data
from beancount.ops import documents

from . import config as settings
from . import lock
from .errors import PluginError
from .load import Load
from .rules import accounts

__plugins__ = ("contracts",)

PLUGIN = settings.CONTRACTS


def contracts(entries: data.Directives, options_map: dict[str, Any],
              config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin."""
    parsed, errors = settings.parse(config, PLUGIN)
    load, more = Load.attach(options_map, parsed)
    new, found = stage(load, entries, options_map)
    return entries + new, [*errors, *more, *found]


def stage(load: Load, entries: data.Directives, options_map: dict[str, Any]
          ) -> tuple[list[data.Directive], list[PluginError]]:
    """The entries this stage adds (open directives, documents) and the contracts' errors."""
    errors: list[PluginError] = list(load.contract_file_errors())
    errors += lock.evidence_without_lock(options_map)
    opened = {e.account for e in entries if isinstance(e, data.Open)}
    new: list[data.Directive] = []

    def open_account(account: str, date: datetime.date, source: str) -> None:
        if account in opened:
            return
        opened.add(account)
        meta = data.new_metadata(source, 0, {"generated_by": PLUGIN})
        # no currency constraint, as an open directive written without one has
        new.append(data.Open(meta, date, account, None, None))  # type: ignore[arg-type]

    contract_set = load.contracts
    starts = sorted((c.start, customer.source) for customer in contract_set.customers.values()
                    for c in customer.contracts)
    if starts:  # at the first contract's file, on its start
        for account in accounts.LATER_GENERAL_ACCOUNTS:
            open_account(account, *starts[0])
    for customer in sorted(contract_set.customers.values(), key=lambda c: c.id):
        first = min(customer.contracts, key=lambda c: c.start)
        for account in accounts.customer_accounts(customer.id):
            open_account(account, first.start, customer.source)
        for account in accounts.later_customer_accounts(customer.id):  # Customer-Credits
            open_account(account, first.start, customer.source)
        for contract in sorted(customer.contracts, key=lambda c: c.start):
            if load.operating and contract.currency != load.operating:  # docs/currency.md
                for account in (*accounts.FX_ACCOUNTS, accounts.fx_revaluation(customer.id)):
                    open_account(account, contract.start, customer.source)
            for pack in contract.packs.values():  # Liabilities:Unclaimed-Property:<J>
                if pack.unclaimed_property is not None:
                    open_account(pack.unclaimed_property.account, contract.start,
                                 customer.source)
    for provider, table in sorted(contract_set.costs.items()):
        for account in accounts.provider_accounts(provider):
            open_account(account, table.versions[0].effective, table.source)
    # Beancount made the document entries of the accounts the book opens before the
    # plugins ran; those of the accounts opened here are made here.
    mine = {entry.account for entry in new if isinstance(entry, data.Open)}
    if mine and options_map.get("documents"):
        filename = options_map["filename"]
        for folder in map(os.path.normpath, options_map["documents"]):
            found, problems = documents.find_documents(folder, filename, mine)
            new += found
            errors += [PluginError(p.source, p.message, p.entry) for p in problems]
    return new, errors
