"""Canonical credit purchases CSV (DESIGN.md):

    date,customer,contract,pack,amount,currency,payment_id,credits,expires
    2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-001,,
    2026-02-10,acme,,large,4500.00,USD,,,           <- no payment yet: a receivable

``pack`` is a pack of the customer's contract (or a modification id, for the payment of
the credits it adds); ``contract`` may be empty (the contract in force on the date);
``credits`` and ``expires`` (optional columns) override the pack for this purchase.
Each row books one transaction (see ``credits``); ``payment_id`` is the dedupe key.

A row with ``amount`` 0 and a ``kind`` (optional column: ``concession`` or
``promotional``) is a grant of free credits (docs/grants.md): ``pack`` names it (a pack
of the contract gives its credits and expiry; any other name needs ``credits``), and
the contract must allow the kind (``grant_kinds``). Optional ``priority`` (0-100, lower
drawn first; default the pack's, else 50) sets the lot's draw priority, on any row;
optional ``void`` (a date after the grant) voids a grant's credits from that day. A paid
row keeps the price check:

    date,customer,contract,pack,amount,currency,payment_id,credits,expires,kind
    2026-02-01,hooli,hooli-2026,signup,0,USD,grant-hooli-1,5000,2026-04-30,promotional

``amount`` is what the customer paid. Optional ``tax`` (the part of ``amount`` that is
tax collected, 0 when empty) goes to ``Liabilities:Sales-Tax:<tax_jurisdiction>``
(column, else the importer's ``tax_jurisdiction``, else ``Unknown``), and the contract
liability gets ``amount - tax``, which must be the pack's price (or the modification's)
unless ``credits`` overrides the pack:

    date,customer,contract,pack,amount,currency,payment_id,tax,tax_jurisdiction
    2026-01-03,acme,acme-2026,standard,1080.00,USD,pay-002,80.00,US-NY

    Assets:Bank                         1080.00 USD
    Liabilities:Sales-Tax:US-NY          -80.00 USD
    Liabilities:Deferred-Revenue:Acme  -1000.00 USD

The cash account is ``Assets:Bank`` (``account``; ``importers.yaml`` ``purchases:
{account: ...}``).
Amounts and credits must fit the decimal context (``purchase_base``: an amount has at
most 26 digits before the point, to the cent); a column named twice in the header
refuses the file.

    importer = Importer("contracts/", account="Assets:Bank")
    entries = importer.extract("purchases-2026-01.csv", existing=[])
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation, getcontext

from tokenbooks.plugins.rules.model import FREE_KINDS, Contract
from tokenbooks.plugins.rules.records import Purchase

from .purchase_base import (
    Booking,
    PurchaseImporter,
    cents,
    check_price,
    contract_for,
    day,
    money,
    optional_cents,
    pack_terms,
    split_tax,
    tax_account,
)
from .usage import RowProblem, name_text

COLUMNS = ("date", "customer", "contract", "pack", "amount", "currency", "payment_id")


def credits_override(text: str) -> Decimal | None:
    raw = (text or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value != value.to_integral_value():
        raise RowProblem("credits", f"expected a whole number of credits >= 0, got "
                                    f"{raw[:40]!r}")
    if value and value.adjusted() + 1 > getcontext().prec:
        raise RowProblem("credits", f"expected at most {getcontext().prec} digits (the "
                                    f"decimal context), got {raw[:40]!r}")
    return value.quantize(Decimal(1))


class Importer(PurchaseImporter):
    """Canonical credit purchases, CSV."""

    required = COLUMNS

    def grant(self, values: dict[str, str], when: datetime.date, customer: str, pack: str,
              kind: str, occurrence: dict[str, int]) -> Booking:
        """A row with amount 0 and a ``kind``: credits granted free (docs/grants.md).
        ``pack`` names the grant (a pack of the contract, whose credits and expiry it
        then takes, or any name); ``credits`` is required otherwise."""
        amount = cents(values["amount"], "amount", ">= 0")
        if amount:
            raise RowProblem("kind", f"expected amount 0 for a grant of kind {kind!r}, got "
                                     f"{amount} (a paid purchase has no kind)")
        if not kind:
            raise RowProblem("amount", "expected an amount > 0, or 0 with a kind "
                                       "(concession, promotional) for a grant")
        if kind not in FREE_KINDS:
            raise RowProblem("kind", f"expected one of {', '.join(map(repr, FREE_KINDS))} for "
                                     f"a grant with amount 0, got {kind!r}")
        found = self.contracts.customers.get(customer)
        if found is None:
            raise RowProblem("customer", f"unknown customer {customer!r}")
        contract_id = values["contract"].strip()
        contract = found.contract_for(contract_id or None, when)
        if contract is None:
            raise RowProblem("contract", f"customer {customer!r} has no contract "
                                         f"{contract_id!r}" if contract_id else
                                         f"customer {customer!r} has no contract in force "
                                         f"on {when}")
        if kind not in contract.grant_kinds:
            raise RowProblem("kind", f"grant kind {kind!r} is not allowed by contract "
                                     f"{contract.id!r} (grant_kinds: "
                                     f"{', '.join(sorted(contract.grant_kinds))})")
        currency = row_currency(values, contract)
        credits, expires = (pack_terms(contract, pack, when) if pack in contract.packs
                            else (None, None))
        override = credits_override(values.get("credits", ""))
        if override is not None:
            credits = override
        if not credits:
            raise RowProblem("credits", f"is required for a grant of {pack!r} (not a pack of "
                                        f"contract {contract.id!r}): expected a whole "
                                        f"number of credits > 0")
        expires = row_expires(values, when, expires, "grant")
        void = None
        if (values.get("void") or "").strip():
            void = day(values["void"], "void")
            if void <= when:
                raise RowProblem("void", f"expected a date after the grant {when}, got {void}")
        payment_id = name_text(values["payment_id"].strip(), "payment_id")
        key = "" if payment_id else import_key(
            f"grant/{customer}/{contract.id}/{pack}/{when}/{kind}", occurrence)
        return Booking(Purchase(date=when, customer=customer, contract=contract.id,
                                pack=pack, amount=amount, currency=currency,
                                payment_id=payment_id, credits=credits, expires=expires,
                                grant=kind, priority=row_priority(values), void=void), key)

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[Booking]:
        when = day(values["date"], "date")
        customer = values["customer"].strip()
        if not customer:
            raise RowProblem("customer", "is required but missing")
        pack = values["pack"].strip()
        if not pack:
            raise RowProblem("pack", "is required but missing")
        kind = (values.get("kind") or "").strip()
        if kind or (values.get("amount") or "").strip() in ("0", "0.0", "0.00"):
            return [self.grant(values, when, customer, pack, kind, occurrence)]
        contract = contract_for(self.contracts, customer, values["contract"].strip(), pack,
                                when)
        amount = money(values["amount"], "amount")
        currency = row_currency(values, contract)
        tax = optional_cents(values.get("tax"), "tax")
        consideration = split_tax(amount, tax, "amount", "tax")
        credits, expires = pack_terms(contract, pack, when)
        override = credits_override(values.get("credits", ""))
        if override is not None:
            credits = override
        check_price(contract, pack, consideration, "amount", tax, override is not None)
        account = (tax_account(values.get("tax_jurisdiction") or self.tax_jurisdiction,
                               "tax_jurisdiction") if tax else "")
        expires = row_expires(values, when, expires, "purchase")
        payment_id = name_text(values["payment_id"].strip(), "payment_id")
        key = "" if payment_id else import_key(
            f"unpaid/{customer}/{contract.id}/{pack}/{when}/{amount}", occurrence)
        if (values.get("void") or "").strip():
            raise RowProblem("void", "a paid purchase is never voided: refund it (a void is "
                                     "for granted credits)")
        return [Booking(Purchase(date=when, customer=customer, contract=contract.id,
                                 pack=pack, amount=consideration, currency=currency,
                                 payment_id=payment_id, credits=credits, expires=expires,
                                 paid=bool(payment_id), priority=row_priority(values)),
                        key, tax=tax, tax_account=account)]


def row_currency(values: dict[str, str], contract: Contract) -> str:
    """The row's currency, which must be the contract's (RowProblem)."""
    currency = values["currency"].strip().upper()
    if currency != contract.currency:
        raise RowProblem("currency", f"expected {contract.currency} (the currency of "
                                     f"contract {contract.id!r}), got {currency!r}")
    return currency


def row_priority(values: dict[str, str]) -> int | None:
    """The row's ``priority`` (a whole number 0-100, lower drawn first), else None (the
    pack's)."""
    text = (values.get("priority") or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 100:
        raise RowProblem("priority", f"expected a whole number 0-100 (lower drawn first), "
                                     f"got {text!r}")
    return int(text)


def row_expires(values: dict[str, str], when: datetime.date, default: datetime.date | None,
                what: str) -> datetime.date | None:
    """The row's ``expires`` (after ``when``: RowProblem), else ``default``."""
    if not (values.get("expires") or "").strip():
        return default
    expires = day(values["expires"], "expires")
    if expires <= when:
        raise RowProblem("expires", f"expected a date after the {what} {when}, got {expires}")
    return expires


def import_key(base: str, occurrence: dict[str, int]) -> str:
    """The dedupe key of a row without a payment id: ``base`` and its occurrence in the
    file (two like rows are two purchases)."""
    occurrence[base] += 1
    return f"{base}#{occurrence[base]}"
