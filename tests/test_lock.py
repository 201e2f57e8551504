"""The manifest of a closed month (pure) and the lock plugin on a closed book."""

from __future__ import annotations

import shutil
from pathlib import Path

from closekit import build, close, errors

from tokenbooks.plugins.rules.manifest import Item, compare, digest, parse, render


def test_compare_names_added_changed_and_removed_entries() -> None:
    closed = [Item("a", "2026-01-01 usage x", "f:1"), Item("b", "2026-01-02 usage y", "f:5"),
              Item("c", "2026-01-03 usage z", "f:9")]
    now = [Item("a", "2026-01-01 usage x", "f:1"), Item("B", "2026-01-02 usage y", "f:5"),
           Item("d", "2026-01-04 usage w", "g:1")]
    changes = compare(closed, now)
    assert [(c.kind, c.what, c.index) for c in changes] == [
        ("changed", "2026-01-02 usage y", 1), ("added", "2026-01-04 usage w", 2),
        ("removed", "2026-01-03 usage z", -1)]
    assert compare(closed, list(reversed(closed))) == []


def test_manifest_round_trip_and_digest() -> None:
    items = [Item("b", "two\twords", "f:2"), Item("a", "one", "f:1")]
    text = render(items)
    assert parse(text) == [Item("a", "one", "f:1"), Item("b", "two words", "f:2")]
    assert digest(text) == digest(render(list(reversed(items))))


def test_lock_plugin_refuses_a_tampered_manifest_and_a_gap(tmp_path: Path) -> None:
    ledger = build(tmp_path)
    assert close(ledger, "2026-01").exit_code == 0
    assert errors(ledger) == []
    root = ledger.parent
    manifest = root / "closes" / "2026-01.manifest"
    original = manifest.read_text()
    manifest.write_text(original.replace("\n", "\n", 1) + "0" * 32 + "\tforged\tnowhere\n")
    assert any("does not match the fingerprint of the close" in e for e in errors(ledger))
    manifest.write_text(original)
    gap = root / "closes" / "2026-03.beancount"
    shutil.copy(root / "closes" / "2026-01.beancount", gap)
    gap.write_text(gap.read_text().replace('2026-01-31 custom "close" "2026-01"',
                                           '2026-03-31 custom "close" "2026-03"'))
    assert any("the months between are not closed" in e for e in errors(ledger))
