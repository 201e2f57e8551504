"""The month-end reconciliations, as named checks with their figures.

Pure comparisons over plain rows (no Beancount import); ``tokenbooks close`` gathers the
rows and stops on the first failed check.

* ``usage completeness``: per import file, the events its event-id index holds (what
  the importer read from the source and booked) = the events of its usage entries; per
  customer, the usage entries of the month = the entries the revenue engine priced
  (the ``usage_entries`` of its usage transactions), events split into billed, blocked
  (hard stop) and non-billable;
* ``unbilled``: every customer's ``Assets:Unbilled`` is zero at the month's end, after
  invoicing;
* ``invoices``: each invoice id once in the book, one invoice per customer and month;
* ``cogs``: per provider, attributed + unattributed cost = the provider's bills.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    failures: list[str] = field(default_factory=list)
    status: str = ""  # a named status beside ok/FAILED ("accrued, bill pending")


@dataclass(frozen=True)
class FileCount:
    file: str  # import file, relative to the book
    indexed: int | None  # ids in its event-id index (None: no index)
    booked: int  # events of its usage entries
    source: str = ""  # the archived source document it was imported from
    source_events: int | None = None  # events of the file's month in it (None: not found)
    not_booked: int = 0  # of those, in no event-id index of the month
    not_in_source: int = 0  # ids of the index that the source does not hold
    also_elsewhere: int = 0  # ids of the index that another index of the month holds too


@dataclass(frozen=True)
class CustomerUsage:
    customer: str
    entries: int  # usage entries of the month
    events: int
    priced: int  # usage entries priced by the revenue engine
    blocked: int  # events blocked by a hard stop
    non_billable: int  # events of non-billable features

    @property
    def billed(self) -> int:
        return self.events - self.blocked - self.non_billable


def completeness(files: Iterable[FileCount], customers: Iterable[CustomerUsage]) -> Check:
    failures = []
    files = list(files)
    customers = list(customers)
    for f in files:
        if f.indexed is None:
            stem = f.file.removesuffix(".beancount")
            failures.append(f"{f.file}: {f.booked} usage events without an event-id index "
                            f"(expected its sidecar {stem}.events.gz or, with index store "
                            f"cache, .tokenbooks/index/{stem.rpartition('/')[2]}.events.zst "
                            f"matching its fingerprint, written by tokenbooks import)")
        elif f.indexed != f.booked:
            failures.append(f"{f.file}: its event-id index holds {f.indexed} events, its "
                            f"usage entries {f.booked} ({f.indexed - f.booked:+d} missing "
                            f"from the usage sub-ledger)")
        if f.also_elsewhere:
            failures.append(f"{f.file}: {f.also_elsewhere} event ids of its index are in "
                            f"another event-id index of the month too (booked twice)")
        if f.source_events is None:
            failures.append(f"{f.file}: its source document ({f.source or 'unknown'}) is "
                            f"not in documents/ with the sha256 the entries name: the "
                            f"events cannot be counted at the source")
        else:
            if f.not_booked:
                failures.append(f"{f.file}: {f.not_booked} events of {f.source} are in no "
                                f"event-id index of the month (read but not booked)")
            if f.not_in_source:
                failures.append(f"{f.file}: {f.not_in_source} event ids of its index are "
                                f"not in {f.source}")
    for c in customers:
        if c.entries != c.priced:
            failures.append(f"{c.customer}: {c.entries} usage entries in the month, "
                            f"{c.priced} priced by the revenue engine")
    events = sum(c.events for c in customers)
    detail = (f"{sum(f.source_events or 0 for f in files)} events in the sources, "
              f"{sum(f.booked for f in files)} in {len(files)} import file(s) = "
              f"index; {events} events, {sum(c.entries for c in customers)} entries priced "
              f"for {len(customers)} customer(s)")
    return Check("usage completeness", not failures, detail, failures)


def unbilled(balances: Mapping[str, Decimal]) -> Check:
    failures = [f"{c}: Assets:Unbilled is {v} at the end of the month, expected 0.00 after "
                f"invoicing" for c, v in sorted(balances.items()) if v]
    return Check("unbilled", not failures, f"{len(balances)} customer(s), all zero"
                 if not failures else "not zero", failures)


def invoices(ids: Iterable[tuple[str, str, str]], period: str) -> Check:
    """``ids``: (invoice id, customer, period) of every invoice in the book."""
    ids = list(ids)
    failures = []
    for inv, n in sorted(Counter(i for i, _, _ in ids).items()):
        if n > 1:
            failures.append(f"invoice {inv} is in the book {n} times (issued twice)")
    per = Counter((c, p) for _, c, p in ids)
    for (customer, month), n in sorted(per.items()):
        if n > 1 and not failures:
            failures.append(f"{customer}: {n} invoices for {month}, expected one")
    mine = sum(1 for _, _, p in ids if p == period)
    return Check("invoices", not failures, f"{mine} invoice(s) for {period}, each id once "
                                           f"in the book", failures)


@dataclass(frozen=True)
class ProviderCost:
    provider: str
    billed: Decimal  # provider bills of the month (its own lines), rounded to the cent
    attributed: Decimal  # Expenses:COGS:Inference:<P>
    unattributed: Decimal  # Expenses:COGS:Unattributed:<P>, true-ups of closed months aside
    pending: bool = False  # no bill of the month yet: its cost stays accrued
    prior_billed: Decimal = ZERO  # late lines of closed months booked this month
    prior_true_up: Decimal = ZERO  # what they added to COGS beyond those months' accruals

    @property
    def difference(self) -> Decimal:
        return self.attributed + self.unattributed - self.billed


PENDING = "accrued, bill pending"


def cogs(providers: Iterable[ProviderCost]) -> Check:
    """Per provider: attributed + unattributed cost of the month = its bill. A provider
    with no bill of the month yet is not a failure: its cost is accrued from usage and
    the check says so (``PENDING``); the bill, when it comes, trues the accrual up in the
    month it is booked in (``rules.bills``)."""
    providers = list(providers)
    failures = [f"{p.provider}: attributed {p.attributed} + unattributed {p.unattributed} = "
                f"{p.attributed + p.unattributed}, provider bills {p.billed} (difference "
                f"{p.difference})" for p in providers if p.difference and not p.pending]
    total = sum((p.billed for p in providers), ZERO)
    detail = f"{len(providers)} provider(s), bills {total}"
    waiting = [p for p in providers if p.pending]
    if waiting:
        detail += "; " + PENDING + ": " + ", ".join(
            f"{p.provider} {p.attributed} accrued" for p in waiting)
    late = [p for p in providers if p.prior_billed]
    if late:
        detail += "; closed months' bills booked: " + ", ".join(
            f"{p.provider} {p.prior_billed} (true-up {p.prior_true_up})" for p in late)
    return Check("cogs", not failures, detail, failures,
                 PENDING if waiting and not failures else "")


@dataclass(frozen=True)
class Clearing:
    """A payment processor's clearing account over a month (``Assets:Stripe``): charges
    land gross, fees and refunds leave it, payouts move the rest to the bank."""

    account: str
    opening: Decimal
    charges: Decimal  # gross received (purchases, payments)
    fees: Decimal  # processing fees (positive)
    refunds: Decimal  # cash given back (positive)
    payouts: Decimal  # to the bank, net of payout reversals (positive)
    other: Decimal  # anything else, signed
    closing: Decimal


def clearing(accounts: Iterable[Clearing]) -> Check:
    """The month's clearing balances, each from its opening through its movements to its
    closing balance, which may not be negative (a processor holds no negative balance
    for long: a negative one is a payout, refund or fee booked without its charge). The
    closing balance is what the processor's balance report shows as the ending balance:
    the figures are there to be ticked against it."""
    found = list(accounts)
    failures = []
    for c in found:
        if c.closing < 0:
            failures.append(f"{c.account}: balance {c.closing} at the month's end, expected "
                            f">= 0 (a payout, refund or fee without its charge?)")
    if not found:
        return Check("clearing", True, "no clearing account in use")
    detail = "; ".join(f"{c.account} {c.opening} + charges {c.charges} - fees {c.fees} - "
                       f"refunds {c.refunds} - payouts {c.payouts} + other {c.other} = "
                       f"{c.closing} (to agree with the processor's ending balance)"
                       for c in found)
    return Check("clearing", not failures, detail, failures)
