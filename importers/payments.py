"""Canonical customer payments CSV: cash received, applied to the invoices it names.

    date,customer,invoice,amount,currency,payment_id
    2026-02-10,globex,INV-2026-01-GLOBEX,589.77,USD,wire-0042           <- pays it in full
    2026-02-12,initech,INV-2026-01-INITECH,200.00,USD,wire-0043         <- partial: rest open
    2026-02-15,initech,INV-2026-01-INITECH;INV-2026-02-INITECH,900.00,USD,wire-0044
    2026-02-20,hooli,,250.00,USD,wire-0045                              <- unapplied cash
    2026-03-01,hooli,INV-2026-02-HOOLI,120.00,USD,apply:hooli-1         <- from held credits

A payment books the cash account (``Assets:Bank``, or ``payments: {account: ...}`` in
``importers.yaml``) against ``Assets:Receivable:<C>`` of each invoice it names, linked
``^INV-...`` (``plugins.entries.payments`` has the format):

    2026-02-10 * "Globex Inc" "Payment of INV-2026-01-GLOBEX" ^INV-2026-01-GLOBEX
      customer: "globex"
      rule: "payment"
      payment_id: "wire-0042"
      invoice: "INV-2026-01-GLOBEX"
      Assets:Bank                 589.77 USD
      Assets:Receivable:Globex   -589.77 USD
        invoice: "INV-2026-01-GLOBEX"

The rules (``docs/receivables.md``):

* ``invoice`` names one invoice, or several separated by ``;``: the amount is applied to
  them in the order given, each up to what is open on it (its total less the payments
  and credit notes the book holds, and those of the rows before); a partial payment
  leaves the rest of the invoice open.
* What no named invoice takes (an overpayment) goes to
  ``Liabilities:Customer-Credits:<C>``; an empty ``invoice`` (unapplied cash) all of it.
* ``payment_id`` is required and is the dedupe key; one starting with ``apply:`` moves
  no cash: it applies credits the customer holds to the invoices named (Dr
  ``Liabilities:Customer-Credits:<C>``, ``from_credits: TRUE``), at most what it holds
  and what the invoices have open.
* Quarantined with the reason: an unknown customer or invoice, an invoice of another
  customer, a currency that is not the invoice's (or, unapplied, the contract's), an
  amount that is not > 0 to the cent, a ``payment_id`` a purchase has, credits applied
  beyond what is held or open.
* A payment dated in a closed month is booked on the first day of the first open month,
  with ``original_date`` and ``prior_period`` (as ``importers.late`` does for usage).
"""

from __future__ import annotations

import datetime
import os
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from beancount.core import data

from tokenbooks.plugins.entries import payments as entries
from tokenbooks.plugins.entries import purchases as purchase_entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.invoicing import apply_payment
from tokenbooks.plugins.rules.model import ContractSet
from tokenbooks.plugins.rules.periods import month_of
from tokenbooks.plugins.rules.records import CustomerPayment, InvoiceRecord

from .base import Progress, as_contracts, file_sha256
from .late import closed_until
from .purchase_base import CsvImporter, csv_rows, day, money
from .usage import Extraction, Quarantined, RowProblem, UnreadableSource, name_text

COLUMNS = ("date", "customer", "invoice", "amount", "currency", "payment_id")
APPLY = "apply:"
ZERO = Decimal("0.00")


