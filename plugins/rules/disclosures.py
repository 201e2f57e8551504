"""The revenue note's rules that are not sums of the ledger (ASC 606-10-50): which
model family a model is, whether a revenue posting is recognized over time or at a
point in time, and in which time band a remaining performance obligation falls.

Pure (no Beancount import); ``plugins.reports.disclosures`` applies them to a book.

* ``model_family``: the resolved model id (the price book's, as the revenue postings
  name it), without a provider prefix or snapshot date (``rules.models``), up to and
  including its first token (``-``-separated) with a digit: the product line and its
  generation. Sizes and tiers of one generation fall together; an id without a digit
  is its own family.

    >>> [model_family(m) for m in ("gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5",
    ...                            "openai/gpt-4o-2024-08-06", "o3-mini", "mistral-large")]
    ['gpt-4o', 'gpt-5', 'claude-sonnet-4', 'gpt-4o', 'o3', 'mistral-large']

* ``timing``: breakage recognized when the customer's rights lapse (a lot's expiry, a
  grant's void, the rest of a refunded lot, a commitment carry-over that lapsed) is
  recognized at a point in time, the day the rights lapse (remote method and expiry
  true-ups, 606-10-55-48); everything else is recognized over time: hosted API access is
  a series of distinct services (606-10-25-14(b)) that the customer receives and
  consumes as they are performed (606-10-25-27(a)), usage and actions as consumed,
  proportional breakage in proportion to the rights exercised (55-48), minimum
  commitments over the commitment period, and modification catch-ups, refunds of
  consumed value and concessions adjust that revenue.

* ``band``: a day at most 12 calendar months after the period's last day is within 12
  months, at most 24 within 12 to 24 months, else later; a lot that never expires is
  later. (The RPO report, ``reports.credits``, counts 365 days: the same day unless the
  year after the period holds a 29 February.)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal

from .models import snapshot_base, strip_prefix
from .periods import ONE_DAY, month_end, months_after, period_end

POINT_IN_TIME = "point in time"
OVER_TIME = "over time"
TIMINGS = (OVER_TIME, POINT_IN_TIME)
# transaction rules whose breakage is the lapse of the customer's rights on one day
LAPSE_RULES = frozenset({"expiry", "void", "refund"})
LAPSE_LEG_RULES = frozenset({"commitment-lapse"})

WITHIN_12 = "0-12 months"
WITHIN_24 = "12-24 months"
LATER = "later"
BANDS = (WITHIN_12, WITHIN_24, LATER)


def model_family(model: str) -> str:
    """The family of a model id (see the module doc); names in parentheses, such as
    ``(unassigned)``, are their own."""
    if not model or model.startswith("("):
        return model
    name = strip_prefix(model)
    name = snapshot_base(name) or name
    tokens = name.split("-")
    for i, token in enumerate(tokens):
        if any(ch.isdigit() for ch in token):
            return "-".join(tokens[:i + 1])
    return name


def timing(stream: str, tx_rule: str, leg_rule: str = "") -> str:
    """``point in time`` or ``over time`` for a revenue posting of ``Income:Revenue:
    <stream>`` in a transaction of rule ``tx_rule`` (the posting's own ``leg_rule``)."""
    if stream == "Breakage" and (tx_rule in LAPSE_RULES or leg_rule in LAPSE_LEG_RULES):
        return POINT_IN_TIME
    return OVER_TIME


# Why each stream is recognized as it is, for the timing table and the note.
BASIS = {
    (OVER_TIME, "Usage"): "as the customer consumes the API service: a series of distinct "
                          "services received and consumed as performed (25-14(b), "
                          "25-27(a)), measured by the credits or tokens used",
    (OVER_TIME, "Actions"): "as each action is performed by the hosted service (25-27(a))",
    (OVER_TIME, "Breakage"): "in proportion to the pattern of rights exercised by the "
                             "customer (proportional method, 55-48), with approved "
                             "revisions of the estimate as cumulative catch-ups",
    (OVER_TIME, "Commitment"): "minimum-commitment shortfall, earned over the commitment "
                               "period for the access provided in it",
    (OVER_TIME, "Adjustments"): "contract modifications: cumulative catch-ups (25-13(b)) "
                                "and credits for past performance (32-43)",
    (OVER_TIME, "Refunds"): "contra revenue: refunds of consideration already recognized",
    (OVER_TIME, "Concessions"): "contra revenue: concession credits used (32-25 to 32-27)",
    (POINT_IN_TIME, "Breakage"): "when the customer's remaining rights lapse: at expiry "
                                 "(remote method, 55-48) or on the refund or void of a "
                                 "lot; the proportional method's expiry true-up",
}


def basis(when: str, stream: str) -> str:
    return BASIS.get((when, stream), "adjusts revenue of services transferred over time"
                     if when == OVER_TIME else "recognized on one day")


def months_later(day: datetime.date, count: int) -> datetime.date:
    """The day ``count`` calendar months after ``day``; a month's last day gives the
    last day of that month (2026-02-28 + 12 months = 2027-02-28; 2027-02-28 + 12
    months = 2028-02-29)."""
    index = day.year * 12 + day.month - 1 + count
    first = datetime.date(index // 12, index % 12 + 1, 1)
    last = month_end(first)
    return last if day == month_end(day) else min(first.replace(day=day.day), last)


def band(day: datetime.date | None, end: datetime.date) -> str:
    """The time band of an obligation satisfied (at the latest) on ``day`` after the
    period's last day ``end``: at most 12 calendar months after it, 12 to 24, or later
    (None: never expires, later)."""
    if day is None:
        return LATER
    if day <= months_later(end, 12):
        return WITHIN_12
    if day <= months_later(end, 24):
        return WITHIN_24
    return LATER


def commitment_periods(end: datetime.date, contract_end: datetime.date, period: str
                       ) -> Iterator[datetime.date]:
    """The last day of every commitment period (``month`` or ``year``) after ``end``'s
    to ``contract_end``'s, the last one cut at the contract's end: the periods the RPO
    report counts (``rules.periods.months_after``)."""
    day = end
    for _ in range(months_after(end, contract_end, period)):
        day = period_end(day, period) + ONE_DAY
        yield min(period_end(day, period), contract_end)


def commitment_bands(amount: Decimal, end: datetime.date, contract_end: datetime.date,
                     period: str) -> dict[str, Decimal]:
    """A remaining minimum commitment of ``amount`` per period, by time band."""
    out = {b: Decimal("0.00") for b in BANDS}
    for last in commitment_periods(end, contract_end, period):
        out[band(last, end)] += amount
    return out


MODIFICATION_METHODS = {
    "separate": "separate contract (606-10-25-12): distinct credits priced at SSP",
    "prospective": "prospective (606-10-25-13(a)): as a termination of the existing "
                   "contract and the creation of a new one",
    "catch_up": "cumulative catch-up (606-10-25-13(b)): part of a single, partially "
                "satisfied performance obligation",
}


def modification_method(method: str) -> str:
    return MODIFICATION_METHODS.get(method, method)
