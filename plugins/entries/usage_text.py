r"""The text of ``custom "usage"`` entries, written directly: the bytes of ``build.format_entry``
(Beancount's printer with the custom values escaped) without the printer's machinery.

The import writes hundreds of thousands of these entries; Beancount's printer makes a
``StringIO``, dispatches on the class and tests each value's type in turn, which was a
quarter of an import's time. ``format_usage`` writes the same lines with f-strings for
the value types a usage entry holds (text, ``Decimal`` counts, dates, ``TRUE``) and
hands any other entry, or any other value, to ``format_entry``, so the result is always
the printer's (``tests/test_usage_text.py`` compares the two on hostile names).

    >>> entry = usage_entry(Usage(date=datetime.date(2026, 1, 5), customer='a"b', ...), {})
    >>> format_usage(entry) == format_entry(entry)
    True
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from beancount.core import data
from beancount.core.account import TYPE as ACCOUNT_TYPE

from .build import format_entry

_IGNORED = ("filename", "lineno")


def _escape(text: str) -> str:
    # the escape of ``build.escape`` and of the printer's metadata strings (the same)
    if "\\" in text or '"' in text:
        return text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def format_usage(entry: data.Directive) -> str:
    """``entry`` as ``build.format_entry`` prints it (a fast path for usage entries)."""
    if entry.__class__ is not data.Custom:
        return format_entry(entry)
    values = []
    for item in entry.values:
        value = item.value
        if value.__class__ is not str or item.dtype is ACCOUNT_TYPE:
            return format_entry(entry)
        values.append(f'"{_escape(value)}"')
    lines = [f'{entry.date} custom "{entry.type}" {" ".join(values)}\n']
    for key, value in (entry.meta or {}).items():
        if key in _IGNORED or key.startswith("__"):
            continue
        kind = value.__class__
        if kind is str:
            lines.append(f'  {key}: "{_escape(value)}"\n')
        elif kind is Decimal or kind is datetime.date:
            lines.append(f"  {key}: {value}\n")
        elif kind is bool:
            lines.append(f"  {key}: {'TRUE' if value else 'FALSE'}\n")
        else:  # anything else (a dict, an amount, None): the printer's own rules
            return format_entry(entry)
    return "".join(lines)


# -- many entries at once: the text of an aggregate table, column by column ------------

_COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "events", "completed",
           "partial", "failed", "unbilled_events")  # ``usage.COUNT_FIELDS``, in order


def _quoted(column: pa.Array) -> pa.Array:
    """``"text"`` with backslashes and quotes escaped, as the printer writes strings."""
    column = pc.replace_substring(column, "\\", "\\\\")
    return pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '\\"'), '"',
                                       "")


def _line(key: str, text: pa.Array, keep: pa.Array | None = None) -> pa.Array:
    """``  key: text\\n`` where ``keep`` (every row if None), null elsewhere."""
    line = pc.binary_join_element_wise(f"  {key}: ", text, "\n", "")
    return line if keep is None else pc.if_else(keep, line, pa.scalar(None, pa.string()))


def _number(column: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(column, pa.int64()) if pa.types.is_integer(column.type)
                   else column, pa.string())


def table_text(table: pa.Table, source: str, sha256: str,
               extra_counts: tuple[str, ...]) -> pa.Array:
    """The text of each row of an aggregate table (``importers.usage.UsageCore._table``:
    key, counts, ``events``, ``first_event``, ``last_event``, ``until``) as its usage
    entry with provenance ``source`` and ``sha256``, each preceded by a blank line: what
    ``"\\n" + format_usage(entry)`` gives for each entry, in one pass of pyarrow kernels
    per column (``tests/test_usage_text.py`` compares them)."""
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.string())
    col = {name: table.column(name).combine_chunks() for name in table.column_names}
    day = pc.cast(col["day"], pa.string())
    parts = [pc.binary_join_element_wise(
        "\n", day, ' custom "usage" ', _quoted(col["customer"]), " ", _quoted(col["model"]),
        " ", _quoted(col["feature"]), " ", _quoted(col["action"]), "\n", "")]
    for name in _COUNTS:
        values = col[name]
        keep = None if name == "events" else pc.not_equal(values, 0)
        if keep is not None and not pc.any(keep).as_py():
            continue
        parts.append(_line(name, _number(values), keep))
    has_user = pc.not_equal(col["user"], "")
    if pc.any(has_user).as_py():
        parts.append(_line("user", _quoted(col["user"]), has_user))
    later = pc.not_equal(col["until"], col["day"])
    if pc.any(later).as_py():
        parts.append(_line("until", pc.cast(col["until"], pa.string()), later))
    for name, key in (("tier", "service_tier"), ("context", "context")):
        used = pc.not_equal(col[name], "")
        if pc.any(used).as_py():
            parts.append(_line(key, _quoted(col[name]), used))
    if pc.any(col["cache_hit"]).as_py():
        parts.append(_line("cache_hit", pa.repeat(pa.scalar("TRUE"), n), col["cache_hit"]))
    for name in extra_counts:
        used = pc.not_equal(col[name], 0)
        if pc.any(used).as_py():
            parts.append(_line(name, _number(col[name]), used))
    fixed = (f'  source: "{_escape(source)}"\n  sha256: "{_escape(sha256)}"\n'
             "  first_event: ")
    parts.append(pc.binary_join_element_wise(
        fixed, _quoted(col["first_event"]), "\n  last_event: ", _quoted(col["last_event"]),
        "\n", ""))
    return pc.binary_join_element_wise(*parts, "", null_handling="skip")


def joined(texts: pa.Array) -> memoryview:
    """The texts one after the other, as one buffer (no copy into Python strings)."""
    if len(texts) == 0:
        return memoryview(b"")
    offsets = pa.array([0, len(texts)], pa.int32())
    return memoryview(pc.binary_join(pa.ListArray.from_arrays(offsets, texts), "")[0]
                      .as_buffer())
