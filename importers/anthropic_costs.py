"""Anthropic cost report (``GET /v1/organizations/cost_report``) -> provider bill lines.

One page of the Admin API's answer, saved as JSON: daily buckets (``starting_at`` RFC 3339,
UTC), each with results whose ``amount`` is a **decimal string in cents** (``"126.00000"``
is $1.26; divided by 100 exactly, every decimal kept) and ``currency`` ``"USD"``. The
group-by fields (``workspace_id``, ``description``, ``model``, ``service_tier``,
``context_window``, ``token_type``, ``cost_type``) are null unless the report was grouped
by them; null means "all", and the natural key says ``*``. Non-token costs (web search,
code execution) have no model: they are on the bill, and no usage entry explains them.

    {"data": [{"starting_at": "2025-11-01T00:00:00Z", "ending_at": "2025-11-02T00:00:00Z",
      "results": [{"currency": "USD", "amount": "126.00000", "model": "claude-sonnet-4-5-...",
                   "description": "Claude Sonnet 4.5 Usage - Input Tokens", ...}]}]}

    2025-11-01 custom "provider-bill" "anthropic" "Claude Sonnet 4.5 Usage - Input Tokens" 1.26 USD
      bill_key: "anthropic|2025-11-01|wrkspc_01|Claude Sonnet 4.5 Usage - Input Tokens|..."
      amount_cents: "126.00000"
      ...

How the lines become a bill set against attributed cost: ``tokenbooks.plugins.cogs``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tokenbooks.plugins.rules.bills import BillLine

from .provider_costs import ProviderCostImporter, ReportError, key_part, require, tidy

GROUP_FIELDS = ("workspace_id", "description", "model", "service_tier", "context_window",
                "token_type", "cost_type")


def _buckets(doc: Any) -> list | None:
    if isinstance(doc, dict) and isinstance(doc.get("data"), list) and "object" not in doc:
        return doc["data"]
    return None


class AnthropicCostsImporter(ProviderCostImporter):
    """The Anthropic cost report JSON (amounts in cents, as decimal strings)."""

    provider = "anthropic"

    def looks_like(self, doc: Any) -> bool:
        buckets = _buckets(doc)
        if buckets is None:
            return False
        if not all(isinstance(b, dict) and "starting_at" in b for b in buckets):
            return False
        results = [r for b in buckets for r in b.get("results") or [] if isinstance(r, dict)]
        return bool(results) and all("amount" in r and "currency" in r
                                     and "uncached_input_tokens" not in r for r in results)

    def lines(self, doc: Any, filepath: str) -> list[tuple[BillLine, dict[str, object]]]:
        buckets = _buckets(doc)
        if buckets is None:
            raise ReportError(f"{filepath}: expected an Anthropic cost report "
                              f'{{"data": [...], "has_more": ...}}')
        out = []
        for i, bucket in enumerate(buckets):
            path = f"data[{i}]"
            start = require(bucket, "starting_at", path, filepath)
            day = self._day(start, f"{path}.starting_at", filepath)
            for j, result in enumerate(bucket.get("results") or []):
                out.append(self._line(result, day, f"{path}.results[{j}]", filepath))
        return out

    @staticmethod
    def _day(value: Any, path: str, filepath: str) -> datetime.date:
        try:
            moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ReportError(f"{filepath}: {path}: expected an RFC 3339 time with offset, "
                              f"got {value!r}")
        return moment.astimezone(datetime.UTC).date()

    def _line(self, result: Any, day: datetime.date, path: str, filepath: str
              ) -> tuple[BillLine, dict[str, object]]:
        cents = require(result, "amount", path, filepath)
        currency = require(result, "currency", path, filepath)
        if not isinstance(cents, str):
            raise ReportError(f"{filepath}: {path}.amount: expected a decimal string in cents "
                              f"such as \"123.45\", got {cents!r}")
        try:
            amount = Decimal(cents).scaleb(-2)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            raise ReportError(f"{filepath}: {path}.amount: expected a decimal string in cents "
                              f"such as \"123.45\", got {cents!r}")
        if not isinstance(currency, str) or len(currency) != 3:
            raise ReportError(f"{filepath}: {path}.currency: expected an ISO 4217 code such "
                              f"as 'USD', got {currency!r}")
        groups = {name: result.get(name) for name in GROUP_FIELDS}
        key = "|".join((self.provider, day.isoformat(),
                        *(key_part(groups[name]) for name in GROUP_FIELDS)))
        meta: dict[str, object] = {"amount_cents": cents}
        meta.update({name: str(value) for name, value in groups.items() if value is not None})
        label = groups["description"] or groups["cost_type"] or "all costs"
        line = BillLine(provider=self.provider, day=day, amount=tidy(amount),
                        currency=currency.upper(), key=key, label=str(label))
        return line, meta


Importer = AnthropicCostsImporter
