"""What-if: a loaded book's history re-priced under proposed contracts, in memory.

    ledger = Ledger(entries, options)
    proposal = load_proposal(ledger, Path("proposals/q2-prices"))
    result = compare(ledger, proposal, "2026-Q1")
    print(tables.to_text(table(result)))

A proposal is a folder of contract YAML files in the schema of ``contracts/`` (price
books, customer files; in ``price-books/`` and ``customers/`` or loose, told apart by
their content). A proposal file replaces the book's file of the same id (a price book's
``id``, a customer file's ``customer``); every other file of the book stays. The files
are validated with the book's own parser (``rules.contracts.load_contracts``), their
errors named at the proposal's file and line.

The customers whose file the proposal replaces, or whose contracts name a price book it
replaces, are run again by the contract engine (``reports.rerun``) over the same usage
and purchases, to the load's as-of date; every other customer is as booked. Purchases
are kept as they were (the amounts paid, the credits bought), unless the proposal
re-sizes a pack (its price or credits differ from the book's pack of that name, in the
contract of the same id): each purchase of that pack then buys amount paid / new price
x new credits, and the report says so. Cost tables are not proposals: inference cost is
the book's.

The figures, per customer and in total, booked (the book's postings) and proposed (the
book's postings with the revenue stage's replaced by the new run's): ``invoiced`` (what
the month-end invoices bill, the revenue stage's net debits to ``Assets:Unbilled``, plus
automatic top-ups), revenue by stream, ``breakage``, ``deferred`` (the contract
liability at the period's end), ``cogs`` (attributed inference cost) and ``margin``.
Revenue that moves between periods: per customer, the change of the net contract
balance (liability less contract assets) at the period's start less its change at the
end: revenue the proposal brings into the period from other periods (positive) or moves
out of it (negative), as opposed to more or less consideration.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

from beancount.core import data

from ..entries.build import number
from ..entries.fx import leg_rates, rates_of
from ..rules import accounts
from ..rules.contracts import ContractError, load_contracts, read_yaml
from ..rules.fx import MissingRate, Rates, convert
from ..rules.journal import Booking
from ..rules.model import Contract, ContractSet, Pack
from ..rules.periods import month_bounds, month_of, months, parse_period
from ..rules.records import Purchase
from . import rerun
from .ledger import Ledger
from .tables import Table

ZERO = Decimal("0.00")
TOTAL = "(total)"
REVENUE_STAGE = "<tokenbooks.revenue>"
STREAMS = ("Usage", "Actions", "Commitment", "Adjustments", "Refunds")
FIGURES = ("invoiced", "revenue", *(f"revenue_{s.lower()}" for s in STREAMS), "breakage",
           "deferred", "cogs", "margin")
FLOWS = tuple(f for f in FIGURES if f not in ("deferred", "margin"))
MONTHLY = ("invoiced", "revenue", "breakage", "deferred", "margin")
MOVERS = 5


class ProposalError(Exception):
    """A proposal that cannot be applied: its files' errors, one a line."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass
class Proposal:
    folder: Path
    contracts: ContractSet
    replaced: list[str]  # what the proposal replaces or adds, in words
    customers: set[str]  # the customers to run again
    resized: dict[tuple[str, str], tuple[Pack, Pack]]  # (contract, pack) -> (book's, new)


