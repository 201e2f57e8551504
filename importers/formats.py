"""The importers of other tools' exports (docs/formats.md), as ``tokenbooks import`` makes them.

    usage = usage_importers(contracts, settings, index)   # customer usage -> custom "usage"
    costs = cost_importers()                              # provider cost -> provider bills

Each usage format takes ``customers`` (a mapping of the format's customer key values --
project, API key, workspace, end user, team, role, tag -- to customer ids) and
``customer_from`` (the dotted paths of the fields that hold the customer key, in order,
instead of the format's own) from its section of ``importers.yaml``:

    helicone:     {customers: {cust_00017: acme}, customer_from: [properties.Tenant]}
    openai_usage: {customers: {proj_7Qk2LmN4pR8sT1vW: acme}}
    bedrock:      {customers: {billing-app-role: acme}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokenbooks.plugins.rules.model import ContractSet

from . import (
    anthropic_usage,
    bedrock,
    helicone,
    langfuse,
    litellm_json,
    openai_cost_export,
    openai_usage,
    openrouter,
    openrouter_activity,
)
from .index import EventIndex

USAGE = (litellm_json, helicone, langfuse, openrouter, bedrock, openai_usage, anthropic_usage)
COSTS = (openai_cost_export, openrouter_activity)
SETTINGS: dict[str, tuple[str, ...]] = {
    module.Importer.settings_name: ("customers", "customer_from") for module in USAGE}


def paths_ok(value: Any) -> bool:
    """Whether a ``customer_from`` setting is a list of field paths."""
    return (isinstance(value, Sequence) and not isinstance(value, str) and bool(value)
            and all(isinstance(v, str) and v.strip() for v in value))


def usage_importers(contracts: ContractSet, settings: Mapping[str, Any],
                    index: EventIndex) -> list:
    out = []
    for module in USAGE:
        section = settings.get(module.Importer.settings_name) or {}
        out.append(module.Importer(contracts, index=index,
                                   customers=section.get("customers"),
                                   customer_from=section.get("customer_from")))
    return out


def cost_importers() -> list:
    return [module.Importer() for module in COSTS]
