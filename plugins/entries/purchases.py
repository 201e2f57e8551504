"""Credit purchases and refunds: transactions written by the purchase importers and read
back into ``rules.records.Purchase`` by the plugins.

    2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
      customer: "acme"
      contract: "acme-2026"
      rule: "purchase"
      pack: "standard"
      credits: 100000
      expires: 2026-07-03
      payment_id: "pay-001"
      Assets:Bank                          1000.00 USD
      Liabilities:Deferred-Revenue:Acme   -1000.00 USD

A purchase with no payment yet books the receivable instead of the bank. At load, the
revenue plugin links each purchase to the lot it bought (``^acme-2026.standard.2026-01-03``),
so that Fava's link filter shows the purchase with every entry that drew the lot.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import TypeGuard

from beancount.core import data

from ..rules import accounts
from ..rules.records import Purchase
from .build import currency, number, posting, ref, transaction

KINDS = ("purchase", "refund")


def is_purchase(entry: data.Directive) -> TypeGuard[data.Transaction]:
    return (entry.__class__ is data.Transaction
            and entry.meta.get("rule") in KINDS and "customer" in entry.meta)


def purchase_from_entry(entry: data.Transaction) -> Purchase:
    """The Purchase record of a purchase or refund transaction (ValueError, KeyError)."""
    meta = entry.meta
    customer = meta["customer"]
    liability = accounts.deferred_revenue(customer)
    legs = [p for p in entry.postings if p.account == liability and p.units is not None]
    if not legs:
        raise ValueError(f"expected a posting to {liability}")
    amount = sum((number(p) for p in legs), Decimal(0))
    code = currency(legs[0])
    paid = not any(accounts.under(p.account, accounts.RECEIVABLE) for p in entry.postings)
    credits = meta.get("credits")
    expires = meta.get("expires")
    return Purchase(
        date=entry.date, customer=customer, contract=str(meta.get("contract", "")),
        pack=str(meta.get("pack", "")), amount=abs(amount), currency=code,
        payment_id=str(meta.get("payment_id", "") or ""),
        credits=Decimal(credits) if credits is not None else None,
        expires=expires if isinstance(expires, datetime.date) else None,
        paid=paid, kind=meta["rule"], refund_of=str(meta.get("refund_of", "") or ""),
        ref=ref(meta),
    )


def parse_purchases(entries: Iterable[data.Directive]
                    ) -> tuple[list[tuple[Purchase, data.Transaction]], list[tuple]]:
    """Every purchase and refund of a book with its entry, and (entry, message) for the
    malformed ones."""
    found, bad = [], []
    transaction_class = data.Transaction
    for entry in entries:  # every load: a class check first, not a call per entry
        if entry.__class__ is transaction_class and is_purchase(entry):
            try:
                found.append((purchase_from_entry(entry), entry))
            except (ValueError, KeyError) as exc:
                bad.append((entry, str(exc)))
    return found, bad


def purchase_entry(purchase: Purchase, payee: str, provenance: dict[str, object],
                   cash_account: str = accounts.BANK) -> data.Transaction:
    """The transaction of a credit purchase (or refund) that ``purchase_from_entry`` reads
    back: cash (or the receivable when unpaid) against the customer's contract liability.
    ``provenance`` (source, sha256, import_key, ...) is added to the metadata."""
    meta: dict[str, object] = {"customer": purchase.customer, "contract": purchase.contract,
                               "rule": purchase.kind, "pack": purchase.pack}
    if purchase.credits is not None:
        meta["credits"] = purchase.credits
    if purchase.expires is not None:
        meta["expires"] = purchase.expires
    meta["payment_id"] = purchase.payment_id
    if purchase.refund_of:
        meta["refund_of"] = purchase.refund_of
    meta.update(provenance)
    cash = cash_account if purchase.paid else accounts.receivable(purchase.customer)
    sign = Decimal(1) if purchase.kind == "purchase" else Decimal(-1)
    what = "Credit purchase" if purchase.kind == "purchase" else "Refund"
    return transaction(
        meta, purchase.date, payee, f"{what}: {purchase.pack}",
        [posting(cash, sign * purchase.amount, purchase.currency),
         posting(accounts.deferred_revenue(purchase.customer), -sign * purchase.amount,
                 purchase.currency)],
        links=[purchase.contract] if purchase.contract else (),
        filename=str(provenance.get("source", "<import>")),
    )
