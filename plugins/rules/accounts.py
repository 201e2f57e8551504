"""Account names of the public interface (DESIGN.md, "Accounts"), as plain functions."""

from __future__ import annotations

from .model import customer_component

BANK = "Assets:Bank"
REVENUE_USAGE = "Income:Revenue:Usage"
REVENUE_ACTIONS = "Income:Revenue:Actions"
REVENUE_BREAKAGE = "Income:Revenue:Breakage"
REVENUE_COMMITMENT = "Income:Revenue:Commitment"
REVENUE_ADJUSTMENTS = "Income:Revenue:Adjustments"

GENERAL_ACCOUNTS = (
    BANK,
    REVENUE_USAGE,
    REVENUE_ACTIONS,
    REVENUE_BREAKAGE,
    REVENUE_COMMITMENT,
    REVENUE_ADJUSTMENTS,
)


def receivable(customer: str) -> str:
    return f"Assets:Receivable:{customer_component(customer)}"


def unbilled(customer: str) -> str:
    return f"Assets:Unbilled:{customer_component(customer)}"


def contract_assets(customer: str) -> str:
    return f"Assets:Contract-Assets:{customer_component(customer)}"


def deferred_revenue(customer: str) -> str:
    return f"Liabilities:Deferred-Revenue:{customer_component(customer)}"


def customer_accounts(customer: str) -> tuple[str, ...]:
    return (receivable(customer), unbilled(customer), contract_assets(customer),
            deferred_revenue(customer))


def cogs_inference(provider: str) -> str:
    return f"Expenses:COGS:Inference:{customer_component(provider)}"


def cogs_unattributed(provider: str) -> str:
    return f"Expenses:COGS:Unattributed:{customer_component(provider)}"


def payable(provider: str) -> str:
    return f"Liabilities:Payable:{customer_component(provider)}"


def provider_accounts(provider: str) -> tuple[str, ...]:
    return (cogs_inference(provider), cogs_unattributed(provider), payable(provider))
