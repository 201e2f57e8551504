"""Canonical credit notes CSV: a correction of an invoice, in the open period.

    date,customer,invoice,stream,amount,currency,credit_note_id,reason
    2026-02-03,globex,INV-2026-01-GLOBEX,usage,50.00,USD,CN-7,outage on 2026-01-12

A credit note reduces the invoice's receivable and the revenue stream it corrects
(``plugins.entries.payments`` has the format), linked to the invoice:

    2026-02-03 * "Globex Inc" "Credit note CN-7 on INV-2026-01-GLOBEX: outage on 2026-01-12" ^INV-2026-01-GLOBEX
      customer: "globex"
      rule: "credit-note"
      credit_note_id: "CN-7"
      invoice: "INV-2026-01-GLOBEX"
      stream: "usage"
      reason: "outage on 2026-01-12"
      Income:Revenue:Usage       50.00 USD
        stream: "usage"
      Assets:Receivable:Globex  -50.00 USD
        invoice: "INV-2026-01-GLOBEX"

``stream`` is a revenue stream of the invoice (``usage``, ``actions``,
``overage-usage``, ``overage-actions``, ``commitment``: ``Income:Revenue:Usage``,
``:Actions`` or ``:Commitment``); ``reason`` is optional. A credit note dated in a closed
month (or whose invoice's month is closed: every invoice's is, once issued) is booked on
the first day of the first open month, with ``original_date`` and ``prior_period``
(``importers.late``): revenue of a closed period is never restated. ``credit_note_id``
is required and is the dedupe key.

Quarantined with the reason: an unknown customer or invoice, an invoice of another
customer, a currency that is not the invoice's, a stream the invoice did not bill (or
a purchase or top-up line: returning consideration is a refund), an amount that is not
> 0 to the cent, or larger than the invoice's open amount (its total less payments and
credit notes) or than what the stream billed less its credit notes.
"""

from __future__ import annotations

from decimal import Decimal

from beancount.core import data

from tokenbooks.plugins.entries import payments as entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.records import CreditNote

from .payments import ReceivableImporter, customer_of
from .purchase_base import day, money
from .usage import RowProblem, name_text

COLUMNS = ("date", "customer", "invoice", "stream", "amount", "currency", "credit_note_id")
ZERO = Decimal("0.00")


class Importer(ReceivableImporter):
    """Canonical credit notes, CSV."""

    required = COLUMNS
    kind = "credit-notes"
    archive_account = accounts.RECEIVABLE

    def sort_key(self, entry: data.Transaction) -> tuple[object, ...]:
        return (entry.date, entry.meta["customer"], entry.meta["credit_note_id"])

    def row_key(self, values: dict[str, str]) -> str:
        return (values.get("credit_note_id") or "").strip()

    def book_row(self, values: dict[str, str], provenance: dict[str, object]
                 ) -> data.Transaction | None:
        when = day(values["date"], "date")
        customer = customer_of(self.contracts, values)
        invoice = name_text(values["invoice"].strip(), "invoice")
        if not invoice:
            raise RowProblem("invoice", "is required but missing (the invoice the credit "
                                        "note corrects)")
        stream = values["stream"].strip().lower()
        amount = money(values["amount"], "amount")
        code = values["currency"].strip().upper()
        note_id = name_text(values["credit_note_id"].strip(), "credit_note_id")
        if not note_id:
            raise RowProblem("credit_note_id", "is required but missing (the dedupe key)")
        reason = name_text((values.get("reason") or "").strip(), "reason")
        if note_id in self.index.keys:
            return None
        found = self.index.invoice_for(invoice, customer, code)
        billed = dict(found.streams)
        if stream not in accounts.CREDIT_NOTE_STREAMS:
            hint = (" (a credit on a purchase, top-up or allowance line returns "
                    "consideration: book it as a refund)" if stream in billed else "")
            raise RowProblem("stream", f"expected one of the revenue streams "
                                       f"{', '.join(accounts.CREDIT_NOTE_STREAMS)}, got "
                                       f"{stream!r}{hint}")
        if stream not in billed:
            listed = ", ".join(s for s in billed if s in accounts.CREDIT_NOTE_STREAMS)
            raise RowProblem("stream", f"{invoice} bills no {stream!r} (expected one of its "
                                       f"streams: {listed or 'none it can credit'})")
        left = billed[stream] - self.index.credited.get((invoice, stream), ZERO)
        open_amount = self.index.open_amount(invoice)
        if amount > open_amount:
            raise RowProblem("amount", f"expected at most {open_amount} (what {invoice} has "
                                       f"open: {found.total} less payments and credit notes),"
                                       f" got {amount}")
        if amount > left:
            raise RowProblem("amount", f"expected at most {left} (what {invoice} billed for "
                                       f"{stream} less its credit notes), got {amount}")
        when, moved = self.index.redated(when)
        if when < found.date:
            raise RowProblem("date", f"expected a date on or after {found.date}, the date "
                                     f"of {invoice}, got {when}")
        note = CreditNote(date=when, customer=customer, invoice=invoice, stream=stream,
                          amount=amount, currency=code, credit_note_id=note_id, reason=reason)
        return entries.credit_note_entry(note, self.payee(customer), {**moved, **provenance})
