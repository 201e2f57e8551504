"""The contract engine: one contract's usage and purchases, in date order, to bookings.

``run_contract`` walks the days on which something happens to a contract (usage, a
purchase, an allowance period, a lot expiry, a commitment period's end, the end of a
posting segment) up to ``as_of``, and on each day, in this order:

1. starts the allowance period (a lot for the fee), books purchases (lots) and refunds,
   then expires the lots whose expiry is that day (docs/expiry.md: credits are usable up
   to the expiry instant, the start of the expiry date, and not on it), booking remote
   breakage (or the proportional true-up) on the expiry date, before the day's usage;
2. prices the day's usage (``rules.pricing``) and draws credits from the lots in draw
   order (``rules.lots``), per user when the allowance limits users; what the credits do
   not cover follows the overage policy: ``invoice`` (``rules.arrears``, at list x
   multiplier), ``hard_stop`` (not billed; blocked events counted, a ``Notice``) or
   ``top_up`` (a pack bought automatically: Dr Receivable / Cr contract liability, then
   drawn; also whenever the balance falls below the threshold). Arrears contracts bill
   all usage (past any allowance) in arrears;
3. closes the posting segment ending that day: one ``usage`` booking with every lot's
   recognized revenue (``rules.recognition``) and the arrears usage, commitment accrual;
4. lapses an allowance period's credits at the end of its last day (their expiry is the
   next period's first day; the breakage stays in the period), trims allowance
   rollovers, and closes commitment periods (``rules.commitments``).

A posting segment is a month (``posting="month"``, the default) or a day
(``posting="day"``), cut early on the last usable day of a lot (the day before its
expiry), the day before a new price-book version, the contract's end and ``as_of``: so
every booking draws only from lots usable on its date, names one price-book version,
and (cumulative rounding everywhere) the totals of a month are the same under either
option. Output is deterministic.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import math
import operator
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from fractions import Fraction

from . import accounts, refunds
from .allocation import allocate
from .allowances import UserLimits, allowance_lot, trim_rollover
from .arrears import Arrears
from .commitments import CommitmentState
from .grain import Cuts, book_day_grain, contract_cuts, contract_day_grain
from .grants import allocate_purchase
from .journal import Booking, EngineError, Leg, Notice
from .lots import Lot, LotBook
from .model import (
    DEFAULT_PRIORITY,
    FREE_KINDS,
    Allowance,
    Contract,
    Grant,
    Modification,
    Pack,
    PriceBook,
    TierRevision,
    TopUp,
)
from .modifications import Changes, change_days, expected_for
from .periods import month_of, next_period_start, period_end
from .pricing import DayPrice, Key, Priced, Pricer, Values, add_value
from .recognition import recognize
from .records import Purchase, Usage
from .rounding import to_cent
from .tiers import band_multiplier

ZERO = Fraction(0)
ONE_DAY = datetime.timedelta(days=1)
EXACT_DIGITS = 80
MAX_TOP_UPS = 1000  # automatic purchases for one day's usage of one contract, at most


@dataclass
class ContractRun:
    """Everything the engine produced for one contract.

    Besides the bookings: the lots as they end the run, and as they stood at the end of
    every month (``lots_at``: the contract sub-ledger that the close ties the ledger
    to); and the value at contract rates of the usage priced, per month and ``Key``
    (model, feature, action served), that revenue is split by in reports and invoices.
    """

    contract: Contract
    bookings: list[Booking] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    errors: list[EngineError] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    priced: int = 0  # usage entries priced (each exactly once)
    blocked_events: int = 0
    # (day, the lots at the end of that day): every month end of the run, and its last day
    snapshots: list[tuple[datetime.date, list[Lot]]] = field(default_factory=list)
    # month (YYYY-MM) -> Key -> [value of the tokens, value of the actions], exact
    values: dict[str, dict[Key, Values]] = field(default_factory=dict)
    # (day, user) -> promotional lot id -> the share of that day's usage (of that user,
    # when the contract limits users; else user "") its credits covered: what
    # ``rules.cogs.promotional_costs`` moves from COGS to marketing (docs/grants.md)
    promotional: dict[tuple[datetime.date, str], dict[str, Fraction]] = field(
        default_factory=dict)
    per_user: bool = False

    def lots_at(self, day: datetime.date) -> list[Lot]:
        """The lots as they stood at the end of ``day`` (a month end or later): copies,
        from the last snapshot on or before it ([] before the first)."""
        i = bisect.bisect_right(self.snapshots, day, key=operator.itemgetter(0))
        return self.snapshots[i - 1][1] if i else []


# The order of a day's usage: user, model, feature, action, ref (a C-level key: every
# usage entry of a book is sorted by it at every load).
usage_order = operator.itemgetter(Usage._fields.index("user"), 2, 3, 4,
                                  Usage._fields.index("ref"))


def purchase_order(purchase: Purchase) -> tuple[datetime.date, bool, str, str, str]:
    return (purchase.date, purchase.kind != "purchase", purchase.pack, purchase.payment_id,
            purchase.ref)


def purchase_lot_ids(contract_id: str, purchases: Iterable[Purchase]) -> dict[str, str]:
    """Lot id of each purchase (by ``ref``): ``<contract>.<pack>.<date>[.<n>]``."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for purchase in sorted(purchases, key=purchase_order):
        if purchase.kind != "purchase":
            continue
        base = f"{contract_id}.{purchase.pack}.{purchase.date.isoformat()}"
        lot_id, n = base, 2
        while lot_id in taken:
            lot_id, n = f"{base}.{n}", n + 1
        taken.add(lot_id)
        ids[purchase.ref] = lot_id
    return ids


def exact_sum(values: Iterable[Decimal | Fraction]) -> Decimal | Fraction:
    """The exact sum: a Decimal while every term is one (fast; exact at the engine's
    precision), else a Fraction."""
    values = list(values)
    try:
        return sum(values, Decimal(0))
    except TypeError:
        return sum((Fraction(v) for v in values), ZERO)


def _credits(value: Fraction) -> object:
    """Credits as shown in metadata: a whole number, else a Decimal to 6 places."""
    if value.denominator == 1:
        return Decimal(value.numerator)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.000001"))


class _Segment:
    def __init__(self, start: datetime.date, end: datetime.date) -> None:
        self.start = start
        self.end = end
        self.entries = 0
        self.first = ""
        self.last = ""
        self.lots: dict[str, Lot] = {}
        self.versions: set[datetime.date] = set()
        self.values: dict[Key, Values] = {}  # what the segment's revenue is split by
        self.logged: dict[Key, set[str]] = {}  # model ids as logged, when not the key's
        self.credits = ZERO
        self.blocked_events = 0
        self.blocked_credits = ZERO
        self.overage_credits = ZERO
        self.granted: dict[str, Fraction] = {}  # grant lot id -> credits drawn from it


