"""Helicone request exports: ``POST /v1/request/query`` results and ``@helicone/export``.

Records are ``HeliconeRequest`` objects, in the API's ``{"data": [...], "error": null}``,
a JSON array, or JSON Lines (the export CLI):

    {"data": [{"request_id": "3e4f5a6b-...", "request_created_at": "2025-11-01T09:14:03.512Z",
      "request_user_id": "cust_00017", "properties": {"Tenant": "acme"}, "provider": "OPENAI",
      "model": "gpt-5-mini-2025-08-07", "prompt_tokens": 1210, "prompt_cache_read_tokens": 1024,
      "completion_tokens": 325, "response_status": 200, "costUSD": 0.0007221}], "error": null}

Mapping: ``request_id`` is the event id, ``request_created_at`` the timestamp; the
customer a custom property (``properties.Customer``, ``properties.Tenant``, or the
``Helicone-Property-*`` request headers), else ``request_user_id`` (the app's user id),
renamed by ``customers``; the model ``response_model``, else ``model``, else
``request_model``. Input tokens are every prompt token: ``prompt_tokens`` with the cache
reads (``prompt_cache_read_tokens``, the cached input) and writes
(``prompt_cache_write_tokens``, ``cache_write_tokens``: Helicone has one count of them,
whatever their duration). Helicone stores ``prompt_tokens`` as the provider reports it:
OpenAI's includes the cache reads, Anthropic's (``provider`` ``ANTHROPIC``) counts them
and the writes apart, so they are added to it; for another provider they are added
where they exceed ``prompt_tokens`` (then they cannot be part of it). A
``response_status`` other than 2xx is counted (``unbilled_events``) and not billed.

    importer = Importer("contracts/", customer_from=["properties.Tenant"])
    entries = importer.extract("helicone.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .base import Progress
from .foreign import ForeignUsageImporter, count, dig, text, utc_stamp
from .usage import UsageCore

APART = "ANTHROPIC"  # the provider whose prompt_tokens leave the cache reads and writes out


class Importer(ForeignUsageImporter):
    """Helicone request records (API query result, export CLI JSON or JSON Lines)."""

    format_name = "Helicone request export"
    settings_name = "helicone"
    paths = (("data", "*"), ("*",))
    required = ("request_id", "request_created_at", "provider", "prompt_tokens",
                "completion_tokens")
    customer_keys = ("properties.Customer", "properties.Tenant",
                     "request_properties.Helicone-Property-Customer",
                     "request_properties.Helicone-Property-Tenant", "request_user_id")

    fast_fields = {"request_id": pa.string(), "request_created_at": pa.string(),
                   "prompt_tokens": pa.int64(), "prompt_cache_read_tokens": pa.int64(),
                   "prompt_cache_write_tokens": pa.int64(), "completion_tokens": pa.int64(),
                   "response_status": pa.int64(), "response_model": pa.string(),
                   "model": pa.string(), "request_model": pa.string(),
                   "request_user_id": pa.string(), "provider": pa.string()}

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        prompt = fp.counts_of(table, ok, "prompt_tokens")
        read = fp.counts_of(table, ok, "prompt_cache_read_tokens")
        written = fp.counts_of(table, ok, "prompt_cache_write_tokens")
        provider = fp.texts_of(table, "provider")
        ok.append(pc.string_is_ascii(provider))
        apart = pc.equal(pc.ascii_upper(provider), APART)
        both = pc.add(read, written)
        prompt = pc.if_else(pc.or_(apart, pc.greater(both, prompt)), pc.add(prompt, both),
                            prompt)
        status = fp.column_at(table, "response_status")
        assert status is not None
        failed = pc.fill_null(pc.invert(pc.and_(pc.greater_equal(status, 200),
                                                pc.less(status, 300))), False)
        return {
            "event_id": fp.texts_of(table, "request_id"),
            "timestamp": fp.stamps_of(table, ok, "request_created_at"),
            "customer": fp.customer_column(self, table, ok),
            "model": fp.texts_of(table, "response_model", "model", "request_model"),
            "input_tokens": prompt,
            "cached_input_tokens": read,
            "cache_write_tokens": written,
            "output_tokens": fp.counts_of(table, ok, "completion_tokens"),
            "user": fp.texts_of(table, "request_user_id"),
            "unbilled": failed,
        }, None

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        fp.gateway_read(self, path, core, progress)

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        prompt = count(record, "prompt_tokens")
        read = count(record, "prompt_cache_read_tokens")
        written = count(record, "prompt_cache_write_tokens")
        if text(record, "provider").upper() == APART or read + written > prompt:
            prompt += read + written  # counted apart from the prompt
        status = dig(record, "response_status")
        failed = status is not None and not (isinstance(status, (int, float))
                                             and 200 <= status < 300)
        return {
            "event_id": text(record, "request_id"),
            "timestamp": utc_stamp(record.get("request_created_at"), "request_created_at"),
            "customer": self.customer(record),
            "model": text(record, "response_model", "model", "request_model"),
            "input_tokens": prompt,
            "cached_input_tokens": read,
            "cache_write_tokens": written,
            "output_tokens": count(record, "completion_tokens"),
            "user": text(record, "request_user_id"),
            "unbilled": failed,
        }
