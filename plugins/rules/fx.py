"""Foreign currency: rates, conversion, and the remeasurement of monetary items.

Pure (no Beancount import); the revenue plugin feeds it the book's ``price`` entries and
the postings of a customer's monetary accounts (docs/currency.md).

- ``Rates``: the rate of (from, to) on a date is the latest price on or before it (a
  missing one raises ``MissingRate`` naming the pair and the date: never a silent 1.0).
- ``convert``: exact, then half up to the currency's minor unit (JPY 0 decimals).
- ``Pool``: a customer's monetary items in one currency (receivable and unbilled,
  ASC 830-10-45-17): what is added is carried at the rate of its date; at a month end
  the carrying value is remeasured to the closing rate (unrealized, cumulative: no
  reversal, the next remeasurement or the settlement starts from it); a settlement
  relieves the carrying value at the pool's average carrying rate and the difference
  to what was received at the settlement date's rate is realized.

    >>> rates = Rates([(datetime.date(2026, 1, 31), "EUR", "USD", Decimal("1.08")),
    ...                (datetime.date(2026, 2, 28), "EUR", "USD", Decimal("1.10")),
    ...                (datetime.date(2026, 3, 10), "EUR", "USD", Decimal("1.09"))])
    >>> pool = Pool("EUR", "USD")
    >>> pool.add(Decimal("1000.00"), rates.rate("EUR", "USD", datetime.date(2026, 1, 31)))
    Decimal('1080.00')
    >>> pool.remeasure(rates.rate("EUR", "USD", datetime.date(2026, 2, 28)))
    Decimal('20.00')
    >>> pool.settle(Decimal("1000.00"), rates.rate("EUR", "USD", datetime.date(2026, 3, 10)))
    Decimal('-10.00')
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

from .model import Contract, ModelRates, PriceBook

# ISO 4217 minor units that are not 2 (the rest, and unknown codes, have 2).
MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
               "UGX": 0, "XAF": 0, "XOF": 0, "PYG": 0, "RWF": 0,
               "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3}


class MissingRate(ValueError):
    """No rate for a currency pair on or before a date that needs one."""

    def __init__(self, base: str, quote: str, day: datetime.date) -> None:
        super().__init__(f"no {base}/{quote} rate on or before {day.isoformat()} "
                         f"(a price entry '{day.isoformat()} price {base} ... {quote}')")
        self.base, self.quote, self.day = base, quote, day


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def round_to(value: Fraction | Decimal | int, currency: str) -> Decimal:
    """``value`` half up (away from zero) to ``currency``'s minor unit, exactly."""
    places = MINOR_UNITS.get(currency, 2)
    exact = Fraction(value)
    scaled = abs(exact) * 10 ** places
    whole = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
    return Decimal(-whole if exact < 0 else whole).scaleb(-places)


