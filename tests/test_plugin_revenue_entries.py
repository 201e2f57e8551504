"""tokenbooks.plugins.revenue, ledger in and entries out: the usage transaction of an
arrears month, a prepaid purchase linked to its lot and the usage that draws it
(Beancount's plugin test style, see ``entrieskit``).

The ``first_usage`` and ``last_usage`` metadata name the usage entries by line of the
ledger: ``load_doc`` loads the dedented docstring as ``<string>``, whose line 1 is the
empty line after the opening quotes. Its pieces (``entrieskit``) stand for their lines:
``$plugins`` for two (the contracts and revenue plugins), ``$opens`` for two (Assets:Bank
and Income:Revenue:Usage), ``$open_usage_revenue`` for one.
"""

from __future__ import annotations

from entrieskit import (
    PRICE_BOOK_WITH_MINI,
    TestCase,
    acme,
    contracts,
    customer,
    generated,
    load_book,
    plugins,
)

# List prices of gpt-4o and gpt-4o-mini (LIST_GPT_4O, LIST_GPT_4O_MINI: USD per
# 1,000,000 tokens, input_tokens include the cached ones). Globex pays them less 10%, in
# arrears; acme's pack is 1,000.00 for 300,000 credits of 0.01 of list value each: 1/300
# USD of revenue a credit.
CONTRACTS = contracts(
    {"globex": customer("globex", "Globex Inc", "arrears", "discount: 0.10"),
     "acme": acme(credits=300000, expires_after="12 months")},
    price_book=PRICE_BOOK_WITH_MINI, costs=None)
PLUGINS = plugins("contracts", "revenue")


class TestRevenuePlugin(TestCase):
    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_arrears_month_is_one_usage_transaction(self, entries, _, __):
        """
        $plugins

        $open_usage_revenue

        2026-01-05 custom "usage" "globex" "gpt-4o" "chat" ""
          input_tokens: 1000000
          cached_input_tokens: 200000
          output_tokens: 50000
          events: 12
        2026-01-12 custom "usage" "globex" "gpt-4o" "search" ""
          output_tokens: 25000
          events: 3
        2026-01-12 custom "usage" "globex" "gpt-4o-mini" "search" ""
          input_tokens: 1234567
          events: 7
        2026-01-20 custom "usage" "globex" "gpt-4o" "chat" ""
          input_tokens: 300000
          output_tokens: 10000
          events: 4

        2026-02-01 balance Assets:Unbilled:Globex 7.26 USD
        """
        # List value, then the 10% discount (x 0.9), rounded to the cent:
        #   gpt-4o chat:   01-05: 800,000 x 5.00 + 200,000 x 2.50 + 50,000 x 20.00 = 5.50
        #                  01-20: 300,000 x 5.00 + 10,000 x 20.00                  = 1.70
        #                  7.20 x 0.9                                             = 6.48
        #   gpt-4o search: 25,000 x 20.00 = 0.50 x 0.9                            = 0.45
        #   gpt-4o-mini search: 1,234,567 x 0.30 = 0.3703701 x 0.9 = 0.33333309 -> 0.33
        #   (rates per 1,000,000 tokens); Assets:Unbilled:Globex 6.48 + 0.45 + 0.33 = 7.26
        # The book goes on to 02-01 (the balance, which the usage transaction makes
        # true): January is booked on its last day. The usage entries are lines 7 (the
        # first, 01-05) and 18 (the last, 01-20) of the ledger.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-31 * "Globex Inc" "Usage 2026-01-05 to 2026-01-31 (4 entries)"
                ^globex-2026
              customer: "globex"
              contract: "globex-2026"
              rule: "usage"
              price_book: "list@2026-01-01"
              usage_entries: 4
              first_usage: "<string>:7"
              last_usage: "<string>:18"
              from: 2026-01-05
              Assets:Unbilled:Globex   7.26 USD
              Income:Revenue:Usage    -6.48 USD
                model: "gpt-4o"
                feature: "chat"
              Income:Revenue:Usage    -0.45 USD
                model: "gpt-4o"
                feature: "search"
              Income:Revenue:Usage    -0.33 USD
                model: "gpt-4o-mini"
                feature: "search"
            """,
            generated(entries))

    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_prepaid_purchase_is_a_lot_and_usage_draws_it(self, entries, _, __):
        """
        $plugins

        $opens

        2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
          customer: "acme"
          contract: "acme-2026"
          rule: "purchase"
          pack: "standard"
          payment_id: "pay-001"
          Assets:Bank                          1000.00 USD
          Liabilities:Deferred-Revenue:Acme   -1000.00 USD

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
          input_tokens: 1000000
          events: 2
        2026-01-06 custom "usage" "acme" "gpt-4o-mini" "chat" ""
          input_tokens: 1000000
          events: 2
        """
        # Credits: gpt-4o 1,000,000 x 5.00 = 5.00 of list = 500 credits; gpt-4o-mini
        # 1,000,000 x 0.30 = 0.30 = 30 credits; 530 credits x 1,000.00 / 300,000
        # = 1.7666... -> 1.77 drawn from the lot, split by value 5.00 : 0.30:
        # 1.77 x 500/530 = 1.6698 -> 1.67 and 1.77 x 30/530 = 0.1002 -> 0.10.
        # The book ends on 01-06: January so far is booked on that day. The purchase
        # (line 8) gains the link of the lot it bought: contract.pack.purchase date.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
                ^acme-2026.standard.2026-01-03
              customer: "acme"
              contract: "acme-2026"
              rule: "purchase"
              pack: "standard"
              payment_id: "pay-001"
              Assets:Bank                          1000.00 USD
              Liabilities:Deferred-Revenue:Acme   -1000.00 USD

            2026-01-06 * "Acme Corp" "Usage 2026-01-05 to 2026-01-06 (2 entries)" ^acme-2026
                ^acme-2026.standard.2026-01-03
              customer: "acme"
              contract: "acme-2026"
              rule: "usage"
              lots: "acme-2026.standard.2026-01-03"
              price_book: "list@2026-01-01"
              usage_entries: 2
              first_usage: "<string>:17"
              last_usage: "<string>:20"
              from: 2026-01-05
              credits: 530
              Liabilities:Deferred-Revenue:Acme   1.77 USD
                lot: "acme-2026.standard.2026-01-03"
              Income:Revenue:Usage               -1.67 USD
                lot: "acme-2026.standard.2026-01-03"
                model: "gpt-4o"
                feature: "chat"
              Income:Revenue:Usage               -0.10 USD
                lot: "acme-2026.standard.2026-01-03"
                model: "gpt-4o-mini"
                feature: "chat"
            """,
            generated(entries))
