"""The import's Arrow memory pool (``importers.memory``): jemalloc where pyarrow has it,
the user's ``ARROW_DEFAULT_MEMORY_POOL`` left alone."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tokenbooks.importers.memory import POOL_VARIABLE, use_import_pool


@pytest.fixture
def pool_kept():
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


def test_the_import_uses_jemalloc_where_pyarrow_has_it(pool_kept, monkeypatch) -> None:
    monkeypatch.delenv(POOL_VARIABLE, raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    expected = "jemalloc" if _has_jemalloc() else "system"
    assert use_import_pool() == expected
    assert pa.default_memory_pool().backend_name == expected
    assert pa.array([1, 2, 3]).sum().as_py() == 6  # (allocations work in it)


def test_a_pool_the_user_chose_is_left_as_it_is(pool_kept, monkeypatch) -> None:
    monkeypatch.setenv(POOL_VARIABLE, "system")
    pa.set_memory_pool(pa.system_memory_pool())
    assert use_import_pool() == "system"
    assert pa.default_memory_pool().backend_name == "system"
