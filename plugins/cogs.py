"""Book the inference cost (COGS) of all usage, and the providers' bills against it.

    plugin "tokenbooks.plugins.cogs" "{'contracts': 'contracts', 'period': 'month'}"

Runs after ``tokenbooks.plugins.contracts`` (which opens the provider accounts) and the
revenue plugin. ``period`` is the posting period, ``month`` (default) or ``day``.

**Attributed cost.** Every ``custom "usage"`` entry with tokens is costed with the cost
table in force on its date (``tokenbooks.plugins.rules.cogs``), billable or not. One
transaction per customer and posting period, one ``Expenses:COGS:Inference:<Provider>``
posting per model, feature, action served and cost version, with posting metadata that
beanquery and Fava can group on (``model``, ``feature``, ``action``, ``billable``), and one
``Liabilities:Payable:<Provider>`` posting per provider:

    2026-01-31 * "Globex Inc" "Inference cost 2026-01" ^globex-2026 ^bill-openai-2026-01
      customer: "globex"
      contract: "globex-2026"
      rule: "cogs"
      period: "2026-01"
      usage_entries: 2
      first_usage: "imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount:12"
      last_usage: "imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount:57"
      Expenses:COGS:Inference:Openai     0.58 USD
        model: "gpt-4o"
        feature: "chat"
        input_tokens: 120000
        cached_input_tokens: 20000
        output_tokens: 30000
        exact_cost: "0.575"
        cost_version: "openai 2026-01-01"
      Expenses:COGS:Inference:Openai     0.01 USD
        model: "gpt-4o"
        feature: "retry"
        billable: FALSE
        ...
      Liabilities:Payable:Openai        -0.59 USD

    SELECT meta('model'), meta('feature'), sum(position)
      WHERE account ~ '^Expenses:COGS:Inference' AND entry_meta('customer') = 'globex'
      GROUP BY 1, 2

The transaction is dated on the last usage day it covers.

**Provider bills.** The bill lines the provider cost importers write (``custom
"provider-bill"``, see ``tokenbooks.plugins.entries.bills``) are added up per provider
and period, rounded to the cent, and booked on the period's last day. The bill clears the
cost attributed to that provider's usage in the period (the accruals above) and whatever
the bill has beyond it, or short of it, is ``Expenses:COGS:Unattributed:<Provider>``:

    2026-01-31 * "openai" "Provider bill 2026-01" ^bill-openai-2026-01
      rule: "provider-bill"
      provider: "openai"
      period: "2026-01"
      Liabilities:Payable:Openai            100.00 USD   ; role: "accrual-cleared"
      Expenses:COGS:Unattributed:Openai      50.00 USD
      Liabilities:Payable:Openai           -150.00 USD   ; role: "bill"

**Promotional credits** (docs/grants.md). The cost of the usage a promotional grant's
credits covered is moved from ``Expenses:COGS:Inference:<Provider>`` to
``Expenses:Marketing:Promotional-Credits`` (``rule: promotional``, one transaction per
customer and period, a posting pair per lot and provider): the cost is still accrued
against the provider (the bill still ties), and counted once, as marketing.

A bill line of a closed month that arrived after its close (a late bill, or a re-issued
line correcting a closed month's bill: ``prior_period`` metadata, ``importers.late``)
is in the open month's bill; its amount is a posting of its own to
``Expenses:COGS:Unattributed:<Provider>`` with ``prior_period``: a prior-period
adjustment of COGS, booked in the open month. When the closed month had no bill of its
own (it closed "accrued, bill pending"), the late lines first clear that month's
accrual (a ``Liabilities:Payable`` posting, ``role: "accrual-cleared"``, with
``prior_period``) and only the difference is the true-up; the transaction links the
closed month's bill (``^bill-openai-2026-01``):

    2026-02-28 * "openai" "Provider bill 2026-02" ^bill-openai-2026-02 ^bill-openai-2026-01
      Liabilities:Payable:Openai          80.00 USD   ; role: "accrual-cleared"
      Liabilities:Payable:Openai         100.00 USD   ; accrual-cleared, prior_period 2026-01
      Expenses:COGS:Unattributed:Openai    3.00 USD   ; prior_period: "2026-01" (true-up)
      Liabilities:Payable:Openai        -183.00 USD   ; role: "bill"

**No cost tables.** A book whose ``contracts/costs/`` is empty has no COGS set up: the
stage books nothing and says so once, a ``custom "tokenbooks" "warning"`` entry dated
on the first usage ("COGS not configured: ..."), instead of an error per usage entry.
As soon as one cost table exists, every model no table prices is an error again.

Computing the remainder at load time, rather than in the importer, keeps it right when
usage of a billed period arrives after the bill: the next load settles it again. After the
bill the payable is what the provider invoiced; paying it is an ordinary transaction.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

from beancount.core import data

from . import config as settings
from .entries.bills import bill_lines
from .entries.build import posting, ref_order, relative_ref, transaction, value
from .entries.fx import at_date_rate, rates_of
from .entries.usage import REF
from .errors import CogsError, PluginError, at
from .load import Load, no_cyclic_gc
from .rules import accounts
from .rules.bills import Settlement, collect, settle
from .rules.cogs import (
    CostLine,
    PromotionalCost,
    attribute_usages,
    attributed_by_provider,
    exact_text,
    promotional_costs,
)
from .rules.model import ContractSet
from .rules.periods import period_end

__plugins__ = ("cogs",)

PLUGIN = settings.COGS
NOT_CONFIGURED = ("COGS not configured: no cost tables in contracts/costs/ (usage is not "
                  "costed; add a cost table per provider to book inference cost)")


def cogs(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin. A malformed usage entry is left to the revenue plugin when the book
    has its plugin line (it is reported once)."""
    parsed, errors = settings.parse(config, PLUGIN)
    load, more = Load.attach(options_map, parsed)
    if "period" in parsed.invalid:
        return entries, [*errors, *more]  # no posting period to book in
    quiet = settings.runs(options_map, [settings.REVENUE])
    new, found = stage(load, entries, parsed, quiet)
    return entries + new, [*errors, *more, *found]


