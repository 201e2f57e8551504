"""Price the usage sub-ledger and recognize revenue under each customer's contract.

    plugin "tokenbooks.plugins.contracts" "{'contracts': 'contracts'}"
    plugin "tokenbooks.plugins.revenue"   "{'posting': 'month'}"

Reads the book's ``custom "usage"`` entries and credit purchase/refund transactions
(``tokenbooks.plugins.entries``), runs the contract engine (``tokenbooks.plugins.rules``)
once per contract in date order, and adds the transactions it produces. For a prepaid
customer with a $1,000 pack of 300,000 credits who uses 100,000 credits in January:

    2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
        ^acme-2026.standard.2026-01-03                                     ; importer
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
      first_usage: "imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount:4"
      last_usage: "imports/2026-01.usage-2026-01.jsonl.be1b2b68.beancount:301"
      Liabilities:Deferred-Revenue:Acme    333.33 USD
        lot: "acme-2026.standard.2026-01-03"
      Income:Revenue:Usage                -250.00 USD
        lot: "acme-2026.standard.2026-01-03"
        model: "gpt-4o"
        feature: "chat"
      Income:Revenue:Usage                 -83.33 USD
        lot: "acme-2026.standard.2026-01-03"
        model: "gpt-4o-mini"
        feature: "chat"

Each ``Income:Revenue:Usage`` and ``:Actions`` posting of a usage transaction names the
``model``, ``feature`` and ``action`` that earned it (the revenue split in proportion to
the value of their usage at contract rates, to the cent), so that bean-query groups
revenue by model without a report:

    SELECT meta('model'), sum(number) WHERE account ~ '^Income:Revenue' GROUP BY 1

Other rules: ``usage`` (also arrears usage, Dr Assets:Unbilled:<C>, and overage past
prepaid credits, postings marked ``rule: "overage"``), ``expiry`` (remote breakage on a
lot's expiry date), ``top-up``, ``allowance``, ``commitment``, ``refund``,
``breakage-revision`` and ``modification``. Each purchase is linked to the lot it
bought (and a refund to the lot it refunds). Blocked usage under a hard stop is reported
with a warning entry (not an error, unless the config says ``'hard_stop': 'error'``):

    2026-02-28 custom "tokenbooks" "warning" "hard stop: customer 'hooli' ran out ..."

A modification (or breakage revision) not approved changes no revenue: a warning entry
on its date, and a warning line on stderr that ``bean-check`` prints without failing:

    warning: modification 'globex-amend-2' of contract 'globex-2026' on 2026-03-20 is
    pending approval (approved_by and approved_on): no revenue effect

Config (``tokenbooks.plugins.config``): ``contracts``, ``posting`` ('month' or 'day', the
grain of the generated usage transactions: the totals of a month do not depend on it),
``as_of`` (the last day to recognize; default the book's last date, or the last day a
month-grain usage entry covers, if later), ``hard_stop`` and ``grain`` (of the usage
sub-ledger, docs/grain.md: read by the importers; the engine checks every month-grain
entry against the cut dates of its contract whatever it says).

What it computed stays with the load (``Load.revenue``: every contract's lots, month by
month, and the value of its usage), for the invariants, the close and the reports.

Errors (``RevenueError``, each at the entry): a usage entry whose model has no rate on
its date or whose action the contract does not price (naming customer, model or action,
and date: a missing price is never zero), usage of an unknown customer or outside any
contract, a purchase of an unknown pack, a malformed usage entry or purchase.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from beancount.core import data
from beancount.core.amount import Amount

from . import config as settings
from .entries.build import relative_ref, value
from .entries.cutover import at_cutover, cutover_of
from .entries.fx import fx_entries, leg_rates, price_imports, rates_of
from .errors import PluginError, RevenueError, at, at_ref
from .load import Load, Revenue, no_cyclic_gc
from .rules.engine import ContractRun, run_contract
from .rules.fx import MissingRate, Rates, price_book_for
from .rules.journal import Booking, Notice
from .rules.records import Purchase, Usage

__plugins__ = ("revenue",)

log = logging.getLogger(__name__)

PLUGIN = settings.REVENUE
FILENAME = "<tokenbooks.revenue>"
# Generated entries sort after the book's own entries of the same day.
LINENO_BASE = 1_000_000_000
REFS = ("first_usage", "last_usage")


def revenue(entries: data.Directives, options_map: dict[str, Any],
            config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin (a plugin line of its own: Beancount hands it a sorted book)."""
    parsed, errors = settings.parse(config, PLUGIN)
    load, more = Load.attach(options_map, parsed)
    if not entries:
        return entries, [*errors, *more]
    out, found = stage(load, entries, parsed, entries[-1].date)
    return out, [*errors, *more, *found]


