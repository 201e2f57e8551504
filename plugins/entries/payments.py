"""Customer payments and credit notes: the transactions the payments and credit notes
importers write (``importers.payments``, ``importers.credit_notes``), and the readers of
the receivable sub-ledger: the book's invoices, what applies to each, the charges not
invoiced yet (``docs/receivables.md``).

    2026-02-10 * "Globex Inc" "Payment of INV-2026-01-GLOBEX" ^INV-2026-01-GLOBEX
      customer: "globex"
      rule: "payment"
      payment_id: "wire-0042"
      invoice: "INV-2026-01-GLOBEX"
      Assets:Bank                          600.00 USD
      Assets:Receivable:Globex            -589.77 USD
        invoice: "INV-2026-01-GLOBEX"
      Liabilities:Customer-Credits:Globex  -10.23 USD   ; the overpayment, held

    2026-02-03 * "Globex Inc" "Credit note CN-7 on INV-2026-01-GLOBEX: outage" ^INV-2026-01-GLOBEX
      customer: "globex"
      rule: "credit-note"
      credit_note_id: "CN-7"
      invoice: "INV-2026-01-GLOBEX"
      stream: "usage"
      reason: "outage"
      Income:Revenue:Usage                  50.00 USD
        stream: "usage"
      Assets:Receivable:Globex             -50.00 USD
        invoice: "INV-2026-01-GLOBEX"

Every credit to ``Assets:Receivable:<C>`` that settles an invoice carries the invoice's
id as posting metadata ``invoice``; a payment from the customer's held credits
(``from_credits: TRUE``) debits ``Liabilities:Customer-Credits:<C>`` instead of cash.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TypeGuard

from beancount.core import data

from ..rules import accounts
from ..rules.dunning import Applied, Charge, Payment
from ..rules.invoicing import ReceivableItem
from ..rules.records import CreditNote, CustomerPayment, InvoiceRecord
from .build import currency, number, posting, ref, transaction

ZERO = Decimal("0.00")
INVOICE = "invoice"
PAYMENT = "payment"
CREDIT_NOTE = "credit-note"
RULES = (INVOICE, PAYMENT, CREDIT_NOTE)
_RECEIVABLE = accounts.RECEIVABLE + ":"
# the receivables an invoice bills as lines of their own (``rules.invoicing``): by rule
CHARGE_STREAM = {"top-up": "top-up", "allowance": "allowance", "purchase": "purchase"}


def is_payment(entry: data.Directive) -> TypeGuard[data.Transaction]:
    return entry.__class__ is data.Transaction and entry.meta.get("rule") == PAYMENT


def is_credit_note(entry: data.Directive) -> TypeGuard[data.Transaction]:
    return entry.__class__ is data.Transaction and entry.meta.get("rule") == CREDIT_NOTE


def is_invoice(entry: data.Directive) -> TypeGuard[data.Transaction]:
    return entry.__class__ is data.Transaction and entry.meta.get("rule") == INVOICE


# --- writing ----------------------------------------------------------------------------


def payment_entry(payment: CustomerPayment, payee: str, provenance: dict[str, object],
                  cash_account: str = accounts.BANK) -> data.Transaction:
    """The transaction of a customer payment (``payment_from_entry`` reads it back): cash
    (or the customer's held credits) against the receivable of each invoice it applies
    to, the rest to ``Liabilities:Customer-Credits:<C>``."""
    meta: dict[str, object] = {"customer": payment.customer, "rule": PAYMENT,
                               "payment_id": payment.payment_id}
    if payment.invoices:
        meta["invoice"] = ";".join(payment.invoices)
    if payment.from_credits:
        meta["from_credits"] = True
    meta.update(provenance)
    code = payment.currency
    source = (accounts.customer_credits(payment.customer) if payment.from_credits
              else cash_account)
    legs = [posting(source, payment.amount, code)]
    legs += [posting(accounts.receivable(payment.customer), -amount, code,
                     {"invoice": invoice}) for invoice, amount in payment.applied]
    if payment.credits:
        legs.append(posting(accounts.customer_credits(payment.customer), -payment.credits,
                            code))
    named = ", ".join(payment.invoices)
    if payment.from_credits:
        narration = f"Customer credits applied to {named}"
    elif not payment.invoices:
        narration = "Payment on account (unapplied cash)"
    else:
        narration = f"Payment of {named}"
    return transaction(meta, payment.date, payee, narration, legs,
                       links=sorted(set(payment.invoices)),
                       filename=str(provenance.get("source", "<import>")))


def credit_note_entry(note: CreditNote, payee: str, provenance: dict[str, object]
                      ) -> data.Transaction:
    """The transaction of a credit note: the revenue stream it corrects against the
    invoice's receivable (``credit_note_from_entry`` reads it back)."""
    meta: dict[str, object] = {"customer": note.customer, "rule": CREDIT_NOTE,
                               "credit_note_id": note.credit_note_id, "invoice": note.invoice,
                               "stream": note.stream}
    if note.reason:
        meta["reason"] = note.reason
    meta.update(provenance)
    revenue = accounts.CREDIT_NOTE_STREAMS[note.stream]
    legs = [posting(revenue, note.amount, note.currency, {"stream": note.stream}),
            posting(accounts.receivable(note.customer), -note.amount, note.currency,
                    {"invoice": note.invoice})]
    what = f": {note.reason}" if note.reason else f" ({note.stream})"
    return transaction(meta, note.date, payee,
                       f"Credit note {note.credit_note_id} on {note.invoice}{what}", legs,
                       links=[note.invoice], filename=str(provenance.get("source", "<import>")))


# --- reading ----------------------------------------------------------------------------


def invoice_record(entry: data.Transaction) -> InvoiceRecord:
    """The invoice of an invoice transaction (``rule: invoice``): its lines are the debits
    to the receivable that carry ``line`` (ValueError, KeyError when malformed)."""
    meta = entry.meta
    lines = [p for p in entry.postings if p.account.startswith(_RECEIVABLE)
             and p.units is not None and (p.meta or {}).get("line") is not None]
    total = sum((number(p) for p in lines), ZERO)
    codes = {currency(p) for p in lines} or {""}
    streams: dict[str, Decimal] = {}
    for p in lines:
        stream = str((p.meta or {}).get("stream") or "")
        streams[stream] = streams.get(stream, ZERO) + number(p)
    due = meta.get("due")
    return InvoiceRecord(
        id=str(meta["invoice"]), customer=str(meta["customer"]),
        currency=sorted(codes)[0], date=entry.date,
        due=due if isinstance(due, datetime.date) else entry.date, total=total,
        streams=tuple(streams.items()), ref=ref(meta))


def invoices_of(entries: Iterable[data.Directive]) -> dict[str, InvoiceRecord]:
    """The invoices of the book by id (malformed ones left out: the close writes them)."""
    out: dict[str, InvoiceRecord] = {}
    for entry in entries:
        if is_invoice(entry) and entry.meta.get("invoice"):
            try:
                record = invoice_record(entry)
            except (ValueError, KeyError):
                continue
            out.setdefault(record.id, record)
    return out


def applications(entry: data.Transaction) -> list[tuple[str, str, Decimal, data.Posting]]:
    """(invoice, currency, amount) of each credit of ``entry`` to a receivable that names
    an invoice (posting metadata ``invoice``), amount positive."""
    out = []
    for p in entry.postings:
        if p.account.startswith(_RECEIVABLE) and p.units is not None:
            invoice = (p.meta or {}).get("invoice")
            if invoice and number(p) < 0:
                out.append((str(invoice), currency(p), -number(p), p))
    return out


def payment_from_entry(entry: data.Transaction) -> CustomerPayment:
    """The CustomerPayment of a payment transaction (ValueError, KeyError)."""
    meta = entry.meta
    customer = str(meta["customer"])
    credits_account = accounts.customer_credits(customer)
    from_credits = meta.get("from_credits") is True
    applied = tuple((invoice, amount) for invoice, _, amount, _ in applications(entry))
    held = sum((-number(p) for p in entry.postings
                if p.account == credits_account and p.units is not None and number(p) < 0),
               ZERO)
    codes = [currency(p) for p in entry.postings if p.units is not None]
    if not codes:
        raise ValueError("expected postings")
    amount = sum((a for _, a in applied), ZERO) + held
    named = str(meta.get("invoice") or "")
    return CustomerPayment(
        date=entry.date, customer=customer, amount=amount, currency=codes[0],
        payment_id=str(meta.get("payment_id") or ""),
        invoices=tuple(i for i in named.split(";") if i), applied=applied, credits=held,
        from_credits=from_credits, ref=ref(meta))


def credit_note_from_entry(entry: data.Transaction) -> CreditNote:
    """The CreditNote of a credit note transaction (ValueError, KeyError)."""
    meta = entry.meta
    found = applications(entry)
    if not found:
        raise ValueError("expected a credit to Assets:Receivable with invoice metadata")
    invoice, code, _, _ = found[0]
    return CreditNote(
        date=entry.date, customer=str(meta["customer"]),
        invoice=str(meta.get("invoice") or invoice), stream=str(meta.get("stream") or ""),
        amount=sum((a for _, _, a, _ in found), ZERO), currency=code,
        credit_note_id=str(meta.get("credit_note_id") or ""),
        reason=str(meta.get("reason") or ""), ref=ref(meta))


def charge_key(entry: data.Transaction) -> str:
    """What an invoice names a receivable booked without one by (``charge``): the lot of
    a top-up or allowance fee, the payment id or import key of a purchase, else the date
    and narration of the entry."""
    meta = entry.meta or {}
    for key in ("lot", "payment_id", "import_key"):
        found = meta.get(key)
        if found:
            return str(found)
    return f"{entry.date} {entry.narration}"


def billed_charges(entries: Iterable[data.Transaction]) -> set[str]:
    """The charges some invoice of the book bills already (its postings' ``charge``)."""
    out: set[str] = set()
    for entry in entries:
        if is_invoice(entry):
            out.update(str(p.meta["charge"]) for p in entry.postings
                       if p.meta and p.meta.get("charge"))
    return out


def receivable_charges(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                       start: datetime.date, end: datetime.date,
                       billed: set[str] | frozenset[str] = frozenset()
                       ) -> list[ReceivableItem]:
    """The debits to ``Assets:Receivable`` of [start, end] that no invoice bills
    (``billed``): top-ups, allowance fees, purchases booked without a payment, and any
    other entry that is not an invoice, a payment or a credit note."""
    out = []
    for entry in entries:
        if not start <= entry.date <= end:
            continue
        meta = entry.meta or {}
        rule = str(meta.get("rule") or "")
        if rule in RULES:
            continue
        debits: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for p in entry.postings:
            if p.account.startswith(_RECEIVABLE) and p.units is not None and number(p) > 0:
                owner = accounts.owner(p.account, accounts.RECEIVABLE, ids)
                debits[(owner, currency(p))] += number(p)
        if not debits:
            continue
        key = charge_key(entry)
        if key in billed:
            continue
        for (customer, code), amount in sorted(debits.items()):
            out.append(ReceivableItem(customer, str(meta.get("contract") or ""), entry.date,
                                      code, CHARGE_STREAM.get(rule, rule or "other"), amount,
                                      key))
    return out


def receivable_rows(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                    terms: Mapping[str, int]
                    ) -> tuple[list[Charge], list[Payment], list[Applied]]:
    """The receivable sub-ledger (``rules.dunning.balances``): the charges (an invoice's
    lines, due on its ``due``; any other debit, due after the payment terms, named by
    ``charge_key``), the credits that name what they settle (a payment's or a credit
    note's ``invoice``, an invoice's ``charge`` leg) and those that name nothing."""
    charges: list[Charge] = []
    payments: list[Payment] = []
    applied: list[Applied] = []
    for entry in entries:
        meta = entry.meta or {}
        rule = meta.get("rule")
        debits: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in entry.postings:
            if not p.account.startswith(_RECEIVABLE) or p.units is None or not number(p):
                continue
            amount = number(p)
            customer = accounts.owner(p.account, accounts.RECEIVABLE, ids)
            pmeta = p.meta or {}
            if amount > 0:
                debits[customer] += amount
            elif rule == INVOICE and pmeta.get("charge"):
                applied.append(Applied(customer, str(pmeta["charge"]), entry.date, -amount,
                                       "billed"))
            elif pmeta.get("invoice"):
                applied.append(Applied(customer, str(pmeta["invoice"]), entry.date, -amount,
                                       "credit-note" if rule == CREDIT_NOTE else "payment"))
            else:
                payments.append(Payment(customer, entry.date, -amount))
        for customer, amount in sorted(debits.items()):
            due = meta.get("due")
            if not isinstance(due, datetime.date):
                due = entry.date + datetime.timedelta(days=terms.get(customer, 30))
            if rule == INVOICE and meta.get("invoice"):
                name = str(meta["invoice"])
                charges.append(Charge(customer, name, entry.date, due, amount, name))
            else:
                charges.append(Charge(customer, str(meta.get("invoice") or entry.narration),
                                      entry.date, due, amount, charge_key(entry)))
    return charges, payments, applied


def customer_credits(entries: Iterable[data.Transaction], ids: Mapping[str, str],
                     end: datetime.date) -> dict[str, Decimal]:
    """The credits each customer holds (``Liabilities:Customer-Credits:<C>``, positive)
    at the end of ``end``."""
    prefix = accounts.CUSTOMER_CREDITS + ":"
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        if entry.date <= end:
            for p in entry.postings:
                if p.account.startswith(prefix) and p.units is not None:
                    out[accounts.owner(p.account, accounts.CUSTOMER_CREDITS, ids)] -= number(p)
    return dict(out)
