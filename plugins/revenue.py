"""Price the usage sub-ledger and recognize revenue under each customer's contract.

    plugin "tokenbooks.plugins.contracts" "{'contracts': 'contracts'}"
    plugin "tokenbooks.plugins.revenue"   "{'posting': 'month'}"

Reads the book's ``custom "usage"`` entries and credit purchase/refund transactions
(``tokenbooks.plugins.ledger``), runs the contract engine (``tokenbooks.plugins.rules``)
per contract in date order, and adds the transactions it produces. For a prepaid
customer with a $1,000 pack of 300,000 credits who uses 100,000 credits in January:

    2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026      ; importer
      Assets:Bank                          1000.00 USD
      Liabilities:Deferred-Revenue:Acme   -1000.00 USD

    2026-01-31 * "Acme Corp" "Usage 2026-01-05 to 2026-01-31 (31 entries)"
        ^acme-2026 ^acme-2026.standard.2026-01-03                          ; generated
      customer: "acme"
      contract: "acme-2026"
      rule: "usage"
      lots: "acme-2026.standard.2026-01-03"
      price_book: "list-2026@2026-01-01"
      usage_entries: 31
      first_usage: "imports/usage-2026-01.beancount:4"
      last_usage: "imports/usage-2026-01.beancount:301"
      Liabilities:Deferred-Revenue:Acme    333.33 USD
        lot: "acme-2026.standard.2026-01-03"
      Income:Revenue:Usage                -333.33 USD
        lot: "acme-2026.standard.2026-01-03"

Other rules: ``usage`` (also arrears usage, Dr Assets:Unbilled:<C>, and overage past
prepaid credits, postings marked ``rule: "overage"``), ``expiry`` (remote breakage on a
lot's expiry date), ``top-up``, ``allowance``, ``commitment``, ``refund``. Blocked usage
under a hard stop is reported with a warning entry (not an error, unless the config says
``'hard_stop': 'error'``):

    2026-02-28 custom "tokenbooks" "warning" "hard stop: customer 'hooli' ran out ..."

A modification (or breakage revision) not approved changes no revenue: a warning entry
on its date, and a warning line on stderr that ``bean-check`` prints without failing:

    warning: modification 'globex-amend-2' of contract 'globex-2026' on 2026-03-20 is
    pending approval (approved_by and approved_on): no revenue effect

Also ``breakage-revision`` (a cumulative catch-up of a revised breakage estimate) and
``modification`` (``rules.changes``: method and reason in the entry's metadata).

Config (a dict literal, every key optional):
  ``contracts``: the contracts folder (as for ``tokenbooks.plugins.contracts``);
  ``posting``: ``'month'`` (default) or ``'day'``, the grain of the generated usage
  transactions (the totals of a month do not depend on it);
  ``as_of``: ``'YYYY-MM-DD'``, the last day to recognize (default: the book's last date);
  ``hard_stop``: ``'warning'`` (default) or ``'error'``.

Errors (each a ``bean-check`` error at the entry): a usage entry whose model has no rate
on its date or whose action the contract does not price (naming customer, model or
action, and date: a missing price is never zero), usage of an unknown customer or
outside any contract, a purchase of an unknown pack, a malformed usage entry.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from typing import Any

from beancount.core import data
from beancount.core.amount import Amount
from beancount.parser import grammar

from . import common, ledger
from .rules.engine import run_contract
from .rules.journal import Booking, Notice
from .rules.records import Purchase, Usage

__plugins__ = ("revenue",)

log = logging.getLogger(__name__)

PLUGIN = "tokenbooks.plugins.revenue"
FILENAME = "<tokenbooks.revenue>"
# Generated entries sort after the book's own entries of the same day.
LINENO_BASE = 1_000_000_000


def source_meta(ref: str) -> data.Meta:
    filename, _, line = ref.rpartition(":")
    try:
        return data.new_metadata(filename or ref, int(line))
    except ValueError:
        return data.new_metadata(ref, 0)


def to_transaction(booking: Booking, payee: str, lineno: int) -> data.Transaction:
    currency = booking.meta.pop("currency", None) or "USD"
    postings = []
    for leg in booking.legs:
        meta = None
        if leg.lot or leg.rule:
            meta = {}
            if leg.lot:
                meta["lot"] = leg.lot
            if leg.rule:
                meta["rule"] = leg.rule
        postings.append(data.Posting(leg.account, Amount(leg.amount, currency), None, None,
                                     None, meta))
    return data.Transaction(
        data.new_metadata(FILENAME, lineno, booking.meta), booking.date, "*", payee,
        booking.narration, data.EMPTY_SET, frozenset(booking.links), postings)


def to_custom(notice: Notice, lineno: int) -> data.Custom:
    meta = {"customer": notice.customer, "contract": notice.contract, "rule": notice.rule,
            **notice.meta}
    values = [grammar.ValueType("warning", str), grammar.ValueType(notice.message, str)]
    return data.Custom(data.new_metadata(FILENAME, lineno, meta), notice.date, "tokenbooks",
                       values)


def revenue(entries: data.Directives, options_map: dict[str, Any],
            config: str | None = None, last: datetime.date | None = None
            ) -> tuple[data.Directives, list]:
    """The plugin. ``last``: the book's last date when ``entries`` are not sorted (as
    under ``tokenbooks.plugins.book``); else it is the last entry's."""
    with common.no_cyclic_gc():
        return _revenue(entries, options_map, config, last)


