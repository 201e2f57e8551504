"""Inference cost (COGS) of usage: what each customer's tokens cost us, to the cent.

Pure rules over plain data (no Beancount import). ``tokenbooks.plugins.cogs`` books
what they compute.

* **Which provider.** A model is priced by the cost table (``contracts/costs/<provider>.yaml``)
  that lists it, or lists it under ``aliases`` (model id as logged -> model id of the
  table), on the usage's date. The logged id is resolved by ``rules.models``, the
  resolver pricing shares: the id, then the base id of a dated snapshot
  (``gpt-4o-2024-08-06``, ``claude-sonnet-4-5-20250929``), then the id without its
  provider prefix (``openai/gpt-4o``, ``bedrock/anthropic.claude-...-v1:0``); at each
  step the tables' aliases, then the price books' aliases (one identity: a price-book
  alias names the model for cost too), then the tables' models. A cost line names the
  table's model and, in ``logged``, the ids as logged that it folds in. A model no
  table prices on its date is an error naming the model as logged, customer and date:
  a missing cost is never zero.
* **What it costs.** ``(uncached input x input + cached input x cached_input + output x
  output) / per``, exactly (``Fraction``), with the rates of the table version in force on
  the usage's date. Every usage costs, billable or not: a feature the contract marks
  non-billable (``retry``, ``embedding``) and usage blocked by a hard stop are costed
  like any other; the line says ``billable=False`` for the former.
* **Token classes.** Cache writes, a service tier, the long-context band and server-tool
  calls are costed each at the cost table's own rate for it (``rules.classes``; a missing
  rate is an error naming it). Usage the gateway served from its own cache
  (``cache_hit``) made no provider call and costs nothing: it gets no cost line.
* **Rounding.** Lines are grouped per customer, posting period (month or day), provider,
  model, feature, action served and cost version. Within one customer/provider/period the
  lines are rounded cumulatively (ROUND_HALF_UP): line *i* gets round(sum of exact costs
  of lines 1..i) - round(sum of lines 1..i-1), so the period's total for that customer and
  provider is the rounded exact total, to the cent, whatever the number of lines.
* **Action served.** A usage aggregate that carries an action and tokens served that
  action. Otherwise its ``workflow`` (entry metadata), when an action aggregate of the
  same customer carries the same ``workflow``, ties its cost to that action type.

    usage: acme, 2026-01-05, gpt-4o, chat: 120,000 input (20,000 cached), 30,000 output
    openai 2026-01-01: gpt-4o {input: 2.50, cached_input: 1.25, output: 10.00} per 1M
    -> (100,000 x 2.50 + 20,000 x 1.25 + 30,000 x 10.00) / 1,000,000 = 0.575 -> 0.58 USD
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from .classes import class_value
from .model import ContractSet, ModelRates, PriceBook, PriceBookVersion
from .models import resolve_first, tried
from .periods import posting_period
from .records import Usage
from .rounding import Cumulative

PERIODS = ("month", "day")
# What a (model, day) resolves to (``_resolve``): provider, model id of the table, table,
# version, posting period label, posting period end.
_Target = tuple[str, str, PriceBook, PriceBookVersion, str, datetime.date]
# A group of usage: customer, target number, feature, action served, billable.
_GroupKey = tuple[str, int, str, str, bool]
# A cost line's sort key: customer, period, provider, model, feature, action,
# not billable, version, currency.
_LineKey = tuple[str, str, str, str, str, str, bool, datetime.date, str]


class CostInput(NamedTuple):
    """One usage aggregate and the workflow it belongs to (entry metadata, optional).

    A NamedTuple: a book makes one per usage entry at every load."""

    usage: Usage
    workflow: str = ""


@dataclass(frozen=True)
class CostIssue:
    """Why a usage aggregate could not be costed. ``ref`` is the entry's ``file:line``."""

    ref: str
    message: str


