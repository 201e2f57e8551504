"""Pricing: the value of a usage aggregate at the contract's rates, on its date.

Tokens are priced at the rates of the price-book version in force on the usage date (a
version applies from its ``effective`` date, mid-month included), less the contract's
``discount``; a model in the contract's ``rates`` uses those rates instead (they are
net: the discount does not apply to them again; a field left out keeps the discounted
list rate). Actions are priced at the contract's ``actions`` price times the weight of
each outcome (completed, partial, failed). Features listed in ``non_billable_features``
are priced at nothing on purpose.

The model as logged is resolved to a model of the price book by ``rules.models`` (the
resolver COGS shares): the price book's ``aliases``, the base id of a dated snapshot,
the id without its provider prefix; a contract ``rates`` override naming the logged id
itself prices it as it is. Revenue is split by the resolved model (``Key``); the ids as
logged that were folded into a key come back in ``DayPrice.logged``.

A usage aggregate whose model has no rate on its date, or whose action the contract
does not price, raises ``PricingError`` naming the customer, the model (as logged) or
action and the date: a missing price is never zero.

Usage with token classes beyond input, cached input and output (cache writes, a service
tier, the long-context band, server-tool calls, a gateway cache hit) is valued by
``rules.classes.class_value``, each class at its own rate (list rate less the discount;
a contract ``rates`` override replaces the standard block's rates only); a class whose
rate is missing raises ``PricingError`` the same way. A gateway cache hit is billed as
the contract's ``gateway_cache`` says (``bill``, the default, or ``free``).

    list-2026 @2026-01-01  gpt-4o: {input: 5.00, cached_input: 2.50, output: 20.00} per 1M
    usage 2026-01-05 gpt-4o: input 1,200,000 (200,000 cached), output 300,000
      -> 1,000,000 x 5.00/1M + 200,000 x 2.50/1M + 300,000 x 20.00/1M = 11.50
    usage logged as gpt-4o-2024-08-06 (or openai/gpt-4o): priced as gpt-4o, the same 11.50
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from .classes import class_value
from .model import Contract, ModelRates, PriceBook, PriceBookVersion
from .models import resolve, tried
from .records import Usage
from .rounding import exact_add

ZERO = Decimal(0)
ONE = Decimal(1)
_UNSEEN = object()
# What revenue is split by: model (resolved: the price book's id), feature and the
# action served (the usage's own action, else that of its workflow).
Key = tuple[str, str, str]
# A value of usage at contract rates, exact: a Decimal while it terminates, else a Fraction.
Value = Decimal | Fraction
# (uncached input, cached input, output) per token, net (``Pricer.rates``).
Rates = tuple[Value, Value, Value]
# [value of the tokens, value of the actions], summed exactly (``DayPrice.values``).
Values = list[Value]


class PricingError(Exception):
    """A usage aggregate that cannot be priced: never priced at zero."""

    def __init__(self, usage: Usage, message: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.message = message


class Priced(NamedTuple):
    """A usage aggregate with its value at contract rates (exact, unrounded)."""

    usage: Usage
    tokens: Decimal | Fraction  # value of the tokens
    actions: Decimal | Fraction  # value of the actions
    version: datetime.date | None  # effective date of the price-book version used

    @property
    def value(self) -> Decimal | Fraction:
        return exact_add(self.tokens, self.actions)


def _per_token(rate: Decimal, per: int) -> Decimal | Fraction:
    """``rate / per`` exactly: a Decimal when it terminates, else a Fraction."""
    quotient = rate / per
    if Fraction(quotient) * per == Fraction(rate):
        return quotient
    return Fraction(rate) / per


class Pricer:
    """Prices the usage of one contract against its price book."""

    def __init__(self, contract: Contract, price_book: PriceBook) -> None:
        self.contract = contract
        self.price_book = price_book
        self.factor = ONE - contract.discount
        self._rates: dict[tuple[datetime.date | None, str], Rates | None] = {}
        self._versions: dict[datetime.date, PriceBookVersion | None] = {}
        # version -> logged model -> (resolved model, its rates), or None if unpriced
        self._by_version: dict[datetime.date | None,
                               dict[str, tuple[str, Rates] | None]] = {}
        # workflow -> the action it served, for the customer (``rules.cogs.served_actions``)
        self.served: Mapping[str, str] = {}

    def _version(self, day: datetime.date) -> PriceBookVersion | None:
        try:
            return self._versions[day]
        except KeyError:
            found = self._versions[day] = self.price_book.version_on(day)
            return found

    def version_on(self, day: datetime.date) -> datetime.date | None:
        version = self.price_book.version_on(day)
        return version.effective if version else None

    def resolve(self, model: str, day: datetime.date) -> str | None:
        """The model of the price book (or of a contract override) that prices the
        logged id ``model`` on ``day`` (``rules.models.resolve``), or None."""
        version = self._version(day)
        listed = version.models if version else {}
        overrides = self.contract.rates

        def known(name: str) -> bool:
            return name in listed or {"input", "output"} <= set(overrides.get(name, ()))

        found = resolve(model, known, self.price_book.aliases)
        return found.model if found is not None else None

    def rates(self, model: str, day: datetime.date) -> Rates | None:
        """(uncached input, cached input, output) per token, net, or None if unpriced
        (``model`` as logged: resolved first)."""
        found = self.resolved_rates(model, day)
        return found[1] if found is not None else None

    def resolved_rates(self, model: str, day: datetime.date) -> tuple[str, Rates] | None:
        """(the resolved model, its rates) for the logged id ``model``, or None."""
        name = self.resolve(model, day)
        if name is None:
            return None
        rates = self._model_rates(name, day)
        return (name, rates) if rates is not None else None

    def _model_rates(self, model: str, day: datetime.date) -> Rates | None:
        version = self._version(day)
        key = (version.effective if version else None, model)
        if key in self._rates:
            return self._rates[key]
        listed = version.models.get(model) if version else None
        override = self.contract.rates.get(model, {})
        found: Rates | None = None
        if listed is not None or {"input", "output"} <= set(override):
            def rate(name: str, fallback: str) -> Decimal:
                if name in override:
                    return override[name]
                if listed is not None:
                    listed_rate: Decimal = getattr(listed, name)  # a ModelRates field
                    return listed_rate * self.factor
                return override[fallback]
            uncached, cached, output = (
                _per_token(rate(name, fallback), self.price_book.per) for name, fallback in
                (("input", "input"), ("cached_input", "input"), ("output", "output")))
            found = (uncached, cached, output)
            if any(isinstance(r, Fraction) for r in found):
                # One rate that does not terminate (per: 3): all three as Fractions, so
                # that a usage's value is one exact sum (a Decimal and a Fraction do not
                # add up).
                found = (Fraction(uncached), Fraction(cached), Fraction(output))
        self._rates[key] = found
        return found

    def class_value(self, usage: Usage, model: str, day: datetime.date
                    ) -> tuple[Fraction | None, str]:
        """The value of a usage with token classes (``Usage.special``) at the contract's
        rates for the resolved ``model``: (exact value, "") or (None, what is missing)."""
        if usage.cache_hit and self.contract.gateway_cache == "free":
            return Fraction(0), ""
        version = self._version(day)
        listed = version.models.get(model) if version else None
        override = self.contract.rates.get(model, {})
        tools = version.tools if version else {}
        if listed is None:  # priced by the contract's override alone: its rates are net
            rates = ModelRates(input=override["input"],
                               cached_input=override.get("cached_input", override["input"]),
                               output=override["output"],
                               cache_write=override.get("cache_write"),
                               cache_write_1h=override.get("cache_write_1h"))
            return class_value(usage, rates, self.price_book.per, tools, self.factor, override)
        return class_value(usage, listed, self.price_book.per, tools, self.factor, override)

    def price(self, usage: Usage) -> Priced:
        """The value of ``usage`` at contract rates; raises PricingError if unpriced."""
        day = self.price_day(usage.date, (usage,), each=True)
        if day.errors:
            raise day.errors[0]
        return day.priced[0]  # type: ignore[return-value]  # each=True: Priced entries

    def price_day(self, day: datetime.date, usages: Iterable[Usage], each: bool = False
                  ) -> DayPrice:
        """Price the usage aggregates of one day (see ``DayPrice``); those that cannot be
        priced are left out and come back as errors, in order. (Or of several days that
        the price-book version in force on ``day`` covers: the engine's posting segments.)

        The engine's hot path (a book prices every usage entry at every load): the day's
        version and rates are found once, and unless ``each`` value is asked for, token
        counts are summed per model, feature and action served (``Key``) and priced once
        per key. The sum is exact either way: rates are exact and prices are linear in the
        counts. The values per key are what revenue is split by (``DayPrice.values``).
        """
        version = self._version(day)
        effective = version.effective if version else None
        contract = self.contract
        non_billable = contract.non_billable_features
        served = self.served
        rates_of = self._by_version.get(effective)
        if rates_of is None:
            rates_of = self._by_version[effective] = {}
        priced: list[Priced] | list[Usage] = []
        errors: list[PricingError] = []
        counts: dict[Key, list[int]] = {}
        values: dict[Key, Values] = {}
        logged: dict[Key, set[str]] = {}
        named: dict[str, Rates] = {}  # resolved model -> its rates, for ``counts``
        rates: Rates | None
        found: tuple[str, Rates] | None
        token_total: Decimal | Fraction = ZERO
        action_total: Decimal | Fraction = ZERO
        for usage in usages:
            if usage.until is not None and usage.until != usage.date:
                later = self._version(usage.until)
                if (later.effective if later else None) != effective:
                    errors.append(PricingError(usage, (
                        f"usage of customer {usage.customer!r} from {usage.date} to "
                        f"{usage.until} "
                        f"spans a change of price book {self.price_book.id!r} (expected the entry "
                        f"split at {later.effective if later else '?'})")))
                    continue
            billable = usage.feature not in non_billable
            model = usage.model
            action = usage.action
            served_action = action or (served.get(usage.workflow, "") if usage.workflow
                                       else "")
            key = (model, usage.feature, served_action)
            tokens: Decimal | Fraction = ZERO
            if model:
                found = rates_of.get(model, _UNSEEN)  # type: ignore[arg-type]  # sentinel
                if found is _UNSEEN:
                    found = rates_of[model] = self.resolved_rates(model, day)
                if found is None:
                    errors.append(PricingError(usage, (
                        f"no rate for model {model!r} of customer {usage.customer!r} "
                        f"on {usage.date} (price book {self.price_book.id!r}, contract {contract.id!r}"
                        f"{tried(model)}); a missing price is never zero")))
                    continue
                name, rates = found
                if name != model:  # revenue goes to the resolved model
                    key = (name, usage.feature, served_action)
                    seen = logged.get(key)
                    if seen is None:
                        logged[key] = {model}
                    else:
                        seen.add(model)
                named[name] = rates
                if usage.special:  # token classes: valued one by one (rare)
                    special, problem = self.class_value(usage, name, day)
                    if special is None:
                        errors.append(PricingError(usage, (
                            f"{problem} for model {model!r} of customer {usage.customer!r} "
                            f"on {usage.date} (price book {self.price_book.id!r}, contract "
                            f"{contract.id!r}); a missing price is never zero")))
                        continue
                    if billable:
                        tokens = special
                        token_total = exact_add(token_total, tokens)
                        if not each and tokens:
                            add_value(values, key, tokens, ZERO)
                elif billable:
                    cached = usage.cached_input_tokens
                    if each:
                        # the three rates are all Decimals or all Fractions (``rates``)
                        tokens = ((usage.input_tokens - cached)  # type: ignore[operator]
                                  * rates[0] + cached * rates[1]
                                  + usage.output_tokens * rates[2])
                        token_total = exact_add(token_total, tokens)
                    else:
                        total = counts.get(key)
                        if total is None:
                            counts[key] = [usage.input_tokens - cached, cached,
                                           usage.output_tokens]
                        else:
                            total[0] += usage.input_tokens - cached
                            total[1] += cached
                            total[2] += usage.output_tokens
            elif usage.input_tokens or usage.output_tokens or usage.extra:
                errors.append(PricingError(usage, (
                    f"usage of customer {usage.customer!r} on {usage.date} has tokens but "
                    f"no model")))
                continue
            actions: Decimal | Fraction = ZERO
            if action:
                price = contract.actions.get(action)
                if price is None:
                    errors.append(PricingError(usage, (
                        f"action {action!r} of customer {usage.customer!r} on "
                        f"{usage.date} "
                        f"is not priced by contract {contract.id!r} (expected it under "
                        f"'actions')")))
                    continue
                if billable:
                    weights = price.weights
                    actions = price.price * (usage.completed * weights["completed"]
                                             + usage.partial * weights["partial"]
                                             + usage.failed * weights["failed"])
                    action_total = exact_add(action_total, actions)
            if each:
                priced.append(Priced(  # type: ignore[arg-type]  # (see DayPrice.priced)
                    usage, tokens, actions, effective))
                if tokens or actions:
                    add_value(values, key, tokens, actions)
            else:
                priced.append(usage)  # type: ignore[arg-type]  # (see DayPrice.priced)
                if actions:
                    add_value(values, key, ZERO, actions)
        for key, (uncached, cached, output) in counts.items():
            rates = named[key[0]]  # counted only when the model has rates
            # the three rates are all Decimals or all Fractions (``rates``)
            value = (uncached * rates[0] + cached * rates[1]  # type: ignore[operator]
                     + output * rates[2])
            token_total = exact_add(token_total, value)
            if value:
                add_value(values, key, value, ZERO)
        return DayPrice(priced, token_total, action_total, effective, errors, values,
                        logged)


def add_value(values: dict[Key, Values], key: Key, tokens: Decimal | Fraction,
              actions: Decimal | Fraction) -> None:
    """Add the value of tokens and of actions to ``values[key]``, exactly."""
    found = values.get(key)
    if found is None:
        values[key] = [tokens, actions]
    else:
        found[0] = exact_add(found[0], tokens)
        found[1] = exact_add(found[1], actions)


class DayPrice(NamedTuple):
    """One day's usage of a contract, priced."""

    # Priced per usage with ``each``, else the usage priced (Usage): one or the other
    priced: list[Priced] | list[Usage]
    tokens: Decimal | Fraction  # value of the tokens, exact
    actions: Decimal | Fraction  # value of the actions, exact
    version: datetime.date | None  # effective date of the price-book version used
    errors: list[PricingError]
    # (model, feature, action served) -> [value of the tokens, value of the actions]
    values: dict[Key, Values]
    # the keys whose usage was logged under other ids -> those ids (``rules.models``)
    logged: dict[Key, set[str]]