def stage(load: Load, entries: data.Directives, config: settings.PluginConfig,
          quiet: bool) -> tuple[list[data.Directive], list[PluginError]]:
    """The cost and provider-bill transactions of the book, and the errors. ``quiet``:
    malformed usage entries are another stage's to report."""
    with no_cyclic_gc():
        return _stage(load, entries, config, quiet)


def _stage(load: Load, entries: data.Directives, config: settings.PluginConfig,
           quiet: bool) -> tuple[list[data.Directive], list[PluginError]]:
    errors: list[PluginError] = []
    here = at(f"<{PLUGIN}>")
    contracts = load.contracts
    grain = config.period
    table = load.usage_table(entries)
    if not quiet:
        errors += [CogsError(entry.meta, f"usage entry not costed: {message}", entry)
                   for entry, message in table.bad]
    if not contracts.costs:  # COGS not set up: one notice, no cost, no error per entry
        first = table.entries[0] if table.entries else None
        if first is None:
            return [], errors
        notice = data.Custom(
            data.new_metadata(f"<{PLUGIN}>", 0, {"rule": "cogs"}), first.date, "tokenbooks",
            [value("warning"), value(NOT_CONFIGURED)])
        return [notice], errors
    lines, issues = attribute_usages(table.rows, contracts, grain, load.served(entries))
    if issues:  # rare: find the entries they name
        by_ref = {row[REF]: entry for entry, row in
                  zip(table.entries, table.rows, strict=True)}
        for issue in issues:
            entry = by_ref.get(issue.ref)
            errors.append(CogsError(entry.meta if entry else here, issue.message, entry))
    new: list[data.Directive] = [_cost_transaction(group, contracts, load)
                                 for group in _by_customer_period(lines)]
    new += _promotional_transactions(load, table.rows, contracts, grain)
    settlements, bill_errors = _settlements(entries, lines, contracts, grain)
    errors += bill_errors
    new += [_bill_transaction(s) for s in settlements if _has_amounts(s)]
    if load.operating and any(t.currency != load.operating for t in contracts.costs.values()):
        # a provider billing in another currency: at the rate of the bill's (and the
        # accrual's) date, in the operating currency (docs/currency.md)
        new, missing = at_date_rate(new, load.operating, rates_of(entries),
                                    lambda e: _bill_day(e, grain))
        errors += [CogsError(entry.meta, f"provider cost: {e}", entry)
                   for entry, e in missing]
    return new, errors


