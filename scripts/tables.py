"""Report tables and their renderings: CSV, JSON, a text table, Markdown.

A ``Table`` is a name, a title, columns, rows (dicts of Decimal, int, str, dates) and
notes. Every rendering is deterministic: the same table gives the same bytes. Money is
written as it is posted (``1234.50``) in CSV and JSON, with thousands separators in the
text and Markdown tables.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
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


def to_csv(t: Table) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=t.columns, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in t.rows:
        writer.writerow({k: "" if row.get(k) is None else _plain(row.get(k))
                         for k in t.columns})
    return out.getvalue()


def to_json(t: Table, period: str) -> str:
    doc = {"report": t.name, "title": t.title, "period": period, "notes": t.notes,
           "columns": t.columns,
           "rows": [{k: _plain(row.get(k)) for k in t.columns if k in row} for row in t.rows]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_text(t: Table) -> str:
    from .report_cmd import table  # the house text table (imported late: no cycle)
    used = [c for c in t.columns if any(row.get(c) not in (None, "") for row in t.rows)]
    used = used or list(t.columns)
    body = table(used, [[row.get(c) for c in used] for row in t.rows]) if t.rows else "(none)"
    return "\n".join([t.title, "", body, *([""] + t.notes if t.notes else [])])


def to_markdown(t: Table, columns: Sequence[str] | None = None) -> str:
    cols = list(columns or [c for c in t.columns
                            if any(row.get(c) not in (None, "") for row in t.rows)])
    if not t.rows or not cols:
        return "(none)\n"

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, Decimal):
            return f"{v:,.2f}" if v.as_tuple().exponent >= -2 else f"{v:,}"
        return str(_plain(v)).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in cols) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"
