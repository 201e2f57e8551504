"""Account names of the public interface (DESIGN.md, "Accounts"): the only place that
builds or takes apart an account name.

    >>> deferred_revenue("big-co")
    'Liabilities:Deferred-Revenue:Big-Co'
    >>> owner("Liabilities:Deferred-Revenue:Big-Co", DEFERRED_REVENUE, {"Big-Co": "big-co"})
    'big-co'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

BANK = "Assets:Bank"
STRIPE = "Assets:Stripe"  # clearing account of the Stripe importers (charges gross)
PAYMENT_PROCESSING = "Expenses:Payment-Processing"  # processor fees (Stripe's Fee)
SALES_TAX = "Liabilities:Sales-Tax"  # root of Liabilities:Sales-Tax:<Jurisdiction>
UNKNOWN_JURISDICTION = "Unknown"  # tax collected with no jurisdiction given
# root of Liabilities:Unclaimed-Property:<Jurisdiction>: the share of breakage owed to a
# state under unclaimed property law, never revenue (docs/variable-consideration.md)
UNCLAIMED_PROPERTY = "Liabilities:Unclaimed-Property"
INCOME = "Income"
REVENUE = "Income:Revenue"
REVENUE_USAGE = "Income:Revenue:Usage"
REVENUE_ACTIONS = "Income:Revenue:Actions"
REVENUE_BREAKAGE = "Income:Revenue:Breakage"
REVENUE_COMMITMENT = "Income:Revenue:Commitment"
REVENUE_ADJUSTMENTS = "Income:Revenue:Adjustments"
REVENUE_REFUNDS = "Income:Revenue:Refunds"  # contra revenue: refunds of consumed value
# contra revenue: the value of concession credits used (docs/grants.md, 32-25..27)
REVENUE_CONCESSIONS = "Income:Revenue:Concessions"
# the cost of usage covered by promotional credits, moved out of COGS (docs/grants.md)
MARKETING_PROMOTIONAL = "Expenses:Marketing:Promotional-Credits"

# The roots of the per-customer and per-provider accounts (``<root>:<Component>``).
RECEIVABLE = "Assets:Receivable"
UNBILLED = "Assets:Unbilled"
CONTRACT_ASSETS = "Assets:Contract-Assets"
DEFERRED_REVENUE = "Liabilities:Deferred-Revenue"
COGS_INFERENCE = "Expenses:COGS:Inference"
COGS_UNATTRIBUTED = "Expenses:COGS:Unattributed"
PAYABLE = "Liabilities:Payable"
OPENING_BALANCES = "Equity:Opening-Balances"  # the other side of a cut-over's balances
# Foreign currency (docs/currency.md): gains and losses on monetary items in another
# currency than the book's (ASC 830-10-45-17), realized on settlement or unrealized at a
# month end; the revaluation of a customer's foreign receivable and unbilled amounts
# (the adjunct that brings them to the closing rate), in the operating currency.
FX_GAIN_LOSS = "Income:FX-Gain-Loss"
FX_REALIZED = "Income:FX-Gain-Loss:Realized"
FX_UNREALIZED = "Income:FX-Gain-Loss:Unrealized"
FX_REVALUATION = "Assets:FX-Revaluation"
FX_ACCOUNTS = (FX_REALIZED, FX_UNREALIZED)

GENERAL_ACCOUNTS = (
    BANK,
    REVENUE_USAGE,
    REVENUE_ACTIONS,
    REVENUE_BREAKAGE,
    REVENUE_COMMITMENT,
    REVENUE_ADJUSTMENTS,
)

# General accounts added after the first version: the contracts plugin opens them (on
# the first contract's start) in a book that does not, so that books made by an
# earlier ``tokenbooks init`` keep passing bean-check.
LATER_GENERAL_ACCOUNTS: tuple[str, ...] = (
    REVENUE_REFUNDS,
    REVENUE_CONCESSIONS,
    MARKETING_PROMOTIONAL,
)


@functools.cache  # (ids are few; the engine and the plugins ask for every posting)
def component(name: str) -> str:
    """A customer or provider id made into a Beancount account component.

    ``acme`` -> ``Acme``, ``big-co`` -> ``Big-Co``, ``cust_00017`` -> ``Cust-00017``.
    """
    parts = [p for p in re.split(r"[-_.\s]+", name) if p]
    return "-".join(p[:1].upper() + p[1:] for p in parts)


def under(account: str, root: str) -> bool:
    """Whether ``account`` is ``root`` or one of its sub-accounts."""
    return account == root or account.startswith(root + ":")


def sub_component(account: str, root: str) -> str | None:
    """The component right under ``root`` (``Acme`` of ``Assets:Unbilled:Acme``), or None
    when ``account`` is not a sub-account of ``root``."""
    if not account.startswith(root + ":"):
        return None
    return account[len(root) + 1:].split(":")[0]


def owner(account: str, root: str, ids: Mapping[str, str]) -> str:
    """The customer (or provider) id of ``<root>:<Component>``: ``ids`` maps components
    to ids; an unknown component is given back in lower case."""
    found = sub_component(account, root) or ""
    return ids.get(found, found.lower())


def stream(account: str) -> str:
    """The revenue stream of an ``Income:Revenue:<Stream>`` account (``Usage``, ...)."""
    parts = account.split(":")
    return parts[2] if len(parts) > 2 else "Other"


def _of(root: str, name: str) -> str:
    return f"{root}:{component(name)}"


def receivable(customer: str) -> str:
    return _of(RECEIVABLE, customer)


def unbilled(customer: str) -> str:
    return _of(UNBILLED, customer)


def contract_assets(customer: str) -> str:
    return _of(CONTRACT_ASSETS, customer)


def deferred_revenue(customer: str) -> str:
    return _of(DEFERRED_REVENUE, customer)


def customer_accounts(customer: str) -> tuple[str, ...]:
    return (receivable(customer), unbilled(customer), contract_assets(customer),
            deferred_revenue(customer))


def fx_revaluation(customer: str) -> str:
    """The revaluation of ``customer``'s foreign monetary items (docs/currency.md)."""
    return _of(FX_REVALUATION, customer)


