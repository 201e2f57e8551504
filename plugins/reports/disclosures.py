"""The revenue note of a period (ASC 606-10-50), from the ledger: the tables an audited
company puts in its notes, each tied to the general ledger (docs/disclosures.md).

    note = disclosures(ledger, "2026-Q1")         # a month, a quarter or a year
    print(to_markdown(note))                       # or to_text, to_csv, to_json

* disaggregation of revenue (50-5, 55-89 to 55-91): by stream (the ``Income:Revenue:
  <Stream>`` accounts), by customer segment (the contracts' ``segment``), by model
  family (``rules.disclosures.model_family`` of the resolved model the postings name;
  usage revenue whose postings name none is split as the profitability report splits
  it) and by timing (``rules.disclosures.timing``). Each sums to the period's revenue in
  the ledger: minus the postings to ``Income:Revenue:*`` dated in the period;
* contract balances (50-8 to 50-10): receivables (``Assets:Receivable``), contract
  assets (``Assets:Unbilled``, ``Assets:Contract-Assets``) and contract liabilities
  (``Liabilities:Deferred-Revenue``) before the period's first day and at its last; the
  contract-liability rollforward of the period (``rules.rollforward``, the rollforward
  report's computation over the whole period: for a quarter or a year the opening is
  the balance before its first month, the closing at the end of its last) with its
  50-8(b) memo and the changes by kind;
* remaining performance obligations (50-13 to 50-15) at the period's end: the RPO
  report's figures (``reports.credits.rpo_table`` of the last month) in 0-12, 12-24
  months and later, with the practical expedient for usage-based consideration;
* judgments (50-17 to 50-21): the breakage estimate in force per contract and pack with
  its history and back-test (``rules.breakage_rates``, ``rules.breakage_history``, as
  the breakage report), the estimate revisions and the modifications of the period with
  the method each was accounted for by (``rules.modifications.classify``).

Nothing runs the engine again: the figures are sums of the book's postings and the
engine's lots as the load kept them (``Load.revenue``).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from beancount.core import data

from ..entries.build import currency as currency_of
from ..entries.build import number
from ..entries.fx import rates_of
from ..rules import accounts, breakage_history, breakage_rates
from ..rules import disclosures as rules
from ..rules import profitability as prof
from ..rules import rollforward as rf
from ..rules.fx import MissingRate, translate
from ..rules.lots import Lot
from ..rules.modifications import classify
from ..rules.periods import ONE_DAY, month_of, months, parse_period
from . import credits, profitability, rollforward, tables
from .ledger import Ledger, Month
from .rows import liability_rows, posting_meta, rule_of
from .tables import Table, cell, csv_row

ZERO = Decimal("0.00")
TOTAL = "(total)"
NO_SEGMENT = "(no segment)"
NO_MODEL = "(no model)"

STREAM_ORDER = (*prof.STREAMS, "Refunds", "Concessions")
STREAM_TEXT = {
    "Usage": "token usage: prepaid credits consumed, usage billed in arrears and overage",
    "Actions": "per-action fees",
    "Breakage": "unexercised rights on prepaid credits (606-10-55-46 to 55-49)",
    "Commitment": "minimum-commitment shortfalls",
    "Adjustments": "contract modifications: catch-ups and credits for past performance",
    "Refunds": "contra revenue: refunds of consideration already recognized",
    "Concessions": "contra revenue: concession credits used",
}
BALANCES = (
    ("receivables", (accounts.RECEIVABLE,),
     "unconditional rights to consideration, invoiced"),
    ("contract assets: unbilled", (accounts.UNBILLED,),
     "revenue recognized, not yet invoiced (arrears usage, overage, shortfalls; invoiced "
     "at the month's close)"),
    ("contract assets: conditional", (accounts.CONTRACT_ASSETS,),
     "revenue recognized ahead of a right that is conditional (proportional "
     "commitments)"),
    ("contract liabilities", (accounts.DEFERRED_REVENUE,),
     "consideration received or due before the service (prepaid credits, top-ups, "
     "allowances)"),
)
LIABILITY_SIGN = {accounts.DEFERRED_REVENUE: -1}  # balances shown positive
KIND_TEXT = {
    "usage": "credits consumed (usage recognized from the liability)",
    "actions": "credits consumed by actions",
    "breakage": "breakage in proportion to the rights exercised (55-48)",
    "breakage-revision-increase": "breakage estimate revised: catch-up (increase)",
    "breakage-revision-decrease": "breakage estimate revised: catch-up (decrease)",
    "expiry": "credits expired: remote breakage and expiry true-ups",
    "forfeiture": "the rest of a refunded lot, forfeited",
    "modification": "contract modifications: catch-ups and credits for past performance",
    "refunds": "refunds beyond a lot's liability (contra revenue, back in the liability)",
}
ADDITION_TEXT = {
    "purchase": "credit purchases (cash received or due before the service)",
    "top-up": "automatic top-ups",
    "allowance": "allowance fees of the period's included credits",
    "modification": "consideration of contract modifications",
}


@dataclass
class Disclosures:
    """The note of ``period``: its tables (by name, in the note's order) and the facts
    its text states."""

    period: str
    start: datetime.date
    end: datetime.date  # the last day
    currency: str
    months: list[str]
    revenue: Decimal  # minus the Income:Revenue postings of the period (the ledger)
    tables: dict[str, Table]
    text: dict[str, list[str]] = field(default_factory=dict)  # paragraphs by section
    cautions: list[str] = field(default_factory=list)  # what the reader must know first

    def table(self, name: str) -> Table:
        return self.tables[name]


@dataclass(frozen=True)
class _Posting:
    customer: str
    stream: str
    when: str
    tx_rule: str
    modification: str
    amount: Decimal  # revenue positive


def disclosures(ledger: Ledger, period: str, currency: str | None = None) -> Disclosures:
    """The revenue note of ``period`` (YYYY-MM, YYYY-Qn, YYYY); ValueError for another
    text, ``profitability.OtherCurrency`` when the period has revenue in another currency
    than the book's. In a book with contracts in several currencies (docs/currency.md),
    the note of the contracts in ``currency`` (default the operating one), in it, tied
    out on its own, with ``revenue_by_currency``: every currency's revenue and contract
    liability, in it and in the operating currency."""
    start, after = parse_period(period)
    last = after - ONE_DAY
    labels = months(month_of(start), month_of(last))
    code = currency or ledger.currency
    groups = rollforward.by_currency(ledger.month(labels[-1]))
    if currency is not None and currency != ledger.currency and currency not in groups:
        raise profitability.OtherCurrency(f"no contract in {currency}; the book's are in "
                                          f"{', '.join(groups) or ledger.currency}")
    mine = groups.get(code)  # None: a book of one currency, every customer
    # the note's figures are the postings in its currency (docs/currency.md)
    report = profitability.report(ledger, period, code, convert=False)
    postings = _revenue_postings(ledger.between(start, after), code)
    revenue = sum((p.amount for p in postings), ZERO)
    note = Disclosures(period, start, last, code, labels, revenue, {})
    segments = {cid: c.segment or NO_SEGMENT for cid, c in ledger.contracts.customers.items()}
    names = ledger.payees()

    note.tables["revenue_by_stream"] = _by_stream(report, revenue)
    note.tables["revenue_by_segment"] = _by_segment(report, segments, revenue)
    note.tables["revenue_by_model_family"] = _by_family(report, revenue)
    note.tables["revenue_by_timing"] = _by_timing(postings, revenue)
    note.tables["contract_balances"] = _balances(ledger, start, last, code)
    result, moves = _rollforward(ledger, period, start, last, labels, code, mine)
    note.tables["contract_liability"] = _liability(result, moves)
    month = ledger.month(labels[-1])
    lots = [(s, lot) for s, lot in month.all_lots if mine is None or s.customer in mine]
    rpo, expedient, rpo_report = _rpo(month, code, mine, lots)
    note.tables["remaining_performance_obligations"] = rpo
    note.tables["breakage_judgments"] = _breakage(month, names, lots)
    note.tables["modifications"] = _modifications(ledger, start, last, postings, names)
    note.tables["tie_out"] = _tie_out(note, result, rpo_report)
    note.text = _text(note, ledger, result, expedient)
    if groups:
        note.tables["revenue_by_currency"] = _by_currency(ledger, month, period, start,
                                                          after, groups)
    as_of = ledger.revenue.as_of
    if ledger.load.revenue is not None and as_of < last:
        note.cautions.append(f"The book runs to {as_of}, before the period's end {last}: "
                             f"the balances and obligations at {last} are the book's as "
                             f"of {as_of} (no later usage, expiry or billing is in it).")
    return note


# --- the ledger's revenue ----------------------------------------------------------------


def _revenue_postings(entries: Iterable[data.Transaction], code: str) -> list[_Posting]:
    out = []
    for entry in entries:
        tx_rule = rule_of(entry)
        customer = str(entry.meta.get("customer") or "") or prof.NO_CUSTOMER
        mod = str(entry.meta.get("modification") or "")
        for p in entry.postings:
            if (p.units is None or not accounts.under(p.account, accounts.REVENUE)
                    or currency_of(p) != code):
                continue
            stream = accounts.stream(p.account)
            out.append(_Posting(customer, stream,
                                rules.timing(stream, tx_rule, posting_meta(p, "rule")),
                                tx_rule, mod, -number(p)))
    return out


def _share(amount: Decimal, total: Decimal) -> Decimal | None:
    return prof.percent(amount, total)


def _total_row(key: str, rows: Sequence[dict[str, object]], *columns: str
               ) -> dict[str, object]:
    row: dict[str, object] = {key: TOTAL}
    for c in columns:
        row[c] = sum((v for r in rows if isinstance(v := r.get(c), Decimal)), ZERO)
    return row


def _streams(present: Iterable[str]) -> list[str]:
    present = set(present)
    return [s for s in STREAM_ORDER if s in present or s in prof.STREAMS] + sorted(
        present - set(STREAM_ORDER))


# --- disaggregation (50-5, 55-89 to 55-91) -----------------------------------------------


def _by_stream(report: prof.Report, revenue: Decimal) -> Table:
    by = report.total.revenue
    rows: list[dict[str, object]] = []
    for s in _streams(k for k, v in by.items() if v):
        amount = by.get(s, ZERO)
        rows.append({"stream": s.lower(), "account": f"{accounts.REVENUE}:{s}",
                     "description": STREAM_TEXT.get(s, "other revenue"), "revenue": amount,
                     "share_pct": _share(amount, revenue)})
    rows.append({**_total_row("stream", rows, "revenue"), "share_pct": _share(revenue,
                                                                              revenue)})
    return Table("revenue_by_stream", "Revenue by stream (ASC 606-10-50-5, 55-89 to 55-91)",
                 ["stream", "account", "description", "revenue", "share_pct"], rows,
                 ["Each stream is an Income:Revenue:<Stream> account; refunds and "
                  "concessions are contra revenue (negative)."])


def _by_segment(report: prof.Report, segments: dict[str, str], revenue: Decimal) -> Table:
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    members: dict[str, list[str]] = defaultdict(list)
    for line in report.customers:
        segment = (segments.get(line.name, NO_SEGMENT) if line.name != prof.NO_CUSTOMER
                   else prof.NO_CUSTOMER)
        amounts[segment] += line.revenue_total
        members[segment].append(line.name)
    rows: list[dict[str, object]] = [
        {"segment": s, "customers": len(members[s]),
         "customer_ids": " ".join(sorted(members[s])), "revenue": amounts[s],
         "share_pct": _share(amounts[s], revenue)} for s in sorted(amounts)]
    total = _total_row("segment", rows, "revenue")
    total.update(customers=sum(len(v) for v in members.values()),
                 share_pct=_share(revenue, revenue))
    rows.append(total)
    return Table("revenue_by_segment", "Revenue by customer segment (ASC 606-10-55-90, "
                                       "55-91(g))",
                 ["segment", "customers", "customer_ids", "revenue", "share_pct"], rows,
                 ["The segment is the customer's contracts file's segment; "
                  f"{NO_SEGMENT}: none written."])


def _by_family(report: prof.Report, revenue: Decimal) -> Table:
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    members: dict[str, list[str]] = defaultdict(list)
    for line in report.models:
        if not line.revenue_total and line.name != prof.UNASSIGNED:
            continue
        family = (NO_MODEL if line.name in (prof.UNASSIGNED, prof.NONE)
                  else rules.model_family(line.name))
        amounts[family] += line.revenue_total
        members[family].append(line.name)
    rows: list[dict[str, object]] = [
        {"family": f, "models": " ".join(sorted(members[f])) if f != NO_MODEL else "",
         "revenue": amounts[f], "share_pct": _share(amounts[f], revenue)}
        for f in sorted(amounts, key=lambda f: (f == NO_MODEL, f)) if amounts[f]
        or f != NO_MODEL]
    rows.append({**_total_row("family", rows, "revenue"),
                 "share_pct": _share(revenue, revenue)})
    return Table("revenue_by_model_family", "Revenue by model family (ASC 606-10-55-91(a))",
                 ["family", "models", "revenue", "share_pct"], rows,
                 ["Family: the resolved model id (the price book's) up to its first token "
                  "with a digit (gpt-4o-mini -> gpt-4o, claude-sonnet-4-5 -> "
                  "claude-sonnet-4). Usage and action revenue is by the model its "
                  "postings name (split over the usage that earned it, by value at "
                  f"contract rates, where they name none); {NO_MODEL}: breakage, "
                  "commitments, adjustments, refunds and concessions, earned by no model."])


def _by_timing(postings: Sequence[_Posting], revenue: Decimal) -> Table:
    amounts: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for p in postings:
        amounts[(p.when, p.stream)] += p.amount
    order = {s: i for i, s in enumerate(_streams(s for _, s in amounts))}
    rows: list[dict[str, object]] = []
    for when in rules.TIMINGS:
        for (w, stream), amount in sorted(amounts.items(), key=lambda kv: order[kv[0][1]]):
            if w == when and (amount or when == rules.OVER_TIME):
                rows.append({"timing": when, "stream": stream.lower(), "revenue": amount,
                             "basis": rules.basis(when, stream)})
    by_when = {w: sum((v for (x, _), v in amounts.items() if x == w), ZERO)
               for w in rules.TIMINGS}
    notes = [f"{w}: {cell(by_when[w])} ({cell(_share(by_when[w], revenue))}%)"
             for w in rules.TIMINGS]
    rows.append(_total_row("timing", rows, "revenue"))
    return Table("revenue_by_timing", "Revenue by timing of transfer (ASC 606-10-55-91(f))",
                 ["timing", "stream", "revenue", "basis"], rows, notes)


# --- contract balances (50-8 to 50-10) ---------------------------------------------------


def _balances(ledger: Ledger, start: datetime.date, last: datetime.date, code: str
              ) -> Table:
    opening: dict[str, Decimal] = defaultdict(lambda: ZERO)
    closing: dict[str, Decimal] = defaultdict(lambda: ZERO)
    roots = [root for _, group, _ in BALANCES for root in group]
    for entry in ledger.until(last):
        # (a cut-over's opening balances, dated on a month's first day with ``opening``
        # metadata, open that month, as the rollforward reads them: ``rows``)
        before = entry.date < start or (entry.date == start and bool(
            entry.meta.get("opening")))
        for p in entry.postings:
            if p.units is None or currency_of(p) != code:
                continue
            for root in roots:
                if accounts.under(p.account, root) and p.account != root:
                    amount = number(p) * LIABILITY_SIGN.get(root, 1)
                    closing[root] += amount
                    if before:
                        opening[root] += amount
    rows: list[dict[str, object]] = []
    for name, group, text in BALANCES:
        o = sum((opening[r] for r in group), ZERO)
        c = sum((closing[r] for r in group), ZERO)
        rows.append({"balance": name, "accounts": " ".join(f"{r}:<C>" for r in group),
                     "opening": o, "closing": c, "change": c - o, "description": text})
    return Table("contract_balances", f"Contract balances, {start - ONE_DAY} and {last} "
                                      f"(ASC 606-10-50-8(a))",
                 ["balance", "accounts", "opening", "closing", "change", "description"],
                 rows, [f"Opening: the balance at the end of {start - ONE_DAY}; closing: at "
                        f"the end of {last}. Contract liabilities positive. An amount "
                        f"unbilled at a month's end whose right only awaits the invoice may "
                        f"be presented as an unbilled receivable (606-10-45-4) [J]."])


def _rollforward(ledger: Ledger, period: str, start: datetime.date, last: datetime.date,
                 labels: Sequence[str], code: str, mine: frozenset[str] | None
                 ) -> tuple[rf.Rollforward, list[rf.Movement]]:
    """The rollforward of the period and its movements: the rollforward report's own for
    a month, the same computation over the whole period for a quarter or a year; of the
    customers ``mine`` (the contracts in ``code``; None: every customer)."""
    if len(labels) == 1:
        month = ledger.month(labels[0])
        result = rollforward.report(month, currency=code)
        rows = month.cache.get("liability_rows") or liability_rows(
            month.to_date, month.ids, month.start, month.end)
        # the note is in its currency, of its contracts (docs/currency.md)
        return result, [m for m in rows[1] if mine is None or m.customer in mine]
    opening, moves, closing = liability_rows(ledger.until(last), ledger.ids, start, last)
    if mine is not None:
        opening = {c: v for c, v in opening.items() if c in mine}
        closing = {c: v for c, v in closing.items() if c in mine}
        moves = [m for m in moves if m.customer in mine]
    lots = [state for state, _ in ledger.revenue.lot_states(start, last)
            if mine is None or state.customer in mine]
    notes: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for label in labels:
        for customer, amount in rollforward.credit_notes(ledger.month(label)).items():
            notes[customer] += amount
    if mine is not None:
        notes = defaultdict(lambda: ZERO, {c: v for c, v in notes.items() if c in mine})
    return rf.rollforward(period, code, opening, moves, closing, lots,
                          dict(notes)), moves


def _liability(result: rf.Rollforward, moves: Sequence[rf.Movement]) -> Table:
    total = result.total
    rows: list[dict[str, object]] = [{"line": "opening", "kind": "",
                                      "amount": total.opening,
                                      "reason": "contract liabilities at the period's start"}]
    additions: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for m in moves:
        if m.section == "addition":
            additions[m.kind] += m.amount
    for kind in sorted(additions, key=lambda k: (k not in ADDITION_TEXT, k)):
        rows.append({"line": "addition", "kind": kind, "amount": additions[kind],
                     "reason": ADDITION_TEXT.get(kind, f"consideration ({kind})")})
    for kind in result.revenue_kinds:
        amount = total.revenue.get(kind, ZERO)
        rows.append({"line": "recognized", "kind": kind, "amount": -amount,
                     "reason": "revenue recognized: " + KIND_TEXT.get(kind, kind)})
    if total.refunds:
        rows.append({"line": "refund", "kind": "refund", "amount": -total.refunds,
                     "reason": "cash refunded out of the liability"})
    for kind, amount in sorted(total.other.items()):
        if amount:
            rows.append({"line": "other", "kind": kind, "amount": amount,
                         "reason": ("the share of breakage owed to a state (55-49), not "
                                    "revenue" if kind == "unclaimed-property"
                                    else f"other movement (rule {kind})")})
    rows.append({"line": "closing", "kind": "", "amount": total.closing,
                 "reason": "opening + the changes above"})
    rows += [{"line": "memo", "kind": "ledger", "amount": total.gl_closing,
              "reason": "balance of Liabilities:Deferred-Revenue:<C> at the period's end"},
             {"line": "memo", "kind": "sub-ledger", "amount": total.subledger_closing,
              "reason": "the engine's lots: price - revenue posted"},
             {"line": "memo", "kind": "from_opening_50_8b", "amount": total.from_opening,
              "reason": "revenue of the period that was in the opening balance (50-8(b)): "
                        "per lot, min(opening liability, revenue of the period)"},
             {"line": "memo", "kind": "credit_notes", "amount": total.credit_notes,
              "reason": "credit notes on invoices (reduce revenue and receivables, not "
                        "the liability)"}]
    return Table("contract_liability", "Contract liabilities: changes in the period "
                                       "(ASC 606-10-50-8(b), 50-10)",
                 ["line", "kind", "amount", "reason"], rows,
                 ["Change of the liability: additions positive, revenue recognized "
                  "negative. opening + additions + recognized + refunds + other = closing "
                  "= ledger = sub-ledger."])


# --- remaining performance obligations (50-13 to 50-15) ----------------------------------


def _rpo(month: Month, code: str, mine: frozenset[str] | None,
         lots: Sequence[tuple[rf.LotState, Lot]]) -> tuple[Table, list[str], Decimal]:
    """The RPO at the month's end in bands, the expedient's statement and the RPO
    report's total they tie to (of the contracts in ``code``, of the customers ``mine``;
    None: every customer)."""
    report = credits.rpo_table(month)  # the RPO report: its figures, split finer by band
    liability = {b: ZERO for b in rules.BANDS}
    for state, lot in lots:
        if state.closing:
            liability[rules.band(lot.expires, month.end)] += state.closing
    commitments = {b: ZERO for b in rules.BANDS}
    for cid, customer in sorted(month.contracts.customers.items()):
        if mine is not None and cid not in mine:
            continue
        for contract in customer.contracts:
            terms = contract.commitment
            if terms is None or not contract.active_on(month.end) or contract.end is None:
                continue
            if mine is not None and contract.currency != code:
                continue
            for b, amount in rules.commitment_bands(terms.amount, month.end, contract.end,
                                                    terms.period).items():
                commitments[b] += amount
    rows: list[dict[str, object]] = [
        {"band": b, "contract_liability": liability[b],
         "remaining_commitments": commitments[b], "total": liability[b] + commitments[b]}
        for b in rules.BANDS]
    rows.append(_total_row("band", rows, "contract_liability", "remaining_commitments",
                           "total"))
    variable = sorted({c.id for cid, cust in month.contracts.customers.items()
                       if mine is None or cid in mine
                       for c in cust.contracts if c.active_on(month.end) and (
                           c.billing == "arrears" or c.overage.policy == "invoice")})
    expedient = [
        "Practical expedient (606-10-50-14(b), 50-14A(b)): usage-based consideration "
        "(usage and actions billed in arrears, overage beyond prepaid credits, usage above "
        "a minimum) is variable consideration allocated entirely to the wholly unsatisfied "
        "distinct service of the day it is used (606-10-32-40) and invoiced as it is "
        "earned (606-10-55-18); it is not included in the remaining performance "
        "obligations." + (f" Contracts relying on it at {month.end}: "
                          f"{', '.join(variable)}." if variable else "")]
    notes = ["Contract liability by the expiry of its lots (recognized at the "
             "latest on expiry; never expiring: later); remaining commitments: the minimum "
             "of each commitment period after the period's end to the contract's end, by "
             "the period's last day.",
             *(n for n in report.notes[1:] if not n.startswith("One section per contract"))]
    # the report's total of the note's currency (its last row in a book of one)
    totals = [r for r in report.rows if r.get("customer") == TOTAL
              and r.get("currency", code) == code and isinstance(r.get("total"), Decimal)]
    report_total = totals[-1]["total"] if totals else ZERO
    assert isinstance(report_total, Decimal)
    return Table("remaining_performance_obligations",
                 f"Remaining performance obligations at {month.end} (ASC 606-10-50-13)",
                 ["band", "contract_liability", "remaining_commitments", "total"], rows,
                 notes), expedient, report_total


# --- by transaction currency (docs/currency.md) -----------------------------------------


def _by_currency(ledger: Ledger, month: Month, period: str, start: datetime.date,
                 after: datetime.date, groups: dict[str, frozenset[str]]) -> Table:
    """Each contract currency's revenue of the period and contract liability at its end,
    in it and in the operating currency: the revenue at its postings' rates, a lot's
    liability at its purchase date's (non-monetary, never remeasured)."""
    op = ledger.currency
    revenue = dict(profitability.currency_totals(ledger.between(start, after), start, after,
                                                 period, op))
    rates = month.cache.get("rates")
    if rates is None:
        rates = month.cache["rates"] = rates_of(ledger.entries)
    rows: list[dict[str, object]] = []
    notes = [f"Revenue of the period and contract liabilities at {month.end} by the "
             f"currency of the contract, in it and in {op}: revenue at its postings' rates, "
             f"a lot's liability at the rate of its purchase date (non-monetary, never "
             f"remeasured). Each currency's note (--currency) ties out on its own."]
    for code, customers in groups.items():
        own = revenue.get(code)
        converted = revenue.get(f"{code} in {op}", own) if code != op else own
        states = [(s, lot) for s, lot in month.all_lots if s.customer in customers
                  and s.closing]
        liability = sum((s.closing for s, _ in states), ZERO)
        try:
            in_op = translate(((s.closing, rates.rate(code, op, lot.purchased))
                               for s, lot in states), op)
        except MissingRate as e:  # the load named it already; the note says so too
            in_op = ZERO
            notes.append(f"{code}: {e}: its liability in {op} is left out.")
        rows.append({"currency": code,
                     "revenue": own.revenue_total if own else ZERO,
                     f"revenue_{op.lower()}": converted.revenue_total if converted else ZERO,
                     "contract_liability": liability,
                     f"contract_liability_{op.lower()}": in_op})
    rows.append(_total_row("currency", rows, f"revenue_{op.lower()}",
                           f"contract_liability_{op.lower()}"))
    return Table("revenue_by_currency", f"Revenue and contract liabilities by currency, in "
                                        f"{op}",
                 ["currency", "revenue", f"revenue_{op.lower()}", "contract_liability",
                  f"contract_liability_{op.lower()}"], rows, notes)


