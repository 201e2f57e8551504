"""Check the invariants of the revenue books at every load; each break is an error.

    plugin "tokenbooks.plugins.contracts"
    plugin "tokenbooks.plugins.revenue"
    plugin "tokenbooks.plugins.invariants"     ; last

Reads the journal as the other plugins left it (``tokenbooks.plugins.rules.invariants``
has the rules): per lot, the contract liability never negative, no draw after the lot's
expiry, revenue recognized + liability left = consideration to the cent (and nothing
left once expired); per customer, every usage entry priced exactly once. For instance a
hand-written posting that draws a lot twice fails the load:

    2026-02-01 * "Acme Corp" "manual"
      Liabilities:Deferred-Revenue:Acme   5000.00 USD
        lot: "acme-2026.standard.2026-01-03"
      Income:Revenue:Usage               -5000.00 USD
        lot: "acme-2026.standard.2026-01-03"

    <tokenbooks.invariants>:0: lot acme-2026.standard.2026-01-03: contract liability
    negative (-4011.50) on 2026-02-01

Config: ``contracts`` as for the other plugins. It reads the purchases and usage entries
the load already parsed (``tokenbooks.plugins.load``) and checks them against the
journal: the postings, whoever made them. A lot's expiry is the one the revenue stage's
engine left on the lot (``Load.revenue``: a modification's new expiry included), never
recomputed from the purchase; a lot is drawn after its expiry when a usage posting is
dated on or after it (docs/expiry.md).

The receivables too (``docs/receivables.md``): a payment or credit note of an unknown
invoice, of another customer's, in another currency than the invoice's, or that makes
the invoice's payments and credit notes exceed its total; a ``payment_id`` twice (a
purchase's or a payment's) and a ``credit_note_id`` twice. Each is an error at the entry:

    imports/2026-02.payments.1a2b3c4d.beancount:5: payment 'wire-9': unknown invoice
    'INV-2026-01-GLOBX' (expected an invoice of the book, INV-<period>-<CUSTOMER>, ...)
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from beancount.core import data

from . import config as settings
from .entries import payments as receivables
from .entries.build import number
from .entries.usage import CUSTOMER
from .errors import InvariantError, PluginError, at
from .load import Load
from .rules import accounts, invariants
from .rules.engine import purchase_lot_ids
from .rules.records import Purchase

__plugins__ = ("check_invariants",)

PLUGIN = settings.INVARIANTS
DRAW_RULES = ("usage", None)


def check_invariants(entries: data.Directives, options_map: dict[str, Any],
                     config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin (a plugin line of its own: Beancount hands it a sorted book)."""
    parsed, errors = settings.parse(config, PLUGIN)
    load, more = Load.attach(options_map, parsed)
    if not entries:
        return entries, [*errors, *more]
    return entries, [*errors, *more, *stage(load, entries, entries[-1].date)]


def stage(load: Load, entries: data.Directives, last: datetime.date) -> list[PluginError]:
    """The invariants broken by the journal of ``entries`` (``last``: the book's last date)."""
    contracts = load.contracts
    lots: dict[str, invariants.LotFacts] = {}
    priced: dict[str, int] = defaultdict(int)

    def facts(lot: str, customer: str) -> invariants.LotFacts:
        found = lots.get(lot)
        if found is None:
            found = lots[lot] = invariants.LotFacts(lot, customer)
        return found

    table = load.usage_table(entries)
    usage_count: dict[str, int] = defaultdict(int)
    for row in table.rows:
        usage_count[row[CUSTOMER]] += 1
    for bad, _ in table.bad:  # malformed entries are not priced: counted all the same
        if bad.values and isinstance(bad.values[0].value, str):
            usage_count[bad.values[0].value] += 1
    purchases: list[Purchase] = [purchase for purchase, _ in load.purchase_table(entries)]
    liability = accounts.DEFERRED_REVENUE + ":"
    transaction = data.Transaction
    ledger: list[data.Transaction] = []  # invoices, payments, credit notes
    receivable_rules = receivables.RULES
    for entry in entries:
        if entry.__class__ is not transaction:
            continue
        meta = entry.meta
        rule = meta.get("rule")
        if rule in receivable_rules:
            ledger.append(entry)
        customer = meta.get("customer", "")
        if rule in ("purchase", "refund") and customer and "payment_id" in meta:
            continue  # the importer's entry: its consideration is taken from the purchases
            # (the engine's own refund transaction, which forfeits what is left, is not)
        if rule == "usage":
            priced[customer] += int(meta.get("usage_entries", 0))
        for posting in entry.postings:
            pmeta = posting.meta
            if not pmeta:
                continue
            lot = pmeta.get("lot")
            if lot is None:
                continue
            f = facts(lot, customer)
            amount = number(posting)
            account = posting.account
            if rule == "grant" and meta.get("lot") == lot:
                f.kind = str(meta.get("grant", ""))
            if account.startswith(liability):
                if rule in ("top-up", "allowance") or pmeta.get("rule") == "consideration":
                    f.consideration.append((entry.date, -amount))
                    expires = meta.get("expires")
                    f.expires = expires if expires else f.expires
                else:
                    f.drawn.append((entry.date, amount))
            elif account.startswith(accounts.UNCLAIMED_PROPERTY + ":"):
                f.unclaimed.append((entry.date, -amount))
            elif account.startswith(accounts.INCOME + ":"):
                f.recognized.append((entry.date, -amount))
                if rule in DRAW_RULES and amount:
                    f.used_on.append(entry.date)

    by_contract: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        by_contract[purchase.contract].append(purchase)
    for contract_id, items in by_contract.items():
        ids = purchase_lot_ids(contract_id, items)
        contract = contracts.contract(contract_id)
        paid = {}
        for purchase in items:
            if purchase.kind != "purchase" or purchase.grant:
                continue  # (a grant's lot is the engine's grant entry: no consideration)
            pack = contract.packs.get(purchase.pack) if contract else None
            mod = (next((m for m in contract.modifications if m.id == purchase.pack), None)
                   if contract else None)
            if pack is None and (mod is None or not mod.approved):
                continue  # not a lot (the revenue plugin reports it)
            lot_id = ids[purchase.ref]
            paid[purchase.payment_id] = lot_id
            f = facts(lot_id, purchase.customer)
            f.consideration.append((purchase.date, purchase.amount))
        for purchase in items:
            if purchase.kind == "refund" and purchase.refund_of in paid:
                f = facts(paid[purchase.refund_of], purchase.customer)
                f.consideration.append((purchase.date, -purchase.amount))
    for lot_id, expires in lot_expiries(load).items():
        if lot_id in lots:
            lots[lot_id].expires = expires
    where = at(f"<{PLUGIN}>")
    return [*twice_paid(load.purchase_table(entries),
                        [e for e in ledger if receivables.is_payment(e)]),
            *twice_credited([e for e in ledger if receivables.is_credit_note(e)]),
            *receivable_errors(ledger),
            *(InvariantError(where, violation.message, None)
              for violation in (invariants.check_lots(lots, last)
                                + invariants.check_priced(dict(usage_count), dict(priced))))]


