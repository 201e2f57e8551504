"""Why no importer recognizes a file: the formats tried and, for the closest, what is missing.

    >>> print(explain(importers, Path("calls.jsonl")))
    no importer recognizes this file (JSON Lines). Tried: JSON Lines usage events, CSV
    usage events, ..., Bedrock invocation logs. Closest: Bedrock invocation logs: the
    file lacks schemaType, requestId (it has timestamp, modelId, input.inputTokenCount)

Each importer may say what it requires: ``requires(filepath)`` (the importers of
``foreign``: the required fields it lacks and those it has, or None when the file is
not of a shape the format comes in), else a ``required`` tuple of CSV columns (the
purchase importers), else the table ``KNOWN`` here for the canonical and cost report
importers. The closest format is the one of the file's shape that lacks the fewest of
its required fields (a tie goes to the earlier importer). A format that is recognized
but cannot be imported (``UNIMPORTABLE``: Langfuse daily metrics) is named with why.
Nothing here raises: a file that cannot be read at all says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .foreign import Sample, has, sample, sample_scan

SHAPES = {"json": "JSON document", "jsonl": "JSON Lines", "csv": "CSV/TSV with a header"}

# (shape, where the records are in a JSON document, required fields), by importer module
KNOWN: dict[str, tuple[str, tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "usage_jsonl": ("jsonl", (), ("event_id", "timestamp", "customer")),
    "usage_csv": ("csv", (), ("event_id", "timestamp", "customer")),
    "usage_daily": ("csv", (), ("customer", "date", "events", "event_ids")),
    "litellm": ("csv", (), ("request_id", "startTime", "prompt_tokens", "completion_tokens")),
    "openai_costs": ("json", (("data", "*", "results", "*"),),
                     ("object", "amount.value", "amount.currency")),
    "anthropic_costs": ("json", (("data", "*", "results", "*"),),
                        ("starting_at", "amount", "currency")),
    "openrouter_activity": ("json", (("data", "*"),),
                            ("date", "model", "endpoint_id", "usage", "requests")),
}

# Recognized, and why it cannot be imported: (shape, path, fields, why)
UNIMPORTABLE = (
    ("json", ("data", "*"), ("date", "countTraces", "countObservations", "usage"),
     "Langfuse daily metrics: recognized, but not importable: they are totals per day and "
     "model with no customer key (the userId filter of a per-customer query is not in the "
     "answer) and no event ids; import the observations (GET /api/public/observations) "
     "instead"),
)


NAMES = {  # importers without a format_name of their own
    "purchases": "purchases CSV", "stripe": "Stripe payments export",
    "stripe_balance": "Stripe itemized balance report",
    "stripe_credit_grants": "Stripe credit grants JSON", "payments": "customer payments CSV",
    "credit_notes": "credit notes CSV", "openai_costs": "OpenAI costs API page",
    "anthropic_costs": "Anthropic cost report",
}


def _module(importer: Any) -> str:
    return type(importer).__module__.rsplit(".", 1)[-1]


def _records(found: Sample, paths: Sequence[tuple[str, ...]]) -> list[Any]:
    if found.shape == "jsonl":
        return list(found.lines)
    if found.shape == "csv":
        return [dict.fromkeys(found.header, "")]
    top_list = found.head.lstrip()[:1] == "["
    for path in paths:
        if (path[:1] == ("*",)) != top_list:
            continue
        items = sample_scan(found.head, path)
        if items:
            return [{**context, **value} if isinstance(value, dict) else value
                    for _, value, context in items]
    return []


def _closest(required: Sequence[str], records: Iterable[Any]
             ) -> tuple[list[str], list[str]]:
    best: tuple[list[str], list[str]] | None = None
    for record in list(records) or [{}]:
        missing = [f for f in required if not has(record, f)]
        if best is None or len(missing) < len(best[0]):
            best = (missing, [f for f in required if f not in missing])
    assert best is not None
    return best


def requirement(importer: Any, filepath: str, found: Sample
                ) -> tuple[list[str], list[str]] | None:
    """(missing, present) required fields of ``importer`` for the file, or None if the
    file is not of a shape its format comes in (or it says nothing of its needs)."""
    requires = getattr(importer, "requires", None)
    if callable(requires):
        return requires(filepath)
    known = KNOWN.get(_module(importer))
    if known is not None:
        shape, paths, fields = known
        if found.shape != shape:
            return None
        return _closest(fields, _records(found, paths))
    declared = getattr(importer, "required", None)
    if isinstance(declared, (tuple, list)) and found.shape == "csv":
        return _closest([str(f) for f in declared], _records(found, ()))
    return None


def format_name(importer: Any) -> str:
    name = getattr(importer, "format_name", None)
    module = _module(importer)
    return str(name) if name else NAMES.get(module, module.replace("_", " "))


def explain(importers: Sequence[Any], source: Path) -> str:
    """One paragraph: the formats tried, the closest and its missing fields (or why the
    file cannot be read)."""
    tried = ", ".join(dict.fromkeys(format_name(i) for i in importers))
    filepath = str(source)
    try:
        found = sample(filepath)
    except Exception:  # never a traceback: the message without the closest format
        found = None
    if found is None:
        size = os.path.getsize(filepath) if os.path.exists(filepath) else 0
        what = "it is empty" if size == 0 else "it is not UTF-8 text"
        return (f"no importer recognizes this file ({what}). Tried: {tried}")
    for shape, path, fields, why in UNIMPORTABLE:
        if shape == found.shape and any(all(has(r, f) for f in fields)
                                        for r in _records(found, (path,))):
            return f"{why}. Tried: {tried}"
    scored = []
    for order, importer in enumerate(importers):
        try:
            need = requirement(importer, filepath, found)
        except Exception:
            need = None
        if need is None or not need[1]:  # not one required field: not close at all
            continue
        missing, present = need
        scored.append((len(missing) / (len(missing) + len(present)), order, importer,
                       missing, present))
    text = f"no importer recognizes this file ({SHAPES[found.shape]}). Tried: {tried}"
    if not scored:
        return text + ("; none of them is close: the file holds none of the fields "
                       "they require (docs/formats.md lists them)")
    _, _, importer, missing, present = min(scored, key=lambda s: (s[0], s[1]))
    text += f". Closest: {format_name(importer)}"
    if missing:
        text += f": the file lacks {', '.join(missing)}"
        if present:
            text += f" (it has {', '.join(present)})"
    else:
        text += ("; the file has them all, but its values are not of this format "
                 "(see docs/formats.md)")
    return text
