"""The errors tokenbooks adds to a load: one base, a named tuple per area.

Beancount and Fava print and list any error with ``source`` (the metadata of where it
is: ``filename`` and ``lineno``), ``message`` and ``entry`` (or None); the area is the
class name they show (``RevenueError``, ``LockError``, ...):

    ledgers/imports/2026-01.usage.jsonl.be1b2b68.beancount:12: no rate for model 'gpt-9'
    of customer 'acme' on 2026-01-05 (price book 'list-2026', contract 'acme-2026'); a
    missing price is never zero
"""

from __future__ import annotations

from typing import NamedTuple

from beancount.core import data


class PluginError(NamedTuple):
    """An error of a tokenbooks plugin, in the shape Beancount prints and Fava lists."""

    source: data.Meta
    message: str
    entry: data.Directive | None


class ConfigError(PluginError):
    """A plugin line's configuration that cannot be used."""

    __slots__ = ()


class ContractFileError(PluginError):
    """A contract, price book or cost table file (YAML) that is not valid."""

    __slots__ = ()


class RevenueError(PluginError):
    """Usage or a purchase that cannot be priced or recognized."""

    __slots__ = ()


class CogsError(PluginError):
    """Usage that cannot be costed, or a provider bill that cannot be booked."""

    __slots__ = ()


class InvariantError(PluginError):
    """An invariant of the revenue books that the journal breaks."""

    __slots__ = ()


class LockError(PluginError):
    """A change to a closed month."""

    __slots__ = ()


def at(where: str, line: int = 0) -> data.Meta:
    """The ``source`` of an error at a file (or a ``<plugin>`` name) and line."""
    return data.new_metadata(where, line)


def at_ref(ref: str) -> data.Meta:
    """The ``source`` of an error at a ``file:line`` reference."""
    filename, _, line = ref.rpartition(":")
    try:
        return data.new_metadata(filename or ref, int(line))
    except ValueError:
        return data.new_metadata(ref, 0)
