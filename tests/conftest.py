"""Shared fixtures: the repository's folders and fresh contract folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_CONTRACTS = ROOT / "contracts"


@pytest.fixture
def contracts_dir(tmp_path: Path) -> Path:
    """A copy of the sample company's contracts folder."""
    target = tmp_path / "contracts"
    shutil.copytree(SAMPLE_CONTRACTS, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target
