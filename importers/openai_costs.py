"""OpenAI organization costs API (``GET /v1/organization/costs``) -> provider bill lines.

One page of the API's answer, saved as JSON: daily buckets (``start_time`` in Unix
seconds, UTC), each with ``organization.costs.result`` items whose ``amount.value`` is a
number **in dollars** (read as Decimal from the JSON text, never as a float) and
``amount.currency`` a lowercase code. ``line_item`` and ``project_id`` are null unless the
report was grouped by them; null means "all", and the natural key says ``*``.

    {"object": "page", "data": [{"object": "bucket", "start_time": 1761955200,
      "results": [{"object": "organization.costs.result",
                   "amount": {"value": 0.0825, "currency": "usd"},
                   "line_item": "gpt-5-mini-2025-08-07, output", "project_id": "proj_7Q"}]}]}

    2025-11-01 custom "provider-bill" "openai" "gpt-5-mini-2025-08-07, output" 0.0825 USD
      bill_key: "openai|2025-11-01|proj_7Q|gpt-5-mini-2025-08-07, output"
      project_id: "proj_7Q"
      line_item: "gpt-5-mini-2025-08-07, output"
      source: "openai_costs.json"
      sha256: "..."

How the lines become a bill set against attributed cost: ``tokenbooks.plugins.cogs``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from tokenbooks.plugins.rules.bills import BillLine

from .provider_costs import ProviderCostImporter, ReportError, key_part, require, tidy

RESULT = "organization.costs.result"


def _buckets(doc: Any) -> list | None:
    if isinstance(doc, dict) and doc.get("object") == "page" and isinstance(doc.get("data"), list):
        return doc["data"]
    return None


class OpenAICostsImporter(ProviderCostImporter):
    """The OpenAI organization costs API JSON (amounts in dollars, as numbers)."""

    provider = "openai"

    def looks_like(self, doc: Any) -> bool:
        buckets = _buckets(doc)
        if buckets is None:
            return False
        results = [r for b in buckets if isinstance(b, dict)
                   for r in b.get("results") or [] if isinstance(r, dict)]
        return bool(results) and all(r.get("object") == RESULT for r in results)

    def lines(self, doc: Any, filepath: str) -> list[tuple[BillLine, dict[str, object]]]:
        buckets = _buckets(doc)
        if buckets is None:
            raise ReportError(f"{filepath}: expected an OpenAI costs page "
                              f'{{"object": "page", "data": [...]}}')
        out = []
        for i, bucket in enumerate(buckets):
            path = f"data[{i}]"
            start = require(bucket, "start_time", path, filepath)
            if not isinstance(start, Decimal) or start != int(start):
                raise ReportError(f"{filepath}: {path}.start_time: expected Unix seconds, "
                                  f"got {start!r}")
            day = datetime.datetime.fromtimestamp(int(start), datetime.UTC).date()
            for j, result in enumerate(bucket.get("results") or []):
                out.append(self._line(result, day, f"{path}.results[{j}]", filepath))
        return out

    def _line(self, result: Any, day: datetime.date, path: str, filepath: str
              ) -> tuple[BillLine, dict[str, object]]:
        amount = require(result, "amount", path, filepath)
        value = require(amount, "value", f"{path}.amount", filepath)
        currency = require(amount, "currency", f"{path}.amount", filepath)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ReportError(f"{filepath}: {path}.amount.value: expected a number in dollars, "
                              f"got {value!r}")
        if not isinstance(currency, str) or len(currency) != 3:
            raise ReportError(f"{filepath}: {path}.amount.currency: expected an ISO 4217 "
                              f"code such as 'usd', got {currency!r}")
        line_item, project = result.get("line_item"), result.get("project_id")
        key = "|".join((self.provider, day.isoformat(), key_part(project), key_part(line_item)))
        meta: dict[str, object] = {}
        if project is not None:
            meta["project_id"] = str(project)
        if line_item is not None:
            meta["line_item"] = str(line_item)
        line = BillLine(provider=self.provider, day=day, amount=tidy(value),
                        currency=currency.upper(), key=key,
                        label=str(line_item) if line_item is not None else "all line items")
        return line, meta


Importer = OpenAICostsImporter
