"""Closed periods cannot change: any later change to a closed month is a bean-check error.

    plugin "tokenbooks.plugins.lock"              ; last, after every other plugin
    include "closes/*.beancount"

``tokenbooks close`` ends by writing, for the month it closed:

    ; closes/2026-01.beancount
    2026-01-31 custom "close" "2026-01"
      manifest: "2026-01.manifest"
      fingerprint: "5b0c…"          ; sha256 of the manifest text
      entries: 34104

and ``closes/2026-01.manifest`` (``tokenbooks.plugins.rules.manifest``, version 2):

* each import file of the month (``imports/2026-01.<source>.<sha8>.beancount``, every
  entry of it dated in the month) and the month's invoice file by the sha256 of its bytes
  and the number of its entries, and each event-id index (sidecar) of the month's usage
  by the sha256 of its bytes: a file is read and hashed once, not its entries one by
  one. The name of an import file carries the sha256 of its *source*, which does not
  change when the file is edited: only the digest of the file's own bytes is evidence;
* every other entry of the month one by one, by the hash of the entry written out
  (``entry_fingerprint``: its fields and metadata, not its place in a file): the
  entries the plugins generate at load (revenue, COGS, the accounts the contracts
  open), whose figures can change with the contracts and the rest of the book, and the
  entries of the book's other files (``accounts.beancount``, ``main.beancount``, a file
  of manual entries, a file holding entries of several months), which can legitimately
  gain entries of open months;
* and, for each file, the hash of each entry's lines in it, read only when the file's
  digest differs, to say which entries changed.

At every load this plugin hashes the files of each closed month again (each once per
load: ``Digests``), counts the entries each gave the book (a file whose ``include`` was
dropped gave none), and prints and hashes the other entries of the month; it reports,
at the entry, each one added or changed since the close, and at the ``close`` directive
each one removed and each file removed or changed:

    imports/2026-01.usage.jsonl.be1b2b68.beancount:412: closed period 2026-01: entry
      changed after the close (2026-01-05 custom usage acme gpt-4o chat); ...

So a new import dated in a closed month, an edited, deleted or cut entry, an import
file deleted or no longer included, or a contract change that alters the revenue of a
closed month all fail ``bean-check``. What the digest of a file cannot see: a change of
how the book turns the same bytes into entries (a plugin line added before the lock
that rewrites parsed entries, a booking option), except through the generated entries
and the counts. (Usage that
arrives late is dated by ``tokenbooks import`` in the first open month, see
``importers.late``.) Paths are relative to the book, so the book can move. Closed
months must follow each other; a manifest that does not match its fingerprint is an
error too. Months closed with a version-1 manifest (every entry by its printed hash)
are verified as they were closed. Not fingerprinted: ``document`` entries (evidence
filed under a month; an import may archive a source of a closed month late) and Fava's
configuration lines (``custom "fava-extension"``, ``custom "fava-option"``: how the
books are shown).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
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
IMPORTS = "imports"  # the import files, beside main.beancount
INVOICES = "invoices"  # the close's invoice files
LOCK_RECORD = "lock.json"  # the close's record of its fingerprint, in reports/<P>/
TAG_PREFIX = "tokenbooks/close/"  # the close's git tag, in a git work tree
MAX_REPORTED = 20  # changes reported per period; the rest are counted
# An import file as tokenbooks import names it: <YYYY-MM>.<source>.<sha8>[-n].beancount
IMPORT_FILE = re.compile(r"\d{4}-\d{2}\..+\.[0-9a-f]{8}(-\d+)?\.beancount")


def _prefixes(book: Path) -> list[tuple[str, str]]:
    return [(str(book) + "/", ""), (str(book.parent) + "/", "../")]


def fingerprint(entry: data.Directive, book: Path) -> str:
    """sha256 (128 bits, hex) of the entry as printed, paths relative to the book."""
    text = printer.format_entry(entry)
    for prefix, short in _prefixes(book):
        text = text.replace(prefix, short)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata without an entry's place in a file (``filename``, ``lineno``)."""
    if meta and ("filename" in meta or "lineno" in meta):
        return {k: v for k, v in meta.items() if k != "filename" and k != "lineno"}
    return meta


