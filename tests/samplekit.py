"""A working copy of the sample book for tests, as a fresh clone has it.

``make demo`` closes the sample quarter in the working tree (invoices, locks and the
customers' payments of the invoices, which git ignores); tests start from the unclosed
book whatever the tree holds. The sample book's derived event-id index
(``ledgers/.tokenbooks/``, git-ignored) is left out too: a fresh clone has none, and the
first import or close rebuilds it from ``ledgers/documents/`` (docs/event-index.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_sample(folder: Path) -> Path:
    """Copy ledgers/ and contracts/ into ``folder``; returns the copy's main.beancount."""
    shutil.copytree(ROOT / "ledgers", folder / "ledgers",
                    ignore=shutil.ignore_patterns("reports", "*.picklecache", ".tokenbooks"))
    shutil.copytree(ROOT / "contracts", folder / "contracts",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    ledger = folder / "ledgers" / "main.beancount"
    for sub in ("invoices", "closes"):
        for path in (ledger.parent / sub).iterdir():
            if path.name != "README.beancount":
                path.unlink()
    # the customers' payments ``make demo`` imports after each close (of its invoices)
    for pattern in ("imports/*.payments-*", "documents/Assets/Bank/*.payments-*"):
        for path in ledger.parent.glob(pattern):
            path.unlink()
    return ledger