def _proposal_files(folder: Path) -> list[tuple[str, Path]]:
    """(kind, path) of each YAML file of the proposal: by sub-folder, else by content."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        parent = path.parent.name
        if parent in ("price-books", "customers", "costs"):
            out.append((parent, path))
            continue
        data_, _, _ = read_yaml(path)
        kind = "unknown"
        if isinstance(data_, dict):
            kind = ("customers" if "customer" in data_ else
                    "costs" if "provider" in data_ else
                    "price-books" if "versions" in data_ else "unknown")
        out.append((kind, path))
    return out


def load_proposal(ledger: Ledger, folder: Path) -> Proposal:
    """The book's contracts with the proposal's files in place of theirs (see the module
    doc); ProposalError for a proposal with errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProposalError([f"{folder}: proposal folder not found"])
    book = ledger.contracts
    book_folder = ledger.load.folder if ledger.load.folder.is_absolute() else (
        ledger.root / ledger.load.folder)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tokenbooks-whatif-") as tmp:
        root = Path(tmp)
        shown: dict[str, str] = {}  # name in the merged folder -> the file it came from
        for sub in ("price-books", "customers", "costs"):
            (root / sub).mkdir()
            for path in sorted((book_folder / sub).glob("*.y*ml")):
                shutil.copyfile(path, root / sub / path.name)
                shown[f"{sub}/{path.name}"] = str(path)
        replaced: list[str] = []
        customers: set[str] = set()
        books: set[str] = set()
        for kind, path in _proposal_files(folder):
            if kind == "costs":
                same = root / "costs" / path.name
                if same.exists() and same.read_bytes() == path.read_bytes():
                    continue  # the book's own cost table, as it is
                errors.append(f"{path}: a cost table; expected price books and customer "
                              f"files (inference cost stays the book's)")
                continue
            if kind == "unknown":
                errors.append(f"{path}: neither a price book (id, versions) nor a customer "
                              f"file (customer, contracts)")
                continue
            parsed, _, _ = read_yaml(path)
            name = path.name
            if kind == "price-books":
                ident = str(parsed.get("id")) if isinstance(parsed, dict) else path.stem
                name = f"{ident}{path.suffix}" if isinstance(parsed, dict) else name
                for old in (root / kind).glob(f"{ident}.y*ml"):
                    old.unlink()
                books.add(ident)
                replaced.append(f"price book {ident} ({'replaced' if ident in book.price_books else 'added'}"
                                f" by {path})")
            else:
                ident = str(parsed.get("customer")) if isinstance(parsed, dict) else path.stem
                existing = book.customers.get(ident)
                if existing is not None and existing.source:
                    old_name = Path(existing.source).name
                    (root / kind / old_name).unlink(missing_ok=True)
                    name = old_name
                elif (root / kind / name).exists():
                    name = f"proposal-{name}"
                customers.add(ident)
                replaced.append(f"customer {ident} ({'replaced' if existing else 'added'} by "
                                f"{path})")
            shutil.copyfile(path, root / kind / name)
            shown[f"{kind}/{name}"] = str(path)
        contracts, found = load_contracts(root, display_base=root)
    errors += [_located(e, shown) for e in found]
    if errors:
        raise ProposalError(errors)
    for cid, customer in contracts.customers.items():
        if any(c.price_book in books for c in customer.contracts):
            customers.add(cid)
    resized: dict[tuple[str, str], tuple[Pack, Pack]] = {}
    for cid in sorted(customers):
        old_customer, new_customer = book.customers.get(cid), contracts.customers.get(cid)
        if old_customer is None or new_customer is None:
            continue
        old_contracts = {c.id: c for c in old_customer.contracts}
        for contract in new_customer.contracts:
            old_contract = old_contracts.get(contract.id)
            if old_contract is None:
                continue
            for pack_name, pack in contract.packs.items():
                old_pack = old_contract.packs.get(pack_name)
                if old_pack is not None and (old_pack.price, old_pack.credits) != (
                        pack.price, pack.credits):
                    resized[(contract.id, pack_name)] = (old_pack, pack)
    return Proposal(folder, contracts, replaced, customers, resized)


def _located(error: ContractError, shown: dict[str, str]) -> str:
    file = shown.get(error.file, error.file)
    where = f"{file}:{error.line}" if error.line else file
    return f"{where}: {error.field}: {error.message}" if error.field else \
        f"{where}: {error.message}"


def resize(proposal: Proposal) -> rerun.PurchaseMap:
    """Each purchase of a re-sized pack restated: amount paid / new price x new credits
    (its expiry by the new pack's term when it had the old pack's)."""
    def restate(contract: Contract, purchase: Purchase) -> Purchase:
        found = proposal.resized.get((contract.id, purchase.pack))
        if purchase.kind != "purchase" or found is None:
            return purchase
        old, new = found
        credits = Fraction(purchase.amount) / Fraction(new.price) * Fraction(new.credits)
        expires = purchase.expires
        if expires is None or expires == old.expiry_for(purchase.date):
            expires = new.expiry_for(purchase.date)
        # (the engine takes a purchase's credits exactly: Fraction(credits))
        return _replace(purchase, credits=cast(Decimal, credits), expires=expires)
    return restate


def _replace(purchase: Purchase, **changes: Any) -> Purchase:
    return dataclasses.replace(purchase, **changes)


# --- the figures --------------------------------------------------------------------

Leg = tuple[datetime.date, str, str, Decimal, bool, str]  # date, customer, account,
# amount, from the revenue stage, the transaction's rule


