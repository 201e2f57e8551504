"""The Arrow memory pool of an import: jemalloc, where pyarrow has it.

    >>> use_import_pool()   # 'jemalloc' (or the pool already chosen)

The import reads a file in chunks of 16 MiB and, per chunk, allocates and frees columns
of some 80,000 rows each many times over (parse, validation, content hashes, group-bys,
sorts). pyarrow's default pool in its wheels, mimalloc, hands freed pages back to the
system soon, so the next chunk faults them in again: system time, on the two cores
the import already keeps busy. jemalloc keeps them a while for reuse (its decay), which
is what this allocation pattern wants (BENCHMARKS.md, the import section, measures
both). The pool is the process's default from then on: ``tokenbooks import`` (and
``close``, which imports) call this once, before reading; a library user of the
importers keeps pyarrow's default unless they call it. A pool named by the user's
``ARROW_DEFAULT_MEMORY_POOL`` is left as it is.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"  # pyarrow's own setting, read at its start


def use_import_pool() -> str:
    """Make jemalloc pyarrow's default memory pool, unless the user chose one or this
    pyarrow has no jemalloc; the backend in use."""
    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # (a pyarrow built without it)
            pass
    return pa.default_memory_pool().backend_name