@dataclass(frozen=True)
class CostLine:
    """The cost of the usage of one customer, period, provider, model, feature, action."""

    customer: str
    period: str  # "2026-01" (month) or "2026-01-05" (day)
    provider: str
    model: str  # the model id of the cost table
    feature: str
    action: str  # the action type this usage served, "" if none is known
    billable: bool
    version: datetime.date  # effective date of the cost table version applied
    currency: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    events: int
    usage_entries: int
    first_day: datetime.date
    last_day: datetime.date
    exact: Fraction
    first_ref: str = ""  # the first and last usage entries (file:line), for provenance
    last_ref: str = ""
    amount: Decimal = Decimal(0)  # rounded cumulatively within customer/provider/period
    logged: str = ""  # the model ids as logged, when not ``model``: sorted, comma-separated

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def exact_text(value: Fraction | Decimal, places: int = 12) -> str:
    """An exact amount as fixed-point text, at most ``places`` decimals, for metadata.

    Text rather than a number: Beancount prints a Decimal under 1e-6 as ``1E-7``, which
    does not parse back.
    """
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def resolve_model(costs: Mapping[str, PriceBook], model: str, day: datetime.date,
                  aliases: Mapping[str, str] | None = None
                  ) -> tuple[str, str, PriceBook] | None:
    """(provider, model id of the table, table) pricing ``model`` on ``day``, or None.

    ``rules.models.resolve_first`` over the tables in provider name order (each with
    its aliases), then ``aliases`` (the price books', ``price_book_aliases``) against
    every table: the model itself, its snapshot base, the id without its prefix.
    """
    tables = sorted(costs.items())

    def knows(table: PriceBook) -> Callable[[str], bool]:
        return lambda name: table.rates_on(name, day) is not None

    books: list[tuple[Callable[[str], bool], Mapping[str, str]]] = [
        (knows(table), table.aliases) for _, table in tables]
    if aliases:
        books += [(knows(table), aliases) for _, table in tables]
    found = resolve_first(model, books)
    if found is None:
        return None
    index, resolved = found
    provider, table = tables[index % len(tables)]
    return provider, resolved.model, table


def price_book_aliases(contracts: ContractSet) -> dict[str, str]:
    """The aliases of every price book (logged id -> model id), the first price book in
    id order winning a logged id two of them name."""
    merged: dict[str, str] = {}
    for _, book in sorted(contracts.price_books.items()):
        for alias, target in sorted(book.aliases.items()):
            merged.setdefault(alias, target)
    return merged


def exact_cost(rates: ModelRates, per: int, usage: Usage,
               tools: Mapping[str, Decimal] | None = None) -> Fraction | None:
    """The exact cost of ``usage`` at ``rates`` (quoted per ``per`` tokens; ``tools``: the
    version's prices per server-tool call), or None if a class it uses has no rate. A
    gateway cache hit costs nothing."""
    if usage.cache_hit:
        return Fraction(0)
    if usage.special:
        return class_value(usage, rates, per, tools or {})[0]
    return _exact_cost(rates, per, usage.uncached_input_tokens, usage.cached_input_tokens,
                       usage.output_tokens)


def _exact_cost(rates: ModelRates, per: int, uncached: int, cached: int, output: int
                ) -> Fraction:
    # In integers over one common denominator: one Fraction made, instead of seven.
    (a, p), (b, q), (c, r) = (rates.input.as_integer_ratio(),
                              rates.cached_input.as_integer_ratio(),
                              rates.output.as_integer_ratio())
    return Fraction(uncached * a * q * r + cached * b * p * r + output * c * p * q,
                    p * q * r * per)


def workflow_actions(inputs: Iterable[CostInput]) -> tuple[dict[tuple[str, str], str],
                                                          list[CostIssue]]:
    """(customer, workflow) -> the action type that workflow served, from action aggregates."""
    return served_actions([_with_workflow(item) for item in inputs])


def _with_workflow(item: CostInput) -> Usage:
    usage = item.usage
    return usage._replace(workflow=item.workflow) if item.workflow else usage


def served_actions(usages: Iterable[Usage]) -> tuple[dict[tuple[str, str], str],
                                                      list[CostIssue]]:
    """(customer, workflow) -> the action type of the action aggregates of that workflow,
    and an issue for each workflow that serves two action types (the first one stands)."""
    found: dict[tuple[str, str], str] = {}
    refs: dict[tuple[str, str], str] = {}
    issues = []
    for usage in usages:
        workflow = usage.workflow
        if not workflow or not usage.action:
            continue
        key = (usage.customer, workflow)
        if key in found and found[key] != usage.action:
            issues.append(CostIssue(usage.ref, (
                f"workflow {workflow!r} of customer {usage.customer!r} serves action "
                f"{usage.action!r} here and {found[key]!r} at {refs[key]}; expected one "
                f"action type per workflow")))
            continue
        found[key] = usage.action
        refs[key] = usage.ref
    return found, issues


