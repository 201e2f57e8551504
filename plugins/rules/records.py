"""Plain records the rules consume: usage aggregates and credit purchases.

They mirror what the importers write into the book (see ``tokenbooks.plugins.entries``
for the Beancount form) and carry no Beancount type, so the rules can be tested on
plain data.

    2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""    ->  Usage(customer="acme",
      input_tokens: 120000                                       model="gpt-4o", ...)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

ACTION_STATUSES = ("completed", "partial", "failed")
# The token classes and server-tool calls beyond input/cached/output (docs/token-classes.md):
# counts a usage aggregate carries only when not zero (``Usage.extra``). Cache writes are
# part of ``input_tokens``, like cache reads (``cached_input_tokens``).
CACHE_WRITES = ("cache_write_tokens", "cache_write_1h_tokens")
TOOL_CALLS = ("web_search_calls", "code_execution_calls", "file_search_calls")
EXTRA_COUNTS = (*CACHE_WRITES, *TOOL_CALLS)


class Usage(NamedTuple):
    """One aggregate of usage events: a customer, a UTC day, a model, a feature, an action.

    A NamedTuple rather than a frozen dataclass: a book makes one per usage entry at
    every load, and a NamedTuple is built about four times faster.

    ``workflow`` (entry metadata) ties token aggregates to the action aggregate of the same
    workflow, whose action they served (``rules.cogs``). ``until`` is the last day covered (the same day at day grain; the month grain
    covers several days that the contracts treat alike). ``ref`` points back at the
    entry in the book (``file:line``) for provenance.
    """

    date: datetime.date
    customer: str
    model: str = ""
    feature: str = ""
    action: str = ""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    events: int = 0
    completed: int = 0
    partial: int = 0
    failed: int = 0
    unbilled_events: int = 0  # e.g. failed provider requests: counted, never billed
    user: str = ""
    until: datetime.date | None = None
    workflow: str = ""  # ties the model calls of one action or agent run together
    ref: str = ""
    # The token classes of docs/token-classes.md, at their defaults for plain usage:
    tier: str = ""  # the provider's service tier ("" standard; batch, priority, flex ...)
    context: str = ""  # the long-context band ("" or "long")
    cache_hit: bool = False  # served from the gateway's own cache: no provider call
    extra: tuple[tuple[str, int], ...] = ()  # (name, count) of EXTRA_COUNTS, not zero

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens written to the provider's cache, both durations."""
        return sum(count for name, count in self.extra if name in CACHE_WRITES)

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens neither read from nor written to the cache."""
        if self.extra:
            return self.input_tokens - self.cached_input_tokens - self.cache_write_tokens
        return self.input_tokens - self.cached_input_tokens

    def count(self, name: str) -> int:
        """One of ``EXTRA_COUNTS`` (0 when the aggregate has none)."""
        for found, count in self.extra:
            if found == name:
                return count
        return 0

    @property
    def special(self) -> bool:
        """Whether the aggregate needs more than the input, cached and output rates."""
        return bool(self.extra or self.tier or self.context or self.cache_hit)

    @property
    def last_day(self) -> datetime.date:
        return self.until or self.date


@dataclass(frozen=True)
class Purchase:
    """A credit purchase (or its refund) as booked by the purchases importer.

    ``amount`` is positive for a purchase and for a refund alike; ``kind`` tells which.
    ``credits``/``expires`` are what the purchase row gave (or the pack's defaults,
    resolved at import), ``paid`` is False when the purchase was booked as a receivable.
    """

    date: datetime.date
    customer: str
    contract: str
    pack: str
    amount: Decimal
    currency: str
    payment_id: str
    credits: Decimal | None = None
    expires: datetime.date | None = None
    paid: bool = True
    kind: str = "purchase"  # purchase | refund
    refund_of: str = ""
    ref: str = ""
    # A grant (amount 0): its kind, concession or promotional (docs/grants.md); "" for a
    # paid purchase or a refund.
    grant: str = ""
    # A lot taken over at a cut-over (rules.cutover): ``amount`` is the liability left for
    # ``credits`` left; no allocation or option of the pack applies again.
    opening: bool = False
    # The row's own draw priority (else its pack's: docs/grants.md) and, for a grant, the
    # day it was voided (its credits end then, exclusive like an expiry).
    priority: int | None = None
    void: datetime.date | None = None


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice of the book (``rule: invoice``, written by the close) as the cash
    application reads it: its total and what each stream billed."""

    id: str
    customer: str
    currency: str
    date: datetime.date
    due: datetime.date
    total: Decimal
    streams: tuple[tuple[str, Decimal], ...] = ()  # (stream, amount) in line order
    ref: str = ""


@dataclass(frozen=True)
class CustomerPayment:
    """A customer's payment (``rule: payment``): ``applied`` is what went to each invoice
    (in the order the row named them), ``credits`` what went to the customer's credits
    (unapplied cash, an overpayment). ``from_credits``: no cash, the customer's held
    credits applied to invoices instead."""

    date: datetime.date
    customer: str
    amount: Decimal
    currency: str
    payment_id: str
    invoices: tuple[str, ...] = ()  # the invoices the payment names, in its order
    applied: tuple[tuple[str, Decimal], ...] = ()
    credits: Decimal = Decimal("0.00")
    from_credits: bool = False
    ref: str = ""


@dataclass(frozen=True)
class CreditNote:
    """A credit note on an invoice (``rule: credit-note``): reduces the receivable and the
    revenue stream it corrects."""

    date: datetime.date
    customer: str
    invoice: str
    stream: str
    amount: Decimal
    currency: str
    credit_note_id: str
    reason: str = ""
    ref: str = ""
