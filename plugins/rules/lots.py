"""Credit lots: each purchase (or allowance, or top-up) is a lot of prepaid credits.

A lot holds its consideration (``price``), its credits, purchase and expiry dates, and
exact cumulative quantities (``Fraction``): credits ``used`` (and the part of them used
by actions) and credits ``forfeited`` (trimmed by an allowance rollover cap, or
refunded). Revenue recognized so far is kept per stream as posted cents
(``rules.rounding.Cumulative``); what to post is always
``round(exact cumulative target) - posted`` (see ``rules.recognition``).

Draw order (docs/grants.md). Lots are drawn by ``priority`` first (a whole number,
lower first; a pack's, a grant's, else 50, the default of every lot: a purchase, a
top-up, an allowance period); within a priority, by the contract's ``draw_order``:
``earliest_expiry`` (lots that never expire last) or ``oldest`` (purchase date); the
ties of either are broken by expiry, then free credits before paid ones (promotional,
then concession, then paid and bundled credits), then the oldest, then the lot id:

    earliest_expiry: (priority, never expires, expiry, kind rank, purchased, id)
    oldest:          (priority, purchased, never expires, expiry, kind rank, id)

Expiry (docs/expiry.md), the one rule every comparison of a date with an expiry follows:
a lot's ``expires`` is the expiry *instant*, the start of that day, as Stripe and
OpenMeter define ``expires_at``: the credits can be used up to it and not on it. A lot is
usable from its purchase date through the day before its expiry (``usable(expires,
day)``: ``day < expires``); usage dated on the expiry date is no longer covered (the
contract's overage policy applies); what is left is recognized on the expiry date
itself (remote breakage, or the proportional true-up). ``expires_after: N days|months``
from a purchase on day D gives D + N; an explicit ``expires: DATE`` is the first day the
credits can no longer be used; a void date is a grant's expiry; an allowance period's
credits expire on the next period's first day. A modification may move the expiry of
the open lot (``rules.modifications``): the lot's ``expires`` is then the new one, and
every reader (invariants, reports) reads the lot, never the purchase.

A lot's ``kind`` says what its credits are (``rules.model.GRANT_KINDS``, or ``paid``):
``concession`` and ``promotional`` lots have no consideration (``price`` 0) and never
earn revenue; a ``bundled`` lot holds the consideration allocated to it by relative SSP
and is recognized like a paid lot; a ``material_right`` lot holds an option's allocated
consideration and no credits (never drawn; ``rules.grants``).

Extension points (breakage and modifications, issue 5): ``Lot.method`` picks the
recognition target in ``rules.recognition.TARGETS`` (``remote`` here; a
``proportional`` target adds ``expected`` credits and catches up on revisions);
``Lot.reprice`` is the prospective-modification primitive (remaining unrecognized
consideration plus new consideration over remaining plus new credits, past revenue
untouched); ``LotBook.add`` takes any new lot (a ``separate`` modification).

    lot acme-2026.standard.2026-01-03: 1,000.00 for 100,000 credits, expires 2026-07-03
    draw 25,000 credits -> used 25,000, revenue to date 250.00, liability 750.00
    usable on 2026-07-02, not on 2026-07-03 (the 750.00 left is breakage that day)
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from .rounding import Cumulative

ZERO = Fraction(0)
FREE = ("concession", "promotional")
# Ties within a priority and draw order: promotional, then concession, then the rest.
KIND_RANK = {"promotional": 0, "concession": 1}


def usable(expires: datetime.date | None, day: datetime.date) -> bool:
    """Whether credits expiring on ``expires`` (None: never) can be used on ``day``: up
    to the expiry instant and not on it (the module doc's one rule)."""
    return expires is None or day < expires


def expired(expires: datetime.date | None, day: datetime.date) -> bool:
    """Whether credits expiring on ``expires`` can no longer be used on ``day``."""
    return expires is not None and day >= expires


@dataclass
class Lot:
    id: str
    contract: str
    pack: str
    price: Decimal  # consideration (transaction price of the lot)
    credits: Fraction
    purchased: datetime.date
    expires: datetime.date | None
    method: str = "remote"  # recognition target, see rules.recognition.TARGETS
    source: str = ""  # ref of the purchase entry, or the rule that made the lot
    kind: str = "paid"  # paid | concession | promotional | bundled | material_right
    opening: bool = False  # taken over at a cut-over: its liability is an opening balance
    priority: int = 50  # draw priority, lower first (rules.model.DEFAULT_PRIORITY)
    used: Fraction = ZERO
    used_actions: Fraction = ZERO
    forfeited: Fraction = ZERO
    closed: bool = False  # expired or refunded: everything left is recognized
    # Refunds of the lot (rules.refunds): consideration returned, and the credits they
    # took back (``proportional``); ``price`` and ``credits`` are already net of them.
    refunded: Decimal = Decimal(0)
    credits_refunded: Fraction = ZERO
    # Posted revenue per stream (cents, cumulative): actions, usage incl. actions, total.
    posted_actions: Cumulative = field(default_factory=Cumulative)
    posted_usage: Cumulative = field(default_factory=Cumulative)
    posted_total: Cumulative = field(default_factory=Cumulative)
    # A concession lot: the value of its used credits at contract rates (cents,
    # cumulative), tokens and actions, booked as revenue against the contra line.
    posted_face: Cumulative = field(default_factory=Cumulative)
    posted_face_actions: Cumulative = field(default_factory=Cumulative)
    voided: datetime.date | None = None  # a grant voided on this date (its expiry)
    # Unclaimed property (docs/variable-consideration.md): this share of the lot's
    # breakage goes to ``unclaimed_account`` (a liability to a state), never to revenue;
    # posted cumulatively to the cent like the other streams.
    unclaimed_share: Fraction = ZERO
    unclaimed_account: str = ""
    posted_unclaimed: Cumulative = field(default_factory=Cumulative)
    # Estimates and history for later rules (proportional breakage, modifications):
    # after ``reprice``, revenue at ``base_credits`` done is ``base_revenue``.
    expected: Fraction | None = None
    base_revenue: Decimal = Decimal(0)
    base_credits: Fraction = ZERO
    notes: list[str] = field(default_factory=list)

    def snapshot(self) -> Lot:
        """A copy of the lot as it is now, that later draws and postings leave alone (the
        engine keeps one per month end: ``ContractRun.lots_at``)."""
        return dataclasses.replace(
            self, posted_actions=Cumulative(self.posted_actions.posted),
            posted_usage=Cumulative(self.posted_usage.posted),
            posted_total=Cumulative(self.posted_total.posted),
            posted_face=Cumulative(self.posted_face.posted),
            posted_face_actions=Cumulative(self.posted_face_actions.posted),
            posted_unclaimed=Cumulative(self.posted_unclaimed.posted),
            notes=list(self.notes))

    @property
    def free(self) -> bool:
        """Credits with no consideration at all (concession, promotional)."""
        return self.kind in FREE

    @property
    def remaining(self) -> Fraction:
        return self.credits - self.used - self.forfeited

    def usable_on(self, day: datetime.date) -> bool:
        return (not self.closed and self.purchased <= day
                and (self.expires is None or day < self.expires) and self.remaining > 0)

    @property
    def liability(self) -> Decimal:
        """Contract liability left on the lot (posted)."""
        return self.price - self.posted_total.posted

    def draw(self, credits: Fraction, actions: Fraction = ZERO) -> None:
        if credits > self.remaining:
            raise ValueError(f"lot {self.id}: draw of {credits} exceeds {self.remaining}")
        self.used += credits
        self.used_actions += actions

    def forfeit(self, credits: Fraction) -> None:
        self.forfeited += min(credits, self.remaining)

    def reprice(self, price: Decimal, credits: Fraction, note: str) -> None:
        """Prospective modification: ``credits`` added for ``price`` (25-13(a)).

        The remaining unrecognized consideration plus ``price`` is spread over the
        remaining plus added credits; revenue posted so far never changes (``value_of``
        starts from it).
        """
        self.notes.append(note)
        self.base_revenue = self.posted_total.posted
        self.base_credits = self.used + self.forfeited
        self.price += price
        self.credits += credits
        self.closed = False

    def value_of(self, credits: Fraction) -> Fraction:
        """Exact consideration earned by ``credits`` used or forfeited (face value)."""
        span = self.credits - self.base_credits
        if span <= 0:
            return Fraction(self.price)
        base = Fraction(self.base_revenue)
        return base + (Fraction(self.price) - base) * (credits - self.base_credits) / span


# A lot's place in draw order (see the module doc).
DrawKey = (tuple[int, datetime.date, bool, datetime.date, int, str]
           | tuple[int, bool, datetime.date, int, datetime.date, str])


def sort_key(order: str) -> Callable[[Lot], DrawKey]:
    def key(lot: Lot) -> DrawKey:
        never = lot.expires is None
        expires = lot.expires or datetime.date.max
        rank = KIND_RANK.get(lot.kind, 2)
        if order == "oldest":
            return (lot.priority, lot.purchased, never, expires, rank, lot.id)
        return (lot.priority, never, expires, rank, lot.purchased, lot.id)
    return key


class LotBook:
    """The lots of one contract, in draw order.

    ``lots`` holds the open lots only (a lot used up or closed leaves it), so that a
    contract that bought hundreds of top-ups over the years still draws in a few steps;
    ``by_id`` keeps every lot.
    """

    def __init__(self, draw_order: str) -> None:
        self.order = draw_order
        self.lots: list[Lot] = []
        self.by_id: dict[str, Lot] = {}
        self._key = sort_key(draw_order)
        # (lot, credits, used, forfeited, left) after the last draw if one lot covered it
        self.last: tuple[Lot, Fraction, Fraction, Fraction, Fraction] | None = None

    def add(self, lot: Lot) -> Lot:
        if lot.id in self.by_id:
            raise ValueError(f"duplicate lot id {lot.id}")
        bisect.insort(self.lots, lot, key=self._key)
        self.by_id[lot.id] = lot
        return lot

    def retire(self) -> None:
        """Drop closed lots from the open list; a used-up lot is closed (all recognized)."""
        for lot in self.lots:
            if not lot.closed and lot.remaining <= 0:
                lot.closed = True
        self.lots = [lot for lot in self.lots if not lot.closed]

    def new_id(self, contract: str, pack: str, day: datetime.date) -> str:
        """A lot id unique in the contract: ``<contract>.<pack>.<date>[.<n>]``."""
        base = f"{contract}.{pack}.{day.isoformat()}"
        if base not in self.by_id:
            return base
        n = 2
        while f"{base}.{n}" in self.by_id:
            n += 1
        return f"{base}.{n}"

    def usable(self, day: datetime.date) -> list[Lot]:
        return [lot for lot in self.lots if lot.usable_on(day)]

    def balance(self, day: datetime.date) -> Fraction:
        total = ZERO
        for lot in self.lots:
            if (not lot.closed and lot.purchased <= day
                    and (lot.expires is None or day < lot.expires)):
                remaining = lot.remaining
                if remaining > 0:
                    total += remaining
        return total

    def draw(self, day: datetime.date, credits: Fraction, actions: Fraction = ZERO
             ) -> tuple[list[tuple[Lot, Fraction]], Fraction]:
        """Draw ``credits`` (of which ``actions`` by actions) in draw order.

        Returns the draws [(lot, credits)] and the credits left uncovered. (The hot path
        of the engine: each lot's remaining credits are computed once.)
        """
        lots = self.lots
        self.last = None
        if lots and credits and not actions:  # the common case: the first lot covers it
            lot = lots[0]
            if (not lot.closed and lot.purchased <= day
                    and (lot.expires is None or day < lot.expires)):
                remaining = lot.credits - lot.used
                if lot.forfeited:
                    remaining -= lot.forfeited
                if credits < remaining:
                    lot.used += credits
                    self.last = (lot, lot.credits, lot.used, lot.forfeited, remaining - credits)
                    # (nothing left: an int 0, which works as Fraction(0) does)
                    return [(lot, credits)], 0  # type: ignore[return-value]
        draws = []
        left = credits
        share = actions / credits if actions else None
        used_up = False
        for lot in self.lots:
            if left <= 0:
                break
            if (lot.closed or lot.purchased > day
                    or (lot.expires is not None and day >= lot.expires)):
                continue
            remaining = lot.remaining
            if remaining <= 0:
                continue
            take = left if left < remaining else remaining
            lot.used += take
            if share is not None:
                lot.used_actions += take * share
            used_up = used_up or take == remaining
            draws.append((lot, take))
            left -= take
        if used_up:
            self.retire()
        return draws, left

    def covers(self, credits: Fraction) -> bool:
        """Whether the lot of the last draw (if it was the whole draw, from one lot, still
        open and unchanged since) has at least ``credits`` left: the balance then has too,
        without summing every lot. A cheap answer for the engine's daily top-up check."""
        last = self.last
        if last is None:
            return False
        lot, total, used, forfeited, left = last
        return (lot.credits is total and lot.used is used and lot.forfeited is forfeited
                and not lot.closed and left >= credits)

    def expiring(self, day: datetime.date) -> list[Lot]:
        """The open lots whose expiry is ``day`` (no longer usable from that day on)."""
        return [lot for lot in self.lots if not lot.closed and lot.expires == day]

    def next_expiry(self, after: datetime.date) -> datetime.date | None:
        dates = [lot.expires for lot in self.lots
                 if not lot.closed and lot.expires is not None and lot.expires >= after]
        return min(dates) if dates else None