# --- judgments (50-17 to 50-21) ----------------------------------------------------------


def _breakage(month: Month, names: dict[str, str],
              states: Sequence[tuple[rf.LotState, Lot]]) -> Table:
    lots = [lot for _, lot in states]
    seen = {(lot.contract, lot.pack) for lot in lots}
    rows: list[dict[str, object]] = []
    for est in breakage_rates.estimates(month.contracts, lots, month.end):
        if est.method != "proportional" and (est.contract, est.pack) not in seen:
            continue
        rows.append({"section": "estimate in force", "customer": est.customer,
                     "name": names.get(est.customer, ""), "contract": est.contract,
                     "pack": est.pack, "method": est.method, "rate": est.rate,
                     "since": est.since, "basis": est.basis or _approver(month, est),
                     "history_rate": est.history_rate, "expired_lots": est.expired_lots})
    segments = {cid: c.segment or "" for cid, c in month.contracts.customers.items()}
    history = breakage_history.expired([(s.customer, lot) for s, lot in states],
                                       segments, month.end)
    cohorts = breakage_history.cohorts(history)
    weighted, simple = breakage_history.overall(cohorts, history)
    if cohorts:
        rows.append({"section": "history", "customer": "(all)", "expired_lots": len(history),
                     "history_rate": weighted, "simple_mean": simple})
    for t in breakage_history.backtest(history):
        rows.append({"section": "back-test", "customer": t.customer,
                     "name": names.get(t.customer, ""), "lot": t.lot, "pack": t.cohort[0],
                     "applied_rate": t.applied, "actual_rate": t.actual,
                     "difference": t.difference})
    notes = ["Proportional: expected breakage recognized in proportion to the credits used "
             "(606-10-55-48(a)), at the rate in force (the contract's breakage.rate or its "
             "latest approved revision); remote: the credits left recognized when they "
             "expire (55-48(b)). The history's rate: credits unused at expiry over credits, "
             "of the pack's expired lots; the back-test sets each expired proportional "
             "lot's applied rate beside the actual one."]
    if not history:
        notes.append(f"No lot has expired by {month.end}: no history or back-test yet.")
    return Table("breakage_judgments", f"Breakage: methods, estimates in force and back-test "
                                       f"at {month.end} (ASC 606-10-50-17 to 50-20)",
                 ["section", "customer", "name", "contract", "pack", "lot", "method", "rate",
                  "since", "basis", "history_rate", "simple_mean", "expired_lots",
                  "applied_rate", "actual_rate", "difference"], rows, notes)


