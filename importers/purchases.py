"""Canonical credit purchases CSV (DESIGN.md):

    date,customer,contract,pack,amount,currency,payment_id,credits,expires
    2026-01-03,acme,acme-2026,standard,1000.00,USD,pay-001,,
    2026-02-10,acme,,large,4500.00,USD,,,           <- no payment yet: a receivable

``pack`` is a pack of the customer's contract (or a modification id, for the payment of
the credits it adds); ``contract`` may be empty (the contract in force on the date);
``credits`` and ``expires`` (optional columns) override the pack for this purchase.
Each row books one transaction (see ``credits``); ``payment_id`` is the dedupe key.
Amounts and credits must fit the decimal context (``purchase_base``: an amount has at
most 26 digits before the point, to the cent); a column named twice in the header
refuses the file.

    importer = Importer("contracts/", account="Assets:Bank")
    entries = importer.extract("purchases-2026-01.csv", existing=[])
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, getcontext

from tokenbooks.plugins.rules.records import Purchase

from .purchase_base import PurchaseImporter, contract_for, day, money, pack_terms
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

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[tuple[Purchase, str]]:
        when = day(values["date"], "date")
        customer = values["customer"].strip()
        if not customer:
            raise RowProblem("customer", "is required but missing")
        pack = values["pack"].strip()
        if not pack:
            raise RowProblem("pack", "is required but missing")
        contract = contract_for(self.contracts, customer, values["contract"].strip(), pack,
                                when)
        amount = money(values["amount"], "amount")
        currency = values["currency"].strip().upper()
        if currency != contract.currency:
            raise RowProblem("currency", f"expected {contract.currency} (the currency of "
                                         f"contract {contract.id!r}), got {currency!r}")
        credits, expires = pack_terms(contract, pack, when)
        override = credits_override(values.get("credits", ""))
        if override is not None:
            credits = override
        if (values.get("expires") or "").strip():
            expires = day(values["expires"], "expires")
            if expires <= when:
                raise RowProblem("expires", f"expected a date after the purchase {when}, "
                                            f"got {expires}")
        payment_id = name_text(values["payment_id"].strip(), "payment_id")
        key = ""
        if not payment_id:
            base = f"unpaid/{customer}/{contract.id}/{pack}/{when}/{amount}"
            occurrence[base] += 1
            key = f"{base}#{occurrence[base]}"
        return [(Purchase(date=when, customer=customer, contract=contract.id, pack=pack,
                          amount=amount, currency=currency, payment_id=payment_id,
                          credits=credits, expires=expires, paid=bool(payment_id)), key)]


