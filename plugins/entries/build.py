r"""Postings, transactions and references of the entries tokenbooks writes, and
``format_entry``, the one way tokenbooks prints an entry into a file it writes.

Beancount's printer escapes the strings of metadata, payee and narration but not the
string values of a ``custom`` directive: ``custom "usage" "acme" "gpt"4o"`` would be
written as is, and the file would no longer parse. ``format_entry`` is the printer with
those values escaped as the grammar requires (a backslash as ``\\``, a double quote as
``\"``; the lexer unescapes both, so the entry reads back equal). Other characters
need no escape (a line break inside a string is valid; the usage importers refuse
control characters in names anyway). The lock's fingerprints keep Beancount's printer
(``plugins.lock``): an entry without a quote or backslash prints the same either way.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from beancount.core import data
from beancount.core.account import TYPE as ACCOUNT_TYPE
from beancount.core.amount import Amount
from beancount.parser import grammar, printer


def number(posting: data.Posting) -> Decimal:
    """The amount of a posting of a loaded book (booked: its units are complete)."""
    units = posting.units
    if units is None or units.number is None:
        raise ValueError(f"incomplete posting to {posting.account}: expected a booked book")
    return units.number


def currency(posting: data.Posting) -> str:
    """The currency of a posting of a loaded book."""
    units = posting.units
    if units is None or units.currency is None:
        raise ValueError(f"incomplete posting to {posting.account}: expected a booked book")
    return str(units.currency)


def ref(meta: data.Meta) -> str:
    """``file:line`` of an entry, for provenance and error messages."""
    return f"{meta.get('filename', '?')}:{meta.get('lineno', 0)}"


def ref_order(reference: str) -> tuple[str, int]:
    """A ``file:line`` reference as it sorts in the book: by file, then line number (not
    as text: line 11 comes after line 5)."""
    filename, _, line = reference.rpartition(":")
    return (filename, int(line)) if line.isdigit() else (reference, 0)


def relative_ref(reference: str, root: Path) -> str:
    """A ``file:line`` reference with the file relative to the book's folder ``root``
    (as written in generated metadata: the book can move)."""
    prefix = f"{root}/"
    return reference[len(prefix):] if reference.startswith(prefix) else reference


def value(item: object) -> grammar.ValueType:
    """A value of a ``custom`` entry."""
    return grammar.ValueType(item, type(item))


def escape(text: str) -> str:
    """``text`` as the inside of a Beancount string: backslash and double quote escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def format_entry(entry: data.Directive) -> str:
    """``entry`` in Beancount's syntax, as Beancount's printer writes it, with the string
    values of a ``custom`` directive escaped (the printer leaves them raw)."""
    if entry.__class__ is data.Custom:
        entry = entry._replace(values=[
            grammar.ValueType(escape(item.value), item.dtype)
            if item.value.__class__ is str and item.dtype is not ACCOUNT_TYPE else item
            for item in entry.values])
    return printer.format_entry(entry)


def posting(account: str, number: Decimal, currency: str,
            meta: dict[str, object] | None = None) -> data.Posting:
    return data.Posting(account, Amount(number, currency), None, None, None, meta)


def transaction(meta: dict[str, object], date: datetime.date, payee: str, narration: str,
                postings: Sequence[data.Posting], links: Iterable[str] = (),
                filename: str = "<tokenbooks>", lineno: int = 0) -> data.Transaction:
    return data.Transaction(
        data.new_metadata(filename, lineno, dict(meta)), date, "*", payee, narration,
        data.EMPTY_SET, frozenset(links), list(postings),
    )