def _approver(month: Month, est: breakage_rates.Estimate) -> str:
    contract = month.contracts.contract(est.contract)
    pack = contract.packs.get(est.pack) if contract else None
    return (pack.breakage.approved_by or "") if pack else ""


def _modifications(ledger: Ledger, start: datetime.date, last: datetime.date,
                   postings: Sequence[_Posting], names: dict[str, str]) -> Table:
    effect: dict[str, Decimal] = defaultdict(lambda: ZERO)
    revisions: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for p in postings:
        if p.modification:
            effect[p.modification] += p.amount
    for entry in ledger.between(start, last + ONE_DAY):
        if rule_of(entry) == "breakage-revision":
            for leg in entry.postings:
                if accounts.under(leg.account, accounts.REVENUE) and leg.units is not None:
                    revisions[(str(entry.meta.get("customer") or ""),
                               entry.date.isoformat())] -= number(leg)
    rows: list[dict[str, object]] = []
    for cid, customer in sorted(ledger.contracts.customers.items()):
        for contract in customer.contracts:
            for name, pack in sorted(contract.packs.items()):
                for rev in pack.breakage.revisions:
                    if start <= rev.date <= last:
                        rows.append({
                            "section": "breakage revision", "customer": cid,
                            "name": names.get(cid, ""), "contract": contract.id,
                            "change": f"{name}: rate {rev.rate}", "date": rev.date,
                            "method": "change in estimate: cumulative catch-up (606-10-32-"
                                      "14, 32-43)" if rev.approved_by else "pending "
                                      "approval: not applied",
                            "reason": rev.basis or "", "approved_by": rev.approved_by or "",
                            "revenue": revisions.get((cid, rev.date.isoformat()), ZERO)})
            for mod in contract.modifications:
                if not start <= mod.date <= last:
                    continue
                how = classify(mod)
                rows.append({"section": "modification", "customer": cid,
                             "name": names.get(cid, ""), "contract": contract.id,
                             "change": mod.id, "date": mod.date,
                             "method": rules.modification_method(how.method)
                             if mod.approved else "pending approval: not applied",
                             "reason": how.reason if mod.approved else "",
                             "approved_by": mod.approved_by or "",
                             "revenue": effect.get(mod.id, ZERO)})
    rows.sort(key=lambda r: (str(r["section"]), str(r["date"]), str(r["customer"])))
    used = sorted({str(r["method"]).split(" (")[0] for r in rows
                   if r["section"] == "modification" and "pending" not in str(r["method"])})
    notes = [("Methods used in the period: " + ", ".join(used) + ".") if used else
             "No contract modification took effect in the period.",
             "revenue: the modification's revenue effect in the period (catch-ups, credits "
             "for past performance); a separate contract or a prospective change moves no "
             "revenue on its date."]
    return Table("modifications", "Contract modifications and changes in estimates of the "
                                  "period (ASC 606-10-25-10 to 25-13, 50-17 to 50-20)",
                 ["section", "customer", "name", "contract", "change", "date", "method",
                  "reason", "approved_by", "revenue"], rows, notes)


