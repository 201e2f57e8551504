"""One parser for every tokenbooks plugin line: each key of each stage, every bad value
an error naming the plugin, the key and what was expected."""

from __future__ import annotations

import datetime

import pytest

from tokenbooks.plugins import config
from tokenbooks.plugins.config import PluginConfig, parse


def test_every_key_of_the_book_line() -> None:
    got, errors = parse("{'contracts': 'c', 'posting': 'day', 'as_of': '2026-03-31', "
                        "'hard_stop': 'error', 'period': 'day'}", config.BOOK)
    assert errors == []
    assert got == PluginConfig("c", "day", datetime.date(2026, 3, 31), "error", "day")
    assert parse(None, config.BOOK) == (PluginConfig(), [])
    assert parse("  ", config.REVENUE) == (PluginConfig(), [])


@pytest.mark.parametrize("plugin, text, message", [
    (config.REVENUE, "{'posting': 'week'}",
     "tokenbooks.plugins.revenue: posting: expected 'month' or 'day', got 'week'"),
    (config.REVENUE, "{'as_of': '2026-02-30'}",
     "tokenbooks.plugins.revenue: as_of: expected a date YYYY-MM-DD, got '2026-02-30'"),
    (config.REVENUE, "{'hard_stop': 'stop'}",
     "tokenbooks.plugins.revenue: hard_stop: expected 'warning' or 'error', got 'stop'"),
    (config.COGS, "{'period': 'week'}",
     "tokenbooks.plugins.cogs: period: expected one of month, day, got 'week'"),
    (config.COGS, "{'grain': 'day'}",
     "tokenbooks.plugins.cogs: unknown config key 'grain'; expected one of: contracts, "
     "period"),
    (config.BOOK, "{'postings': 'day'}",
     "tokenbooks.plugins.book: unknown config key 'postings'; expected one of: as_of, "
     "contracts, grain, hard_stop, period, posting"),
    (config.LOCK, "{'contracts': 'c'}",
     "tokenbooks.plugins.lock: unknown config key 'contracts'; expected one of: none (this "
     "plugin takes no config)"),
    (config.CONTRACTS, "{'contracts': 3}",
     "tokenbooks.plugins.contracts: contracts: expected a folder name, got 3"),
    (config.CONTRACTS, "[1]",
     "tokenbooks.plugins.contracts: invalid config '[1]': expected a dict literal"),
])
def test_a_bad_value_is_named(plugin: str, text: str, message: str) -> None:
    got, errors = parse(text, plugin)
    assert [e.message for e in errors] == [message]
    assert errors[0].source["filename"] == f"<{plugin}>"
    assert type(errors[0]).__name__ == "ConfigError"
    # the stage goes on with the defaults for what it could not use
    assert got.posting == "month" and got.period == "month" and got.as_of is None


def test_an_unreadable_config_says_what_was_expected() -> None:
    _, errors = parse("{'contracts': ", config.BOOK)
    assert len(errors) == 1
    assert errors[0].message.startswith(
        "tokenbooks.plugins.book: invalid config \"{'contracts': \": expected a dict literal "
        "such as {'contracts': 'contracts'}")


def test_the_invalid_keys_are_kept() -> None:
    got, _ = parse("{'period': 'week', 'as_of': 'soon'}", config.BOOK)
    assert got.invalid == {"period", "as_of"}


def test_the_contracts_folder_comes_from_the_line_that_names_it(tmp_path) -> None:
    options = {"filename": str(tmp_path / "main.beancount"),
               "plugin": [(config.BOOK, "{'contracts': 'shared/contracts'}")]}
    assert config.contracts_folder(options, PluginConfig()) == tmp_path / "shared/contracts"
    assert config.contracts_folder(options, PluginConfig("mine")) == tmp_path / "mine"
    assert config.contracts_folder({"filename": str(tmp_path / "m.beancount")},
                                   PluginConfig()) == tmp_path / "contracts"