def stage(load: Load, entries: data.Directives, config: settings.PluginConfig,
          last: datetime.date) -> tuple[list[data.Directive], list[PluginError]]:
    """Run the engine over the book (``last``: its last date) and record the result on
    ``load``; the book with the generated entries added and the purchases linked to
    their lots, and the errors."""
    with no_cyclic_gc():
        return _stage(load, entries, config, last)


def _stage(load: Load, entries: data.Directives, config: settings.PluginConfig,
           last: datetime.date) -> tuple[list[data.Directive], list[PluginError]]:
    errors: list[PluginError] = []
    contracts = load.contracts
    table = load.usage_table(entries)
    # (month grain: the last day an aggregate covers is a date of the book, docs/grain.md)
    as_of = config.as_of or max(last, table.last_until() or last)
    for entry, message in table.bad:
        errors.append(RevenueError(entry.meta, f"malformed usage entry: {message}", entry))
    purchases = load.purchase_table(entries)
    for bad, message in load.bad_purchases:
        errors.append(RevenueError(bad.meta, f"malformed purchase: {message}", bad))

    by_contract: dict[str, list[Usage]] = defaultdict(list)
    # Usage comes in date order: the contract in force is looked up once per customer and
    # day, in a cache per day keyed by the customer alone.
    per_day: dict[datetime.date, dict[str, list[Usage] | str]] = {}
    today = None
    lists: dict[str, list[Usage] | str] = {}
    for usage in table.records():  # made for this stage, freed at its end
        day = usage.date
        if day != today:
            today = day
            lists = per_day.setdefault(day, {})
        into = lists.get(usage.customer)
        if into is None:
            customer = contracts.customers.get(usage.customer)
            contract = customer.contract_on(day) if customer is not None else None
            into = lists[usage.customer] = (
                by_contract[contract.id] if contract is not None
                else "unknown" if customer is None else "outside")
        if into.__class__ is list:
            into.append(usage)
        elif into == "unknown":
            errors.append(RevenueError(
                at_ref(usage.ref), f"usage of unknown customer {usage.customer!r} on "
                                   f"{day} (no contract file names it)", None))
        else:
            errors.append(RevenueError(
                at_ref(usage.ref), f"usage of customer {usage.customer!r} on "
                                   f"{day}: no contract in force", None))
    bought: dict[str, list[Purchase]] = defaultdict(list)
    for purchase, _ in purchases:
        customer = contracts.customers.get(purchase.customer)
        contract = None
        if customer is not None:
            contract = customer.contract_for(purchase.contract, purchase.date)
        if contract is None:
            errors.append(RevenueError(
                at_ref(purchase.ref), f"purchase of customer {purchase.customer!r}: "
                                      f"no contract {purchase.contract!r}", None))
            continue
        bought[contract.id].append(purchase)
    served: dict[str, dict[str, str]] = defaultdict(dict)
    for (customer_id, workflow), action in load.served(entries)[0].items():
        served[customer_id][workflow] = action

    new: list[data.Directive] = []
    runs: dict[str, ContractRun] = {}
    lineno = LINENO_BASE
    cutover = cutover_of(entries)  # a book opened from balances (rules.cutover)
    operating = load.operating
    foreign = [c for customer in contracts.customers.values() for c in customer.contracts
               if operating and c.currency != operating]
    rates = rates_of(entries) if foreign else Rates()  # docs/currency.md
    missing_rates: set[str] = set()
    for customer_id in sorted(contracts.customers):
        customer = contracts.customers[customer_id]
        for contract in sorted(customer.contracts, key=lambda c: c.start):
            price_book = contracts.price_books.get(contract.price_book)
            if price_book is None or contract.start > as_of:
                continue
            contract = at_cutover(contract, cutover)
            result = run_contract(contract, price_book_for(price_book, contract),
                                  by_contract.get(contract.id, []),
                                  bought.get(contract.id, []), as_of, config.posting,
                                  customer.name, served.get(customer_id))
            runs[contract.id] = result
            lot_days = {lot.id: lot.purchased for lot in result.lots}
            pair = (contract.currency, operating)
            for booking in result.bookings:
                lineno += 1
                prices = None
                if operating and contract.currency != operating:
                    try:
                        prices = leg_rates(booking, rates, pair, lot_days)
                    except MissingRate as e:
                        if str(e) not in missing_rates:  # once per pair and date
                            missing_rates.add(str(e))
                            errors.append(RevenueError(
                                at(contract.source, contract.line or 0),
                                f"contract {contract.id!r}: {e}", None))
                new.append(to_transaction(booking, customer.name, contract.currency,
                                          lineno, load, prices, operating))
            for notice in result.notices:
                lineno += 1
                if config.hard_stop == "error" and notice.rule == "hard-stop":
                    errors.append(RevenueError(at(FILENAME, lineno), notice.message, None))
                else:
                    new.append(to_custom(notice, lineno))
                if notice.meta.get("status") == "pending":
                    # bean-check prints it (stderr) and still passes: not an error
                    log.warning("warning: %s", notice.message)
            for error in result.errors:
                errors.append(RevenueError(at_ref(error.ref), error.message, None))
            # the bookings are the book's transactions now: the load keeps the lots, their
            # month ends and the values, not a second copy of the journal
            result.bookings = []
    if foreign:  # remeasurement and settlement of foreign monetary items
        made, missing = fx_entries([*entries, *new], foreign, operating, rates, as_of,
                                   {c.id: c.name for c in contracts.customers.values()},
                                   FILENAME, lineno)
        new += made
        for contract, problem in missing:
            if str(problem) in missing_rates:
                continue
            missing_rates.add(str(problem))
            errors.append(RevenueError(at(contract.source, contract.line or 0),
                                       f"contract {contract.id!r}: {problem}", None))
    load.revenue = Revenue(runs, as_of, config.posting)
    out = link_lots(entries, runs, purchases)
    if foreign:  # the imported purchases and payments, at their date's rate
        out, unpriced = price_imports(out, {c.customer: c.currency for c in foreign},
                                      operating, rates)
        errors += [RevenueError(e.meta, f"{e.meta.get('rule')}: {problem}", e)
                   for e, problem in unpriced]
    return out + new, errors