def _plain(entry: data.Directive) -> tuple[Any, ...]:
    """The entry as plain values (its class, fields and metadata without its place, sets
    sorted), whose ``repr`` ``entry_fingerprint`` hashes."""
    if entry.__class__ is data.Transaction:
        return ("Transaction", entry.date, entry.flag, entry.payee, entry.narration,
                sorted(entry.tags) if entry.tags else (),
                sorted(entry.links) if entry.links else (), _meta(entry.meta),
                [(p.account, p.units and tuple(p.units), p.cost and tuple(p.cost),
                  p.price and tuple(p.price), p.flag, _meta(p.meta))
                 for p in entry.postings])
    out: list[Any] = [entry.__class__.__name__]
    for name, value in zip(entry._fields, entry, strict=True):
        if name == "meta":
            out.append(_meta(value))  # type: ignore[arg-type]  # (the meta field)
        elif isinstance(value, (set, frozenset)):
            out.append(sorted(value, key=repr))
        else:
            out.append(value)
    return tuple(out)


def entry_fingerprint(entry: data.Directive, book: Path) -> str:
    """sha256 (128 bits, hex) of the entry written out plainly (its fields and metadata as
    Python writes them, without its place in a file, sets sorted, paths relative to the
    book): the one-by-one
    fingerprint of a version-2 manifest, several times cheaper than printing the entry
    (``fingerprint``, version 1). An entry holding an object Python writes by its
    address is printed instead."""
    text = repr(_plain(entry))
    if " object at 0x" in text:
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


def relative(filename: str, book: Path) -> str:
    for prefix, short in _prefixes(book):
        if filename.startswith(prefix):
            return short + filename[len(prefix):]
    return filename


def manifest_path(close: data.Custom) -> Path:
    name = str((close.meta or {}).get("manifest", ""))
    return Path(str(close.meta.get("filename", "."))).parent / name


def _filename(entry: data.Directive) -> str:
    return str((entry.meta or {}).get("filename", "<?>"))


# --- files, hashed once per load ---------------------------------------------------------


class Digests:
    """The sha256 (hex) of files of the book, each read and hashed once per load: kept by
    (path, size, mtime_ns), so a file that changes in between is hashed again. A new one
    for each load (the lock stage, a close's lock step): nothing is kept across loads."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}
        self.hashed: list[str] = []  # the files read, in order (what a load cost)

    def of(self, path: str) -> str | None:
        """The file's sha256, None if it cannot be read."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        known = self._known.get((path, stat.st_size, stat.st_mtime_ns))
        if known is not None:
            return known
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                found = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return None
        self._keep(path, stat, found)
        return found

    def read(self, path: str) -> bytes | None:
        """The file's bytes (its digest kept), None if it cannot be read."""
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                content = handle.read()
        except OSError:
            return None
        self._keep(path, stat, hashlib.sha256(content).hexdigest())
        return content

    def _keep(self, path: str, stat: os.stat_result, found: str) -> None:
        self._known[(path, stat.st_size, stat.st_mtime_ns)] = found
        self.hashed.append(path)


def _real(filename: str) -> str:
    return os.path.realpath(filename)


def tool_file(filename: str, period: str, book: Path) -> bool:
    """Whether a file is one tokenbooks writes and nobody edits, which the close of
    ``period`` may fingerprint whole: an import file (``imports/<YYYY-MM>.<source>.
    <sha8>.beancount``) or the month's invoice file. Not the book's own files
    (``main.beancount``, ``accounts.beancount``, a file of manual entries), which gain
    entries of open months."""
    if filename.startswith("<"):
        return False
    real = _real(filename)
    folder, name = os.path.split(real)
    if folder == _real(str(book / IMPORTS)) and IMPORT_FILE.fullmatch(name):
        return True
    return real == _real(str(book / INVOICES / f"{period}.beancount"))


