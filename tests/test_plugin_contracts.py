"""The contracts plugin: errors as bean-check errors, accounts, cache and Fava reload."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from beancount import loader
from beancount.core import data

ROOT = Path(__file__).resolve().parents[1]


def write_book(tmp_path: Path, contracts: Path, extra: str = "") -> Path:
    main = tmp_path / "main.beancount"
    main.write_text(
        'option "operating_currency" "USD"\n'
        f'plugin "tokenbooks.plugins.contracts" "{{\'contracts\': \'{contracts}\'}}"\n'
        "2026-01-01 open Assets:Bank USD\n" + extra)
    return main


def test_plugin_opens_customer_and_provider_accounts(tmp_path, contracts_dir):
    main = write_book(tmp_path, contracts_dir,
                      '2026-01-03 * "Acme" "Credit purchase"\n'
                      "  Assets:Bank  1000.00 USD\n"
                      "  Liabilities:Deferred-Revenue:Acme  -1000.00 USD\n")
    entries, errors, options = loader.load_file(str(main))
    assert errors == []
    opened = {e.account: e.date.isoformat() for e in entries if isinstance(e, data.Open)}
    assert opened["Liabilities:Deferred-Revenue:Acme"] == "2026-01-01"
    assert opened["Assets:Unbilled:Globex"] == "2026-01-01"
    assert opened["Assets:Receivable:Umbrella"] == "2026-01-01"
    assert opened["Expenses:COGS:Inference:Openai"] == "2026-01-01"
    assert opened["Liabilities:Payable:Anthropic"] == "2026-01-01"


def test_an_account_the_book_opens_itself_is_not_opened_twice(tmp_path, contracts_dir):
    main = write_book(tmp_path, contracts_dir,
                      "2025-12-01 open Liabilities:Deferred-Revenue:Acme USD\n")
    entries, errors, _ = loader.load_file(str(main))
    assert errors == []
    opens = [e for e in entries if isinstance(e, data.Open)
             and e.account == "Liabilities:Deferred-Revenue:Acme"]
    assert [o.date.isoformat() for o in opens] == ["2025-12-01"]


def test_contract_error_is_a_bean_check_error_with_file_and_line(tmp_path, contracts_dir):
    acme = contracts_dir / "customers" / "acme.yaml"
    acme.write_text(acme.read_text().replace("billing: prepaid", "billing: prepay"))
    main = write_book(tmp_path, contracts_dir)
    _, errors, _ = loader.load_file(str(main))
    assert [(e.source["filename"], e.source["lineno"], e.message) for e in errors] == [
        (str(acme), 10, "contracts[0].billing: expected one of 'prepaid', 'arrears', got "
                        "'prepay'")]
    bean_check = Path(sys.executable).parent / "bean-check"
    run = subprocess.run([str(bean_check), str(main)], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"{acme}:10: contracts[0].billing: expected one of 'prepaid', 'arrears', got " \
           "'prepay'" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_bad_plugin_config_is_an_error_not_a_traceback(tmp_path):
    main = tmp_path / "main.beancount"
    main.write_text('plugin "tokenbooks.plugins.contracts" "contracts"\n')
    _, errors, _ = loader.load_file(str(main))
    assert len(errors) == 2
    assert errors[0].message.startswith(
        "tokenbooks.plugins.contracts: invalid config 'contracts': expected a dict literal")
    assert errors[1].message == "contracts folder not found"


def test_yaml_files_are_in_the_include_list(tmp_path, contracts_dir):
    main = write_book(tmp_path, contracts_dir)
    _, _, options = loader.load_file(str(main))
    yaml_files = sorted(p for p in options["include"] if p.endswith(".yaml"))
    assert yaml_files == sorted(str(p) for p in contracts_dir.glob("*/*.yaml"))


def test_editing_a_contract_invalidates_the_beancount_cache(tmp_path, contracts_dir):
    main = write_book(tmp_path, contracts_dir)
    cache_name = functools.partial(loader.get_cache_filename, str(tmp_path / ".cache"))
    calls = []

    def counting_load(*args, **kwargs):
        calls.append(1)
        return loader._uncached_load_file(*args, **kwargs)

    cached_load = loader.pickle_cache_function(cache_name, 0, counting_load)
    _, errors, options = cached_load(str(main), None, None, None)
    assert errors == [] and len(calls) == 1
    _, errors, _ = cached_load(str(main), None, None, None)
    assert errors == [] and len(calls) == 1  # served from the cache
    assert not loader.needs_refresh(options)

    acme = contracts_dir / "customers" / "acme.yaml"
    later = time.time() + 5
    acme.write_text(acme.read_text().replace("billing: prepaid", "billing: prepay"))
    os.utime(acme, (later, later))
    assert loader.needs_refresh(options)
    _, errors, _ = cached_load(str(main), None, None, None)
    assert len(calls) == 2  # the edit made the loader parse again
    assert [e.source["lineno"] for e in errors] == [10]


def test_editing_a_contract_makes_fava_reload(tmp_path, contracts_dir):
    from fava.core import FavaLedger

    main = write_book(tmp_path, contracts_dir)
    ledger = FavaLedger(str(main), poll_watcher=True)
    assert ledger.errors == []
    assert not ledger.changed()
    acme = contracts_dir / "customers" / "acme.yaml"
    later = time.time() + 5
    acme.write_text(acme.read_text().replace("billing: prepaid", "billing: prepay"))
    os.utime(acme, (later, later))
    assert ledger.changed()
    assert [e.message for e in ledger.errors] == [
        "contracts[0].billing: expected one of 'prepaid', 'arrears', got 'prepay'"]
