"""Plain rows of a loaded book for the month-end close (``tokenbooks close``).

Reads the book generically, by account and by the ``rule`` metadata of each transaction,
so rules added later (breakage revisions, modifications) land in the right column
without a change here:

* ``liability_rows``: every posting to ``Liabilities:Deferred-Revenue:<C>`` as a
  rollforward ``Movement`` (``rules.rollforward``), Income postings of the same
  transaction matched to it by ``lot`` (else all of them when they balance it);
* ``subledger_lots``: the contract sub-ledger, by running the recognition engine
  (``rules.engine``) on the book's usage and purchases to the day before the period and
  to its last day: each lot's liability and revenue posted;
* ``unbilled_items``: the period's debits to ``Assets:Unbilled:<C>`` by stream
  (``rules.invoicing``), and ``model_weights`` to split them by model;
* ``receivables``: charges and payments of ``Assets:Receivable:<C>`` (``rules.dunning``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from beancount.core import data

from . import ledger
from .report_rows import revenue_weights
from .rules.dunning import Charge, Payment
from .rules.engine import run_contract
from .rules.invoicing import UnbilledItem
from .rules.lots import Lot
from .rules.model import ContractSet, customer_component
from .rules.rollforward import LotState, Movement

DEFERRED = "Liabilities:Deferred-Revenue:"
UNBILLED = "Assets:Unbilled:"
RECEIVABLE = "Assets:Receivable:"
INCOME = "Income:Revenue:"
ZERO = Decimal("0.00")
DAY = datetime.timedelta(days=1)
INVOICE = "invoice"


def customer_ids(contracts: ContractSet) -> dict[str, str]:
    """Account component -> customer id."""
    return {customer_component(c): c for c in contracts.customers}


def _customer(account: str, prefix: str, ids: dict[str, str]) -> str:
    component = account[len(prefix):].split(":")[0]
    return ids.get(component, component.lower())


def _rule(entry: data.Transaction) -> str:
    return str((entry.meta or {}).get("rule") or "")


def _pmeta(posting: data.Posting, key: str) -> str:
    return str((posting.meta or {}).get(key) or "")


def revenue_kind(account: str, tx_rule: str, leg_rule: str) -> str:
    """The rollforward kind of an Income posting released from the contract liability."""
    stream = account[len(INCOME):].split(":")[0] if account.startswith(INCOME) else account
    if tx_rule in ("breakage-revision", "modification"):
        return tx_rule
    if stream == "Breakage":
        if tx_rule == "expiry":
            return "expiry"
        if tx_rule == "refund":
            return "forfeiture"
        return "breakage"
    if stream == "Adjustments":
        return "modification"
    if stream in ("Usage", "Actions"):
        return stream.lower()
    return stream.lower() or tx_rule or "other"


def liability_rows(entries: Iterable[data.Directive], ids: dict[str, str],
                   start: datetime.date, end: datetime.date
                   ) -> tuple[dict[str, Decimal], list[Movement], dict[str, Decimal]]:
    """Opening balances, movements of [start, end] and closing balances of the contract
    liability per customer (liability positive)."""
    opening: dict[str, Decimal] = defaultdict(lambda: ZERO)
    closing: dict[str, Decimal] = defaultdict(lambda: ZERO)
    moves: list[Movement] = []
    for entry in entries:
        if not isinstance(entry, data.Transaction) or entry.date > end:
            continue
        legs: dict[str, list[data.Posting]] = defaultdict(list)
        for p in entry.postings:
            if p.account.startswith(DEFERRED) and p.units is not None:
                legs[_customer(p.account, DEFERRED, ids)].append(p)
        if not legs:
            continue
        for customer, deferred in legs.items():
            change = -sum((p.units.number for p in deferred), ZERO)
            closing[customer] += change
            if entry.date < start:
                opening[customer] += change
                continue
            moves += _classify(entry, customer, deferred, change)
    return dict(opening), moves, dict(closing)


def _classify(entry: data.Transaction, customer: str, deferred: list[data.Posting],
              change: Decimal) -> list[Movement]:
    rule = _rule(entry)
    lots = {_pmeta(p, "lot") for p in deferred} - {""}
    income = [p for p in entry.postings if p.account.startswith(INCOME) and p.units is not None]
    if lots:
        matched = [p for p in income if _pmeta(p, "lot") in lots]
    elif income and sum((p.units.number for p in income), ZERO) == -change:
        matched = income
    else:
        matched = []
    out = []
    released = ZERO
    for p in matched:
        if p.units.number:
            kind = revenue_kind(p.account, rule, _pmeta(p, "rule"))
            out.append(Movement(customer, "revenue", kind, p.units.number))
            released -= p.units.number
    rest = change + released
    if rest:
        if rule == "refund":
            out.append(Movement(customer, "refund", rule, rest))
        elif rest > 0 and rule != "modification":
            out.append(Movement(customer, "addition", rule or "purchase", rest))
        else:
            out.append(Movement(customer, "other", rule or "(no rule)", rest))
    return out


# --- the contract sub-ledger ------------------------------------------------------------


def _run_lots(contracts: ContractSet, usages: list, purchases: list, as_of: datetime.date,
              posting: str) -> dict[str, tuple[str, Lot]]:
    by_contract: dict[str, list] = defaultdict(list)
    for usage in usages:
        customer = contracts.customers.get(usage.customer)
        contract = customer.contract_on(usage.date) if customer else None
        if contract is not None and usage.date <= as_of:
            by_contract[contract.id].append(usage)
    bought: dict[str, list] = defaultdict(list)
    for purchase in purchases:
        customer = contracts.customers.get(purchase.customer)
        if customer is None or purchase.date > as_of:
            continue
        contract = customer.contract_for(purchase.contract, purchase.date)
        if contract is not None:
            bought[contract.id].append(purchase)
    lots: dict[str, tuple[str, Lot]] = {}
    for customer_id in sorted(contracts.customers):
        customer = contracts.customers[customer_id]
        for contract in sorted(customer.contracts, key=lambda c: c.start):
            book = contracts.price_books.get(contract.price_book)
            if book is None or contract.start > as_of:
                continue
            run = run_contract(contract, book, by_contract.get(contract.id, []),
                               bought.get(contract.id, []), as_of, posting, customer.name)
            for lot in run.lots:
                lots[lot.id] = (customer_id, lot)
    return lots


def subledger_lots(entries: list[data.Directive], contracts: ContractSet,
                   start: datetime.date, end: datetime.date, posting: str = "month"
                   ) -> list[tuple[LotState, Lot]]:
    """Each lot's liability before ``start`` and at ``end``, and its revenue in between."""
    usages, _ = ledger.usage_records(entries)
    purchases, _ = ledger.purchase_records(entries)
    before = _run_lots(contracts, usages, purchases, start - DAY, posting)
    after = _run_lots(contracts, usages, purchases, end, posting)
    out = []
    for lot_id in sorted(after):
        customer, lot = after[lot_id]
        old = before.get(lot_id)
        opening = old[1].liability if old else ZERO
        revenue_before = old[1].posted_total.posted if old else ZERO
        state = LotState(customer, lot_id, opening, lot.liability,
                         lot.posted_total.posted - revenue_before)
        out.append((state, lot))
    return out


