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
``model_group`` else ``model``, the feature the first request tag; cached tokens come
from the metadata (``additional_usage_values`` / ``usage_object``); a ``status`` other
than ``success`` is counted (``unbilled_events``) and not billed.

    importer = Importer("contracts/", customers={"team-acme-support": "acme"})
    entries = importer.extract("spend-logs.json", existing=[])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .foreign import ForeignUsageImporter, count, dig, has, text, utc_stamp
from .litellm import cached_tokens
from .usage import RowProblem

CACHED = "metadata.additional_usage_values.prompt_tokens_details.cached_tokens"


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
        **{f"metadata.{key}.{leaf}": pa.int64()
           for key in ("additional_usage_values", "usage_object")
           for leaf in ("prompt_tokens_details.cached_tokens", "cache_read_input_tokens")}}

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        n = table.num_rows
        cached_paths = [f"metadata.{key}.{leaf}"
                        for key in ("additional_usage_values", "usage_object")
                        for leaf in ("prompt_tokens_details.cached_tokens",
                                     "cache_read_input_tokens")]
        cached = pc.coalesce(*[fp.field(table, p) for p in cached_paths])
        ok.append(pc.fill_null(pc.and_(pc.greater_equal(cached, 0),
                                       pc.less_equal(cached, 10**15)), True))
        tags = fp.field(table, "request_tags")
        assert tags is not None
        some = pc.fill_null(pc.greater(pc.list_value_length(tags), 0), False)
        first = pc.list_element(pc.if_else(some, tags, pa.scalar(["-"], tags.type)), 0)
        ok.append(pc.or_(pc.invert(some), pc.is_valid(first)))
        status = fp.field(table, "status")
        assert status is not None
        ok.append(pc.fill_null(pc.string_is_ascii(status), True))
        low = pc.fill_null(pc.ascii_lower(status), "")
        unbilled = pc.invert(pc.or_(pc.equal(low, ""), pc.equal(low, "success")))
        user = fp.nonempty(fp.field(table, "user"), n)
        meta_user = fp.field(table, "metadata.user_api_key_user_id")
        return {
            "event_id": fp.first_text(table, "request_id", "id"),
            "timestamp": fp.stamp_of(table, ok, "startTime"),
            "customer": fp.customer_of(self, table, ok),
            "model": fp.first_text(table, "model_group", "model"),
            "feature": pc.if_else(some, first, ""),
            "input_tokens": fp.count_of(table, ok, "prompt_tokens"),
            "cached_input_tokens": pc.fill_null(cached, 0),
            "output_tokens": fp.count_of(table, ok, "completion_tokens"),
            "user": pc.coalesce(user, pc.fill_null(meta_user, "")),
            "unbilled": unbilled,
        }, None

    def customer(self, record: Mapping[str, Any]) -> str:
        metadata = _json_value(record, "metadata", {})
        return super().customer({**record, "metadata": metadata})

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        metadata = _json_value(record, "metadata", {})
        tags = _json_value(record, "request_tags", [])
        status = text(record, "status").lower()
        return {
            "event_id": text(record, "request_id", "id"),
            "timestamp": utc_stamp(record.get("startTime"), "startTime"),
            "customer": self.customer({**record, "metadata": metadata}),
            "model": text(record, "model_group", "model"),
            "feature": str(tags[0]) if isinstance(tags, list) and tags else "",
            "input_tokens": count(record, "prompt_tokens"),
            "cached_input_tokens": count({CACHED: cached_tokens(metadata)}, CACHED)
            if isinstance(metadata, dict) else 0,
            "output_tokens": count(record, "completion_tokens"),
            "user": text(record, "user") or str(dig(metadata, "user_api_key_user_id", "")),
            "unbilled": status not in ("", "success"),
        }
