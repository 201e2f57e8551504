"""OpenRouter generations: ``GET /api/v1/generation?id=...`` answers, one or many.

Records are generation stats objects: the API's ``{"data": {...}}`` (one generation), a
``{"data": [...]}`` list, a JSON array or JSON Lines of either:

    {"data": {"id": "gen-1761990843-kQ3w", "created_at": "2025-11-01T09:14:03.512Z",
      "model": "openai/gpt-5-mini", "external_user": "cust_00017", "total_cost": 0.0007221,
      "native_tokens_prompt": 1210, "native_tokens_cached": 1024,
      "native_tokens_completion": 325, "native_tokens_reasoning": 192}}

Mapping: ``id`` is the event id, ``created_at`` the timestamp, the model ``model`` as
logged (``openai/gpt-5-mini``; the model resolver maps it to the price book), the
customer ``external_user`` (the ``user`` of the request; renamed by ``customers``).
Tokens are the provider-native counts OpenRouter bills by (``native_tokens_prompt``,
which includes the cached ones, ``native_tokens_cached``, ``native_tokens_completion``,
which includes reasoning), else the normalized ``tokens_prompt`` /
``tokens_completion``; ``service_tier`` (newer answers) is the service tier as logged.
A ``cancelled`` generation is still billed by OpenRouter for what it generated, so it
is billed here too. OpenRouter reports no cache writes, and ``num_search_results`` is
the web plugin's results (priced per result, not per call): neither is imported.

OpenRouter's ``/activity`` (per day, model and endpoint, no customer) is what the company
pays OpenRouter: a provider cost, imported by ``openrouter_activity``.

    importer = Importer("contracts/", customers={"cust_00017": "acme"})
    entries = importer.extract("generation.json", existing=[])
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import fastpath as fp
from .base import Progress
from .foreign import ForeignUsageImporter, count, dig, has, text, utc_stamp
from .usage import UsageCore


class Importer(ForeignUsageImporter):
    """OpenRouter generation stats (one, a list, or JSON Lines)."""

    format_name = "OpenRouter generations"
    settings_name = "openrouter"
    # a list of answers under data before the one answer (scan takes the first path
    # that gives a value: data of {"data": [...]} is the list itself)
    paths = (("data", "*"), ("data",), ("*", "data"), ("*",))
    required = ("id", "created_at", "model", "total_cost", "native_tokens_prompt")
    customer_keys = ("external_user", "user")

    def looks_like(self, record: Any) -> bool:
        if isinstance(record, Mapping) and isinstance(record.get("data"), Mapping):
            record = record["data"]  # JSON Lines of whole API answers
        return (isinstance(record, Mapping)
                and all(has(record, f) for f in self.required[:4])
                and (has(record, "native_tokens_prompt") or has(record, "tokens_prompt")))

    fast_fields = {"id": pa.string(), "created_at": pa.string(),
                   "model": pa.string(), "native_tokens_prompt": pa.int64(),
                   "tokens_prompt": pa.int64(), "native_tokens_completion": pa.int64(),
                   "tokens_completion": pa.int64(), "native_tokens_cached": pa.int64(),
                   "external_user": pa.string(), "service_tier": pa.string()}

    def fast_paths(self) -> dict[str, pa.DataType]:
        own = super().fast_paths()  # and the same inside a whole answer's data
        return {**own, **{f"data.{path}": kind for path, kind in own.items()}}

    def fast_columns(self, table: pa.Table, ok: list[pa.Array]
                     ) -> tuple[dict[str, pa.Array], pa.Array | None]:
        data = fp.column_at(table, "data")
        if data is not None:  # whole API answers (JSON Lines of them): their data
            wrapped = pc.is_valid(data)
            if pc.any(wrapped).as_py():
                table = pa.table({name: pc.if_else(wrapped, fp.column_at(table, f"data.{name}"),
                                                   table.column(name).combine_chunks())
                                  for name in table.column_names if name != "data"})
        native = fp.column_at(table, "native_tokens_prompt")
        completion = fp.column_at(table, "native_tokens_completion")
        assert native is not None and completion is not None
        return {
            "event_id": fp.texts_of(table, "id"),
            "timestamp": fp.stamps_of(table, ok, "created_at"),
            "customer": fp.customer_column(self, table, ok),
            "model": fp.texts_of(table, "model"),
            "input_tokens": pc.if_else(pc.is_valid(native),
                                       fp.counts_of(table, ok, "native_tokens_prompt"),
                                       fp.counts_of(table, ok, "tokens_prompt")),
            "cached_input_tokens": pc.if_else(pc.is_valid(native),
                                              fp.counts_of(table, ok, "native_tokens_cached"),
                                              0),
            "output_tokens": pc.if_else(pc.is_valid(completion),
                                        fp.counts_of(table, ok, "native_tokens_completion"),
                                        fp.counts_of(table, ok, "tokens_completion")),
            "user": fp.texts_of(table, "external_user"),
            "service_tier": fp.texts_of(table, "service_tier"),
        }, None

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        fp.gateway_read(self, path, core, progress)

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(record.get("data"), Mapping):
            record = record["data"]
        native = dig(record, "native_tokens_prompt") is not None
        prompt = "native_tokens_prompt" if native else "tokens_prompt"
        completion = ("native_tokens_completion"
                      if dig(record, "native_tokens_completion") is not None
                      else "tokens_completion")
        return {
            "event_id": text(record, "id"),
            "timestamp": utc_stamp(record.get("created_at"), "created_at"),
            "customer": self.customer(record),
            "model": text(record, "model"),
            "input_tokens": count(record, prompt),
            "cached_input_tokens": count(record, "native_tokens_cached") if native else 0,
            "output_tokens": count(record, completion),
            "user": text(record, "external_user"),
            "service_tier": text(record, "service_tier"),
        }
