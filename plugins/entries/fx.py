"""Foreign-currency entries of the book: rates from ``price`` entries, the operating-
currency prices of a foreign contract's generated postings, and the FX transactions of
its customer's monetary items (docs/currency.md; the rules are ``rules.fx``).

A EUR contract in a USD book: each generated posting is in EUR with ``@`` its rate in
USD, the rate of the lot's purchase date for what a lot's liability funds (a non-
monetary item, ASC 830-10-30 / IFRIC 22: never remeasured), else of the booking's date;
so ``sum(position)`` reports EUR and ``sum(weight)`` USD::

    2026-01-31 * "Eurco" "Usage 2026-01-01 to 2026-01-31 (3 entries)"
      Liabilities:Deferred-Revenue:Eurco   300.00 EUR @ 1.0800 USD
        lot: "eurco-2026.standard.2026-01-05"
      Income:Revenue:Usage                -300.00 EUR @ 1.0800 USD

At each month end the customer's receivable and unbilled amounts in EUR are remeasured
at the closing rate (``rule: "fx-remeasurement"``) and on each payment the difference is
realized (``rule: "fx-settlement"``), both in USD against ``Assets:FX-Revaluation:<C>``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from beancount.core import data
from beancount.core.amount import Amount

from ..rules import accounts
from ..rules.fx import MissingRate, Pool, Rates, convert
from ..rules.journal import Booking
from ..rules.model import Contract
from ..rules.periods import month_ends as month_ends_of
from .build import posting, transaction


def rates_of(entries: Iterable[data.Directive]) -> Rates:
    """The book's ``price`` entries as rates (base, quote, date)."""
    return Rates((e.date, e.currency, e.amount.currency, e.amount.number)
                 for e in entries if isinstance(e, data.Price)
                 and e.amount is not None and e.amount.number is not None)


def leg_rates(booking: Booking, rates: Rates, pair: tuple[str, str],
              lot_days: Mapping[str, datetime.date]) -> list[Decimal]:
    """The operating-currency rate of each leg of ``booking`` (``MissingRate`` if one is
    missing): a lot's leg at the rate of the lot's purchase date, another at the
    booking's. Each lot's legs balance, so the weights balance exactly; a booking that
    moves consideration between lots of different dates (a modification's, a bundled
    grant's) is priced at the earliest lot's rate throughout, the consideration's own."""
    days = [lot_days.get(leg.lot, booking.date) if leg.lot else booking.date
            for leg in booking.legs]
    found = [rates.rate(*pair, day) for day in days]
    if sum((leg.amount * r for leg, r in zip(booking.legs, found, strict=True)),
           Decimal(0)) != 0:
        found = [rates.rate(*pair, min(days))] * len(found)
    return found


def fx_entries(entries: Iterable[data.Directive], contracts: Iterable[Contract],
               operating: str, rates: Rates, as_of: datetime.date, payee: Mapping[str, str],
               filename: str, lineno: int
               ) -> tuple[list[data.Transaction], list[tuple[Contract, MissingRate]]]:
    """The remeasurement and settlement transactions of every customer with a contract in
    another currency than ``operating``, up to ``as_of``, and the missing rates."""
    pools: dict[tuple[str, str], tuple[Contract, Pool]] = {}
    watch: dict[str, tuple[str, str]] = {}
    for contract in contracts:
        if contract.currency == operating:
            continue
        key = (contract.customer, contract.currency)
        if key not in pools:
            pools[key] = (contract, Pool(contract.currency, operating))
            for account in (accounts.receivable(contract.customer),
                            accounts.unbilled(contract.customer)):
                watch[account] = (contract.customer, contract.currency)
    out: list[data.Transaction] = []
    missing: list[tuple[Contract, MissingRate]] = []
    if not pools:
        return out, missing
    # (date, customer, currency) -> [net amount, value at the postings' rates]
    moves: dict[tuple[datetime.date, str, str], list[Decimal]] = {}
    firsts: dict[tuple[str, str], datetime.date] = {}
    for entry in entries:
        if not isinstance(entry, data.Transaction) or entry.date > as_of:
            continue
        for p in entry.postings:
            found = watch.get(p.account)
            units = p.units
            if found is None or units is None or units.currency != found[1] \
                    or units.number is None:
                continue
            contract = pools[found][0]
            price = p.price
            try:
                r = (price.number if price is not None and price.currency == operating
                     and price.number is not None
                     else rates.rate(found[1], operating, entry.date))
            except MissingRate as e:
                missing.append((contract, e))
                continue
            move = moves.setdefault((entry.date, *found), [Decimal(0), Decimal(0)])
            move[0] += units.number
            move[1] += convert(units.number, r, operating)
            firsts[found] = min(firsts.get(found, entry.date), entry.date)

    def book(day: datetime.date, key: tuple[str, str], rule: str, amount: Decimal,
             narration: str, meta: dict[str, object]) -> None:
        nonlocal lineno
        contract = pools[key][0]
        income = accounts.FX_REALIZED if rule == "fx-settlement" else accounts.FX_UNREALIZED
        lineno += 1
        out.append(transaction(
            {"customer": key[0], "contract": contract.id, "rule": rule,
             "currency": key[1], **meta}, day, payee.get(key[0], key[0]), narration,
            [posting(accounts.fx_revaluation(key[0]), amount, operating),
             posting(income, -amount, operating)], (contract.id,), filename, lineno))

    for key, first in sorted(firsts.items()):
        contract, pool = pools[key]
        days = sorted(d for d, c, cur in moves if (c, cur) == key)
        month_ends = {d for d in month_ends_of(first, as_of) if d <= as_of}
        for day in sorted(set(days) | set(month_ends)):
            step = moves.get((day, *key))
            try:
                if step is not None and step[0] > 0:
                    pool.balance += step[0]
                    pool.carrying += step[1]
                elif step is not None and step[0] < 0:
                    rate = rates.rate(key[1], operating, day)
                    gain = pool.settle(-step[0], rate)
                    if gain:
                        book(day, key, "fx-settlement", gain,
                             f"FX on settlement of {-step[0]} {key[1]} at {rate}",
                             {"rate": str(rate), "settled": str(-step[0])})
                if day in month_ends:
                    rate = rates.rate(key[1], operating, day)
                    change = pool.remeasure(rate)
                    if change:
                        book(day, key, "fx-remeasurement", change,
                             f"FX remeasurement of {pool.balance} {key[1]} at {rate}",
                             {"rate": str(rate), "balance": str(pool.balance)})
            except MissingRate as e:
                missing.append((contract, e))
                break
    return out, missing