# --- the tie-out ---------------------------------------------------------------------------


def _sum(table: Table, column: str, key: str) -> Decimal:
    return sum((v for r in table.rows if r.get(key) != TOTAL
                and isinstance(v := r.get(column), Decimal)), ZERO)


def _tie_out(note: Disclosures, result: rf.Rollforward, report_rpo: Decimal) -> Table:
    t = note.tables
    total = result.total
    balances = {r["balance"]: r for r in t["contract_balances"].rows}
    checks: list[tuple[str, object, object]] = [
        ("revenue by stream = ledger revenue", _sum(t["revenue_by_stream"], "revenue",
                                                    "stream"), note.revenue),
        ("revenue by segment = ledger revenue", _sum(t["revenue_by_segment"], "revenue",
                                                     "segment"), note.revenue),
        ("revenue by model family = ledger revenue",
         _sum(t["revenue_by_model_family"], "revenue", "family"), note.revenue),
        ("revenue by timing = ledger revenue", _sum(t["revenue_by_timing"], "revenue",
                                                    "timing"), note.revenue),
        ("liability opening = ledger balance", total.opening,
         balances["contract liabilities"]["opening"]),
        ("liability opening + changes = closing", total.closing, total.gl_closing),
        ("liability closing = ledger balance", total.gl_closing,
         balances["contract liabilities"]["closing"]),
        ("liability closing = sub-ledger (lots)", total.gl_closing, total.subledger_closing),
        ("RPO bands = RPO report total",
         t["remaining_performance_obligations"].rows[-1]["total"], report_rpo),
    ]
    rows: list[dict[str, object]] = [
        {"check": name, "figure": a, "against": b, "status": "ok" if a == b else "FAILED"}
        for name, a, b in checks]
    return Table("tie_out", "Tie-out to the general ledger", ["check", "figure", "against",
                                                              "status"], rows,
                 [f"Ledger revenue: minus the postings to {accounts.REVENUE}:* dated "
                  f"{note.start} to {note.end} ({note.currency})."])


