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
(Stripe's payments export) or the refund's own id (``re_...``, the balance export), and
its amount what the source says was refunded beyond what the book already holds; a fee
booked on its own is keyed by ``fee_of`` (the charge), a payout by ``payout_id``.

Checks every purchase importer makes (``check_price``, ``tax_account``): the amount net
of tax is the pack's price (or the modification's) unless the row overrides ``credits``;
tax is at most the amount; the jurisdiction is an account component. A row that fails
is quarantined with its line, the field and what was expected:

    {"line": 3, "field": "amount", "reason": "expected 1000.00 (the price of pack
     'standard' of contract 'acme-2026'; or give credits to override), got 900.00", ...}

Never into a closed month: ``extract`` dates what falls in a closed month on the first
day of the first open month (``importers.late``: ``original_date``, ``prior_period``), and
adds an ``open`` directive for each account its entries use that the book does not open
(``Assets:Stripe``, ``Expenses:Payment-Processing``, ``Liabilities:Sales-Tax:<J>``),
dated on the book's first open day (the earliest ``open`` of the book, or the first day
after its last closed month), so that a book made by ``tokenbooks init`` accepts them:

    2026-01-01 open Assets:Stripe
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
from fractions import Fraction
from pathlib import Path

import beangulp
from beancount.core import account as bean_account
from beancount.core import data

from tokenbooks.plugins.entries import purchases as purchase_entries
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import check_purchase
from tokenbooks.plugins.rules.model import Contract, ContractSet
from tokenbooks.plugins.rules.records import Purchase
from tokenbooks.plugins.rules.rounding import to_cent

from . import late
from .base import Progress, archive_name, as_contracts, file_sha256, read_head
from .csvtext import header_of
from .usage import (
    Extraction,
    Quarantined,
    RowProblem,
    UnreadableSource,
    name_text,
    unique_columns,
)

CENT = Decimal("0.01")
ZERO = Decimal(0)


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


def optional_cents(text: str | None, name: str) -> Decimal:
    """An optional amount >= 0 to the cent (empty: 0), never through float."""
    raw = (text or "").strip()
    if not raw:
        return ZERO
    amount = cents(raw, name, ">= 0")
    if amount < 0:
        raise RowProblem(name, f"expected an amount >= 0 to the cent, got {_shown(raw)}")
    return amount


def tax_account(jurisdiction: str, name: str) -> str:
    """``Liabilities:Sales-Tax:<Jurisdiction>`` of a jurisdiction as written (``US-CA``,
    ``DE``; empty: ``Unknown``); RowProblem naming ``name`` if it makes no account."""
    raw = name_text((jurisdiction or "").strip(), name) or accounts.UNKNOWN_JURISDICTION
    found = accounts.sales_tax(raw)
    if not accounts.component(raw) or not bean_account.is_valid(found):
        raise RowProblem(name, f"expected a jurisdiction such as US-CA or DE (letters, "
                               f"digits and dashes), got {_shown(raw)}")
    return found


def split_tax(amount: Decimal, tax: Decimal, name: str, tax_name: str) -> Decimal:
    """The consideration of a payment of ``amount`` that includes ``tax``: amount - tax,
    which must be > 0 (RowProblem naming ``tax_name``)."""
    if tax >= amount:
        raise RowProblem(tax_name, f"expected tax below the {name} {amount} (the {name} "
                                   f"includes the tax), got {tax}")
    return amount - tax


def pack_price(contract: Contract, pack: str) -> Decimal | None:
    """The price of a pack, or of a modification's added credits (None: not priced)."""
    if pack in contract.packs:
        return contract.packs[pack].price
    mod = next((m for m in contract.modifications if m.id == pack), None)
    return mod.price if mod is not None and mod.price else None


