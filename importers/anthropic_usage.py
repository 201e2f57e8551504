"""Anthropic usage report (``GET /v1/organizations/usage_report/messages``) as customer usage.

One page of the Admin API's answer, saved as JSON: buckets (``starting_at`` RFC 3339),
each with results grouped by ``api_key_id``, ``workspace_id``, ``model``,
``service_tier``, ``context_window`` (null unless grouped):

    {"data": [{"starting_at": "2025-11-01T00:00:00Z", "ending_at": "2025-11-02T00:00:00Z",
      "results": [{"uncached_input_tokens": 420000, "cache_read_input_tokens": 1280000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 64000,
                                      "ephemeral_1h_input_tokens": 0},
                   "output_tokens": 95000, "workspace_id": "wrkspc_01Jw", "api_key_id": null,
                   "model": "claude-sonnet-4-5-20250929"}]}], "has_more": false}

It is provider-side usage, not a bill: it has no amounts, and the cost report
(``anthropic_costs``) is the bill of the same traffic. Costing it from a table would
count that cost twice. It is customer usage when each customer has its own workspace
or API key: the customer is ``workspace_id``, else ``api_key_id`` (or ``customer_from``),
mapped by ``customers``; a result with neither (not grouped by them, or the default
workspace) is quarantined naming them. Input tokens are uncached + cache reads + cache
writes (5-minute and 1-hour), cached input the cache reads, output ``output_tokens``;
the legacy names ``input_tokens`` (for uncached) and a flat
``cache_creation_input_tokens`` are read too. Web searches
(``server_tool_use.web_search_requests``) are not tokens and are not imported.

The event id is derived (``foreign.derived_id``) from ``anthropic-usage``, the bucket
start, and the sha256 of starting_at, api_key_id, workspace_id, model, service_tier and
context_window: the same bucket imported again is a duplicate.

    importer = Importer("contracts/", customers={"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ": "acme"})
    entries = importer.extract("anthropic-usage-2025-11.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .foreign import ForeignUsageImporter, count, derived_id, has, moment, text

GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")


class Importer(ForeignUsageImporter):
    """Anthropic Messages usage report page (JSON)."""

    format_name = "Anthropic usage report"
    settings_name = "anthropic_usage"
    shapes = ("json",)
    paths = (("data", "*", "results", "*"),)
    merge_context = True
    required = ("starting_at", "uncached_input_tokens", "cache_read_input_tokens",
                "output_tokens")
    customer_keys = ("workspace_id", "api_key_id")

    def looks_like(self, record: Any) -> bool:
        return (isinstance(record, Mapping) and has(record, "starting_at")
                and has(record, "output_tokens") and "amount" not in record
                and (has(record, "uncached_input_tokens") or has(record, "input_tokens")))

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        start = moment(record.get("starting_at"), "starting_at")
        uncached = ("uncached_input_tokens" if has(record, "uncached_input_tokens")
                    else "input_tokens")
        groups = [text(record, name) for name in GROUPS]
        writes = (("cache_creation.ephemeral_5m_input_tokens",
                   "cache_creation.ephemeral_1h_input_tokens")
                  if isinstance(record.get("cache_creation"), Mapping)
                  else ("cache_creation_input_tokens",))
        return {
            "event_id": derived_id("anthropic-usage", start,
                                   [start.isoformat(), *groups]),
            "timestamp": start.isoformat(),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": count(record, uncached, "cache_read_input_tokens", *writes),
            "cached_input_tokens": count(record, "cache_read_input_tokens"),
            "output_tokens": count(record, "output_tokens"),
        }