def failures(note: Disclosures) -> list[str]:
    """The tie-outs that failed (empty: the note ties to the ledger)."""
    return [f"{r['check']}: {r['figure']} != {r['against']}"
            for r in note.tables["tie_out"].rows if r["status"] != "ok"]


# --- the note's text ---------------------------------------------------------------------


def _text(note: Disclosures, ledger: Ledger, result: rf.Rollforward, expedient: list[str]
          ) -> dict[str, list[str]]:
    t = note.tables
    code = note.currency
    when = {w: sum((v for r in t["revenue_by_timing"].rows if r["timing"] == w
                    and isinstance(v := r["revenue"], Decimal)), ZERO) for w in rules.TIMINGS}
    over, point = when[rules.OVER_TIME], when[rules.POINT_IN_TIME]
    prepaid = sorted(c.id for cust in ledger.contracts.customers.values()
                     for c in cust.contracts if c.billing == "prepaid"
                     and c.start <= note.end and (c.end is None or c.end >= note.start))
    arrears = sorted((c.id, c.payment_terms_days) for cust in ledger.contracts.customers.values()
                     for c in cust.contracts if c.billing == "arrears"
                     and c.start <= note.end and (c.end is None or c.end >= note.start))
    terms = sorted({d for _, d in arrears})
    total = result.total
    payment = []
    if prepaid:
        payment.append(f"Prepaid credits ({', '.join(prepaid)}) are paid before the service: "
                       f"the consideration is a contract liability until the credits are "
                       f"used or expire.")
    if arrears:
        payment.append(f"Usage billed in arrears ({', '.join(c for c, _ in arrears)}) is "
                       f"recognized as it is used and invoiced after each month, due in "
                       f"{' or '.join(str(d) for d in terms)} days: unbilled until the "
                       f"month's invoice, then a receivable.")
    return {
        "disaggregation": [
            f"Revenue of {note.start} to {note.end} is {cell(note.revenue)} {code}, the "
            f"revenue of the general ledger (minus the postings to {accounts.REVENUE}:*). "
            f"Each table below disaggregates that amount; each sums to it.",
            f"Recognized over time: {cell(over)} {code}; at a point in time: "
            f"{cell(point)} {code}. Hosted API access is a series of distinct services "
            f"(606-10-25-14(b)) the customer receives and consumes as they are performed "
            f"(25-27(a)): usage, actions, commitments and proportional breakage are "
            f"recognized over time. Breakage recognized when the remaining rights lapse "
            f"(at expiry under the remote method, the proportional method's expiry "
            f"true-up, a refunded or voided lot) is recognized at a point in time."],
        "balances": [
            f"Revenue recognized in the period that was included in the contract "
            f"liabilities at its beginning: {cell(total.from_opening)} {code} "
            f"(606-10-50-8(b)).", *payment],
        "rpo": [f"Remaining performance obligations at {note.end}: "
                f"{cell(t['remaining_performance_obligations'].rows[-1]['total'])} {code}.",
                *expedient],
        "judgments": [
            "Breakage (606-10-55-46 to 55-49): a pack recognizes expected breakage in "
            "proportion to the credits used where history supports an estimate "
            "(proportional method, constrained, 606-10-32-11 to 32-13); otherwise the "
            "credits left are recognized when they expire (remote method). Estimates are "
            "the contract's, approved; revisions are changes in estimate recognized as "
            "cumulative catch-ups.",
            "Contract modifications (606-10-25-10 to 25-13): distinct credits priced at "
            "their standalone selling price are a separate contract; otherwise the "
            "remaining credits are distinct and the change is prospective, unless the "
            "contract names a single partially satisfied obligation (cumulative "
            "catch-up). Credits for past performance reduce revenue when granted."],
    }


