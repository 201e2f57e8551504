"""LiteLLM proxy spend logs as JSON: the ``/spend/logs`` API and the callback payloads.

Two record kinds, in a JSON array, a ``{"data": [...]}`` page or JSON Lines:

- a ``LiteLLM_SpendLogs`` row as the proxy's ``GET /spend/logs`` returns it (the columns
  of the CSV export, ``metadata`` and ``request_tags`` as JSON values or JSON text):

      [{"request_id": "chatcmpl-9f3b", "call_type": "acompletion", "spend": 0.0007221,
        "prompt_tokens": 1210, "completion_tokens": 325, "startTime": "2025-11-01T09:14:03.512Z",
        "model": "gpt-5-mini", "model_group": "gpt-5-mini", "end_user": "cust_00017",
        "team_id": "team-acme-support", "metadata": {"additional_usage_values":
        {"prompt_tokens_details": {"cached_tokens": 1024}}}, "status": "success"}]

- a ``StandardLoggingPayload`` as the callbacks emit it (generic API, S3/GCS buckets,
  custom loggers): ``id``, ``startTime`` in Unix seconds (float), ``response_cost``, the
  team and end user under ``metadata.user_api_key_*``.

Each record becomes a canonical event as the CSV importer (``litellm``) maps a row:
``request_id`` (``id``) is the event id, ``startTime`` the timestamp (UTC when it has no
offset), the customer ``end_user``, else ``metadata.user_api_key_end_user_id``, else
``team_id`` / ``metadata.user_api_key_team_id`` (renamed by ``customers``), the model
``model_group`` else ``model``, the feature the first request tag; input tokens are
``prompt_tokens`` (every prompt token), and the cached tokens, cache writes (5-minute
and 1-hour) and web searches come from the metadata's usage (``additional_usage_values``
/ ``usage_object``, as ``litellm`` reads them); ``cache_hit`` (true, or the table's
``"True"``: answered from LiteLLM's own cache) is the event's ``cache_hit``; a
``status`` other than ``success`` is counted (``unbilled_events``) and not billed.

    importer = Importer("contracts/", customers={"team-acme-support": "acme"})
    entries = importer.extract("spend-logs.json", existing=[])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .base import Progress
from .foreign import ForeignUsageImporter, count, dig, has, sample, text, utc_stamp
from .litellm import (
    USAGE,
    WEB_SEARCHES,
    cache_writes,
    cached_tokens,
    usage_columns,
    usage_schema,
    usage_value,
    with_writes,
)
from .usage import RowProblem, UsageCore

CACHED = "metadata.additional_usage_values.prompt_tokens_details.cached_tokens"
SEARCHES = "metadata.additional_usage_values.server_tool_use.web_search_requests"


def _json_value(record: Mapping[str, Any], name: str, default: Any) -> Any:
    value = record.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise RowProblem(name, f"expected JSON, got malformed JSON ({exc})") from exc
    return value


class Importer(ForeignUsageImporter):
    """LiteLLM spend logs as JSON (``/spend/logs`` rows or ``StandardLoggingPayload``)."""

    format_name = "LiteLLM spend logs (JSON)"
    settings_name = "litellm_json"
    paths = (("data", "*"), ("*",))
    required = ("request_id", "call_type", "startTime", "prompt_tokens", "completion_tokens")
    customer_keys = ("end_user", "metadata.user_api_key_end_user_id", "team_id",
                     "metadata.user_api_key_team_id")

    def looks_like(self, record: Any) -> bool:
        return (isinstance(record, Mapping) and (has(record, "request_id") or has(record, "id"))
                and all(has(record, f) for f in self.required[1:]))

    fast_fields = {
        "request_id": pa.string(), "id": pa.string(), "startTime": pa.string(),
        "model_group": pa.string(), "model": pa.string(), "request_tags": pa.list_(pa.string()),
        "prompt_tokens": pa.int64(), "completion_tokens": pa.int64(), "status": pa.string(),
        "user": pa.string(), "metadata.user_api_key_user_id": pa.string(),
        "cache_hit": pa.bool_(), **usage_schema("metadata")[0]}

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        # cache_hit is a boolean in the callbacks' payloads, text ("True") in the table's
        # rows: read as the file's first records have it (a record of the other kind is
        # read by ``event``)
        found = sample(path)
        first = [r.get("cache_hit") for r in (self.records_in(found) if found else [])
                 if isinstance(r, Mapping) and r.get("cache_hit") is not None][:1]
        kind = pa.string() if first and isinstance(first[0], str) else pa.bool_()
        self.fast_fields = {**type(self).fast_fields, "cache_hit": kind}
        fp.gateway_read(self, path, core, progress)

    def fast_schema_for(self, head: str) -> tuple[pa.Schema | None, list[str]]:
        """``fast_schema`` without the metadata's usage fields the file's start does not
        name, and their keys (``fastpath.gateway_feed`` reads the file again with them
        if the rest of it names one)."""
        paths = {path: kind for path, kind in self.fast_paths().items()
                 if not path.startswith(tuple(f"metadata.{key}." for key in USAGE))}
        usage, left = usage_schema("metadata", head)
        return fp.build_schema({**paths, **usage}), left

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        n = table.num_rows
        tags = fp.column_at(table, "request_tags")
        assert tags is not None
        some = pc.fill_null(pc.greater(pc.list_value_length(tags), 0), False)
        first = pc.list_element(pc.if_else(some, tags, pa.scalar(["-"], tags.type)), 0)
        ok.append(pc.or_(pc.invert(some), pc.is_valid(first)))
        status = fp.column_at(table, "status")
        assert status is not None
        ok.append(pc.fill_null(pc.string_is_ascii(status), True))
        low = pc.fill_null(pc.ascii_lower(status), "")
        unbilled = pc.invert(pc.or_(pc.equal(low, ""), pc.equal(low, "success")))
        usage = usage_columns(table, ok, "metadata")
        prompt = fp.counts_of(table, ok, "prompt_tokens")
        written = pc.add(usage["cache_write_tokens"], usage["cache_write_1h_tokens"])
        apart = pc.and_(pc.greater(written, 0), pc.greater(
            pc.add(usage["cached_input_tokens"], written), prompt))  # (``with_writes``)
        user = fp.nonempty(fp.column_at(table, "user"), n)
        meta_user = fp.column_at(table, "metadata.user_api_key_user_id")
        return {
            "event_id": fp.texts_of(table, "request_id", "id"),
            "timestamp": fp.stamps_of(table, ok, "startTime"),
            "customer": fp.customer_column(self, table, ok),
            "model": fp.texts_of(table, "model_group", "model"),
            "feature": pc.if_else(some, first, ""),
            **usage,
            "input_tokens": pc.if_else(apart, pc.add(prompt, written), prompt),
            "output_tokens": fp.counts_of(table, ok, "completion_tokens"),
            "user": pc.coalesce(user, pc.fill_null(meta_user, "")),
            "unbilled": unbilled,
            "cache_hit": fp.column_at(table, "cache_hit"),
        }, None

    def customer(self, record: Mapping[str, Any]) -> str:
        metadata = _json_value(record, "metadata", {})
        return super().customer({**record, "metadata": metadata})

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        metadata = _json_value(record, "metadata", {})
        tags = _json_value(record, "request_tags", [])
        status = text(record, "status").lower()
        usage = metadata if isinstance(metadata, dict) else {}
        cached = count({CACHED: cached_tokens(usage)}, CACHED)
        writes = cache_writes(usage)
        return {
            "event_id": text(record, "request_id", "id"),
            "timestamp": utc_stamp(record.get("startTime"), "startTime"),
            "customer": self.customer({**record, "metadata": metadata}),
            "model": text(record, "model_group", "model"),
            "feature": str(tags[0]) if isinstance(tags, list) and tags else "",
            "input_tokens": with_writes(count(record, "prompt_tokens"), cached, writes),
            "cached_input_tokens": cached,
            **writes,
            "web_search_calls": count({SEARCHES: usage_value(usage, WEB_SEARCHES)}, SEARCHES),
            "output_tokens": count(record, "completion_tokens"),
            "user": text(record, "user") or str(dig(metadata, "user_api_key_user_id", "")),
            "unbilled": status not in ("", "success"),
            "cache_hit": record.get("cache_hit"),
        }
