"""The contract engine run again, in memory, over a loaded book's usage and purchases:
for the what-if (other contracts) and the forecast (an earlier as-of date).

The usage and purchases are the ones the load parsed (``Load.usage``, ``Load.purchases``),
routed to contracts exactly as the revenue stage routes them (the contract in force on
the usage's day; the purchase's contract), and ``rules.engine.run_contract`` is called
per contract in the same order. Nothing is written and the load is left as it was.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from ..entries.cutover import at_cutover, cutover_of
from ..entries.usage import _new_usage
from ..rules.engine import ContractRun, run_contract
from ..rules.fx import price_book_for
from ..rules.model import Contract, ContractSet
from ..rules.records import Purchase, Usage
from .ledger import Ledger

PurchaseMap = Callable[[Contract, Purchase], Purchase]


@dataclass
class Runs:
    """The engine's runs of some customers' contracts, by contract id."""

    runs: dict[str, ContractRun] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def of(self, customer: str) -> list[ContractRun]:
        return [run for run in self.runs.values() if run.contract.customer == customer]


def usage_of(ledger: Ledger, customers: Collection[str],
             first: datetime.date | None = None, last: datetime.date | None = None
             ) -> list[Usage]:
    """The usage records of ``customers`` (dated in [first, last] when given), book order."""
    new = _new_usage
    rows = ledger.usage.rows
    return [new(Usage, row) for row in rows if row[1] in customers
            and (first is None or row[0] >= first) and (last is None or row[0] <= last)]


def served_of(ledger: Ledger) -> dict[str, dict[str, str]]:
    served: dict[str, dict[str, str]] = defaultdict(dict)
    for (customer, workflow), action in ledger.load.served(ledger.entries)[0].items():
        served[customer][workflow] = action
    return served


def run(ledger: Ledger, contracts: ContractSet, customers: Collection[str],
        as_of: datetime.date | None = None, purchase_map: PurchaseMap | None = None,
        usages: list[Usage] | None = None) -> Runs:
    """Run the contracts of ``customers`` (of ``contracts``, which may be a proposal's)
    over the book's usage and purchases up to ``as_of`` (the load's by default).
    ``purchase_map`` may restate a purchase for its contract (re-sized packs)."""
    out = Runs()
    revenue = ledger.revenue
    as_of = as_of or revenue.as_of
    wanted = set(customers)
    by_contract: dict[str, list[Usage]] = defaultdict(list)
    cache: dict[tuple[str, datetime.date], Contract | None] = {}
    for usage in usages if usages is not None else usage_of(ledger, wanted):
        key = (usage.customer, usage.date)
        if key not in cache:
            customer = contracts.customers.get(usage.customer)
            cache[key] = customer.contract_on(usage.date) if customer is not None else None
        contract = cache[key]
        if contract is None:
            out.errors.append(f"usage of {usage.customer!r} on {usage.date}: no contract in "
                              f"force")
            continue
        by_contract[contract.id].append(usage)
    bought: dict[str, list[Purchase]] = defaultdict(list)
    for purchase, _ in ledger.load.purchases or []:
        if purchase.customer not in wanted:
            continue
        found = contracts.customers.get(purchase.customer)
        contract = found.contract_for(purchase.contract, purchase.date) if found else None
        if contract is None:
            out.errors.append(f"purchase of {purchase.customer!r} on {purchase.date}: no "
                              f"contract {purchase.contract!r}")
            continue
        bought[contract.id].append(purchase_map(contract, purchase) if purchase_map
                                   else purchase)
    served: Mapping[str, dict[str, str]] = served_of(ledger)
    cutover = cutover_of(ledger.entries)  # a book opened from balances (rules.cutover)
    for customer_id in sorted(wanted):
        customer = contracts.customers.get(customer_id)
        if customer is None:
            continue
        for contract in sorted(customer.contracts, key=lambda c: c.start):
            price_book = contracts.price_books.get(contract.price_book)
            if price_book is None or contract.start > as_of:
                continue
            contract = at_cutover(contract, cutover)
            result = run_contract(contract, price_book_for(price_book, contract),
                                  by_contract.get(contract.id, []),
                                  bought.get(contract.id, []), as_of, revenue.posting,
                                  customer.name, served.get(customer_id))
            out.runs[contract.id] = result
            out.errors += [f"{e.customer} {e.date}: {e.message}" for e in result.errors]
    return out
