"""CSV as it is: the delimiter (comma or tab, told by the header), a BOM, quoted line
breaks, and a line that is not UTF-8 quarantined instead of refusing the file.

What the CSV importers share (canonical usage CSV through ``usage_csv``; the purchases,
Stripe, payments and credit notes CSVs through ``purchase_base.csv_rows``):

    >>> header_of("\ufeffevent_id\ttimestamp\tcustomer\n...")
    (['event_id', 'timestamp', 'customer'], '\t')

A header is a TSV header when it has a tab and splitting it by tabs gives more columns
than by commas; columns are matched by name, in any order.
"""

from __future__ import annotations

import csv

BOM = "\ufeff"


def delimiter_of(first_line: str) -> str:
    """``"\\t"`` for a tab-separated header, else ``","``."""
    line = first_line.lstrip(BOM)
    if "\t" in line and line.count("\t") >= line.count(","):
        return "\t"
    return ","


def header_of(head: str) -> tuple[list[str], str]:
    """The column names of the first line of ``head`` (BOM dropped, names stripped) and
    its delimiter."""
    first = head.lstrip(BOM).split("\n", 1)[0].rstrip("\r")
    delimiter = delimiter_of(first)
    names = next(csv.reader([first], delimiter=delimiter), [])
    return [name.strip() for name in names], delimiter
