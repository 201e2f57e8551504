"""The cut-over's entries (``rules.cutover``): what the book holds of the balances it was
opened with, all dated on the cut-over day, all with ``opening: TRUE`` and ``cutover``
(the month), against ``Equity:Opening-Balances``:

    2026-10-01 * "Acme Corp" "Opening lot: standard, 40000 credits left" ^acme-2026
      customer: "acme"
      contract: "acme-2026"
      rule: "purchase"
      opening: TRUE
      cutover: "2026-10"
      pack: "standard"
      credits: 40000
      expires: 2026-10-15
      purchased: 2026-04-15
      payment_id: "legacy-pay-0042"
      Equity:Opening-Balances             400.00 USD
      Liabilities:Deferred-Revenue:Acme  -400.00 USD

    2026-10-01 * "Globex Inc" "Opening receivable LEGACY-0917" ^LEGACY-0917
      customer: "globex"   rule: "invoice"   invoice: "LEGACY-0917"   period: "2026-09"
      due: 2026-10-30   opening: TRUE   cutover: "2026-10"
      Assets:Receivable:Globex    589.77 USD   ; stream: "opening"
      Equity:Opening-Balances    -589.77 USD

    2026-10-01 * "Globex Inc" "Opening unbilled usage"      ; rule: "opening": invoiced at the first close
      Assets:Unbilled:Globex      120.00 USD
      Equity:Opening-Balances    -120.00 USD

    2026-10-01 custom "commitment-to-date" "initech-2026" "2026" 3200.00 USD

A lot is a purchase the engine reads like any (``entries.purchases``), its consideration
being the liability left; the rollforward counts every ``opening`` entry in the opening
balance of its month, so the cut-over month opens with these balances. The receivable
is an invoice of the closed past (its ``period`` the month before the cut-over), which
payments settle by its id.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal

from beancount.core import data
from beancount.core.amount import Amount
from beancount.parser import grammar

from ..rules import accounts
from ..rules.cutover import Opening
from ..rules.model import Contract, ContractSet
from ..rules.periods import previous_month
from .build import posting, transaction, value

COMMITMENT_TO_DATE = "commitment-to-date"
OPENING_RULE = "opening"
FILENAME = "<cutover>"


def opening_entries(opening: Opening, contracts: ContractSet) -> list[data.Directive]:
    """The entries of the cut-over ``opening``, in a stable order."""
    day, code, month = opening.date, opening.currency, opening.period
    out: list[data.Directive] = []
    base = {"opening": True, "cutover": month}

    def payee(customer: str) -> str:
        found = contracts.customers.get(customer)
        return found.name if found else customer

    for lot in opening.lots:
        meta: dict[str, object] = {"customer": lot.customer, "contract": lot.contract,
                                   "rule": "purchase", **base, "pack": lot.pack,
                                   "credits": lot.credits}
        if lot.expires:
            meta["expires"] = lot.expires
        if lot.purchased:
            meta["purchased"] = lot.purchased
        meta["payment_id"] = lot.id
        out.append(transaction(meta, day, payee(lot.customer),
                               f"Opening lot: {lot.pack}, {lot.credits} credits left",
                               [posting(accounts.OPENING_BALANCES, lot.liability, code),
                                posting(accounts.deferred_revenue(lot.customer),
                                        -lot.liability, code)],
                               [lot.contract], FILENAME))
    for item in opening.receivables:
        meta = {"customer": item.customer, "contract": item.contract, "rule": "invoice",
                "invoice": item.invoice, "period": previous_month(month), "due": item.due,
                "issued": item.date, **base}
        out.append(transaction(meta, day, payee(item.customer),
                               f"Opening receivable {item.invoice}",
                               [posting(accounts.receivable(item.customer), item.amount, code,
                                        {"line": Decimal(1), "stream": OPENING_RULE}),
                                posting(accounts.OPENING_BALANCES, -item.amount, code)],
                               [item.invoice], FILENAME))
    for unbilled in opening.unbilled:
        meta = {"customer": unbilled.customer, "contract": unbilled.contract,
                "rule": OPENING_RULE, **base}
        out.append(transaction(meta, day, payee(unbilled.customer),
                               "Opening unbilled usage: invoiced at the first close",
                               [posting(accounts.unbilled(unbilled.customer), unbilled.amount,
                                        code),
                                posting(accounts.OPENING_BALANCES, -unbilled.amount, code)],
                               [unbilled.contract], FILENAME))
    for commitment in opening.commitments:
        out.append(data.Custom(
            data.new_metadata(FILENAME, 0, {"customer": commitment.customer, **base}), day,
            COMMITMENT_TO_DATE, [value(commitment.contract), value(commitment.period),
                                 data_amount(commitment.usage_to_date, code)]))
    return out


def data_amount(number: Decimal, currency: str) -> grammar.ValueType:
    """A custom entry's amount value."""
    return grammar.ValueType(Amount(number, currency), Amount)


@dataclasses.dataclass(frozen=True)
class Cutover:
    """What the engine needs of a book's cut-over: its day, and per contract id the
    (commitment period, usage before the cut-over) of the ``custom
    "commitment-to-date"`` entries."""

    day: datetime.date | None = None
    commitments: Mapping[str, tuple[str, Decimal]] = dataclasses.field(default_factory=dict)


def cutover_of(entries: Iterable[data.Directive]) -> Cutover:
    """The cut-over of a book (none: ``Cutover()``), in one pass over its entries."""
    day: datetime.date | None = None
    found: dict[str, tuple[str, Decimal]] = {}
    first_commitment: datetime.date | None = None
    for entry in entries:
        if isinstance(entry, data.Custom):
            if entry.type != COMMITMENT_TO_DATE:
                continue
            values = entry.values
            try:
                contract, period, amount = (values[0].value, values[1].value,
                                            values[2].value)
                found[str(contract)] = (str(period), Decimal(amount.number))
            except (IndexError, AttributeError, TypeError):
                continue
            if first_commitment is None or entry.date < first_commitment:
                first_commitment = entry.date
        elif (day is None and isinstance(entry, data.Transaction)
              and entry.meta.get("opening") and entry.meta.get("cutover")):
            day = entry.date
    if day is None:
        day = first_commitment
    return Cutover(day, found)


def at_cutover(contract: Contract, cutover: Cutover) -> Contract:
    """``contract`` as the engine runs it in a book opened at ``cutover``: from the
    cut-over day (``Contract.since``), with the usage of its commitment period before
    it. A book without a cut-over: the contract as it is."""
    if cutover.day is None:
        return contract
    changed = dataclasses.replace(contract, since=cutover.day)
    found = cutover.commitments.get(contract.id)
    if found is not None and contract.commitment is not None:
        changed = dataclasses.replace(changed, commitment=dataclasses.replace(
            contract.commitment, prior_usage=found))
    return changed


def is_opening(entry: data.Directive) -> bool:
    return bool((entry.meta or {}).get("opening"))


def cutover_day(entries: Iterable[data.Directive]) -> datetime.date | None:
    """The cut-over day of a book opened from balances, else None."""
    for entry in entries:
        if entry.meta and entry.meta.get("cutover") and entry.meta.get("opening"):
            return entry.date
    return None
