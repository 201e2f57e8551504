"""tokenbooks.plugins.lock, ledger in and entries out: a book with no ``close`` directive
passes through unchanged (the lock on closed months is tested through the close, in
tests/test_lock.py and tests/test_close.py)."""

from __future__ import annotations

from beancount import loader
from beancount.parser import printer
from entrieskit import GLOBEX, TestCase, contracts, ledger, plugins

from tokenbooks.plugins import lock

CONTRACTS = contracts({"globex": GLOBEX})

# A book with the entries the other plugins generate (usage revenue, inference cost, a
# provider bill) and no close: $plugins are the four other plugins' lines, $lock is the
# lock's plugin line, or an empty line (the line numbers, which the generated entries'
# metadata cite, stay the same).
BOOK = """
$plugins
$lock
$open_usage_revenue

2026-01-05 custom "usage" "globex" "gpt-4o" "chat" ""
  input_tokens: 1000000
  events: 3
2026-01-31 custom "provider-bill" "openai" "gpt-4o, input" 4.00 USD
  bill_key: "openai|2026-01-31|gpt-4o, input"
"""
PLUGINS = plugins("contracts", "revenue", "cogs", "invariants")
LOCK = plugins("lock")


class TestLockPlugin(TestCase):
    @loader.load_doc()
    def test_a_plain_book_without_a_close_is_unchanged(self, entries, _, __):
        """
        plugin "tokenbooks.plugins.lock"

        2026-01-01 open Assets:Bank USD
        2026-01-01 open Income:Sales USD

        2026-01-31 * "Customer" "Sale"
          Assets:Bank    100.00 USD
          Income:Sales  -100.00 USD

        2026-01-31 custom "usage" "globex" "gpt-4o" "chat" ""
          input_tokens: 1000
        """
        self.assertEqualEntriesAndMeta(
            """
            2026-01-01 open Assets:Bank USD
            2026-01-01 open Income:Sales USD

            2026-01-31 * "Customer" "Sale"
              Assets:Bank    100.00 USD
              Income:Sales  -100.00 USD

            2026-01-31 custom "usage" "globex" "gpt-4o" "chat" ""
              input_tokens: 1000
            """,
            entries)

    def test_a_book_without_a_close_is_the_same_with_and_without_the_lock(self):
        without, errors, _ = loader.load_string(
            ledger(BOOK, contracts=CONTRACTS, plugins=PLUGINS, lock=""))
        self.assertEqual(errors, [])
        entries, errors, options_map = loader.load_string(
            ledger(BOOK, contracts=CONTRACTS, plugins=PLUGINS, lock=LOCK))
        self.assertEqual(errors, [])
        # the entries the other plugins add are there: revenue, cost, the provider bill
        self.assertEqual(sorted(e.meta["rule"] for e in entries if "rule" in e.meta),
                         ["cogs", "provider-bill", "usage"])
        self.assertEqualEntriesAndMeta(without, entries)
        self.assertEqual([printer.format_entry(e) for e in entries],
                         [printer.format_entry(e) for e in without])  # in the same order
        # and run on its own, the plugin hands the very same list back, with no error
        out, errors = lock.lock(entries, options_map)
        self.assertIs(out, entries)
        self.assertEqual(errors, [])
