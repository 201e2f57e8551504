"""Langfuse observations: ``GET /api/public/observations`` (v1 and v2) and their exports.

Records are ``ObservationsView`` objects, in the API's ``{"data": [...], "meta": {...}}``,
a JSON array or JSON Lines:

    {"data": [{"id": "obs_5c0e", "traceId": "trace_1a2b", "type": "GENERATION",
      "startTime": "2025-11-01T09:14:03.512Z", "model": "gpt-5-mini-2025-08-07",
      "metadata": {"tenant": "cust_00017"},
      "usageDetails": {"input": 186, "input_cached_tokens": 1024, "output": 133,
                       "output_reasoning_tokens": 192, "total": 1535}}], "meta": {...}}

Only ``GENERATION`` and ``EMBEDDING`` observations carry usage; the others (spans,
events) are skipped. Mapping: ``id`` is the event id, ``startTime`` the timestamp, the
model ``model``; the customer ``userId`` (v2 observations and trace exports carry it),
else ``metadata.customer``, ``metadata.customer_id``, ``metadata.tenant`` or
``metadata.user_id`` (renamed by ``customers``). Tokens follow Langfuse's own rule on
``usageDetails``: every key containing ``input`` is input, every key containing
``output`` is output (``total`` is neither); cached input is the input keys that name
a cache read (``cached``, ``cache_read``); without ``usageDetails`` the legacy
``usage.input`` / ``usage.output`` are read. ``level: ERROR`` is counted
(``unbilled_events``) and not billed.

Langfuse's daily metrics (``/api/public/metrics/daily``) are not importable: they are
per day and model with no customer key (a per-customer query's ``userId`` filter is not
in the answer) and no event ids; ``tokenbooks import`` says so when given one.

    importer = Importer("contracts/", customers={"cust_00017": "acme"})
    entries = importer.extract("observations.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .foreign import ForeignUsageImporter, count, dig, has, text, utc_stamp
from .usage import RowProblem, whole

USAGE_TYPES = ("GENERATION", "EMBEDDING")
DAILY_METRICS = ("date", "countTraces", "countObservations", "usage")


def _is_cached(key: str) -> bool:
    low = key.lower()
    return "input" in low and ("cached" in low or "cache_read" in low)


class Importer(ForeignUsageImporter):
    """Langfuse observations (API page, JSON array or JSON Lines)."""

    format_name = "Langfuse observations"
    settings_name = "langfuse"
    paths = (("data", "*"), ("*",))
    required = ("id", "traceId", "type", "startTime")
    customer_keys = ("userId", "metadata.customer", "metadata.customer_id",
                     "metadata.tenant", "metadata.user_id")

    def looks_like(self, record: Any) -> bool:
        return super().looks_like(record) and (has(record, "usageDetails")
                                               or has(record, "usage"))

    def event(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = text(record, "type").upper()
        if kind not in USAGE_TYPES:
            return None
        details = dig(record, "usageDetails")
        if isinstance(details, Mapping) and details:
            inputs = outputs = cached = 0
            for key, value in details.items():
                low = str(key).lower()
                if low == "total" or value is None:
                    continue
                number = whole(value, f"usageDetails.{key}")
                if "input" in low:
                    inputs += number
                    if _is_cached(low):
                        cached += number
                elif "output" in low:
                    outputs += number
        elif details is None or isinstance(details, Mapping):
            inputs, cached = count(record, "usage.input"), 0
            outputs = count(record, "usage.output")
        else:
            raise RowProblem("usageDetails", f"expected an object of counts, got "
                                             f"{type(details).__name__}")
        return {
            "event_id": text(record, "id"),
            "timestamp": utc_stamp(record.get("startTime"), "startTime"),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": inputs,
            "cached_input_tokens": cached,
            "output_tokens": outputs,
            "user": text(record, "userId"),
            "unbilled": text(record, "level").upper() == "ERROR",
        }
