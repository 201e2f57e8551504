"""The month grain of the usage sub-ledger: the days a usage aggregate may cover.

A month-grain aggregate covers several days of one customer (``Usage.date`` to
``Usage.until``) that the contracts treat alike, so that every figure is the same to
the cent as at day grain. The days are cut at every date from which a contract can treat
a day differently (``cut_dates``); a span never holds a cut date but as its first day,
and never crosses a month (the close). Some contracts make the figures depend on the
order of the days themselves, at no date known in advance: their customers stay at day
grain (``DAY_GRAIN``, docs/grain.md says why for each).

    >>> spans = Spans({"acme": Cuts("acme", (datetime.date(2026, 1, 10),))})
    >>> spans.span("acme", datetime.date(2026, 1, 12))
    (datetime.date(2026, 1, 10), datetime.date(2026, 1, 31))
    >>> spans.span("acme", datetime.date(2026, 1, 3))
    (datetime.date(2026, 1, 1), datetime.date(2026, 1, 9))

Pure functions over plain data (``rules.model``, ``rules.records``): the importers build
the spans of a book with ``spans_for``, the engine checks every aggregate it is given
with ``Cuts.problem`` (a purchase imported after the usage it splits is an error naming
the entry, never a different figure).
"""

from __future__ import annotations

import bisect
import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import Contract, ContractSet, Customer, PriceBook
from .modifications import change_days
from .periods import month_end
from .records import Purchase

ONE_DAY = datetime.timedelta(days=1)
GRAINS = ("day", "month")
# Above this many usage entries a year (customers x days x models x features) month grain
# is recommended: Fava reloads and Beancount parses the whole book after every change.
MONTH_RECOMMENDED_ABOVE = 100_000

# Why a customer's figures depend on the order of its days (docs/grain.md): each is a
# reason its usage stays at day grain.
DAY_GRAIN = {
    "posting": "the book posts usage per day (posting: day): one booking a day",
    "cogs_period": "the book posts inference cost per day (cogs period: day)",
    "top_up": "automatic top-up: a pack is bought on the day the balance falls below the "
              "threshold, a date the usage decides",
    "hard_stop": "hard stop: the events blocked are counted from the last events of each "
                 "day the credits run out",
    "per_user": "per-user allowance limits: a day's usage is drawn user by user, so the "
                "lot each user's usage draws depends on the order of days",
    "actions": "credits and priced actions: the share of actions in what a lot covered "
               "(Revenue:Actions against Revenue:Usage) depends on the day it runs out",
    "promotional": "promotional credits: inference cost moves to marketing per day by the "
                   "share the promotional lot covered, which changes the day it runs out",
}