def cogs_inference(provider: str) -> str:
    return _of(COGS_INFERENCE, provider)


def cogs_unattributed(provider: str) -> str:
    return _of(COGS_UNATTRIBUTED, provider)


def payable(provider: str) -> str:
    return _of(PAYABLE, provider)


def provider_accounts(provider: str) -> tuple[str, ...]:
    return (cogs_inference(provider), cogs_unattributed(provider), payable(provider))


# Customer payments and credit notes (``docs/receivables.md``): cash a customer paid that
# no invoice took yet (unapplied cash, an overpayment) is held here until applied.
CUSTOMER_CREDITS = "Liabilities:Customer-Credits"


def customer_credits(customer: str) -> str:
    return _of(CUSTOMER_CREDITS, customer)


# The customer accounts added after the first version, opened by the contracts plugin
# with the others (``customer_accounts``) on the customer's first contract start.
def later_customer_accounts(customer: str) -> tuple[str, ...]:
    return (customer_credits(customer),)


# The revenue account of an invoice stream (what a credit note corrects): ``usage`` and
# ``overage-usage`` -> Income:Revenue:Usage, ``actions`` and ``overage-actions`` ->
# Income:Revenue:Actions, ``commitment`` -> Income:Revenue:Commitment.
CREDIT_NOTE_STREAMS = {
    "usage": REVENUE_USAGE,
    "overage-usage": REVENUE_USAGE,
    "actions": REVENUE_ACTIONS,
    "overage-actions": REVENUE_ACTIONS,
    "commitment": REVENUE_COMMITMENT,
}


def unclaimed_property(jurisdiction: str) -> str:
    """``Liabilities:Unclaimed-Property:<Jurisdiction>``: ``US-DE`` ->
    ``Liabilities:Unclaimed-Property:US-DE`` (ASC 606-10-55-49)."""
    return _of(UNCLAIMED_PROPERTY, jurisdiction)


def sales_tax(jurisdiction: str) -> str:
    """``Liabilities:Sales-Tax:<Jurisdiction>``: ``US-CA`` -> ``Liabilities:Sales-Tax:US-CA``."""
    return _of(SALES_TAX, jurisdiction)
