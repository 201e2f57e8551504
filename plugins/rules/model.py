"""The contract model: customers, contracts, packs, price books and cost tables.

Plain, immutable data with no Beancount import. ``contracts.load_contracts`` builds it
from the YAML under ``contracts/``; the pricing and recognition rules read it. Money is
``Decimal`` (never float), dates are ``datetime.date``, rates are exact.

    customer: acme                     ->  Customer(id="acme", contracts=(Contract(...),))
    contracts:
      - id: acme-2026
        price_book: list-2026          ->  Contract.price_book == "list-2026"
        packs: {standard: {...}}       ->  Contract.packs["standard"] == Pack(...)
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import accounts

ZERO = Decimal(0)


def add_months(day: datetime.date, months: int) -> datetime.date:
    """``day`` plus whole months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Term:
    """A length of time such as ``6 months``, ``90 days`` or ``1 year``."""

    count: int
    unit: str  # "day" | "month" | "year"

    def after(self, day: datetime.date) -> datetime.date:
        if self.unit == "day":
            return day + datetime.timedelta(days=self.count)
        if self.unit == "month":
            return add_months(day, self.count)
        return add_months(day, 12 * self.count)

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


# The token classes a rate block prices (docs/token-classes.md): the usage count that
# uses each rate, and the rate's name in a price book.
CLASS_RATES = (("uncached_input_tokens", "input"), ("cached_input_tokens", "cached_input"),
               ("output_tokens", "output"), ("cache_write_tokens", "cache_write"),
               ("cache_write_1h_tokens", "cache_write_1h"))
TOOLS = ("web_search", "code_execution", "file_search")  # priced per call (``tools``)


@dataclass(frozen=True)
class ModelRates:
    """Rates for one model, in currency per ``PriceBook.per`` tokens.

    ``cache_write``/``cache_write_1h``: the rates of prompt-cache writes (5-minute and
    1-hour), None where the price book gives none (then such usage is an error, never
    priced at the input rate). ``tiers``: the rate blocks of the service tiers (batch,
    priority, ...), each complete on its own; ``long_context``: the block of the prompts
    past ``long_context.above`` tokens. A block without ``cached_input`` has it None
    (the base block's defaults to ``input``, as it always has)."""

    input: Decimal
    cached_input: Decimal
    output: Decimal
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    tiers: tuple[tuple[str, ModelRates], ...] = ()
    long_context: ModelRates | None = None
    above: int | None = None  # a long-context block: prompts of more tokens than this
    given: frozenset[str] = frozenset({"input", "cached_input", "output"})

    def rate(self, name: str) -> Decimal | None:
        """The rate named ``name`` (``CLASS_RATES``), or None if the block gives none."""
        if name not in self.given and name not in ("cache_write", "cache_write_1h"):
            return None
        found: Decimal | None = getattr(self, name)
        return found

    def block(self, tier: str, context: str) -> tuple[ModelRates | None, str]:
        """The rate block of a service tier and context band (``""`` for the plain ones),
        and what is missing if there is none."""
        rates: ModelRates | None = self
        if tier:
            rates = dict(self.tiers).get(tier)
            if rates is None:
                return None, f"no rates for service tier {tier!r} (expected tiers: {tier}: ...)"
        if context:
            inner = rates.long_context if rates is not None else None
            if inner is None:
                where = f"tiers: {tier}: long_context" if tier else "long_context"
                return None, f"no long-context rates (expected {where}: ...)"
            rates = inner
        return rates, ""


@dataclass(frozen=True)
class PriceBookVersion:
    effective: datetime.date
    models: dict[str, ModelRates]
    line: int | None = None
    tools: dict[str, Decimal] = field(default_factory=dict)  # server tool -> price per call


@dataclass(frozen=True)
class PriceBook:
    """A price book (list prices) or a cost table (a provider's prices to us)."""

    id: str
    currency: str
    per: int
    versions: tuple[PriceBookVersion, ...]  # sorted by effective date
    source: str = ""
    provider: str | None = None  # cost tables only
    aliases: dict[str, str] = field(default_factory=dict)  # model id as logged -> model id here

    def version_on(self, day: datetime.date) -> PriceBookVersion | None:
        """The version in force on ``day``: the latest whose effective date is <= day."""
        found = None
        for version in self.versions:
            if version.effective <= day:
                found = version
            else:
                break
        return found

    def rates_on(self, model: str, day: datetime.date) -> ModelRates | None:
        version = self.version_on(day)
        return version.models.get(model) if version else None


@dataclass(frozen=True)
class BreakageRevision:
    date: datetime.date
    rate: Decimal
    approved_by: str | None = None
    basis: str | None = None


@dataclass(frozen=True)
class Breakage:
    method: str = "remote"  # remote | proportional
    rate: Decimal | None = None  # expected unused fraction (proportional)
    revisions: tuple[BreakageRevision, ...] = ()
    approved_by: str | None = None


