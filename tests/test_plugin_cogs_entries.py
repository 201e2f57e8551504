"""tokenbooks.plugins.cogs, ledger in and entries out: the inference cost of each
customer and month, and a provider bill with its unattributed remainder (Beancount's
plugin test style, see ``entrieskit``).

``first_usage`` and ``last_usage`` name usage entries by line of the ledger: ``load_doc``
loads the dedented docstring as ``<string>``, whose line 1 is the empty line after the
opening quotes, and ``$plugins`` its lines 2 and 3 (the plugin lines of the contracts and
cogs plugins). Amounts are rounded ROUND_HALF_UP to the cent.
"""

from __future__ import annotations

from entrieskit import (
    GLOBEX,
    OPENAI_GPT_4O,
    OPENAI_GPT_4O_MINI,
    PRICE_BOOK_WITH_MINI,
    TestCase,
    contracts,
    customer,
    generated,
    load_book,
    openai_costs,
    plugins,
)

# What openai charges for gpt-4o and gpt-4o-mini (OPENAI_GPT_4O, OPENAI_GPT_4O_MINI:
# USD per 1,000,000 tokens, input_tokens include the cached); both customers are billed
# in arrears.
CONTRACTS = contracts({"acme": customer("acme", "Acme Corp"), "globex": GLOBEX},
                      price_book=PRICE_BOOK_WITH_MINI,
                      costs=openai_costs(OPENAI_GPT_4O, OPENAI_GPT_4O_MINI))
PLUGINS = plugins("contracts", "cogs")


