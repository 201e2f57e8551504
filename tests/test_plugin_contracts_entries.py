"""tokenbooks.plugins.contracts, ledger in and entries out: the accounts it opens and the
contract errors it reports (Beancount's plugin test style, see ``entrieskit``)."""

from __future__ import annotations

from entrieskit import (
    OPENAI_GPT_4O,
    TestCase,
    contracts,
    customer,
    load_book,
    openai_costs,
    plugins,
)

# The cost table's one version is in force from 2025-12-01: the provider's accounts are
# opened on that day.
COSTS_FROM_DECEMBER = openai_costs(OPENAI_GPT_4O, effective="2025-12-01")

# Its first contract starts on 2026-02-01, the second on 2027-01-01: the accounts are
# opened on the first start.
BIG_CO = """\
customer: big-co
name: Big Co
contracts:
  - id: big-co-2027
    start: 2027-01-01
    currency: USD
    billing: arrears
    price_book: list
  - id: big-co-2026
    start: 2026-02-01
    end: 2026-12-31
    currency: USD
    billing: arrears
    price_book: list
"""

# Line 7 (billing: prepay) is wrong: the file contributes nothing (no accounts are
# opened for initech).
INITECH_BROKEN = customer("initech", "Initech", "prepay")

CONTRACTS = contracts({"big-co": BIG_CO}, costs=COSTS_FROM_DECEMBER)
BROKEN = contracts({"initech": INITECH_BROKEN}, costs=COSTS_FROM_DECEMBER)
PLUGINS = plugins("contracts")


class TestContractsPlugin(TestCase):
    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_opens_customer_and_provider_accounts(self, entries, _, __):
        """
        $plugins

        $opens
        ; opened by the book itself, before the contract starts: not opened again
        2026-01-15 open Liabilities:Deferred-Revenue:Big-Co USD

        2026-01-20 * "Big Co" "Advance payment"
          Assets:Bank                          100.00 USD
          Liabilities:Deferred-Revenue:Big-Co -100.00 USD
        """
        # Everything the book had, plus the accounts of customer big-co (`Big-Co`) on
        # its first contract start and of provider openai on its first cost version.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-01 open Assets:Bank USD
            2026-01-01 open Income:Revenue:Usage USD
            2026-01-15 open Liabilities:Deferred-Revenue:Big-Co USD

            2026-01-20 * "Big Co" "Advance payment"
              Assets:Bank                          100.00 USD
              Liabilities:Deferred-Revenue:Big-Co -100.00 USD

            2026-02-01 open Assets:Receivable:Big-Co
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Assets:Unbilled:Big-Co
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Assets:Contract-Assets:Big-Co
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Liabilities:Customer-Credits:Big-Co
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Income:Revenue:Refunds
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Income:Revenue:Concessions
              generated_by: "tokenbooks.plugins.contracts"
            2026-02-01 open Expenses:Marketing:Promotional-Credits
              generated_by: "tokenbooks.plugins.contracts"

            2025-12-01 open Expenses:COGS:Inference:Openai
              generated_by: "tokenbooks.plugins.contracts"
            2025-12-01 open Expenses:COGS:Unattributed:Openai
              generated_by: "tokenbooks.plugins.contracts"
            2025-12-01 open Liabilities:Payable:Openai
              generated_by: "tokenbooks.plugins.contracts"
            """,
            entries)

    @load_book(contracts=CONTRACTS, plugins=PLUGINS)
    def test_generated_opens_are_at_the_yaml_file(self, entries, _, __):
        """
        $plugins
        """
        where = {e.account: (e.meta["filename"], e.meta["lineno"]) for e in entries}
        customer = str(CONTRACTS / "customers" / "big-co.yaml")
        provider = str(CONTRACTS / "costs" / "openai.yaml")
        self.assertEqual(where, {
            "Assets:Receivable:Big-Co": (customer, 0),
            "Assets:Unbilled:Big-Co": (customer, 0),
            "Assets:Contract-Assets:Big-Co": (customer, 0),
            "Liabilities:Deferred-Revenue:Big-Co": (customer, 0),
            "Liabilities:Customer-Credits:Big-Co": (customer, 0),
            "Income:Revenue:Refunds": (customer, 0),
            "Income:Revenue:Concessions": (customer, 0),  # grants (docs/grants.md)
            "Expenses:Marketing:Promotional-Credits": (customer, 0),
            "Expenses:COGS:Inference:Openai": (provider, 0),
            "Expenses:COGS:Unattributed:Openai": (provider, 0),
            "Liabilities:Payable:Openai": (provider, 0),
        })

    @load_book(expect_errors=True, contracts=BROKEN, plugins=PLUGINS)
    def test_a_contract_error_is_an_error_at_the_yaml_file_and_line(self, entries,
                                                                     errors, _):
        """
        $plugins

        $open_bank
        """
        self.assertEqual(
            [(e.source["filename"], e.source["lineno"], e.message) for e in errors],
            [(str(BROKEN / "customers" / "initech.yaml"), 7,
              "contracts[0].billing: expected one of 'prepaid', 'arrears', got 'prepay'")])
        self.assertEqual([type(e).__name__ for e in errors], ["ContractFileError"])
        # The broken file opens nothing; the valid cost table still opens its accounts.
        self.assertEqualEntriesAndMeta(
            """
            2026-01-01 open Assets:Bank USD

            2025-12-01 open Expenses:COGS:Inference:Openai
              generated_by: "tokenbooks.plugins.contracts"
            2025-12-01 open Expenses:COGS:Unattributed:Openai
              generated_by: "tokenbooks.plugins.contracts"
            2025-12-01 open Liabilities:Payable:Openai
              generated_by: "tokenbooks.plugins.contracts"
            """,
            entries)
