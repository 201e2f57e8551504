"""One model identity: the model a price book or cost table knows, for a model id as logged.

Gateways and providers log one model under many ids: a dated snapshot
(``gpt-4o-2024-08-06``, ``claude-sonnet-4-5-20250929``, Vertex's
``claude-sonnet-4-5@20250929``), a provider prefix (``openai/gpt-4o``,
``azure/gpt-4o``, ``openrouter/openai/gpt-4o``), a Bedrock model id
(``bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0``). Pricing
(``rules.pricing``) and inference cost (``rules.cogs``) both resolve a logged id with
``resolve``, so that revenue and cost of one model meet under one name. The candidates,
in order (``candidates``), each looked up first among the ``aliases`` of the price book
or cost table (model id as logged -> model id of the file), then among its models:

1. the id as logged;
2. its base id, without a snapshot date (``-YYYY-MM-DD``, ``-YYYYMMDD``, ``@YYYYMMDD``);
3. the id without its provider prefix (everything up to the last ``/``; a Bedrock
   region and vendor such as ``us.anthropic.``; a Bedrock version such as ``-v1:0``);
4. the base id of that.

The first candidate found wins; none found is None, and the caller's error names the
id as logged. Pure (no Beancount import), deterministic, a few string operations.

    >>> known = {"gpt-4o", "claude-sonnet-4-5"}.__contains__
    >>> resolve("gpt-4o-2024-08-06", known)
    Resolved(model='gpt-4o', logged='gpt-4o-2024-08-06', how='snapshot')
    >>> resolve("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", known).model
    'claude-sonnet-4-5'
    >>> resolve("gpt-4o-latest", known, {"gpt-4o-latest": "gpt-4o"}).how
    'alias'
    >>> resolve("gpt-9", known) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

_SNAPSHOT = re.compile(r"^(?P<base>.+?)(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")
_BEDROCK_VENDOR = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?"
    r"(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|openai|writer|qwen)\.")
_BEDROCK_VERSION = re.compile(r"^(?P<base>.+?)-v\d+(?::\d+)?$")

HOW = ("exact", "alias", "snapshot", "prefix")
_NO_ALIASES: Mapping[str, str] = {}


class Resolved(NamedTuple):
    """A logged model id resolved: the model id of the price book or cost table, the
    id as logged, and how (one of ``HOW``)."""

    model: str
    logged: str
    how: str


def snapshot_base(model: str) -> str | None:
    """The base id of a dated snapshot (``gpt-4o-2024-08-06`` -> ``gpt-4o``), else None."""
    found = _SNAPSHOT.match(model)
    return found.group("base") if found else None


def strip_prefix(model: str) -> str:
    """``model`` without a provider prefix, a Bedrock region/vendor or a Bedrock version:
    ``openai/gpt-4o`` -> ``gpt-4o``; ``bedrock/anthropic.claude-haiku-4-5-v1:0`` ->
    ``claude-haiku-4-5``. The id itself when it has none."""
    name = model.rsplit("/", 1)[-1]
    vendor = _BEDROCK_VENDOR.match(name)
    if vendor:  # a Bedrock model id: its version suffix goes too (not ``deepseek-v3``'s)
        name = name[vendor.end():]
        version = _BEDROCK_VERSION.match(name)
        if version:
            name = version.group("base")
    return name or model


def candidates(model: str) -> list[tuple[str, str]]:
    """The ids to look up for ``model``, in order, each with how it was derived."""
    out = [(model, "exact")]
    base = snapshot_base(model)
    if base:
        out.append((base, "snapshot"))
    stripped = strip_prefix(model)
    if stripped != model:
        out.append((stripped, "prefix"))
        base = snapshot_base(stripped)
        if base:
            out.append((base, "prefix"))
    return out


def resolve(model: str, known: Callable[[str], bool],
            aliases: Mapping[str, str] = _NO_ALIASES) -> Resolved | None:
    """The model ``known`` knows for the logged id ``model`` (see the module doc), or None.

    ``known(name)``: whether the price book or cost table prices ``name`` (on the day
    in question); ``aliases``: its aliases (logged id -> its model id)."""
    found = resolve_first(model, ((known, aliases),))
    return found[1] if found is not None else None


def resolve_first(model: str, books: Sequence[tuple[Callable[[str], bool],
                                                     Mapping[str, str]]]
                  ) -> tuple[int, Resolved] | None:
    """``resolve`` among several price books or cost tables, ``books`` of (known,
    aliases): candidate by candidate, the first book that knows it; (its index, the
    resolution), or None. A book's aliases are looked up before its models."""
    for name, how in candidates(model):
        for i, (known, aliases) in enumerate(books):
            target = aliases.get(name)
            if target is not None and known(target):
                return i, Resolved(target, model, "alias" if how == "exact" else how)
            if known(name):
                return i, Resolved(name, model, how)
    return None


def tried(model: str) -> str:
    """What ``resolve`` looked for besides the id itself, for an error message
    (``"; looked for 'x-2026-01-01', its base 'x'"``), or "" when nothing else."""
    names = list(dict.fromkeys(name for name, _ in candidates(model)))
    if len(names) < 2:
        return ""
    return "; looked for " + ", ".join(repr(name) for name in names)
