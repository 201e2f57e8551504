"""Stripe's itemized balance report (``balance_change_from_activity.itemized.*``, the
Dashboard's Balance report or the Reporting API): every movement of the Stripe balance
with its real date, so charges, refunds, fees and payouts as they happened.

    balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,...,charge_id,...
    txn_3QhK2b...,2025-11-03 14:22:05,2025-11-05 00:00:00,usd,20.00,0.88,19.12,charge,ch_3QhK2b...,...
    txn_3QhN0d...,2025-11-05 10:11:12,2025-11-05 10:11:12,usd,-25.00,0.00,-25.00,refund,re_3QhN0d...,...,ch_3QhM9c...,...

Identified by its header (``balance_transaction_id``, ``created_utc``, ``currency``,
``gross``, ``reporting_category``). Each row, on the UTC day of ``created_utc``:

- ``charge``: a purchase of ``gross`` (what the customer paid) into the clearing
  account ``Assets:Stripe``, with its ``fee`` to ``Expenses:Payment-Processing``, the
  charge id (``charge_id``, else ``source_id``) as ``payment_id``: the same transaction
  as the payments export's (``importers.stripe``), so whichever export comes first books
  the charge and the other finds it booked; a charge booked without its fee gets the
  fee on its own (``rule: "fee"``, ``fee_of`` the charge). The report has no tax
  column: a charge with tax is imported from the payments export (``Tax``) first.
- ``refund``: a refund of ``-gross``, dated when it happened, with the refund's id
  (``source_id``, ``re_...``) as ``payment_id`` and ``refund_of`` the charge
  (``charge_id``, required); tax given back in proportion to the charge's. A refund the
  payments export already booked for that charge (keyed ``<charge>/refund/<total>``) is
  recognised and not booked again.
- ``payout`` (and ``payout_reversal``): ``-gross`` from ``Assets:Stripe`` to
  ``Assets:Bank`` (``bank``), ``rule: "payout"``, ``payout_id`` (``source_id``): the
  clearing account then ties to Stripe's payout report and the bank statement.
- ``fee`` (Stripe's own fees: Billing, Radar...): ``-net`` to
  ``Expenses:Payment-Processing``, ``fee_of`` the balance transaction.

    2025-11-07 * "Stripe" "Payout po_1QiA1b..."
      rule: "payout"
      payout_id: "po_1QiA1bLkdIwHu7ixMnBvCxZa"
      Assets:Bank      115.92 USD
      Assets:Stripe   -115.92 USD

Anything else (a dispute, an adjustment...), a refund of a charge the book does not
hold, a refund beyond its charge, a currency that is not the contract's, ``net`` ≠
``gross - fee``: quarantined with the line, the column and what was expected. Charges
are booked before the other rows of the file, so a refund may precede its charge.
Customer and pack as for the payments export: ``payment_metadata[customer]``,
``payment_metadata[pack]``, ``customers`` (``customer_id`` or ``customer_email``),
``packs`` or ``description_pattern`` (``description``):

    importer = Importer("contracts/", customers={"cus_QrvQguzkIK8zTj": "hooli"},
                        packs={"Credit pack: 2,000 credits": "starter"})
    entries = importer.extract("balance_change_from_activity.csv", existing=[])
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal

from tokenbooks.plugins.entries import purchases as purchase_entries

from . import stripe
from .purchase_base import Booking, Row, cents, money
from .usage import RowProblem, name_text

REQUIRED = ("balance_transaction_id", "created_utc", "currency", "gross", "reporting_category")
CATEGORIES = ("charge", "refund", "payout", "payout_reversal", "fee")
ZERO = Decimal("0.00")


class Importer(stripe.Importer):
    """Stripe itemized balance report, CSV."""

    required = REQUIRED
    customer_columns = ("customer_id", "customer_email")
    created_columns = ()  # created_utc is in REQUIRED
    description_column = "description"

    def ordered(self, rows: Iterable[Row]) -> Iterable[Row]:
        """Charges first (a refund may be listed before its charge), then the rest, each
        in the file's order."""
        rows = list(rows)

        def first(row: Row) -> int:
            values = row.values
            is_charge = (not isinstance(values, RowProblem)
                         and (values.get("reporting_category") or "").strip().lower()
                         == "charge")
            return 0 if is_charge else 1

        return sorted(rows, key=first)

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[Booking]:
        txn = name_text((values.get("balance_transaction_id") or "").strip(),
                        "balance_transaction_id")
        if not txn:
            raise RowProblem("balance_transaction_id", "is required but missing")
        when = stripe.created(values["created_utc"], "created_utc")
        currency = (values.get("currency") or "").strip().upper()
        if not currency:
            raise RowProblem("currency", "is required but missing")
        gross = cents(values["gross"], "gross", "to the cent")
        fee = cents((values.get("fee") or "").strip() or "0", "fee", "to the cent")
        net_text = (values.get("net") or "").strip()
        if net_text and cents(net_text, "net", "to the cent") != gross - fee:
            raise RowProblem("net", f"expected gross - fee = {gross - fee}, got {net_text}")
        source = name_text((values.get("source_id") or "").strip(), "source_id")
        category = (values.get("reporting_category") or "").strip().lower()
        if category == "charge":
            return self.charge_row(values, source, when, gross, fee, currency)
        if category == "refund":
            return self.refund_row(values, source or txn, when, gross, fee, currency)
        if category in ("payout", "payout_reversal"):
            payout = source or txn
            if payout in self.index.payouts:
                return []
            entry = purchase_entries.payout_entry(payout, when, -gross, currency,
                                                  stripe.STRIPE_PAYEE, {}, self.cash_account,
                                                  self.bank, fee)
            return [Booking(entry=entry, payout=payout)]
        if category == "fee":
            key = source or txn
            if key in self.index.fees:
                return []
            entry = purchase_entries.fee_entry(key, when, -(gross - fee), currency,
                                               stripe.STRIPE_PAYEE, {}, self.cash_account)
            return [Booking(entry=entry, fee_of=key)]
        raise RowProblem("reporting_category",
                         f"expected one of {', '.join(CATEGORIES)}, got {category!r}: not "
                         f"booked (book it by hand)")

    def charge_row(self, values: dict[str, str], source: str, when: datetime.date, gross: Decimal,
                   fee: Decimal, currency: str) -> list[Booking]:
        charge = name_text((values.get("charge_id") or "").strip(), "charge_id") or source
        if not charge:
            raise RowProblem("source_id", "expected the charge id (source_id or charge_id), "
                                          "got none")
        if charge in self.index.keys:  # booked: by the payments export, or before
            return self.fee_only(charge, when, fee, currency)
        amount = money(values["gross"], "gross")
        if stripe.metadata(values, stripe.INVOICE):  # a customer paying invoices
            return self.invoice_payment(values, charge, when, amount, currency, ZERO, fee,
                                        {"amount": "gross", "currency": "currency",
                                         "tax": "gross"})
        _, booking = self.charge(values, charge, when, amount, currency, ZERO, fee,
                                 {"amount": "gross", "currency": "currency", "tax": "gross"})
        return [booking]

    def refund_row(self, values: dict[str, str], refund_id: str, when: datetime.date, gross: Decimal,
                   fee: Decimal, currency: str) -> list[Booking]:
        charge = name_text((values.get("charge_id") or "").strip(), "charge_id")
        if not charge:
            raise RowProblem("charge_id", "expected the id of the refunded charge (add the "
                                          "charge_id column to the report), got none")
        if gross >= 0:
            raise RowProblem("gross", f"expected a negative amount for a refund (money back "
                                      f"to the customer), got {gross}")
        amount = -gross
        if refund_id in self.index.keys:
            return []
        known = self.index.charges.get(charge)
        if known is None:
            raise RowProblem("charge_id", f"refund of an unknown payment {charge!r}: "
                                          f"expected a charge the book holds (import its "
                                          f"charge first)")
        if currency != known.currency:
            raise RowProblem("currency", f"expected {known.currency} (the currency of charge "
                                         f"{charge}), got {currency!r}")
        index = self.index
        itemized = index.itemized.get(charge, ZERO)
        if amount > known.paid - itemized:
            raise RowProblem("gross", f"expected at most {known.paid - itemized} (charge "
                                      f"{charge} paid {known.paid}, refunded {itemized} so "
                                      f"far by refunds of their own), got {amount}: the "
                                      f"refund over-applies")
        # Refunds of this charge the payments export booked (without their own id) and
        # that no refund of this report has been matched to yet.
        unmatched = index.refunded.get(charge, ZERO) - itemized
        if unmatched >= amount:
            index.keys.add(refund_id)
            index.itemized[charge] += amount
            return []
        matched = max(unmatched, ZERO)
        booking = self.refund(charge, refund_id, when, amount - matched, "gross", known)
        index.itemized[charge] += matched
        booking.fee = fee
        return [booking]
