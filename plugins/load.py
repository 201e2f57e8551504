"""One load of a book, as the tokenbooks plugins computed it: made once, read by all.

The first tokenbooks plugin of a load (``tokenbooks.plugins.contracts``, or the one-line
``tokenbooks.plugins.book``) attaches a ``Load`` to the load's options map; each later
stage and every reader of the loaded book takes it from there, so that nothing is parsed,
priced or run twice in one load:

    entries, errors, options = loader.load_file("main.beancount")
    load = Load.of(options)
    load.contracts                  # the contracts folder, validated (rules.model)
    load.revenue.lots_at(day)       # the engine's lots at the end of a month
    load.revenue.weights(start, end)  # the value of the usage at contract rates

A new load of the book makes a new options map and so a new ``Load``: nothing of one
load leaks into the next. Beancount's pickle cache does not keep it (``__reduce__``):
a book read back from that cache has no ``Load``, and the tokenbooks commands load
books without the cache.
"""

from __future__ import annotations

import datetime
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount.core import data

from .config import PluginConfig, contracts_folder, ledger_dir
from .entries.purchases import parse_purchases
from .entries.usage import ACTION, WORKFLOW, UsageTable, _new_usage, parse_usage
from .errors import ConfigError, ContractFileError, at
from .rules.cogs import CostIssue, served_actions
from .rules.contracts import ContractError, load_contracts
from .rules.engine import ContractRun
from .rules.lots import Lot
from .rules.model import ContractSet
from .rules.periods import ONE_DAY, month_bounds
from .rules.profitability import Weight
from .rules.records import Purchase, Usage
from .rules.rollforward import LotState

KEY = "tokenbooks"
ZERO = Decimal("0.00")


@dataclass
class Revenue:
    """What the revenue stage computed: one engine run per contract, to ``as_of``."""

    runs: dict[str, ContractRun]  # contract id -> its run, in the order they ran
    as_of: datetime.date
    posting: str

    def lots_at(self, day: datetime.date) -> list[tuple[str, Lot]]:
        """(customer, lot) of every lot at the end of ``day``, by lot id (the engine's
        copies: the contract sub-ledger as it stood then)."""
        out = [(run.contract.customer, lot) for run in self.runs.values()
               for lot in run.lots_at(day)]
        return sorted(out, key=lambda item: item[1].id)

    def lot_states(self, start: datetime.date, end: datetime.date
                   ) -> list[tuple[LotState, Lot]]:
        """Each lot's liability before ``start`` and at the end of ``end``, its revenue
        posted in between, and the lot as it stood at ``end``."""
        before = {lot.id: lot for _, lot in self.lots_at(start - ONE_DAY)}
        out = []
        for customer, lot in self.lots_at(end):
            old = before.get(lot.id)
            opening = old.liability if old else ZERO
            revenue_before = old.posted_total.posted if old else ZERO
            if old is None and lot.opening and start <= lot.purchased:
                opening = lot.price + lot.refunded  # taken over at the cut-over: opening
            out.append((LotState(customer, lot.id, opening, lot.liability,
                                 lot.posted_total.posted - revenue_before), lot))
        return out

    def weights(self, start: datetime.date, end: datetime.date) -> list[Weight]:
        """The value at contract rates of the usage priced in the months of
        [start, end), per customer, stream, model, feature and action served (what
        usage and action revenue is split by)."""
        out = []
        for run in self.runs.values():
            customer = run.contract.customer
            for month, values in run.values.items():
                first, _ = month_bounds(month)
                if not start <= first < end:
                    continue
                for (model, feature, action), (tokens, actions) in values.items():
                    for stream, value in (("Usage", tokens), ("Actions", actions)):
                        if value:
                            out.append(Weight(first, customer, stream, model, feature,
                                              action, value))
        return out

    def priced(self) -> dict[str, int]:
        """Usage entries priced, per customer."""
        out: dict[str, int] = defaultdict(int)
        for run in self.runs.values():
            out[run.contract.customer] += run.priced
        return dict(out)


