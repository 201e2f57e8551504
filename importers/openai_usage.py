"""OpenAI usage: the Usage API's completions buckets and the dashboard usage export.

Two shapes of the same rows. The API page (``GET /v1/organization/usage/completions``,
saved as JSON; ``embeddings`` and ``moderations`` pages too):

    {"object": "page", "data": [{"object": "bucket", "start_time": 1761955200,
      "results": [{"object": "organization.usage.completions.result",
                   "input_tokens": 182400, "input_cached_tokens": 96000, "output_tokens": 41250,
                   "num_model_requests": 212, "project_id": "proj_7Qk2", "api_key_id": "key_Xy12",
                   "user_id": null, "model": "gpt-5-mini-2025-08-07", "batch": false}]}],
     "has_more": false}

and the dashboard's export (Usage page, Export; CSV or TSV), the same fields flattened:

    start_time,end_time,start_time_iso,end_time_iso,project_id,num_model_requests,user_id,api_key_id,model,batch,service_tier,input_tokens,output_tokens,input_cached_tokens,...
    1761955200,1762041600,2025-11-01T00:00:00+00:00,...,proj_7Qk2,212.0,user-Ab12,key_Xy12,gpt-5-mini-2025-08-07,FALSE,default,182400.0,41250.0,96000.0,...

Each result (a bucket x its group-by values) is one event. A customer key is needed, so
the report must be grouped by ``project_id``, ``api_key_id`` or ``user_id``: the
customer is the first of them (in that order, or ``customer_from``) whose value is
mapped by ``customers`` or is a customer of the contracts; a result with none of them
is quarantined naming them. The model is ``model`` as logged (a dated snapshot; the
model resolver maps it), so group by ``model`` too. Input tokens are ``input_tokens``
(cached included), cached ``input_cached_tokens``, output ``output_tokens``;
``num_model_requests`` is not the event count (a bucket is one event). Rows of the
export with only the time columns (days without usage) are skipped.

The event id is derived from the natural key (``foreign.derived_id``): ``openai-usage``,
the bucket start, and the sha256 of start_time, project_id, user_id, api_key_id, model,
batch, service_tier and api_source (null or empty as empty; batch as ``true``/``false``):
the API page and the export of one bucket give the same id, so importing both, or
either twice, books the bucket once.

    importer = Importer("contracts/", customers={"proj_7Qk2LmN4pR8sT1vW": "acme"})
    entries = importer.extract("openai-usage-2025-11.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .foreign import ForeignUsageImporter, count, derived_id, dig, moment, text
from .usage import RowProblem

RESULTS = ("organization.usage.completions.result", "organization.usage.embeddings.result",
           "organization.usage.moderations.result")
GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier",
          "api_source")


def _flag(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    low = str(value).strip().lower()
    if low in ("true", "false"):
        return low
    raise RowProblem("batch", f"expected true or false, got {value!r}")


class Importer(ForeignUsageImporter):
    """OpenAI Usage API completions page (JSON) or dashboard usage export (CSV/TSV)."""

    format_name = "OpenAI usage (API page or dashboard export)"
    settings_name = "openai_usage"
    shapes = ("json", "csv")
    paths = (("data", "*", "results", "*"),)
    merge_context = True
    required = ("start_time", "input_tokens", "output_tokens", "num_model_requests")
    customer_keys = ("project_id", "api_key_id", "user_id")

    def looks_like(self, record: Any) -> bool:
        if not super().looks_like(record):
            return False
        kind = record.get("object")
        return kind in RESULTS or (kind in (None, "") and "start_time_iso" in record)

    def event(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        if all(record.get(k) in (None, "") for k in ("input_tokens", "output_tokens",
                                                      "num_model_requests")):
            return None  # a day without usage (the export writes the time columns only)
        start = moment(record.get("start_time"), "start_time")
        groups = [text(record, name) if name != "batch" else _flag(record.get("batch"))
                  for name in GROUPS]
        return {
            "event_id": derived_id("openai-usage", start, [int(start.timestamp()), *groups]),
            "timestamp": start.isoformat(),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": count(record, "input_tokens"),
            "cached_input_tokens": count(record, "input_cached_tokens"),
            "output_tokens": count(record, "output_tokens"),
            "user": str(dig(record, "user_id", "")),
        }