# --- invoicing ----------------------------------------------------------------------------


def _stream(p: data.Posting, tx_rule: str) -> str:
    stream = p.account[len(INCOME):].split(":")[0].lower()
    if _pmeta(p, "rule") == "overage" and stream in ("usage", "actions"):
        return f"overage-{stream}"
    return stream if stream in ("usage", "actions", "commitment") else (tx_rule or stream)


def unbilled_items(entries: Iterable[data.Directive], ids: dict[str, str],
                   start: datetime.date, end: datetime.date) -> list[UnbilledItem]:
    """Debits to Assets:Unbilled of [start, end] by stream, invoices left out."""
    out = []
    for entry in entries:
        if (not isinstance(entry, data.Transaction) or not start <= entry.date <= end
                or _rule(entry) == INVOICE):
            continue
        rule = _rule(entry)
        contract = str((entry.meta or {}).get("contract") or "")
        unbilled = [p for p in entry.postings
                    if p.account.startswith(UNBILLED) and p.units is not None and p.units.number]
        if not unbilled:
            continue
        deferred_lots = {_pmeta(p, "lot") for p in entry.postings
                         if p.account.startswith(DEFERRED)} - {""}
        income = [p for p in entry.postings if p.account.startswith(INCOME)
                  and p.units is not None and _pmeta(p, "lot") not in deferred_lots]
        by_customer: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for p in unbilled:
            by_customer[(_customer(p.account, UNBILLED, ids), p.units.currency)] += p.units.number
        for (customer, currency), amount in sorted(by_customer.items()):
            legs = [p for p in income if p.units.currency == currency]
            if len(by_customer) == 1 and sum((-p.units.number for p in legs), ZERO) == amount:
                for p in legs:
                    if p.units.number:
                        out.append(UnbilledItem(customer, contract, entry.date, currency,
                                                _stream(p, rule), -p.units.number))
            else:
                out.append(UnbilledItem(customer, contract, entry.date, currency,
                                        rule or "other", amount))
    return out


def model_weights(entries: list[data.Directive], contracts: ContractSet,
                  start: datetime.date, end: datetime.date
                  ) -> dict[tuple[str, str], dict[str, Fraction]]:
    """(customer, "Usage"|"Actions") -> model -> value of the period's usage at contract rates."""
    out: dict[tuple[str, str], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for w in revenue_weights(entries, contracts, start, end + DAY):
        out[(w.customer, w.stream)][w.model] += Fraction(w.value)
    return out


def balances(entries: Iterable[data.Directive], prefix: str, ids: dict[str, str],
             end: datetime.date) -> dict[str, Decimal]:
    """Balance per customer of the accounts under ``prefix`` at the end of ``end``."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        if isinstance(entry, data.Transaction) and entry.date <= end:
            for p in entry.postings:
                if p.account.startswith(prefix) and p.units is not None:
                    out[_customer(p.account, prefix, ids)] += p.units.number
    return dict(out)


# --- receivables --------------------------------------------------------------------------


def receivables(entries: Iterable[data.Directive], ids: dict[str, str],
                terms: dict[str, int]) -> tuple[list[Charge], list[Payment]]:
    """Debits to Assets:Receivable (one charge per transaction and customer, due on the
    entry's ``due`` date, else after the payment terms) and credits (payments)."""
    charges, payments = [], []
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        meta = entry.meta or {}
        debits: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in entry.postings:
            if not p.account.startswith(RECEIVABLE) or p.units is None or not p.units.number:
                continue
            customer = _customer(p.account, RECEIVABLE, ids)
            if p.units.number > 0:
                debits[customer] += p.units.number
            else:
                payments.append(Payment(customer, entry.date, -p.units.number))
        for customer, amount in sorted(debits.items()):
            due = meta.get("due")
            if not isinstance(due, datetime.date):
                due = entry.date + datetime.timedelta(days=terms.get(customer, 30))
            ref = str(meta.get("invoice") or f"{entry.narration}")
            charges.append(Charge(customer, ref, entry.date, due, amount))
    return charges, payments
