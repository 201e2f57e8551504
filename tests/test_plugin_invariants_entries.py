"""tokenbooks.plugins.invariants, ledger in and errors out: a lot drawn twice fails the
load (Beancount's plugin test style, see ``entrieskit``)."""

from __future__ import annotations

from entrieskit import ACME, TestCase, contracts, generated, load_book, plugins

# acme's pack: 1,000.00 for 100,000 credits of 0.01 of list value: a credit earns 0.01.
CONTRACTS = contracts({"acme": ACME}, costs=None)
PLUGINS = plugins("contracts", "revenue", "invariants")

LOT = "acme-2026.standard.2026-01-03"
WHERE = ("InvariantError", "<tokenbooks.plugins.invariants>", 0)


def located(errors):
    return [(type(e).__name__, e.source["filename"], e.source["lineno"], e.message)
            for e in errors]


class TestInvariantsPlugin(TestCase):
    @load_book(expect_errors=True, contracts=CONTRACTS, plugins=PLUGINS)
    def test_a_hand_written_posting_that_draws_the_lot_again_fails(self, entries,
                                                                   errors, _):
        """
        $plugins

        $opens

        $acme_purchase

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
          input_tokens: 2000000
          events: 2

        2026-02-01 * "Acme Corp" "manual"
          Liabilities:Deferred-Revenue:Acme   1000.00 USD
            lot: "acme-2026.standard.2026-01-03"
          Income:Revenue:Usage               -1000.00 USD
            lot: "acme-2026.standard.2026-01-03"
        """
        # The plugin draws January's usage from the lot: 2,000,000 x 5.00 per million
        # = 10.00 of list = 1,000 credits = 10.00 of revenue (booked on 01-31). The
        # hand-written posting draws the whole 1,000.00 again on 02-01:
        # 1,000.00 - 10.00 - 1,000.00 = -10.00.
        self.assertEqual(located(errors), [
            (*WHERE, f"lot {LOT}: contract liability negative (-10.00) on 2026-02-01")])
        # (recognized 10.00 + 1,000.00, liability left -10.00: consideration 1,000.00
        # still balances, so that is the only error)
        self.assertEqualEntries(
            """
            2026-01-31 * "Acme Corp" "Usage 2026-01-05 to 2026-01-31 (1 entries)" ^acme-2026
                ^acme-2026.standard.2026-01-03
              Liabilities:Deferred-Revenue:Acme   10.00 USD
              Income:Revenue:Usage               -10.00 USD
            """,
            generated(entries, "usage"))

    @load_book(expect_errors=True, contracts=CONTRACTS, plugins=PLUGINS)
    def test_a_copy_of_the_generated_usage_transaction_fails(self, entries, errors, _):
        """
        $plugins

        $opens

        $acme_purchase

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
          input_tokens: 2000000
          events: 2

        2026-01-05 * "Acme Corp" "Usage pasted into the book" ^acme-2026
          customer: "acme"
          contract: "acme-2026"
          rule: "usage"
          usage_entries: 1
          Liabilities:Deferred-Revenue:Acme   10.00 USD
            lot: "acme-2026.standard.2026-01-03"
          Income:Revenue:Usage               -10.00 USD
            lot: "acme-2026.standard.2026-01-03"
        """
        # The lot is drawn twice (10.00 by the plugin, 10.00 by the copy; 980.00 left,
        # never negative), and the one usage entry is priced twice.
        self.assertEqual(located(errors), [
            (*WHERE, "customer 'acme': 1 usage entries in the book, 2 priced (expected "
                     "each priced exactly once)")])
        self.assertEqual(len(generated(entries, "usage")), 2)