def check_price(contract: Contract, pack: str, consideration: Decimal, name: str,
                tax: Decimal = ZERO, overridden: bool = False) -> None:
    """RowProblem naming ``name`` when the consideration (the amount net of tax) is not
    the pack's price and the row does not override its credits."""
    price = pack_price(contract, pack)
    if overridden or price is None or consideration == price:
        return
    what = ("modification" if pack not in contract.packs else "pack")
    net = f"{consideration + tax} less tax {tax} = {consideration}" if tax else str(
        consideration)
    raise RowProblem(name, f"expected {price} (the price of {what} {pack!r} of contract "
                           f"{contract.id!r}, net of tax; or give credits to override), "
                           f"got {net}")


def tax_back(refunded: Decimal, paid: Decimal, tax: Decimal) -> Decimal:
    """The tax given back once ``refunded`` of a payment of ``paid`` (tax included) is
    refunded: in proportion, rounded half-up on the running total (so partial refunds
    add up to the tax exactly when the whole payment is refunded)."""
    if not tax or not paid:
        return ZERO
    return to_cent(Fraction(refunded) * Fraction(tax) / Fraction(paid))


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


@dataclass
class Charge:
    """A payment the book holds: what a refund of it is checked against."""

    customer: str
    contract: str
    pack: str
    currency: str
    paid: Decimal  # what the customer paid, tax included
    tax: Decimal = ZERO
    tax_account: str = ""


class PaymentIndex:
    """What the book's purchase transactions hold, for dedupe across sources: payment
    ids (and import keys), each charge and what it has been refunded so far (tax
    included; ``itemized``: by refunds with their own id), the charges whose fee is
    booked, the payouts, and the accounts the book opens."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.refunded: dict[str, Decimal] = defaultdict(Decimal)
        self.refunded_tax: dict[str, Decimal] = defaultdict(Decimal)
        self.itemized: dict[str, Decimal] = defaultdict(Decimal)
        self.charges: dict[str, Charge] = {}
        self.fees: set[str] = set()
        self.payouts: set[str] = set()
        self.opened: set[str] = set()
        self.book_start: datetime.date | None = None
        self._seen: set[int] = set()

    def copy(self) -> PaymentIndex:
        """An independent copy (a dry run books nothing into the index)."""
        other = PaymentIndex()
        other.keys = set(self.keys)
        other.refunded = defaultdict(Decimal, self.refunded)
        other.refunded_tax = defaultdict(Decimal, self.refunded_tax)
        other.itemized = defaultdict(Decimal, self.itemized)
        other.charges = dict(self.charges)
        other.fees, other.payouts = set(self.fees), set(self.payouts)
        other.opened, other.book_start = set(self.opened), self.book_start
        other._seen = set(self._seen)
        return other

    def register(self, entries: Iterable[data.Directive]) -> None:
        for entry in entries:
            if id(entry) in self._seen:
                continue
            if isinstance(entry, data.Open):
                self._seen.add(id(entry))
                self.opened.add(entry.account)
                if self.book_start is None or entry.date < self.book_start:
                    self.book_start = entry.date
                continue
            if entry.__class__ is not data.Transaction:
                continue
            self._seen.add(id(entry))
            if payout := purchase_entries.payout_of(entry):
                self.payouts.add(payout)
            if entry.meta.get("rule") == "payment" and entry.meta.get("payment_id"):
                self.keys.add(str(entry.meta["payment_id"]))  # a customer's payment
            if not purchase_entries.is_purchase(entry):
                if charge := purchase_entries.fee_of(entry):
                    self.fees.add(charge)
                continue
            try:
                purchase = purchase_entries.purchase_from_entry(entry)
            except (ValueError, KeyError):
                continue
            account, tax = purchase_entries.tax_leg(entry)
            self.add(purchase, str(entry.meta.get("import_key", "") or ""), tax, account,
                     fee=bool(purchase_entries.fee_of(entry)))

    def add(self, purchase: Purchase, import_key: str = "", tax: Decimal = ZERO,
            tax_account: str = "", fee: bool = False) -> None:
        for key in (purchase.payment_id, import_key):
            if key:
                self.keys.add(key)
        if purchase.kind == "purchase" and purchase.payment_id:
            self.charges[purchase.payment_id] = Charge(
                purchase.customer, purchase.contract, purchase.pack, purchase.currency,
                purchase.amount + tax, tax, tax_account)
        if purchase.kind == "refund" and purchase.refund_of:
            self.refunded[purchase.refund_of] += purchase.amount + tax
            self.refunded_tax[purchase.refund_of] += tax
            if not purchase.payment_id.startswith(f"{purchase.refund_of}/refund/"):
                self.itemized[purchase.refund_of] += purchase.amount + tax
        if fee and purchase.payment_id:
            self.fees.add(purchase.payment_id)

    def refund_split(self, charge: str, gross: Decimal, found: Charge | None = None
                     ) -> tuple[Decimal, Decimal]:
        """(consideration, tax) of a refund of ``gross`` more of ``charge`` (``found``:
        the charge, if the index does not hold it yet): the tax in proportion to the
        charge's, on the running total."""
        found = found or self.charges.get(charge)
        if found is None or not found.tax:
            return gross, ZERO
        before = self.refunded.get(charge, ZERO)
        tax = (tax_back(before + gross, found.paid, found.tax)
               - self.refunded_tax.get(charge, ZERO))
        return gross - tax, tax


