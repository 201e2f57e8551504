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

Tax collected and a processor's fee are more postings of the same transaction: the cash
(or clearing) account takes what the customer paid, tax included; the tax goes to
``Liabilities:Sales-Tax:<Jurisdiction>``; the fee is an expense paid out of the clearing
account. The consideration is the contract-liability legs only (``purchase_from_entry``
reads nothing else), so it is always net of tax:

    2026-01-03 * "Tenant Co" "Credit purchase: pack-10k" ^tenant-2025
      ...
      payment_id: "ch_3QhM9c..."
      Assets:Stripe                         110.00 USD
      Liabilities:Sales-Tax:DE              -10.00 USD
      Liabilities:Deferred-Revenue:Tenant  -100.00 USD
      Expenses:Payment-Processing             3.49 USD
      Assets:Stripe                          -3.49 USD

A fee booked on its own (the charge was booked without it) is ``rule: "fee"`` with
``fee_of`` the charge; a payout (``rule: "payout"``, ``payout_id``) moves cash from the
clearing account to the bank. Neither is a purchase: the plugins do not read them.
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
FEE = "fee"  # rule of a processor fee booked on its own (``fee_of``: the charge)
PAYOUT = "payout"  # rule of a payout: clearing account -> bank (``payout_id``)
ZERO = Decimal(0)


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
        ref=ref(meta), grant=str(meta.get("grant", "") or ""),
        opening=meta.get("opening") is True,
        priority=_priority(meta.get("priority")),
        void=meta["void"] if isinstance(meta.get("void"), datetime.date) else None,
    )


def _priority(value: object) -> int | None:
    """A purchase's ``priority`` metadata (a whole number 0-100), else None."""
    if isinstance(value, Decimal) and value == value.to_integral_value() and 0 <= value <= 100:
        return int(value)
    if value is not None:
        raise ValueError(f"priority: expected a whole number 0-100, got {value!r}")
    return None


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
                   cash_account: str = accounts.BANK, tax: Decimal = ZERO,
                   tax_account: str = "", fee: Decimal = ZERO,
                   fee_account: str = accounts.PAYMENT_PROCESSING) -> data.Transaction:
    """The transaction of a credit purchase (or refund) that ``purchase_from_entry`` reads
    back: cash (or the receivable when unpaid) against the customer's contract liability.
    ``provenance`` (source, sha256, import_key, ...) is added to the metadata.

    ``tax`` (collected, or given back by a refund) goes to ``tax_account`` on top of the
    consideration ``purchase.amount``: the cash leg is their sum. ``fee`` (the
    processor's, for this payment) is ``fee_account`` against ``cash_account``."""
    meta: dict[str, object] = {"customer": purchase.customer, "contract": purchase.contract,
                               "rule": purchase.kind, "pack": purchase.pack}
    if purchase.credits is not None:
        meta["credits"] = purchase.credits
    if purchase.expires is not None:
        meta["expires"] = purchase.expires
    if purchase.grant:
        meta["grant"] = purchase.grant
    if purchase.priority is not None:
        meta["priority"] = Decimal(purchase.priority)
    if purchase.void is not None:
        meta["void"] = purchase.void
    meta["payment_id"] = purchase.payment_id
    if purchase.refund_of:
        meta["refund_of"] = purchase.refund_of
    meta.update(provenance)
    if purchase.grant:  # no consideration: the contract liability leg alone, at 0
        return transaction(
            meta, purchase.date, payee, f"Credit grant ({purchase.grant}): {purchase.pack}",
            [posting(accounts.deferred_revenue(purchase.customer), ZERO.quantize(
                Decimal("0.01")), purchase.currency)],
            links=[purchase.contract] if purchase.contract else (),
            filename=str(provenance.get("source", "<import>")))
    cash = cash_account if purchase.paid else accounts.receivable(purchase.customer)
    sign = Decimal(1) if purchase.kind == "purchase" else Decimal(-1)
    what = "Credit purchase" if purchase.kind == "purchase" else "Refund"
    code = purchase.currency
    postings = [posting(cash, sign * (purchase.amount + tax), code)]
    if tax:
        if not tax_account:
            raise ValueError("tax without a tax account")
        postings.append(posting(tax_account, -sign * tax, code))
    postings.append(posting(accounts.deferred_revenue(purchase.customer),
                            -sign * purchase.amount, code))
    if fee:
        postings += [posting(fee_account, fee, code), posting(cash_account, -fee, code)]
    return transaction(
        meta, purchase.date, payee, f"{what}: {purchase.pack}", postings,
        links=[purchase.contract] if purchase.contract else (),
        filename=str(provenance.get("source", "<import>")),
    )