@dataclass(frozen=True)
class Cuts:
    """The cut dates of one customer (sorted), or why it stays at day grain."""

    customer: str
    dates: tuple[datetime.date, ...] = ()
    day_grain: str = ""  # a DAY_GRAIN message: every day is a cut date
    reasons: tuple[str, ...] = ()  # what makes each date a cut (for messages)

    def span(self, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        """(first, last) day of the span holding ``day``."""
        if self.day_grain:
            return day, day
        first = day.replace(day=1)
        last = month_end(day)
        i = bisect.bisect_right(self.dates, day)
        if i and self.dates[i - 1] > first:
            first = self.dates[i - 1]
        if i < len(self.dates) and self.dates[i] <= last:
            last = self.dates[i] - ONE_DAY
        return first, last

    def problem(self, first: datetime.date, last: datetime.date) -> str | None:
        """Why an aggregate covering ``first`` to ``last`` cannot be booked on ``first``
        (None when it can)."""
        if last <= first:
            return None
        if self.day_grain:
            return (f"customer {self.customer!r} stays at day grain ({self.day_grain})")
        if last > month_end(first):
            return f"it crosses the end of the month on {month_end(first)}"
        i = bisect.bisect_right(self.dates, first)
        if i < len(self.dates) and self.dates[i] <= last:
            return (f"the contracts treat {self.dates[i]} differently from the days before "
                    f"it (a cut date: {self.reason_of(self.dates[i])})")
        return None

    def reason_of(self, day: datetime.date) -> str:
        i = bisect.bisect_left(self.dates, day)
        return self.reasons[i] if i < len(self.reasons) else "a date of the contracts"


class Spans:
    """The spans of a book's customers: ``span(customer, day) -> (first, last)``, the
    interface the usage importers take (``UsageCore(..., spans=)``). A customer with no
    contract stays at day grain."""

    def __init__(self, cuts: Mapping[str, Cuts]) -> None:
        self.cuts = dict(cuts)

    def span(self, customer: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        cuts = self.cuts.get(customer)
        return cuts.span(day) if cuts is not None else (day, day)

    def problem(self, customer: str, first: datetime.date, last: datetime.date) -> str | None:
        cuts = self.cuts.get(customer)
        if cuts is None:
            return None if last <= first else f"customer {customer!r} has no contract"
        return cuts.problem(first, last)


def contract_day_grain(contract: Contract, purchases: Iterable[Purchase] = ()) -> str:
    """Why ``contract`` makes its usage stay at day grain ("" when it does not)."""
    credits = contract.billing == "prepaid" or contract.allowance is not None
    policy = contract.overage.policy
    if contract.billing == "prepaid" and policy == "top_up":
        return DAY_GRAIN["top_up"]
    if contract.billing == "prepaid" and policy == "hard_stop":
        return DAY_GRAIN["hard_stop"]
    if contract.allowance is not None and contract.allowance.per_user is not None:
        return DAY_GRAIN["per_user"]
    if contract.actions and (credits or any(p.kind == "purchase" for p in purchases)):
        return DAY_GRAIN["actions"]
    if (any(g.kind == "promotional" for g in contract.grants)
            or any(p.grant == "promotional" for p in purchases)):
        return DAY_GRAIN["promotional"]
    return ""


def contract_cuts(contract: Contract, price_book: PriceBook | None,
                  purchases: Iterable[Purchase] = (),
                  costs: Iterable[PriceBook] = (),
                  as_of: datetime.date | None = None) -> dict[datetime.date, str]:
    """Every date from which ``contract`` can treat a day differently than the day
    before, with what makes it one (month starts are cuts of every span anyway)."""
    cuts: dict[datetime.date, str] = {}

    def cut(day: datetime.date | None, why: str) -> None:
        if day is not None and day not in cuts:
            cuts[day] = why

    cut(contract.start, f"contract {contract.id} starts")
    if contract.end is not None:
        cut(contract.end + ONE_DAY, f"contract {contract.id} ended the day before")
    cut(contract.since, "the cut-over")
    if as_of is not None:
        cut(as_of + ONE_DAY, f"the day after as_of {as_of}")
    if price_book is not None:
        for version in price_book.versions:
            cut(version.effective, f"price book {price_book.id} version {version.effective}")
    for table in costs:
        for version in table.versions:
            cut(version.effective, f"cost table {table.id} version {version.effective}")
    for day in change_days(contract):
        cut(day, "a modification or breakage revision")
    for mod in contract.modifications:
        cut(mod.expires, f"modification {mod.id}'s credits expire")
    if contract.tiers is not None:
        for revision in contract.tiers.revisions:
            cut(revision.date, "a tier revision")
    # allowance, commitment and tier periods are months or years: month starts
    for grant in contract.grants:
        cut(grant.date, f"grant {grant.id}")
        cut(grant.expiry(), f"grant {grant.id} expires")
        cut(grant.void, f"grant {grant.id} is voided")
    for pack in contract.packs.values():
        cut(pack.expires, f"pack {pack.name} expires")
        if pack.material_right is not None:
            cut(pack.material_right.expires, f"the option of pack {pack.name} lapses")
    mods = {m.id: m for m in contract.modifications}
    for purchase in purchases:
        day = purchase.date
        cut(day, f"purchase {purchase.payment_id or purchase.ref}")
        cut(purchase.expires, f"purchase {purchase.payment_id or purchase.ref} expires")
        cut(purchase.void, f"grant {purchase.payment_id or purchase.ref} is voided")
        bought = contract.packs.get(purchase.pack)
        ends = purchase.expires or (bought.expiry_for(day) if bought is not None else None)
        if ends is not None and ends <= day:  # (an error: the engine posts that day)
            cut(day + ONE_DAY, f"the day after purchase {purchase.payment_id or purchase.ref}"
                               f" of credits already expired")
        if bought is not None:
            cut(bought.expiry_for(day), f"the lot of {purchase.payment_id or purchase.ref} "
                                        f"expires")
            if bought.material_right is not None:
                cut(bought.material_right.expiry_for(day),
                    f"the option of {purchase.payment_id or purchase.ref} lapses")
        elif purchase.pack in mods:
            cut(mods[purchase.pack].expires, f"modification {purchase.pack}'s lot expires")
        for grant in contract.grants:  # bundled with this payment
            if grant.with_payment and grant.with_payment == purchase.payment_id:
                end = grant.expires or (grant.expires_after.after(day)
                                        if grant.expires_after else None)
                cut(end, f"bundled grant {grant.id} expires")
                cut(grant.void, f"bundled grant {grant.id} is voided")
    return cuts


def customer_cuts(customer: Customer, contracts: ContractSet,
                  purchases: Iterable[Purchase] = (), as_of: datetime.date | None = None,
                  book_day_grain: str = "") -> Cuts:
    """The cut dates of ``customer`` over all its contracts (``purchases``: its
    purchases, refunds and grants known to the book and the import run)."""
    bought: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        contract = customer.contract_for(purchase.contract, purchase.date)
        if contract is not None:
            bought[contract.id].append(purchase)
    if book_day_grain:
        return Cuts(customer.id, (), book_day_grain)
    dates: dict[datetime.date, str] = {}
    for contract in customer.contracts:
        why = contract_day_grain(contract, bought[contract.id])
        if why:
            return Cuts(customer.id, (), why)
        for day, reason in contract_cuts(contract,
                                         contracts.price_books.get(contract.price_book),
                                         bought[contract.id], contracts.costs.values(),
                                         as_of).items():
            dates.setdefault(day, reason)
    days = tuple(sorted(dates))
    return Cuts(customer.id, days, "", tuple(dates[d] for d in days))


def book_day_grain(posting: str = "month", cogs_period: str = "month") -> str:
    """Why a whole book stays at day grain ("" when it need not)."""
    if posting == "day":
        return DAY_GRAIN["posting"]
    if cogs_period == "day":
        return DAY_GRAIN["cogs_period"]
    return ""


def spans_for(contracts: ContractSet, purchases: Iterable[Purchase] = (),
              as_of: datetime.date | None = None, posting: str = "month",
              cogs_period: str = "month") -> Spans:
    """The spans of every customer of ``contracts`` (see ``customer_cuts``)."""
    by_customer: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        by_customer[purchase.customer].append(purchase)
    whole = book_day_grain(posting, cogs_period)
    return Spans({cid: customer_cuts(customer, contracts, by_customer[cid], as_of, whole)
                  for cid, customer in contracts.customers.items()})