def attribute(inputs: Iterable[CostInput], contracts: ContractSet, grain: str = "month"
              ) -> tuple[list[CostLine], list[CostIssue]]:
    """The cost lines of all usage, rounded to the cent, and the usage that cannot be costed.

    Lines come out sorted by customer, period, provider, model, feature, action, version.
    """
    return attribute_usages([_with_workflow(item) for item in inputs], contracts, grain)


def attribute_usages(usages: Sequence[Usage] | Sequence[tuple[Any, ...]],
                     contracts: ContractSet, grain: str = "month",
                     served: tuple[dict[tuple[str, str], str], list[CostIssue]] | None = None
                     ) -> tuple[list[CostLine], list[CostIssue]]:
    """``attribute`` over usage records (``Usage``, or plain tuples of its fields);
    ``served``: ``served_actions`` of them when the caller has it already."""
    if grain not in PERIODS:
        raise ValueError(f"period: expected one of {', '.join(PERIODS)}, got {grain!r}")
    by_workflow, found_issues = (served if served is not None
                                 else served_actions([Usage._make(u) for u in usages]))
    issues = list(found_issues)
    # The hot path of every load (one pass over all usage). A book has few (model, day)
    # and (customer, day) pairs against many entries: each is resolved once, the first
    # into a small integer standing for (provider, table model, version, currency,
    # period), so that a group's key stays short. Rates are fixed within a group, so a
    # group sums tokens and its exact cost is computed once, from the sums.
    # day -> ({model: resolution number or None}, {customer: non-billable features})
    per_day: dict[datetime.date, tuple[dict[str, int | None],
                                       dict[str, frozenset[str] | None]]] = {}
    today: datetime.date | None
    models_today: dict[str, int | None]
    billing_today: dict[str, frozenset[str] | None]
    non_billable: frozenset[str] | None | Literal[False]  # (False: not looked up yet)
    # (None until the first usage costed sets them: its day is never None)
    today = models_today = billing_today = None  # type: ignore[assignment]
    targets: list[_Target] = []  # by resolution number
    target_ids: dict[tuple[str, str, datetime.date, str, str], int] = {}
    # [input, cached, output, events, entries, first day, last day, day and ref of the
    # first entry, day and ref of the last]: updated in place, items of several types
    groups: dict[_GroupKey, list[Any]] = {}
    aliases = price_book_aliases(contracts)
    # group key -> the model ids as logged that are not the table's model
    logged: dict[_GroupKey, set[str]] = {}
    # group key -> [exact cost, input, cached, output] of its usage with token classes
    # (``Usage.special``: costed one by one, not from the group's sums)
    special: dict[_GroupKey, list[Any]] = {}
    for usage in usages:
        # one unpacking of the record instead of an attribute lookup per field
        (day, customer, model, feature, action, input_tokens, cached, output, events,
         _, _, _, _, _, until, workflow, ref, tier, context, cache_hit, extra) = usage
        if cache_hit or not (input_tokens or output or extra):
            continue  # (a gateway cache hit made no provider call: no cost)
        if not model:
            issues.append(CostIssue(ref, (
                f"usage of customer {customer!r} on {day} has tokens but no "
                f"model; expected the model id that the cost tables price")))
            continue
        if day != today:  # usage comes in date order: caches per day, keyed by one string
            today = day
            models_today, billing_today = per_day.setdefault(day, ({}, {}))
        target = models_today.get(model, False)
        if target is False:
            found = _resolve(contracts, model, day, grain, aliases)
            target = None
            if found is not None:
                provider, name, table, version, label, _ = found
                same = (provider, name, version.effective, table.currency, label)
                target = target_ids.get(same)
                if target is None:
                    target = target_ids[same] = len(targets)
                    targets.append(found)
            models_today[model] = target
        if target is None:
            tables = ", ".join(sorted(contracts.costs)) or "none"
            issues.append(CostIssue(ref, (
                f"no cost for model {model!r} on {day} (customer "
                f"{customer!r}); expected the model or an alias of it in a cost table "
                f"in force on that date (contracts/costs/: {tables}{tried(model)})")))
            continue
        if until is not None and until != day:
            _, _, table, version, _, period_end = targets[target]
            problem = _span_problem(customer, day, until, table, period_end)
            if problem:
                issues.append(CostIssue(ref, problem))
                continue
        else:
            until = day
        if not action and workflow:
            action = by_workflow.get((customer, workflow), "")
        non_billable = billing_today.get(customer, False)
        if non_billable is False:
            non_billable = billing_today[customer] = _non_billable_features(
                contracts, customer, day)
        key = (customer, target, feature, action,
               not (feature and non_billable and feature in non_billable))
        if model != targets[target][1]:  # folded into the table's model
            logged.setdefault(key, set()).add(model)
        if tier or context or extra:
            _, name, table, version, _, _ = targets[target]
            record = usage if isinstance(usage, Usage) else Usage._make(usage)
            cost, problem = class_value(record, version.models[name], table.per,
                                        version.tools)
            if cost is None:
                issues.append(CostIssue(ref, (
                    f"{problem} for model {model!r} in cost table {table.id!r} on {day} "
                    f"(customer {customer!r}); a missing cost is never zero")))
                continue
            extra_cost = special.setdefault(key, [Fraction(0), 0, 0, 0])
            extra_cost[0] += cost
            extra_cost[1] += input_tokens
            extra_cost[2] += cached
            extra_cost[3] += output
            input_tokens = cached = output = 0  # in the group's counts below: not its sums
        group = groups.get(key)
        if group is None:
            groups[key] = [input_tokens, cached, output, events, 1, day, until, day, ref,
                           day, ref]
            continue
        group[0] += input_tokens
        group[1] += cached
        group[2] += output
        group[3] += events
        group[4] += 1
        if day < group[5]:
            group[5] = day
        if until > group[6]:
            group[6] = until
        # first and last entry in book order: the records come sorted by day, and within
        # a day in the book's order (comparing the "file:line" texts would put line 11
        # before line 5)
        if day < group[7]:
            group[7], group[8] = day, ref
        if day >= group[9]:
            group[9], group[10] = day, ref
    rows: list[tuple[_LineKey, list[Any], ModelRates, int]] = []
    for group_key, g in groups.items():
        customer, target, feature, action, billable = group_key
        provider, model, table, version, label, _ = targets[target]
        ids = logged.get(group_key)
        g.append(",".join(sorted(ids)) if ids else "")
        g.append(special.get(group_key))
        rows.append(((customer, label, provider, model, feature, action, not billable,
                      version.effective, table.currency), g, version.models[model], table.per))
    rows.sort(key=lambda row: row[0])
    # Round cumulatively per customer, period and provider (see the module doc).
    lines = []
    exact_so_far: dict[tuple[str, str, str], Fraction] = defaultdict(Fraction)
    streams: dict[tuple[str, str, str], Cumulative] = defaultdict(Cumulative)
    for line_key, g, rates, per in rows:
        customer, label, provider, model, feature, action, not_billable, effective, currency \
            = line_key
        exact = _exact_cost(rates, per, g[0] - g[1], g[1], g[2])
        inputs, cached_inputs, outputs = g[0], g[1], g[2]
        if g[12] is not None:  # usage with token classes, costed one by one
            exact += g[12][0]
            inputs += g[12][1]
            cached_inputs += g[12][2]
            outputs += g[12][3]
        stream = (customer, label, provider)
        exact_so_far[stream] += exact
        lines.append(CostLine(
            customer=customer, period=label, provider=provider, model=model, feature=feature,
            action=action, billable=not not_billable, version=effective, currency=currency,
            input_tokens=inputs, cached_input_tokens=cached_inputs, output_tokens=outputs,
            events=g[3],
            usage_entries=g[4], first_day=g[5], last_day=g[6], exact=exact,
            first_ref=g[8], last_ref=g[10], logged=g[11],
            amount=streams[stream].post_to(exact_so_far[stream])))
    return lines, issues


