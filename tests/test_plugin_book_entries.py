"""tokenbooks.plugins.book, ledger in and entries out: the one plugin line gives the same
book as the five plugin lines (Beancount's plugin test style, see ``entrieskit``)."""

from __future__ import annotations

from beancount import loader
from beancount.parser import printer
from entrieskit import ACME, GLOBEX, TestCase, contracts, generated, ledger, plugins

CONTRACTS = contracts({"globex": GLOBEX, "acme": ACME})

FIVE = plugins("contracts", "revenue", "cogs", "invariants", "lock", posting="month")
# Four comment lines keep the line numbers (which the generated entries' metadata
# cite) those of the five-line book.
ONE = plugins("book", posting="month") + "\n;\n;\n;\n;"

# After the plugin lines: the accounts, acme's purchase of its pack standard (a lot of
# 1,000.00), usage of acme and of globex (arrears), and openai's bill for January.
BOOK = """
$opens

$acme_purchase

2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
  input_tokens: 2000000
  events: 2
2026-01-07 custom "usage" "globex" "gpt-4o" "chat" ""
  input_tokens: 1000000
  output_tokens: 100000
  events: 5
2026-02-02 custom "usage" "globex" "gpt-4o" "search" ""
  output_tokens: 50000
  events: 1
2026-01-31 custom "provider-bill" "openai" "gpt-4o" 9.00 USD
  bill_key: "openai|2026-01-31|gpt-4o"
"""

# Two things wrong: a model no price book or cost table prices, and a hand-written draw
# of the whole lot after the plugin drew January's usage from it.
WRONG = """
2026-01-09 custom "usage" "globex" "gpt-9" "chat" ""
  input_tokens: 1000
  events: 1
2026-02-03 * "Acme Corp" "manual"
  Liabilities:Deferred-Revenue:Acme   1000.00 USD
    lot: "acme-2026.standard.2026-01-03"
  Income:Revenue:Usage               -1000.00 USD
    lot: "acme-2026.standard.2026-01-03"
"""


def load(plugin_lines: str, body: str):
    return loader.load_string(ledger(plugin_lines + "\n" + body, contracts=CONTRACTS))


def located(errors):
    return [(type(e).__name__, e.source.get("filename"), e.source.get("lineno"), e.message)
            for e in errors]


class TestBookPlugin(TestCase):
    def test_one_line_is_the_same_book_as_five(self):
        five, errors, _ = load(FIVE, BOOK)
        self.assertEqual(errors, [])
        one, errors, _ = load(ONE, BOOK)
        self.assertEqual(errors, [])
        # What the plugins added is there (the first posting of each, per million tokens):
        # revenue: acme 2,000,000 x 5.00 = 10.00 drawn from the lot; globex January
        # 1,000,000 x 5.00 + 100,000 x 20.00 = 7.00 and February 50,000 x 20.00 = 1.00
        # unbilled; cost: acme 2,000,000 x 2.50 = 5.00, globex 1,000,000 x 2.50 + 100,000
        # x 10.00 = 3.50 and 50,000 x 10.00 = 0.50; January's bill of 9.00 clears the
        # 5.00 + 3.50 = 8.50 accrued.
        self.assertEqual(
            sorted((e.date.isoformat(), e.meta["rule"], e.meta.get("customer", ""),
                    e.postings[0].account, str(e.postings[0].units))
                   for e in generated(one)),
            [("2026-01-03", "purchase", "acme", "Assets:Bank", "1000.00 USD"),
             ("2026-01-05", "cogs", "acme", "Expenses:COGS:Inference:Openai", "5.00 USD"),
             ("2026-01-07", "cogs", "globex", "Expenses:COGS:Inference:Openai", "3.50 USD"),
             ("2026-01-31", "provider-bill", "", "Liabilities:Payable:Openai", "8.50 USD"),
             ("2026-01-31", "usage", "acme", "Liabilities:Deferred-Revenue:Acme",
              "10.00 USD"),
             ("2026-01-31", "usage", "globex", "Assets:Unbilled:Globex", "7.00 USD"),
             ("2026-02-02", "cogs", "globex", "Expenses:COGS:Inference:Openai", "0.50 USD"),
             ("2026-02-02", "usage", "globex", "Assets:Unbilled:Globex", "1.00 USD")])
        self.assertEqualEntriesAndMeta(five, one)
        # and in the same order, as printed
        self.assertEqual([printer.format_entry(e) for e in one],
                         [printer.format_entry(e) for e in five])

    def test_one_line_gives_the_same_errors_as_five(self):
        five, five_errors, _ = load(FIVE, BOOK + WRONG)
        one, one_errors, _ = load(ONE, BOOK + WRONG)
        self.assertEqual(located(one_errors), located(five_errors))
        # The unpriced model is an error of the revenue and of the cogs stage at the
        # entry (line 32 of the ledger as loaded, its pieces put in), and the invariants
        # see that entry was not priced; the lot is overdrawn: 1,000.00 - 10.00
        # (January's 2,000,000 x 5.00 per million) - 1,000.00.
        invariants = ("InvariantError", "<tokenbooks.plugins.invariants>", 0)
        self.assertEqual(located(one_errors), [
            ("RevenueError", "<string>", 32,
             "no rate for model 'gpt-9' of customer 'globex' on 2026-01-09 (price book "
             "'list', contract 'globex-2026'); a missing price is never zero"),
            ("CogsError", "<string>", 32,
             "no cost for model 'gpt-9' on 2026-01-09 (customer 'globex'); expected the "
             "model or an alias of it in a cost table in force on that date "
             "(contracts/costs/: openai)"),
            (*invariants, "lot acme-2026.standard.2026-01-03: contract liability negative "
                          "(-10.00) on 2026-02-03"),
            (*invariants, "customer 'globex': 3 usage entries in the book, 2 priced "
                          "(expected each priced exactly once)"),
        ])
        self.assertEqualEntriesAndMeta(five, one)