def at_date_rate(entries: list[data.Directive], operating: str, rates: Rates,
                 when: Callable[[data.Transaction], datetime.date] = lambda e: e.date
                 ) -> tuple[list[data.Directive], list[tuple[data.Transaction, MissingRate]]]:
    """``entries`` with each posting of a transaction in one foreign currency priced
    ``@`` the rate of ``when(transaction)`` (default its date: a provider's bill, and
    the cost accrued in its period, converted at the bill's date: docs/currency.md); the
    transactions with no rate."""
    out: list[data.Directive] = []
    missing: list[tuple[data.Transaction, MissingRate]] = []
    for entry in entries:
        codes = ({p.units.currency for p in entry.postings if p.units is not None}
                 if isinstance(entry, data.Transaction) else {operating})
        if len(codes) != 1 or operating in codes or not isinstance(entry, data.Transaction):
            out.append(entry)
            continue
        (code,) = codes
        try:
            rate = rates.rate(code, operating, when(entry))
        except MissingRate as e:
            missing.append((entry, e))
            out.append(entry)
            continue
        price = Amount(rate, operating)
        out.append(entry._replace(postings=[p._replace(price=price) for p in entry.postings]))
    return out, missing


# the transactions of a customer's consideration, cash and invoices (imported, or written
# by the close): priced at their date
PRICED_RULES = ("purchase", "refund", "payment", "credit-note", "invoice")


def price_imports(entries: list[data.Directive], customers: Mapping[str, str],
                  operating: str, rates: Rates
                  ) -> tuple[list[data.Directive], list[tuple[data.Transaction, MissingRate]]]:
    """``entries`` with each purchase, refund, payment, credit note and invoice of a customer of
    ``customers`` (id -> its contracts' foreign currency) that is wholly in that currency
    priced ``@`` its date's rate in ``operating``: the prepayment date's rate a lot's
    liability is carried at (ASC 830-10-30, IFRIC 22), the cash at the rate it came in.
    The files keep the importer's lines; the load adds the price, so that a rate
    imported later still prices them and the revenue drawn from a lot, at the same
    rate, leaves the liability at zero in both currencies. A transaction that has a
    price already, or is in several currencies, is left as written; the ones with no
    rate are returned (an error naming the pair and the date)."""
    picked: set[int] = set()
    for i, entry in enumerate(entries):
        if entry.__class__ is not data.Transaction or entry.meta.get("rule") not in PRICED_RULES:
            continue
        code = customers.get(str(entry.meta.get("customer", "")))
        if code is None or any(p.price is not None or p.cost is not None
                               for p in entry.postings):
            continue
        if {p.units.currency for p in entry.postings if p.units is not None} == {code}:
            picked.add(i)
    if not picked:
        return entries, []
    priced, missing = at_date_rate([entries[i] for i in sorted(picked)], operating, rates)
    out = list(entries)
    for i, entry in zip(sorted(picked), priced, strict=True):
        out[i] = entry
    return out, missing
