"""LiteLLM proxy spend logs: a CSV export of the ``LiteLLM_SpendLogs`` table.

    request_id,call_type,...,prompt_tokens,completion_tokens,startTime,...,model,...
    chatcmpl-9f3b...,acompletion,...,1210,325,2025-11-01 09:14:03.512,...,gpt-5-mini,...

Each request becomes a canonical event: ``request_id`` is the event id, ``startTime``
(UTC, as LiteLLM stores it) the timestamp, the customer is ``end_user`` or else
``team_id`` (optionally renamed by ``customers``), the model is ``model_group`` (the
public name) or else ``model``, the feature the first of ``request_tags``. Input tokens
are ``prompt_tokens`` with their cached part read from the ``metadata`` JSON
(``additional_usage_values`` / ``usage_object``: ``prompt_tokens_details.cached_tokens``
or ``cache_read_input_tokens``), output tokens ``completion_tokens``. A request whose
``status`` is not ``success`` is counted (``unbilled_events``) but its tokens are not
billed. Values with line breaks inside quotes are fine (Python's csv module reads it);
a column named twice in the header refuses the file (``UnreadableSource``).

    importer = Importer("contracts/", customers={"team-acme-support": "acme"})
    entries = importer.extract("spendlogs.csv", existing=[])
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import ContractSet, Customer

from .base import Progress, UsageImporter, per_user_limits
from .index import EventIndex
from .usage import RowProblem, UsageCore, unique_columns

COLUMNS = ("request_id", "startTime", "prompt_tokens", "completion_tokens")
BATCH = 10_000
_NO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$")


def _header(head: str) -> list[str]:
    return next(csv.reader([head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")]), [])


def cached_tokens(metadata: Mapping[str, Any]) -> Any:
    """The cached input tokens recorded in a spend log's metadata, or None."""
    for key in ("additional_usage_values", "usage_object"):
        usage = metadata.get(key)
        if not isinstance(usage, dict):
            continue
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and details.get("cached_tokens") is not None:
            return details["cached_tokens"]
        if usage.get("cache_read_input_tokens") is not None:
            return usage["cache_read_input_tokens"]
    return None


def lines_of(handle: Any) -> tuple[Iterator[str], list[str]]:
    """An iterator over the lines of ``handle`` that also records them (for the text of
    a row that spans lines)."""
    consumed: list[str] = []

    def iterate() -> Iterator[str]:
        for line in handle:
            consumed.append(line)
            yield line

    return iterate(), consumed


class Importer(UsageImporter):
    """LiteLLM ``LiteLLM_SpendLogs`` CSV export."""

    suffixes = (".csv",)
    format_name = "LiteLLM spend logs"

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 per_user: Callable[[Customer], bool] = per_user_limits,
                 index: EventIndex | None = None, account: str = accounts.REVENUE_USAGE,
                 customers: Mapping[str, str] | None = None) -> None:
        super().__init__(contracts, per_user, index, account)
        self.customers = dict(customers or {})

    def sniff(self, head: str) -> bool:
        return set(COLUMNS) <= set(_header(head))

    def event(self, row: Mapping[str, str]) -> dict[str, Any]:
        """The canonical event of one spend-log row (raises RowProblem)."""
        raw = row.get("metadata") or ""
        metadata: Any = {}
        if raw.strip():
            try:
                metadata = json.loads(raw)
            except ValueError as exc:
                raise RowProblem("metadata", f"expected JSON, got malformed JSON ({exc})"
                                 ) from exc
        tags: Any = []
        if (row.get("request_tags") or "").strip():
            try:
                tags = json.loads(row["request_tags"])
            except ValueError as exc:
                raise RowProblem("request_tags", f"expected a JSON list ({exc})") from exc
        stamp = (row.get("startTime") or "").strip()
        if _NO_OFFSET.match(stamp):
            stamp += "Z"  # LiteLLM stores UTC without an offset
        who = (row.get("end_user") or "").strip() or (row.get("team_id") or "").strip()
        status = (row.get("status") or "").strip().lower()
        return {
            "event_id": row.get("request_id"), "timestamp": stamp,
            "customer": self.customers.get(who, who),
            "model": (row.get("model_group") or "").strip() or row.get("model"),
            "feature": str(tags[0]) if isinstance(tags, list) and tags else "",
            "input_tokens": row.get("prompt_tokens"),
            "cached_input_tokens": cached_tokens(metadata) if isinstance(metadata, dict)
            else None,
            "output_tokens": row.get("completion_tokens"),
            "user": row.get("user") or "",
            "unbilled": status not in ("", "success"),
        }

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            lines, consumed = lines_of(handle)
            reader = csv.reader(lines)
            try:
                names = next(reader)
            except (StopIteration, csv.Error, UnicodeDecodeError):
                return
            unique_columns(names, path)
            consumed.clear()
            batch: list = []
            line = 2
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    batch.append((line, "".join(consumed).rstrip("\r\n"),
                                  RowProblem("(line)", f"malformed CSV: {exc}")))
                    line += len(consumed)
                    consumed.clear()
                    continue
                text = "".join(consumed).rstrip("\r\n")
                progress.update(sum(len(part) for part in consumed))
                if not values:
                    line += len(consumed)
                    consumed.clear()
                    continue
                if len(values) != len(names):
                    item: Any = RowProblem("(line)", f"expected {len(names)} fields, got "
                                                     f"{len(values)}")
                else:
                    try:
                        item = self.event(dict(zip(names, values, strict=True)))
                    except RowProblem as problem:
                        item = problem
                batch.append((line, text, item))
                line += len(consumed)
                consumed.clear()
                if len(batch) >= BATCH:
                    core.feed_rows(batch)
                    batch = []
            core.feed_rows(batch)
