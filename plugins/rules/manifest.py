"""The manifest of a closed period: one fingerprint per entry, and what changed since.

A manifest is text, one line per entry of the period (the book's own entries and those
the plugins generate), sorted:

    <fingerprint>\t<what>\t<where>
    3f9a…\t2026-01-31 transaction Globex Inc | Usage 2026-01-01 to 2026-01-31 | usage\t<tokenbooks.revenue>
    9c1e…\t2026-01-05 custom usage acme gpt-4o chat\timports/2026-01.usage.jsonl.be1b2b68.beancount:412

``fingerprint`` is a hash of the entry as printed (``tokenbooks.plugins.lock``), ``what``
names it, ``where`` is its file and line when it was closed. ``compare`` matches the
entries of a period now against the manifest: an entry whose fingerprint is not in the
manifest was added or changed (paired with a vanished one of the same ``what`` it is
"changed"), a manifest line with no entry now was removed. The digest of the manifest
text is the period's fingerprint, kept in the ``close`` directive.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "# tokenbooks closed-period manifest v1"


@dataclass(frozen=True)
class Item:
    fingerprint: str
    what: str
    where: str


@dataclass(frozen=True)
class Change:
    kind: str  # added | changed | removed
    what: str
    where: str  # now (added, changed) or when closed (removed)
    index: int = -1  # position in the ``current`` list (added, changed)


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def render(items: Iterable[Item]) -> str:
    lines = sorted(f"{i.fingerprint}\t{clean(i.what)}\t{clean(i.where)}" for i in items)
    return HEADER + "\n" + "".join(line + "\n" for line in lines)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(text: str, name: str = "manifest") -> list[Item]:
    lines = text.split("\n")
    if not lines or lines[0] != HEADER:
        raise ValueError(f"{name}:1: expected the header {HEADER!r}")
    out = []
    for n, line in enumerate(lines[1:], 2):
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{name}:{n}: expected fingerprint, what and where separated "
                             f"by tabs")
        out.append(Item(*parts))
    return out


def compare(closed: Iterable[Item], current: list[Item]) -> list[Change]:
    """What differs between the manifest (``closed``) and the period's entries now."""
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
