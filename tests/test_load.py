"""One computation per load: the Load the plugins attach to a load, read by every stage
and reader, made anew by each load and never kept in Beancount's pickle cache."""

from __future__ import annotations

import gc
import pickle
from pathlib import Path

import pytest
from beancount import loader
from samplekit import copy_sample

from tokenbooks.plugins import reports
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules import engine


def load(ledger: Path) -> tuple[list, list, dict]:
    return loader._load([(str(ledger), True)], None, None, None)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("load"))


def test_the_engine_runs_once_per_contract_per_load(sample: Path, monkeypatch) -> None:
    runs: list[str] = []
    original = engine.ContractEngine.run_all

    def counted(self, usages, purchases):  # noqa: ANN001, ANN202
        runs.append(self.contract.id)
        return original(self, usages, purchases)

    monkeypatch.setattr(engine.ContractEngine, "run_all", counted)
    entries, errors, options = load(sample)
    assert errors == []
    found = Load.of(options)
    assert found is not None and found.revenue is not None
    contracts = [c.id for cust in found.contracts.customers.values() for c in cust.contracts]
    assert sorted(runs) == sorted(contracts) and len(runs) == len(set(runs))
    # every report of every month, and the pages' data, run nothing again
    ledger = reports.Ledger(entries, options)
    for period in ledger.periods:
        for name in reports.REPORTS:
            reports.build(name, ledger.month(period))
    from tokenbooks.plugins.fava_ext.pages import Pages

    pages = Pages(entries, options)
    for month in pages.months.values():
        month.rollforward, month.revenue, month.credits, month.links  # noqa: B018
    assert len(runs) == len(contracts)


def test_each_load_has_its_own(sample: Path) -> None:
    _, _, first = load(sample)
    _, _, second = load(sample)
    assert Load.of(first) is not Load.of(second)
    assert Load.of(first).usage is not Load.of(second).usage


def test_the_pickle_cache_keeps_no_load(sample: Path) -> None:
    _, _, options = load(sample)
    again = pickle.loads(pickle.dumps(options))
    assert again["tokenbooks"] is None  # the key stays, its value does not
    assert Load.of(again) is None
    with pytest.raises(reports.NotComputed, match="pickle cache"):
        reports.Ledger([], again)


def test_the_stages_leave_the_collector_as_they_found_it(sample: Path) -> None:
    gc.enable()
    load(sample)
    assert gc.isenabled()
    gc.disable()
    try:
        load(sample)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_plugin_lines_naming_two_contracts_folders_are_an_error(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    text = ledger.read_text().replace(
        "plugin \"tokenbooks.plugins.cogs\" \"{'contracts': '../contracts'}\"",
        "plugin \"tokenbooks.plugins.cogs\" \"{'contracts': 'elsewhere'}\"")
    ledger.write_text(text)
    _, errors, _ = load(ledger)
    assert any("name two contracts folders" in e.message for e in errors)
