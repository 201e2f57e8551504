"""The manifest of a closed period: what a close fingerprinted, and what changed since.

A manifest is text, a header and one line per item, sorted. Version 2 (what
``tokenbooks close`` writes):

    # tokenbooks closed-period manifest v2
    entry\t3f9a…\t2026-01-31 transaction Globex Inc | Usage 2026-01-01 to 2026-01-31 | usage\t<tokenbooks.revenue>
    file\t5be1…(64)\t2751\timports/2026-01.usage-2026-01.jsonl.a1cfc1a4.beancount
    index\t90c2…(64)\t0\timports/2026-01.usage-2026-01.jsonl.a1cfc1a4.events.gz
    text\t9c1e…\t2026-01-05 custom usage acme gpt-4o chat\timports/2026-01.usage-2026-01.jsonl.a1cfc1a4.beancount:412

* ``file``: an import file (or the month's invoice file) all of whose entries are dated
  in the month, by the sha256 of its bytes and the number of entries it gives the book
  (none if its ``include`` is dropped): one digest stands for all its entries;
* ``index``: the event-id index (sidecar) of a file with usage of the month, by the
  sha256 of its bytes;
* ``entry``: every other entry of the month, one by one (those the plugins generate at
  load, and those of files the close does not fingerprint whole, such as
  ``accounts.beancount``), by a hash of the entry written out (its fields and metadata,
  not its place in a file);
* ``text``: each entry of a ``file``, by a hash of its lines in the file: read only when
  the file's digest differs, to name the entries that changed.

Version 1 (months closed before version 2) has one line per entry and index, the
fingerprint first (of the entry as printed), no kind: ``<fingerprint>\\t<what>\\t<where>``;
it is still read and verified entry by entry.

``what`` names an entry, ``where`` is its file and line when it was closed. ``compare``
matches items now against the manifest's: one whose fingerprint is not in the manifest
was added or changed (paired with a vanished one of the same ``what`` it is "changed"),
a manifest item with none now was removed. The digest of the manifest text is the
period's fingerprint, kept in the ``close`` directive.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

HEADER_V1 = "# tokenbooks closed-period manifest v1"
HEADER_V2 = "# tokenbooks closed-period manifest v2"
HEADER = HEADER_V1  # the header of an item list without kinds (``render``)
HEADERS = {HEADER_V1: 1, HEADER_V2: 2}
ENTRY, FILE, INDEX, TEXT = "entry", "file", "index", "text"  # the kinds of version 2
KINDS = (ENTRY, FILE, INDEX, TEXT)  # in the order they sort in the text
_TEXT_LINES = "\n" + TEXT + "\t"


@dataclass(frozen=True)
class Item:
    fingerprint: str
    what: str
    where: str
    kind: str = ""  # version 2: entry | file | index | text; "" in version 1
    entries: int = 0  # a version-2 file: the entries it gives the book


@dataclass(frozen=True)
class Change:
    kind: str  # added | changed | removed
    what: str
    where: str  # now (added, changed) or when closed (removed)
    index: int = -1  # position in the ``current`` list (added, changed)


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def _line(item: Item) -> str:
    if not item.kind:
        return f"{item.fingerprint}\t{clean(item.what)}\t{clean(item.where)}"
    if item.kind in (FILE, INDEX):
        return f"{item.kind}\t{item.fingerprint}\t{item.entries}\t{clean(item.where)}"
    return f"{item.kind}\t{item.fingerprint}\t{clean(item.what)}\t{clean(item.where)}"


def render(items: Iterable[Item]) -> str:
    """The manifest text: version 2 if the items have kinds, version 1 if none has."""
    items = list(items)
    kinds = {bool(i.kind) for i in items}
    if kinds == {True, False}:
        raise ValueError("a manifest's items have a kind each (version 2) or none (1)")
    header = HEADER_V2 if kinds == {True} else HEADER_V1
    return header + "\n" + "".join(line + "\n" for line in sorted(map(_line, items)))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def version(text: str, name: str = "manifest") -> int:
    """The version of a manifest's text (ValueError if its header is neither)."""
    header = text.split("\n", 1)[0]
    if header not in HEADERS:
        raise ValueError(f"{name}:1: expected the header {HEADER_V2!r} (or {HEADER_V1!r})")
    return HEADERS[header]