class ContractEngine:
    # Whether the walk draws a run of prepaid usage days at once where that books what
    # day by day does (``prepaid_batch``); off, every day is drawn alone (the tests
    # compare the two).
    batches = True

    def __init__(self, contract: Contract, price_book: PriceBook, customer_name: str,
                 as_of: datetime.date, posting: str = "month",
                 served: Mapping[str, str] | None = None) -> None:
        self.contract = contract
        self.price_book = price_book
        self.served = served or {}
        self.customer = contract.customer
        self.payee = customer_name
        self.as_of = as_of
        self.posting = posting
        self.pricer = Pricer(contract, price_book)
        self.pricer.served = self.served
        self.lots = LotBook(contract.draw_order)
        self.arrears = Arrears(contract)
        self.commit = (CommitmentState(contract, contract.commitment)
                       if contract.commitment else None)
        self.limits = UserLimits(contract.allowance)
        self.credit_value = Fraction(contract.credit_value) if contract.credit_value else None
        self.run = ContractRun(contract)
        self.segment: _Segment | None = None
        self.currency = contract.currency
        self.lot_ids: dict[str, str] = {}
        self.payment_lots: dict[str, Lot] = {}
        self.payment_paid: dict[str, Decimal] = {}  # payment id -> consideration paid
        self.versions = [v.effective for v in price_book.versions]
        self.top_up_refused: datetime.date | None = None
        top_up = contract.overage.top_up
        self.top_up_threshold = Fraction(top_up.below) if top_up is not None else ZERO
        self.changes = Changes(self)  # breakage revisions and modifications (rules.modifications)
        self.options: list[Lot] = []  # material rights: consideration, no credits, not drawn
        self.bundled: dict[str, list[Grant]] = defaultdict(list)  # payment id -> grants
        self.bundled_done: set[str] = set()
        self.run.per_user = self.limits.limit is not None

    # --- helpers -------------------------------------------------------------------------

    def error(self, day: datetime.date, message: str, ref: str = "") -> None:
        self.run.errors.append(EngineError(day, self.customer, message,
                                           ref or f"{self.contract.source}:"
                                                  f"{self.contract.line or 0}"))

    def book_it(self, day: datetime.date, rule: str, narration: str, legs: list[Leg],
                meta: dict[str, object], lots: Iterable[str] = ()) -> Booking | None:
        legs = [leg for leg in legs if leg.amount]
        if not legs:
            return None
        booking = Booking(day, self.customer, self.contract.id, rule, narration, legs,
                          {"customer": self.customer, "contract": self.contract.id,
                           "rule": rule, **meta},
                          tuple([self.contract.id, *sorted(set(lots))]))
        assert booking.balanced(), booking
        self.run.bookings.append(booking)
        return booking

    @property
    def has_credits(self) -> bool:
        return (self.contract.billing == "prepaid" or self.contract.allowance is not None
                or bool(self.lots.lots))

    def notice(self, day: datetime.date, rule: str, message: str,
               meta: dict[str, object]) -> None:
        self.run.notices.append(Notice(day, self.customer, self.contract.id, rule, message,
                                       meta))

    def leg(self, kind: str, amount: Decimal, lot: str = "") -> Leg:
        account = {"deferred": accounts.deferred_revenue(self.customer),
                   "receivable": accounts.receivable(self.customer),
                   "adjustments": accounts.REVENUE_ADJUSTMENTS}[kind]
        return Leg(account, amount, lot)

    def book_memo(self, day: datetime.date, rule: str, narration: str, legs: list[Leg],
                  meta: dict[str, object], lots: Iterable[str] = ()) -> None:
        """Book even when every leg is zero (a modification's audit-trail entry)."""
        if any(leg.amount for leg in legs):
            self.book_it(day, rule, narration, legs, meta, lots)
            return
        self.run.bookings.append(Booking(
            day, self.customer, self.contract.id, rule, narration, legs,
            {"customer": self.customer, "contract": self.contract.id, "rule": rule, **meta},
            tuple([self.contract.id, *sorted(set(lots))])))

    def reprice_usage(self, mod: Modification) -> None:
        """A modification's new discount or rates price usage from its date on."""
        self.contract = dataclasses.replace(
            self.contract, discount=self.contract.discount if mod.discount is None
            else mod.discount, rates={**self.contract.rates, **mod.rates})
        self.pricer = Pricer(self.contract, self.price_book)
        self.pricer.served = self.served

    def add_lot(self, lot: Lot) -> Lot:
        pack = self.contract.packs.get(lot.pack)
        if (pack is not None and pack.unclaimed_property is not None
                and lot.kind in ("paid", "bundled")):
            lot.unclaimed_share = Fraction(pack.unclaimed_property.share)
            lot.unclaimed_account = pack.unclaimed_property.account
        self.changes.lot_created(lot)
        self.lots.add(lot)
        self.run.lots.append(lot)
        self.cut_segment(lot.expires)
        return lot

    def cut_segment(self, expires: datetime.date | None) -> None:
        """End the open posting segment on the last day credits expiring on ``expires``
        can be used (the day before: docs/expiry.md), when that is earlier."""
        seg = self.segment
        if seg is not None and expires is not None and expires - ONE_DAY < seg.end:
            seg.end = max(expires - ONE_DAY, seg.start)

    # --- purchases, top-ups, allowances --------------------------------------------------

    def purchase(self, purchase: Purchase) -> None:
        day = purchase.date
        if purchase.kind == "refund":
            self.refund(purchase)
            return
        if purchase.grant:
            self.grant_purchase(purchase)
            return
        pack = self.contract.packs.get(purchase.pack)
        lot_id = self.lot_ids[purchase.ref]
        if pack is not None:
            credits = purchase.credits if purchase.credits is not None else pack.credits
            expires = purchase.expires or pack.expiry_for(day)
            method = pack.breakage.method
        else:
            mod = next((m for m in self.contract.modifications if m.id == purchase.pack), None)
            if mod is None:
                self.error(day, f"purchase of unknown pack {purchase.pack!r} for contract "
                                f"{self.contract.id!r}", purchase.ref)
                return
            if not mod.approved:
                self.run.notices.append(Notice(
                    day, self.customer, self.contract.id, "modification",
                    f"modification {mod.id!r} is not approved: its payment stays in the "
                    f"contract liability and is not drawn", {"modification": mod.id}))
                return
            credits = purchase.credits if purchase.credits is not None else mod.add_credits
            expires = purchase.expires or mod.expires
            method = "remote"
            if credits and self.changes.purchased(day, mod, purchase.amount, Fraction(credits),
                                                  expires, purchase.ref, lot_id):
                return
        if not credits:
            self.error(day, f"purchase {purchase.payment_id or purchase.ref} of "
                            f"{purchase.pack!r} has no credits", purchase.ref)
            return
        parts: list[tuple[Lot, Decimal]] = []
        price = purchase.amount
        if pack is not None and not purchase.opening:  # (an opening lot: allocated before)
            parts = self.allocation_parts(purchase, pack, lot_id, Fraction(credits), expires)
            price = purchase.amount - sum((amount for _, amount in parts), Decimal(0))
        lot = self.add_lot(Lot(lot_id, self.contract.id, purchase.pack, price,
                               Fraction(credits), day, expires, method,
                               source=purchase.ref, opening=purchase.opening,
                               priority=(purchase.priority if purchase.priority is not None
                                         else pack.priority if pack else DEFAULT_PRIORITY)))
        for part, amount in parts:
            self.allocated(day, lot, part, amount)
        if not purchase.opening:
            self.exercise(day, lot)
        if purchase.payment_id:
            self.payment_lots[purchase.payment_id] = lot
            self.payment_paid[purchase.payment_id] = purchase.amount
        if expires is not None and expires <= day:
            self.error(day, f"purchase {purchase.payment_id or purchase.ref} of "
                            f"{purchase.pack!r} on {day}: its credits expired on {expires}, "
                            f"before they could be used (expected an expiry after the "
                            f"purchase date: credits cannot be used on their expiry date); "
                            f"recognized as breakage on the purchase date", purchase.ref)
            lot.closed = True
            self.lots.retire()
            self.post_lot_breakage(day, lot, "expiry", f"Expiry of lot {lot.id}: bought "
                                                       f"after its expiry date",
                                   {"expires": expires, "credits_expired": _credits(lot.credits)})

    # --- grants (rules.grants, docs/grants.md) ------------------------------------------

    def grant(self, grant: Grant) -> None:
        """A contract ``grants:`` entry (not bundled): a lot with no consideration."""
        expires = grant.expiry()
        lot = self.add_lot(Lot(f"{self.contract.id}.grant.{grant.id}", self.contract.id,
                               grant.id, Decimal("0.00"), Fraction(grant.credits),
                               grant.date, expires, source=f"grant {grant.id}",
                               kind=grant.kind, priority=grant.priority,
                               voided=grant.void if grant.void == expires else None))
        self.grant_booking(grant.date, lot, grant.reason)

    def grant_purchase(self, purchase: Purchase) -> None:
        """A purchases row with amount 0 and a ``kind``: free credits."""
        day = purchase.date
        kind = purchase.grant
        where = purchase.payment_id or purchase.ref
        if kind not in FREE_KINDS:
            self.error(day, f"grant {where} of kind {kind!r}: expected 'concession' or "
                            f"'promotional' for credits with no payment (bundled credits "
                            f"come with a paid purchase: a pack's bonus or a grant 'with' "
                            f"its payment)", purchase.ref)
            return
        if kind not in self.contract.grant_kinds:
            self.error(day, f"grant {where}: kind {kind!r} is not allowed by contract "
                            f"{self.contract.id!r} (grant_kinds: "
                            f"{', '.join(sorted(self.contract.grant_kinds))})", purchase.ref)
            return
        if purchase.amount:
            self.error(day, f"grant {where}: expected amount 0 for {kind} credits, got "
                            f"{purchase.amount}", purchase.ref)
            return
        if self.credit_value is None:
            self.error(day, f"grant {where}: contract {self.contract.id!r} has no "
                            f"credit_value (expected one with grants)", purchase.ref)
            return
        pack = self.contract.packs.get(purchase.pack)
        credits = purchase.credits if purchase.credits is not None else (
            pack.credits if pack else None)
        if not credits:
            self.error(day, f"grant {where} of {purchase.pack!r} has no credits",
                       purchase.ref)
            return
        expires = purchase.expires or (pack.expiry_for(day) if pack else None)
        void = purchase.void
        if void is not None and void <= day:
            self.error(day, f"grant {where}: voided on {void}, on or before its date (expected "
                            f"a void after it)", purchase.ref)
            return
        if void is not None and (expires is None or void <= expires):
            expires = void  # a void ends the credits, as an expiry does (docs/grants.md)
        priority = (purchase.priority if purchase.priority is not None
                    else pack.priority if pack else DEFAULT_PRIORITY)
        lot = self.add_lot(Lot(self.lot_ids[purchase.ref], self.contract.id, purchase.pack,
                               Decimal("0.00"), Fraction(credits), day, expires,
                               source=purchase.ref, kind=kind, priority=priority,
                               voided=void if void is not None and void == expires else None))
        self.grant_booking(day, lot, "")

    def grant_booking(self, day: datetime.date, lot: Lot, reason: str) -> None:
        """The grant's entry: no consideration (a 0.00 contract-liability leg that the
        invariants read as the lot's consideration, with its expiry)."""
        other = (accounts.REVENUE_CONCESSIONS if lot.kind == "concession"
                 else accounts.MARKETING_PROMOTIONAL)
        meta: dict[str, object] = {"lot": lot.id, "pack": lot.pack, "grant": lot.kind,
                                   "credits": _credits(lot.credits), "expires": lot.expires,
                                   "priority": Decimal(lot.priority)}
        if lot.voided is not None:
            meta["void"] = lot.voided
        if reason:
            meta["reason"] = reason
        self.book_memo(day, "grant", f"Credit grant {lot.pack} ({lot.kind}): "
                                     f"{_credits(lot.credits)} credits, no consideration",
                       [Leg(accounts.deferred_revenue(self.customer), Decimal("0.00"),
                            lot.id, "consideration"),
                        Leg(other, Decimal("0.00"), lot.id)], meta, [lot.id])

    def allocation_parts(self, purchase: Purchase, pack: Pack, lot_id: str,
                         credits: Fraction, expires: datetime.date | None
                         ) -> list[tuple[Lot, Decimal]]:
        """The lots that share a paid purchase's consideration by relative SSP (a pack's
        bonus, the grants ``with`` its payment, a material right), each with its share;
        the paid lot keeps the rest. [] when nothing is bundled."""
        day = purchase.date
        grants = [g for g in self.bundled.get(purchase.payment_id, ())
                  if purchase.payment_id and g.id not in self.bundled_done]
        right = pack.material_right
        if pack.bonus is None and not grants and right is None:
            return []
        own = ([pack.bonus.ssp] if pack.bonus else []) + [g.ssp for g in grants]
        if pack.ssp is None and any(x is not None for x in own):
            self.error(day, f"purchase {purchase.payment_id or purchase.ref}: pack "
                            f"{pack.name!r} has no ssp (expected the SSP of one credit to "
                            f"allocate its consideration by relative SSP)", purchase.ref)
            return []
        # credits with no SSP written share the paid credits' (their relative SSP is
        # their relative number)
        per = Fraction(pack.ssp) if pack.ssp is not None else Fraction(1)
        weights: list[tuple[str, Fraction]] = [("paid", per * credits)]
        lots: dict[str, Lot] = {}
        if pack.bonus is not None:
            bonus = pack.bonus
            weights.append(("bonus", Fraction(bonus.ssp) * Fraction(bonus.credits)
                            if bonus.ssp is not None else per * Fraction(bonus.credits)))
            lots["bonus"] = Lot(f"{lot_id}.bonus", self.contract.id, purchase.pack,
                                Decimal(0), Fraction(bonus.credits), day, expires,
                                pack.breakage.method, source=purchase.ref, kind="bundled",
                                priority=(bonus.priority if bonus.priority is not None
                                          else pack.priority))
        for g in grants:
            if g.date != day:
                self.error(day, f"grant {g.id!r} is bundled with payment "
                                f"{purchase.payment_id!r} of {day}; expected the grant's "
                                f"date to be the purchase's, got {g.date}",
                           f"{self.contract.source}:{g.line or 0}")
            self.bundled_done.add(g.id)
            weights.append((g.id, Fraction(g.ssp) * Fraction(g.credits) if g.ssp is not None
                            else per * Fraction(g.credits)))
            end = g.expires or (g.expires_after.after(day) if g.expires_after else expires)
            if g.void is not None and (end is None or g.void < end):
                end = g.void
            lots[g.id] = Lot(f"{self.contract.id}.grant.{g.id}", self.contract.id, g.id,
                             Decimal(0), Fraction(g.credits), day, end, source=f"grant {g.id}",
                             kind="bundled", priority=g.priority,
                             voided=g.void if g.void is not None and g.void == end else None)
        if right is not None:
            weights.append(("option", Fraction(right.ssp)))
            lots["option"] = Lot(f"{lot_id}.option", self.contract.id,
                                 f"{pack.name}:option:{right.pack}", Decimal(0), ZERO, day,
                                 right.expiry_for(day), source=purchase.ref,
                                 kind="material_right", priority=pack.priority)
        shares = allocate_purchase(purchase.amount, weights)
        out = []
        for name, lot in lots.items():
            lot.price = shares[name]
            out.append((lot, shares[name]))
        return out

    def allocated(self, day: datetime.date, paid: Lot, lot: Lot, amount: Decimal) -> None:
        """A lot given its share of a paid purchase's consideration: the liability moves
        from the paid lot to it (``rule: consideration`` legs), on the purchase date."""
        if lot.kind == "material_right":
            self.options.append(lot)
            self.run.lots.append(lot)
            self.cut_segment(lot.expires)
        else:
            self.add_lot(lot)
        deferred = accounts.deferred_revenue(self.customer)
        what = ("option to buy " + lot.pack.rsplit(":", 1)[-1] + " at a discount"
                if lot.kind == "material_right" else f"{_credits(lot.credits)} bundled credits")
        meta: dict[str, object] = {"lot": lot.id, "pack": lot.pack, "grant": lot.kind,
                                   "allocated_from": paid.id, "consideration": amount,
                                   "credits": _credits(lot.credits), "expires": lot.expires,
                                   "priority": Decimal(lot.priority)}
        if lot.voided is not None:
            meta["void"] = lot.voided
        self.book_memo(day, "allocation", f"Allocation by relative SSP: {amount} of lot "
                                          f"{paid.id} to lot {lot.id} ({what})",
                       [Leg(deferred, amount, paid.id, "consideration"),
                        Leg(deferred, -amount, lot.id, "consideration")], meta,
                       [paid.id, lot.id])

    def exercise(self, day: datetime.date, lot: Lot) -> None:
        """A purchase of a material right's pack before it lapses exercises it: the
        option's consideration is added to the new lot's (55-45), on the purchase date."""
        for option in self.options:
            if (option.closed or option.pack.rsplit(":", 1)[-1] != lot.pack
                    or option.purchased > day
                    or (option.expires is not None and day >= option.expires)):
                continue
            amount = option.price
            option.price = Decimal("0.00")
            option.closed = True
            lot.price += amount
            deferred = accounts.deferred_revenue(self.customer)
            self.book_memo(day, "allocation", f"Material right {option.id} exercised: its "
                                              f"{amount} added to lot {lot.id}",
                           [Leg(deferred, amount, option.id, "consideration"),
                            Leg(deferred, -amount, lot.id, "consideration")],
                           {"lot": lot.id, "pack": lot.pack, "grant": "material_right",
                            "exercised": option.id, "consideration": amount,
                            "expires": lot.expires}, [option.id, lot.id])
            return

    def lapse_options(self, day: datetime.date) -> None:
        """A material right not exercised by its expiry lapses: what it holds is
        recognized on that day (as breakage: an unexercised right, 55-46..49)."""
        for option in self.options:
            if option.closed or option.expires != day:
                continue
            option.closed = True
            amount = option.posted_total.post_to(Fraction(option.price))
            deferred = accounts.deferred_revenue(self.customer)
            self.book_it(day, "expiry", f"Material right {option.id} lapsed unexercised",
                         [Leg(deferred, amount, option.id),
                          Leg(accounts.REVENUE_BREAKAGE, -amount, option.id)],
                         {"lot": option.id, "pack": option.pack, "grant": "material_right",
                          "expires": day}, [option.id])

    def refund(self, purchase: Purchase) -> None:
        """A refund of a purchase (``rules.refunds``): the importer booked the cash back
        against the contract liability; here the lot gives back its credits by the
        contract's policy, and the part beyond the lot's liability (consumed value
        returned) moves to contra revenue on the refund's date."""
        day = purchase.date
        lot = self.payment_lots.get(purchase.refund_of)
        if lot is None:
            self.error(day, f"refund {purchase.payment_id!r} of {purchase.refund_of!r}: no "
                            f"purchase with that payment id in contract "
                            f"{self.contract.id!r}", purchase.ref)
            return
        self.flush(day, cut=True)
        try:
            split = refunds.plan(purchase.amount, self.payment_paid[purchase.refund_of],
                                 lot.refunded, lot.liability, lot.remaining,
                                 self.contract.refund_credits)
        except refunds.RefundError as exc:
            self.error(day, f"refund {purchase.payment_id!r} of lot {lot.id}: {exc}",
                       purchase.ref)
            return
        lot.refunded += split.amount
        lot.credits_refunded += split.credits_back
        if split.from_liability:
            # Revenue so far stands; what is left is repriced (32-10, no catch-up).
            lot.reprice(-split.from_liability, -split.credits_back,
                        f"refund {purchase.payment_id}")
            lot.expected = expected_for(lot, self.changes.rates.get(lot.id))
        if split.closes or (split.from_liability and lot.remaining <= 0):
            lot.closed = True
            self.lots.retire()
        if split.of_revenue:
            deferred = accounts.deferred_revenue(self.customer)
            self.book_it(day, "refund",
                         f"Refund {purchase.payment_id} of lot {lot.id}: beyond its contract "
                         f"liability, consumed value returned",
                         [Leg(deferred, -split.of_revenue, lot.id),
                          Leg(accounts.REVENUE_REFUNDS, split.of_revenue, lot.id)],
                         {"lot": lot.id, "pack": lot.pack, "refund": purchase.payment_id,
                          "refund_of": purchase.refund_of,
                          "from_liability": split.from_liability,
                          "of_revenue": split.of_revenue}, [lot.id])

    def can_top_up(self, day: datetime.date) -> bool:
        """False (and an error, once a day) when the top-up pack cannot be bought on ``day``."""
        # (policy top_up: run_all checked that top_up is set)
        pack = self.contract.packs[
            self.contract.overage.top_up.pack]  # type: ignore[union-attr]
        expires = pack.expiry_for(day)
        if expires is None or expires > day:
            return True
        if self.top_up_refused != day:
            self.top_up_refused = day
            self.error(day, f"contract {self.contract.id!r}: top-up pack {pack.name!r} "
                            f"expired on {expires} (not usable from that day on); usage past "
                            f"the credits is invoiced")
        return False

    def top_up(self, day: datetime.date, balance: Fraction) -> Lot:
        # (policy top_up: set, as in can_top_up)
        terms: TopUp = self.contract.overage.top_up  # type: ignore[assignment]
        pack = self.contract.packs[terms.pack]
        lot_id = self.lots.new_id(self.contract.id, f"top-up-{pack.name}", day)
        lot = self.add_lot(Lot(lot_id, self.contract.id, pack.name, pack.price,
                               Fraction(pack.credits), day, pack.expiry_for(day),
                               pack.breakage.method, source="top-up"))
        self.book_it(day, "top-up", f"Automatic top-up: {pack.name}",
                     [Leg(accounts.receivable(self.customer), pack.price, lot_id),
                      Leg(accounts.deferred_revenue(self.customer), -pack.price, lot_id)],
                     {"lot": lot_id, "pack": pack.name, "credits": pack.credits,
                      "expires": lot.expires, "balance_before": _credits(balance)},
                     [lot_id])
        return lot

    def start_allowance(self, day: datetime.date) -> None:
        lot = allowance_lot(self.contract, self.lots, day)
        self.run.lots.append(lot)
        self.cut_segment(lot.expires)
        # (run_all starts allowance periods only when the contract has an allowance)
        allowance: Allowance = self.contract.allowance  # type: ignore[assignment]
        self.book_it(day, "allowance", f"Credit allowance {lot.id.rsplit('.', 1)[-1]}",
                     [Leg(accounts.receivable(self.customer), allowance.fee, lot.id),
                      Leg(accounts.deferred_revenue(self.customer), -allowance.fee, lot.id)],
                     {"lot": lot.id, "pack": "allowance", "credits": allowance.credits,
                      "expires": lot.expires}, [lot.id])

    # --- usage ---------------------------------------------------------------------------

    def open_segment(self, day: datetime.date) -> _Segment:
        if self.segment is None:
            self.segment = _Segment(day, self.segment_end(day))
        return self.segment

    def segment_end(self, day: datetime.date) -> datetime.date:
        """The last day of a posting segment that would open on ``day``."""
        end = day if self.posting == "day" else period_end(day, "month")
        end = min(end, self.as_of)
        if self.contract.end is not None:
            end = min(end, self.contract.end)
        expiry = self.lots.next_expiry(day + ONE_DAY)
        if expiry is not None:  # (the last day its credits can be used: docs/expiry.md)
            end = min(end, expiry - ONE_DAY)
        i = bisect.bisect_right(self.versions, day)
        if i < len(self.versions):
            end = min(end, self.versions[i] - ONE_DAY)
        return end

    def use(self, day: datetime.date, usages: list[Usage],
            price: DayPrice | None = None) -> None:
        """Draw (or invoice) ``usages``, of ``day`` or of the days a batch covers
        (``price``: their pricing, made already by ``prepaid_batch``)."""
        # Values per usage entry are only needed to count the events a hard stop blocks
        # and to split a day among users with limits; otherwise the day is priced whole.
        each = self.has_credits and (self.limits.limit is not None
                                     or self.contract.overage.policy == "hard_stop")
        priced, tokens, actions, version, errors, values, logged = (
            price if price is not None else self.pricer.price_day(day, usages, each))
        for exc in errors:
            self.error(exc.usage.date, exc.message, exc.usage.ref)
        if not priced:
            return
        seg = self.open_segment(day)
        if values:
            month = self.run.values.get(month_of(day))
            if month is None:
                month = self.run.values[month_of(day)] = {}
            for into in (seg.values, month):
                for key, (value, action_value) in values.items():
                    add_value(into, key, value, action_value)
        for key, ids in logged.items():
            seg.logged.setdefault(key, set()).update(ids)
        seg.entries += len(priced)
        # (``priced`` holds Priced entries with ``each``, else Usage: ``DayPrice.priced``)
        first: Usage
        last: Usage
        first, last = (
            (priced[0].usage, priced[-1].usage)  # type: ignore[union-attr,assignment]
            if each else (priced[0], priced[-1]))
        seg.first = seg.first or first.ref
        seg.last = last.ref
        if version is not None:
            seg.versions.add(version)
        self.run.priced += len(priced)
        if not self.has_credits:
            self.arrears.add(day, tokens, actions)
            return
        if self.limits.limit is None:
            self.draw_group(day, seg, "", priced, tokens, actions)
        else:
            self.draw_users(day, seg, priced)  # type: ignore[arg-type]  # each: Priced
        overage = self.contract.overage
        if self.contract.billing == "prepaid" and overage.policy == "top_up":
            self.top_up_below(day)

    def prepaid_batch(self, day: datetime.date, usages: list[Usage]) -> DayPrice | None:
        """The pricing of ``usages`` (of ``day`` and of the days after it up to the posting
        segment's end, on which nothing else happens to the contract) if drawing them at
        once books what drawing them day by day does; else None (the walk goes day by
        day). So it is when, after all of them, the lots still hold the top-up threshold
        (nothing if no top-up): the balance only falls between those days, so no day's
        draw would have crossed it, no top-up bought and nothing left uncovered; no lot
        expires or comes in before the segment ends (``segment_end``); and the draws are
        of tokens alone from lots that are not promotional (drawn by day and user:
        ``run.promotional``), in sums that are exact either way."""
        lots = self.lots
        if any(lot.kind == "promotional" for lot in lots.lots):
            return None
        if any(usage.special or usage.action for usage in usages):
            # (a lot's share of actions is that of the day it runs out; token classes
            # are valued entry by entry, into the values in another order)
            return None
        price = self.pricer.price_day(day, usages, False)
        if price.errors or not price.tokens:
            return None
        if lots.balance(day) - self.credits_for(price.tokens) < self.top_up_threshold:
            return None
        return price

    def credits_for(self, value: Decimal | Fraction) -> Fraction:
        """The credits worth ``value`` (one Fraction made from the integer ratios).
        (Credits need a credit value: ``contracts`` requires one with prepaid billing or
        an allowance.)"""
        numerator, denominator = value.as_integer_ratio()
        credit_value: Fraction = self.credit_value  # type: ignore[assignment]
        return Fraction(numerator * credit_value.denominator,
                        denominator * credit_value.numerator)

    def draw_users(self, day: datetime.date, seg: _Segment, priced: list[Priced]) -> None:
        """Draw per user: each user's usage against what is left of their limit."""
        groups: dict[str, list[Priced]] = defaultdict(list)
        for p in priced:
            groups[p.usage.user].append(p)
        for user in sorted(groups):
            group = groups[user]
            self.draw_group(day, seg, user, group, exact_sum(p.tokens for p in group),
                            exact_sum(p.actions for p in group))

    def top_up_below(self, day: datetime.date) -> None:
        below = self.top_up_threshold
        if self.lots.covers(below):  # the lot drawn last has that much left on its own
            return
        for _ in range(MAX_TOP_UPS):
            balance = self.lots.balance(day)
            if balance >= below or not self.can_top_up(day):
                return
            self.top_up(day, balance)
        self.error(day, f"contract {self.contract.id!r}: top-up loop did not reach the "
                        f"threshold")

    def draw_group(self, day: datetime.date, seg: _Segment, user: str,
                   priced: list[Priced] | list[Usage], tokens: Decimal | Fraction,
                   actions: Decimal | Fraction) -> None:
        """Draw the credits of ``priced`` (worth ``tokens`` + ``actions``) for ``user``
        (Priced entries when a hard stop may block them: ``use`` prices them ``each``)."""
        if not actions:  # the common case: tokens / credit value, one Fraction made
            if not tokens:
                return
            need = self.credits_for(tokens)
            actions = ZERO
        else:
            tokens, actions = Fraction(tokens), Fraction(actions)
            value = tokens + actions
            if not value:
                return
            need = value / self.credit_value  # type: ignore[operator]  # (as above)
        share = actions / value if actions else ZERO
        room = self.limits.room(user, day)
        drawable = need if room is None else min(need, room)
        draws, left = self.lots.draw(day, drawable, drawable * share if actions else ZERO)
        overage = self.contract.overage
        prepaid = self.contract.billing == "prepaid"
        guard = 0
        while (left and prepaid and overage.policy == "top_up" and guard < MAX_TOP_UPS
               and self.can_top_up(day)):
            self.top_up(day, ZERO)
            more, left = self.lots.draw(day, left, left * share if actions else ZERO)
            draws += more
            guard += 1
        drawn = drawable - left if left else drawable
        self.limits.record(user, day, drawn)
        for lot, take in draws:
            seg.lots[lot.id] = lot
            if lot.kind != "paid":
                seg.granted[lot.id] = seg.granted.get(lot.id, ZERO) + take
                if lot.kind == "promotional":
                    shares = self.run.promotional.setdefault((day, user), {})
                    shares[lot.id] = shares.get(lot.id, ZERO) + take / need
        seg.credits += drawn
        if drawn is need:
            return
        uncovered = need - drawn
        if uncovered <= 0:
            return
        if prepaid and overage.policy == "hard_stop":
            seg.blocked_credits += uncovered
            # (a hard stop prices ``each``: Priced entries)
            seg.blocked_events += self.blocked(priced, uncovered)  # type: ignore[arg-type]
            return
        multiplier = Fraction(overage.multiplier) if prepaid else Fraction(1)
        part = uncovered / need
        seg.overage_credits += uncovered
        self.arrears.add(day, Fraction(tokens) * part * multiplier, actions * part * multiplier)

    def blocked(self, priced: list[Priced], uncovered: Fraction) -> int:
        """Events blocked by a hard stop: the day's last events, ``uncovered`` credits' worth."""
        events = 0
        left = uncovered * self.credit_value  # type: ignore[operator]  # (see draw_group)
        for p in reversed(priced):
            value = Fraction(p.value)
            if not value:
                continue
            if value <= left:
                events += p.usage.events
                left -= value
            else:
                events += math.ceil(p.usage.events * left / value)
                left = ZERO
            if left <= 0:
                break
        return events

    # --- posting -------------------------------------------------------------------------

    def flush(self, day: datetime.date, cut: bool = False) -> None:
        """Post the open segment if it ends on ``day`` (or now, with ``cut``)."""
        seg = self.segment
        if seg is not None and not cut and seg.end > day:
            return
        arrears_total, arrears_actions = self.arrears.exact()
        legs: list[Leg] = []
        lot_ids = []
        deferred = accounts.deferred_revenue(self.customer)
        if seg is not None:
            for lot_id in sorted(seg.lots):
                lot = seg.lots[lot_id]
                rec = recognize(lot)
                lot_ids.append(lot_id)
                legs += [Leg(deferred, rec.total, lot_id),
                         Leg(accounts.REVENUE_USAGE, -rec.usage, lot_id),
                         Leg(accounts.REVENUE_ACTIONS, -rec.actions, lot_id),
                         Leg(accounts.REVENUE_BREAKAGE, -rec.breakage, lot_id, "breakage"),
                         Leg(lot.unclaimed_account, -rec.unclaimed, lot_id, "unclaimed")]
                if lot.kind == "concession":
                    legs += self.concession_legs(lot)
        withheld = self.commit.withheld(arrears_total) if self.commit else ZERO
        target = arrears_total - withheld
        actions_target = arrears_actions * target / arrears_total if arrears_total else ZERO
        actions = self.arrears.posted_actions.post_to(actions_target)
        usage = self.arrears.posted_usage.post_to(target) - actions
        rule = "overage" if self.contract.billing == "prepaid" else ""
        unbilled = accounts.unbilled(self.customer)
        legs += [Leg(unbilled, usage + actions, rule=rule),
                 Leg(accounts.REVENUE_USAGE, -usage, rule=rule),
                 Leg(accounts.REVENUE_ACTIONS, -actions, rule=rule)]
        if (self.commit is not None and self.commit.key is not None
                and day <= self.commit.end):  # type: ignore[operator]  # set with key
            legs += self.commit.accrue(day, arrears_total, self.customer)
        if seg is None:
            self.book_it(day, "commitment", "Minimum commitment: ratable accrual", legs,
                         {"period": self.commit.key} if self.commit else {})
            return
        self.segment = None
        meta: dict[str, object] = {
            "lots": " ".join(lot_ids) if lot_ids else None,
            "price_book": " ".join(f"{self.price_book.id}@{v.isoformat()}"
                                   for v in sorted(seg.versions)) or self.price_book.id,
            "usage_entries": Decimal(seg.entries),
            "first_usage": seg.first, "last_usage": seg.last,
            "from": seg.start,
        }
        if seg.credits:
            meta["credits"] = _credits(seg.credits)
        if seg.granted:
            meta["grant_credits"] = " ".join(f"{lot_id}={_credits(seg.granted[lot_id])}"
                                             for lot_id in sorted(seg.granted))
        if seg.overage_credits:
            meta["overage_credits"] = _credits(seg.overage_credits)
        if seg.blocked_credits:
            meta["blocked_events"] = Decimal(seg.blocked_events)
            meta["blocked_credits"] = _credits(seg.blocked_credits)
            self.run.blocked_events += seg.blocked_events
            self.run.notices.append(Notice(
                day, self.customer, self.contract.id, "hard-stop",
                f"hard stop: customer {self.customer!r} ran out of credits; "
                f"{seg.blocked_events} usage events blocked from {seg.start} to {day} "
                f"({_credits(seg.blocked_credits)} credits not billed)",
                {"blocked_events": Decimal(seg.blocked_events),
                 "blocked_credits": _credits(seg.blocked_credits)}))
        meta = {k: v for k, v in meta.items() if v is not None}
        legs = split(legs, seg.values, seg.logged)
        if not any(leg.amount for leg in legs):
            # Priced and nothing to bill (blocked, non-billable): keep the provenance.
            legs = [Leg(unbilled, Decimal("0.00")), Leg(accounts.REVENUE_USAGE, Decimal("0.00"))]
            booking = Booking(day, self.customer, self.contract.id, "usage", "", legs,
                              {"customer": self.customer, "contract": self.contract.id,
                               "rule": "usage", **meta}, (self.contract.id,))
            booking.narration = self.usage_narration(seg, day)
            self.run.bookings.append(booking)
            return
        self.book_it(day, "usage", self.usage_narration(seg, day), legs, meta, lot_ids)

    def concession_legs(self, lot: Lot) -> list[Leg]:
        """The value of a concession lot's used credits at contract rates, cumulative to
        the cent: revenue (tokens, actions) against ``Income:Revenue:Concessions``."""
        # (grants need a credit value: ``contracts`` requires one)
        value = self.credit_value or ZERO
        actions = lot.posted_face_actions.post_to(lot.used_actions * value)
        tokens = lot.posted_face.post_to(lot.used * value) - actions
        return [Leg(accounts.REVENUE_USAGE, -tokens, lot.id),
                Leg(accounts.REVENUE_ACTIONS, -actions, lot.id),
                Leg(accounts.REVENUE_CONCESSIONS, tokens + actions, lot.id)]

    def usage_narration(self, seg: _Segment, day: datetime.date) -> str:
        span = f"{seg.start}" if seg.start == day else f"{seg.start} to {day}"
        return f"Usage {span} ({seg.entries} entries)"

    def post_lot_breakage(self, day: datetime.date, lot: Lot, rule: str, narration: str,
                          meta: dict[str, object]) -> None:
        rec = recognize(lot)
        deferred = accounts.deferred_revenue(self.customer)
        self.book_it(day, rule, narration,
                     [Leg(deferred, rec.total, lot.id),
                      Leg(accounts.REVENUE_USAGE, -rec.usage, lot.id),
                      Leg(accounts.REVENUE_ACTIONS, -rec.actions, lot.id),
                      Leg(accounts.REVENUE_BREAKAGE, -rec.breakage, lot.id),
                      Leg(lot.unclaimed_account, -rec.unclaimed, lot.id, "unclaimed")],
                     {"lot": lot.id, "pack": lot.pack, **meta}, [lot.id])

    def expire(self, day: datetime.date, lots: list[Lot] | None = None) -> None:
        """Close the lots whose expiry is ``day`` (or ``lots``): what is left is
        recognized on ``day`` (remote breakage, the proportional true-up, a void)."""
        if self.options and lots is None:
            self.lapse_options(day)
        expiring = self.lots.expiring(day) if lots is None else lots
        seg = self.segment
        if seg is not None and any(lot.id in seg.lots for lot in expiring):
            # (segments end on a lot's last usable day: only a change of expiry after
            # its draws of the segment would leave them unposted here)
            self.flush(day, cut=True)
        for lot in expiring:
            left = lot.remaining
            lot.closed = True
            if lot.voided == day:
                meta: dict[str, object] = {"expires": day, "credits_expired": _credits(left),
                                           "grant": lot.kind, "void": day}
                if lot.free:  # nothing to recognize: the entry records the void
                    self.book_memo(day, "void", f"Void of grant lot {lot.id}: "
                                                f"{_credits(left)} free credits expire",
                                   [Leg(accounts.deferred_revenue(self.customer),
                                        Decimal("0.00"), lot.id)],
                                   {"lot": lot.id, "pack": lot.pack, **meta}, [lot.id])
                else:
                    self.post_lot_breakage(day, lot, "void", f"Void of grant lot {lot.id}: "
                                                             f"remote breakage", meta)
                continue
            self.post_lot_breakage(day, lot, "expiry",
                                   f"Expiry of lot {lot.id}: remote breakage",
                                   {"expires": day, "credits_expired": _credits(left),
                                    "method": lot.method})
        if expiring:
            self.lots.retire()

    def close_periods(self, day: datetime.date) -> None:
        allowance = self.contract.allowance
        if allowance is not None:
            # An allowance lot's expiry is the first day of the period after it (docs/
            # expiry.md); its credits lapse at the end of its last day, in its period.
            lapsing = [lot for lot in self.lots.lots if lot.pack == "allowance"
                       and not lot.closed and lot.expires == day + ONE_DAY]
            if lapsing:
                self.expire(day, lapsing)
        if allowance is not None and allowance.rollover > 0:
            if day == self.period_last_day(day, allowance.period):
                for lot in self.lots.lots:
                    if (lot.pack == "allowance" and not lot.closed
                            and lot.expires != day + ONE_DAY
                            and self.period_last_day(lot.purchased, allowance.period) == day):
                        forfeited = trim_rollover(lot, allowance)
                        if forfeited:
                            self.post_lot_breakage(
                                day, lot, "expiry",
                                f"Allowance {lot.id}: unused credits above the rollover cap",
                                {"credits_expired": _credits(forfeited),
                                 "rollover": allowance.rollover})
        if self.retroactive:
            tiers = self.contract.tiers
            if day == self.period_last_day(day, tiers.period):  # type: ignore[union-attr]
                self.settle_tiers(day)
        if self.commit is not None and self.commit.key is not None and day == self.commit.end:
            total, _ = self.arrears.exact()
            last = self.contract.end is not None and day >= self.contract.end
            legs, info = self.commit.close(total, self.arrears.posted, self.customer, last)
            self.book_it(day, "commitment", f"Minimum commitment {self.commit.key}", legs,
                         info)
            self.commit.key = None

    # --- retroactive volume tiers (rules.tiers, docs/variable-consideration.md) --------

    @property
    def retroactive(self) -> bool:
        tiers = self.contract.tiers
        return tiers is not None and tiers.retroactive and tiers.expected_volume is not None

    def post_tiers(self, day: datetime.date, rule: str, narration: str,
                   meta: dict[str, object]) -> None:
        """Post what the arrears value to date moved by (a revised estimate, the period's
        settlement) as its own entry: Dr Unbilled / Cr Usage, Actions (cumulative)."""
        total, acts = self.arrears.exact()
        withheld = self.commit.withheld(total) if self.commit else ZERO
        target = total - withheld
        actions_target = acts * target / total if total else ZERO
        actions = self.arrears.posted_actions.post_to(actions_target)
        usage = self.arrears.posted_usage.post_to(target) - actions
        self.book_memo(day, rule, narration,
                       [Leg(accounts.unbilled(self.customer), usage + actions),
                        Leg(accounts.REVENUE_USAGE, -usage),
                        Leg(accounts.REVENUE_ACTIONS, -actions)],
                       {**meta, "list_value": to_cent(self.arrears.listed())})

    def revise_tiers(self, day: datetime.date, revision: TierRevision) -> None:
        """A revised expected volume: a cumulative catch-up on its date (32-14, 32-42..43);
        without ``approved_by`` a notice, and nothing changes."""
        tiers = self.contract.tiers
        assert tiers is not None
        if not revision.approved_by:
            self.notice(day, "tier-revision", f"tier estimate revision of contract "
                                              f"{self.contract.id!r} on {day} (expected "
                                              f"volume {revision.expected_volume}) has no "
                                              f"approved_by: not applied (pending)",
                        {"status": "pending"})
            return
        self.flush(day, cut=True)
        before = self.arrears.expected
        self.arrears.expect(Fraction(revision.expected_volume))
        meta: dict[str, object] = {
            "expected_before": _credits(before) if before is not None else None,
            "expected_after": revision.expected_volume,
            "multiplier_before": _credits(band_multiplier(tiers, before))
            if before is not None else None,
            "multiplier_after": _credits(band_multiplier(tiers, Fraction(
                revision.expected_volume))),
            "approved_by": revision.approved_by, "basis": revision.basis or ""}
        self.post_tiers(day, "tier-revision", f"Volume tier estimate revised "
                                              f"{meta['expected_before']} -> "
                                              f"{revision.expected_volume}: cumulative "
                                              f"catch-up",
                        {k: v for k, v in meta.items() if v is not None})

    def settle_tiers(self, day: datetime.date) -> None:
        """The tier period ends on ``day``: its actual band settles it (a true-up)."""
        tiers = self.contract.tiers
        assert tiers is not None
        arrears = self.arrears
        if arrears.tier_key != arrears.key_of(day) or arrears.settled:
            return
        expected = arrears.expected
        actual = arrears.listed()
        arrears.settle(day)
        self.post_tiers(day, "tier-true-up", f"Volume tier period settled at its actual "
                                             f"band: {_credits(actual)} of list value",
                        {"expected": _credits(expected) if expected is not None else ZERO,
                         "actual_volume": _credits(actual),
                         "multiplier_expected": _credits(band_multiplier(tiers, expected))
                         if expected is not None else ZERO,
                         "multiplier_actual": _credits(band_multiplier(tiers, actual))})

    def period_last_day(self, day: datetime.date, period: str) -> datetime.date:
        end = period_end(day, period)
        return min(end, self.contract.end) if self.contract.end else end

    # --- the walk ------------------------------------------------------------------------

    def next_day(self, day: datetime.date, event_days: list[datetime.date]) -> datetime.date | None:
        """The next day after ``day`` on which something happens to the contract (asked for
        every such day: the earliest candidate is kept as it comes, with no list built)."""
        after = day + ONE_DAY
        last = min(self.as_of, self.contract.end) if self.contract.end else self.as_of
        best = None
        i = bisect.bisect_left(event_days, after)
        if i < len(event_days) and event_days[i] <= last:
            best = event_days[i]
        if self.lots.lots:
            # Lots bought under the contract may expire after it ends (up to as_of).
            expiry = self.lots.next_expiry(after)
            if expiry is not None and expiry <= self.as_of and (best is None or expiry < best):
                best = expiry
        for option in self.options:
            if (not option.closed and option.expires is not None
                    and after <= option.expires <= self.as_of
                    and (best is None or option.expires < best)):
                best = option.expires
        seg = self.segment
        if seg is not None:
            end = seg.end if seg.end > after else after
            if end <= last and (best is None or end < best):
                best = end
        allowance = self.contract.allowance
        if allowance is not None:
            for boundary in (next_period_start(day, allowance.period),
                             self.period_last_day(after, allowance.period)):
                if after <= boundary <= last and (best is None or boundary < best):
                    best = boundary
        if self.commit is not None:
            boundary = self.period_last_day(after, self.commit.terms.period)
            if after <= boundary <= last and (best is None or boundary < best):
                best = boundary
        if self.retroactive and self.arrears.tier_key is not None:
            boundary = self.period_last_day(
                after, self.contract.tiers.period)  # type: ignore[union-attr]
            if after <= boundary <= last and (best is None or boundary < best):
                best = boundary
        return best

    def snapshot(self, day: datetime.date) -> None:
        """Keep the lots as they stand at the end of ``day`` (a lot closed and unchanged
        since the last snapshot is kept as it was, not copied again)."""
        if not self.run.lots:
            return
        last = {lot.id: lot for lot in self.run.snapshots[-1][1]} if self.run.snapshots else {}
        kept = []
        for lot in self.run.lots:
            before = last.get(lot.id)
            if (before is not None and lot.closed and before.closed
                    and before.posted_total.posted == lot.posted_total.posted
                    and before.used == lot.used and before.forfeited == lot.forfeited
                    and before.price == lot.price and before.credits == lot.credits):
                kept.append(before)
            else:
                kept.append(lot.snapshot())
        self.run.snapshots.append((day, kept))

    def spans_checked(self, usages: list[Usage], purchases: list[Purchase]) -> list[Usage]:
        """The usage without the month-grain aggregates (``until``) that cover a cut date
        of the contract (``rules.grain``): each is an error naming it, not booked, never
        a figure different from day grain's (a purchase imported after the usage it
        splits, a contract changed since the import)."""
        spanning = [u for u in usages if u.until is not None and u.until != u.date]
        if not spanning:
            return usages
        why = contract_day_grain(self.contract, purchases) or book_day_grain(self.posting)
        cuts = Cuts(self.customer, (), why) if why else Cuts(self.customer, *_sorted_cuts(
            contract_cuts(self.contract, self.price_book, purchases, as_of=self.as_of)))
        bad = set()
        for usage in spanning:
            problem = cuts.problem(usage.date, usage.until)  # type: ignore[arg-type]
            if problem:
                bad.add(id(usage))
                self.error(usage.date, f"usage entry {usage.ref} of customer "
                                       f"{self.customer!r} covers {usage.date} to "
                                       f"{usage.until}, but {problem}; expected it split "
                                       f"there: run tokenbooks regrain (docs/grain.md) to "
                                       f"rewrite the open months' usage files", usage.ref)
        return [u for u in usages if id(u) not in bad] if bad else usages

    def run_all(self, usages: list[Usage], purchases: list[Purchase]) -> ContractRun:
        contract = self.contract
        if self.commit is not None:
            if contract.billing == "prepaid":
                self.error(contract.start, f"contract {contract.id!r}: a commitment with "
                                           f"prepaid billing is not supported (expected "
                                           f"billing: arrears)")
                self.commit = None
            elif self.commit.terms.carryover and self.commit.terms.method != "remote":
                self.error(contract.start, f"contract {contract.id!r}: carryover applies to "
                                           f"the remote method only, got "
                                           f"{self.commit.terms.method!r}")
        if contract.overage.policy == "top_up" and contract.overage.top_up is None:
            self.error(contract.start, f"contract {contract.id!r}: policy top_up needs top_up")
            return self.run
        self.lot_ids = purchase_lot_ids(contract.id, purchases)
        usages = self.spans_checked(usages, purchases)
        by_day: dict[datetime.date, list[Usage]] = defaultdict(list)
        for usage in usages:
            by_day[usage.date].append(usage)
        buys: dict[datetime.date, list[Purchase]] = defaultdict(list)
        for purchase in sorted(purchases, key=purchase_order):
            buys[purchase.date].append(purchase)
        changes: Collection[datetime.date] = change_days(contract)
        tier_revisions: dict[datetime.date, TierRevision] = (
            {r.date: r for r in contract.tiers.revisions}  # type: ignore[union-attr]
            if self.retroactive else {})
        granted: dict[datetime.date, list[Grant]] = defaultdict(list)
        since = contract.since  # a cut-over: what came before is in the opening balances
        if since is not None:
            changes = [d for d in changes if d >= since]
            tier_revisions = {d: r for d, r in tier_revisions.items() if d >= since}
        for grant in contract.grants:
            if since is not None and grant.date < since:
                continue
            if grant.kind == "bundled":
                self.bundled[grant.with_payment].append(grant)
            else:
                granted[grant.date].append(grant)
        if contract.grants and self.credit_value is None:
            self.error(contract.start, f"contract {contract.id!r}: grants need a credit_value")
            granted.clear()
        event_days = sorted(set(by_day) | set(buys) | {d for d in changes if d <= self.as_of}
                            | {d for d in granted if d <= self.as_of}
                            | {d for d in tier_revisions if d <= self.as_of})
        changes = set(changes)
        begin = max(contract.start, since) if since is not None else contract.start
        starts = [begin] if (contract.allowance or self.commit) else []
        first = min(event_days[:1] + starts, default=None)
        day = first
        allowance_next = contract.start if contract.allowance else None
        while allowance_next is not None and since is not None and allowance_next < since:
            # the allowance of the period in progress at the cut-over is an opening lot
            allowance_next = next_period_start(
                allowance_next, contract.allowance.period)  # type: ignore[union-attr]
        periods = (contract.allowance is not None or self.commit is not None
                   or self.retroactive)
        # Plain arrears (no lots, allowance, purchases or changes): between posting
        # segments' ends and commitment periods' ends (which are segment ends too) only
        # usage happens, so a segment's usage days can be taken at once.
        batch = (contract.billing == "arrears" and contract.allowance is None and not buys
                 and not changes and not granted and not self.retroactive)
        # Prepaid credits drawn without limits, allowance, commitment or a hard stop (a
        # book at day grain, a customer with automatic top-ups): a segment's usage days
        # on which nothing else happens are drawn at once when ``prepaid_batch`` finds
        # that day by day would book the same (the common case: a top-up is rare).
        prepaid = (self.batches and contract.billing == "prepaid" and not periods
                   and contract.overage.policy in ("invoice", "top_up")
                   and self.limits.limit is None and self.credit_value is not None)
        usage_only = (set(by_day).difference(buys, changes, granted, tier_revisions)
                      if prepaid else set())
        # (segment end, lots, open lots) when ``prepaid_batch`` last refused
        refused: tuple[datetime.date, int, int] | None = None
        last = min(self.as_of, contract.end) if contract.end else self.as_of
        # (None only when day is: the walk below does not run)
        month_end: datetime.date = (period_end(day, "month")  # type: ignore[assignment]
                                    if day is not None else None)
        while day is not None and day <= self.as_of:
            while month_end < day:  # nothing happened since: the state of that month end
                self.snapshot(month_end)
                month_end = period_end(month_end + ONE_DAY, "month")
            if allowance_next is not None and allowance_next <= min(day, last):
                self.start_allowance(allowance_next)
                allowance_next = next_period_start(
                    allowance_next, contract.allowance.period)  # type: ignore[union-attr]
            if self.commit is not None and day <= last and not self.commit.covers(day):
                self.commit.enter(day, self.arrears.exact()[0], self.arrears.posted)
            if day in changes:
                self.changes.on_day(day)
            if day in tier_revisions:
                self.revise_tiers(day, tier_revisions[day])
            for grant in granted.get(day, ()):
                self.grant(grant)
            for purchase in buys.get(day, ()):
                self.purchase(purchase)
            if self.lots.lots or self.options:
                self.expire(day)  # before the day's usage: expired credits are not drawn
            if day in by_day:
                if batch and self.segment is None:
                    # Nothing but usage happens to this contract until the segment ends:
                    # its usage days are priced and posted as one (the same exact sums).
                    end = self.segment_end(day)
                    i = bisect.bisect_left(event_days, day)
                    j = bisect.bisect_right(event_days, end, lo=i)
                    self.use(day, [usage for d in event_days[i:j]
                                   for usage in sorted(by_day[d], key=usage_order)])
                    day = event_days[j - 1]
                elif prepaid and not self.options:
                    # ``day`` and the usage-only days after it in its posting segment
                    end = self.segment.end if self.segment else self.segment_end(day)
                    i = bisect.bisect_left(event_days, day)
                    j = i + 1
                    while (j < len(event_days) and event_days[j] <= end
                           and event_days[j] in usage_only):
                        j += 1
                    price = None
                    # (tried again once the segment or the lots change: a balance below
                    # the threshold for days would otherwise price the rest again daily)
                    state = (end, len(self.run.lots), len(self.lots.lots))
                    if j - i > 1 and refused != state:
                        usages = [usage for d in event_days[i:j]
                                  for usage in sorted(by_day[d], key=usage_order)]
                        price = self.prepaid_batch(day, usages)
                        refused = None if price is not None else state
                    if price is not None:
                        self.use(day, usages, price)
                        day = event_days[j - 1]
                    else:
                        self.use(day, sorted(by_day[day], key=usage_order))
                else:
                    self.use(day, sorted(by_day[day], key=usage_order))
            # (the guards skip calls that would do nothing: this loop runs every day)
            if self.segment is None or self.segment.end <= day:
                self.flush(day)
            if periods:
                self.close_periods(day)
            if day == month_end:
                self.snapshot(day)
                month_end = period_end(day + ONE_DAY, "month")
            day = self.next_day(day, event_days)
        while month_end is not None and month_end <= self.as_of:
            self.snapshot(month_end)
            month_end = period_end(month_end + ONE_DAY, "month")
        if self.run.snapshots and self.run.snapshots[-1][0] < self.as_of:
            self.snapshot(self.as_of)
        for day in sorted(d for d in event_days if d > last):
            for usage in by_day.get(day, ()):
                self.error(day, f"usage of customer {self.customer!r} on {day} is after the "
                                f"contract {contract.id!r} ends ({contract.end})", usage.ref)
        for payment, grants in sorted(self.bundled.items()):
            for grant in grants:
                if grant.id not in self.bundled_done and grant.date <= self.as_of:
                    # (a warning: the credits come with the purchase, once it is booked)
                    self.notice(grant.date, "grant", f"grant {grant.id!r} is bundled with "
                                                     f"payment {payment!r}, which contract "
                                                     f"{contract.id!r} has no purchase of: "
                                                     f"no credits until it is booked",
                                {"grant": grant.id})
        return self.run


