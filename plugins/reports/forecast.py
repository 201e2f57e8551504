"""Forecast of an open month: per customer, the usage value to date and its projection to
the month's end, the projected invoice against the trailing three-month average, the day
each prepaid balance runs out at the current rate and what the contract then does, and
the expected breakage of the next twelve months (``rules.forecasting``).

    result = forecast(ledger, "2026-03")             # as of the book's last day
    result = forecast(ledger, "2026-03", as_of=datetime.date(2026, 3, 15))
    table = forecast_table(ledger.month("2026-03"))

As of the book's last day (the load's as-of date) it reads what the load computed: the
engine's lots at that day and the value of the usage per month; an earlier day runs the
engine again to that day, in memory (``reports.rerun``). The day-of-week pattern prices
the customer's usage of the trailing three months day by day at the contract's rates.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ..entries.build import number
from ..rules import accounts, dunning, forecasting, tiers
from ..rules.engine import ContractRun
from ..rules.fx import price_book_for
from ..rules.journal import Booking
from ..rules.model import Contract
from ..rules.periods import month_bounds, month_of, months, previous_months
from ..rules.pricing import Pricer
from ..rules.records import Usage
from ..rules.rounding import to_cent
from . import rerun
from .ledger import Ledger, Month
from .tables import Table

ZERO = Decimal("0.00")
TOTAL = "(total)"
REVENUE_STAGE = "<tokenbooks.revenue>"
TRAILING = 3
HORIZON = 12


@dataclass
class CustomerForecast:
    customer: str
    contract: Contract
    to_date: Decimal
    run_rate: Decimal
    projected: Decimal
    method: str
    invoice_to_date: Decimal
    projected_invoice: Decimal
    trailing: dunning.Jump | None
    credits_left: Decimal | None
    run_out: datetime.date | None
    consequence: str
    top_ups: Decimal
    burn: forecasting.Burn | None
    factors: tuple[Fraction, ...]


@dataclass
class Forecast:
    period: str
    as_of: datetime.date
    elapsed: int
    days: int
    customers: list[CustomerForecast]
    breakage: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (month, customer)
    horizon: list[str] = field(default_factory=list)
    ratio: Decimal = dunning.JUMP_RATIO
    # customer -> the currency of its contracts, in a book of several (docs/currency.md)
    currencies: dict[str, str] = field(default_factory=dict)
    operating: str = ""


def _unbilled(legs: Iterable[tuple[datetime.date, str, str, Decimal]], customer: str,
              first: datetime.date, last: datetime.date) -> Decimal:
    return sum((amount for day, who, account, amount in legs
                if who == customer and first <= day <= last
                and account.startswith(accounts.UNBILLED + ":")), ZERO)


def _book_legs(ledger: Ledger) -> list[tuple[datetime.date, str, str, Decimal]]:
    """Postings to Assets:Unbilled and top-up receivables of the revenue stage."""
    out = []
    for entry in ledger.transactions:
        meta = entry.meta or {}
        if meta.get("filename") != REVENUE_STAGE:
            continue
        customer = str(meta.get("customer") or "")
        for p in entry.postings:
            if p.account.startswith((accounts.UNBILLED + ":", accounts.RECEIVABLE + ":")):
                out.append((entry.date, customer, p.account, number(p)))
    return out


def _booking_legs(bookings: Iterable[Booking]) -> list[tuple[datetime.date, str, str, Decimal]]:
    return [(b.date, b.customer, leg.account, leg.amount) for b in bookings for leg in b.legs
            if leg.account.startswith((accounts.UNBILLED + ":", accounts.RECEIVABLE + ":"))]


def _daily_values(ledger: Ledger, contract: Contract, usages: Iterable[Usage],
                  first: datetime.date) -> dict[datetime.date, Fraction]:
    """The value at the contract's rates of the customer's usage of each day from
    ``first`` on (``usages``: the customer's, in book order)."""
    book = ledger.contracts.price_books.get(contract.price_book)
    if book is None:
        return {}
    pricer = Pricer(contract, price_book_for(book, contract))  # docs/currency.md
    by_day = defaultdict(list)
    for usage in usages:
        if usage.date >= first:
            by_day[usage.date].append(usage)
    out = {}
    for day, usages in sorted(by_day.items()):
        priced = pricer.price_day(day, usages)
        out[day] = Fraction(priced.tokens) + Fraction(priced.actions)
    return out


def forecast(ledger: Ledger, period: str, as_of: datetime.date | None = None) -> Forecast:
    """The forecast of ``period`` (YYYY-MM) as of ``as_of`` (default: the book's last
    day, within the month)."""
    start, end = month_bounds(period)
    engine_day = ledger.revenue.as_of
    day = as_of or min(engine_day, end)
    if not start <= day <= end:
        raise ValueError(f"forecast of {period}: the as-of day {day} is not in the month "
                         f"(the book's last day is {engine_day})")
    runs: dict[str, ContractRun] = ledger.revenue.runs
    legs = _book_legs(ledger)
    if day != engine_day:
        again = rerun.run(ledger, ledger.contracts, ledger.contracts.customers, as_of=day)
        runs = again.runs
        legs = [leg for leg in legs if leg[0] < start] + _booking_legs(
            b for r in runs.values() for b in r.bookings if b.date >= start)
    elapsed = forecasting.days_between(start, day)
    remaining = forecasting.days_between(day + forecasting.ONE_DAY, end)
    trailing_months = [m for m in previous_months(period, TRAILING)
                       if ledger.first_period is None or m >= ledger.first_period]
    trail_start = month_bounds(trailing_months[0])[0] if trailing_months else start
    last_day = forecasting.horizon(day, HORIZON)
    history: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for when, who, account, amount in legs:
        if when < start and account.startswith(accounts.UNBILLED + ":"):
            history[(who, month_of(when))] += amount
    out: list[CustomerForecast] = []
    breakage: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    current: dict[str, Decimal] = {}
    recent: dict[str, list[Usage]] = defaultdict(list)  # one pass over the usage
    for usage in rerun.usage_of(ledger, ledger.contracts.customers, trail_start, day):
        recent[usage.customer].append(usage)
    for cid in sorted(ledger.contracts.customers):
        contract = ledger.contracts.customers[cid].contract_on(day)
        run = runs.get(contract.id) if contract is not None else None
        if contract is None or run is None:
            continue
        to_date = sum((Fraction(t) + Fraction(a)
                       for values in [run.values.get(period, {})]
                       for t, a in values.values()), Fraction(0))
        daily = _daily_values(ledger, contract, recent.get(cid, []),
                              max(trail_start, contract.start))
        history_days = [d for d in forecasting.days_between(trail_start, start
                                                            - forecasting.ONE_DAY)
                        if d >= contract.start]
        seen = [d for d in history_days if d in daily]
        if seen:  # from the customer's first usage of the trailing months on
            history_days = [d for d in history_days if d >= seen[0]]
        factors = forecasting.weekday_factors(daily, history_days)
        pattern = forecasting.pattern(to_date, elapsed, factors)
        projected = forecasting.project(to_date, remaining, pattern)
        rate = forecasting.run_rate(to_date, len(elapsed), len(elapsed) + len(remaining))
        invoice_to_date = _unbilled(legs, cid, start, day)
        top_ups_to_date = sum((amount for when, who, account, amount in legs
                               if who == cid and start <= when <= day and amount > 0
                               and account.startswith(accounts.RECEIVABLE + ":")), ZERO)
        burn = None
        credits_left: Decimal | None = None
        run_out = None
        top_ups = top_ups_to_date
        if contract.credit_value:
            # the lots as the run ended them, on ``day`` (a snapshot too when it is a
            # month end; before the run's first month end there is none)
            lots = run.lots_at(day) or list(run.lots)
            left = sum((lot.remaining for lot in lots if lot.usable_on(day)), Fraction(0))
            credits_left = to_cent(left)
            burn = forecasting.burn(contract, lots, pattern.on, day, last_day)
            run_out = burn.run_out
            overage = burn.overage.get(period, Fraction(0))
            projected_invoice = invoice_to_date + to_cent(overage)
            top_ups += sum((price for when, _, price in burn.top_ups if when <= end), ZERO)
            for (m, _), amount in burn.breakage.items():
                breakage[(m, cid)] += amount
        elif to_date:
            # the invoice grows as the value does, through the month's tiers when the
            # contract has them (the band the projected value reaches; a year's tiers
            # would need the year to date: scaled as without tiers)
            month_tiers = contract.tiers if (contract.tiers is not None
                                             and contract.tiers.period == "month") else None
            grows = (tiers.tiered(month_tiers, projected) / tiers.tiered(month_tiers, to_date)
                     if month_tiers is not None else projected / to_date)
            projected_invoice = to_cent(Fraction(invoice_to_date) * grows)
        else:
            projected_invoice = invoice_to_date
        terms = contract.commitment
        if terms is not None and terms.period == "month":
            projected_invoice = max(projected_invoice, terms.amount)
        current[cid] = projected_invoice
        out.append(CustomerForecast(
            cid, contract, to_cent(to_date), to_cent(rate), to_cent(projected),
            pattern.method, invoice_to_date, projected_invoice, None, credits_left,
            run_out, forecasting.run_out_consequence(contract, run_out,
                                                     burn.top_ups if burn else [])
            if contract.credit_value else "", top_ups, burn, pattern.factors))
    jumps = {j.customer: j for j in dunning.jumps(period, current, history,
                                                  dunning.JUMP_RATIO, ledger.first_period)}
    for item in out:
        item.trailing = jumps.get(item.customer)
    horizon = months(period, month_of(last_day))
    currencies = {cid: c.currency for cid, customer in ledger.contracts.customers.items()
                  for c in customer.contracts} if ledger.foreign_customers else {}
    return Forecast(period, day, len(elapsed), len(elapsed) + len(remaining), out,
                    dict(breakage), horizon, currencies=currencies,
                    operating=ledger.currency)


COLUMNS = ["section", "customer", "contract", "billing", "month", "value_to_date",
           "run_rate", "projected_value", "method", "invoice_to_date", "projected_invoice",
           "trailing_average", "ratio", "flag", "projected_top_ups", "credits_left",
           "run_out", "then", "expected_breakage"]


def table(result: Forecast) -> Table:
    rows: list[dict[str, object]] = []
    for c in result.customers:
        jump = c.trailing
        rows.append({
            "section": "customers", "customer": c.customer, "contract": c.contract.id,
            "billing": c.contract.billing, "value_to_date": c.to_date,
            "run_rate": c.run_rate, "projected_value": c.projected, "method": c.method,
            "invoice_to_date": c.invoice_to_date, "projected_invoice": c.projected_invoice,
            "trailing_average": jump.average if jump else None,
            "ratio": jump.ratio if jump else None,
            "flag": "JUMP" if jump and jump.flagged else "",
            "projected_top_ups": c.top_ups if c.top_ups else None,
            "credits_left": c.credits_left,
            "run_out": c.run_out.isoformat() if c.run_out else (
                "" if c.credits_left is None else "not in 12 months"),
            "then": c.consequence})
    code_of = result.currencies
    for m in result.horizon:
        figures = {cid: v for (month, cid), v in result.breakage.items() if month == m}
        if not code_of:
            for cid in sorted(figures):
                rows.append({"section": "breakage", "month": m, "customer": cid,
                             "expected_breakage": figures[cid]})
            rows.append({"section": "breakage", "month": m, "customer": TOTAL,
                         "expected_breakage": sum(figures.values(), ZERO)})
            continue
        # several currencies: a total per currency, never a sum across them
        for code in [result.operating, *sorted(set(code_of.values()) - {result.operating})]:
            mine = sorted(cid for cid in figures if code_of.get(cid) == code)
            if not mine and code != result.operating:
                continue
            for cid in mine:
                rows.append({"section": "breakage", "month": m, "customer": cid,
                             "currency": code, "expected_breakage": figures[cid]})
            rows.append({"section": "breakage", "month": m, "customer": TOTAL,
                         "currency": code,
                         "expected_breakage": sum((figures[c] for c in mine), ZERO)})
    notes = [
        f"As of {result.as_of}: {result.elapsed} of {result.days} days of {result.period}.",
        "value_to_date: the month's usage at contract rates (list value for prepaid "
        "credits). run_rate: value to date / days elapsed x days of the month. "
        "projected_value (method day-of-week): each weekday's factor is its mean daily "
        "value over the trailing three months (from the customer's first usage in them) "
        "over the mean of all their days; level = value to date / the factors of the days "
        "elapsed; each day left adds level x its factor. Fewer than 14 days of history: "
        "the run rate (method run rate).",
        "projected_invoice: arrears, the invoice to date x projected / to-date value "
        "(through the contract's monthly tiers: the tiered values' ratio; yearly tiers "
        "make it approximate), at least a monthly minimum; prepaid, the overage to "
        "date plus the overage the burn-down expects in the month. trailing_average, "
        f"ratio, flag: against the three months before, flagged JUMP at {result.ratio} "
        "times or more (the dunning report's rule).",
        "credits_left, run_out, then: the usable credits at the as-of day; the day the "
        "burn-down at the projected daily rate first finds them short, drawing the lots "
        "in draw order (expiries included); and what the overage policy then does.",
        "expected_breakage: per month of the open month and the eleven after it, from "
        "the open lots at the as-of day and the breakage rates in force (remote: the "
        "liability left at expiry; proportional: the estimate's share as credits are "
        "used, and the true-up at expiry), with the usage at the projected rate and no "
        "purchase but automatic top-ups.",
    ]
    columns = COLUMNS
    if code_of:
        columns = [*COLUMNS[:2], "currency", *COLUMNS[2:]]
        for row in rows:
            row.setdefault("currency", code_of.get(str(row["customer"]), result.operating))
        notes.append("Each customer's figures are in its contracts' currency; the breakage "
                     "totals are per currency (docs/currency.md).")
    return Table("forecast", f"Forecast {result.period} as of {result.as_of}", columns,
                 rows, notes)


def forecast_table(month: Month) -> Table:
    """The forecast of ``month`` as of the book's last day (cached on the month)."""
    found = month.cache.get("forecast")
    if found is None:
        found = month.cache["forecast"] = forecast(month.ledger, month.period)
    return table(found)