def book_legs(transactions: Iterable[data.Transaction], operating: str = "") -> Iterator[Leg]:
    """The customers' postings as legs; ``operating``: a posting in another currency
    priced ``@`` in it (a foreign contract's, docs/currency.md) is its weight, to the
    minor unit, so that totals never add two currencies."""
    for entry in transactions:
        meta = entry.meta or {}
        customer = meta.get("customer")
        if not isinstance(customer, str):
            continue
        engine = meta.get("filename") == REVENUE_STAGE
        rule = str(meta.get("rule") or "")
        for posting in entry.postings:
            if posting.units is not None and posting.units.number is not None:
                amount, price = number(posting), posting.price
                if operating and posting.units.currency != operating and price is not None \
                        and price.currency == operating and price.number is not None:
                    amount = convert(amount, price.number, operating)
                yield (entry.date, customer, posting.account, amount, engine, rule)


def booking_legs(bookings: Iterable[Booking]) -> Iterator[Leg]:
    for booking in bookings:
        for leg in booking.legs:
            yield (booking.date, booking.customer, leg.account, leg.amount, True, booking.rule)


def run_legs(runs: rerun.Runs, operating: str, rates: Rates, errors: list[str]
             ) -> Iterator[Leg]:
    """The re-run's bookings as legs, a foreign contract's in ``operating`` at the rates
    the revenue stage would post them at (``entries.fx.leg_rates``: a lot's at its
    purchase date's); a missing rate is one of ``errors`` and leaves the legs as they
    are."""
    for run in runs.runs.values():
        code = run.contract.currency
        if not operating or code == operating:
            yield from booking_legs(run.bookings)
            continue
        lot_days = {lot.id: lot.purchased for lot in run.lots}
        for booking in run.bookings:
            try:
                prices = leg_rates(booking, rates, (code, operating), lot_days)
            except MissingRate as e:
                errors.append(f"{run.contract.id}: {e}")
                yield from booking_legs([booking])
                continue
            for leg, rate in zip(booking.legs, prices, strict=True):
                yield (booking.date, booking.customer, leg.account,
                       convert(leg.amount, rate, operating), True, booking.rule)


@dataclass
class Side:
    """One side's figures: per customer and month (flows), and the balances at each
    month end of the period and the day before it."""

    flows: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict)
    balances: dict[tuple[str, datetime.date], dict[str, Decimal]] = field(
        default_factory=dict)


def side(legs: Iterable[Leg], start: datetime.date, end: datetime.date,
         ends: list[datetime.date]) -> Side:
    """Figures of ``legs`` over [start, end) (``ends``: the balance dates)."""
    out = Side()
    last = ends[-1]
    for day, customer, account, amount, engine, rule in legs:
        if day > last:
            continue
        if account.startswith(accounts.DEFERRED_REVENUE + ":") or account.startswith(
                accounts.CONTRACT_ASSETS + ":"):
            name = "deferred" if account.startswith(accounts.DEFERRED_REVENUE) else "assets"
            signed = -amount if name == "deferred" else amount
            for when in ends:
                if day <= when:
                    into = out.balances.setdefault((customer, when), {})
                    into[name] = into.get(name, ZERO) + signed
        if not start <= day < end:
            continue
        figure = None
        value = amount
        if account.startswith(accounts.REVENUE + ":"):
            stream = accounts.stream(account)
            figure = "breakage" if stream == "Breakage" else (
                f"revenue_{stream.lower()}" if stream in STREAMS else "revenue_usage")
            value = -amount
        elif account.startswith("Expenses:COGS:"):
            figure = "cogs"
        elif engine and (account.startswith(accounts.UNBILLED + ":") or (
                rule == "top-up" and account.startswith(accounts.RECEIVABLE + ":"))):
            figure = "invoiced"
        if figure is None:
            continue
        flows = out.flows.setdefault((customer, month_of(day)), {})
        flows[figure] = flows.get(figure, ZERO) + value
        if figure != "cogs" and figure != "invoiced":
            flows["revenue"] = flows.get("revenue", ZERO) + value
    return out