def _sorted_cuts(cuts: Mapping[datetime.date, str]
                 ) -> tuple[tuple[datetime.date, ...], str, tuple[str, ...]]:
    days = tuple(sorted(cuts))
    return days, "", tuple(cuts[d] for d in days)


def split(legs: list[Leg], values: Mapping[Key, Values],
          logged: Mapping[Key, set[str]] | None = None) -> list[Leg]:
    """Each Usage and Actions leg split over the (model, feature, action) that earned it,
    in proportion to the value of their usage at contract rates (``rules.allocation``);
    other legs, and legs with no usage value to split by, as they are. ``logged``: the
    model ids as logged of a key, when not its model (``Leg.logged``)."""
    if not values:
        return legs
    # (Decimals or Fractions, exact either way: ``allocate`` takes their integer ratios)
    tokens = {key: v[0] for key, v in values.items() if v[0]}
    actions = {key: v[1] for key, v in values.items() if v[1]}
    out = []
    for leg in legs:
        weights = (tokens if leg.account == accounts.REVENUE_USAGE
                   else actions if leg.account == accounts.REVENUE_ACTIONS else None)
        if weights and leg.amount and leg.detail is None:
            out += [dataclasses.replace(leg, amount=share, detail=key,
                                        logged=logged_ids(logged, key))
                    for key, share in allocate(leg.amount, weights)]
        else:
            out.append(leg)
    return out


def logged_ids(logged: Mapping[Key, set[str]] | None, key: Key) -> str:
    """The model ids as logged of ``key``, sorted, comma-separated ("" if none)."""
    ids = logged.get(key) if logged else None
    return ",".join(sorted(ids)) if ids else ""


def run_contract(contract: Contract, price_book: PriceBook, usages: list[Usage],
                 purchases: list[Purchase], as_of: datetime.date, posting: str = "month",
                 customer_name: str = "", served: Mapping[str, str] | None = None
                 ) -> ContractRun:
    """Run one contract's usage and purchases up to ``as_of`` (see the module doc).
    ``served``: workflow -> the action it served, for the contract's customer."""
    engine = ContractEngine(contract, price_book, customer_name or contract.customer, as_of,
                            posting,
                            served)
    # Decimal arithmetic (prices x tokens, sums) is exact at this precision; rates that do
    # not terminate are Fractions (rules.pricing).
    with localcontext(Context(prec=EXACT_DIGITS)):
        return engine.run_all(usages, purchases)