def _resolve(contracts: ContractSet, model: str, day: datetime.date, grain: str,
             aliases: Mapping[str, str] | None = None) -> _Target | None:
    """(provider, table model, table, version, period label, period end) for a model/day."""
    found = resolve_model(contracts.costs, model, day, aliases)
    if found is None:
        return None
    provider, name, table = found
    label, _, period_end = posting_period(day, grain)
    # (the table has rates for the model on ``day``: so a version in force)
    return (provider, name, table, table.version_on(day),  # type: ignore[return-value]
            label, period_end)


def _non_billable_features(contracts: ContractSet, customer_id: str, day: datetime.date
                           ) -> frozenset[str] | None:
    """The features the contract of ``customer_id`` in force on ``day`` does not bill."""
    customer = contracts.customers.get(customer_id)
    contract = customer.contract_on(day) if customer else None
    return contract.non_billable_features if contract else None


def _span_problem(customer: str, first: datetime.date, last: datetime.date,
                  table: PriceBook, period_end: datetime.date) -> str | None:
    """Why an aggregate covering ``first`` to ``last`` cannot be costed at its first day's
    rates (fields, not a Usage: made for every month-grain entry at every load)."""
    if last == first:
        return None
    if last > period_end:
        return (f"usage of customer {customer!r} covers {first} to {last}, across "
                f"the end of the posting period on {period_end}; expected it split there")
    later = [v.effective for v in table.versions if first < v.effective <= last]
    if later:
        return (f"usage of customer {customer!r} covers {first} to {last}, across "
                f"cost table {table.id!r} version {later[0]}; expected it split on that date")
    return None


