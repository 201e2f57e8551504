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
import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import printer

from .config import LOCK, ledger_dir, runs
from .entries.sidecars import sidecar_for
from .errors import LockError, PluginError, at
from .rules import manifest
from .rules.periods import month_of, next_month

__plugins__ = ("lock",)

CLOSE = "close"
USAGE = "usage"
CLOSES = "closes"  # the close files and manifests, beside main.beancount
REPORTS = "reports"  # the month-end reports, one folder per month
LOCK_RECORD = "lock.json"  # the close's record of its fingerprint, in reports/<P>/
TAG_PREFIX = "tokenbooks/close/"  # the close's git tag, in a git work tree
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
    return f"{relative(filename, book)}:{meta.get('lineno', 0)}"


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
                 ) -> dict[str, list[tuple[manifest.Item, data.Directive | None]]]:
    """The manifest items of each of ``periods``: the entries dated in it, and the
    event-id index (sidecar) of every import file with usage entries dated in it (a
    sidecar deleted or cut short would let its events be imported again)."""
    out: dict[str, list[tuple[manifest.Item, data.Directive | None]]] = {
        p: [] for p in periods}
    import_files: dict[str, set[str]] = {p: set() for p in periods}
    custom = data.Custom
    for entry in entries:
        key = month_of(entry.date)
        if key in out and locked(entry):
            out[key].append((manifest.Item(fingerprint(entry, book), what(entry),
                                           where(entry, book)), entry))
            if entry.__class__ is custom and entry.type == USAGE:
                import_files[key].add(str(entry.meta.get("filename", "")))
    for period, files in import_files.items():
        for name in sorted(files):
            sidecar = sidecar_for(name)
            if sidecar.is_file():
                out[period].append((file_item(sidecar, book), None))
    return out


def file_item(path: Path, book: Path) -> manifest.Item:
    """The manifest item of a file of the book: the sha256 of its bytes."""
    shown = relative(str(path), book)
    return manifest.Item(hashlib.sha256(path.read_bytes()).hexdigest()[:32],
                         f"file {shown}", shown)


def relative(filename: str, book: Path) -> str:
    for prefix, short in _prefixes(book):
        if filename.startswith(prefix):
            return short + filename[len(prefix):]
    return filename


def manifest_path(close: data.Custom) -> Path:
    name = str((close.meta or {}).get("manifest", ""))
    return Path(str(close.meta.get("filename", "."))).parent / name


def lock(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin (and the last stage of ``tokenbooks.plugins.book``, on a sorted book)."""
    return entries, stage(entries, ledger_dir(options_map))


def stage(entries: data.Directives, book: Path) -> list[PluginError]:
    """The changes to the closed months of ``entries`` (sorted), each a ``LockError``; and
    every closed month whose evidence disagrees (``evidence``)."""
    closes = closed_periods(entries)
    found = evidence(book)
    errors: list[PluginError] = [*missing_closes(closes, found, book),
                                 *disagreements(closes, found)]
    if not closes:
        return errors
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
            kind = "file" if change.what.startswith("file ") else "entry"
            if change.kind == "removed":
                errors.append(LockError(close.meta, f"closed period {period}: {kind} removed "
                                                    f"or changed after the close: "
                                                    f"{change.what} (was at {change.where})",
                                        close))
                continue
            entry = items[change.index][1]
            if entry is None:  # an event-id index, rewritten or cut short
                errors.append(LockError(close.meta, f"closed period {period}: file "
                                                    f"{change.kind} after the close: "
                                                    f"{change.where} (the event-id index of "
                                                    f"the month's usage cannot change)", close))
                continue
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


# --- the evidence of a close beyond its close file --------------------------------------


def evidence(book: Path) -> dict[str, dict[str, str]]:
    """What says, beside the close directives, which months of the book are closed:
    period -> {where: fingerprint or ""}. A close leaves ``closes/<P>.manifest``,
    ``reports/<P>/lock.json`` (the fingerprint) and, in a git work tree, the annotated
    tag ``tokenbooks/close/<P>`` (the fingerprint in its message)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted((book / CLOSES).glob("*.manifest")):
        out[path.stem][f"{CLOSES}/{path.name}"] = ""
    for path in sorted((book / REPORTS).glob(f"*/{LOCK_RECORD}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            period, value = str(record["period"]), str(record["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            period, value = path.parent.name, "(unreadable)"
        out[period][f"{REPORTS}/{path.parent.name}/{LOCK_RECORD}"] = value
    for period, value in git_tags(book).items():
        out[period][f"git tag {TAG_PREFIX}{period}"] = value
    return dict(out)


def git_tags(book: Path) -> dict[str, str]:
    """period -> fingerprint of the close tags of the book's git repository: the book's
    folder is the top of a git work tree (a book kept inside another project's repository,
    as the sample book is, is not tagged); none without git."""
    if shutil.which("git") is None or not (book / ".git").exists():
        return {}
    try:
        done = subprocess.run(
            ["git", "-C", str(book), "for-each-ref", "--format=%(refname:strip=4)%09"
             "%(contents)", f"refs/tags/{TAG_PREFIX.rstrip('/')}"],
            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    period = ""
    for line in done.stdout.splitlines():
        if "\t" in line:
            period, _, line = line.partition("\t")
        found = re.search(r"fingerprint: ([0-9a-f]+)", line)
        if period and found:
            out[period] = found.group(1)
    return out


def missing_closes(closes: dict[str, data.Custom], found: dict[str, dict[str, str]],
                   book: Path) -> list[PluginError]:
    """A closed month whose close directive is not in the book (its close file deleted,
    or the include of ``closes/*.beancount`` dropped)."""
    out: list[PluginError] = []
    for period, places in sorted(found.items()):
        if period not in closes:
            said = ", ".join(sorted(places))
            out.append(LockError(at(str(book / CLOSES / f"{period}.beancount")), (
                f"closed period {period}: {said} say it was closed, but the book has no "
                f"close directive for it (closes/{period}.beancount deleted, or the line "
                f"include \"closes/*.beancount\" dropped)"), None))
    return out


def disagreements(closes: dict[str, data.Custom], found: dict[str, dict[str, str]]
                  ) -> list[PluginError]:
    """A close directive whose fingerprint is not the one its month's record and tag
    keep (a manifest edited and its fingerprint computed again)."""
    out: list[PluginError] = []
    for period, close in sorted(closes.items()):
        mine = str((close.meta or {}).get("fingerprint", ""))
        for place, value in sorted(found.get(period, {}).items()):
            if value and value != mine:
                out.append(LockError(close.meta, (
                    f"closed period {period}: the close's fingerprint {mine[:12]}... is not "
                    f"the one {place} kept at the close ({value[:12]}...): the close was "
                    f"sealed again"), close))
    return out


def evidence_without_lock(options_map: dict[str, Any]) -> list[PluginError]:
    """Closed months in the book's folder, and no lock stage among its plugin lines (a
    lock removed by dropping ``tokenbooks.plugins.lock``): for the first stage to say."""
    if runs(options_map, [LOCK]):
        return []
    book = ledger_dir(options_map)
    periods = sorted(evidence(book))
    if not periods:
        return []
    return [LockError(at(str(options_map.get("filename") or "<tokenbooks.plugins.lock>")), (
        f"months {', '.join(periods)} of the book are closed (closes/, reports/*/"
        f"{LOCK_RECORD}), but no plugin line runs {LOCK}: expected the plugin line "
        f"\"{LOCK}\" last, or \"tokenbooks.plugins.book\""), None)]
