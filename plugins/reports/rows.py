"""Plain rows of the journal of a loaded book, for the rules that make the reports.

Reads the postings generically, by account and by the ``rule`` metadata of each
transaction, so rules added later (breakage revisions, modifications) land in the right
column without a change here. These are the ledger's side of every tie-out: the other
side is the engine's (``Load.revenue``), computed independently.

* ``liability_rows``: every posting to ``Liabilities:Deferred-Revenue:<C>`` as a
  rollforward ``Movement`` (``rules.rollforward``), Income postings of the same
  transaction matched to it by ``lot`` (else all of them when they balance it);
* ``unbilled_items``: the period's debits to ``Assets:Unbilled:<C>`` by stream
  (``rules.invoicing``);
* ``balances``: the balance per customer of ``<root>:<C>`` accounts at a day;
* ``receivables``: charges and payments of ``Assets:Receivable:<C>`` (``rules.dunning``);
* ``profitability_rows``: revenue and cost postings, and action counts
  (``rules.profitability``). The same rows can be had with beanquery:

    SELECT entry_meta('customer') AS customer, meta('model') AS model, sum(number)
      WHERE account ~ '^Expenses:COGS:Inference' AND year = 2026 AND month = 1
      GROUP BY customer, model
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from beancount.core import data

from ..entries.build import currency, number
from ..rules import accounts
from ..rules.dunning import Charge, Payment
from ..rules.invoicing import UnbilledItem
from ..rules.profitability import ActionCount, Row
from ..rules.records import Usage
from ..rules.rollforward import Movement
from ..rules.rounding import to_cent

ZERO = Decimal("0.00")
INVOICE = "invoice"
PROFIT_ROOTS = (accounts.REVENUE, accounts.COGS_INFERENCE, accounts.COGS_UNATTRIBUTED)
_DEFERRED = accounts.DEFERRED_REVENUE + ":"
_UNBILLED = accounts.UNBILLED + ":"
_RECEIVABLE = accounts.RECEIVABLE + ":"
_INCOME = accounts.REVENUE + ":"


def rule_of(entry: data.Transaction) -> str:
    return str((entry.meta or {}).get("rule") or "")


def posting_meta(posting: data.Posting, key: str) -> str:
    return str((posting.meta or {}).get(key) or "")


def revenue_kind(account: str, tx_rule: str, leg_rule: str) -> str:
    """The rollforward kind of an Income posting released from the contract liability."""
    stream = account[len(_INCOME):].split(":")[0] if account.startswith(_INCOME) else account
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


def liability_rows(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                   start: datetime.date, end: datetime.date
                   ) -> tuple[dict[str, Decimal], list[Movement], dict[str, Decimal]]:
    """Opening balances, movements of [start, end] and closing balances of the contract
    liability per customer (liability positive)."""
    opening: dict[str, Decimal] = defaultdict(lambda: ZERO)
    closing: dict[str, Decimal] = defaultdict(lambda: ZERO)
    moves: list[Movement] = []
    entries = [e for e in entries if e.date <= end]
    known = liability_lots(entries, ids)
    for entry in entries:
        for customer, (deferred, lots) in liability_legs(entry, ids, known).items():
            change = -sum((number(p) for p in deferred), ZERO)
            closing[customer] += change
            # a cut-over's balances open the month they are dated in (entries.cutover)
            if entry.date < start or (entry.date == start and entry.meta.get("opening")):
                opening[customer] += change
                continue
            moves += movements(entry, customer, deferred, change, lots)
    return dict(opening), moves, dict(closing)


def liability_lots(entries: Iterable[data.Transaction], ids: Mapping[str, str]
                   ) -> dict[str, str]:
    """lot -> customer, for every lot a contract-liability posting names."""
    out: dict[str, str] = {}
    for entry in entries:
        for p in entry.postings:
            if p.account.startswith(_DEFERRED) and p.meta and p.meta.get("lot"):
                out[str(p.meta["lot"])] = accounts.owner(p.account, accounts.DEFERRED_REVENUE,
                                                         ids)
    return out


def liability_legs(entry: data.Transaction, ids: Mapping[str, str], known: Mapping[str, str]
                   ) -> dict[str, tuple[list[data.Posting], frozenset[str]]]:
    """customer -> (the postings of ``entry`` to its contract liability, the lots of
    those and of the entry's revenue postings that release a liability lot of it).

    A lot whose usage and breakage of a day net to nothing has no liability posting in
    the transaction (the engine writes no zero leg), yet its revenue postings are
    releases of the liability all the same: ``known`` (``liability_lots``) says whose
    lot it is, so they are classified with the customer's other movements."""
    legs = deferred_legs(entry, ids)
    out: dict[str, tuple[list[data.Posting], frozenset[str]]] = {}
    extra: dict[str, set[str]] = defaultdict(set)
    for p in entry.postings:
        if p.account.startswith(_INCOME) and p.meta:
            lot = p.meta.get("lot")
            owner = known.get(str(lot)) if lot else None
            if owner is not None:
                extra[owner].add(str(lot))
    for customer in sorted(set(legs) | set(extra)):
        deferred = legs.get(customer, [])
        lots = {posting_meta(p, "lot") for p in deferred} - {""}
        out[customer] = (deferred, frozenset(lots | extra.get(customer, set())))
    return out


def deferred_legs(entry: data.Transaction, ids: Mapping[str, str]
                  ) -> dict[str, list[data.Posting]]:
    """The postings of ``entry`` to a customer's contract liability, by customer."""
    legs: dict[str, list[data.Posting]] = defaultdict(list)
    for p in entry.postings:
        if p.account.startswith(_DEFERRED) and p.units is not None:
            legs[accounts.owner(p.account, accounts.DEFERRED_REVENUE, ids)].append(p)
    return legs


def movements(entry: data.Transaction, customer: str, deferred: list[data.Posting],
              change: Decimal, lots: frozenset[str] | None = None) -> list[Movement]:
    """What one transaction did to a customer's contract liability, classified (``lots``:
    the liability lots it released, ``liability_legs``; default those of ``deferred``)."""
    rule = rule_of(entry)
    if lots is None:
        lots = frozenset({posting_meta(p, "lot") for p in deferred} - {""})
    income = [p for p in entry.postings if p.account.startswith(_INCOME) and p.units is not None]
    if lots:
        matched = [p for p in income if posting_meta(p, "lot") in lots]
    elif income and sum((number(p) for p in income), ZERO) == -change:
        matched = income
    else:
        matched = []
    out = []
    released = ZERO
    for p in matched:
        if number(p):
            kind = revenue_kind(p.account, rule, posting_meta(p, "rule"))
            out.append(Movement(customer, "revenue", kind, number(p)))
            released -= number(p)
    rest = change + released
    if rest:
        if rule == "refund":
            out.append(Movement(customer, "refund", rule, rest))
        elif any(p.account.startswith(accounts.UNCLAIMED_PROPERTY + ":")
                 for p in entry.postings):
            out.append(Movement(customer, "other", "unclaimed-property", rest))
        elif rest > 0 and rule != "modification":
            out.append(Movement(customer, "addition", rule or "purchase", rest))
        else:
            out.append(Movement(customer, "other", rule or "(no rule)", rest))
    return out


def _stream(p: data.Posting, tx_rule: str) -> str:
    stream = p.account[len(_INCOME):].split(":")[0].lower()
    if posting_meta(p, "rule") == "overage" and stream in ("usage", "actions"):
        return f"overage-{stream}"
    return stream if stream in ("usage", "actions", "commitment") else (tx_rule or stream)


def unbilled_items(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                   start: datetime.date, end: datetime.date) -> list[UnbilledItem]:
    """Debits to Assets:Unbilled of [start, end] by stream, invoices left out."""
    out = []
    for entry in entries:
        if not start <= entry.date <= end or rule_of(entry) == INVOICE:
            continue
        rule = rule_of(entry)
        contract = str((entry.meta or {}).get("contract") or "")
        unbilled = [p for p in entry.postings
                    if p.account.startswith(_UNBILLED) and p.units is not None and number(p)]
        if not unbilled:
            continue
        deferred_lots = {posting_meta(p, "lot") for p in entry.postings
                         if p.account.startswith(_DEFERRED)} - {""}
        income = [p for p in entry.postings if p.account.startswith(_INCOME)
                  and p.units is not None and posting_meta(p, "lot") not in deferred_lots]
        by_customer: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for p in unbilled:
            owner = accounts.owner(p.account, accounts.UNBILLED, ids)
            by_customer[(owner, currency(p))] += number(p)
        for (customer, code), amount in sorted(by_customer.items()):
            legs = [p for p in income if currency(p) == code]
            if len(by_customer) == 1 and sum((-number(p) for p in legs), ZERO) == amount:
                for p in legs:
                    if number(p):
                        out.append(UnbilledItem(customer, contract, entry.date, code,
                                                _stream(p, rule), -number(p)))
            else:
                out.append(UnbilledItem(customer, contract, entry.date, code,
                                        rule or "other", amount))
    return out


def balances(entries: Iterable[data.Transaction], root: str, ids: Mapping[str, str],
             end: datetime.date) -> dict[str, Decimal]:
    """Balance per customer of the accounts under ``root`` at the end of ``end``."""
    prefix = root + ":"
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        if entry.date <= end:
            for p in entry.postings:
                if p.account.startswith(prefix) and p.units is not None:
                    out[accounts.owner(p.account, root, ids)] += number(p)
    return dict(out)


def receivables(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                terms: Mapping[str, int]) -> tuple[list[Charge], list[Payment]]:
    """Debits to Assets:Receivable (one charge per transaction and customer, due on the
    entry's ``due`` date, else after the payment terms) and credits (payments)."""
    charges, payments = [], []
    for entry in entries:
        meta = entry.meta or {}
        debits: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in entry.postings:
            if not p.account.startswith(_RECEIVABLE) or p.units is None or not number(p):
                continue
            customer = accounts.owner(p.account, accounts.RECEIVABLE, ids)
            if number(p) > 0:
                debits[customer] += number(p)
            else:
                payments.append(Payment(customer, entry.date, -number(p)))
        for customer, amount in sorted(debits.items()):
            due = meta.get("due")
            if not isinstance(due, datetime.date):
                due = entry.date + datetime.timedelta(days=terms.get(customer, 30))
            ref = str(meta.get("invoice") or f"{entry.narration}")
            charges.append(Charge(customer, ref, entry.date, due, amount))
    return charges, payments


def _said(posting: data.Posting, entry: data.Transaction, key: str) -> str | None:
    for meta in (posting.meta, entry.meta):
        if meta and key in meta and meta[key] is not None:
            return str(meta[key])
    return None


def _tokens(posting: data.Posting) -> int:
    meta = posting.meta or {}
    total = 0
    for key in ("input_tokens", "output_tokens"):
        count = meta.get(key)
        if isinstance(count, (int, Decimal)):
            total += int(count)
    return total


def profitability_rows(entries: Iterable[data.Transaction], usages: Sequence[Usage],
                       start: datetime.date, end: datetime.date, operating: str = ""
                       ) -> tuple[list[Row], list[ActionCount]]:
    """The revenue and cost postings, and the action counts of the usage (``usages``: the
    action aggregates, or all usage), dated in [start, end). ``operating``: a posting in
    another currency priced ``@`` in it (a foreign contract's, a foreign provider's:
    docs/currency.md) is the row of its weight, to the cent, in ``operating``."""
    rows: list[Row] = []
    for entry in entries:
        if not start <= entry.date < end:
            continue
        customer = entry.meta.get("customer")
        for posting in entry.postings:
            if posting.units is None or not any(accounts.under(posting.account, root)
                                                for root in PROFIT_ROOTS):
                continue
            billable = (posting.meta or {}).get("billable", True)
            amount, code = number(posting), currency(posting)
            price = posting.price
            if operating and code != operating and price is not None \
                    and price.currency == operating and price.number is not None:
                amount, code = to_cent(amount * price.number), operating
            rows.append(Row(
                date=entry.date, account=posting.account, amount=amount,
                currency=code, customer=str(customer) if customer else "",
                model=_said(posting, entry, "model"), feature=_said(posting, entry, "feature"),
                action=_said(posting, entry, "action"), tokens=_tokens(posting),
                billable=billable is not False,
            ))
    counts = [ActionCount(u.date, u.customer, u.action,
                          (u.completed + u.partial + u.failed) or u.events)
              for u in usages if u.action and start <= u.date < end]
    return rows, counts
