"""Closed periods cannot change: any later change to a closed month is a bean-check error.

    plugin "tokenbooks.plugins.lock"              ; last, after every other plugin
    include "closes/*.beancount"

``tokenbooks close`` ends by writing, for the month it closed:

    ; closes/2026-01.beancount
    2026-01-31 custom "close" "2026-01"
      manifest: "2026-01.manifest"
      fingerprint: "5b0c…"          ; sha256 of the manifest text
      entries: 1104

and ``closes/2026-01.manifest``: one line per entry dated in the month, the book's own
and those the plugins generated (revenue, COGS, invoices), with a fingerprint of the
entry as printed (``tokenbooks.plugins.rules.manifest``). At every load this plugin
fingerprints the entries of each closed month again and reports, at the entry, each one
added or changed since the close, and at the ``close`` directive each one removed:

    imports/2026-01.usage.jsonl.be1b2b68.beancount:412: closed period 2026-01: entry
      changed after the close (2026-01-05 custom usage acme gpt-4o chat); ...

So a new import dated in a closed month, an edited entry, or a contract change that
alters the revenue of a closed month all fail ``bean-check``. (Usage that arrives late
is dated by ``tokenbooks import`` in the first open month, see ``importers.late``.)
Paths in metadata are fingerprinted relative to the book, so the book can move.
Closed months must follow each other; a manifest that does not match its fingerprint
is an error too. Not fingerprinted: ``document`` entries (evidence filed under a month;
an import may archive a source of a closed month late) and Fava's configuration lines
(``custom "fava-extension"``, ``custom "fava-option"``: how the books are shown).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import printer

from .config import ledger_dir
from .errors import LockError, PluginError
from .rules import manifest
from .rules.periods import month_of, next_month

__plugins__ = ("lock",)

CLOSE = "close"
MAX_REPORTED = 20  # changes reported per period; the rest are counted


def _prefixes(book: Path) -> list[tuple[str, str]]:
    return [(str(book) + "/", ""), (str(book.parent) + "/", "../")]


def fingerprint(entry: data.Directive, book: Path) -> str:
    """sha256 (128 bits, hex) of the entry as printed, paths relative to the book."""
    text = printer.format_entry(entry)
    for prefix, short in _prefixes(book):
        text = text.replace(prefix, short)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def what(entry: data.Directive) -> str:
    day = entry.date.isoformat()
    if isinstance(entry, data.Transaction):
        meta = entry.meta or {}
        tail = " ".join(str(meta[k]) for k in ("rule", "customer") if meta.get(k))
        return f"{day} transaction {entry.payee or ''} | {entry.narration} | {tail}"
    if isinstance(entry, data.Custom):
        values = " ".join(str(v.value) for v in entry.values)
        return f"{day} custom {entry.type} {values}"
    account = getattr(entry, "account", "")
    return f"{day} {type(entry).__name__.lower()} {account}"


def where(entry: data.Directive, book: Path) -> str:
    meta = entry.meta or {}
    filename = str(meta.get("filename", "?"))
    if filename.startswith("<"):
        return filename
    for prefix, short in _prefixes(book):
        if filename.startswith(prefix):
            filename = short + filename[len(prefix):]
            break
    return f"{filename}:{meta.get('lineno', 0)}"


def is_close(entry: data.Directive) -> bool:
    return isinstance(entry, data.Custom) and entry.type == CLOSE


def locked(entry: data.Directive) -> bool:
    """Whether the lock fingerprints ``entry``: every entry but the close directives, the
    documents (evidence filed under a month, which an import may archive late; the close
    checks the sources themselves) and Fava's configuration lines (``custom "fava-..."``:
    how the books are shown, not the books)."""
    if entry.__class__ is data.Document or is_close(entry):
        return False
    return not (entry.__class__ is data.Custom and entry.type.startswith("fava-"))


def _configuration(item: manifest.Item) -> bool:
    """An item of a manifest written before Fava's lines were left out of it."""
    return " custom fava-" in item.what


def closed_periods(entries: Iterable[data.Directive]) -> dict[str, data.Custom]:
    """The book's ``close`` directives by period (``YYYY-MM``)."""
    out = {}
    custom = data.Custom
    for entry in entries:  # at every load: a class check, not isinstance, per entry
        if entry.__class__ is custom and entry.type == CLOSE and entry.values:
            out[str(entry.values[0].value)] = entry
    return out


def period_items(entries: data.Directives, periods: set[str], book: Path
                 ) -> dict[str, list[tuple[manifest.Item, data.Directive]]]:
    """The manifest items of the entries dated in each of ``periods``."""
    out: dict[str, list[tuple[manifest.Item, data.Directive]]] = {p: [] for p in periods}
    for entry in entries:
        key = month_of(entry.date)
        if key in out and locked(entry):
            out[key].append((manifest.Item(fingerprint(entry, book), what(entry),
                                           where(entry, book)), entry))
    return out


def manifest_path(close: data.Custom) -> Path:
    name = str((close.meta or {}).get("manifest", ""))
    return Path(str(close.meta.get("filename", "."))).parent / name


def lock(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin (and the last stage of ``tokenbooks.plugins.book``, on a sorted book)."""
    return entries, stage(entries, ledger_dir(options_map))


def stage(entries: data.Directives, book: Path) -> list[PluginError]:
    """The changes to the closed months of ``entries`` (sorted), each a ``LockError``."""
    closes = closed_periods(entries)
    if not closes:
        return []
    errors: list[PluginError] = []
    ordered = sorted(closes)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if next_month(before) != after:
            errors.append(LockError(closes[after].meta,
                                    f"closed period {after} follows closed period {before}: "
                                    f"the months between are not closed (close them in "
                                    f"order)", closes[after]))
    current = period_items(entries, set(closes), book)
    for period in ordered:
        close = closes[period]
        path = manifest_path(close)
        try:
            text = path.read_text(encoding="utf-8")
            closed = manifest.parse(text, str(path))
        except (OSError, ValueError) as exc:
            errors.append(LockError(close.meta, f"closed period {period}: manifest {path} "
                                                f"cannot be read ({exc})", close))
            continue
        expected = str(close.meta.get("fingerprint", ""))
        if manifest.digest(text) != expected:
            errors.append(LockError(close.meta, f"closed period {period}: manifest {path} "
                                                f"does not match the fingerprint of the "
                                                f"close ({expected[:12]}...): it was edited",
                                    close))
            continue
        items = current[period]
        closed = [item for item in closed if not _configuration(item)]
        changes = manifest.compare(closed, [item for item, _ in items])
        for change in changes[:MAX_REPORTED]:
            if change.kind == "removed":
                errors.append(LockError(close.meta, f"closed period {period}: entry removed "
                                                    f"or changed after the close: "
                                                    f"{change.what} (was at {change.where})",
                                        close))
            else:
                entry = items[change.index][1]
                hint = ("a closed period cannot change" if change.kind == "changed" else
                        "a closed period cannot change: date it in the open month (late "
                        "usage imported by tokenbooks import is dated there for you)")
                errors.append(LockError(entry.meta, f"closed period {period}: entry "
                                                    f"{change.kind} after the close: "
                                                    f"{change.what} ({change.where}); {hint}",
                                        entry))
        if len(changes) > MAX_REPORTED:
            errors.append(LockError(close.meta, f"closed period {period}: "
                                                f"{len(changes) - MAX_REPORTED} more entries "
                                                f"changed after the close", close))
    return errors
