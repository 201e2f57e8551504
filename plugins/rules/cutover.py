"""The cut-over: a book that starts from the balances of the spreadsheet it replaces.

A team moving to tokenbooks in October does not re-enter nine months of history. It
states what is open on the cut-over day, in one YAML file (docs/cutover.md):

    cutover: 2026-10-01            # the first day the book keeps in full
    lots:                          # prepaid credits left: the contract liability
      - {customer: acme, contract: acme-2026, pack: standard, purchased: 2026-04-15,
         credits: 40000, liability: 400.00, expires: 2026-10-15, id: legacy-pay-0042}
    receivables:                   # invoices not paid yet
      - {customer: globex, invoice: LEGACY-0917, date: 2026-09-30, due: 2026-10-30,
         amount: 589.77}
    unbilled:                      # usage before the cut-over, not invoiced yet
      - {customer: globex, amount: 120.00}
    commitments:                   # a minimum-commitment period in progress
      - {customer: initech, contract: initech-2026, usage_to_date: 3200.00}

The book's first close is the cut-over month, and its rollforward opens with these
balances (``Equity:Opening-Balances`` on the other side): ASC 606 has no transition rule
of its own for a change of system, so the opening balances are the ones the old records
carry, and from the cut-over on every movement is the book's.

* A **lot** is the credits left of a purchase and the consideration left for them (its
  contract liability, 606-10-45-2): revenue from then on is ``liability / credits`` per
  credit, under its pack's breakage method and the rates in force (55-48). It needs the
  contract it was bought under in force on the cut-over day.
* A **receivable** is an invoice the customer still owes (606-10-45-4): payments apply to
  its id as to any invoice of the book.
* **Unbilled** usage is a contract asset or unbilled receivable (45-3): the cut-over
  month's invoice bills it (stream ``opening``).
* A **commitment in progress** counts the usage of its period before the cut-over toward
  the minimum (``usage_to_date``). Only the ``remote`` method can be taken over mid-period
  (a ratable or proportional minimum recognized part of itself before the cut-over):
  cut over at the start of its period otherwise.

Pure: parse and check against the contracts; ``plugins.entries.cutover`` writes the
entries.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .contracts import (
    CENT,
    ContractError,
    FieldPath,
    Lines,
    _field,
    _line,
    read_yaml,
    validate_schema,
)
from .model import Contract, ContractSet
from .periods import month_of

SCHEMA = "openingFile"


@dataclass(frozen=True)
class OpeningLot:
    customer: str
    contract: str
    pack: str
    credits: Decimal
    liability: Decimal
    expires: datetime.date | None
    purchased: datetime.date | None
    id: str
    line: int | None = None


@dataclass(frozen=True)
class OpeningReceivable:
    customer: str
    contract: str
    invoice: str
    date: datetime.date
    due: datetime.date
    amount: Decimal
    line: int | None = None


@dataclass(frozen=True)
class OpeningUnbilled:
    customer: str
    contract: str
    amount: Decimal
    line: int | None = None


@dataclass(frozen=True)
class OpeningCommitment:
    customer: str
    contract: str
    period: str  # the commitment period in progress ("2026" or "2026-10")
    usage_to_date: Decimal
    line: int | None = None


@dataclass(frozen=True)
class Opening:
    """What is open on the cut-over day ``date`` (the first day of its month)."""

    date: datetime.date
    currency: str
    lots: tuple[OpeningLot, ...] = ()
    receivables: tuple[OpeningReceivable, ...] = ()
    unbilled: tuple[OpeningUnbilled, ...] = ()
    commitments: tuple[OpeningCommitment, ...] = ()
    source: str = ""

    @property
    def period(self) -> str:
        return month_of(self.date)


@dataclass
class _Checker:
    name: str
    lines: Lines
    contracts: ContractSet
    day: datetime.date
    errors: list[ContractError] = field(default_factory=list)

    def error(self, path: FieldPath, message: str) -> None:
        self.errors.append(ContractError(self.name, _line(self.lines, path), _field(path),
                                         message))

    def contract(self, raw: dict[str, Any], path: FieldPath) -> tuple[str, str]:
        """(customer, contract id) of an item: the contract in force on the cut-over day
        (the one named, else the customer's)."""
        customer_id = str(raw["customer"])
        customer = self.contracts.customers.get(customer_id)
        if customer is None:
            known = ", ".join(sorted(self.contracts.customers)) or "none"
            self.error(path + ("customer",), f"unknown customer {customer_id!r} (expected "
                                             f"one of contracts/customers/: {known})")
            return customer_id, ""
        named = raw.get("contract")
        contract = (next((c for c in customer.contracts if c.id == named), None) if named
                    else customer.contract_on(self.day))
        if contract is None:
            what = (f"no contract {named!r} of {customer_id!r}" if named
                    else f"no contract of {customer_id!r} in force on {self.day}")
            self.error(path + ("contract",), f"{what}; expected the contract in force on the "
                                             f"cut-over day")
            return customer_id, ""
        if contract.start > self.day or (contract.end is not None and contract.end < self.day):
            self.error(path + ("contract",), f"contract {contract.id!r} runs {contract.start} "
                                             f"to {contract.end or 'open'}; expected it in "
                                             f"force on the cut-over day {self.day}")
        return customer_id, contract.id

    def money(self, value: Any, path: FieldPath) -> Decimal:
        amount = Decimal(value)
        if amount != amount.quantize(CENT):
            self.error(path, f"expected an amount to the cent, got {value}")
        return amount

    def date(self, value: Any, path: FieldPath) -> datetime.date | None:
        if value is None:
            return None
        if isinstance(value, datetime.date):
            return value
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            self.error(path, f"expected a date YYYY-MM-DD that exists, got {value!r}")
            return None


def read_opening(path: Path, contracts: ContractSet, currency: str,
                 name: str | None = None) -> tuple[Opening | None, list[ContractError]]:
    """The opening balances of ``path``, checked against ``contracts``; every error of the
    file together (file, line, field, what was expected), and no Opening if any."""
    name = name or str(path)
    data, lines, errors = read_yaml(path, name)
    if errors:
        return None, errors
    errors = validate_schema(data, SCHEMA, name, lines)
    if errors:
        return None, errors
    day = data["cutover"]
    if not isinstance(day, datetime.date):
        day = datetime.date.fromisoformat(str(day))
    check = _Checker(name, lines, contracts, day)
    if day.day != 1:
        check.error(("cutover",), f"expected the first day of a month (the book's first "
                                  f"close is that month), got {day}")
    code = str(data.get("currency", currency))
    if code != currency:
        check.error(("currency",), f"expected the book's operating currency {currency}, got "
                                   f"{code}")
    lots, receivables, unbilled, commitments = [], [], [], []
    ids: dict[str, FieldPath] = {}
    for i, raw in enumerate(data.get("lots") or []):
        here: FieldPath = ("lots", i)
        customer, contract_id = check.contract(raw, here)
        contract = _contract(contracts, customer, contract_id)
        pack = str(raw["pack"])
        if contract is not None and pack not in contract.packs:
            known = ", ".join(sorted(contract.packs)) or "none"
            check.error(here + ("pack",), f"no pack {pack!r} in contract {contract.id!r} "
                                          f"(expected one of: {known}); its breakage method "
                                          f"and rates apply to the lot")
        expires = check.date(raw.get("expires"), here + ("expires",))
        purchased = check.date(raw.get("purchased"), here + ("purchased",))
        if expires is None and contract is not None and pack in contract.packs:
            if purchased is None:
                check.error(here + ("expires",), "is required unless purchased is given (the "
                                                 "pack's term runs from the purchase)")
            else:
                expires = contract.packs[pack].expiry_for(purchased)
        if expires is not None and expires <= day:
            check.error(here + ("expires",), f"expected an expiry after the cut-over day {day} "
                                             f"(credits expired before are no liability "
                                             f"left), got {expires}")
        if purchased is not None and purchased >= day:
            check.error(here + ("purchased",), f"expected a purchase before the cut-over day "
                                               f"{day}, got {purchased} (import it instead)")
        lot_id = str(raw.get("id") or f"opening-{customer}-{i + 1}")
        if lot_id in ids:
            check.error(here + ("id",), f"id {lot_id!r} is also lots[{ids[lot_id][1]}]'s; "
                                        f"expected each lot once")
        ids[lot_id] = here
        credits = Decimal(raw["credits"])
        liability = check.money(raw["liability"], here + ("liability",))
        if credits <= 0:
            check.error(here + ("credits",), f"expected credits left > 0, got {credits}")
        lots.append(OpeningLot(customer, contract_id, pack, credits, liability, expires,
                               purchased, lot_id, _line(lines, here)))
    invoices: dict[str, FieldPath] = {}
    for i, raw in enumerate(data.get("receivables") or []):
        here = ("receivables", i)
        customer, contract_id = check.contract(raw, here)
        invoice = str(raw["invoice"])
        if invoice in invoices:
            check.error(here + ("invoice",), f"invoice {invoice!r} is also "
                                             f"receivables[{invoices[invoice][1]}]'s; "
                                             f"expected each invoice once")
        invoices[invoice] = here
        issued = check.date(raw["date"], here + ("date",)) or day
        due = check.date(raw.get("due"), here + ("due",)) or issued
        if issued >= day:
            check.error(here + ("date",), f"expected an invoice issued before the cut-over "
                                          f"day {day}, got {issued}")
        if due < issued:
            check.error(here + ("due",), f"expected a due date on or after {issued}, got {due}")
        receivables.append(OpeningReceivable(
            customer, contract_id, invoice, issued, due,
            check.money(raw["amount"], here + ("amount",)), _line(lines, here)))
    for i, raw in enumerate(data.get("unbilled") or []):
        here = ("unbilled", i)
        customer, contract_id = check.contract(raw, here)
        unbilled.append(OpeningUnbilled(customer, contract_id,
                                        check.money(raw["amount"], here + ("amount",)),
                                        _line(lines, here)))
    for i, raw in enumerate(data.get("commitments") or []):
        here = ("commitments", i)
        customer, contract_id = check.contract(raw, here)
        contract = _contract(contracts, customer, contract_id)
        usage = check.money(raw["usage_to_date"], here + ("usage_to_date",))
        period = ""
        if contract is not None:
            terms = contract.commitment
            if terms is None:
                check.error(here + ("contract",), f"contract {contract.id!r} has no "
                                                  f"commitment")
            else:
                period = str(day.year) if terms.period == "year" else month_of(day)
                starts = (datetime.date(day.year, 1, 1) if terms.period == "year" else day)
                if terms.method != "remote" and starts < day and usage:
                    check.error(here + ("usage_to_date",), (
                        f"a {terms.method} commitment in progress cannot be taken over (it "
                        f"recognized part of its minimum before the cut-over); expected the "
                        f"cut-over at the start of its period, or the remote method"))
                if terms.period == "month" and usage:
                    check.error(here + ("usage_to_date",), (
                        "a monthly commitment's period starts on the cut-over day: there "
                        "is no usage before it in the period (expected 0)"))
        commitments.append(OpeningCommitment(customer, contract_id, period, usage,
                                             _line(lines, here)))
    if check.errors:
        return None, check.errors
    return Opening(day, code, tuple(lots), tuple(receivables), tuple(unbilled),
                   tuple(commitments), name), []


def _contract(contracts: ContractSet, customer: str, contract_id: str) -> Contract | None:
    found = contracts.customers.get(customer)
    if found is None or not contract_id:
        return None
    return next((c for c in found.contracts if c.id == contract_id), None)