@dataclass
class Booking:
    """What one row books: a purchase or refund (with its tax and fee), or an entry of
    its own (a fee, a payout) with its dedupe key in ``fees`` or ``payouts``."""

    purchase: Purchase | None = None
    key: str = ""  # import key of an unpaid purchase
    tax: Decimal = ZERO
    tax_account: str = ""
    fee: Decimal = ZERO
    entry: data.Transaction | None = None
    fee_of: str = ""  # the fee entry's charge
    payout: str = ""  # the payout entry's id
    payment: str = ""  # the id of a customer's payment of invoices (``entry``)


@dataclass
class Row:
    line: int
    text: str
    values: dict[str, str] | RowProblem


class _BadLine(Exception):
    """A line of the file that is not UTF-8 (the record it is part of is quarantined)."""


class _Lines:
    """The decoded lines of a binary file for ``csv.reader``, each kept in ``consumed``;
    a line that is not UTF-8 raises ``_BadLine`` and the next call goes on after it (a
    generator would end at the exception)."""

    def __init__(self, handle: Iterable[bytes], consumed: list[str]) -> None:
        self.lines = iter(handle)
        self.consumed = consumed

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = next(self.lines)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.consumed.append(raw.decode("utf-8", errors="replace"))
            raise _BadLine(f"expected UTF-8 text, got byte 0x{raw[exc.start]:02x} at "
                           f"character {exc.start + 1}") from exc
        self.consumed.append(text)
        return text