# --- renderings ----------------------------------------------------------------------------

SECTIONS = (
    ("disaggregation", "Disaggregation of revenue", "ASC 606-10-50-5, 55-89 to 55-91",
     ("revenue_by_stream", "revenue_by_segment", "revenue_by_model_family",
      "revenue_by_timing", "revenue_by_currency")),  # (the last: several currencies only)
    ("balances", "Contract balances", "ASC 606-10-50-8 to 50-10",
     ("contract_balances", "contract_liability")),
    ("rpo", "Remaining performance obligations", "ASC 606-10-50-13 to 50-15",
     ("remaining_performance_obligations",)),
    ("judgments", "Significant judgments", "ASC 606-10-50-17 to 50-21",
     ("breakage_judgments", "modifications")),
    ("tie_out", "Tie-out to the general ledger", "not part of the note",
     ("tie_out",)),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>~|&#])")


def plain(value: str) -> str:
    """Text on one line: every line break and control character a space."""
    return _CONTROL.sub(" ", value)


def md(value: object) -> str:
    """A text for Markdown, as written: on one line, and every character that Markdown
    (or the HTML it allows) would read as markup or a table's cell border escaped."""
    return _MARKDOWN.sub(r"\\\1", plain(str(value)))


def _title(note: Disclosures) -> str:
    return (f"Revenue from contracts with customers, {note.period} ({note.start} to "
            f"{note.end}, {note.currency})")


def _one_line(t: Table) -> Table:
    rows = [{k: plain(v) if isinstance(v, str) else v for k, v in r.items()} for r in t.rows]
    return Table(t.name, t.title, t.columns, rows, [plain(n) for n in t.notes])


def to_text(note: Disclosures) -> str:
    """The note as text tables, for a terminal (every text on one line)."""
    parts = [_title(note), ""]
    if note.cautions:
        parts += [*(f"NOTE: {plain(c)}" for c in note.cautions), ""]
    for key, heading, paragraphs, names in SECTIONS:
        parts += [f"== {heading} ({paragraphs}) ==", ""]
        parts += [plain(p) for p in note.text.get(key, [])]
        if note.text.get(key):
            parts.append("")
        for name in names:
            if name in note.tables:
                parts += [tables.to_text(_one_line(note.tables[name])), ""]
    return "\n".join(parts).rstrip() + "\n"


def to_csv(note: Disclosures) -> str:
    """Every table as a block of one CSV, blocks apart by an empty line: a header row
    (``table`` and the table's columns) then its rows, each with its table's name first;
    every cell made safe for a spreadsheet (``tables.csv_row``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, t in enumerate(note.tables.values()):
        if i:
            writer.writerow([])
        writer.writerow(csv_row(["table", *t.columns]))
        for row in t.rows:
            writer.writerow(csv_row([t.name, *[row.get(c) for c in t.columns]]))
    return out.getvalue()


def to_json(note: Disclosures) -> str:
    """The note as JSON: its facts, its text and every table (``tables.to_json``'s)."""
    doc = {"report": "disclosures", "period": note.period, "start": note.start.isoformat(),
           "end": note.end.isoformat(), "currency": note.currency, "months": note.months,
           "revenue": format(note.revenue, "f"), "cautions": note.cautions,
           "text": note.text,
           "tables": [json.loads(tables.to_json(t, note.period)) for t in note.tables.values()],
           "failures": failures(note)}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _md_cell(value: object) -> str:
    if isinstance(value, Decimal) or value is None:
        return cell(value)
    if isinstance(value, (int, datetime.date)):
        return cell(value)
    return md(value)


def _md_table(t: Table) -> str:
    cols = [c for c in t.columns if any(r.get(c) not in (None, "") for r in t.rows)]
    lines = ["| " + " | ".join(md(c.replace("_", " ")) for c in cols) + " |",
             "|" + "|".join("---:" if all(isinstance(r.get(c), (Decimal, int)) or
                                          r.get(c) is None for r in t.rows) else "---"
                            for c in cols) + "|"]
    lines += ["| " + " | ".join(_md_cell(r.get(c)) for c in cols) + " |" for r in t.rows]
    return "\n".join(lines)


def _md_tables(t: Table) -> list[str]:
    if "section" not in t.columns or not t.rows:
        return [_md_table(t) if t.rows else "(none)"]
    out = []
    for section in dict.fromkeys(r.get("section") for r in t.rows):
        rows = [r for r in t.rows if r.get("section") == section]
        out += [f"*{md(section)}*", "",
                _md_table(Table(t.name, t.title, [c for c in t.columns if c != "section"],
                                rows)), ""]
    return out[:-1]


def to_markdown(note: Disclosures) -> str:
    """The note in Markdown, ready to paste: a heading per disclosure, its text and
    tables (every text escaped: names and segments cannot break a table or add markup)."""
    parts = [f"# {md(_title(note))}", ""]
    parts += [f"**{md(c)}**\n" for c in note.cautions]
    for key, heading, paragraphs, names in SECTIONS:
        parts += [f"## {md(heading)}", "", f"_{md(paragraphs)}_", ""]
        for p in note.text.get(key, []):
            parts += [md(p), ""]
        for name in (n for n in names if n in note.tables):
            t = note.tables[name]
            parts += [f"### {md(t.title)}", "", *_md_tables(t), ""]
            for n in t.notes:
                parts += [f"> {md(n)}", ""]
    return "\n".join(parts).rstrip() + "\n"