def _pct(change: Decimal, base: Decimal) -> Decimal | None:
    if not base:
        return None
    return (change / abs(base) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class Comparison:
    """A what-if of one period (see the module doc)."""

    period: str
    start: datetime.date
    end: datetime.date  # the period's last day
    months: list[str]
    proposal: Proposal
    customers: list[str]
    booked: dict[str, dict[str, Decimal]]  # customer (and TOTAL) -> figure -> amount
    proposed: dict[str, dict[str, Decimal]]
    monthly: dict[str, dict[str, tuple[Decimal, Decimal]]]  # month -> figure -> totals
    timing: dict[str, Decimal]  # customer -> revenue moved into (+) / out of (-) the period
    moved: Decimal  # sum over customers of |timing|
    moved_share: Decimal | None  # moved / booked revenue, %
    movers: list[str]  # customers whose invoice moves most
    negative: list[str]  # customers whose margin turns negative
    assumptions: list[str]
    errors: list[str]
    notices: list[str]
    converted: str = ""  # the operating currency, in a book of several (docs/currency.md)

    def difference(self, customer: str, figure: str) -> Decimal:
        return self.proposed[customer][figure] - self.booked[customer][figure]


def _period_figures(s: Side, customer: str, period_months: list[str],
                    end: datetime.date) -> dict[str, Decimal]:
    out = {f: ZERO for f in FIGURES}
    for m in period_months:
        for figure, value in s.flows.get((customer, m), {}).items():
            out[figure] += value
    out["deferred"] = s.balances.get((customer, end), {}).get("deferred", ZERO)
    out["margin"] = out["revenue"] - out["cogs"]
    return out


def _net(s: Side, customer: str, day: datetime.date) -> Decimal:
    found = s.balances.get((customer, day), {})
    return found.get("deferred", ZERO) - found.get("assets", ZERO)


def compare(ledger: Ledger, proposal: Proposal, period: str) -> Comparison:
    """Booked against proposed over ``period`` (YYYY-MM, YYYY-Qn or YYYY)."""
    start, after = parse_period(period)
    end = after - datetime.timedelta(days=1)
    period_months = months(month_of(start), month_of(end))
    ends = [start - datetime.timedelta(days=1), *(month_bounds(m)[1] for m in period_months)]
    restate = resize(proposal) if proposal.resized else None
    runs = rerun.run(ledger, proposal.contracts, proposal.customers,
                     purchase_map=restate)
    changed = proposal.customers
    # in the operating currency (a book of several: docs/currency.md)
    operating = ledger.load.operating
    fx_errors: list[str] = []
    booked_legs = list(book_legs(ledger.transactions, operating))
    proposed_legs = [leg for leg in booked_legs if not (leg[4] and leg[1] in changed)]
    proposed_legs += run_legs(runs, operating, rates_of(ledger.entries)
                              if ledger.foreign_customers else Rates(), fx_errors)
    booked = side(booked_legs, start, after, ends)
    proposed = side(proposed_legs, start, after, ends)
    customers = sorted({c for c, _ in booked.flows} | {c for c, _ in proposed.flows}
                       | {c for c, _ in booked.balances} | {c for c, _ in proposed.balances}
                       | set(ledger.contracts.customers) | set(proposal.contracts.customers))
    b_fig = {c: _period_figures(booked, c, period_months, end) for c in customers}
    p_fig = {c: _period_figures(proposed, c, period_months, end) for c in customers}
    for figs in (b_fig, p_fig):
        figs[TOTAL] = {f: sum((figs[c][f] for c in customers), ZERO) for f in FIGURES}
    monthly: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    for m in period_months:
        m_end = month_bounds(m)[1]
        row = {}
        for figure in MONTHLY:
            values = []
            for s in (booked, proposed):
                figures = [_period_figures(s, c, [m], m_end) for c in customers]
                values.append(sum((f[figure] for f in figures), ZERO))
            row[figure] = (values[0], values[1])
        monthly[m] = row
    timing = {}
    for c in customers:
        moved = ((_net(proposed, c, ends[0]) - _net(booked, c, ends[0]))
                 - (_net(proposed, c, end) - _net(booked, c, end)))
        if moved:
            timing[c] = moved
    moved_total = sum((abs(v) for v in timing.values()), ZERO)
    share = _pct(moved_total, b_fig[TOTAL]["revenue"])
    movers = sorted((c for c in customers if p_fig[c]["invoiced"] != b_fig[c]["invoiced"]),
                    key=lambda c: (-abs(p_fig[c]["invoiced"] - b_fig[c]["invoiced"]), c))
    negative = [c for c in customers if b_fig[c]["margin"] >= 0 > p_fig[c]["margin"]]
    assumptions = [f"Proposal {proposal.folder}: " + "; ".join(proposal.replaced) + "."
                   if proposal.replaced else f"Proposal {proposal.folder}: no file."]
    for (contract_id, pack_name), (old, new) in sorted(proposal.resized.items()):
        count = sum(1 for p, _ in ledger.load.purchases or []
                    if p.kind == "purchase" and p.pack == pack_name
                    and p.contract == contract_id)
        assumptions.append(
            f"Assumption: pack {pack_name} of {contract_id} re-sized from {old.price} for "
            f"{old.credits:,} credits to {new.price} for {new.credits:,}: its {count} "
            f"purchase(s) keep the amounts paid and buy amount paid / {new.price} x "
            f"{new.credits:,} credits.")
    notices = [f"{n.customer} {n.date}: {n.message}" for r in runs.runs.values()
               for n in r.notices if n.rule == "hard-stop"]
    return Comparison(period, start, end, period_months, proposal, customers, b_fig, p_fig,
                      monthly, timing, moved_total, share, movers[:MOVERS], negative,
                      assumptions, runs.errors + fx_errors, notices, operating
                      if ledger.foreign_customers else "")


# --- the report ---------------------------------------------------------------------

COLUMNS = ["section", "customer", "month", "figure", "booked", "proposed", "difference",
           "change_pct"]


def _row(section: str, customer: str, figure: str, booked: Decimal, proposed: Decimal,
         month: str | None = None) -> dict[str, object]:
    row: dict[str, object] = {"section": section, "customer": customer}
    if month is not None:
        row["month"] = month
    row.update({"figure": figure, "booked": booked, "proposed": proposed,
                "difference": proposed - booked, "change_pct": _pct(proposed - booked, booked)})
    return row


def table(result: Comparison) -> Table:
    """The what-if as a report table: sections total, customers, months, invoice moves,
    margin negative, timing (see the notes)."""
    rows: list[dict[str, object]] = []
    for figure in FIGURES:
        rows.append(_row("total", TOTAL, figure, result.booked[TOTAL][figure],
                         result.proposed[TOTAL][figure]))
    for c in result.customers:
        for figure in FIGURES:
            b, p = result.booked[c][figure], result.proposed[c][figure]
            if b or p:
                rows.append(_row("customers", c, figure, b, p))
    for m, figures in result.monthly.items():
        for figure, (b, p) in figures.items():
            rows.append(_row("months", TOTAL, figure, b, p, m))
    for c in result.movers:
        rows.append(_row("invoice moves", c, "invoiced", result.booked[c]["invoiced"],
                         result.proposed[c]["invoiced"]))
    for c in result.negative:
        rows.append(_row("margin negative", c, "margin", result.booked[c]["margin"],
                         result.proposed[c]["margin"]))
    for c, moved in sorted(result.timing.items()):
        rows.append({"section": "timing", "customer": c,
                     "figure": "revenue from other periods", "difference": moved,
                     "change_pct": _pct(moved, result.booked[c]["revenue"])})
    rows.append({"section": "timing", "customer": TOTAL,
                 "figure": "revenue moved between periods (sum of |moved|)",
                 "booked": result.booked[TOTAL]["revenue"], "difference": result.moved,
                 "change_pct": result.moved_share})
    notes = [
        *result.assumptions,
        f"Re-run: {', '.join(sorted(result.proposal.customers)) or 'no customer'} by the "
        f"contract engine on the book's usage and purchases, in memory (nothing written); "
        f"every other customer as booked. Booked: the book's postings; proposed: the same "
        f"with the revenue stage's postings of the re-run customers replaced.",
        "invoiced: what the month-end invoices bill (net Assets:Unbilled of the revenue "
        "stage: arrears usage, actions, overage, commitment) plus automatic top-ups; "
        "revenue: every Income:Revenue stream, breakage included; deferred: the contract "
        f"liability at {result.end}; cogs: attributed inference cost (the book's); "
        "margin: revenue - cogs.",
        "invoice moves: the customers whose invoiced amount moves most; margin negative: "
        "a margin >= 0 booked and < 0 proposed; timing: the change of the net contract "
        "balance (liability - contract assets) at the period's start less at its end, "
        "revenue the proposal brings into the period from other periods (+) or moves out "
        "(-); change_pct of the total: share of the booked revenue.",
        *(f"Engine: {e}" for e in result.errors),
    ]
    if result.converted:
        notes.append(f"Every figure is in {result.converted}: a contract in another "
                     f"currency at its postings' rates (a lot's revenue at its purchase "
                     f"date's), never a sum of two currencies (docs/currency.md).")
    return Table("whatif", f"What-if {result.period}: booked vs proposed "
                           f"({result.proposal.folder.name})", COLUMNS, rows, notes)
