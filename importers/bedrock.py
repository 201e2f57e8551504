"""AWS Bedrock model invocation logs: one ``ModelInvocationLog`` record per invocation.

JSON Lines as Bedrock delivers them (S3 objects, gzip'ed or not, or a CloudWatch Logs
export), or a JSON array / ``{"data": [...]}`` of records:

    {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
     "timestamp": "2025-11-01T09:20:19Z", "requestId": "915a6a04-...",
     "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/billing-app-role/i-0abc"},
     "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
     "input": {"inputTokenCount": 2380, "cacheReadInputTokenCount": 0},
     "output": {"outputTokenCount": 740}, "requestMetadata": {"tenant": "acme"}}

Mapping: ``requestId`` is the event id, ``timestamp`` the timestamp, ``modelId`` the
model as logged (an inference profile or ARN: the model resolver maps it to the price
book). The customer is the caller's tag in ``requestMetadata`` (``customer``,
``customer_id``, ``tenant``), else the caller's identity, ``identity.arn``, mapped by
``customers`` by the whole ARN or by its role or user name (``billing-app-role`` in
``arn:aws:sts::1111:assumed-role/billing-app-role/i-0abc``, ``batch-runner`` in
``arn:aws:iam::1111:user/batch-runner``). Input tokens are ``inputTokenCount`` plus
the cache reads and writes (Bedrock counts them apart, as Anthropic does), of which
``cacheReadInputTokenCount`` is cached input and ``cacheWriteInputTokenCount`` the
prompt-cache writes (``cache_write_tokens``: the logs give no duration, so 5-minute
writes); output ``outputTokenCount``. A record with
an ``errorCode`` is counted (``unbilled_events``) and not billed. The logs carry no cost:
cost comes from the cost tables (``tokenbooks.plugins.cogs``).

    importer = Importer("contracts/", customers={"billing-app-role": "acme"})
    entries = importer.extract("bedrock-2025-11-01.jsonl.gz", existing=[])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .base import Progress
from .foreign import ForeignUsageImporter, count, text, utc_stamp
from .usage import UsageCore

SCHEMA = "ModelInvocationLog"
_PRINCIPAL = re.compile(r":(?:assumed-role|role|user)/([^/]+)")


class Importer(ForeignUsageImporter):
    """Bedrock model invocation log records (JSON Lines, gzip'ed or not)."""

    format_name = "Bedrock invocation logs"
    settings_name = "bedrock"
    shapes = ("jsonl", "json")
    paths = (("data", "*"), ("*",))
    required = ("schemaType", "requestId", "timestamp", "modelId", "input.inputTokenCount")
    customer_keys = ("requestMetadata.customer", "requestMetadata.customer_id",
                     "requestMetadata.tenant", "identity.arn")

    def looks_like(self, record: Any) -> bool:
        return super().looks_like(record) and record.get("schemaType") == SCHEMA

    def names_for(self, path: str, value: str) -> list[str]:
        if path.endswith("arn"):
            found = _PRINCIPAL.search(value)
            return [value, found.group(1)] if found else [value]
        return [value]

    fast_fields = {"requestId": pa.string(), "timestamp": pa.string(),
                   "modelId": pa.string(), "input.inputTokenCount": pa.int64(),
                   "input.cacheReadInputTokenCount": pa.int64(),
                   "input.cacheWriteInputTokenCount": pa.int64(),
                   "output.outputTokenCount": pa.int64(), "errorCode": pa.string()}

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        return {
            "event_id": fp.texts_of(table, "requestId"),
            "timestamp": fp.stamps_of(table, ok, "timestamp"),
            "customer": fp.customer_column(self, table, ok),
            "model": fp.texts_of(table, "modelId"),
            "input_tokens": fp.counts_of(table, ok, "input.inputTokenCount",
                                        "input.cacheReadInputTokenCount",
                                        "input.cacheWriteInputTokenCount"),
            "cached_input_tokens": fp.counts_of(table, ok, "input.cacheReadInputTokenCount"),
            "cache_write_tokens": fp.counts_of(table, ok, "input.cacheWriteInputTokenCount"),
            "output_tokens": fp.counts_of(table, ok, "output.outputTokenCount"),
            "unbilled": pc.not_equal(fp.texts_of(table, "errorCode"), ""),
        }, None

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        fp.gateway_read(self, path, core, progress)

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        read = count(record, "input.cacheReadInputTokenCount")
        return {
            "event_id": text(record, "requestId"),
            "timestamp": utc_stamp(record.get("timestamp"), "timestamp"),
            "customer": self.customer(record),
            "model": text(record, "modelId"),
            "input_tokens": count(record, "input.inputTokenCount",
                                  "input.cacheReadInputTokenCount",
                                  "input.cacheWriteInputTokenCount"),
            "cached_input_tokens": read,
            "cache_write_tokens": count(record, "input.cacheWriteInputTokenCount"),
            "output_tokens": count(record, "output.outputTokenCount"),
            "unbilled": bool(text(record, "errorCode")),
        }
