"""How the commands load a book: afresh (no pickle cache), with the cyclic garbage
collector paused while they load and the loaded book frozen, and the collector as it was
after; Fava's loads in ``tokenbooks serve`` the same."""

from __future__ import annotations

import gc
from pathlib import Path

from beancount import loader
from samplekit import copy_sample

from tokenbooks.plugins.load import Load
from tokenbooks.scripts import loading, serve_cmd


def test_a_command_loads_afresh_with_the_collector_paused(tmp_path: Path, monkeypatch) -> None:
    ledger = copy_sample(tmp_path)
    loader.load_file(str(ledger))  # as bean-check would: a pickle cache may be written
    collections: list[int] = []
    gc.callbacks.append(lambda phase, info: collections.append(info["generation"])
                        if phase == "start" else None)
    try:
        assert gc.isenabled()
        entries, errors, options = loading.load(ledger)
        assert errors == [] and Load.of(options) is not None  # the plugins ran: no cache
        assert collections == []  # no collection during the load
        assert gc.isenabled() and gc.get_freeze_count() > 0  # as it was; the book frozen
        gc.disable()
        loading.load(ledger)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.callbacks.pop()
        gc.enable()
        gc.unfreeze()
    cache = Path(loader.get_cache_filename(loader.PICKLE_CACHE_FILENAME, str(ledger)))
    assert not cache.exists()


def test_serve_pauses_the_collector_in_favas_loads(tmp_path: Path) -> None:
    from fava.core import FavaLedger

    serve_cmd.pause_gc_in_fava_loads()
    patched = FavaLedger.load_file
    serve_cmd.pause_gc_in_fava_loads()  # once is enough: not wrapped twice
    assert FavaLedger.load_file is patched and patched.tokenbooks_paused_gc
    ledger = copy_sample(tmp_path)
    app = serve_cmd.create_app(ledger)
    fava = app.config["LEDGERS"][app.config["LEDGERS"].first_slug()]
    try:
        fava.load_file()
        assert gc.isenabled() and fava.load_errors == []
    finally:
        gc.unfreeze()
