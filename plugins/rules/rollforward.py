"""Contract-liability rollforward (ASC 606-10-50-8 to 50-10), per customer and in total.

Pure computation over plain rows (no Beancount import): ``tokenbooks.plugins.close_rows``
turns every posting to ``Liabilities:Deferred-Revenue:<C>`` into a ``Movement`` (the
change of the contract liability, liability positive), classified by what the same
transaction did:

* ``revenue`` of a kind (``usage``, ``actions``, ``breakage`` (the pattern), ``expiry``
  (true-up), ``breakage-revision`` (shown gross: catch-ups and reversals apart),
  ``modification``, ``forfeiture``, ...), the Income postings matched to the liability;
* ``addition`` (purchases, top-ups, allowance fees, paid modifications);
* ``refund`` (cash returned out of the liability); a refund beyond a lot's liability
  (consumed value returned, ``rules.refunds``) puts the excess back in the liability
  against ``Income:Revenue:Refunds``: revenue of kind ``refunds``, negative;
* ``other`` (anything else, named by its rule: never dropped).

    opening + additions - revenue - refunds + other = closing          (per customer)

Credit notes on invoices (arrears, overage, commitments) reduce revenue and the
receivable, not the liability: a memo column beside the equation.

The closing balance is tied to the ledger balance (``gl_closing``) and to the contract
sub-ledger (the recognition engine's lots: price - revenue posted, ``subledger_closing``)
to the cent. The 50-8(b) memo is the revenue of the period that was in the opening
balance, taken from the opening balance first, per lot: ``min(opening_L, revenue_L)``.

    acme  opening 1,000.00  additions 500.00  revenue usage 446.18  closing 1,053.82
          50-8(b): 446.18 of the revenue came out of the opening balance
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0.00")
TOTAL = "(total)"


@dataclass(frozen=True)
class Movement:
    """One change of a customer's contract liability in the period (liability positive)."""

    customer: str
    section: str  # addition | revenue | refund | other
    kind: str  # for revenue: usage, actions, breakage, ...; for other: the rule
    amount: Decimal  # change of the liability: additions positive, revenue negative


@dataclass(frozen=True)
class LotState:
    """A lot of the contract sub-ledger at the start and the end of the period."""

    customer: str
    lot: str
    opening: Decimal  # liability before the period
    closing: Decimal  # liability at its end
    revenue: Decimal  # revenue posted on the lot in the period


@dataclass
class Line:
    customer: str
    opening: Decimal = ZERO
    additions: Decimal = ZERO
    revenue: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    refunds: Decimal = ZERO
    other: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    gl_closing: Decimal = ZERO
    subledger_closing: Decimal = ZERO
    from_opening: Decimal = ZERO  # 50-8(b)
    credit_notes: Decimal = ZERO  # memo: revenue reduced by credit notes on invoices

    @property
    def revenue_total(self) -> Decimal:
        return sum(self.revenue.values(), ZERO)

    @property
    def other_total(self) -> Decimal:
        return sum(self.other.values(), ZERO)

    @property
    def closing(self) -> Decimal:
        """opening + additions - revenue - refunds + other (refunds are positive here)."""
        return (self.opening + self.additions - self.revenue_total - self.refunds
                + self.other_total)

    @property
    def ties(self) -> bool:
        return self.closing == self.gl_closing == self.subledger_closing


@dataclass
class Rollforward:
    period: str
    currency: str
    lines: list[Line]  # one per customer, sorted, then the total
    revenue_kinds: list[str]

    @property
    def total(self) -> Line:
        return self.lines[-1]

    def failures(self) -> list[str]:
        out = []
        for line in self.lines:
            if line.closing != line.gl_closing:
                out.append(f"{line.customer}: rollforward closing {line.closing} != ledger "
                           f"balance of Liabilities:Deferred-Revenue {line.gl_closing}")
            if line.gl_closing != line.subledger_closing:
                out.append(f"{line.customer}: ledger balance of Liabilities:Deferred-Revenue "
                           f"{line.gl_closing} != contract sub-ledger (lots: price - revenue "
                           f"posted) {line.subledger_closing}, a difference of "
                           f"{line.gl_closing - line.subledger_closing}")
        return out