class InvoiceIndex:
    """What the book (and the rows imported before) says of its invoices: each invoice,
    what payments and credit notes applied to it, per stream what credit notes took, the
    credits each customer holds, the payment and credit note ids booked, and the last
    closed day."""

    def __init__(self) -> None:
        self.invoices: dict[str, InvoiceRecord] = {}
        self.applied: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.credited: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.held: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.keys: set[str] = set()
        self.purchase_ids: set[str] = set()
        self.closed: datetime.date | None = None
        self.by_source: dict[str, dict[str, data.Transaction]] = defaultdict(dict)
        self._seen: set[int] = set()

    def register(self, existing: Iterable[data.Directive]) -> None:
        items = [e for e in existing if id(e) not in self._seen]
        self._seen.update(id(e) for e in items)
        until = closed_until(items)
        if until is not None and (self.closed is None or until > self.closed):
            self.closed = until
        self.invoices.update((k, v) for k, v in entries.invoices_of(items).items()
                             if k not in self.invoices)
        for entry in items:
            if entry.__class__ is not data.Transaction:
                continue
            if purchase_entries.is_purchase(entry) and entry.meta.get("payment_id"):
                self.purchase_ids.add(str(entry.meta["payment_id"]))
                continue
            if entries.is_payment(entry) or entries.is_credit_note(entry):
                self.book(entry)

    def book(self, entry: data.Transaction, sign: int = 1) -> None:
        """Take a payment or credit note transaction into account (``sign`` -1: take it
        out again)."""
        meta = entry.meta
        key = str(self.key_of(entry))
        if key and sign > 0:
            self.keys.add(key)
            if meta.get("sha256"):
                self.by_source[str(meta["sha256"])][key] = entry
        elif key:
            self.keys.discard(key)
        for invoice, _, amount, _ in entries.applications(entry):
            self.applied[invoice] += sign * amount
            if entries.is_credit_note(entry):
                self.credited[(invoice, str(meta.get("stream") or ""))] += sign * amount
        customer = str(meta.get("customer") or "")
        credits = accounts.customer_credits(customer)
        for p in entry.postings:
            if p.account == credits and p.units is not None and p.units.number is not None:
                self.held[customer] -= sign * p.units.number

    @staticmethod
    def key_of(entry: data.Transaction) -> str:
        found = entry.meta.get("credit_note_id" if entries.is_credit_note(entry)
                               else "payment_id")
        return str(found or "")

    def replay(self, sha256: str) -> dict[str, data.Transaction]:
        """Take out what the book holds of the source ``sha256`` (imported before), so
        that its rows are checked again against the book as it was when they were first
        imported, in the file's order (``run`` books each again as it reaches it): the
        same source gives the same entries and quarantine, byte for byte."""
        own = dict(self.by_source.get(sha256, {}))
        for entry in own.values():
            self.book(entry, -1)
        return own

    def open_amount(self, invoice: str) -> Decimal:
        found = self.invoices.get(invoice)
        return found.total - self.applied.get(invoice, ZERO) if found else ZERO

    def invoice_for(self, name: str, customer: str, code: str, field: str = "invoice"
                    ) -> InvoiceRecord:
        """The invoice ``name`` of ``customer`` in ``code`` (RowProblem if it is not)."""
        found = self.invoices.get(name)
        if found is None:
            theirs = sorted(i for i, inv in self.invoices.items() if inv.customer == customer)
            listed = (f"; {customer}'s: {', '.join(theirs[-5:])}" if theirs else
                      f"; the book has none of {customer}'s yet (they are written by "
                      f"tokenbooks close)")
            raise RowProblem(field, f"unknown invoice {name!r} (expected an invoice of the "
                                    f"book, INV-<period>-<CUSTOMER>{listed})")
        if found.customer != customer:
            raise RowProblem(field, f"invoice {name!r} is {found.customer}'s, not "
                                    f"{customer}'s")
        if code != found.currency:
            raise RowProblem("currency", f"expected {found.currency} (the currency of "
                                         f"{name}), got {code!r}")
        return found

    def redated(self, when: datetime.date) -> tuple[datetime.date, dict[str, object]]:
        """The day to book ``when`` on (the first open day, if its month is closed) and
        the metadata that says so."""
        if self.closed is None or when > self.closed:
            return when, {}
        return (self.closed + datetime.timedelta(days=1),
                {"original_date": when, "prior_period": month_of(when)})


def customer_of(contracts: ContractSet, values: dict[str, str]) -> str:
    customer = (values.get("customer") or "").strip()
    if not customer:
        raise RowProblem("customer", "is required but missing")
    if customer not in contracts.customers:
        known = ", ".join(sorted(contracts.customers)[:10])
        raise RowProblem("customer", f"unknown customer {customer!r} (expected one of the "
                                     f"contracts: {known})")
    return customer


def contract_currencies(contracts: ContractSet, customer: str) -> list[str]:
    return sorted({c.currency for c in contracts.customers[customer].contracts})


