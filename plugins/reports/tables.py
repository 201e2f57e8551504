"""Report tables and their renderings: CSV, JSON, a text table, Markdown, a page cell.

A ``Table`` is a name, a title, columns, rows (dicts of Decimal, int, str, dates) and
notes. Every rendering is deterministic: the same table gives the same bytes. Money is
written as it is posted (``1234.50``) in CSV and JSON, with thousands separators in the
text and Markdown tables and on the Fava pages (``cell``): one formatter for all.

Every CSV tokenbooks writes goes through ``csv_cell``: a text cell that a spreadsheet
would read as a formula (one beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return: OWASP's CSV injection) is written with a single quote before it, so
that it opens as text. A number is no formula: a Decimal or int, or text that is a
plain decimal number (``-12.50``), is written as it is, and stays a number.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, object]]
    notes: list[str] = field(default_factory=list)


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: object) -> object:
    """A cell as written to CSV: text a spreadsheet would run as a formula gets a
    leading ``'``; numbers (and text that is a plain decimal number) are left as
    they are. ``None`` is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        if value.startswith(FORMULA_STARTS) and _NUMBER.fullmatch(value) is None:
            return "'" + value
        return value
    return value


def csv_row(values: Sequence[object]) -> list[object]:
    """A CSV row of plain values (``_plain``), every cell made safe (``csv_cell``)."""
    return [csv_cell(_plain(value)) for value in values]


def to_csv(t: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_row(t.columns))
    for row in t.rows:
        writer.writerow(csv_row([row.get(k) for k in t.columns]))
    return out.getvalue()


def to_json(t: Table, period: str) -> str:
    doc = {"report": t.name, "title": t.title, "period": period, "notes": t.notes,
           "columns": t.columns,
           "rows": [{k: _plain(row.get(k)) for k in t.columns if k in row} for row in t.rows]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _used(columns: Sequence[str], rows: Sequence[dict[str, object]]) -> list[str]:
    return [c for c in columns if any(row.get(c) not in (None, "") for row in rows)]


def money(value: object) -> Decimal:
    """A table cell as an amount: the Decimal it holds, else 0.00 (for totals)."""
    return value if isinstance(value, Decimal) else Decimal("0.00")


def cell(value: object, empty: str = "") -> str:
    """A figure as text: money to the cent with thousands separators (finer figures, such
    as a cost per action, as they are), whole numbers with separators, dates ISO."""
    if value is None:
        return empty
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return f"{value:,.2f}" if isinstance(exponent, int) and exponent >= -2 else f"{value:,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: text left-aligned, numbers right-aligned, ``-`` for none."""
    cells = [[cell(v, "-") for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (Decimal, int)) or row[i] is None for row in rows)
               for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    out += [fmt(r) for r in cells]
    return "\n".join(out)


def to_text(t: Table) -> str:
    """A text table; a table with a ``section`` column prints one block per section, each
    with the columns its rows use."""
    if not t.rows:
        blocks = ["(none)"]
    elif "section" in t.columns and len({row.get("section") for row in t.rows}) > 1:
        blocks = []
        for section in dict.fromkeys(row.get("section") for row in t.rows):
            rows = [row for row in t.rows if row.get("section") == section]
            cols = [c for c in _used(t.columns, rows) if c != "section"]
            blocks += [f"{section}:", table(cols, [[r.get(c) for c in cols] for r in rows]),
                       ""]
        blocks.pop()
    else:
        cols = _used(t.columns, t.rows) or list(t.columns)
        blocks = [table(cols, [[r.get(c) for c in cols] for r in t.rows])]
    return "\n".join([t.title, "", *blocks, *([""] + t.notes if t.notes else [])])


def _cell(v: object) -> str:
    if isinstance(v, Decimal) or v is None:
        return cell(v)
    return str(_plain(v)).replace("|", "\\|")


def _markdown(cols: Sequence[str], rows: Sequence[dict[str, object]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_markdown(t: Table, columns: Sequence[str] | None = None) -> str:
    """A Markdown table (of ``columns``, else those the rows use); a table with several
    sections gives one table per section."""
    if not t.rows:
        return "(none)\n"
    if columns:
        return _markdown(columns, t.rows)
    sections = list(dict.fromkeys(row.get("section") for row in t.rows))
    if "section" not in t.columns or len(sections) < 2:
        return _markdown(_used(t.columns, t.rows), t.rows)
    parts = []
    for section in sections:
        rows = [row for row in t.rows if row.get("section") == section]
        parts.append(f"{section}:\n\n" + _markdown(
            [c for c in _used(t.columns, rows) if c != "section"], rows))
    return "\n".join(parts)
