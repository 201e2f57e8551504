"""OpenRouter activity (``GET /api/v1/activity``) -> provider bill lines of ``openrouter``.

The activity is what OpenRouter charged the company, per completed UTC day, model and
endpoint; it names no customer, so it is a provider cost, not customer usage (the
per-generation stats, with ``external_user``, are: ``openrouter``):

    {"data": [{"date": "2025-11-01", "model": "openai/gpt-5-mini",
      "model_permaslug": "openai/gpt-5-mini-2025-08-07", "endpoint_id": "3f2b6c1e-...",
      "provider_name": "OpenAI", "usage": 0.1534, "byok_usage_inference": 0, "requests": 212,
      "prompt_tokens": 182400, "completion_tokens": 41250, "reasoning_tokens": 18800}]}

    2025-11-01 custom "provider-bill" "openrouter" "openai/gpt-5-mini-2025-08-07" 0.1534 USD
      bill_key: "openrouter|2025-11-01|openai/gpt-5-mini-2025-08-07|3f2b6c1e-..."

One line per item: ``usage`` (USD of OpenRouter credits, read as Decimal from the JSON
text) on ``date`` (``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM:SS``). The natural key is the
day, ``model_permaslug`` (else ``model``) and ``endpoint_id``. BYOK inference
(``byok_usage_inference``) is paid to the provider of the key, not to OpenRouter: it is
kept in metadata, not on this bill. The book needs a cost table
``contracts/costs/openrouter.yaml`` for the provider's accounts.

    importer = Importer()
    entries = importer.extract("openrouter-activity-2025-11.json", existing=[])
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from tokenbooks.plugins.rules.bills import BillLine

from .provider_costs import ProviderCostImporter, ReportError, require, tidy

FIELDS = ("date", "model", "endpoint_id", "usage", "requests")


def _items(doc: Any) -> list | None:
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return doc["data"]
    return None


class OpenRouterActivityImporter(ProviderCostImporter):
    """OpenRouter ``/activity`` JSON (USD as numbers) -> provider bill lines."""

    provider = "openrouter"
    format_name = "OpenRouter activity"
    required = FIELDS

    def looks_like(self, doc: Any) -> bool:
        items = _items(doc) or []
        return bool(items) and all(isinstance(i, dict) and all(f in i for f in FIELDS)
                                   for i in items)

    def lines(self, doc: Any, filepath: str) -> list[tuple[BillLine, dict[str, object]]]:
        items = _items(doc)
        if items is None:
            raise ReportError(f"{filepath}: expected an OpenRouter activity answer "
                              f'{{"data": [...]}}')
        out = []
        for i, item in enumerate(items):
            path = f"data[{i}]"
            day = self._day(require(item, "date", path, filepath), f"{path}.date", filepath)
            value = require(item, "usage", path, filepath)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ReportError(f"{filepath}: {path}.usage: expected a number of USD, got "
                                  f"{value!r}")
            model = item.get("model_permaslug") or require(item, "model", path, filepath)
            endpoint = require(item, "endpoint_id", path, filepath)
            key = "|".join((self.provider, day.isoformat(), str(model), str(endpoint)))
            meta: dict[str, object] = {"model": str(item.get("model") or model),
                                       "endpoint_id": str(endpoint)}
            for name in ("provider_name", "requests", "prompt_tokens", "completion_tokens",
                         "reasoning_tokens", "byok_usage_inference"):
                if item.get(name) is not None:
                    meta[name] = str(item[name])
            out.append((BillLine(provider=self.provider, day=day, amount=tidy(value),
                                 currency="USD", key=key, label=str(model)), meta))
        return out

    @staticmethod
    def _day(value: Any, path: str, filepath: str) -> datetime.date:
        try:
            return datetime.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise ReportError(f"{filepath}: {path}: expected a day YYYY-MM-DD, got "
                              f"{value!r}") from None


Importer = OpenRouterActivityImporter
