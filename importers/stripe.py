"""Stripe's Dashboard payments export (``unified_payments.csv``): credit purchases, their
refunds, the processor's fee and the tax collected.

    id,Description,...,Created (UTC),Amount,Amount Refunded,Currency,...,Fee,Tax,...,Status,...
    ch_3QhM...,"Credit pack: 10,000 credits",...,2025-11-04 08:03:41,100.00,25.00,usd,...,3.20,0.00,...

A charge that was paid (``Paid``, ``Succeeded``, ``Refunded``, ``Partially Refunded``)
books a purchase on its UTC date with the charge id as ``payment_id``, gross into the
clearing account ``Assets:Stripe`` (``account``; ``importers.yaml`` ``stripe: {account:
...}``): ``Amount`` is what the customer paid, tax included, so the contract liability
gets ``Amount - Tax`` (which must be the pack's price), the ``Tax`` goes to
``Liabilities:Sales-Tax:<Jurisdiction>`` and the ``Fee`` to ``Expenses:Payment-Processing``
out of the clearing account, all in one transaction:

    2025-11-04 * "Tenant Co" "Credit purchase: pack-10k" ^tenant-2025
      payment_id: "ch_3QhM9cLkdIwHu7ix1fG2hI3j"
      ...
      Assets:Stripe                         100.00 USD
      Liabilities:Deferred-Revenue:Tenant  -100.00 USD
      Expenses:Payment-Processing             3.20 USD
      Assets:Stripe                          -3.20 USD

The export has no tax jurisdiction column: it is the charge's metadata
``tax_jurisdiction`` (``tax_jurisdiction (metadata)``), else the importer's
``tax_jurisdiction`` (``importers.yaml``), else ``Unknown`` (the card's address is the
card's, not the customer's tax location: it is not used).

A charge with ``Amount Refunded`` > 0 also books a refund (``rule: "refund"``,
``refund_of`` the charge) of what was refunded beyond what the book already holds for
that charge (refunds from this export and from the balance export,
``importers.stripe_balance``, alike), so a later export showing a further partial
refund adds only the difference; the tax given back is in proportion to the charge's.
The export has no refund date: the refund is dated on the charge's day while that
month is open, and on the first day of the first open month once it is closed (with
``original_date``, the charge's day, and ``prior_period``: ``importers.late``); the
balance export gives the real date. A charge already booked (by the balance export,
or an earlier export) is not booked again; if its fee is not in the book, the fee is
booked on its own (``rule: "fee"``, ``fee_of`` the charge).

A charge whose metadata names tokenbooks invoices (``invoice (metadata)``,
``payment_metadata[invoice]``: ``INV-2026-01-GLOBEX``, several separated by ``;``) is a
customer paying them, not a purchase: the gross into the clearing account against
``Assets:Receivable:<C>`` of each invoice in the order given (up to what it has open),
the rest held in ``Liabilities:Customer-Credits:<C>``, and its fee (``rule:
"payment"``, ``payment_id`` the charge: ``docs/receivables.md``). An unknown invoice,
another customer's or another currency is quarantined naming the metadata column.

A charge that failed or was not captured, a currency that is not the contract's, an
amount that is not the pack's price, a refund beyond the charge: quarantined with the
line, the column and what was expected.

The tokenbooks customer, pack and (optionally) contract come from the charge's
metadata columns (``customer (metadata)``, ``pack (metadata)``, ``contract (metadata)``),
else from ``customers`` (Stripe ``Customer ID`` or e-mail -> customer id), ``packs``
(``Description`` -> pack) or ``description_pattern`` (a regex with named groups
``customer`` and/or ``pack``):

    importer = Importer("contracts/", customers={"cus_QrvQguzkIK8zTj": "hooli"},
                        packs={"Credit pack: 2,000 credits": "starter"})
    entries = importer.extract("unified_payments.csv", existing=[])

Amounts, the charge id and the header are checked as ``purchase_base`` says (digits
that fit the decimal context, a name within bounds, each column once).
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from decimal import Decimal

from beancount.core import data

from tokenbooks.plugins.entries import payments as payment_entries
from tokenbooks.plugins.entries import purchases as purchase_entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.invoicing import apply_payment
from tokenbooks.plugins.rules.model import Contract, ContractSet
from tokenbooks.plugins.rules.records import CustomerPayment, Purchase

from .base import read_head
from .csvtext import header_of
from .payments import InvoiceIndex, invoice_names
from .purchase_base import (
    Booking,
    Charge,
    PaymentIndex,
    PurchaseImporter,
    cents,
    check_price,
    contract_for,
    money,
    optional_cents,
    pack_terms,
    split_tax,
    tax_account,
)
from .usage import RowProblem, name_text

REQUIRED = ("id", "Amount", "Currency", "Status")
# The charge's creation time: the unified payments export's name, the older export's,
# and the legacy one's (its time read as UTC, as the exports are).
CREATED = ("Created date (UTC)", "Created (UTC)", "Created")
PAID = ("paid", "succeeded", "refunded", "partially refunded")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
STRIPE_PAYEE = "Stripe"
INVOICE = "invoice"  # the metadata key of the tokenbooks invoices a charge pays


def created(text: str, name: str = "Created (UTC)") -> datetime.date:
    raw = (text or "").strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
                    "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise RowProblem(name, f"expected YYYY-MM-DD HH:MM:SS, got {raw!r}")


def metadata(values: Mapping[str, str], key: str) -> str:
    for column in (f"{key} (metadata)", f"metadata[{key}]", f"payment_metadata[{key}]"):
        if (values.get(column) or "").strip():
            return values[column].strip()
    return ""


class Importer(PurchaseImporter):
    """Stripe payments export, CSV."""

    required: tuple[str, ...] = REQUIRED
    # The columns of the export that name the customer and describe the charge.
    customer_columns: tuple[str, ...] = ("Customer ID", "Customer Email")
    description_column = "Description"
    created_columns: tuple[str, ...] = CREATED  # one of them is required

    def identify(self, filepath: str) -> bool:
        if not super().identify(filepath):
            return False
        if not self.created_columns:
            return True
        head = read_head(filepath)
        names = set(header_of(head)[0]) if head is not None else set()
        return any(column in names for column in self.created_columns)

    def created_of(self, values: Mapping[str, str]) -> datetime.date:
        """The UTC day of a row's creation time, from the first creation column it has."""
        for column in self.created_columns:
            if column in values:
                return created(values[column], column)
        raise RowProblem(self.created_columns[0], "is required but missing")

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.STRIPE, index: PaymentIndex | None = None,
                 customers: Mapping[str, str] | None = None,
                 packs: Mapping[str, str] | None = None,
                 description_pattern: str | None = None, tax_jurisdiction: str = "",
                 bank: str = accounts.BANK, invoices: InvoiceIndex | None = None) -> None:
        super().__init__(contracts, account, index, tax_jurisdiction)
        self.invoices = invoices if invoices is not None else InvoiceIndex()
        self.customers = dict(customers or {})
        self.packs = dict(packs or {})
        self.pattern = re.compile(description_pattern) if description_pattern else None
        self.bank = bank

    def _described(self, values: Mapping[str, str], group: str) -> str:
        if self.pattern is None:
            return ""
        match = self.pattern.search(values.get(self.description_column) or "")
        if match and group in match.groupdict() and match.group(group):
            return match.group(group)
        return ""

    def customer(self, values: Mapping[str, str]) -> str:
        found = metadata(values, "customer")
        for column in self.customer_columns:
            found = found or self.customers.get((values.get(column) or "").strip(), "")
        found = found or self._described(values, "customer")
        if not found:
            first = self.customer_columns[0]
            raise RowProblem(first, "expected a customer: metadata 'customer', a "
                                    "mapped customer id or e-mail, or a description "
                                    f"pattern; got {values.get(first)!r}")
        return found

    def pack(self, values: Mapping[str, str]) -> str:
        description = (values.get(self.description_column) or "").strip()
        found = (metadata(values, "pack") or self.packs.get(description, "")
                 or self._described(values, "pack"))
        if not found:
            raise RowProblem(self.description_column,
                             "expected a pack: metadata 'pack', a mapped description or a "
                             f"pattern; got {description!r}")
        return found

    def jurisdiction(self, values: Mapping[str, str]) -> str:
        """The Sales-Tax account of a charge: metadata, else the importer's, else Unknown
        (RowProblem naming ``tax_jurisdiction``)."""
        return tax_account(metadata(values, "tax_jurisdiction") or self.tax_jurisdiction,
                           "tax_jurisdiction")

    def charge(self, values: Mapping[str, str], charge: str, when: datetime.date,
               gross: Decimal, currency: str, tax: Decimal, fee: Decimal,
               names: Mapping[str, str]) -> tuple[Contract, Booking]:
        """The purchase of a paid charge (``names``: the columns of amount, currency,
        tax), checked against the customer's contract (RowProblem)."""
        customer = self.customer(values)
        pack = self.pack(values)
        contract = contract_for(self.contracts, customer, metadata(values, "contract"), pack,
                                when)
        if currency != contract.currency:
            raise RowProblem(names["currency"], f"expected {contract.currency} (the currency "
                                                f"of contract {contract.id!r}), got "
                                                f"{currency!r}")
        consideration = split_tax(gross, tax, names["amount"], names["tax"])
        check_price(contract, pack, consideration, names["amount"], tax)
        account = self.jurisdiction(values) if tax else ""
        credits, expires = pack_terms(contract, pack, when)
        purchase = Purchase(date=when, customer=customer, contract=contract.id, pack=pack,
                            amount=consideration, currency=currency, payment_id=charge,
                            credits=credits, expires=expires)
        return contract, Booking(purchase, tax=tax, tax_account=account, fee=fee)

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        self.invoices.register(existing)  # the invoices a charge may pay
        return super().extract(filepath, existing)

    def paid_invoices(self, entry: data.Transaction, dry: bool) -> None:
        if not dry:
            self.invoices.book(entry)

    def invoice_payment(self, values: Mapping[str, str], charge: str, when: datetime.date,
                        gross: Decimal, currency: str, tax: Decimal, fee: Decimal,
                        names: Mapping[str, str]) -> list[Booking]:
        """A charge that pays invoices (metadata ``invoice``: ``INV-...``, several
        separated by ``;``): a customer payment into the clearing account, applied to
        them in the order given, the rest held in the customer's credits; and its fee."""
        if charge in self.index.keys:
            return self.fee_only(charge, when, fee, currency)
        if tax:
            raise RowProblem(names["tax"], f"expected no tax on a payment of invoices (an "
                                           f"invoice carries its own), got {tax}")
        customer = self.customer(values)
        column = next(c for c in (f"{INVOICE} (metadata)", f"metadata[{INVOICE}]",
                                  f"payment_metadata[{INVOICE}]")
                      if (values.get(c) or "").strip())
        wanted = invoice_names(metadata(values, INVOICE))
        for name in wanted:
            self.invoices.invoice_for(name, customer, currency, column)
        applied, rest = apply_payment(
            gross, wanted, {n: self.invoices.open_amount(n) for n in wanted})
        payment = CustomerPayment(date=when, customer=customer, amount=gross,
                                  currency=currency, payment_id=charge,
                                  invoices=tuple(wanted), applied=tuple(applied),
                                  credits=rest, from_credits=False)
        entry = payment_entries.payment_entry(payment, self.payee(customer), {},
                                              self.cash_account)
        found = [Booking(entry=entry, payment=charge)]
        if fee:
            found.append(Booking(entry=purchase_entries.fee_entry(
                charge, when, fee, currency, STRIPE_PAYEE, {}, self.cash_account,
                customer=customer), fee_of=charge))
        return found

    def fee_only(self, charge: str, when: datetime.date, fee: Decimal, currency: str,
                 customer: str = "") -> list[Booking]:
        """The fee of a charge already booked without its fee (none if it has one)."""
        if not fee or charge not in self.index.keys or charge in self.index.fees:
            return []
        known = self.index.charges.get(charge)
        entry = purchase_entries.fee_entry(
            charge, when, fee, currency, STRIPE_PAYEE, {}, self.cash_account,
            customer=known.customer if known else customer)
        return [Booking(entry=entry, fee_of=charge)]

    def refund(self, charge: str, refund_id: str, when: datetime.date, gross: Decimal,
               name: str, known: Charge) -> Booking:
        """A refund of ``gross`` more of ``charge`` (RowProblem naming ``name`` if it
        over-applies)."""
        booked = self.index.refunded.get(charge, ZERO)
        if booked + gross > known.paid:
            raise RowProblem(name, f"expected at most {known.paid - booked} (charge {charge} "
                                   f"paid {known.paid}, refunded {booked} so far), got "
                                   f"{gross}: the refund over-applies")
        consideration, tax = self.index.refund_split(charge, gross, known)
        return Booking(Purchase(
            date=when, customer=known.customer, contract=known.contract, pack=known.pack,
            amount=consideration, currency=known.currency, payment_id=refund_id,
            kind="refund", refund_of=charge), tax=tax, tax_account=known.tax_account)

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[Booking]:
        charge = name_text(values["id"].strip(), "id")
        if not charge:
            raise RowProblem("id", "is required but missing")
        status = (values.get("Status") or "").strip()
        if status.lower() not in PAID:
            raise RowProblem("Status", f"expected a paid charge ({', '.join(PAID)}), got "
                                       f"{status!r}: nothing to book")
        if (values.get("Captured") or "true").strip().lower() == "false":
            raise RowProblem("Captured", "expected a captured charge, got false")
        when = self.created_of(values)
        amount = money(values["Amount"], "Amount")
        currency = values["Currency"].strip().upper()
        tax = optional_cents(values.get("Tax"), "Tax")
        fee = optional_cents(values.get("Fee"), "Fee")
        refunded_text = (values.get("Amount Refunded") or "0").strip() or "0"
        refunded = cents(refunded_text, "Amount Refunded", ">= 0")
        if refunded < 0:
            raise RowProblem("Amount Refunded", f"expected an amount >= 0 to the cent, got "
                                                f"{refunded_text!r}")
        if refunded > amount:
            raise RowProblem("Amount Refunded", f"expected at most the amount {amount}, got "
                                                f"{refunded}")
        if metadata(values, INVOICE):
            if refunded:
                raise RowProblem("Amount Refunded", f"a refund of a payment of invoices is "
                                                    f"not booked by the importer (book a "
                                                    f"credit note, or the refund by hand), "
                                                    f"got {refunded}")
            return self.invoice_payment(values, charge, when, amount, currency, tax, fee,
                                        {"amount": "Amount", "currency": "Currency",
                                         "tax": "Tax"})
        _, booking = self.charge(values, charge, when, amount, currency, tax, fee,
                                 {"amount": "Amount", "currency": "Currency", "tax": "Tax"})
        assert booking.purchase is not None
        found = [booking, *self.fee_only(charge, when, fee, currency,
                                         booking.purchase.customer)]
        booked = self.index.refunded.get(charge, ZERO)
        own = booked - self.index.itemized.get(charge, ZERO)  # booked from this export
        if refunded < own:
            raise RowProblem("Amount Refunded", f"the book already holds {own} refunded "
                                                f"for {charge} from this export; this "
                                                f"export says {refunded}")
        # (an export older than a refund the balance export booked: nothing more to book)
        if refunded > booked:
            found.append(self.refund(charge, f"{charge}/refund/{refunded.quantize(CENT)}",
                                     when, money(str(refunded - booked), "Amount Refunded"),
                                     "Amount Refunded", self.index.charges.get(charge)
                                     or as_charge(booking)))
        return found


def as_charge(booking: Booking) -> Charge:
    """The charge a purchase booking makes (for a refund of it on the same row)."""
    purchase = booking.purchase
    assert purchase is not None
    return Charge(purchase.customer, purchase.contract, purchase.pack, purchase.currency,
                  purchase.amount + booking.tax, booking.tax, booking.tax_account)