class ReceivableImporter(CsvImporter):
    """Base of the payments and credit notes importers: ``book_row`` gives one row's
    transaction (RowProblem to quarantine it, None for a duplicate)."""

    kind = "payments"
    archive_account = accounts.BANK

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.BANK, index: InvoiceIndex | None = None) -> None:
        self.contracts = as_contracts(contracts)
        self.cash_account = account
        self.index = index if index is not None else InvoiceIndex()
        self.results: dict[str, Extraction] = {}
        self.progress = Progress()

    def book_row(self, values: dict[str, str], provenance: dict[str, object]
                 ) -> data.Transaction | None:
        raise NotImplementedError

    def sort_key(self, entry: data.Transaction) -> tuple[object, ...]:
        raise NotImplementedError

    def row_key(self, values: dict[str, str]) -> str:
        """The row's dedupe key (its payment or credit note id)."""
        raise NotImplementedError

    # -- beangulp ----------------------------------------------------------------------------

    def account(self, filepath: str) -> data.Account:
        return self.archive_account

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        self.index.register(existing)
        result = self.run(Path(filepath))
        self.results[str(filepath)] = result
        return list(result.entries)

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """Nothing to do: ``extract`` already dropped every id the book holds."""

    # -- the work ------------------------------------------------------------------------------

    def payee(self, customer: str) -> str:
        found = self.contracts.customers.get(customer)
        return found.name if found else customer

    def run(self, path: Path, dry: bool = False) -> Extraction:
        sha256 = file_sha256(path)
        result = Extraction(source=path, sha256=sha256, importer=self.name, kind=self.kind)
        own = self.index.replay(sha256)
        try:
            self._rows(path, sha256, result, own, dry)
        finally:
            for entry in own.values():  # rows no longer there (not the same file): kept
                self.index.book(entry)
        result.entries.sort(key=self.sort_key)
        if result.read and len(result.quarantine) == result.read and all(
                q.field == "(line)" for q in result.quarantine):
            raise UnreadableSource(f"{path}: no row could be read as CSV "
                                   f"({result.quarantine[0].reason} on line "
                                   f"{result.quarantine[0].line})")
        return result

    def _rows(self, path: Path, sha256: str, result: Extraction,
              own: dict[str, data.Transaction], dry: bool) -> None:
        for row in csv_rows(path, self.progress):
            result.read += 1
            try:
                if isinstance(row.values, RowProblem):
                    raise row.values
                booked = own.pop(self.row_key(row.values), None)
                if booked is not None:  # imported before: as it was, then
                    self.index.book(booked)
                    result.duplicates += 1
                    continue
                entry = self.book_row(row.values, {"source": path.name, "sha256": sha256})
            except RowProblem as problem:
                result.quarantine.append(Quarantined(row.line, problem.field, problem.reason,
                                                     row.text))
                continue
            if entry is None:
                result.duplicates += 1
                continue
            result.imported += 1
            result.entries.append(entry)
            if not dry:
                self.index.book(entry)


def invoice_names(text: str) -> list[str]:
    """The invoices a row names: ``;``-separated, in order (RowProblem if one repeats)."""
    names = [name.strip() for name in (text or "").split(";")]
    names = [name for name in names if name]
    for name in names:
        name_text(name, "invoice")
    if len(set(names)) != len(names):
        raise RowProblem("invoice", f"expected each invoice once, got {text.strip()!r}")
    return names


class Importer(ReceivableImporter):
    """Canonical customer payments, CSV."""

    required = COLUMNS

    def sort_key(self, entry: data.Transaction) -> tuple[object, ...]:
        return (entry.date, entry.meta["customer"], entry.meta["payment_id"])

    def row_key(self, values: dict[str, str]) -> str:
        return (values.get("payment_id") or "").strip()

    def book_row(self, values: dict[str, str], provenance: dict[str, object]
                 ) -> data.Transaction | None:
        when = day(values["date"], "date")
        customer = customer_of(self.contracts, values)
        names = invoice_names(values["invoice"])
        amount = money(values["amount"], "amount")
        code = values["currency"].strip().upper()
        payment_id = name_text(values["payment_id"].strip(), "payment_id")
        if not payment_id:
            raise RowProblem("payment_id", "is required but missing (the payment's id at "
                                           "the bank or processor: the dedupe key)")
        if payment_id in self.index.keys:
            return None
        if payment_id in self.index.purchase_ids:
            raise RowProblem("payment_id", f"{payment_id!r} is the payment id of a purchase "
                                           f"in the book (expected each payment once)")
        for name in names:
            self.index.invoice_for(name, customer, code)
        if not names:
            expected = contract_currencies(self.contracts, customer)
            if code not in expected:
                raise RowProblem("currency", f"expected {' or '.join(expected)} (the "
                                             f"currency of {customer}'s contracts), got "
                                             f"{code!r}")
        open_amounts = {name: self.index.open_amount(name) for name in names}
        applied, rest = apply_payment(amount, names, open_amounts)
        from_credits = payment_id.startswith(APPLY)
        if from_credits:
            if not names:
                raise RowProblem("invoice", "expected the invoices to apply the customer's "
                                            "credits to (payment_id apply:...)")
            held = self.index.held.get(customer, ZERO)
            if amount > held:
                raise RowProblem("amount", f"expected at most {held} (the credits "
                                           f"{customer} holds), got {amount}")
            if rest:
                raise RowProblem("amount", f"expected at most "
                                           f"{sum(open_amounts.values(), ZERO)} (what "
                                           f"{', '.join(names)} have open), got {amount}")
        when, moved = self.index.redated(when)
        payment = CustomerPayment(date=when, customer=customer, amount=amount, currency=code,
                                  payment_id=payment_id, invoices=tuple(names),
                                  applied=tuple(applied), credits=rest,
                                  from_credits=from_credits)
        return entries.payment_entry(payment, self.payee(customer), {**moved, **provenance},
                                     self.cash_account)
