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
from fractions import Fraction

from .model import Contract
from .periods import period_key
from .rounding import Cumulative
from .tiers import tiered

ZERO = Fraction(0)


class Arrears:
    def __init__(self, contract: Contract) -> None:
        self.tiers = contract.tiers
        self.tier_period = contract.tiers.period if contract.tiers else "month"
        self.tier_key: str | None = None
        self.closed_total = ZERO  # tiered exact value of closed tier periods
        self.closed_actions = ZERO
        self.list_tokens = ZERO  # current tier period, before tiers
        self.list_actions = ZERO
        self.posted_usage = Cumulative()  # tokens + actions
        self.posted_actions = Cumulative()

    def add(self, day: datetime.date, tokens: Fraction, actions: Fraction) -> None:
        key = period_key(day, self.tier_period)
        if key != self.tier_key:
            total, acts = self._current()
            self.closed_total += total
            self.closed_actions += acts
            self.list_tokens = self.list_actions = ZERO
            self.tier_key = key
        self.list_tokens += tokens
        self.list_actions += actions

    def _current(self) -> tuple[Fraction, Fraction]:
        listed = self.list_tokens + self.list_actions
        if not listed:
            return ZERO, ZERO
        total = tiered(self.tiers, listed)
        return total, total * self.list_actions / listed

    def exact(self) -> tuple[Fraction, Fraction]:
        """(tokens + actions, actions): exact cumulative value billed so far."""
        total, acts = self._current()
        return self.closed_total + total, self.closed_actions + acts

    @property
    def posted(self):
        return self.posted_usage.posted