def fee_entry(charge: str, day: datetime.date, amount: Decimal, code: str, payee: str,
              provenance: dict[str, object], clearing: str = accounts.STRIPE,
              fee_account: str = accounts.PAYMENT_PROCESSING, customer: str = ""
              ) -> data.Transaction:
    """A processor fee booked on its own: ``fee_account`` against the clearing account,
    ``fee_of`` the charge (or balance transaction) it was taken from."""
    meta: dict[str, object] = {}
    if customer:
        meta["customer"] = customer
    meta.update({"rule": FEE, "fee_of": charge, **provenance})
    return transaction(meta, day, payee, f"Payment processing fee: {charge}",
                       [posting(fee_account, amount, code), posting(clearing, -amount, code)],
                       filename=str(provenance.get("source", "<import>")))


def payout_entry(payout: str, day: datetime.date, amount: Decimal, code: str, payee: str,
                 provenance: dict[str, object], clearing: str = accounts.STRIPE,
                 bank: str = accounts.BANK, fee: Decimal = ZERO,
                 fee_account: str = accounts.PAYMENT_PROCESSING) -> data.Transaction:
    """A payout: ``amount`` from the clearing account to the bank (negative: a payout
    reversed, back to the clearing account), and the payout's own fee, if any."""
    meta: dict[str, object] = {"rule": PAYOUT, "payout_id": payout, **provenance}
    postings = [posting(bank, amount, code), posting(clearing, -amount, code)]
    if fee:
        postings += [posting(fee_account, fee, code), posting(clearing, -fee, code)]
    return transaction(meta, day, payee, f"Payout {payout}", postings,
                       filename=str(provenance.get("source", "<import>")))


def tax_leg(entry: data.Transaction) -> tuple[str, Decimal]:
    """(account, amount) of the sales tax of a purchase or refund transaction: the sum of
    its ``Liabilities:Sales-Tax`` postings, positive (collected or given back); ("", 0)
    when it has none."""
    legs = [p for p in entry.postings
            if accounts.under(p.account, accounts.SALES_TAX) and p.units is not None]
    if not legs:
        return "", ZERO
    return legs[0].account, abs(sum((number(p) for p in legs), ZERO))


def has_fee(entry: data.Transaction, fee_account: str = accounts.PAYMENT_PROCESSING) -> bool:
    """Whether a transaction books a processor fee (a posting to ``fee_account``)."""
    return any(accounts.under(p.account, fee_account) for p in entry.postings)


def fee_of(entry: data.Directive) -> str:
    """The charge whose fee a transaction books: ``fee_of`` of a fee entry, the payment
    id of a purchase or refund with a fee posting; "" otherwise."""
    if entry.__class__ is not data.Transaction:
        return ""
    meta = entry.meta or {}
    if meta.get("rule") == FEE:
        return str(meta.get("fee_of", "") or "")
    if meta.get("rule") in KINDS and has_fee(entry):
        return str(meta.get("payment_id", "") or "")
    return ""


def payout_of(entry: data.Directive) -> str:
    """The payout id of a payout transaction, "" for any other entry."""
    if entry.__class__ is not data.Transaction or (entry.meta or {}).get("rule") != PAYOUT:
        return ""
    return str(entry.meta.get("payout_id", "") or "")