def _revenue(entries: data.Directives, options_map: dict[str, Any],
             config: str | None = None, last: datetime.date | None = None
             ) -> tuple[data.Directives, list]:
    settings, errors = common.parse_config(config, PLUGIN)
    errors = list(errors)
    posting = settings.get("posting", "month")
    where = data.new_metadata("<" + PLUGIN + ">", 0)
    if posting not in ("month", "day"):
        errors.append(common.PluginError(where, f"{PLUGIN}: posting: expected 'month' or "
                                                f"'day', got {posting!r}", None))
        posting = "month"
    hard_stop = settings.get("hard_stop", "warning")
    book, _ = common.load(options_map, settings)  # contract errors: the contracts plugin
    if not entries:
        return entries, errors
    as_of = last or entries[-1].date
    if settings.get("as_of"):
        try:
            as_of = datetime.date.fromisoformat(str(settings["as_of"]))
        except ValueError:
            errors.append(common.PluginError(where, f"{PLUGIN}: as_of: expected a date "
                                                    f"YYYY-MM-DD, got {settings['as_of']!r}",
                                             None))

    usages, bad = ledger.usage_records(entries)
    for entry, message in bad:
        errors.append(common.PluginError(entry.meta, f"malformed usage entry: {message}", entry))
    purchases, bad = ledger.purchase_records(entries)
    for entry, message in bad:
        errors.append(common.PluginError(entry.meta, f"malformed purchase: {message}", entry))

    by_contract: dict[str, list[Usage]] = defaultdict(list)
    # Usage comes in date order: the contract in force is looked up once per customer and
    # day, in a cache per day keyed by the customer alone.
    per_day: dict[datetime.date, dict[str, list[Usage] | str]] = {}
    today = lists = None
    for usage in usages:
        day = usage.date
        if day != today:
            today = day
            lists = per_day.setdefault(day, {})
        into = lists.get(usage.customer)
        if into is None:
            customer = book.customers.get(usage.customer)
            contract = customer.contract_on(day) if customer is not None else None
            into = lists[usage.customer] = (
                by_contract[contract.id] if contract is not None
                else "unknown" if customer is None else "outside")
        if into.__class__ is list:
            into.append(usage)
        elif into == "unknown":
            errors.append(common.PluginError(
                source_meta(usage.ref), f"usage of unknown customer {usage.customer!r} on "
                                        f"{day} (no contract file names it)", None))
        else:
            errors.append(common.PluginError(
                source_meta(usage.ref), f"usage of customer {usage.customer!r} on "
                                        f"{day}: no contract in force", None))
    bought: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        customer = book.customers.get(purchase.customer)
        contract = None
        if customer is not None:
            contract = customer.contract_for(purchase.contract, purchase.date)
        if contract is None:
            errors.append(common.PluginError(
                source_meta(purchase.ref), f"purchase of customer {purchase.customer!r}: "
                                           f"no contract {purchase.contract!r}", None))
            continue
        bought[contract.id].append(purchase)

    new: list[data.Directive] = []
    lineno = LINENO_BASE
    for customer_id in sorted(book.customers):
        customer = book.customers[customer_id]
        for contract in sorted(customer.contracts, key=lambda c: c.start):
            price_book = book.price_books.get(contract.price_book)
            if price_book is None or contract.start > as_of:
                continue
            result = run_contract(contract, price_book, by_contract.get(contract.id, []),
                                  bought.get(contract.id, []), as_of, posting, customer.name)
            for booking in result.bookings:
                lineno += 1
                booking.meta["currency"] = contract.currency
                new.append(to_transaction(booking, customer.name, lineno))
            for notice in result.notices:
                lineno += 1
                if hard_stop == "error" and notice.rule == "hard-stop":
                    errors.append(common.PluginError(data.new_metadata(FILENAME, lineno),
                                                     notice.message, None))
                else:
                    new.append(to_custom(notice, lineno))
                if notice.meta.get("status") == "pending":
                    # bean-check prints it (stderr) and still passes: not an error
                    log.warning("warning: %s", notice.message)
            for error in result.errors:
                errors.append(common.PluginError(source_meta(error.ref), error.message, None))
    return entries + new, errors
