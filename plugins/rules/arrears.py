"""Usage billed in arrears: recognized as used, Dr Assets:Unbilled:<C> / Cr Income.

The value billed is the usage at contract rates (``rules.pricing``), times the overage
multiplier when it is usage past prepaid credits, through the contract's tiers
(``rules.tiers``) per tier period. Exact cumulative values are kept for the whole
contract (closed tier periods plus the current one), and postings are rounded
cumulatively per contract, tokens and actions as separate streams; so a month's total
is the same whether it is posted daily or monthly.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction

from .model import Contract
from .rounding import Cumulative, exact_add
from .tiers import tiered

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

    def add(self, day: datetime.date, tokens: Exact, actions: Exact) -> None:
        """Add usage value (exact: a Decimal is kept as one while it can, it is faster)."""
        key = day.year * 100 + day.month if self.tier_period == "month" else day.year
        if key != self.tier_key:
            total, acts = self._current()
            self.closed_total += total
            self.closed_actions += acts
            self.list_tokens = self.list_actions = ZERO_DECIMAL
            self.tier_key = key
        self.list_tokens = exact_add(self.list_tokens, tokens)
        self.list_actions = exact_add(self.list_actions, actions)

    def _current(self) -> tuple[Fraction, Fraction]:
        listed = Fraction(self.list_tokens) + Fraction(self.list_actions)
        if not listed:
            return ZERO, ZERO
        total = tiered(self.tiers, listed)
        return total, total * Fraction(self.list_actions) / listed

    def exact(self) -> tuple[Fraction, Fraction]:
        """(tokens + actions, actions): exact cumulative value billed so far."""
        total, acts = self._current()
        return self.closed_total + total, self.closed_actions + acts

    @property
    def posted(self) -> Decimal:
        return self.posted_usage.posted