def text_items(content: bytes, file_entries: list[data.Directive], book: Path
               ) -> list[tuple[manifest.Item, data.Directive]]:
    """The ``text`` items of a file's locked entries: each the hash of the entry's lines
    (from its line to the next entry's, comment and blank lines at the end left out)."""
    lines = content.split(b"\n")
    ordered = sorted(file_entries, key=lambda e: int((e.meta or {}).get("lineno") or 0))
    out = []
    for n, entry in enumerate(ordered):
        if not locked(entry):
            continue
        first = int(entry.meta.get("lineno") or 1) - 1
        last = (int(ordered[n + 1].meta.get("lineno") or 1) - 1 if n + 1 < len(ordered)
                else len(lines))
        chunk = lines[first:max(first, last)]
        while chunk and (not chunk[-1].strip() or chunk[-1].lstrip().startswith(b";")):
            chunk.pop()
        out.append((manifest.Item(hashlib.sha256(b"\n".join(chunk)).hexdigest()[:32],
                                  what(entry), where(entry, book), manifest.TEXT), entry))
    return out


# --- the items of a month's manifest --------------------------------------------------


def manifest_version(book: Path, period: str) -> int:
    """The version of the month's manifest on disk; the current one (2) if none."""
    try:
        with open(book / CLOSES / f"{period}.manifest", encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n")
    except OSError:
        return 2
    return manifest.HEADERS.get(header, 2)


def period_items(entries: data.Directives, periods: Collection[str], book: Path,
                 digests: Digests | None = None
                 ) -> dict[str, list[tuple[manifest.Item, data.Directive | None]]]:
    """The manifest items of each of ``periods``, with their entries (None for a file):
    what a close of the month seals (version 2), or, for a month whose manifest on disk
    is of version 1, its items in that version (``manifest.render`` of them gives the
    manifest's text when nothing changed)."""
    first = {p for p in periods if manifest_version(book, p) == 1}
    out = v1_items(entries, first, book) if first else {}
    rest = set(periods) - first
    if rest:
        out.update(v2_items(entries, rest, book, digests or Digests()))
    return out


def v1_items(entries: data.Directives, periods: set[str], book: Path
             ) -> dict[str, list[tuple[manifest.Item, data.Directive | None]]]:
    """Version 1: each entry dated in the month by its printed hash, and the event-id
    index (sidecar) of every import file with usage entries dated in it."""
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
    for items in out.values():  # in book order (see verify_v2)
        items.sort(key=lambda pair: data.entry_sortkey(pair[1]))  # type: ignore[arg-type]
    for period, files in import_files.items():
        for name in sorted(files):
            sidecar = sidecar_for(name)
            if sidecar.is_file():
                out[period].append((file_item(sidecar, book), None))
    return out


def file_item(path: Path, book: Path) -> manifest.Item:
    """The version-1 item of a file of the book: the sha256 of its bytes (128 bits)."""
    shown = relative(str(path), book)
    return manifest.Item(hashlib.sha256(path.read_bytes()).hexdigest()[:32],
                         f"file {shown}", shown)


def v2_items(entries: data.Directives, periods: set[str], book: Path, digests: Digests
             ) -> dict[str, list[tuple[manifest.Item, data.Directive | None]]]:
    """Version 2 (the module doc): the files of each month, whole, by their digest, with
    the ``text`` of their entries; the other entries of the month one by one; the
    event-id indexes of its usage."""
    months: dict[Any, str] = {}
    everywhere: dict[str, list[data.Directive]] = defaultdict(list)  # by file, all entries
    spans: dict[str, set[str]] = defaultdict(set)  # by file, the months of its entries
    inside: dict[str, dict[str, list[data.Directive]]] = {p: defaultdict(list)
                                                          for p in periods}
    for entry in entries:
        name = _filename(entry)
        everywhere[name].append(entry)
        if not locked(entry):
            continue
        day = entry.date
        month = months.get(day)
        if month is None:
            month = months[day] = month_of(day)
        spans[name].add(month)
        if month in inside:
            inside[month][name].append(entry)
    out: dict[str, list[tuple[manifest.Item, data.Directive | None]]] = {}
    for period in sorted(periods):
        items: list[tuple[manifest.Item, data.Directive | None]] = []
        usage_files = []
        for name, mine in sorted(inside[period].items()):
            if any(e.__class__ is data.Custom and e.type == USAGE for e in mine):
                usage_files.append(name)
            content = (digests.read(name) if spans[name] == {period}
                       and tool_file(name, period, book) else None)
            if content is None:  # one by one
                items += [(manifest.Item(entry_fingerprint(e, book), what(e),
                                         where(e, book), manifest.ENTRY), e) for e in mine]
                continue
            shown = relative(name, book)
            items.append((manifest.Item(hashlib.sha256(content).hexdigest(), f"file {shown}",
                                        shown, manifest.FILE, len(everywhere[name])), None))
            items += text_items(content, everywhere[name], book)
        for name in usage_files:
            sidecar = str(sidecar_for(name))
            found = digests.of(sidecar)
            if found is not None:
                shown = relative(sidecar, book)
                items.append((manifest.Item(found, f"file {shown}", shown, manifest.INDEX),
                              None))
        out[period] = items
    return out


def entry_count(items: Iterable[manifest.Item]) -> int:
    """The entries a manifest's items stand for (a version-1 item list: its items)."""
    items = list(items)
    if all(not i.kind for i in items):
        return len(items)
    return sum(1 for i in items if i.kind in (manifest.ENTRY, manifest.TEXT))


# --- the plugin ---------------------------------------------------------------------------


def lock(entries: data.Directives, options_map: dict[str, Any],
         config: str | None = None) -> tuple[data.Directives, list[PluginError]]:
    """The plugin (and the last stage of ``tokenbooks.plugins.book``)."""
    return entries, stage(entries, ledger_dir(options_map))


def stage(entries: data.Directives, book: Path, digests: Digests | None = None
          ) -> list[PluginError]:
    """The changes to the closed months of ``entries``, each a ``LockError``; and every
    closed month whose evidence disagrees (``evidence``)."""
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
    return errors + verify(entries, closes, book, digests or Digests())


@dataclass
class Sealed:
    """A version-2 manifest of a closed month, as a load verifies it."""

    period: str
    close: data.Custom
    path: Path  # the manifest (its text lines read only to name what changed in a file)
    files: dict[str, manifest.Item] = field(default_factory=dict)  # by real path
    indexes: dict[str, manifest.Item] = field(default_factory=dict)  # by real path
    entries: list[manifest.Item] = field(default_factory=list)


def verify(entries: data.Directives, closes: dict[str, data.Custom], book: Path,
           digests: Digests) -> list[PluginError]:
    """Each closed month of ``closes`` against its manifest: version 1 entry by entry,
    version 2 file by file and generated entry by entry (one pass over the book)."""
    errors: list[PluginError] = []
    first: dict[str, list[manifest.Item]] = {}
    second: dict[str, Sealed] = {}
    for period in sorted(closes):
        close = closes[period]
        path = manifest_path(close)
        expected = str(close.meta.get("fingerprint", ""))
        try:
            raw = path.read_bytes()
            # the digest of its text (``manifest.digest``), from its bytes as they are if
            # they give it; else from its text as Python reads it (universal newlines)
            text = (None if hashlib.sha256(raw).hexdigest() == expected
                    else path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            errors.append(LockError(close.meta, f"closed period {period}: manifest {path} "
                                                f"cannot be read ({exc})", close))
            continue
        if text is not None and manifest.digest(text) != expected:
            errors.append(LockError(close.meta, f"closed period {period}: manifest {path} "
                                                f"does not match the fingerprint of the "
                                                f"close ({expected[:12]}...): it was edited",
                                    close))
            continue
        try:
            if text is None:  # decoded only up to the lines a load reads
                end = raw.find(b"\n" + manifest.TEXT.encode() + b"\t")
                text = (raw if end < 0 else raw[:end + 1]).decode("utf-8")
            version, items = manifest.parse_head(text, str(path))
        except ValueError as exc:
            errors.append(LockError(close.meta, f"closed period {period}: manifest {path} "
                                                f"cannot be read ({exc})", close))
            continue
        if version == 1:
            first[period] = [item for item in items if not _configuration(item)]
            continue
        sealed = second[period] = Sealed(period, close, path)
        for item in items:
            if item.kind == manifest.FILE:
                sealed.files[_real(os.path.join(book, item.where))] = item
            elif item.kind == manifest.INDEX:
                sealed.indexes[_real(os.path.join(book, item.where))] = item
            elif not _configuration(item):
                sealed.entries.append(item)
    if first:
        current = v1_items(entries, set(first), book)
        for period, closed in first.items():
            now = current[period]
            changes = manifest.compare(closed, [item for item, _ in now])
            errors += report(period, closes[period], changes, [e for _, e in now])
    if second:
        errors += verify_v2(entries, second, book, digests)
    return errors


def verify_v2(entries: data.Directives, months: dict[str, Sealed], book: Path,
              digests: Digests) -> list[PluginError]:
    """The version-2 months: one pass over the book counts the entries each file of a
    month gave it and collects the month's other entries; then each file is hashed
    (once), each other entry printed and hashed, and each index hashed."""
    sealed_files = {real for sealed in months.values() for real in sealed.files}
    owners: dict[Any, str | None] = {}  # an entry's filename -> the file of a month
    counts: Counter[str] = Counter()  # the entries each file of a month gave the book
    others: dict[str, list[data.Directive]] = {p: [] for p in months}
    period_of: dict[Any, str | None] = {}
    document, custom = data.Document, data.Custom
    for entry in entries:  # at every load: one pass, a few lookups an entry
        meta = entry.meta
        name = meta.get("filename") if meta else None
        try:
            owner = owners[name]
        except KeyError:
            owner = owners[name] = _sealed_file(name, sealed_files)
        if owner is not None:
            counts[owner] += 1
            continue
        day = entry.date
        try:
            period = period_of[day]
        except KeyError:
            month = month_of(day)
            period = period_of[day] = month if month in months else None
        if period is None:
            continue
        if entry.__class__ is document or (  # what ``locked`` says, inline
                entry.__class__ is custom and (entry.type == CLOSE
                                               or entry.type.startswith("fava-"))):
            continue
        others[period].append(entry)
    errors: list[PluginError] = []
    for period in sorted(months):
        sealed = months[period]
        close = sealed.close
        found: list[PluginError] = []
        changes = 0
        for real, item in sorted(sealed.files.items()):
            now = digests.of(real)
            if now is not None and now != item.fingerprint:
                more, count = file_changes(entries, sealed, real, item, book, digests)
                changes += count
                found += more
                continue
            if now is None:
                found.append(_broken(sealed, f"file removed after the close: {item.where} "
                                             f"(it held {item.entries} entries)"))
            elif counts[real] != item.entries:
                how = ("none now: its include dropped?" if not counts[real]
                       else f"{counts[real]} now")
                found.append(_broken(sealed, f"file {item.where} gave the book "
                                             f"{item.entries} entries at the close, {how}"))
            else:
                continue
            changes += 1
        for real, item in sorted(sealed.indexes.items()):
            now = digests.of(real)
            if now == item.fingerprint:
                continue
            changes += 1
            how = "removed" if now is None else "changed"
            found.append(_broken(sealed, f"file {how} after the close: {item.where} (the "
                                 f"event-id index of the month's usage cannot change)"))
        # (in book order: the plugin hands over a book sorted but for the entries the
        # stages added at its end; sorting this month's few is the same order, as a
        # stable sort of a part is the part of the sorted whole)
        mine = sorted(others[period], key=data.entry_sortkey)
        current = [manifest.Item(entry_fingerprint(e, book), what(e), where(e, book),
                                 manifest.ENTRY) for e in mine]
        diff = manifest.compare(sealed.entries, current)
        changes += len(diff)
        found += report(period, close, diff, list(mine), limit=False)
        errors += found[:MAX_REPORTED]
        if changes > MAX_REPORTED:
            errors.append(LockError(close.meta, f"closed period {period}: "
                                                f"{changes - MAX_REPORTED} more entries "
                                                f"changed after the close", close))
    return errors


def _broken(sealed: Sealed, message: str) -> LockError:
    """An error at the close directive of a sealed month."""
    return LockError(sealed.close.meta, f"closed period {sealed.period}: {message}",
                     sealed.close)


def _sealed_file(name: object, sealed_files: set[str]) -> str | None:
    """The real path of the file ``name`` if it is one of ``sealed_files``."""
    if not isinstance(name, str) or name.startswith("<"):
        return None
    real = _real(name)
    return real if real in sealed_files else None


def file_changes(entries: data.Directives, sealed: Sealed, real: str, item: manifest.Item,
                 book: Path, digests: Digests) -> tuple[list[PluginError], int]:
    """A file of a closed month whose digest changed: its entries now against the
    ``text`` items of the manifest, to say which were added, changed or removed; and how
    many changes."""
    period, close = sealed.period, sealed.close
    content = digests.read(real) or b""
    names: dict[str, bool] = {}
    mine = []
    for entry in entries:
        name = _filename(entry)
        hit = names.get(name)
        if hit is None:
            hit = names[name] = not name.startswith("<") and _real(name) == real
        if hit:
            mine.append(entry)
    mine.sort(key=data.entry_sortkey)  # in book order (see verify_v2)
    current = text_items(content, mine, book)
    try:
        closed = manifest.parse_text(sealed.path.read_text(encoding="utf-8"), item.where)
    except (OSError, ValueError):
        closed = []
    diff = manifest.compare(closed, [i for i, _ in current])
    if not diff:
        return [LockError(close.meta, (
            f"closed period {period}: file changed after the close: {item.where} (its "
            f"sha256 is not the one of the close; its entries read the same: a comment or "
            f"a blank line changed)"), close)], 1
    return report(period, close, diff, [e for _, e in current], limit=False), len(diff)


def report(period: str, close: data.Custom, changes: list[manifest.Change],
           entries: list[data.Directive | None], limit: bool = True) -> list[PluginError]:
    """The errors of ``changes`` (``entries``: the entries now, by the changes' index;
    None for a file): at the entry added or changed, at the close what was removed."""
    errors: list[PluginError] = []
    for change in changes[:MAX_REPORTED] if limit else changes:
        kind = "file" if change.what.startswith("file ") else "entry"
        if change.kind == "removed":
            errors.append(LockError(close.meta, f"closed period {period}: {kind} removed "
                                                f"or changed after the close: "
                                                f"{change.what} (was at {change.where})",
                                    close))
            continue
        entry = entries[change.index]
        if entry is None:  # an event-id index, rewritten or cut short
            errors.append(LockError(close.meta, f"closed period {period}: file "
                                                f"{change.kind} after the close: "
                                                f"{change.where} (the event-id index of "
                                                f"the month's usage cannot change)", close))
            continue
        if change.kind == "changed":
            hint = "a closed period cannot change"
        elif month_of(entry.date) != period:
            hint = ("a file of a closed period cannot change: put the entry in a file of "
                    "its own")
        else:
            hint = ("a closed period cannot change: date it in the open month (late "
                    "usage imported by tokenbooks import is dated there for you)")
        errors.append(LockError(entry.meta, f"closed period {period}: entry "
                                            f"{change.kind} after the close: "
                                            f"{change.what} ({change.where}); {hint}",
                                entry))
    if limit and len(changes) > MAX_REPORTED:
        errors.append(LockError(close.meta, f"closed period {period}: "
                                            f"{len(changes) - MAX_REPORTED} more entries "
                                            f"changed after the close", close))
    return errors


def included(loaded: Iterable[str], path: Path) -> bool:
    """Whether a load of the book would read ``path``: an ``include`` line of one of the
    files it read (``loaded``: a load's ``options_map["include"]``) matches it, as
    Beancount's loader resolves includes (a glob, relative to the including file)."""
    target = os.path.normpath(os.path.abspath(path))
    pattern = re.compile(rb'^include[ \t]+"((?:[^"\\\n]|\\.)*)"', re.MULTILINE)
    for name in loaded:
        try:
            with open(name, "rb") as handle:
                content = handle.read()
        except OSError:
            continue
        if b"include" not in content:
            continue
        for found in pattern.finditer(content):
            spec = found.group(1).decode("utf-8", "replace").replace('\\"', '"')
            search = spec if os.path.isabs(spec) else os.path.join(os.path.dirname(name),
                                                                    spec)
            for match in glob.glob(search, recursive=True):
                if os.path.normpath(os.path.abspath(match)) == target:
                    return True
    return False


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
