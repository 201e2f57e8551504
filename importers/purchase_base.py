"""What the purchase importers share: checking a purchase against the contracts, the
payment-id index of the book, and building the transactions.

A purchase row becomes a ``Purchase`` (see ``tokenbooks.plugins.rules.records``) and
then, through ``tokenbooks.plugins.entries.purchases.purchase_entry``, a transaction
(the format is that module's), with the source and its sha256 as provenance.

Amounts are read from their text as Decimal, never through float, and must fit the
decimal context: at most ``getcontext().prec`` (28) digits to the cent, 26 before the
point (a longer amount would be rounded by every sum); an amount not to the cent, or
longer, is quarantined with the reason. A payment id is a name of the book: at most
200 characters, no control character (``usage.name_text``). A column named twice in the
header refuses the file (``UnreadableSource``).

``payment_id`` is the dedupe key across the book. A purchase with no payment yet books
the receivable, and its key is ``import_key`` (customer, contract, pack, date, amount
and its occurrence in the file). A refund's key is ``<charge>/refund/<total refunded>``
and its amount what the source says was refunded beyond what the book already holds.
"""

from __future__ import annotations

import csv
import datetime
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, getcontext
from pathlib import Path

import beangulp
from beancount.core import data

from tokenbooks.plugins.entries import purchases as purchase_entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import check_purchase
from tokenbooks.plugins.rules.model import Contract, ContractSet
from tokenbooks.plugins.rules.records import Purchase

from .base import Progress, archive_name, as_contracts, file_sha256, read_head
from .usage import Extraction, Quarantined, RowProblem, UnreadableSource, unique_columns

CENT = Decimal("0.01")


def _shown(raw: str) -> str:
    return repr(raw) if len(raw) <= 40 else f"{raw[:30]!r}... ({len(raw)} characters)"


def cents(text: str, name: str, least: str = "> 0") -> Decimal:
    """An amount to the cent that fits the decimal context, parsed from its text (never
    through float), quantized to the cent; RowProblem with the reason if it is not."""
    raw = (text or "").strip()
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise RowProblem(name, f"expected an amount such as 1000.00, got {_shown(raw)}"
                         ) from None
    if not amount.is_finite():
        raise RowProblem(name, f"expected an amount {least} to the cent, got {_shown(raw)}")
    digits = getcontext().prec
    if amount and amount.adjusted() + 3 > digits:  # its digits to the cent do not fit
        raise RowProblem(name, f"expected an amount of at most {digits - 2} digits before "
                               f"the point (the decimal context holds {digits}), got "
                               f"{_shown(raw)}")
    if amount != amount.quantize(CENT):
        raise RowProblem(name, f"expected an amount {least} to the cent, got {_shown(raw)}")
    return amount.quantize(CENT)


def money(text: str, name: str) -> Decimal:
    """An amount > 0 to the cent, parsed from its text (never through float)."""
    amount = cents(text, name)
    if amount <= 0:
        raise RowProblem(name, f"expected an amount > 0 to the cent, got "
                               f"{_shown((text or '').strip())}")
    return amount


def day(text: str, name: str) -> datetime.date:
    raw = (text or "").strip()
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise RowProblem(name, f"expected a date YYYY-MM-DD, got {raw!r}") from None


def contract_for(contracts: ContractSet, customer: str, contract_id: str, pack: str,
                 when: datetime.date) -> Contract:
    """The contract a purchase is booked against (raises RowProblem if there is none)."""
    problem = check_purchase(contracts, customer, contract_id or None, pack, when)
    if problem:
        field = ("customer" if problem.startswith("unknown customer") else
                 "pack" if "no pack" in problem else "contract")
        raise RowProblem(field, problem)
    cust = contracts.customers[customer]
    found = cust.contract_for(contract_id, when)
    assert found is not None
    return found


def pack_terms(contract: Contract, pack: str, when: datetime.date
               ) -> tuple[Decimal | None, datetime.date | None]:
    """(credits, expiry) a pack (or a modification's added credits) gives on ``when``."""
    if pack in contract.packs:
        chosen = contract.packs[pack]
        return chosen.credits, chosen.expiry_for(when)
    mod = next(m for m in contract.modifications if m.id == pack)
    return mod.add_credits, mod.expires


