"""Builders for engine tests: a one-model price book where one token is one credit."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from tokenbooks.plugins.rules.engine import ContractRun, run_contract
from tokenbooks.plugins.rules.model import (
    Contract,
    ModelRates,
    Pack,
    PriceBook,
    PriceBookVersion,
)
from tokenbooks.plugins.rules.records import Purchase, Usage

D = Decimal
CUSTOMER = "acme"


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def book(*versions: tuple[str, str]) -> PriceBook:
    """Model ``m``: ``input`` per token (per=1) for each (effective, rate)."""
    versions = versions or (("2026-01-01", "0.01"),)
    return PriceBook("list", "USD", 1, tuple(
        PriceBookVersion(day(eff), {"m": ModelRates(D(rate), D(rate), D(rate))})
        for eff, rate in versions))


def contract(**kw) -> Contract:
    base = dict(id="c1", customer=CUSTOMER, start=day("2026-01-01"), currency="USD",
                billing="prepaid", price_book="list", credit_value=D("0.01"))
    base.update(kw)
    return Contract(**base)


def pack(name: str, price: str, credits: int, expires: str | None = None,
         after=None) -> Pack:
    return Pack(name, D(price), D(credits), expires_after=after,
                expires=day(expires) if expires else None)


def usage(date: str, tokens: int, **kw) -> Usage:
    kw.setdefault("events", 1)
    kw.setdefault("model", "m")
    return Usage(date=day(date), customer=CUSTOMER, input_tokens=tokens,
                 ref=kw.pop("ref", f"u:{date}:{tokens}:{kw.get('user', '')}"), **kw)


def purchase(date: str, pack_name: str, amount: str, payment_id: str = "", **kw) -> Purchase:
    return Purchase(date=day(date), customer=CUSTOMER, contract="c1", pack=pack_name,
                    amount=D(amount), currency="USD",
                    payment_id=payment_id or f"pay-{date}-{pack_name}", ref=f"p:{date}:{pack_name}",
                    **kw)


def run(c: Contract, usages=(), purchases=(), as_of: str = "2026-12-31",
        posting: str = "month", price_book: PriceBook | None = None) -> ContractRun:
    result = run_contract(c, price_book or book(), list(usages), list(purchases), day(as_of),
                          posting)
    for booking in result.bookings:
        assert booking.balanced()
    return result


def monthly(result: ContractRun, account: str, rule: str | None = None) -> dict[str, Decimal]:
    """Sum of postings to ``account`` by month (credits shown positive for Income)."""
    out: dict[str, Decimal] = defaultdict(lambda: D("0.00"))
    for b in result.bookings:
        for leg in b.legs:
            if leg.account == account and (rule is None or b.rule == rule):
                sign = -1 if account.startswith(("Income", "Liabilities")) else 1
                out[f"{b.date:%Y-%m}"] += sign * leg.amount
    return dict(out)


def balance(result: ContractRun, account: str, until: str | None = None,
            lot: str | None = None) -> Decimal:
    total = D("0.00")
    for b in result.bookings:
        if until and b.date > day(until):
            continue
        for leg in b.legs:
            if leg.account == account and (lot is None or leg.lot == lot):
                total += leg.amount
    return total