def _parse_lines(lines: Iterable[str], first: int, kinds: bool, name: str) -> list[Item]:
    out = []
    for n, line in enumerate(lines, first):
        if not line:
            continue
        parts = line.split("\t")
        if not kinds:
            if len(parts) != 3:
                raise ValueError(f"{name}:{n}: expected fingerprint, what and where "
                                 f"separated by tabs")
            out.append(Item(parts[0], parts[1], parts[2]))
            continue
        if len(parts) != 4 or parts[0] not in KINDS:
            raise ValueError(f"{name}:{n}: expected a kind ({', '.join(KINDS)}), a "
                             f"fingerprint, what (or entries) and where separated by tabs")
        kind, fingerprint, what, where = parts
        if kind in (FILE, INDEX):
            if not what.isdigit():
                raise ValueError(f"{name}:{n}: expected the number of entries of the file")
            out.append(Item(fingerprint, f"file {where}", where, kind, int(what)))
        else:
            out.append(Item(fingerprint, what, where, kind))
    return out


def parse(text: str, name: str = "manifest") -> list[Item]:
    """Every item of a manifest of either version."""
    kinds = version(text, name) == 2
    return _parse_lines(text.split("\n")[1:], 2, kinds, name)


def parse_head(text: str, name: str = "manifest") -> tuple[int, list[Item]]:
    """The version and the items a load verifies: all of a version-1 manifest; of a
    version-2 one, those before its ``text`` lines (they sort last and are read only to
    name what changed in a file, ``parse_text``)."""
    found = version(text, name)
    if found == 1:
        return 1, _parse_lines(text.split("\n")[1:], 2, False, name)
    end = text.find(_TEXT_LINES)
    head = text if end < 0 else text[:end + 1]
    return 2, _parse_lines(head.split("\n")[1:], 2, True, name)


def parse_text(text: str, where: str, name: str = "manifest") -> list[Item]:
    """The ``text`` items of a version-2 manifest of the file ``where``."""
    start = text.find(_TEXT_LINES)
    if start < 0:
        return []
    prefix = clean(where) + ":"
    lines = text[start + 1:].split("\n")
    return [item for item in _parse_lines(lines, 0, True, name)
            if item.kind == TEXT and item.where.startswith(prefix)
            and item.where[len(prefix):].isdigit()]


def compare(closed: Iterable[Item], current: list[Item]) -> list[Change]:
    """What differs between the manifest (``closed``) and the period's entries now."""
    closed = list(closed)
    left = Counter(i.fingerprint for i in closed)
    closed_by_fp: dict[str, list[Item]] = defaultdict(list)
    for item in closed:
        closed_by_fp[item.fingerprint].append(item)
    extra: list[tuple[int, Item]] = []
    for n, item in enumerate(current):
        if left[item.fingerprint] > 0:
            left[item.fingerprint] -= 1
        else:
            extra.append((n, item))
    gone: dict[str, list[Item]] = defaultdict(list)
    for fp, count in sorted(left.items()):
        for item in closed_by_fp[fp][len(closed_by_fp[fp]) - count:]:
            gone[clean(item.what)].append(item)
    changes = []
    for n, item in extra:
        was = gone.get(clean(item.what))
        if was:
            was.pop()
            changes.append(Change("changed", item.what, item.where, n))
        else:
            changes.append(Change("added", item.what, item.where, n))
    for what in sorted(gone):
        for item in gone[what]:
            changes.append(Change("removed", item.what, item.where))
    return changes
