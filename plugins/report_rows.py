"""Plain rows of a loaded book for the reports (``tokenbooks.plugins.rules.profitability``).

Walks the entries once (after the plugins ran) and keeps the postings the profitability
report sums: revenue (``Income:Revenue:*``), attributed cost
(``Expenses:COGS:Inference:*``) and unattributed cost (``Expenses:COGS:Unattributed:*``),
with the transaction's ``customer`` and the posting's (else the transaction's)
``model``, ``feature`` and ``action`` metadata; plus the action counts of the usage
sub-ledger. The same rows can be had with beanquery, e.g.

    SELECT entry_meta('customer') AS customer, meta('model') AS model, sum(number)
      WHERE account ~ '^Expenses:COGS:Inference' AND year = 2026 AND month = 1
      GROUP BY customer, model
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal

from beancount.core import data

from .ledger import USAGE, usage_from_entry
from .rules.cogs import CostInput, workflow_actions
from .rules.model import ContractSet
from .rules.pricing import Pricer, PricingError
from .rules.profitability import INFERENCE, REVENUE, UNATTRIBUTED, ActionCount, Row, Weight

ROOTS = (REVENUE, INFERENCE, UNATTRIBUTED)


def _meta(posting: data.Posting, entry: data.Transaction, key: str) -> str | None:
    for meta in (posting.meta, entry.meta):
        if meta and key in meta and meta[key] is not None:
            return str(meta[key])
    return None


def _tokens(posting: data.Posting) -> int:
    meta = posting.meta or {}
    total = 0
    for key in ("input_tokens", "output_tokens"):
        value = meta.get(key)
        if isinstance(value, (int, Decimal)):
            total += int(value)
    return total


def _wanted(account: str) -> bool:
    return any(account == root or account.startswith(root + ":") for root in ROOTS)


def profitability_rows(entries: Iterable[data.Directive],
                       start: datetime.date | None = None, end: datetime.date | None = None
                       ) -> tuple[list[Row], list[ActionCount]]:
    """The revenue and cost postings, and action counts, dated in [start, end)."""
    rows: list[Row] = []
    counts: list[ActionCount] = []
    for entry in entries:
        if (start and entry.date < start) or (end and entry.date >= end):
            continue
        if isinstance(entry, data.Transaction):
            customer = entry.meta.get("customer")
            for posting in entry.postings:
                if posting.units is None or not _wanted(posting.account):
                    continue
                billable = (posting.meta or {}).get("billable", True)
                rows.append(Row(
                    date=entry.date, account=posting.account, amount=posting.units.number,
                    currency=posting.units.currency,
                    customer=str(customer) if customer else "",
                    model=_meta(posting, entry, "model"),
                    feature=_meta(posting, entry, "feature"),
                    action=_meta(posting, entry, "action"),
                    tokens=_tokens(posting), billable=billable is not False,
                ))
        elif isinstance(entry, data.Custom) and entry.type == USAGE:
            try:
                usage = usage_from_entry(entry)
            except ValueError:
                continue  # the plugins report malformed usage entries
            if usage.action:
                done = usage.completed + usage.partial + usage.failed
                counts.append(ActionCount(usage.date, usage.customer, usage.action,
                                          done or usage.events))
    return rows, counts


def revenue_weights(entries: Iterable[data.Directive], contracts: ContractSet,
                    start: datetime.date | None = None, end: datetime.date | None = None
                    ) -> list[Weight]:
    """The value at contract rates of each usage entry in [start, end), for allocating
    revenue to models, features and actions (``rules.profitability``).

    The action a token aggregate served is its own action, else that of its ``workflow``
    (as for cost). Usage that cannot be priced has no weight (the revenue plugin reports it).
    """
    inputs = []
    for entry in entries:
        if (isinstance(entry, data.Custom) and entry.type == USAGE
                and not (start and entry.date < start) and not (end and entry.date >= end)):
            try:
                usage = usage_from_entry(entry)
            except ValueError:
                continue
            workflow = entry.meta.get("workflow")
            inputs.append(CostInput(usage, workflow if isinstance(workflow, str) else ""))
    served, _ = workflow_actions(inputs)
    pricers: dict[str, Pricer] = {}
    weights = []
    for item in inputs:
        usage = item.usage
        customer = contracts.customers.get(usage.customer)
        contract = customer.contract_on(usage.date) if customer else None
        book = contracts.price_books.get(contract.price_book) if contract else None
        if contract is None or book is None:
            continue
        pricer = pricers.setdefault(contract.id, Pricer(contract, book))
        try:
            priced = pricer.price(usage)
        except PricingError:
            continue
        action = usage.action or served.get((usage.customer, item.workflow), "")
        for stream, value in (("Usage", priced.tokens), ("Actions", priced.actions)):
            if value:
                weights.append(Weight(usage.date, usage.customer, stream, usage.model,
                                      usage.feature, action, value))
    return weights
