"""The configuration of the tokenbooks plugin lines: one parser for all of them.

    plugin "tokenbooks.plugins.book" "{'contracts': 'contracts', 'posting': 'month'}"

A plugin's config is a Python dict literal; every key is optional, and each plugin takes
the keys of its stage (the one-line plugin ``tokenbooks.plugins.book`` takes them all):

    contracts   the contracts folder, relative to the top-level ledger file (all stages)
    posting     'month' (default) or 'day': the grain of the generated usage transactions
    grain       'day' (default) or 'month': the grain of the usage sub-ledger the importers
                write (docs/grain.md; ``tokenbooks regrain`` changes it)
    as_of       'YYYY-MM-DD': the last day to recognize (default: the book's last date)
    hard_stop   'warning' (default) or 'error': usage blocked by a hard stop
    period      'month' (default) or 'day': the posting period of inference cost

A config that cannot be read, an unknown key or a bad value is a ``ConfigError`` naming
the plugin, the key and what was expected; the stage then uses the default.
"""

from __future__ import annotations

import ast
import datetime
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, at

PACKAGE = "tokenbooks.plugins"
BOOK = f"{PACKAGE}.book"
CONTRACTS = f"{PACKAGE}.contracts"
REVENUE = f"{PACKAGE}.revenue"
COGS = f"{PACKAGE}.cogs"
INVARIANTS = f"{PACKAGE}.invariants"
LOCK = f"{PACKAGE}.lock"

# The keys each plugin line takes, in the order they are listed in messages.
KEYS: dict[str, tuple[str, ...]] = {
    CONTRACTS: ("contracts",),
    REVENUE: ("contracts", "posting", "as_of", "hard_stop", "grain"),
    COGS: ("contracts", "period"),
    INVARIANTS: ("contracts",),
    LOCK: (),
}
KEYS[BOOK] = tuple(sorted({key for keys in KEYS.values() for key in keys}))
CHOICES = {"posting": ("month", "day"), "hard_stop": ("warning", "error"),
           "period": ("month", "day"), "grain": ("day", "month")}
DEFAULT_CONTRACTS = "contracts"


@dataclass(frozen=True)
class PluginConfig:
    """The settings of the tokenbooks stages (see the module doc)."""

    contracts: str | None = None
    posting: str = "month"
    as_of: datetime.date | None = None
    hard_stop: str = "warning"
    period: str = "month"
    grain: str = "day"  # of the usage sub-ledger (rules.grain)
    invalid: frozenset[str] = frozenset()  # keys given with a value that cannot be used


def parse(text: str | None, plugin: str) -> tuple[PluginConfig, list[ConfigError]]:
    """The settings of ``plugin``'s config string, and what is wrong with it."""
    where = at(f"<{plugin}>")
    if not text or not text.strip():
        return PluginConfig(), []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        return PluginConfig(), [ConfigError(where, (
            f"{plugin}: invalid config {text!r}: expected a dict literal such as "
            f"{{'contracts': 'contracts'}} ({exc})"), None)]
    if not isinstance(value, dict):
        return PluginConfig(), [ConfigError(where, (
            f"{plugin}: invalid config {text!r}: expected a dict literal"), None)]
    return settings(value, plugin)


def settings(value: Mapping[Any, Any], plugin: str) -> tuple[PluginConfig, list[ConfigError]]:
    """The settings of a config dict for ``plugin`` (see ``parse``)."""
    where = at(f"<{plugin}>")
    allowed = KEYS.get(plugin, KEYS[BOOK])
    errors: list[ConfigError] = []
    config = PluginConfig()
    for key in sorted(value, key=str):
        item = value[key]
        if key not in allowed:
            expected = ", ".join(allowed) if allowed else "none (this plugin takes no config)"
            errors.append(ConfigError(where, f"{plugin}: unknown config key {key!r}; "
                                             f"expected one of: {expected}", None))
        elif key == "contracts":
            if isinstance(item, str) and item.strip():
                config = replace(config, contracts=item)
            else:
                errors.append(ConfigError(where, f"{plugin}: contracts: expected a folder "
                                                 f"name, got {item!r}", None))
        elif key == "as_of":
            try:
                config = replace(config, as_of=datetime.date.fromisoformat(str(item)))
            except ValueError:
                errors.append(ConfigError(where, f"{plugin}: as_of: expected a date "
                                                 f"YYYY-MM-DD, got {item!r}", None))
                config = replace(config, invalid=config.invalid | {key})
        elif item in CHOICES[key]:
            config = replace(config, **{key: item})
        else:
            choices = CHOICES[key]
            expected = (f"'{choices[0]}' or '{choices[1]}'" if key != "period"
                        else ", ".join(choices))
            errors.append(ConfigError(where, f"{plugin}: {key}: expected "
                                             f"{'one of ' if key == 'period' else ''}"
                                             f"{expected}, got {item!r}", None))
            config = replace(config, invalid=config.invalid | {key})
    return config, errors


def ledger_dir(options_map: Mapping[str, Any]) -> Path:
    """The folder of the top-level ledger file (the book's root)."""
    filename = options_map.get("filename") or ""
    if filename and not filename.startswith("<"):
        return Path(filename).resolve().parent
    return Path.cwd()


def contracts_folder(options_map: Mapping[str, Any], config: PluginConfig) -> Path:
    """The contracts folder: the config's, else that of the book's contracts (or book)
    plugin line, else ``contracts/`` beside the ledger."""
    folder = config.contracts
    if folder is None:
        for name, text in options_map.get("plugin", ()):
            if name in (CONTRACTS, BOOK) and text:
                other, errors = parse(text, name)
                if not errors:
                    folder = other.contracts
                    break
    path = Path(os.path.expanduser(folder or DEFAULT_CONTRACTS))
    return path if path.is_absolute() else ledger_dir(options_map) / path


def plugin_names(options_map: Mapping[str, Any]) -> list[str]:
    """The plugin lines of the book, in order."""
    return [name for name, _ in options_map.get("plugin", ())]


def runs(options_map: Mapping[str, Any], plugins: Iterable[str]) -> bool:
    """Whether the book has one of ``plugins`` (or the one-line plugin) as a plugin line."""
    wanted = {BOOK, *plugins}
    return any(name in wanted for name in plugin_names(options_map))
