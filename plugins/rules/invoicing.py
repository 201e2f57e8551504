"""Month-end invoices: what a customer owes for the period, billed from Assets:Unbilled.

Pure computation over plain rows (no Beancount import). ``UnbilledItem`` rows are the
period's debits to ``Assets:Unbilled:<C>`` split by stream from the transaction that
made them (arrears ``usage`` and ``actions``, ``overage-usage`` and ``overage-actions``
past prepaid credits, ``commitment`` shortfalls, else the rule's name). One invoice per
customer and currency:

    INV-2026-01-GLOBEX  2026-01-31  due 2026-03-02 (30 days)
      usage    gpt-4o        312.40
      usage    gpt-4o-mini   106.86
      actions  gpt-4o        170.51
      total                  589.77       Dr Assets:Receivable:Globex / Cr Assets:Unbilled:Globex

Usage, action and overage lines are split by model in proportion to the value of the
customer's usage of the period at contract rates (``Weight``), rounded cumulatively so
that the lines add up to the stream to the cent; commitment lines have no model. The
invoice is dated the period's last day, due ``payment_terms_days`` later; its id is
``INV-<period>-<CUSTOMER>`` (``-<CUR>`` added when a customer owes in two currencies),
so the same period never gets a second invoice.

Receivables booked before any invoice (``ReceivableItem``: an automatic top-up, an
allowance fee, a purchase booked without a payment) are billed on the invoice of their
month as lines of their own (stream ``top-up``, ``allowance``, ``purchase``), each naming
the charge it bills (``charge``: the lot, or the purchase's payment id or import key).
They are already in ``Assets:Receivable``, so the invoice moves no money for them: its
entry carries a pair of postings to the receivable per such line, the line's debit and
the charge's credit, that add up to zero (``docs/receivables.md``):

    INV-2026-01-UMBRELLA  2026-01-31
      top-up   umbrella-2026.top-up-standard.2026-01-17   1000.00  (already receivable)
      total                                                1000.00

``apply_payment`` is the cash application: a payment over the invoices it names, in the
order named, each up to its open amount; the rest is the customer's credit.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from .allocation import allocate

ZERO = Decimal("0.00")
STREAM_ORDER = ("usage", "actions", "overage-usage", "overage-actions", "commitment")
# which usage weights split a stream by model
WEIGHT_STREAM = {"usage": "Usage", "actions": "Actions", "overage-usage": "Usage",
                 "overage-actions": "Actions"}


@dataclass(frozen=True)
class UnbilledItem:
    customer: str
    contract: str
    date: datetime.date
    currency: str
    stream: str
    amount: Decimal  # debit to Assets:Unbilled (a credit, e.g. a reversal, is negative)


@dataclass(frozen=True)
class InvoiceLine:
    stream: str
    model: str  # "" when the stream is not split by model
    amount: Decimal
    charge: str = ""  # the receivable it bills (already booked), "" for unbilled lines


@dataclass
class Invoice:
    id: str
    customer: str
    contracts: tuple[str, ...]
    period: str
    date: datetime.date
    due: datetime.date
    terms_days: int
    currency: str
    lines: list[InvoiceLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def unbilled_total(self) -> Decimal:
        """What the invoice bills from ``Assets:Unbilled`` (the lines of no charge)."""
        return sum((line.amount for line in self.lines if not line.charge), ZERO)


@dataclass(frozen=True)
class ReceivableItem:
    """A debit to ``Assets:Receivable:<C>`` that no invoice billed yet (a top-up, an
    allowance fee, a purchase without payment): an invoice line of its own."""

    customer: str
    contract: str
    date: datetime.date
    currency: str
    stream: str  # top-up | allowance | purchase | the rule that booked it
    amount: Decimal
    charge: str  # what it is: the lot, the payment id or import key of the purchase


CHARGE_STREAMS = ("allowance", "purchase", "top-up")


def invoice_id(period: str, customer: str, currency: str = "", several: bool = False) -> str:
    base = f"INV-{period}-{customer.upper()}"
    return f"{base}-{currency}" if several else base


def _stream_key(stream: str) -> tuple[int, str]:
    return (STREAM_ORDER.index(stream) if stream in STREAM_ORDER else len(STREAM_ORDER),
            stream)


def split_by_model(amount: Decimal, weights: Mapping[str, Fraction]) -> list[tuple[str, Decimal]]:
    """``amount`` over models in proportion to ``weights``, cumulatively rounded
    (``rules.allocation``); all of it on no model when there is no weight."""
    if not any(weights.values()):
        return [("", amount)]
    return allocate(amount, weights)


def invoices(period: str, period_end: datetime.date, items: Iterable[UnbilledItem],
             weights: Mapping[tuple[str, str], Mapping[str, Fraction]],
             terms: Mapping[str, int], charges: Iterable[ReceivableItem] = ()
             ) -> list[Invoice]:
    """The invoices of ``period``: ``weights[(customer, "Usage"|"Actions")][model]`` is the
    value of the customer's usage of the period; ``terms[customer]`` its payment terms;
    ``charges`` the period's receivables booked without an invoice (lines of their own,
    after the unbilled streams, in date order)."""
    sums: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(
        lambda: ZERO))
    contracts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in items:
        sums[(item.customer, item.currency)][item.stream] += item.amount
        contracts[(item.customer, item.currency)].add(item.contract)
    billed: dict[tuple[str, str], list[ReceivableItem]] = defaultdict(list)
    for charge in sorted(charges, key=lambda c: (c.date, _stream_key(c.stream), c.charge)):
        if charge.amount:
            billed[(charge.customer, charge.currency)].append(charge)
            contracts[(charge.customer, charge.currency)].add(charge.contract)
            sums.setdefault((charge.customer, charge.currency), defaultdict(lambda: ZERO))
    currencies: dict[str, set[str]] = defaultdict(set)
    for customer, currency in sums:
        if any(sums[(customer, currency)].values()) or billed.get((customer, currency)):
            currencies[customer].add(currency)
    out = []
    for (customer, currency), streams in sorted(sums.items()):
        if currency not in currencies.get(customer, ()):
            continue
        days = terms.get(customer, 30)
        inv = Invoice(invoice_id(period, customer, currency, len(currencies[customer]) > 1),
                      customer, tuple(sorted(c for c in contracts[(customer, currency)] if c)),
                      period, period_end, period_end + datetime.timedelta(days=days), days,
                      currency)
        for stream in sorted(streams, key=_stream_key):
            amount = streams[stream]
            if not amount:
                continue
            base = WEIGHT_STREAM.get(stream)
            parts = split_by_model(amount, weights.get((customer, base), {})) if base else [
                ("", amount)]
            inv.lines += [InvoiceLine(stream, model, share) for model, share in parts]
        inv.lines += [InvoiceLine(c.stream, "", c.amount, c.charge)
                      for c in billed.get((customer, currency), ())]
        out.append(inv)
    return out


def apply_payment(amount: Decimal, invoices: Iterable[str], open_amounts: Mapping[str, Decimal]
                  ) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """A payment of ``amount`` applied to ``invoices`` in the order given, each up to its
    open amount (``open_amounts``); what each took, and the rest (the customer's credit).

        >>> apply_payment(Decimal("700.00"), ["INV-A", "INV-B"],
        ...               {"INV-A": Decimal("500.00"), "INV-B": Decimal("300.00")})
        ([('INV-A', Decimal('500.00')), ('INV-B', Decimal('200.00'))], Decimal('0.00'))
    """
    left = amount
    out: list[tuple[str, Decimal]] = []
    for ref in invoices:
        take = max(ZERO, min(left, open_amounts.get(ref, ZERO)))
        if take:
            out.append((ref, take))
            left -= take
    return out, left


COLUMNS = ("invoice", "customer", "contracts", "date", "due", "terms_days", "currency",
           "line", "stream", "model", "amount", "charge")


def rows(items: Iterable[Invoice]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for inv in items:
        head = {"invoice": inv.id, "customer": inv.customer,
                "contracts": " ".join(inv.contracts), "date": inv.date.isoformat(),
                "due": inv.due.isoformat(), "terms_days": inv.terms_days,
                "currency": inv.currency}
        for n, line in enumerate(inv.lines, 1):
            out.append({**head, "line": n, "stream": line.stream, "model": line.model,
                        "amount": line.amount, "charge": line.charge})
        out.append({**head, "line": "total", "stream": "", "model": "", "amount": inv.total,
                    "charge": ""})
    return out