class PaymentIndex:
    """Payment ids (and import keys) of the book's purchases, and what each charge has
    been refunded so far."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.refunded: dict[str, Decimal] = defaultdict(Decimal)
        self._seen: set[int] = set()

    def register(self, entries: Iterable[data.Directive]) -> None:
        for entry in entries:
            if not purchase_entries.is_purchase(entry) or id(entry) in self._seen:
                continue
            self._seen.add(id(entry))
            try:
                purchase = purchase_entries.purchase_from_entry(entry)
            except (ValueError, KeyError):
                continue
            self.add(purchase, str(entry.meta.get("import_key", "") or ""))

    def add(self, purchase: Purchase, import_key: str = "") -> None:
        for key in (purchase.payment_id, import_key):
            if key:
                self.keys.add(key)
        if purchase.kind == "refund" and purchase.refund_of:
            self.refunded[purchase.refund_of] += purchase.amount


@dataclass
class Row:
    line: int
    text: str
    values: dict[str, str] | RowProblem


def csv_rows(path: Path, progress: Progress) -> Iterator[Row]:
    """The rows of a CSV file with header, each with its first line and original text."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(lines())
        try:
            names = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UnreadableSource(f"{path}:1: cannot read the CSV header ({exc})") from exc
        unique_columns(names, path)
        line = 1 + len(consumed)
        consumed.clear()
        while True:
            try:
                values = next(reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                values, problem = [], RowProblem("(line)", f"malformed CSV: {exc}")
            except UnicodeDecodeError as exc:
                raise UnreadableSource(f"{path}:{line}: not UTF-8 text ({exc})") from exc
            text = "".join(consumed).rstrip("\r\n")
            progress.update(sum(len(part) for part in consumed))
            if problem is None and not values:
                pass
            elif problem is None and len(values) != len(names):
                yield Row(line, text, RowProblem("(line)", f"expected {len(names)} fields, "
                                                           f"got {len(values)}"))
            else:
                yield Row(line, text, problem or dict(zip(names, values, strict=True)))
            line += len(consumed)
            consumed.clear()


class PurchaseImporter(beangulp.Importer):
    """Base of the purchase importers: ``rows`` gives the purchases of one CSV row."""

    required: tuple[str, ...] = ()
    kind = "purchases"

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.BANK, index: PaymentIndex | None = None) -> None:
        self.contracts = as_contracts(contracts)
        self.cash_account = account
        self.index = index if index is not None else PaymentIndex()
        self.results: dict[str, Extraction] = {}
        self.progress = Progress()

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[tuple[Purchase, str]]:
        """The purchases (and refunds) of one row with their import keys (RowProblem)."""
        raise NotImplementedError

    # -- beangulp ----------------------------------------------------------------------------

    def identify(self, filepath: str) -> bool:
        if not str(filepath).lower().endswith(".csv"):
            return False
        head = read_head(filepath)
        if head is None:
            return False
        names = next(csv.reader([head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")]), [])
        return set(self.required) <= {name.strip() for name in names}

    def account(self, filepath: str) -> data.Account:
        return self.cash_account

    def filename(self, filepath: str) -> str | None:
        result = self.results.get(str(filepath))
        return archive_name(filepath, result.sha256 if result else file_sha256(filepath))

    def date(self, filepath: str) -> datetime.date | None:
        result = self.results.get(str(filepath)) or self.run(Path(filepath), dry=True)
        return max((e.date for e in result.entries), default=None)

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        self.index.register(existing)
        result = self.run(Path(filepath))
        self.results[str(filepath)] = result
        return list(result.entries)

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """Nothing to do: ``extract`` already dropped every payment the book holds."""

    # -- the work ------------------------------------------------------------------------------

    def payee(self, customer: str) -> str:
        found = self.contracts.customers.get(customer)
        return found.name if found else customer

    def run(self, path: Path, dry: bool = False) -> Extraction:
        sha256 = file_sha256(path)
        result = Extraction(source=path, sha256=sha256, importer=self.name, kind=self.kind)
        occurrence: dict[str, int] = defaultdict(int)
        for row in csv_rows(path, self.progress):
            result.read += 1
            try:
                if isinstance(row.values, RowProblem):
                    raise row.values
                found = self.purchases(row.values, occurrence)
            except RowProblem as problem:
                result.quarantine.append(Quarantined(row.line, problem.field, problem.reason,
                                                     row.text))
                continue
            new = [(p, key) for p, key in found if (p.payment_id or key) not in self.index.keys]
            if not new:
                result.duplicates += 1
                continue
            result.imported += 1
            for purchase, key in new:
                provenance: dict[str, object] = {}
                if key:
                    provenance["import_key"] = key
                provenance.update({"source": path.name, "sha256": sha256})
                result.entries.append(purchase_entries.purchase_entry(
                    purchase, self.payee(purchase.customer), provenance, self.cash_account))
                if not dry:
                    self.index.add(purchase, key)
        result.entries.sort(key=lambda e: (e.date, e.meta["customer"], e.meta["payment_id"],
                                           str(e.meta.get("import_key", ""))))
        if result.read and len(result.quarantine) == result.read and all(
                q.field == "(line)" for q in result.quarantine):
            raise UnreadableSource(f"{path}: no row could be read as CSV "
                                   f"({result.quarantine[0].reason} on line "
                                   f"{result.quarantine[0].line})")
        return result


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
