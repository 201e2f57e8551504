"""Ledger-in / ledger-out tests of the plugins, in Beancount's own style.

Beancount tests its plugins with ``loader.load_doc`` (the test's docstring is the
ledger) and ``cmptest.TestCase.assertEqualEntries`` (the entries a plugin produced
against entries written as Beancount text). The tokenbooks plugins also need a contracts
folder, named by an absolute path on the plugin line; this module makes one per test
module and puts its path into the docstring:

    CONTRACTS = contracts_folder({"customers/acme.yaml": ACME, ...})

    class TestRevenue(TestCase):
        @load_book(contracts=CONTRACTS)
        def test_usage(self, entries, errors, options_map):
            '''
            plugin "tokenbooks.plugins.revenue" "{'contracts': '$contracts'}"
            ...
            '''
            self.assertEqualEntriesAndMeta('''... expected ...''', generated(entries))

``assertEqualEntries`` compares entries without their metadata (Beancount hashes them
with ``exclude_meta``, which leaves out the postings' metadata too), while the plugins
write much of what they mean there (``rule``, ``lot``, ``model``, ``feature``...):
``assertEqualEntriesAndMeta`` compares the metadata as well.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from string import Template
from typing import Any

from beancount import loader
from beancount.core import compare, data
from beancount.parser import cmptest, printer

# Where each entry and posting is: not part of what a plugin produced.
LOCATION = ("filename", "lineno")


def contracts_folder(files: dict[str, str]) -> Path:
    """A new contracts folder holding ``files`` (path in the folder -> YAML text), in a
    temporary directory removed when the test run ends."""
    root = Path(tempfile.mkdtemp(prefix="tokenbooks-entries-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    folder = root / "contracts"
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def load_book(expect_errors: bool | None = False, **paths: Path
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``loader.load_doc``, with ``$name`` in the docstring replaced by ``paths[name]``
    (``string.Template``: the plugin configs' braces are left alone)."""
    def decorator(fun: Callable[..., Any]) -> Callable[..., Any]:
        fun.__doc__ = Template(fun.__doc__ or "").substitute(
            {name: str(path) for name, path in paths.items()})
        return loader.load_doc(expect_errors=expect_errors)(fun)
    return decorator


def generated(entries: Iterable[data.Directive], rule: str | None = None
              ) -> list[data.Directive]:
    """The transactions whose metadata ``rule`` is ``rule`` (any rule if None)."""
    return [e for e in entries if isinstance(e, data.Transaction)
            and e.meta.get("rule") is not None and rule in (None, e.meta.get("rule"))]


def meta_of(meta: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata without the location and Beancount's internal (``__``) keys."""
    return {key: value for key, value in (meta or {}).items()
            if key not in LOCATION and not key.startswith("__")}


def postings_meta(entry: data.Directive) -> list[tuple[str, str]]:
    """Each posting (as hashed without its metadata) with its metadata, sorted: the
    postings' metadata, independent of their order as ``assertEqualEntries`` is."""
    postings = getattr(entry, "postings", None) or []
    return sorted((compare.stable_hash_namedtuple(p, {"meta"}), repr(sorted(
        meta_of(p.meta).items()))) for p in postings)


class TestCase(cmptest.TestCase):
    """``cmptest.TestCase`` that can also compare the entries' metadata."""

    maxDiff = None

    def assertEqualEntriesAndMeta(self, expected: str | list[data.Directive],
                                  actual: list[data.Directive]) -> None:
        """``assertEqualEntries``, then the metadata of each entry and posting."""
        self.assertEqualEntries(expected, actual)
        expected = cmptest.read_string_or_entries(expected)
        by_hash = {compare.hash_entry(e, exclude_meta=True): e for e in actual}
        for want in expected:
            got = by_hash[compare.hash_entry(want, exclude_meta=True)]
            message = ("metadata differs:\nexpected\n" + printer.format_entry(want)
                       + "actual\n" + printer.format_entry(got))
            self.assertEqual(meta_of(want.meta), meta_of(got.meta), message)
            self.assertEqual(postings_meta(want), postings_meta(got), message)
