"""Usage billed in arrears: recognized as used, Dr Assets:Unbilled:<C> / Cr Income.

The value billed is the usage at contract rates (``rules.pricing``), times the overage
multiplier when it is usage past prepaid credits, through the contract's tiers
(``rules.tiers``) per tier period. Exact cumulative values are kept for the whole
contract (closed tier periods plus the current one), and postings are rounded
cumulatively per contract, tokens and actions as separate streams; so a month's total
is the same whether it is posted daily or monthly.

Retroactive volume tiers (``rules.tiers``, docs/variable-consideration.md): the current
tier period is valued at the band of the estimate in force (``expected``) until
``settle`` values it at its actual band; ``expect`` changes the estimate. The engine
books what either moves as its own entry (``tier-revision``, ``tier-true-up``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

from .model import Contract
from .rounding import Cumulative, exact_add
from .tiers import estimated, tiered

ZERO = Fraction(0)
ZERO_DECIMAL = Decimal(0)
Exact = Decimal | Fraction


class Arrears:
    def __init__(self, contract: Contract) -> None:
        self.tiers = contract.tiers
        self.tier_period = contract.tiers.period if contract.tiers else "month"
        self.tier_key: int | None = None
        self.closed_total = ZERO  # tiered exact value of closed tier periods
        self.closed_actions = ZERO
        self.list_tokens: Exact = ZERO_DECIMAL  # current tier period, before tiers
        self.list_actions: Exact = ZERO_DECIMAL
        self.posted_usage = Cumulative()  # tokens + actions
        self.posted_actions = Cumulative()
        retro = contract.tiers is not None and contract.tiers.retroactive
        expected = contract.tiers.expected_volume if contract.tiers else None
        # the estimate in force (retroactive tiers), and whether the current tier period
        # is settled at its actual band
        self.expected: Fraction | None = (Fraction(expected) if retro and expected is not None
                                          else None)
        self.settled = False

    def add(self, day: datetime.date, tokens: Exact, actions: Exact) -> None:
        """Add usage value (exact: a Decimal is kept as one while it can, it is faster)."""
        key = day.year * 100 + day.month if self.tier_period == "month" else day.year
        if key != self.tier_key:
            total, acts = self._current()
            self.closed_total += total
            self.closed_actions += acts
            self.list_tokens = self.list_actions = ZERO_DECIMAL
            self.tier_key = key
            self.settled = False
        self.list_tokens = exact_add(self.list_tokens, tokens)
        self.list_actions = exact_add(self.list_actions, actions)

    def _current(self) -> tuple[Fraction, Fraction]:
        if self.tiers is None and not self.list_actions:  # the common case: list value
            return Fraction(self.list_tokens), ZERO
        listed = Fraction(self.list_tokens) + Fraction(self.list_actions)
        if not listed:
            return ZERO, ZERO
        if self.expected is not None and not self.settled:
            total = estimated(self.tiers, listed, self.expected)  # type: ignore[arg-type]
        else:
            total = tiered(self.tiers, listed)
        return total, total * Fraction(self.list_actions) / listed

    def listed(self) -> Fraction:
        """List value of the current tier period so far (before tiers)."""
        return Fraction(self.list_tokens) + Fraction(self.list_actions)

    def key_of(self, day: datetime.date) -> int:
        return day.year * 100 + day.month if self.tier_period == "month" else day.year

    def expect(self, expected: Fraction) -> None:
        """A revised estimate: the current tier period (unsettled) and later ones."""
        self.expected = expected

    def settle(self, day: datetime.date) -> None:
        """The end of ``day``'s tier period: valued at its actual band from now on."""
        if self.tier_key == self.key_of(day):
            self.settled = True

    def exact(self) -> tuple[Fraction, Fraction]:
        """(tokens + actions, actions): exact cumulative value billed so far."""
        total, acts = self._current()
        return self.closed_total + total, self.closed_actions + acts

    @property
    def posted(self) -> Decimal:
        return self.posted_usage.posted
