"""Loading a book for a command: as bean-check does, without Beancount's pickle cache,
with the cyclic garbage collector paused.

Every tokenbooks command (import, close, report, serve) loads the book through here:

* without the pickle cache: it does not see a new file that an include glob matches
  (an import, an invoice file), and it cannot keep what the plugins computed
  (``tokenbooks.plugins.load``); the stale cache file is removed;
* with the cyclic GC off during the load and the loaded book frozen after it: a book is
  hundreds of thousands of long-lived objects without cycles, and a collection only
  rescans them to find nothing (measured: a third of a plain load's time).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data

from tokenbooks.plugins.load import frozen_book


def paused_gc() -> AbstractContextManager[None]:
    """The cyclic GC off for the block, the objects alive before it and what it made
    frozen (never scanned again; freed as usual once unreferenced), and the GC back as it
    was: ``plugins.load.frozen_book``, which the book plugin runs its stages in."""
    return frozen_book()


def forget_cache(ledger: Path) -> None:
    """Remove Beancount's pickle cache of ``ledger`` (bean-check may have written it)."""
    cache = Path(loader.get_cache_filename(loader.PICKLE_CACHE_FILENAME, str(ledger)))
    cache.unlink(missing_ok=True)


def load(ledger: Path) -> tuple[list[data.Directive], list[Any], dict[str, Any]]:
    """The entries, errors and options of the book of ``ledger`` (see the module doc)."""
    path = ledger.resolve()
    forget_cache(path)
    with paused_gc():
        entries, errors, options = loader._load([(str(path), True)], None, None, None)
    return entries, errors, options