def attributed_by_provider(lines: Iterable[CostLine]) -> dict[tuple[str, str], Decimal]:
    """(provider, period) -> attributed cost, the sum of the rounded lines."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    for line in lines:
        totals[(line.provider, line.period)] += line.amount
    return dict(totals)


@dataclass(frozen=True)
class PromotionalCost:
    """The cost of the usage a promotional lot covered in one period (docs/grants.md):
    moved from ``Expenses:COGS:Inference:<P>`` to ``Expenses:Marketing:Promotional-
    Credits``, so that the cost is counted once, as a marketing expense."""

    customer: str
    period: str
    provider: str
    lot: str
    currency: str
    exact: Fraction
    amount: Decimal  # rounded cumulatively within customer/provider/period
    last_day: datetime.date
    usage_entries: int


# (customer, day, user) -> promotional lot id -> the share of that usage it covered
# (``rules.engine.ContractRun.promotional``; user "" unless the contract limits users)
PromotionalShares = Mapping[tuple[str, datetime.date, str], Mapping[str, Fraction]]


def promotional_costs(usages: Sequence[Usage] | Sequence[tuple[Any, ...]],
                      contracts: ContractSet, shares: PromotionalShares,
                      per_user: Collection[str] = (), grain: str = "month"
                      ) -> list[PromotionalCost]:
    """The cost of the usage covered by promotional credits: each usage's exact cost
    (the same resolution and rates as ``attribute_usages``) x the share of its day's
    usage the lot covered, summed per customer, period, provider and lot, rounded half
    up cumulatively per customer, period and provider. Usage ``attribute_usages`` cannot
    cost is left out (it reports it)."""
    if not shares:
        return []
    customers = {key[0] for key in shares}
    aliases = price_book_aliases(contracts)
    resolved: dict[tuple[str, datetime.date], _Target | None] = {}
    sums: dict[tuple[str, str, str, str, str], list[Any]] = {}
    for row in usages:
        usage = row if isinstance(row, Usage) else Usage._make(row)
        if usage.customer not in customers or not usage.model or usage.cache_hit or not (
                usage.input_tokens or usage.output_tokens or usage.extra):
            continue
        found = shares.get((usage.customer, usage.date,
                            usage.user if usage.customer in per_user else ""))
        if not found:
            continue
        place = (usage.model, usage.date)
        if place not in resolved:
            resolved[place] = _resolve(contracts, usage.model, usage.date, grain, aliases)
        target = resolved[place]
        if target is None:
            continue
        provider, name, table, version, label, period_end = target
        if _span_problem(usage.customer, usage.date, usage.last_day, table, period_end):
            continue
        cost = exact_cost(version.models[name], table.per, usage, version.tools)
        if cost is None:
            continue  # (attribute_usages reports the missing rate)
        for lot, share in found.items():
            key = (usage.customer, label, provider, lot, table.currency)
            item = sums.setdefault(key, [Fraction(0), usage.last_day, 0])
            item[0] += cost * share
            item[1] = max(item[1], usage.last_day)
            item[2] += 1
    out = []
    running: dict[tuple[str, str, str], Fraction] = defaultdict(Fraction)
    streams: dict[tuple[str, str, str], Cumulative] = defaultdict(Cumulative)
    for key in sorted(sums):
        customer, label, provider, lot, currency = key
        exact, last_day, entries = sums[key]
        stream = (customer, label, provider)
        running[stream] += exact
        out.append(PromotionalCost(customer, label, provider, lot, currency, exact,
                                   streams[stream].post_to(running[stream]), last_day,
                                   entries))
    return out
