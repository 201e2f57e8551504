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
workspace) is quarantined naming them. Input tokens are every prompt token: uncached +
cache reads + cache writes (5-minute and 1-hour); cached input the cache reads, output
``output_tokens``; the legacy names ``input_tokens`` (for uncached) and a flat
``cache_creation_input_tokens`` (5-minute writes) are read too.

The token classes: ``cache_write_tokens`` the 5-minute writes
(``cache_creation.ephemeral_5m_input_tokens``, legacy ``cache_creation_input_tokens``),
``cache_write_1h_tokens`` the 1-hour ones (``ephemeral_1h_input_tokens``), both part of
the input; ``web_search_calls`` the server tool's ``server_tool_use.web_search_requests``
(the report has no other server tool); ``service_tier`` lower-cased ("" for
``standard`` or none: ``batch``, ``priority``, ...); ``context`` from ``context_window``:
"" for none or the first band (``0-200k``), ``long`` for a band above it (``200k-1M``),
another value quarantined. Grouped by ``service_tier`` and ``context_window``, results
of another tier or band are other rows.

The event id is derived (``foreign.derived_id``) from ``anthropic-usage``, the bucket
start, and the sha256 of starting_at, api_key_id, workspace_id, model, service_tier and
context_window: the same bucket imported again is a duplicate. A page with
``"has_more": true`` is imported with a warning naming the file (the import is
incomplete). The page is read column-wise (``fastpath.bucket_feed``), each record the
mapping does not vouch for through ``event``, with the same rows either way.

    importer = Importer("contracts/", customers={"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ": "acme"})
    entries = importer.extract("anthropic-usage-2025-11.json", existing=[])
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .foreign import count, derived_id, has, moment, text
from .openai_usage import BucketPageImporter

GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
PREFIX = "anthropic-usage"


def _start(value: Any) -> tuple[str, str]:
    """A bucket start's parts of the event: the id's head, the timestamp (the key's)."""
    start = moment(value, "starting_at")
    return f"{PREFIX}-{start.astimezone(datetime.UTC):%Y%m%dT%H%M}-", start.isoformat()


class Importer(BucketPageImporter):
    """Anthropic Messages usage report page (JSON)."""

    format_name = "Anthropic usage report"
    settings_name = "anthropic_usage"
    shapes = ("json",)
    paths = (("data", "*", "results", "*"),)
    merge_context = True
    required = ("starting_at", "uncached_input_tokens", "cache_read_input_tokens",
                "output_tokens")
    customer_keys = ("workspace_id", "api_key_id")
    fast_fields = {"starting_at": pa.string(), "uncached_input_tokens": pa.int64(),
                   "input_tokens": pa.int64(), "cache_read_input_tokens": pa.int64(),
                   "cache_creation.ephemeral_5m_input_tokens": pa.int64(),
                   "cache_creation.ephemeral_1h_input_tokens": pa.int64(),
                   "cache_creation_input_tokens": pa.int64(), "output_tokens": pa.int64(),
                   "server_tool_use.web_search_requests": pa.int64(),
                   "api_key_id": pa.string(), "workspace_id": pa.string(),
                   "model": pa.string(), "service_tier": pa.string(),
                   "context_window": pa.string()}
    bucket_start = ("starting_at", pa.string())

    def looks_like(self, record: Any) -> bool:
        return (isinstance(record, Mapping) and has(record, "starting_at")
                and has(record, "output_tokens") and "amount" not in record
                and (has(record, "uncached_input_tokens") or has(record, "input_tokens")))

    def bucket_columns(self, table: pa.Table, ok: list[pa.Array],
                       present: Callable[[str], bool]
                       ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        """``event`` column-wise (``fastpath.bucket_feed``)."""
        def column(name: str) -> pa.Array:
            found = fp.field(table, name)
            assert found is not None
            return found

        def counted(name: str) -> pa.Array:
            return fp.count_of(table, ok, name)

        head, stamp = fp.per_value(column("starting_at"), ok, _start, 2)
        groups = [pc.fill_null(column(name), "") for name in GROUPS]
        uncached, legacy = column("uncached_input_tokens"), column("input_tokens")
        if present("uncached_input_tokens"):  # null, or absent (legacy)? per record
            ok.append(pc.invert(pc.and_(pc.is_null(uncached), pc.is_valid(legacy))))
        base = pc.if_else(pc.is_valid(uncached), counted("uncached_input_tokens"),
                          counted("input_tokens"))
        nested = pc.is_valid(column("cache_creation"))
        five = pc.if_else(nested, counted("cache_creation.ephemeral_5m_input_tokens"),
                          counted("cache_creation_input_tokens"))
        hour = pc.if_else(nested, counted("cache_creation.ephemeral_1h_input_tokens"), 0)
        read = counted("cache_read_input_tokens")
        return {
            "event_id": pc.binary_join_element_wise(head, fp.key_digests([stamp, *groups]),
                                                    ""),
            "timestamp": stamp,
            "customer": fp.customer_column(self, table, ok),
            "model": groups[GROUPS.index("model")],
            "input_tokens": pc.add(pc.add(base, read), pc.add(five, hour)),
            "cached_input_tokens": read,
            "output_tokens": counted("output_tokens"),
            "cache_write_tokens": five,
            "cache_write_1h_tokens": hour,
            "web_search_calls": counted("server_tool_use.web_search_requests"),
            "service_tier": fp.tier_column(groups[GROUPS.index("service_tier")], ok),
            "context": fp.band_column(groups[GROUPS.index("context_window")], ok),
        }, None

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        start = moment(record.get("starting_at"), "starting_at")
        uncached = ("uncached_input_tokens" if has(record, "uncached_input_tokens")
                    else "input_tokens")
        groups = [text(record, name) for name in GROUPS]
        writes = (("cache_creation.ephemeral_5m_input_tokens",
                   "cache_creation.ephemeral_1h_input_tokens")
                  if isinstance(record.get("cache_creation"), Mapping)
                  else ("cache_creation_input_tokens",))
        event = {
            "event_id": derived_id(PREFIX, start, [start.isoformat(), *groups]),
            "timestamp": start.isoformat(),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": count(record, uncached, "cache_read_input_tokens", *writes),
            "cached_input_tokens": count(record, "cache_read_input_tokens"),
            "output_tokens": count(record, "output_tokens"),
        }
        event["cache_write_tokens"] = count(record, writes[0])
        event["cache_write_1h_tokens"] = count(record, *writes[1:])
        event["web_search_calls"] = count(record, "server_tool_use.web_search_requests")
        event["service_tier"] = fp.tier_name(groups[GROUPS.index("service_tier")])
        event["context"] = fp.band_name(groups[GROUPS.index("context_window")],
                                        "context_window")
        return event