def link_lots(entries: data.Directives, runs: dict[str, ContractRun],
              purchases: list[tuple[Purchase, data.Transaction]]) -> list[data.Directive]:
    """The book with each purchase linked to the lot it bought, and each refund to the
    lot it refunded (as in a copy of the list: the input is left alone)."""
    lot_of_ref = {lot.source: lot.id for run in runs.values() for lot in run.lots}
    lot_of_payment = {purchase.payment_id: lot_of_ref[purchase.ref]
                      for purchase, _ in purchases
                      if purchase.kind == "purchase" and purchase.payment_id
                      and purchase.ref in lot_of_ref}
    links: dict[int, str] = {}
    for purchase, entry in purchases:
        lot = (lot_of_ref.get(purchase.ref) if purchase.kind == "purchase"
               else lot_of_payment.get(purchase.refund_of))
        if lot is not None and lot not in entry.links:
            links[id(entry)] = lot
    out = list(entries)
    if links:
        transaction = data.Transaction
        for i, directive in enumerate(out):
            if directive.__class__ is transaction and id(directive) in links:
                out[i] = directive._replace(links=directive.links | {links[id(directive)]})
    return out


def to_transaction(booking: Booking, payee: str, currency: str, lineno: int, load: Load,
                   prices: list[Decimal] | None = None, operating: str = ""
                   ) -> data.Transaction:
    """``prices``: each leg's rate in ``operating`` (a foreign contract's, as ``@``)."""
    postings = []
    for i, leg in enumerate(booking.legs):
        meta: dict[str, Any] | None = None
        if leg.lot or leg.rule or leg.detail:
            meta = {}
            if leg.lot:
                meta["lot"] = leg.lot
            if leg.rule:
                meta["rule"] = leg.rule
            if leg.detail:
                model, feature, action = leg.detail
                meta["model"] = model
                meta["feature"] = feature
                if action:
                    meta["action"] = action
                if leg.logged:
                    meta["logged_model"] = leg.logged
        price = Amount(prices[i], operating) if prices is not None else None
        postings.append(data.Posting(leg.account, Amount(leg.amount, currency), None, price,
                                     None, meta))
    meta = dict(booking.meta)
    for key in REFS:  # book-relative: the book can move
        if isinstance(meta.get(key), str):
            meta[key] = relative_ref(str(meta[key]), load.root)
    return data.Transaction(
        data.new_metadata(FILENAME, lineno, meta), booking.date, "*", payee,
        booking.narration, data.EMPTY_SET, frozenset(booking.links), postings)


def to_custom(notice: Notice, lineno: int) -> data.Custom:
    meta = {"customer": notice.customer, "contract": notice.contract, "rule": notice.rule,
            **notice.meta}
    return data.Custom(data.new_metadata(FILENAME, lineno, meta), notice.date, "tokenbooks",
                       [value("warning"), value(notice.message)])