def lot_expiries(load: Load) -> dict[str, datetime.date | None]:
    """Each lot's expiry as the engine left it (``ContractRun.lots``): the one source of
    truth, a modification's new expiry included (docs/expiry.md). Empty without the
    revenue stage (the entries' ``expires`` metadata then stand)."""
    if load.revenue is None:
        return {}
    return {lot.id: lot.expires for run in load.revenue.runs.values() for lot in run.lots}


def twice_paid(purchases: list[tuple[Purchase, data.Transaction]],
               payments: list[data.Transaction] | None = None) -> list[PluginError]:
    """An error at each purchase, refund or customer payment whose ``payment_id`` another
    one has too (a payment booked twice: a purchases or payments file imported again
    under another name)."""
    keyed = [(p.payment_id, entry) for p, entry in purchases]
    keyed += [(str(e.meta.get("payment_id") or ""), e) for e in payments or ()]
    return booked_twice(keyed, "payment")


def twice_credited(notes: list[data.Transaction]) -> list[PluginError]:
    """An error at each credit note whose ``credit_note_id`` another one has too."""
    return booked_twice([(str(e.meta.get("credit_note_id") or ""), e) for e in notes],
                        "credit note")


def booked_twice(keyed: list[tuple[str, data.Transaction]], what: str) -> list[PluginError]:
    """An error at each entry whose id (``keyed``: id, entry; "" for none) another entry
    has too, naming the other places."""
    seen: dict[str, list[data.Transaction]] = defaultdict(list)
    for key, entry in keyed:
        if key:
            seen[key].append(entry)
    out: list[PluginError] = []
    for key, found in seen.items():
        if len(found) < 2:
            continue
        places = [f"{e.meta.get('filename')}:{e.meta.get('lineno')}" for e in found]
        for entry, here in zip(found, places, strict=True):
            others = ", ".join(p for p in places if p != here)
            out.append(InvariantError(entry.meta, (
                f"{what} {key!r} is booked twice: also at {others} (expected each {what} "
                f"once; was a source imported again under another name?)"), entry))
    return out


def receivable_errors(ledger: list[data.Transaction]) -> list[PluginError]:
    """An error at each payment or credit note that names an unknown invoice, another
    customer's, one in another currency, or that over-applies it
    (``rules.invariants.check_applications``)."""
    totals: dict[str, invariants.InvoiceTotal] = {}
    for entry in ledger:
        if receivables.is_invoice(entry) and entry.meta.get("invoice"):
            try:
                record = receivables.invoice_record(entry)
            except (ValueError, KeyError):
                continue
            totals.setdefault(record.id, invariants.InvoiceTotal(
                record.customer, record.currency, record.total))
    items: list[invariants.Application] = []
    where: list[data.Transaction] = []
    for entry in ledger:
        if receivables.is_invoice(entry):
            continue
        note = receivables.is_credit_note(entry)
        kind = "credit note" if note else "payment"
        key = str(entry.meta.get("credit_note_id" if note else "payment_id") or "")
        customer = str(entry.meta.get("customer") or "")
        for invoice, code, amount, _ in receivables.applications(entry):
            items.append(invariants.Application(len(items), entry.date, customer, invoice,
                                                code, amount, kind, key))
            where.append(entry)
    return [InvariantError(where[index].meta, message, where[index])
            for index, message in invariants.check_applications(totals, items)]