@dataclass
class Load:
    """The tokenbooks computation of one load of a book (see the module doc)."""

    root: Path  # the folder of the top-level ledger file
    folder: Path  # the contracts folder
    contracts: ContractSet
    contract_errors: list[ContractError]
    usage: UsageTable | None = None
    purchases: list[tuple[Purchase, data.Transaction]] | None = None
    bad_purchases: list[tuple[data.Transaction, str]] = field(default_factory=list)
    revenue: Revenue | None = None  # the revenue stage's
    # the book's first operating currency; "" without the option: no contract is foreign
    # (docs/currency.md)
    operating: str = ""
    _served: tuple[dict[tuple[str, str], str], list[CostIssue]] | None = None

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        # Not kept in Beancount's pickle cache: a cached book is read without plugins.
        return (_from_cache, ())

    @classmethod
    def of(cls, options_map: Mapping[str, Any]) -> Load | None:
        """The Load of the load that made ``options_map``, if tokenbooks plugins ran."""
        found = options_map.get(KEY)
        return found if isinstance(found, Load) else None

    @classmethod
    def attach(cls, options_map: MutableMapping[str, Any], config: PluginConfig
               ) -> tuple[Load, list[ConfigError]]:
        """The load's Load, made (and the contracts read) by the first stage to ask."""
        folder = contracts_folder(options_map, config)
        found = cls.of(options_map)
        if found is not None:
            if found.folder != folder:
                return found, [ConfigError(at(f"<{KEY}>"), (
                    f"the tokenbooks plugin lines name two contracts folders, {found.folder} "
                    f"and {folder}; expected one (the first one is used)"), None)]
            return found, []
        contracts, errors = load_contracts(folder.resolve())
        load = cls(ledger_dir(options_map), folder, contracts, errors)
        load.operating = str((options_map.get("operating_currency") or [""])[0])
        options_map[KEY] = load
        include = options_map.setdefault("include", [])
        for name in contracts.files:  # editing a contract makes Beancount and Fava reload
            absolute = str(Path(name).resolve())
            if absolute not in include:
                include.append(absolute)
        return load, []

    def usage_table(self, entries: Iterable[data.Directive]) -> UsageTable:
        """The book's usage entries, parsed by the first stage that reads them."""
        if self.usage is None:
            self.usage = parse_usage(entries)
        return self.usage

    def purchase_table(self, entries: Iterable[data.Directive]
                       ) -> list[tuple[Purchase, data.Transaction]]:
        """The book's purchases and refunds, parsed by the first stage that reads them."""
        if self.purchases is None:
            self.purchases, self.bad_purchases = parse_purchases(entries)
        return self.purchases

    def served(self, entries: Iterable[data.Directive]
               ) -> tuple[dict[tuple[str, str], str], list[CostIssue]]:
        """(customer, workflow) -> the action that workflow served (``rules.cogs``)."""
        if self._served is None:
            rows = self.usage_table(entries).rows
            # only action aggregates of a workflow can serve one: few of the records
            self._served = served_actions([_new_usage(Usage, row) for row in rows
                                           if row[WORKFLOW] and row[ACTION]])
        return self._served

    def contract_file_errors(self) -> list[ContractFileError]:
        """The contracts' errors, at the YAML file and line (the contracts stage's)."""
        out = []
        for error in self.contract_errors:
            path = Path(error.file)
            filename = str(path if path.is_absolute() else (self.root / path).resolve())
            message = f"{error.field}: {error.message}" if error.field else error.message
            out.append(ContractFileError(at(filename, error.line or 0), message, None))
        return out


def _from_cache() -> None:
    return None


@contextmanager
def frozen_book() -> Iterator[None]:
    """Run the plugins with the cyclic garbage collector off, the parsed book frozen
    before them and what they made frozen after (``gc.freeze``: never scanned again,
    freed as usual once unreferenced). Beancount's entries hold no reference cycles, so
    every full collection during or after the plugins (booking, validation, Fava's
    realization) would rescan the whole book to find nothing: measured on a year of 100
    customers at month grain (72,000 entries), 6.05 s of CPU for the load against 5.0 to
    5.7 s frozen. ``tokenbooks serve`` freezes each of Fava's loads the same way
    (``scripts.loading``)."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Run a stage with the cyclic garbage collector off, as it was again after. The
    stages make records per usage entry and free them without reference cycles: a
    collection would only rescan the whole book (seconds, at a few hundred thousand
    entries) to find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
