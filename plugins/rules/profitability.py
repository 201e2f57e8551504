"""Profitability: revenue against inference cost, per customer, model, feature and action.

Pure computation over plain rows (no Beancount import): ``tokenbooks.plugins.report_rows``
extracts the rows from a loaded book; ``tokenbooks report profitability`` and Fava render
the result. Every figure is a sum of ledger postings of the period, so the report ties
back to the balances:

* revenue = - postings to ``Income:Revenue:*`` (stream = the account's third component:
  Usage, Actions, Breakage, Commitment, Adjustments), per customer by the transaction's
  ``customer`` metadata (``(no customer)`` otherwise);
* attributed COGS = postings to ``Expenses:COGS:Inference:*`` (the cogs plugin's, with
  ``model``, ``feature``, ``action`` posting metadata and token counts);
* unattributed COGS = postings to ``Expenses:COGS:Unattributed:<Provider>``, its own line;
* gross margin = revenue - attributed COGS per customer/model/feature; the total margin
  also takes off the unattributed cost.

Customers are sorted by attributed cost, largest first. The concentration line gives the
share of compute (cost and tokens) used by the top 5% of customers by cost (at least
one) and the share of revenue they pay. Revenue is split by model, feature or action
where its postings carry that metadata; otherwise usage and action revenue is allocated
over the customer's usage of the month by its value at contract rates (a non-billable
feature has no value, so it earns nothing), to the cent; the rest (breakage,
commitment, adjustments, revenue of a month without usage) is ``(unassigned)``.

    customer  revenue  cogs   margin  margin%  tokens%  cost%
    acme      100.00   20.00  80.00   80.0     66.67    66.67
    globex      5.00   10.00  -5.00  -100.0    33.33    33.33   NEGATIVE
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .accounts import COGS_INFERENCE, COGS_UNATTRIBUTED, REVENUE
from .periods import month_of, parse_period
from .rounding import Cumulative

INFERENCE = COGS_INFERENCE
UNATTRIBUTED = COGS_UNATTRIBUTED
STREAMS = ("Usage", "Actions", "Breakage", "Commitment", "Adjustments")
NO_CUSTOMER = "(no customer)"
UNASSIGNED = "(unassigned)"
NONE = "(none)"
ALLOCATED = ("Usage", "Actions")  # streams split over usage by value at contract rates
TOP_SHARE = Decimal("0.05")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Row:
    """One posting of the period: revenue, attributed cost or unattributed cost."""

    date: datetime.date
    account: str
    amount: Decimal  # as posted (revenue is negative)
    currency: str
    customer: str = ""
    model: str | None = None  # None: the posting does not say
    feature: str | None = None
    action: str | None = None
    tokens: int = 0
    billable: bool = True


@dataclass(frozen=True)
class Weight:
    """The value at contract rates of a customer's usage on a day, for allocating revenue.

    ``stream`` is ``Usage`` (tokens) or ``Actions`` (per-action fees).
    """

    date: datetime.date
    customer: str
    stream: str
    model: str
    feature: str
    action: str
    value: Fraction | Decimal


@dataclass(frozen=True)
class ActionCount:
    """Actions performed (completed, partial and failed), from an action usage aggregate."""

    date: datetime.date
    customer: str
    action: str
    count: int


@dataclass
class Line:
    """One row of a section: a customer, a model, a feature or an action type."""

    name: str
    revenue: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    cogs: Decimal = ZERO
    tokens: int = 0
    non_billable_cogs: Decimal = ZERO
    actions: int = 0
    token_share: Decimal | None = None
    cost_share: Decimal | None = None

    @property
    def revenue_total(self) -> Decimal:
        return sum(self.revenue.values(), ZERO)

    @property
    def margin(self) -> Decimal:
        return self.revenue_total - self.cogs

    @property
    def margin_pct(self) -> Decimal | None:
        return percent(self.margin, self.revenue_total)

    @property
    def negative(self) -> bool:
        return self.margin < 0

    @property
    def cost_per_action(self) -> Decimal | None:
        return (self.cogs / self.actions).quantize(Decimal("0.0001"), ROUND_HALF_UP) \
            if self.actions else None

    @property
    def revenue_per_action(self) -> Decimal | None:
        return (self.revenue_total / self.actions).quantize(Decimal("0.0001"), ROUND_HALF_UP) \
            if self.actions else None


@dataclass(frozen=True)
class Concentration:
    customers: int  # customers in the period
    top: tuple[str, ...]  # the top 5% by attributed cost
    cost_share: Decimal | None
    token_share: Decimal | None
    revenue_share: Decimal | None


@dataclass
class Report:
    period: str
    start: datetime.date
    end: datetime.date  # exclusive
    currency: str
    customers: list[Line]
    models: list[Line]
    features: list[Line]
    actions: list[Line]
    unattributed: dict[str, Decimal]  # provider component -> cost
    total: Line
    concentration: Concentration

    @property
    def unattributed_total(self) -> Decimal:
        return sum(self.unattributed.values(), ZERO)

    @property
    def cogs_total(self) -> Decimal:
        return self.total.cogs + self.unattributed_total

    @property
    def gross_margin(self) -> Decimal:
        return self.total.revenue_total - self.cogs_total

    @property
    def gross_margin_pct(self) -> Decimal | None:
        return percent(self.gross_margin, self.total.revenue_total)


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part / whole`` in percent to two places, None when ``whole`` is zero."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


_DAY = datetime.timedelta(days=1)


def stream_of(account: str) -> str:
    parts = account.split(":")
    return parts[2] if len(parts) > 2 else "Other"


def _under(account: str, root: str) -> bool:
    return account == root or account.startswith(root + ":")


def profitability(rows: Iterable[Row], actions: Iterable[ActionCount], period: str,
                  currency: str, weights: Iterable[Weight] = ()) -> Report:
    """The profitability report of ``period`` from the rows (and action counts) of a book.

    Usage and action revenue whose postings do not say their model, feature or action is
    allocated over the customer's usage of the month in proportion to its value at
    contract rates (``weights``); what has no weight stays ``(unassigned)``.
    """
    start, end = parse_period(period)
    customers: dict[str, Line] = {}
    models: dict[str, Line] = {}
    features: dict[str, Line] = {}
    by_action: dict[str, Line] = {}
    unattributed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    total = Line("total")
    pools: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        if not (start <= row.date < end) or row.currency != currency:
            continue
        customer = row.customer or NO_CUSTOMER
        if _under(row.account, REVENUE):
            stream = stream_of(row.account)
            for line in (total, _line(customers, customer)):
                line.revenue[stream] -= row.amount
            said = row.model is not None or row.feature is not None or row.action is not None
            if not said and stream in ALLOCATED:
                pools[(customer, month_of(row.date), stream)] -= row.amount
                continue
            targets = [_line(models, _name(row.model)), _line(features, _name(row.feature))]
            if stream == "Actions" or row.action:
                targets.append(_line(by_action, _name(row.action)))
            for line in targets:
                line.revenue[stream] -= row.amount
        elif _under(row.account, INFERENCE):
            targets = [total, _line(customers, customer), _line(models, _name(row.model)),
                       _line(features, _name(row.feature, NONE))]
            if row.action:
                targets.append(_line(by_action, row.action))
            for line in targets:
                line.cogs += row.amount
                line.tokens += row.tokens
                if not row.billable:
                    line.non_billable_cogs += row.amount
        elif _under(row.account, UNATTRIBUTED):
            unattributed[row.account.split(":")[-1]] += row.amount
    _allocate(pools, weights, models, features, by_action)
    for count in actions:
        if start <= count.date < end:
            line = _line(by_action, count.action)
            line.actions += count.count
            total.actions += count.count
    for section in (customers, models, features, by_action):
        for line in section.values():
            line.token_share = percent(line.tokens, total.tokens)
            line.cost_share = percent(line.cogs, total.cogs)
    ranked = sorted(customers.values(), key=lambda x: (-x.cogs, -x.revenue_total, x.name))
    return Report(
        period=period, start=start, end=end, currency=currency, customers=ranked,
        models=_sorted(models), features=_sorted(features), actions=_sorted(by_action),
        unattributed=dict(sorted(unattributed.items())), total=total,
        concentration=_concentration(ranked, total),
    )


def _allocate(pools: dict[tuple[str, str, str], Decimal], weights: Iterable[Weight],
              models: dict[str, Line], features: dict[str, Line],
              by_action: dict[str, Line]) -> None:
    """Split each customer/month/stream revenue pool over its usage, to the cent."""
    shares: dict[tuple[str, str, str], dict[tuple[str, str, str], Fraction]] = defaultdict(
        lambda: defaultdict(Fraction))
    for w in weights:
        key = (w.customer, month_of(w.date), w.stream)
        if key in pools and w.value:
            shares[key][(w.model, w.feature, w.action)] += Fraction(w.value)
    for key, amount in sorted(pools.items()):
        stream = key[2]
        parts = shares.get(key)
        total = sum(parts.values(), Fraction(0)) if parts else Fraction(0)
        if not total:
            allocation = [((None, None, None), amount)]
        else:
            running, stream_of_cents = Fraction(0), Cumulative()
            allocation = []
            # (a total, so parts is not None)
            for part, value in sorted(parts.items()):  # type: ignore[union-attr]
                running += value
                allocation.append((part, stream_of_cents.post_to(Fraction(amount) * running / total)))
        for (model, feature, action), share in allocation:
            targets = [_line(models, _name(model)), _line(features, _name(feature))]
            if stream == "Actions" or action:
                targets.append(_line(by_action, _name(action)))
            for line in targets:
                line.revenue[stream] += share


def _name(value: str | None, empty: str = NONE) -> str:
    if value is None:
        return UNASSIGNED
    return value or empty


def _line(section: dict[str, Line], name: str) -> Line:
    if name not in section:
        section[name] = Line(name)
    return section[name]


def _sorted(section: dict[str, Line]) -> list[Line]:
    return sorted(section.values(), key=lambda x: (-x.cogs, -x.revenue_total, x.name))


def _concentration(ranked: list[Line], total: Line) -> Concentration:
    real = [line for line in ranked if line.name != NO_CUSTOMER]
    if not real:
        return Concentration(0, (), None, None, None)
    count = max(1, math.ceil(len(real) * TOP_SHARE))
    top = real[:count]
    revenue = sum((line.revenue_total for line in real), ZERO)
    return Concentration(
        customers=len(real), top=tuple(line.name for line in top),
        cost_share=percent(sum((line.cogs for line in top), ZERO), total.cogs),
        token_share=percent(sum(line.tokens for line in top), total.tokens),
        revenue_share=percent(sum((line.revenue_total for line in top), ZERO), revenue),
    )


# --- Plain output: JSON-ready dict and CSV rows ----------------------------------------


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def line_dict(line: Line, section: str) -> dict[str, object]:
    out: dict[str, object] = {"section": section, "name": line.name}
    out.update({f"revenue_{s.lower()}": _text(line.revenue.get(s, ZERO)) for s in STREAMS})
    other = sum((v for k, v in line.revenue.items() if k not in STREAMS), ZERO)
    out.update({
        "revenue_other": _text(other), "revenue": _text(line.revenue_total),
        "cogs": _text(line.cogs), "non_billable_cogs": _text(line.non_billable_cogs),
        "gross_margin": _text(line.margin), "margin_pct": _text(line.margin_pct),
        "tokens": line.tokens, "token_share_pct": _text(line.token_share),
        "cost_share_pct": _text(line.cost_share), "negative_margin": line.negative,
    })
    if section == "action":
        out.update({"actions": line.actions, "cost_per_action": _text(line.cost_per_action),
                    "revenue_per_action": _text(line.revenue_per_action)})
    return out


def as_dict(report: Report) -> dict[str, object]:
    """The report as JSON-ready data (amounts as decimal strings)."""
    c = report.concentration
    return {
        "period": report.period, "start": report.start.isoformat(),
        "end": (report.end - _DAY).isoformat(), "currency": report.currency,
        "customers": [line_dict(x, "customer") for x in report.customers],
        "models": [line_dict(x, "model") for x in report.models],
        "features": [line_dict(x, "feature") for x in report.features],
        "actions": [line_dict(x, "action") for x in report.actions],
        "unattributed": {k: _text(v) for k, v in report.unattributed.items()},
        "total": {
            **line_dict(report.total, "total"),
            "unattributed_cogs": _text(report.unattributed_total),
            "cogs_total": _text(report.cogs_total),
            "gross_margin_after_unattributed": _text(report.gross_margin),
            "margin_pct_after_unattributed": _text(report.gross_margin_pct),
        },
        "concentration": {
            "customers": c.customers, "top": list(c.top),
            "top_share_pct": _text(TOP_SHARE * 100),
            "cost_share_pct": _text(c.cost_share), "token_share_pct": _text(c.token_share),
            "revenue_share_pct": _text(c.revenue_share),
        },
    }


CSV_COLUMNS = ("section", "name", *(f"revenue_{s.lower()}" for s in STREAMS), "revenue_other",
               "revenue", "cogs", "non_billable_cogs", "gross_margin", "margin_pct", "tokens",
               "token_share_pct", "cost_share_pct", "negative_margin", "actions",
               "cost_per_action", "revenue_per_action", "revenue_share_pct")


def csv_rows(report: Report) -> list[dict[str, object]]:
    """One CSV row per line of every section, then unattributed, total and concentration."""
    rows = [line_dict(x, s) for s, lines in (("customer", report.customers),
                                             ("model", report.models),
                                             ("feature", report.features),
                                             ("action", report.actions)) for x in lines]
    for provider, amount in report.unattributed.items():
        rows.append({"section": "unattributed", "name": provider, "cogs": _text(amount)})
    rows.append(line_dict(report.total, "total"))
    rows.append({"section": "total", "name": "unattributed", "cogs": _text(report.unattributed_total)})
    rows.append({"section": "total", "name": "after unattributed",
                 "revenue": _text(report.total.revenue_total), "cogs": _text(report.cogs_total),
                 "gross_margin": _text(report.gross_margin),
                 "margin_pct": _text(report.gross_margin_pct),
                 "negative_margin": report.gross_margin < 0})
    c = report.concentration
    rows.append({"section": "concentration", "name": f"top {len(c.top)} of {c.customers}",
                 "token_share_pct": _text(c.token_share), "cost_share_pct": _text(c.cost_share),
                 "revenue_share_pct": _text(c.revenue_share)})
    return [{k: row.get(k, "") if row.get(k) is not None else "" for k in CSV_COLUMNS}
            for row in rows]
