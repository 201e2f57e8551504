"""Ledger-in / ledger-out tests of the plugins, in Beancount's own style.

Beancount tests its plugins with ``loader.load_doc`` (the test's docstring is the
ledger) and ``cmptest.TestCase.assertEqualEntries`` (the entries a plugin produced
against entries written as Beancount text). The tokenbooks plugins also need a contracts
folder, named by an absolute path on the plugin line; this module makes one per test
module and puts its path into the docstring, with the plugin lines:

    CONTRACTS = contracts({"acme": ACME}, costs=None)

    class TestRevenue(TestCase):
        @load_book(contracts=CONTRACTS, plugins=plugins("contracts", "revenue"))
        def test_usage(self, entries, errors, options_map):
            '''
            $plugins

            $opens
            ...
            '''
            self.assertEqualEntriesAndMeta('''... expected ...''', generated(entries))

``assertEqualEntries`` compares entries without their metadata (Beancount hashes them
with ``exclude_meta``, which leaves out the postings' metadata too), while the plugins
write much of what they mean there (``rule``, ``lot``, ``model``, ``feature``...):
``assertEqualEntriesAndMeta`` compares the metadata as well.

What the tests share is here: the contracts (a price book, a cost table, customers, and
``contracts`` to make a folder of them) and the ledger's boilerplate. A ``$name`` line
of a ledger stands for lines of it (``ledger``): ``$plugins`` for the plugin lines the
test names (``plugins(...)``), ``$opens`` and the other ``PIECES`` for the lines of
that name here. Mind it when counting a ledger's lines: the metadata of generated
entries name usage entries by line (``<string>:5``), of the ledger as loaded.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from string import Template
from typing import Any

from beancount import loader
from beancount.core import compare, data
from beancount.parser import cmptest, printer

# Where each entry and posting is: not part of what a plugin produced.
LOCATION = ("filename", "lineno")


# The contracts -------------------------------------------------------------------------

# A model's rates as a line of a price book or a cost table: USD per 1,000,000 tokens,
# where input_tokens include the cached ones. List prices, and what openai charges:
LIST_GPT_4O = "gpt-4o: {input: 5.00, cached_input: 2.50, output: 20.00}"
LIST_GPT_4O_MINI = "gpt-4o-mini: {input: 0.30, cached_input: 0.15, output: 1.20}"
OPENAI_GPT_4O = "gpt-4o: {input: 2.50, cached_input: 1.25, output: 10.00}"
OPENAI_GPT_4O_MINI = "gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}"


def rates(head: str, effective: str, models: Iterable[str]) -> str:
    """A price book or cost table: ``head`` (its id...), then one version, in force from
    ``effective``, with the rates of ``models`` (lines as ``LIST_GPT_4O``)."""
    return "\n".join([head, "currency: USD", "per: 1000000", "versions:",
                      f"  - effective: {effective}", "    models:",
                      *(f"      {model}" for model in models)]) + "\n"


def price_book(*models: str) -> str:
    """Price book ``list`` (what the customers pay), in force from 2026-01-01."""
    return rates("id: list", "2026-01-01", models)


def openai_costs(*models: str, effective: str = "2026-01-01") -> str:
    """Cost table ``openai`` (what provider openai charges), in force from ``effective``."""
    return rates("id: openai\nprovider: openai", effective, models)


PRICE_BOOK = price_book(LIST_GPT_4O)
PRICE_BOOK_WITH_MINI = price_book(LIST_GPT_4O, LIST_GPT_4O_MINI)
COSTS_OPENAI = openai_costs(OPENAI_GPT_4O)


def customer(name: str, display_name: str, billing: str = "arrears", *terms: str) -> str:
    """Customer ``name`` (``display_name``) with one contract, ``<name>-2026``: from
    2026-01-01, in USD, billed ``billing`` (line 7) at price book ``list``, with the
    further ``terms`` (YAML lines of the contract, e.g. ``discount: 0.10``)."""
    return "\n".join([f"customer: {name}", f"name: {display_name}", "contracts:",
                      f"  - id: {name}-2026", "    start: 2026-01-01", "    currency: USD",
                      f"    billing: {billing}", "    price_book: list",
                      *(f"    {term}" for term in terms)]) + "\n"


def acme(credits: int = 100000, expires_after: str = "6 months") -> str:
    """Customer acme (Acme Corp), prepaid: 1,000.00 buys its pack ``standard`` of
    ``credits`` credits of 0.01 of list value each, which expire ``expires_after``."""
    pack = f"{{price: 1000.00, credits: {credits}, expires_after: {expires_after}}}"
    return customer("acme", "Acme Corp", "prepaid", "credit_value: 0.01", "packs:",
                    f"  standard: {pack}")


GLOBEX = customer("globex", "Globex Inc")
# 1,000.00 for 100,000 credits of 0.01 of list value: a credit earns 0.01.
ACME = acme()


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


def contracts(customers: dict[str, str], price_book: str = PRICE_BOOK,
              costs: str | None = COSTS_OPENAI) -> Path:
    """A new contracts folder (``contracts_folder``): the price book ``list``, the cost
    table ``openai`` (none if ``costs`` is None) and ``customers`` (name -> YAML text)."""
    files = {"price-books/list.yaml": price_book}
    if costs is not None:
        files["costs/openai.yaml"] = costs
    files.update({f"customers/{name}.yaml": text for name, text in customers.items()})
    return contracts_folder(files)


# The ledger ------------------------------------------------------------------------------
# A piece is lines without the last newline: its ``$name`` stands on a line of its own.


def plugins(*names: str, posting: str | None = None) -> str:
    """The plugin lines of the tokenbooks plugins ``names``, in that order and aligned:
    each given the contracts folder as ``$contracts`` but ``lock``, which takes no config;
    ``posting``, the posting option of the revenue (or the book) plugin."""
    width = max(len(f'plugin "tokenbooks.plugins.{name}"') for name in names)
    lines = []
    for name in names:
        head = f'plugin "tokenbooks.plugins.{name}"'
        config = "'contracts': '$contracts'"
        if posting is not None and name in ("revenue", "book"):
            config += f", 'posting': '{posting}'"
        lines.append(head if name == "lock" else f'{head:<{width}} "{{{config}}}"')
    return "\n".join(lines)


# The accounts a book opens itself: the bank purchases are paid into, the income usage
# revenue is booked to (the contracts plugin opens the customers' and providers').
OPEN_BANK = "2026-01-01 open Assets:Bank USD"
OPEN_USAGE_REVENUE = "2026-01-01 open Income:Revenue:Usage USD"

# Acme buys its pack standard on 2026-01-03: the lot acme-2026.standard.2026-01-03.
ACME_PURCHASE = """\
2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-001"
  Assets:Bank                          1000.00 USD
  Liabilities:Deferred-Revenue:Acme   -1000.00 USD"""

# The pieces any ledger may name (``ledger``): ``$opens`` is two lines.
PIECES = {
    "open_bank": OPEN_BANK,
    "open_usage_revenue": OPEN_USAGE_REVENUE,
    "opens": f"{OPEN_BANK}\n{OPEN_USAGE_REVENUE}",
    "acme_purchase": ACME_PURCHASE,
}


def ledger(text: str, **values: Path | str) -> str:
    """``text`` dedented, with each ``$name`` replaced by ``values[name]`` (a folder, or
    ledger lines such as ``plugins(...)``) or else by the piece ``PIECES[name]``, then the
    folders' ``$name`` in the lines put in too (``string.Template``: the plugin configs'
    braces are left alone; a name with no value is an error)."""
    lines = {**PIECES, **{name: value for name, value in values.items()
                          if isinstance(value, str)}}
    paths = {name: str(value) for name, value in values.items() if isinstance(value, Path)}
    text = Template(textwrap.dedent(text)).substitute(
        {**lines, **{name: f"${name}" for name in paths}})
    return Template(text).substitute(paths)


def load_book(expect_errors: bool | None = False, **values: Path | str
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``loader.load_doc``, the docstring made a ledger by ``ledger(docstring, **values)``
    (``$contracts`` replaced by ``values["contracts"]``, ``$plugins`` by the plugin lines
    ``values["plugins"]``...)."""
    def decorator(fun: Callable[..., Any]) -> Callable[..., Any]:
        fun.__doc__ = ledger(fun.__doc__ or "", **values)
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
