"""The sample book, copied and closed (2026-01..03), for the Fava pages' tests.

``closed_sample`` is a session fixture: the copy is made and closed once per test run,
then shared by the page-data tests and the browser tests (import it into the module).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from beancount import loader
from samplekit import copy_sample  # noqa: F401  (re-exported for the Fava tests)

from tokenbooks.scripts.close_cmd import run_close

ROOT = Path(__file__).resolve().parents[1]
PERIODS = ("2026-01", "2026-02", "2026-03")


@pytest.fixture(scope="session")
def closed_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main.beancount of a closed copy of the sample book."""
    ledger = copy_sample(tmp_path_factory.mktemp("fava-sample"))
    for period in PERIODS:
        run_close(ledger, period, echo=lambda _text: None)
    return ledger


@pytest.fixture(scope="session")
def loaded_sample(closed_sample: Path) -> tuple[list, dict]:
    entries, errors, options = loader.load_file(str(closed_sample))
    assert errors == []
    return entries, options