# Kinds of credits without consideration of their own (``docs/grants.md``): what using
# them does to revenue is the kind's rule (``rules.grants``).
GRANT_KINDS = ("concession", "promotional", "bundled", "material_right")
FREE_KINDS = ("concession", "promotional")  # no consideration at all: never revenue
DEFAULT_PRIORITY = 50  # a lot's draw priority when none is written (lower first)


@dataclass(frozen=True)
class Bonus:
    """Credits bundled with every purchase of a pack (``kind: bundled``, 32-28..41)."""

    credits: Decimal
    ssp: Decimal | None = None  # SSP per credit (None: the pack's)
    priority: int | None = None  # None: the pack's


@dataclass(frozen=True)
class MaterialRight:
    """An option, sold with a pack, to buy ``pack`` later at a discount (55-41..45)."""

    pack: str  # the discounted pack whose purchase exercises the option
    ssp: Decimal  # standalone selling price of the option (the whole option)
    expires_after: Term | None = None
    expires: datetime.date | None = None

    def expiry_for(self, purchased: datetime.date) -> datetime.date | None:
        if self.expires is not None:
            return self.expires
        return self.expires_after.after(purchased) if self.expires_after else None


@dataclass(frozen=True)
class UnclaimedProperty:
    """The share of a pack's breakage owed to ``jurisdiction`` under unclaimed property
    law: a liability, never revenue (ASC 606-10-55-49; docs/variable-consideration.md)."""

    share: Decimal  # of the breakage, in [0, 1]
    jurisdiction: str  # the account component: Liabilities:Unclaimed-Property:<J>

    @property
    def account(self) -> str:
        return accounts.unclaimed_property(self.jurisdiction)


@dataclass(frozen=True)
class Pack:
    name: str
    price: Decimal
    credits: Decimal
    expires_after: Term | None = None
    expires: datetime.date | None = None
    breakage: Breakage = field(default_factory=Breakage)
    priority: int = DEFAULT_PRIORITY
    ssp: Decimal | None = None  # standalone selling price per credit (allocations)
    bonus: Bonus | None = None
    material_right: MaterialRight | None = None
    unclaimed_property: UnclaimedProperty | None = None

    def expiry_for(self, purchased: datetime.date) -> datetime.date | None:
        """Expiry date of a lot of this pack bought on ``purchased`` (None: never)."""
        if self.expires is not None:
            return self.expires
        if self.expires_after is not None:
            return self.expires_after.after(purchased)
        return None


@dataclass(frozen=True)
class TopUp:
    pack: str
    below: Decimal  # credits


@dataclass(frozen=True)
class Overage:
    policy: str = "invoice"  # invoice | hard_stop | top_up
    multiplier: Decimal = Decimal(1)
    top_up: TopUp | None = None


@dataclass(frozen=True)
class Commitment:
    amount: Decimal
    period: str = "month"  # month | year
    method: str = "remote"  # remote | proportional | ratable
    carryover: bool = False
    expected_usage: Decimal | None = None  # list value expected per period (proportional)
    # (period key, usage value) of the period in progress at a cut-over: the usage
    # before it counts toward the minimum (rules.cutover; remote method)
    prior_usage: tuple[str, Decimal] | None = None


@dataclass(frozen=True)
class Allowance:
    """Credits included every period with a subscription fee (see ``rules.allowances``)."""

    credits: Decimal
    period: str = "month"  # month | year
    fee: Decimal = ZERO  # consideration for the period's credits
    rollover: Decimal = ZERO  # credits carried into the next period at most (0: expire)
    per_user: Decimal | None = None  # credits one user may draw per period (None: shared)


@dataclass(frozen=True)
class Band:
    up_to: Decimal | None
    multiplier: Decimal


@dataclass(frozen=True)
class TierRevision:
    """A change of a retroactive tier's expected volume (docs/variable-consideration.md)."""

    date: datetime.date
    expected_volume: Decimal
    approved_by: str | None = None
    basis: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Tiers:
    mode: str  # graduated | volume
    period: str  # month | year
    bands: tuple[Band, ...]
    # Retroactive volume pricing (variable consideration, ASC 606-10-32-5..14, Example
    # 24): revenue at the band of ``expected_volume`` (list value per period) until the
    # period's end settles it at the actual band; ``revisions`` change the estimate.
    retroactive: bool = False
    expected_volume: Decimal | None = None
    approved_by: str | None = None
    revisions: tuple[TierRevision, ...] = ()


@dataclass(frozen=True)
class ActionPrice:
    price: Decimal
    weights: dict[str, Decimal]  # status -> weight (completed, partial, failed)


