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
(every prompt token: cached included), cached ``input_cached_tokens``, output
``output_tokens``; ``num_model_requests`` is not the event count (a bucket is one
event). Rows of the export with only the time columns (days without usage) are skipped.

The token classes (canonical ``service_tier``): ``batch`` for a batch result
(``batch: true``, which wins over ``service_tier``), else ``service_tier`` lower-cased,
"" for ``default``, ``auto``, ``standard`` or none; grouped by ``batch`` and
``service_tier``, a result of another tier is another row. The completions results
report no cache writes, long-context band or server-tool calls (``context`` is "").

The event id is derived from the natural key (``foreign.derived_id``): ``openai-usage``,
the bucket start, and the sha256 of start_time, project_id, user_id, api_key_id, model,
batch, service_tier and api_source (null or empty as empty; batch as ``true``/``false``):
the API page and the export of one bucket give the same id, so importing both, or
either twice, books the bucket once.

A page with ``"has_more": true`` is one page of a longer report: imported, with a
warning naming the file (``Extraction.warnings``; ``--strict`` fails on it).

An API page is read column-wise (``fastpath.bucket_feed``: the page parsed by pyarrow
whole, the records mapped by ``bucket_columns``); a record that mapping does not vouch
for, and any page it cannot read as the per-record path does, goes through ``event``,
so the rows are the same either way. The dashboard export is read record by record.

    importer = Importer("contracts/", customers={"proj_7Qk2LmN4pR8sT1vW": "acme"})
    entries = importer.extract("openai-usage-2025-11.json", existing=[])
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from . import foreign
from .base import Progress
from .foreign import (
    ForeignUsageImporter,
    count,
    derived_id,
    dig,
    moment,
    open_bytes,
    sample,
    text,
)
from .index import EventIndex
from .provider_costs import has_more_warning
from .usage import Extraction, RowProblem, UsageCore

RESULTS = ("organization.usage.completions.result", "organization.usage.embeddings.result",
           "organization.usage.moderations.result")
GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier",
          "api_source")
PREFIX = "openai-usage"


def _flag(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    low = str(value).strip().lower()
    if low in ("true", "false"):
        return low
    raise RowProblem("batch", f"expected true or false, got {value!r}")


def _start(value: Any) -> tuple[str, str, str]:
    """A bucket start's parts of the event: the id's head, the timestamp, the key's."""
    start = moment(value, "start_time")
    head = f"{PREFIX}-{start.astimezone(datetime.UTC):%Y%m%dT%H%M}-"
    return head, start.isoformat(), str(int(start.timestamp()))


def page_warnings(path: Path, fields: dict[str, Any] | None = None) -> list[str]:
    """The has_more warning of a JSON page (``provider_costs.has_more_warning``), from
    its ``fields`` if the column-wise reading gave them; none for an export."""
    if fields is None:
        found = sample(path)
        if found is None or found.shape != "json":
            return []
        try:
            with open_bytes(path) as handle:
                fields = fp.page_fields(handle.read(), ("has_more", "next_page"))
        except (OSError, EOFError):
            return []
    return has_more_warning(fields, str(path))


class BucketPageImporter(ForeignUsageImporter):
    """A usage report of time buckets, a JSON page of which may say ``has_more``: read
    column-wise (``fastpath.bucket_feed``) when it can be, warned of a next page."""

    _page: dict[str, Any] | None = None  # the page's has_more and next_page, if read

    def run(self, path: Path, index: EventIndex | None = None) -> Extraction:
        self._page = None
        result = super().run(path, index)
        result.warnings += page_warnings(path, self._page)
        return result

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        self._page = None
        if self.fast:
            try:
                self._page = fp.bucket_feed(self, path, core, progress, foreign.BATCH)
                return
            except fp.Fallback:
                pass
        self.feed_records(path, core, progress)

    def _flush(self, core: UsageCore, lines: list[int], originals: list[Callable[[], str]],
               events: list[dict[str, Any]], problems: list[tuple[int, str, RowProblem]]
               ) -> None:
        fp.flush_classes(core, lines, originals, events, problems)


class Importer(BucketPageImporter):
    """OpenAI Usage API completions page (JSON) or dashboard usage export (CSV/TSV)."""

    format_name = "OpenAI usage (API page or dashboard export)"
    settings_name = "openai_usage"
    shapes = ("json", "csv")
    paths = (("data", "*", "results", "*"),)
    merge_context = True
    required = ("start_time", "input_tokens", "output_tokens", "num_model_requests")
    customer_keys = ("project_id", "api_key_id", "user_id")
    fast_fields = {"start_time": pa.int64(), "input_tokens": pa.int64(),
                   "input_cached_tokens": pa.int64(), "output_tokens": pa.int64(),
                   "num_model_requests": pa.int64(), "project_id": pa.string(),
                   "user_id": pa.string(), "api_key_id": pa.string(), "model": pa.string(),
                   "batch": pa.bool_(), "service_tier": pa.string(),
                   "api_source": pa.string()}
    bucket_start = ("start_time", pa.int64())

    def looks_like(self, record: Any) -> bool:
        if not super().looks_like(record):
            return False
        kind = record.get("object")
        return kind in RESULTS or (kind in (None, "") and "start_time_iso" in record)

    def bucket_columns(self, table: pa.Table, ok: list[pa.Array],
                       present: Callable[[str], bool]
                       ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        """``event`` column-wise (``fastpath.bucket_feed``)."""
        def column(name: str) -> pa.Array:
            found = fp.field(table, name)
            assert found is not None
            return found

        none = pc.and_(pc.and_(pc.is_null(column("input_tokens")),
                               pc.is_null(column("output_tokens"))),
                       pc.is_null(column("num_model_requests")))
        head, stamp, key = fp.per_value(column("start_time"), ok, _start, 3)
        batch = column("batch")
        flag = pc.if_else(pc.is_null(batch), "",
                          pc.if_else(pc.fill_null(batch, False), "true", "false"))
        groups = [flag if name == "batch" else pc.fill_null(column(name), "")
                  for name in GROUPS]
        tier = fp.tier_column(pc.fill_null(column("service_tier"), ""), ok)
        return {
            "event_id": pc.binary_join_element_wise(head, fp.key_digests([key, *groups]), ""),
            "timestamp": stamp,
            "customer": fp.customer_column(self, table, ok),
            "model": pc.fill_null(column("model"), ""),
            "input_tokens": fp.count_of(table, ok, "input_tokens"),
            "cached_input_tokens": fp.count_of(table, ok, "input_cached_tokens"),
            "output_tokens": fp.count_of(table, ok, "output_tokens"),
            "user": pc.fill_null(column("user_id"), ""),
            "service_tier": pc.if_else(pc.fill_null(batch, False), "batch", tier),
        }, none

    def event(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        if all(record.get(k) in (None, "") for k in ("input_tokens", "output_tokens",
                                                      "num_model_requests")):
            return None  # a day without usage (the export writes the time columns only)
        start = moment(record.get("start_time"), "start_time")
        groups = [text(record, name) if name != "batch" else _flag(record.get("batch"))
                  for name in GROUPS]
        event = {
            "event_id": derived_id(PREFIX, start, [int(start.timestamp()), *groups]),
            "timestamp": start.isoformat(),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": count(record, "input_tokens"),
            "cached_input_tokens": count(record, "input_cached_tokens"),
            "output_tokens": count(record, "output_tokens"),
            "user": str(dig(record, "user_id", "")),
        }
        batch = groups[GROUPS.index("batch")] == "true"
        event["service_tier"] = ("batch" if batch
                                 else fp.tier_name(groups[GROUPS.index("service_tier")]))
        return event