def csv_rows(path: Path, progress: Progress) -> Iterator[Row]:
    """The rows of a CSV (or TSV: told by the header, ``csvtext``) file with header, each
    with its first line and original text. Quoted values may hold line breaks (a row
    then spans lines); a BOM is dropped; a line that is not UTF-8 is a row of its own
    with a ``(line)`` problem (quarantined), and the rest of the file is read."""
    with open(path, "rb") as handle:
        consumed: list[str] = []
        first = handle.readline()
        try:
            head = first.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableSource(f"{path}:1: cannot read the CSV header (not UTF-8 "
                                   f"text: {exc})") from exc
        names, delimiter = header_of(head)
        if not head.strip():
            return
        unique_columns(names, path)
        progress.update(len(first))

        reader = csv.reader(_Lines(handle, consumed), delimiter=delimiter)
        line = 2
        while True:
            try:
                values = next(reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                values, problem = [], RowProblem("(line)", f"malformed CSV: {exc}")
            except _BadLine as exc:
                values, problem = [], RowProblem("(line)", str(exc))
            text = "".join(consumed).rstrip("\r\n")
            progress.update(sum(len(part.encode("utf-8")) for part in consumed))
            if problem is None and not values:
                pass
            elif problem is None and len(values) != len(names):
                yield Row(line, text, RowProblem("(line)", f"expected {len(names)} fields, "
                                                           f"got {len(values)}"))
            else:
                yield Row(line, text, problem or dict(zip(names, values, strict=True)))
            line += len(consumed)
            consumed.clear()


class CsvImporter(beangulp.Importer):
    """What the importers of CSV tables with a header share (purchases, Stripe, customer
    payments, credit notes): identified by the columns they require, archived under the
    sha256 of the file, dated by the last entry they book (a dry run when not extracted
    yet). A subclass sets ``required`` and ``results`` and has ``run``."""

    required: tuple[str, ...] = ()
    results: dict[str, Extraction]

    def run(self, path: Path, dry: bool = False) -> Extraction:
        raise NotImplementedError

    def identify(self, filepath: str) -> bool:
        if not str(filepath).lower().endswith((".csv", ".tsv")):
            return False
        head = read_head(filepath)
        if head is None:
            return False
        names, _ = header_of(head)  # CSV or TSV, BOM or not (csvtext)
        return set(self.required) <= set(names)

    def filename(self, filepath: str) -> str | None:
        result = self.results.get(str(filepath))
        return archive_name(filepath, result.sha256 if result else file_sha256(filepath))

    def date(self, filepath: str) -> datetime.date | None:
        result = self.results.get(str(filepath)) or self.run(Path(filepath), dry=True)
        return max((e.date for e in result.entries), default=None)


class PurchaseImporter(CsvImporter):
    """Base of the purchase importers: ``rows`` gives the purchases of one CSV row."""

    kind = "purchases"

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 account: str = accounts.BANK, index: PaymentIndex | None = None,
                 tax_jurisdiction: str = "") -> None:
        self.contracts = as_contracts(contracts)
        self.cash_account = account
        self.index = index if index is not None else PaymentIndex()
        self.tax_jurisdiction = tax_jurisdiction
        self.until: datetime.date | None = None  # the book's last closed day (extract)
        self.results: dict[str, Extraction] = {}
        self.progress = Progress()
        self.dry = False  # ``run(dry=True)`` under way

    def purchases(self, values: dict[str, str], occurrence: dict[str, int]
                  ) -> list[tuple[Purchase, str]] | list[Booking]:
        """What one row books: its purchases (and refunds) with their import keys, or
        ``Booking``s (RowProblem if the row cannot be booked)."""
        raise NotImplementedError

    def ordered(self, rows: Iterable[Row]) -> Iterable[Row]:
        """The rows in the order they are booked (default: the file's)."""
        return rows

    # -- beangulp ----------------------------------------------------------------------------

    def account(self, filepath: str) -> data.Account:
        return self.cash_account

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        """The file's new entries: what the book holds left out, what falls in a closed
        month of ``existing`` moved to its first open day, and an ``open`` directive
        first for each account they use that the book does not open."""
        self.index.register(existing)
        self.until = late.closed_until(existing)
        result = self.run(Path(filepath))
        opens = self.opens(result.entries, str(result.source.name))
        self.index.opened.update(entry.account for entry in opens)
        result.entries[:0] = opens
        self.results[str(filepath)] = result
        return list(result.entries)

    def opens(self, entries: Iterable[data.Directive], source: str) -> list[data.Open]:
        """An ``open`` for each account ``entries`` post to that the book does not open:
        on the book's first open day (its earliest ``open``, but after its last closed
        month), or on the first entry's day if that is earlier."""
        first: dict[str, datetime.date] = {}
        for entry in entries:
            if entry.__class__ is not data.Transaction:
                continue
            for post in entry.postings:
                if post.account not in self.index.opened:
                    seen = first.get(post.account)
                    first[post.account] = entry.date if seen is None else min(seen,
                                                                              entry.date)
        start = self.index.book_start
        if self.until is not None:
            after = self.until + datetime.timedelta(days=1)
            start = after if start is None or start < after else start
        return [data.Open(data.new_metadata(source, 0), min(day, start or day), account,
                          None, None)  # type: ignore[arg-type]
                for account, day in sorted(first.items())]

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """Nothing to do: ``extract`` already dropped every payment the book holds."""

    # -- the work ------------------------------------------------------------------------------

    def payee(self, customer: str) -> str:
        found = self.contracts.customers.get(customer)
        return found.name if found else customer

    def known(self, booking: Booking, index: PaymentIndex) -> bool:
        if booking.purchase is not None:
            return (booking.purchase.payment_id or booking.key) in index.keys
        if booking.payout:
            return booking.payout in index.payouts
        if booking.payment:
            return booking.payment in index.keys
        return booking.fee_of in index.fees

    def entry(self, booking: Booking, provenance: dict[str, object]) -> data.Transaction:
        if booking.purchase is None:
            assert booking.entry is not None
            meta = {**booking.entry.meta, **provenance}
            return booking.entry._replace(meta=meta)
        purchase = booking.purchase
        return purchase_entries.purchase_entry(
            purchase, self.payee(purchase.customer), provenance, self.cash_account,
            tax=booking.tax, tax_account=booking.tax_account, fee=booking.fee)

    def run(self, path: Path, dry: bool = False) -> Extraction:
        """Read, check and deduplicate one file (``dry``: against a copy of the index,
        which stays as it was)."""
        sha256 = file_sha256(path)
        result = Extraction(source=path, sha256=sha256, importer=self.name, kind=self.kind)
        occurrence: dict[str, int] = defaultdict(int)
        index = self.index.copy() if dry else self.index
        saved, self.index = self.index, index
        self.dry = dry
        try:
            self._rows(path, result, occurrence, index)
        finally:
            self.index, self.dry = saved, False
        result.quarantine.sort(key=lambda q: q.line)
        late.redate(result.entries, self.until)  # never into a closed month
        result.entries.sort(key=lambda e: (
            e.date, str(e.meta.get("customer", "")),
            str(e.meta.get("payment_id") or e.meta.get("fee_of")
                or e.meta.get("payout_id") or ""),
            str(e.meta.get("import_key", "")), str(e.meta.get("rule", ""))))
        if result.read and len(result.quarantine) == result.read and all(
                q.field == "(line)" for q in result.quarantine):
            raise UnreadableSource(f"{path}: no row could be read as CSV "
                                   f"({result.quarantine[0].reason} on line "
                                   f"{result.quarantine[0].line})")
        return result

    def _rows(self, path: Path, result: Extraction, occurrence: dict[str, int],
              index: PaymentIndex) -> None:
        for row in self.ordered(csv_rows(path, self.progress)):
            result.read += 1
            try:
                if isinstance(row.values, RowProblem):
                    raise row.values
                found = [item if isinstance(item, Booking) else Booking(item[0], item[1])
                         for item in self.purchases(row.values, occurrence)]
            except RowProblem as problem:
                result.quarantine.append(Quarantined(row.line, problem.field, problem.reason,
                                                     row.text))
                continue
            new = [booking for booking in found if not self.known(booking, index)]
            if not new:
                result.duplicates += 1
                continue
            result.imported += 1
            for booking in new:
                provenance: dict[str, object] = {}
                if booking.key:
                    provenance["import_key"] = booking.key
                provenance.update({"source": path.name, "sha256": result.sha256})
                result.entries.append(self.entry(booking, provenance))
                if booking.purchase is not None:
                    index.add(booking.purchase, booking.key, booking.tax,
                              booking.tax_account, fee=bool(booking.fee))
                elif booking.payout:
                    index.payouts.add(booking.payout)
                elif booking.payment:
                    index.keys.add(booking.payment)
                    self.paid_invoices(result.entries[-1], self.dry)
                else:
                    index.fees.add(booking.fee_of)

    def paid_invoices(self, entry: data.Transaction, dry: bool) -> None:
        """A payment of invoices was booked (the Stripe importers keep their invoices'
        open amounts up to date for the next rows; not on a ``dry`` run)."""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
