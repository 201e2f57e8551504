"""What every tokenbooks plugin shares: config, the contracts folder, errors.

Plugins find the contracts folder from their config (``{'contracts': 'path'}``,
relative to the top-level ledger file), else from the ``tokenbooks.plugins.contracts``
(or ``tokenbooks.plugins.book``) plugin line's config, else ``contracts/`` beside the ledger. Loads are cached on the
files' names, sizes and modification times, so the several plugins of one load (and
Fava's reloads) parse the YAML once per change.
"""

from __future__ import annotations

import ast
import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from beancount.core import data

from .rules.contracts import ContractError, load_contracts
from .rules.model import ContractSet

CONTRACTS_PLUGIN = "tokenbooks.plugins.contracts"
BOOK_PLUGIN = "tokenbooks.plugins.book"  # all the plugins as one line


class PluginError(NamedTuple):
    """An error of a tokenbooks plugin, in the shape Beancount prints and Fava lists."""

    source: data.Meta
    message: str
    entry: data.Directive | None


class ConfigError(NamedTuple):
    source: data.Meta
    message: str
    entry: data.Directive | None


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Run a plugin with the cyclic garbage collector off. The plugins make records per
    usage entry and free them at the end without reference cycles: a collection would
    only rescan the whole book (seconds, at a few hundred thousand entries) to find
    nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_config(config: str | None, plugin: str) -> tuple[dict[str, Any], list[ConfigError]]:
    """A plugin's config string as a dict (``ast.literal_eval``), never an exception."""
    if not config or not config.strip():
        return {}, []
    try:
        value = ast.literal_eval(config)
    except (ValueError, SyntaxError) as exc:
        return {}, [ConfigError(data.new_metadata("<" + plugin + ">", 0),
                                f"{plugin}: invalid config {config!r}: expected a dict literal "
                                f"such as {{'contracts': 'contracts'}} ({exc})", None)]
    if not isinstance(value, dict):
        return {}, [ConfigError(data.new_metadata("<" + plugin + ">", 0),
                                f"{plugin}: invalid config {config!r}: expected a dict literal",
                                None)]
    return value, []


def ledger_dir(options_map: dict[str, Any]) -> Path:
    filename = options_map.get("filename") or ""
    if filename and not filename.startswith("<"):
        return Path(filename).resolve().parent
    return Path.cwd()


def contracts_dir(options_map: dict[str, Any], config: dict[str, Any]) -> Path:
    folder = config.get("contracts")
    if folder is None:
        for name, plugin_config in options_map.get("plugin", ()):
            if name in (CONTRACTS_PLUGIN, BOOK_PLUGIN) and plugin_config:
                other, errors = parse_config(plugin_config, name)
                if not errors:
                    folder = other.get("contracts")
                    break
    path = Path(os.path.expanduser(folder or "contracts"))
    return path if path.is_absolute() else ledger_dir(options_map) / path


def _signature(folder: Path) -> tuple:
    files = []
    for sub in ("customers", "price-books", "costs"):
        for path in sorted((folder / sub).glob("*.y*ml")):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(files)


_CACHE: dict[Path, tuple[tuple, ContractSet, list[ContractError]]] = {}


def load(options_map: dict[str, Any], config: dict[str, Any]
         ) -> tuple[ContractSet, list[ContractError]]:
    """The book's contracts (cached), with every YAML file added to the include list."""
    folder = contracts_dir(options_map, config)
    signature = _signature(folder)
    cached = _CACHE.get(folder)
    if cached is None or cached[0] != signature:
        contracts, errors = load_contracts(folder.resolve())
        cached = (signature, contracts, errors)
        _CACHE[folder] = cached
    _, contracts, errors = cached
    register_includes(options_map, [name for name, _, _ in signature])
    return contracts, errors


def register_includes(options_map: dict[str, Any], files: Sequence[str]) -> None:
    """Add files to ``options_map["include"]`` so that editing one invalidates Beancount's
    cache and makes Fava reload the book."""
    include = options_map.setdefault("include", [])
    for name in files:
        absolute = str(Path(name).resolve())
        if absolute not in include:
            include.append(absolute)


def contract_errors(errors: Sequence[ContractError], options_map: dict[str, Any]
                    ) -> list[PluginError]:
    """Contract errors as Beancount errors that point at the YAML file and line."""
    base = ledger_dir(options_map)
    out = []
    for error in errors:
        path = Path(error.file)
        filename = str(path if path.is_absolute() else (base / path).resolve())
        message = f"{error.field}: {error.message}" if error.field else error.message
        out.append(PluginError(data.new_metadata(filename, error.line or 0), message, None))
    return out