class TestCogsPlugin(TestCase):
    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_one_cost_transaction_per_customer_and_month(self, entries, _, __):
        """
        $plugins

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
          input_tokens: 120000
          cached_input_tokens: 20000
          output_tokens: 30000
          events: 42
        2026-01-20 custom "usage" "acme" "gpt-4o-mini" "chat" ""
          input_tokens: 2000000
          events: 5
        2026-02-03 custom "usage" "acme" "gpt-4o" "chat" ""
          output_tokens: 100000
          events: 1
        2026-01-10 custom "usage" "globex" "gpt-4o" "search" ""
          input_tokens: 400000
          events: 3
        """
        # Cost per 1,000,000 tokens, each transaction dated on the last usage day:
        #   acme 2026-01: gpt-4o 100,000 x 2.50 + 20,000 x 1.25 + 30,000 x 10.00
        #                 = 0.25 + 0.025 + 0.30 = 0.575 -> 0.58;
        #                 gpt-4o-mini 2,000,000 x 0.15 = 0.30; payable 0.88
        #   acme 2026-02: gpt-4o 100,000 x 10.00 = 1.00
        #   globex 2026-01: gpt-4o 400,000 x 2.50 = 1.00
        # The usage entries are at lines 5, 10, 13 and 16 of the ledger.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-20 * "Acme Corp" "Inference cost 2026-01" ^acme-2026
                ^bill-openai-2026-01
              customer: "acme"
              contract: "acme-2026"
              rule: "cogs"
              period: "2026-01"
              usage_entries: 2
              first_usage: "<string>:5"
              last_usage: "<string>:10"
              Expenses:COGS:Inference:Openai   0.58 USD
                model: "gpt-4o"
                feature: "chat"
                input_tokens: 120000
                cached_input_tokens: 20000
                output_tokens: 30000
                events: 42
                exact_cost: "0.575"
                cost_version: "openai 2026-01-01"
              Expenses:COGS:Inference:Openai   0.30 USD
                model: "gpt-4o-mini"
                feature: "chat"
                input_tokens: 2000000
                cached_input_tokens: 0
                output_tokens: 0
                events: 5
                exact_cost: "0.3"
                cost_version: "openai 2026-01-01"
              Liabilities:Payable:Openai      -0.88 USD

            2026-02-03 * "Acme Corp" "Inference cost 2026-02" ^acme-2026
                ^bill-openai-2026-02
              customer: "acme"
              contract: "acme-2026"
              rule: "cogs"
              period: "2026-02"
              usage_entries: 1
              first_usage: "<string>:13"
              last_usage: "<string>:13"
              Expenses:COGS:Inference:Openai   1.00 USD
                model: "gpt-4o"
                feature: "chat"
                input_tokens: 0
                cached_input_tokens: 0
                output_tokens: 100000
                events: 1
                exact_cost: "1"
                cost_version: "openai 2026-01-01"
              Liabilities:Payable:Openai      -1.00 USD

            2026-01-10 * "Globex Inc" "Inference cost 2026-01" ^globex-2026
                ^bill-openai-2026-01
              customer: "globex"
              contract: "globex-2026"
              rule: "cogs"
              period: "2026-01"
              usage_entries: 1
              first_usage: "<string>:16"
              last_usage: "<string>:16"
              Expenses:COGS:Inference:Openai   1.00 USD
                model: "gpt-4o"
                feature: "search"
                input_tokens: 400000
                cached_input_tokens: 0
                output_tokens: 0
                events: 3
                exact_cost: "1"
                cost_version: "openai 2026-01-01"
              Liabilities:Payable:Openai      -1.00 USD
            """,
            generated(entries, "cogs"))

    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_provider_bill_books_the_unattributed_remainder(self, entries, _, __):
        """
        $plugins

        2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
          input_tokens: 120000
          cached_input_tokens: 20000
          output_tokens: 30000
          events: 42
        2026-01-10 custom "usage" "globex" "gpt-4o" "search" ""
          input_tokens: 400000
          events: 3

        2026-01-12 custom "provider-bill" "openai" "gpt-4o, input" 2.0025 USD
          bill_key: "openai|2026-01-12|gpt-4o, input"
        2026-01-12 custom "provider-bill" "openai" "gpt-4o, output" 1.5025 USD
          bill_key: "openai|2026-01-12|gpt-4o, output"
        """
        # Attributed in January: acme 0.575 -> 0.58, globex 400,000 x 2.50 = 1.00: 1.58.
        # The bill: 2.0025 + 1.5025 = 3.505 -> 3.51 (half up), booked on the month's
        # last day; unattributed 3.51 - 1.58 = 1.93.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-31 * "openai" "Provider bill 2026-01" ^bill-openai-2026-01
              rule: "provider-bill"
              provider: "openai"
              period: "2026-01"
              bill_lines: 2
              bill_exact: "3.505"
              first_day: 2026-01-12
              last_day: 2026-01-12
              attributed: 1.58
              unattributed: 1.93
              Liabilities:Payable:Openai          1.58 USD
                role: "accrual-cleared"
              Expenses:COGS:Unattributed:Openai   1.93 USD
              Liabilities:Payable:Openai         -3.51 USD
                role: "bill"
            """,
            generated(entries, "provider-bill"))

    # first_usage/last_usage were picked by comparing 'file:line' as text: of usage
    # entries of one day, line 11 came before line 5
    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_first_and_last_usage_of_one_day_are_in_book_order(self, entries, _, __):
        """
        $plugins

        2026-01-05 custom "usage" "globex" "gpt-4o" "chat" ""
          input_tokens: 1000000
          events: 1
        2026-01-05 custom "usage" "globex" "gpt-4o-mini" "chat" ""
          input_tokens: 1000000
          events: 1
        2026-01-05 custom "usage" "globex" "gpt-4o" "search" ""
          input_tokens: 1000000
          events: 1
        """
        # Three entries of one day, at lines 5, 8 and 11: the first is line 5, the last
        # line 11 (as the revenue plugin has them). Cost: gpt-4o 1,000,000 x 2.50 = 2.50
        # for chat and for search, gpt-4o-mini 1,000,000 x 0.15 = 0.15; payable 5.15.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-05 * "Globex Inc" "Inference cost 2026-01" ^globex-2026
                ^bill-openai-2026-01
              customer: "globex"
              contract: "globex-2026"
              rule: "cogs"
              period: "2026-01"
              usage_entries: 3
              first_usage: "<string>:5"
              last_usage: "<string>:11"
              Expenses:COGS:Inference:Openai   2.50 USD
                model: "gpt-4o"
                feature: "chat"
                input_tokens: 1000000
                cached_input_tokens: 0
                output_tokens: 0
                events: 1
                exact_cost: "2.5"
                cost_version: "openai 2026-01-01"
              Expenses:COGS:Inference:Openai   2.50 USD
                model: "gpt-4o"
                feature: "search"
                input_tokens: 1000000
                cached_input_tokens: 0
                output_tokens: 0
                events: 1
                exact_cost: "2.5"
                cost_version: "openai 2026-01-01"
              Expenses:COGS:Inference:Openai   0.15 USD
                model: "gpt-4o-mini"
                feature: "chat"
                input_tokens: 1000000
                cached_input_tokens: 0
                output_tokens: 0
                events: 1
                exact_cost: "0.15"
                cost_version: "openai 2026-01-01"
              Liabilities:Payable:Openai      -5.15 USD
            """,
            generated(entries, "cogs"))
