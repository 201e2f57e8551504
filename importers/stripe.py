"""Stripe's Dashboard payments export (``unified_payments.csv``): credit purchases and
their refunds.

    id,Description,...,Created (UTC),Amount,Amount Refunded,Currency,...,Status,...,Customer ID,...
    ch_3QhM...,"Credit pack: 10,000 credits",...,2025-11-04 08:03:41,100.00,25.00,usd,...

A charge that was paid (``Paid``, ``Succeeded``, ``Refunded``, ``Partially Refunded``)
books a purchase on its UTC date with the charge id as ``payment_id``; one with
``Amount Refunded`` > 0 also books a refund (``rule: "refund"``, ``refund_of`` the charge)
of what was refunded beyond the refunds the book already holds for that charge, so a
later export showing a further partial refund adds only the difference. A charge that
failed or was not captured is quarantined with its status. Amounts are read from their
text as Decimal, in major units.

The tokenbooks customer, pack and (optionally) contract come from the charge's
metadata columns (``customer (metadata)``, ``pack (metadata)``, ``contract (metadata)``),
else from ``customers`` (Stripe ``Customer ID`` or e-mail -> customer id), ``packs``
(``Description`` -> pack) or ``description_pattern`` (a regex with named groups
``customer`` and/or ``pack``):

    importer = Importer("contracts/", customers={"cus_QrvQguzkIK8zTj": "hooli"},
                        packs={"Credit pack: 2,000 credits": "starter"})
    entries = importer.extract("unified_payments.csv", existing=[])

The export has no refund date: a refund is dated on its charge's date (a limitation
of this export; the balance report has refund dates). Amounts, the charge id and the
header are checked as ``purchase_base`` says (digits that fit the decimal context, a
name within bounds, each column once).
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from decimal import Decimal

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import ContractSet
from tokenbooks.plugins.rules.records import Purchase

from .purchase_base import (
    PaymentIndex,
    PurchaseImporter,
    cents,
    contract_for,
    money,
    pack_terms,
)
from .usage import RowProblem, name_text

REQUIRED = ("id", "Created (UTC)", "Amount", "Currency", "Status")
PAID = ("paid", "succeeded", "refunded", "partially refunded")
CENT = Decimal("0.01")


def created(text: str) -> datetime.date:
    raw = (text or "").strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
                    "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise RowProblem("Created (UTC)", f"expected YYYY-MM-DD HH:MM:SS, got {raw!r}")


def metadata(values: Mapping[str, str], key: str) -> str:
    for column in (f"{key} (metadata)", f"metadata[{key}]"):
        if (values.get(column) or "").strip():
            return values[column].strip()
    return ""


class Importer(PurchaseImporter):
    """Stripe payments export, CSV."""

    required = REQUIRED

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.BANK, index: PaymentIndex | None = None,
                 customers: Mapping[str, str] | None = None,
                 packs: Mapping[str, str] | None = None,
                 description_pattern: str | None = None) -> None:
        super().__init__(contracts, account, index)
        self.customers = dict(customers or {})
        self.packs = dict(packs or {})
        self.pattern = re.compile(description_pattern) if description_pattern else None

    def _described(self, values: Mapping[str, str], group: str) -> str:
        if self.pattern is None:
            return ""
        match = self.pattern.search(values.get("Description") or "")
        if match and group in match.groupdict() and match.group(group):
            return match.group(group)
        return ""

    def customer(self, values: Mapping[str, str]) -> str:
        found = metadata(values, "customer")
        for column in ("Customer ID", "Customer Email"):
            found = found or self.customers.get((values.get(column) or "").strip(), "")
        found = found or self._described(values, "customer")
        if not found:
            raise RowProblem("Customer ID", "expected a customer: metadata 'customer', a "
                                            "mapped Customer ID or e-mail, or a description "
                                            f"pattern; got {values.get('Customer ID')!r}")
        return found

    def pack(self, values: Mapping[str, str]) -> str:
        description = (values.get("Description") or "").strip()
        found = (metadata(values, "pack") or self.packs.get(description, "")
                 or self._described(values, "pack"))
        if not found:
            raise RowProblem("Description", "expected a pack: metadata 'pack', a mapped "
                                            f"description or a pattern; got {description!r}")
        return found

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[tuple[Purchase, str]]:
        charge = name_text(values["id"].strip(), "id")
        if not charge:
            raise RowProblem("id", "is required but missing")
        status = (values.get("Status") or "").strip()
        if status.lower() not in PAID:
            raise RowProblem("Status", f"expected a paid charge ({', '.join(PAID)}), got "
                                       f"{status!r}: nothing to book")
        if (values.get("Captured") or "true").strip().lower() == "false":
            raise RowProblem("Captured", "expected a captured charge, got false")
        when = created(values["Created (UTC)"])
        customer = self.customer(values)
        pack = self.pack(values)
        contract = contract_for(self.contracts, customer, metadata(values, "contract"), pack,
                                when)
        amount = money(values["Amount"], "Amount")
        currency = values["Currency"].strip().upper()
        if currency != contract.currency:
            raise RowProblem("Currency", f"expected {contract.currency} (the currency of "
                                         f"contract {contract.id!r}), got {currency!r}")
        credits, expires = pack_terms(contract, pack, when)
        found = [(Purchase(date=when, customer=customer, contract=contract.id, pack=pack,
                           amount=amount, currency=currency, payment_id=charge,
                           credits=credits, expires=expires), "")]
        refunded_text = (values.get("Amount Refunded") or "0").strip() or "0"
        refunded = cents(refunded_text, "Amount Refunded", ">= 0")
        if refunded < 0:
            raise RowProblem("Amount Refunded", f"expected an amount >= 0 to the cent, got "
                                                f"{refunded_text!r}")
        if refunded > amount:
            raise RowProblem("Amount Refunded", f"expected at most the amount {amount}, got "
                                                f"{refunded}")
        booked = self.index.refunded.get(charge, Decimal(0))
        if refunded < booked:
            raise RowProblem("Amount Refunded", f"the book already holds {booked} refunded "
                                                f"for {charge}; this export says {refunded}")
        if refunded > booked:
            found.append((Purchase(
                date=when, customer=customer, contract=contract.id, pack=pack,
                amount=money(str(refunded - booked), "Amount Refunded"), currency=currency,
                payment_id=f"{charge}/refund/{refunded.quantize(CENT)}", kind="refund",
                refund_of=charge), ""))
        return found