def _promotional_transactions(load: Load, rows: Any, contracts: ContractSet, grain: str
                              ) -> list[data.Transaction]:
    """The cost of usage covered by promotional credits, moved from COGS to marketing
    (docs/grants.md): one transaction per customer and period, ``rule: promotional``."""
    if load.revenue is None:
        return []
    shares: dict[tuple[str, datetime.date, str], dict[str, Fraction]] = {}
    per_user: set[str] = set()
    for run in load.revenue.runs.values():
        owner = run.contract.customer
        if run.per_user:
            per_user.add(owner)
        for (day, user), found in run.promotional.items():
            shares.setdefault((owner, day, user), {}).update(found)
    costs = [c for c in promotional_costs(rows, contracts, shares, per_user, grain)
             if c.amount]
    groups: dict[tuple[str, str], list[PromotionalCost]] = defaultdict(list)
    for cost in costs:
        groups[(cost.customer, cost.period)].append(cost)
    out = []
    for (customer_id, period), items in sorted(groups.items()):
        customer = contracts.customers.get(customer_id)
        last_day = max(c.last_day for c in items)
        contract = customer.contract_on(last_day) if customer else None
        meta: dict[str, object] = {"customer": customer_id}
        if contract:
            meta["contract"] = contract.id
        meta.update({"rule": "promotional", "period": period,
                     "lots": " ".join(sorted({c.lot for c in items}))})
        postings = []
        for c in items:
            postings.append(posting(accounts.MARKETING_PROMOTIONAL, c.amount, c.currency,
                                    {"lot": c.lot, "provider": c.provider,
                                     "exact_cost": exact_text(c.exact),
                                     "usage_entries": Decimal(c.usage_entries)}))
            postings.append(posting(accounts.cogs_inference(c.provider), -c.amount,
                                    c.currency, {"lot": c.lot}))
        links = {c.lot for c in items} | ({contract.id} if contract else set())
        out.append(transaction(meta, last_day, customer.name if customer else customer_id,
                               f"Promotional credits {period}: their usage's inference "
                               f"cost is a marketing expense", postings, sorted(links),
                               filename=f"<{PLUGIN}>"))
    return out


def _by_customer_period(lines: list[CostLine]) -> list[list[CostLine]]:
    groups: dict[tuple[str, str], list[CostLine]] = defaultdict(list)
    for line in lines:
        groups[(line.customer, line.period)].append(line)
    return [groups[key] for key in sorted(groups)]


def bill_link(provider: str, period: str) -> str:
    return f"bill-{provider}-{period}"


def _cost_transaction(lines: list[CostLine], contracts: ContractSet, load: Load
                      ) -> data.Transaction:
    first = lines[0]
    customer = contracts.customers.get(first.customer)
    last_day = max(line.last_day for line in lines)
    contract = customer.contract_on(last_day) if customer else None
    meta: dict[str, object] = {"customer": first.customer}
    if contract:
        meta["contract"] = contract.id
    meta.update({"rule": "cogs", "period": first.period,
                 "usage_entries": Decimal(sum(line.usage_entries for line in lines)),
                 "first_usage": relative_ref(min(
                     lines, key=lambda x: (x.first_day, ref_order(x.first_ref))).first_ref,
                     load.root),
                 "last_usage": relative_ref(max(
                     lines, key=lambda x: (x.last_day, ref_order(x.last_ref))).last_ref,
                     load.root)})
    postings: list[data.Posting] = []
    payable: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        leg = posting(accounts.cogs_inference(line.provider), line.amount, line.currency)
        postings.append(leg._replace(meta=_line_meta(line)))
        payable[(line.provider, line.currency)] += line.amount
    for (provider, currency), amount in sorted(payable.items()):
        postings.append(posting(accounts.payable(provider), -amount, currency))
    links = {bill_link(p, first.period) for p, _ in payable}
    if contract:
        links.add(contract.id)
    return transaction(meta, last_day, customer.name if customer else first.customer,
                       f"Inference cost {first.period}", postings, sorted(links),
                       filename=f"<{PLUGIN}>")


