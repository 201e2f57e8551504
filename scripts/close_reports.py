"""The month-end reports and reconciliations of a loaded book, as plain tables.

``tokenbooks close`` writes each table to ``reports/YYYY-MM/<name>.csv`` and ``.json``
plus one ``summary.md``; ``tokenbooks report <name> --ledger FILE --period YYYY-MM``
prints any of them (table, CSV or JSON) without closing anything:

    rollforward    contract liability per customer: opening, additions, revenue by kind,
                   refunds, closing, tied to the ledger and the lots; 50-8(b) memo
    revenue        revenue by stream, by customer and stream, by model and stream
    profitability  (as ``tokenbooks report profitability``)
    credits        credits outstanding per lot, expiring within 30/60/90 days
    rpo            remaining performance obligations per customer
    breakage       breakage revenue of the month per lot and kind, and to date
    modifications  modification entries of the month, and the contracts' modifications
    invoices       the month's invoices, line by line
    dunning        receivables by age, open items, invoices that jumped vs 3 months
    checks         the reconciliations (usage completeness, cogs, unbilled, invoices,
                   rollforward) with their figures

Computation is in ``tokenbooks.plugins.rules`` (rollforward, invoicing, dunning,
profitability); rows come from ``tokenbooks.plugins.close_rows``; the checks are in
``close_checks``, the rendering (CSV, JSON, text, Markdown) in ``tables``.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from beancount.core import data

from tokenbooks.plugins import close_rows, common
from tokenbooks.plugins.report_rows import profitability_rows, revenue_weights
from tokenbooks.plugins.rules import (
    breakage_history,
    breakage_rates,
    dunning,
    invoicing,
    rollforward,
)
from tokenbooks.plugins.rules import profitability as prof
from tokenbooks.plugins.rules.model import ContractSet

from .tables import Table

ZERO = Decimal("0.00")
DAY = datetime.timedelta(days=1)


def month_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    """``2026-01`` -> (2026-01-01, 2026-01-31); ValueError otherwise."""
    start, after = prof.parse_period(period)
    if len(period.strip()) != 7:
        raise ValueError(f"period: expected a month YYYY-MM, got {period!r}")
    return start, after - DAY


class Book:
    """A loaded book (plugins run, no errors) and the month under report."""

    def __init__(self, entries: list[data.Directive], options: dict[str, Any],
                 period: str) -> None:
        self.entries = entries
        self.options = options
        self.period = period
        self.start, self.end = month_bounds(period)
        self.root = common.ledger_dir(options)
        self.contracts: ContractSet = common.load(options, {})[0]
        self.ids = close_rows.customer_ids(self.contracts)
        self.currency = (options.get("operating_currency") or ["USD"])[0]
        self.posting = _posting(options)
        self._lots: list | None = None

    @property
    def lots(self) -> list:
        if self._lots is None:
            self._lots = close_rows.subledger_lots(self.entries, self.contracts, self.start,
                                                   self.end, self.posting)
        return self._lots

    def terms(self) -> dict[str, int]:
        out = {}
        for cid, customer in self.contracts.customers.items():
            contract = customer.contract_on(self.end) or (customer.contracts[-1]
                                                          if customer.contracts else None)
            out[cid] = contract.payment_terms_days if contract else 30
        return out

    def payees(self) -> dict[str, str]:
        return {cid: c.name for cid, c in self.contracts.customers.items()}

    def in_month(self, entry: data.Directive) -> bool:
        return self.start <= entry.date <= self.end


def _posting(options: dict[str, Any]) -> str:
    for name, config in options.get("plugin", ()):
        if name in ("tokenbooks.plugins.revenue", common.BOOK_PLUGIN) and config:
            settings, errors = common.parse_config(config, name)
            if not errors:
                return str(settings.get("posting", "month"))
    return "month"


# --- invoices -----------------------------------------------------------------------------


def compute_invoices(book: Book) -> list[invoicing.Invoice]:
    items = close_rows.unbilled_items(book.entries, book.ids, book.start, book.end)
    weights = close_rows.model_weights(book.entries, book.contracts, book.start, book.end)
    return invoicing.invoices(book.period, book.end, items, weights, book.terms())


def booked_invoices(entries: Sequence[data.Directive]) -> list[data.Transaction]:
    return [e for e in entries if isinstance(e, data.Transaction)
            and (e.meta or {}).get("rule") == "invoice"]


def invoices_table(book: Book) -> Table:
    rows = []
    for entry in booked_invoices(book.entries):
        if not book.in_month(entry):
            continue
        meta = entry.meta
        head = {"invoice": meta.get("invoice"), "customer": meta.get("customer"),
                "contracts": meta.get("contract"), "date": entry.date.isoformat(),
                "due": str(meta.get("due")), "terms_days": int(meta.get("payment_terms_days",
                                                                         30))}
        total = ZERO
        currency = ""
        for p in entry.postings:
            if p.account.startswith(close_rows.RECEIVABLE):
                pm = p.meta or {}
                currency = p.units.currency
                total += p.units.number
                rows.append({**head, "currency": currency, "line": int(pm.get("line", 0)),
                             "stream": pm.get("stream", ""), "model": pm.get("model", ""),
                             "amount": p.units.number})
        rows.append({**head, "currency": currency, "line": "total", "stream": "",
                     "model": "", "amount": total})
    notes = [] if rows else [f"No invoice for {book.period}: no arrears usage, overage, "
                             f"actions or commitment shortfall was unbilled."]
    return Table("invoices", f"Invoices {book.period}", list(invoicing.COLUMNS), rows, notes)




def rollforward_table(report: rollforward.Rollforward) -> Table:
    notes = ["Liability positive. closing = opening + additions - revenue - refunds + "
             "other; gl_closing is the balance of Liabilities:Deferred-Revenue:<C>, "
             "subledger_closing the sum over the customer's lots of price - revenue "
             "posted (the recognition engine).",
             "revenue_from_opening_50_8b: revenue of the month that was in the opening "
             "balance (ASC 606-10-50-8(b)), per lot min(opening liability, revenue of the "
             "month): taken from the opening balance first."]
    kinds = set(report.revenue_kinds)
    absent = [k for k in ("breakage-revision", "modification")
              if not any(x.startswith(k) for x in kinds)]
    if absent:
        notes.append("No " + " or ".join(absent) + " entries in the book this month (rule "
                     "metadata); their columns appear when such entries exist.")
    return Table("rollforward", f"Contract-liability rollforward {report.period} "
                                f"({report.currency})", rollforward.columns(report),
                 rollforward.rows(report), notes)


# --- the other reports ---------------------------------------------------------------------


def revenue_table(book: Book) -> Table:
    report = profitability_report(book)
    streams = list(prof.STREAMS)
    cols = ["section", "name", *[s.lower() for s in streams], "other", "total"]
    rows: list[dict[str, object]] = []

    def add(section: str, line: prof.Line) -> None:
        row: dict[str, object] = {"section": section, "name": line.name}
        for s in streams:
            row[s.lower()] = line.revenue.get(s, ZERO)
        row["other"] = sum((v for k, v in line.revenue.items() if k not in streams), ZERO)
        row["total"] = line.revenue_total
        rows.append(row)

    for s in streams:
        total = report.total.revenue.get(s, ZERO)
        rows.append({"section": "stream", "name": s.lower(), s.lower(): total, "total": total})
    for line in sorted(report.customers, key=lambda x: x.name):
        add("customer", line)
    for line in sorted(report.models, key=lambda x: x.name):
        if line.revenue_total:
            add("model", line)
    add("total", report.total)
    return Table("revenue", f"Revenue {book.period} by stream, customer and model "
                            f"({book.currency})", cols, rows,
                 ["Usage and action revenue is split by model in proportion to the value of "
                  "each customer's usage at contract rates; breakage, commitment and "
                  "adjustments have no model ((unassigned))."])


def profitability_report(book: Book) -> prof.Report:
    rows, actions = profitability_rows(book.entries, book.start, book.end + DAY)
    weights = revenue_weights(book.entries, book.contracts, book.start, book.end + DAY)
    return prof.profitability(rows, actions, book.period, book.currency, weights)


def profitability_table(book: Book) -> Table:
    report = profitability_report(book)
    return Table("profitability", f"Profitability {book.period} ({book.currency})",
                 list(prof.CSV_COLUMNS), prof.csv_rows(report))


def credits_table(book: Book) -> Table:
    rows = []
    for state, lot in book.lots:
        remaining = lot.remaining
        if lot.closed or (remaining <= 0 and state.closing <= 0):
            continue
        days = (lot.expires - book.end).days if lot.expires else None
        within = ("never" if days is None else "30" if days <= 30 else "60" if days <= 60
                  else "90" if days <= 90 else "later")
        rows.append({"customer": state.customer, "lot": lot.id, "pack": lot.pack,
                     "purchased": lot.purchased.isoformat(),
                     "expires": lot.expires.isoformat() if lot.expires else "",
                     "credits": _credits(lot.credits), "remaining_credits": _credits(remaining),
                     "liability": state.closing, "days_to_expiry": days,
                     "expires_within_days": within})
    rows.sort(key=lambda r: (r["days_to_expiry"] is None, r["days_to_expiry"] or 0,
                             r["customer"], r["lot"]))
    soon = sum(1 for r in rows if r["expires_within_days"] in ("30", "60", "90"))
    return Table("credits", f"Credits outstanding at {book.end}",
                 ["customer", "lot", "pack", "purchased", "expires", "credits",
                  "remaining_credits", "liability", "days_to_expiry", "expires_within_days"],
                 rows, [f"{soon} lot(s) expire within 90 days of {book.end}: tell those "
                        f"customers before their credits lapse."])


def _credits(value: Any) -> Decimal:
    from fractions import Fraction
    value = Fraction(value)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"))


def rpo_table(book: Book, report: rollforward.Rollforward) -> Table:
    horizon = book.end + datetime.timedelta(days=365)
    within: dict[str, Decimal] = defaultdict(lambda: ZERO)
    later: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for state, lot in book.lots:
        if state.closing:
            target = within if (lot.expires is not None and lot.expires <= horizon) else later
            target[state.customer] += state.closing
    commitments: dict[str, Decimal] = defaultdict(lambda: ZERO)
    notes = ["Contract liability by the expiry of its lots: within 12 months of the month's "
             "end, or later (or never expiring). Remaining commitments: minimum spend of the "
             "periods after this month to the contract's end. Usage billed in arrears "
             "without a minimum is variable consideration for service not yet delivered "
             "and is not included (ASC 606-10-50-14A)."]
    for cid, customer in sorted(book.contracts.customers.items()):
        for contract in customer.contracts:
            terms = contract.commitment
            if terms is None or not contract.active_on(book.end):
                continue
            if contract.end is None:
                notes.append(f"{cid}: commitment of {terms.amount} per {terms.period} has no "
                             f"contract end; its remaining amount is not determinable.")
                continue
            periods = _periods_after(book.end, contract.end, terms.period)
            commitments[cid] += terms.amount * periods
    rows = []
    for line in report.lines[:-1]:
        c = line.customer
        rows.append({"customer": c, "contract_liability": line.gl_closing,
                     "within_12_months": within.get(c, ZERO), "later": later.get(c, ZERO),
                     "remaining_commitments": commitments.get(c, ZERO),
                     "total": line.gl_closing + commitments.get(c, ZERO)})
    for c in sorted(set(commitments) - {r["customer"] for r in rows}):
        rows.append({"customer": c, "contract_liability": ZERO, "within_12_months": ZERO,
                     "later": ZERO, "remaining_commitments": commitments[c],
                     "total": commitments[c]})
    rows.sort(key=lambda r: r["customer"])
    cols = ["customer", "contract_liability", "within_12_months", "later",
            "remaining_commitments", "total"]
    rows.append({k: (sum((r[k] for r in rows), ZERO) if k != "customer" else "(total)")
                 for k in cols})
    return Table("rpo", f"Remaining performance obligations at {book.end}", cols, rows, notes)


def _periods_after(day: datetime.date, end: datetime.date, period: str) -> int:
    if period == "year":
        return max(0, end.year - day.year)
    return max(0, (end.year - day.year) * 12 + end.month - day.month)


def breakage_table(book: Book) -> Table:
    """The month's breakage per lot and kind; the estimate from history (cohorts of the
    expired packs: dollar-weighted and simple mean, counts), the back-test of each applied
    estimate, and the rate in force per pack (the contract's, with who approved it)."""
    month: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    to_date: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in book.entries:
        if not isinstance(entry, data.Transaction) or entry.date > book.end:
            continue
        rule = str(entry.meta.get("rule") or "")
        for p in entry.postings:
            if p.account.startswith("Income:Revenue:Breakage") and p.units is not None:
                customer = str(entry.meta.get("customer") or "")
                lot = str((p.meta or {}).get("lot") or "")
                to_date[(customer, lot)] -= p.units.number
                if book.in_month(entry):
                    kind = close_rows.revenue_kind(p.account, rule, "")
                    month[(customer, lot, kind)] -= p.units.number
    methods = {lot.id: lot.method for _, lot in book.lots}
    rows: list[dict[str, object]] = [
        {"section": "month", "customer": c, "lot": lot, "method": methods.get(lot, ""),
         "kind": kind, "month": amount, "to_date": to_date[(c, lot)]}
        for (c, lot, kind), amount in sorted(month.items()) if amount]
    notes = [] if rows else [f"No breakage revenue in {book.period}."]
    segments = {cid: c.segment or "" for cid, c in book.contracts.customers.items()}
    history = breakage_history.expired([(s.customer, lot) for s, lot in book.lots], segments,
                                       book.end)
    cohorts = breakage_history.cohorts(history)
    for c in cohorts:
        rows.append({"section": "history", "pack": c.key[0], "segment": c.key[1],
                     "quarter": c.key[2], "count": c.count, "sold": c.sold,
                     "expired_unused": c.unused, "weighted_rate": c.weighted,
                     "simple_mean": c.simple})
    weighted, simple = breakage_history.overall(cohorts, history)
    if cohorts:
        rows.append({"section": "history", "pack": "(all)", "count": len(history),
                     "sold": sum((c.sold for c in cohorts), ZERO),
                     "expired_unused": sum((c.unused for c in cohorts), ZERO),
                     "weighted_rate": weighted, "simple_mean": simple})
    else:
        notes.append(f"No pack has expired by {book.end}: no history to estimate breakage "
                     f"from yet.")
    for t in breakage_history.backtest(history):
        rows.append({"section": "back-test", "customer": t.customer, "lot": t.lot,
                     "pack": t.cohort[0], "quarter": t.cohort[2], "applied_rate": t.applied,
                     "actual_rate": t.actual, "difference": t.difference})
    for state, lot in book.lots:  # reference §3.1: past the estimate, it is stale
        if (lot.method == "proportional" and not lot.closed and lot.expected is not None
                and lot.remaining > 0 and lot.used + lot.forfeited >= lot.expected):
            rows.append({"section": "review", "customer": state.customer, "lot": lot.id,
                         "pack": lot.pack,
                         "applied_rate": breakage_history.show(
                             breakage_history.applied_rate(lot)),
                         "review": "STALE: usage past the expected credits (revenue held "
                                   "at the price, breakage reversing); revise the estimate"})
    seen = {(lot.contract, lot.pack) for _, lot in book.lots}
    for est in breakage_rates.estimates(book.contracts, [lot for _, lot in book.lots],
                                        book.end):
        if est.method != "proportional" and (est.contract, est.pack) not in seen:
            continue
        rows.append({"section": "in force", "customer": est.customer, "pack": est.pack,
                     "method": est.method, "rate": est.rate, "since": est.since,
                     "approved_by": est.basis or _pack_approver(book, est)})
    notes.append("History recommends; the rate in force is the one written in the contract "
                 "(breakage.rate and approved revisions, with approved_by).")
    return Table("breakage", f"Breakage {book.period}",
                 ["section", "customer", "lot", "pack", "segment", "quarter", "method", "kind",
                  "month", "to_date", "count", "sold", "expired_unused", "weighted_rate",
                  "simple_mean", "applied_rate", "actual_rate", "difference", "rate", "since",
                  "approved_by", "review"], rows, notes)


def _pack_approver(book: Book, est: breakage_rates.Estimate) -> str:
    contract = book.contracts.contract(est.contract)
    pack = contract.packs.get(est.pack) if contract else None
    return (pack.breakage.approved_by or "") if pack else ""


def _mod_kind(mod) -> str:
    kinds = [k for k, on in (("add credits", mod.add_credits), ("discount",
                                                                 mod.discount is not None),
                             ("rates", mod.rates), ("expiry", mod.expires and
                                                    not mod.add_credits),
                             ("past credit", mod.past_credit)) if on]
    return ", ".join(kinds) or "none"


def modifications_table(book: Book) -> Table:
    """The audit trail: every modification of the contracts dated up to the month's end
    (kind, method and why, approval, evidence, rate before and after, revenue booked and the
    links of the entries it produced; pending ones change nothing), and the month's
    modification entries."""
    booked: dict[str, Decimal] = defaultdict(lambda: ZERO)
    trail: dict[str, list[data.Transaction]] = defaultdict(list)
    rows: list[dict[str, object]] = []
    for entry in book.entries:
        if not isinstance(entry, data.Transaction) or entry.date > book.end:
            continue
        meta = entry.meta
        if not (meta.get("rule") == "modification" or any(
                p.account.startswith(prof.REVENUE + ":Adjustments") for p in entry.postings)):
            continue
        mod = str(meta.get("modification") or "")
        revenue = -sum((p.units.number for p in entry.postings
                        if p.account.startswith(prof.REVENUE + ":")), ZERO)
        trail[mod].append(entry)
        if not book.in_month(entry):
            continue
        booked[mod] += revenue
        rows.append({"section": "entry", "customer": meta.get("customer"),
                     "contract": meta.get("contract"), "modification": mod,
                     "date": entry.date.isoformat(), "method": meta.get("method", ""),
                     "why": meta.get("reason", ""), "rate_before": meta.get("rate_before", ""),
                     "rate_after": meta.get("rate_after", ""), "revenue": revenue,
                     "links": " ".join(sorted(entry.links))})
    for cid, customer in sorted(book.contracts.customers.items()):
        for contract in customer.contracts:
            for mod in contract.modifications:
                if mod.date > book.end:
                    continue
                entries = trail.get(mod.id, [])
                first = entries[0].meta if entries else {}
                before = next((e.meta["rate_before"] for e in entries
                               if "rate_before" in e.meta), "")
                after = next((e.meta["rate_after"] for e in entries
                              if "rate_after" in e.meta), "")
                approval = (f"{mod.approved_by} on {mod.approved_on}" if mod.approved
                            else "")
                rows.append({"section": "contract", "customer": cid, "contract": contract.id,
                             "modification": mod.id, "date": mod.date.isoformat(),
                             "kind": _mod_kind(mod),
                             "method": first.get("method") or (
                                 mod.method if mod.approved else f"{mod.method} (not applied)"),
                             "why": first.get("reason") or (
                                 "" if mod.approved else "pending approval: no revenue effect"),
                             "add_credits": mod.add_credits, "price": mod.price,
                             "ssp": mod.ssp, "past_credit": mod.past_credit,
                             "approved": "yes" if mod.approved else "PENDING",
                             "approval": approval, "evidence": mod.evidence or "",
                             "rate_before": before, "rate_after": after,
                             "revenue": -sum((p.units.number for e in entries
                                              for p in e.postings
                                              if p.account.startswith(prof.REVENUE + ":")),
                                             ZERO),
                             "booked_this_month": "yes" if mod.id in booked else "no",
                             "links": " ".join(sorted({f"{e.date}:{link}" for e in entries
                                                       for link in e.links}))})
    notes = ["rate_before/rate_after: the lot's consideration per credit (exact, "
             "numerator/denominator when it does not terminate). Revenue before a "
             "modification's date is never restated; a pending one changes no revenue."]
    if not any(r["section"] == "entry" for r in rows):
        notes.append(f"No modification entry in the book for {book.period} (no transaction "
                     f"with rule 'modification' or posting to Income:Revenue:Adjustments).")
    return Table("modifications", f"Contract modifications {book.period}",
                 ["section", "customer", "contract", "modification", "date", "kind", "method",
                  "why", "add_credits", "price", "ssp", "past_credit", "approved", "approval",
                  "evidence", "rate_before", "rate_after", "booked_this_month", "revenue",
                  "links"], rows, notes)


def dunning_table(book: Book, ratio: Decimal = dunning.JUMP_RATIO) -> Table:
    charges, payments = close_rows.receivables(book.entries, book.ids, book.terms())
    items = dunning.open_items(charges, payments, book.end)
    rows: list[dict[str, object]] = []
    for row in dunning.aging(items):
        rows.append({"section": "aging", **row})
    for item in items:
        rows.append({"section": "open", "customer": item.customer, "ref": item.ref,
                     "date": item.date.isoformat(), "due": item.due.isoformat(),
                     "amount": item.amount, "days_past_due": item.days_past_due,
                     "bucket": item.bucket})
    history: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in booked_invoices(book.entries):
        period = str(entry.meta.get("period"))
        history[(str(entry.meta.get("customer")), period)] += sum(
            (p.units.number for p in entry.postings
             if p.account.startswith(close_rows.RECEIVABLE)), ZERO)
    current = {c: v for (c, p), v in history.items() if p == book.period}
    source = "invoice"
    if not current:  # not invoiced yet: the month's accrued unbilled, before it lands
        source = "accrued unbilled"
        for item in close_rows.unbilled_items(book.entries, book.ids, book.start, book.end):
            current[item.customer] = current.get(item.customer, ZERO) + item.amount
    first = _first_period(book.entries)
    for jump in dunning.jumps(book.period, current, history, ratio, first):
        rows.append({"section": "jump", "customer": jump.customer, "amount": jump.amount,
                     "basis": source, "trailing_average": jump.average,
                     "months": jump.months, "ratio": jump.ratio, "increase": jump.increase,
                     "flag": "JUMP" if jump.flagged else ""})
    notes = [f"Aged at {book.end} by days past due. Payments (credits to "
             f"Assets:Receivable) are applied to the oldest charges first.",
             f"Jump: this month's {source} at least {ratio} times the average of the three "
             f"months before (months the book covers)."]
    if not payments:
        notes.append("No payment of a receivable is in the book yet (no importer books "
                     "invoice payments): every charge is shown open.")
    cols = ["section", "customer", *dunning.BUCKETS, "total", "ref", "date", "due", "amount",
            "days_past_due", "bucket", "basis", "trailing_average", "months", "ratio",
            "increase", "flag"]
    return Table("dunning", f"Dunning {book.period}", cols, rows, notes)


def _first_period(entries: Sequence[data.Directive]) -> str | None:
    for entry in entries:
        if isinstance(entry, (data.Transaction, data.Custom)):
            return f"{entry.date:%Y-%m}"
    return None