KIND_ORDER = ("usage", "actions", "breakage", "breakage-revision-increase",
              "breakage-revision-decrease", "expiry", "forfeiture", "modification",
              "refunds")


def rollforward(period: str, currency: str, opening: dict[str, Decimal],
                movements: Iterable[Movement], gl_closing: dict[str, Decimal],
                lots: Iterable[LotState],
                credit_notes: dict[str, Decimal] | None = None) -> Rollforward:
    """The rollforward of ``period``: ``opening`` and ``gl_closing`` are the ledger balances
    (liability positive) by customer, ``lots`` the sub-ledger; ``credit_notes`` (a memo:
    a credit note corrects an invoice, not the liability) the month's by customer."""
    lines: dict[str, Line] = {}

    def line(customer: str) -> Line:
        if customer not in lines:
            lines[customer] = Line(customer)
        return lines[customer]

    for customer, amount in opening.items():
        line(customer).opening += amount
    for customer, amount in gl_closing.items():
        line(customer).gl_closing += amount
    kinds: set[str] = set()
    for m in movements:
        x = line(m.customer)
        if m.section == "revenue":
            kind = m.kind
            if kind == "breakage-revision":  # gross: catch-ups and reversals apart
                kind += "-increase" if m.amount < 0 else "-decrease"
            x.revenue[kind] -= m.amount
            kinds.add(kind)
        elif m.section == "addition":
            x.additions += m.amount
        elif m.section == "refund":
            x.refunds -= m.amount
        else:
            x.other[m.kind] += m.amount
    for customer, amount in (credit_notes or {}).items():
        line(customer).credit_notes += amount
    for lot in lots:
        x = line(lot.customer)
        x.subledger_closing += lot.closing
        if lot.revenue > 0 and lot.opening > 0:
            x.from_opening += min(lot.opening, lot.revenue)
    ordered = [lines[c] for c in sorted(lines)]
    total = Line(TOTAL)
    for x in ordered:
        total.opening += x.opening
        total.additions += x.additions
        total.refunds += x.refunds
        total.gl_closing += x.gl_closing
        total.subledger_closing += x.subledger_closing
        total.from_opening += x.from_opening
        total.credit_notes += x.credit_notes
        for k, v in x.revenue.items():
            total.revenue[k] += v
        for k, v in x.other.items():
            total.other[k] += v
    order = [k for k in KIND_ORDER if k in kinds] + sorted(kinds - set(KIND_ORDER))
    return Rollforward(period, currency, ordered + [total], order)


def columns(report: Rollforward) -> list[str]:
    return (["customer", "opening", "additions"]
            + [f"revenue_{k}" for k in report.revenue_kinds]
            + ["revenue", "refunds", "other", "closing", "gl_closing", "subledger_closing",
               "ties", "revenue_from_opening_50_8b", "credit_notes_memo"])


def rows(report: Rollforward) -> list[dict[str, object]]:
    out = []
    for x in report.lines:
        row: dict[str, object] = {"customer": x.customer, "opening": x.opening,
                                  "additions": x.additions}
        for k in report.revenue_kinds:
            row[f"revenue_{k}"] = x.revenue.get(k, ZERO)
        row.update({"revenue": x.revenue_total, "refunds": x.refunds,
                    "other": x.other_total, "closing": x.closing,
                    "gl_closing": x.gl_closing, "subledger_closing": x.subledger_closing,
                    "ties": "yes" if x.ties else "NO",
                    "revenue_from_opening_50_8b": x.from_opening,
                    "credit_notes_memo": x.credit_notes})
        out.append(row)
    return out
