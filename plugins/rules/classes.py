"""The value of usage beyond input, cached input and output: cache writes, service tiers,
long-context bands, server-tool calls and gateway cache hits (docs/token-classes.md).

One function, shared by pricing (revenue, at the contract's net rates) and COGS (cost,
at a cost table's rates), so that the two read a class the same way:

    claude-sonnet-4-5 {input: 3.00, cached_input: 0.30, output: 15.00,
                       cache_write: 3.75, cache_write_1h: 6.00} per 1M; tools: {web_search: 0.01}
    usage: input 1,000,000 (200,000 read from the cache, 100,000 written for 5 minutes,
           50,000 for 1 hour), output 10,000, 3 web searches
      -> (650,000 x 3.00 + 200,000 x 0.30 + 100,000 x 3.75 + 50,000 x 6.00
          + 10,000 x 15.00) / 1,000,000 + 3 x 0.01 = 2.835 + 0.03 = 2.865

* Every class is priced at its own rate: a count whose rate the block does not give is a
  problem naming the rate, never priced at the input rate.
* ``service_tier`` picks the model's ``tiers:`` block and ``context: long`` its
  ``long_context:`` block (inside the tier's, for both): each block is complete on its
  own, nothing falls back to the standard block.
* Server-tool calls are priced per call at the version's ``tools:`` prices.
* A gateway cache hit has no provider call: COGS leaves it out; revenue bills it as the
  contract says (``gateway_cache: bill`` at the rates it would have had, ``free``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from .model import CLASS_RATES, TOOLS, ModelRates, PriceBook
from .models import resolve
from .records import Usage

_CALLS = tuple((f"{tool}_calls", tool) for tool in TOOLS)


def class_value(usage: Usage, rates: ModelRates, per: int, tools: Mapping[str, Decimal],
                factor: Decimal = Decimal(1), overrides: Mapping[str, Decimal] | None = None
                ) -> tuple[Fraction | None, str]:
    """(the exact value of ``usage``, "") or (None, what is missing).

    ``factor`` multiplies the rates read from ``rates`` and ``tools`` (a contract's
    discount); ``overrides`` (a contract's rates for the model, net) replace the rates of
    the standard block only."""
    block, problem = rates.block(usage.tier, usage.context)
    if block is None:
        return None, problem
    plain = block is rates
    total = Fraction(0)
    for count_name, rate_name in CLASS_RATES:
        count = (usage.count(count_name) if count_name.startswith("cache_write")
                 else getattr(usage, count_name))
        if not count:
            continue
        if plain and overrides and rate_name in overrides:
            rate: Decimal | Fraction = overrides[rate_name]
        else:
            listed = block.rate(rate_name)
            if listed is None:
                where = _where(usage)
                return None, f"no {rate_name} rate{where} (expected {rate_name}: ...)"
            rate = Fraction(listed) * Fraction(factor)
        total += Fraction(count) * Fraction(rate) / per
    for count_name, tool in _CALLS:
        calls = usage.count(count_name)
        if not calls:
            continue
        price = tools.get(tool)
        if price is None:
            return None, (f"no price for {tool} calls (expected tools: {{{tool}: <price per "
                          f"call>}} in the version)")
        total += calls * Fraction(price) * Fraction(factor)
    return total, ""


def _where(usage: Usage) -> str:
    parts = [f"service tier {usage.tier!r}"] if usage.tier else []
    if usage.context:
        parts.append("long context")
    return f" for {' and '.join(parts)}" if parts else ""


def long_context_thresholds(books: Iterable[PriceBook]) -> Callable[[str], int | None]:
    """model id as logged -> the prompt size past which its usage is in the long-context
    band, or None: the lowest ``above`` any of ``books`` (price books and cost tables)
    gives the model it resolves to (``rules.models.resolve``), in any version or tier.

    The usage importers band per-request usage with it (an aggregate cannot: the band is
    a property of each request's prompt); a source that reports the band itself (the
    Anthropic usage report's ``context_window``) gives ``context`` directly."""
    tables: list[tuple[set[str], dict[str, int], Mapping[str, str]]] = []
    for book in books:
        known: set[str] = set()
        lowest: dict[str, int] = {}
        for version in book.versions:
            for model, rates in version.models.items():
                known.add(model)
                for block in (rates, *(b for _, b in rates.tiers)):
                    band = block.long_context
                    if band is not None and band.above is not None:
                        lowest[model] = min(lowest.get(model, band.above), band.above)
        if lowest:
            tables.append((known, lowest, book.aliases))
    cache: dict[str, int | None] = {}

    def threshold(model: str) -> int | None:
        if model in cache:
            return cache[model]
        found: int | None = None
        for known, lowest, aliases in tables:
            resolved = resolve(model, known.__contains__, aliases)
            if resolved is not None and resolved.model in lowest:
                above = lowest[resolved.model]
                found = above if found is None else min(found, above)
        cache[model] = found
        return found

    return threshold