@dataclass(frozen=True)
class Modification:
    id: str
    date: datetime.date
    add_credits: Decimal = ZERO
    price: Decimal = ZERO
    expires: datetime.date | None = None
    ssp: Decimal | None = None
    method: str = "auto"  # auto | separate | prospective | catch_up
    past_credit: Decimal = ZERO
    discount: Decimal | None = None
    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    approved_by: str | None = None
    approved_on: datetime.date | None = None
    evidence: str | None = None
    line: int | None = None

    @property
    def approved(self) -> bool:
        return bool(self.approved_by) and self.approved_on is not None


@dataclass(frozen=True)
class Grant:
    """Credits granted without consideration of their own (``grants:``, docs/grants.md).

    ``with_payment``: a ``bundled`` grant's paid purchase, whose consideration it shares
    by relative SSP. ``void``: the date its remaining credits expire, the first day they
    can no longer be used (None: not voided).
    """

    id: str
    date: datetime.date
    credits: Decimal
    kind: str  # one of GRANT_KINDS except material_right
    expires: datetime.date | None = None
    expires_after: Term | None = None
    priority: int = DEFAULT_PRIORITY
    ssp: Decimal | None = None  # per credit (bundled)
    with_payment: str = ""
    void: datetime.date | None = None
    reason: str = ""
    line: int | None = None

    def expiry(self) -> datetime.date | None:
        """The lot's expiry (the first day its credits can no longer be used,
        docs/expiry.md): the expiry, or the void date when earlier."""
        end = self.expires or (self.expires_after.after(self.date)
                               if self.expires_after else None)
        if self.void is not None and (end is None or self.void < end):
            return self.void
        return end


@dataclass(frozen=True)
class FixedRate:
    """A contract's ``fx``: its price book's rates, in ``source``, times ``rate``."""

    rate: Decimal
    source: str


@dataclass(frozen=True)
class Contract:
    id: str
    customer: str
    start: datetime.date
    currency: str
    billing: str  # prepaid | arrears
    price_book: str
    end: datetime.date | None = None
    discount: Decimal = ZERO
    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    credit_value: Decimal | None = None
    packs: dict[str, Pack] = field(default_factory=dict)
    draw_order: str = "earliest_expiry"
    overage: Overage = field(default_factory=Overage)
    commitment: Commitment | None = None
    tiers: Tiers | None = None
    allowance: Allowance | None = None
    actions: dict[str, ActionPrice] = field(default_factory=dict)
    modifications: tuple[Modification, ...] = ()
    payment_terms_days: int = 30
    non_billable_features: frozenset[str] = frozenset()
    # usage a gateway served from its own cache (``cache_hit``): billed at the rates it
    # would have had ("bill") or not at all ("free"); it never costs (docs/token-classes.md)
    gateway_cache: str = "bill"
    # The cut-over day of a book opened from balances (rules.cutover; not a YAML field:
    # the load sets it): what the contract did before it is in the opening balances, so
    # the engine starts there (no grant, modification, allowance or commitment period
    # of before it is booked again).
    since: datetime.date | None = None
    refund_credits: str = "proportional"  # refunds: {credits: proportional | none}
    # fx: {rate, from}: the price book is in ``from`` and converted at ``rate`` (units of
    # the contract's currency per unit of ``from``, exact); None: the price book's currency
    # is the contract's (docs/currency.md)
    fx: FixedRate | None = None
    grants: tuple[Grant, ...] = ()
    grant_kinds: frozenset[str] = frozenset(GRANT_KINDS)  # the kinds the contract allows
    # Sections added by later features that this model does not type yet, kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int | None = None

    def active_on(self, day: datetime.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    contracts: tuple[Contract, ...]
    segment: str | None = None
    source: str = ""

    @property
    def component(self) -> str:
        return accounts.component(self.id)

    def contract_for(self, contract_id: str | None, day: datetime.date) -> Contract | None:
        """The contract a purchase names by id, or else the one in force on ``day``."""
        if contract_id:
            return next((c for c in self.contracts if c.id == contract_id), None)
        return self.contract_on(day)

    def contract_on(self, day: datetime.date) -> Contract | None:
        """The contract in force on ``day`` (contracts of a customer never overlap)."""
        for contract in self.contracts:
            if contract.active_on(day):
                return contract
        return None


@dataclass(frozen=True)
class ContractSet:
    """Everything under one ``contracts/`` folder, validated."""

    customers: dict[str, Customer]
    price_books: dict[str, PriceBook]
    costs: dict[str, PriceBook]  # provider -> cost table
    files: tuple[str, ...]  # every YAML file read, for Beancount's include list

    def contract(self, contract_id: str) -> Contract | None:
        for customer in self.customers.values():
            for contract in customer.contracts:
                if contract.id == contract_id:
                    return contract
        return None

    def provider_of(self, model: str, day: datetime.date) -> str | None:
        """The provider whose cost table prices ``model`` on ``day``."""
        for provider, table in sorted(self.costs.items()):
            if table.rates_on(model, day) is not None:
                return provider
        return None