def convert(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    """``amount`` at ``rate`` (units of ``currency`` per unit), rounded to ``currency``."""
    return round_to(Fraction(amount) * Fraction(rate), currency)


@dataclass
class Rates:
    """Rates by pair, each a date-sorted list; (base, quote, date) -> quote per base.

    The rate on a date is the latest on or before it (a weekend or holiday uses the
    last business day's fix). The inverse pair is used when only it is known (1/rate,
    exact); a currency to itself is 1.
    """

    quotes: Iterable[tuple[datetime.date, str, str, Decimal]] = ()
    table: dict[tuple[str, str], tuple[list[datetime.date], list[Decimal]]] = field(
        init=False, default_factory=dict)

    def __post_init__(self) -> None:
        rows: dict[tuple[str, str], dict[datetime.date, Decimal]] = {}
        for day, base, quote, rate in self.quotes:
            rows.setdefault((base, quote), {})[day] = rate  # the last of a day wins
        for pair, by_day in rows.items():
            days = sorted(by_day)
            self.table[pair] = (days, [by_day[d] for d in days])

    def _lookup(self, base: str, quote: str, day: datetime.date) -> Decimal | None:
        found = self.table.get((base, quote))
        if found is None:
            return None
        i = bisect.bisect_right(found[0], day)
        return found[1][i - 1] if i else None

    def rate(self, base: str, quote: str, day: datetime.date) -> Decimal:
        """Units of ``quote`` per unit of ``base`` on ``day``; ``MissingRate`` if none."""
        if base == quote:
            return Decimal(1)
        direct = self._lookup(base, quote, day)
        if direct is not None:
            return direct
        inverse = self._lookup(quote, base, day)
        if inverse:
            # an inverse quote: 1/rate to 28 significant digits (the one rounding of a rate)
            return Decimal(1) / inverse
        raise MissingRate(base, quote, day)


@dataclass
class Pool:
    """A customer's monetary items in ``currency`` (receivable + unbilled), carried in
    ``operating``. Amounts in, FX out (in ``operating``, a gain positive).

    ``balance`` is in ``currency``; ``carrying`` its value in ``operating`` (rounded to
    its minor unit at each step: what the book holds).
    """

    currency: str
    operating: str
    balance: Decimal = Decimal(0)
    carrying: Decimal = Decimal(0)

    def add(self, amount: Decimal, rate: Decimal) -> Decimal:
        """Recognize ``amount`` (revenue earned, an invoice) at its date's ``rate``; its
        carrying value in the operating currency."""
        value = convert(amount, rate, self.operating)
        self.balance += amount
        self.carrying += value
        return value

    def settle(self, amount: Decimal, rate: Decimal) -> Decimal:
        """``amount`` received (or credited) at the settlement date's ``rate``: relieves
        the carrying value of that share at the average carrying rate; returns the
        realized gain (+) or loss (-) in the operating currency."""
        if not self.balance:
            relieved = convert(amount, rate, self.operating)  # nothing open: no FX
        elif amount == self.balance:
            relieved = self.carrying
        else:
            relieved = round_to(Fraction(self.carrying) * Fraction(amount)
                                / Fraction(self.balance), self.operating)
        received = convert(amount, rate, self.operating)
        self.balance -= amount
        self.carrying -= relieved
        return received - relieved

    def remeasure(self, rate: Decimal) -> Decimal:
        """The month end: carrying value restated at the closing ``rate``; returns the
        unrealized gain (+) or loss (-), the change in carrying value."""
        target = convert(self.balance, rate, self.operating)
        change = target - self.carrying
        self.carrying = target
        return change


def _times(value: Decimal, rate: Decimal) -> Decimal:
    with localcontext() as ctx:  # exact: the product of two decimals has finite digits
        ctx.prec = 200
        return value * rate


def _maybe(value: Decimal | None, rate: Decimal) -> Decimal | None:
    return None if value is None else _times(value, rate)


def _rates_times(rates: ModelRates, rate: Decimal) -> ModelRates:
    return dataclasses.replace(
        rates, input=_times(rates.input, rate), cached_input=_times(rates.cached_input, rate),
        output=_times(rates.output, rate), cache_write=_maybe(rates.cache_write, rate),
        cache_write_1h=_maybe(rates.cache_write_1h, rate),
        tiers=tuple((name, _rates_times(block, rate)) for name, block in rates.tiers),
        long_context=(_rates_times(rates.long_context, rate)
                      if rates.long_context is not None else None))


def price_book_for(book: PriceBook, contract: Contract) -> PriceBook:
    """The price book a contract prices at: ``book`` itself, or with ``fx`` every rate and
    tool price times the contract's fixed rate (exact, unrounded: usage is rounded only
    when posted), in the contract's currency.

        >>> from .model import FixedRate, PriceBookVersion
        >>> book = PriceBook("list", "USD", 1000000, (PriceBookVersion(
        ...     datetime.date(2026, 1, 1), {"m": ModelRates(Decimal("2.50"), Decimal("1.25"),
        ...     Decimal("10.00"))}),))
        >>> c = Contract("c", "x", datetime.date(2026, 1, 1), "EUR", "arrears", "list",
        ...              fx=FixedRate(Decimal("0.92"), "USD"))
        >>> price_book_for(book, c).versions[0].models["m"].output
        Decimal('9.2000')
    """
    if contract.fx is None:
        return book
    rate = contract.fx.rate
    versions = tuple(dataclasses.replace(
        v, models={m: _rates_times(r, rate) for m, r in v.models.items()},
        tools={t: _times(p, rate) for t, p in v.tools.items()}) for v in book.versions)
    return dataclasses.replace(book, currency=contract.currency, versions=versions)


def translate(parts: Iterable[tuple[Decimal, Decimal]], operating: str) -> Decimal:
    """The value in ``operating`` of (amount, rate) parts, each converted and rounded on
    its own (a lot's liability at its purchase date's rate: what its postings weigh),
    then added: the operating-currency figure of a report's foreign row.

        >>> translate([(Decimal("724.00"), Decimal("1.0850")),
        ...            (Decimal("10.00"), Decimal("1.1"))], "USD")
        Decimal('796.54')
    """
    return sum((convert(amount, rate, operating) for amount, rate in parts), Decimal("0.00"))