def _line_meta(line: CostLine) -> dict[str, object]:
    meta: dict[str, object] = {"model": line.model, "feature": line.feature}
    if line.action:
        meta["action"] = line.action
    if line.logged:
        meta["logged_model"] = line.logged
    if not line.billable:
        meta["billable"] = False
    meta.update({
        "input_tokens": Decimal(line.input_tokens),
        "cached_input_tokens": Decimal(line.cached_input_tokens),
        "output_tokens": Decimal(line.output_tokens),
        "events": Decimal(line.events),
        "exact_cost": exact_text(line.exact),
        "cost_version": f"{line.provider} {line.version.isoformat()}",
    })
    return meta


def _settlements(entries: data.Directives, lines: list[CostLine], contracts: ContractSet,
                 grain: str) -> tuple[list[Settlement], list[PluginError]]:
    found, bad = bill_lines(entries)
    errors: list[PluginError] = [
        CogsError(entry.meta, f"provider bill line not booked: {msg}", entry)
        for entry, msg in bad]
    seen: dict[str, data.Custom] = {}
    kept = []
    for line, entry in found:
        if line.key in seen:
            other = seen[line.key].meta
            errors.append(CogsError(entry.meta, (
                f"provider bill line {line.key!r} is also at {other.get('filename')}:"
                f"{other.get('lineno')}; expected each report line once (not counted twice)"),
                entry))
            continue
        if line.provider not in contracts.costs:
            known = ", ".join(sorted(contracts.costs)) or "none"
            errors.append(CogsError(entry.meta, (
                f"provider bill of {line.provider!r}: no cost table contracts/costs/"
                f"{line.provider}.yaml (expected one of: {known})"), entry))
            continue
        if line.currency != contracts.costs[line.provider].currency:
            errors.append(CogsError(entry.meta, (
                f"provider bill of {line.provider!r} in {line.currency}; expected the cost "
                f"table's currency {contracts.costs[line.provider].currency}"), entry))
            continue
        seen[line.key] = entry
        kept.append(line)
    bills, problems = collect(kept, grain)
    errors += [CogsError(at(f"<{PLUGIN}>"), problem, None) for problem in problems]
    return settle(bills, attributed_by_provider(lines)), errors


def _bill_day(entry: data.Transaction, grain: str) -> datetime.date:
    """The day whose rate converts a foreign-currency cost: the end of its posting
    period, the date of the period's bill (a bill's own entry is on it)."""
    return entry.date if grain == "day" else period_end(entry.date, "month")


def _has_amounts(settlement: Settlement) -> bool:
    return bool(settlement.bill.amount or settlement.attributed)


def _bill_transaction(settlement: Settlement) -> data.Transaction:
    bill = settlement.bill
    currency = bill.currency
    meta: dict[str, object] = {
        "rule": "provider-bill", "provider": bill.provider, "period": bill.period,
        "bill_lines": Decimal(bill.lines), "bill_exact": exact_text(bill.exact),
        "first_day": bill.first_day, "last_day": bill.last_day,
        "attributed": settlement.attributed, "unattributed": settlement.unattributed,
    }
    legs = []
    if settlement.attributed:
        legs.append(_role(posting(accounts.payable(bill.provider), settlement.attributed,
                                  currency), "accrual-cleared"))
    for period, accrued in settlement.cleared:  # a closed month's accrual, its bill late
        legs.append(posting(accounts.payable(bill.provider), accrued, currency,
                            {"role": "accrual-cleared", "prior_period": period}))
    current = settlement.unattributed
    exact_of = dict(bill.prior)
    for period, _lines, true_up in settlement.true_ups():  # prior-period COGS
        if true_up:
            legs.append(posting(accounts.cogs_unattributed(bill.provider), true_up, currency,
                                {"prior_period": period,
                                 "exact_cost": exact_text(exact_of[period])}))
            current -= true_up
    if current:
        legs.append(posting(accounts.cogs_unattributed(bill.provider), current, currency))
    if bill.amount:
        legs.append(_role(posting(accounts.payable(bill.provider), -bill.amount, currency),
                          "bill"))
    links = [bill_link(bill.provider, bill.period),
             *(bill_link(bill.provider, period) for period, _ in bill.prior)]
    return transaction(meta, bill.end, bill.provider, f"Provider bill {bill.period}", legs,
                       links, filename=f"<{PLUGIN}>")


def _role(leg: data.Posting, role: str) -> data.Posting:
    return leg._replace(meta={"role": role})

