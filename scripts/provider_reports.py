"""Synthetic provider cost reports for the sample book: what OpenAI and Anthropic would bill.

    python -m tokenbooks.scripts.provider_reports --sources build/sample-sources \\
        --contracts contracts

Reads the canonical usage events (``usage-*.jsonl``) of a sources folder, prices them with
the cost tables of ``contracts/costs/`` as the provider would (per day, model and token
type), adds the costs no usage event explains (OpenAI: embeddings, 12% of the day's
cost; Anthropic: web search, 8%) and writes one report per provider and month beside the
events, in the providers' own formats and units:

    openai-costs-2026-01.json            OpenAI costs API page: dollars as JSON numbers
    anthropic-cost-report-2026-01.json   Anthropic cost report: cents as decimal strings

``tokenbooks import`` books them as provider bills; the cogs plugin sets each bill against
the attributed cost, and the hidden costs show as ``Expenses:COGS:Unattributed:<P>``.
Same events, same reports, byte for byte.
"""

from __future__ import annotations

import calendar
import datetime
import json
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import click

from tokenbooks.plugins.rules.cogs import resolve_model
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ContractSet

HIDDEN = {"openai": ("text-embedding-3-small, input", Decimal("0.12")),
          "anthropic": ("Web Search", Decimal("0.08"))}
TOKEN_TYPES = (("input", "uncached_input_tokens", "Input Tokens"),
               ("cached input", "cache_read_input_tokens", "Cache Read"),
               ("output", "output_tokens", "Output Tokens"))
MICRO = Decimal("0.000001")
_NUMBER = "@number@"


def _day(timestamp: object) -> datetime.date:
    if isinstance(timestamp, (int, float)):
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).date()
    moment = datetime.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    return moment.astimezone(datetime.UTC).date()


def provider_costs(events_files: list[Path], contracts: ContractSet
                   ) -> dict[str, dict[datetime.date, dict[tuple[str, str], Decimal]]]:
    """provider -> day -> (model, token type) -> exact cost, from canonical events."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(Decimal)))
    for path in events_files:
        with path.open(encoding="utf-8") as handle:
            for text in handle:
                event = json.loads(text, parse_float=Decimal)
                model = event.get("model")
                if not model:
                    continue
                day = _day(event["timestamp"])
                found = resolve_model(contracts.costs, model, day)
                if found is None:
                    continue  # the importer quarantines or the plugin reports it
                provider, name, table = found
                rates = table.rates_on(name, day)
                if rates is None:  # resolve_model found the table by its rates on the day
                    continue
                tokens = int(event.get("input_tokens") or 0)
                cached = int(event.get("cached_input_tokens") or 0)
                costs = out[provider][day]
                per = Decimal(table.per)
                costs[(name, "input")] += (tokens - cached) * rates.input / per
                costs[(name, "cached input")] += cached * rates.cached_input / per
                costs[(name, "output")] += (int(event.get("output_tokens") or 0)
                                            * rates.output / per)
    return out


def _lines(costs: dict[tuple[str, str], Decimal], provider: str) -> list[tuple[str, str, Decimal]]:
    """(model, token type, dollars to the micro-dollar) of a day, hidden costs last."""
    lines = [(model, kind, amount.quantize(MICRO, ROUND_HALF_UP))
             for (model, kind), amount in sorted(costs.items()) if amount]
    label, share = HIDDEN[provider]
    hidden = (sum(costs.values(), Decimal(0)) * share).quantize(MICRO, ROUND_HALF_UP)
    return lines + [("", label, hidden)]


def _unix(day: datetime.date) -> int:
    return calendar.timegm(day.timetuple())


def openai_page(days: dict[datetime.date, dict]) -> dict:
    data = []
    for day in sorted(days):
        results = [{"object": "organization.costs.result",
                    "amount": {"value": _NUMBER + format(amount, "f"), "currency": "usd"},
                    "line_item": f"{model}, {kind}" if model else kind,
                    "project_id": "proj_sample"}
                   for model, kind, amount in _lines(days[day], "openai")]
        data.append({"object": "bucket", "start_time": _unix(day),
                     "end_time": _unix(day + datetime.timedelta(days=1)), "results": results})
    return {"object": "page", "data": data, "has_more": False, "next_page": None}


def anthropic_report(days: dict[datetime.date, dict]) -> dict:
    kinds = {kind: (token_type, title) for kind, token_type, title in TOKEN_TYPES}
    data = []
    for day in sorted(days):
        results = []
        for model, kind, amount in _lines(days[day], "anthropic"):
            cents = format((amount * 100).quantize(Decimal("0.00001")), "f")
            token_type, title = kinds.get(kind, (None, None))
            results.append({
                "currency": "USD", "amount": cents, "workspace_id": "wrkspc_sample",
                "description": f"{model} Usage - {title}" if model else kind,
                "cost_type": "tokens" if model else "web_search",
                "context_window": "0-200k" if model else None,
                "model": model or None, "service_tier": "standard" if model else None,
                "token_type": token_type})
        data.append({"starting_at": f"{day.isoformat()}T00:00:00Z",
                     "ending_at": f"{(day + datetime.timedelta(days=1)).isoformat()}T00:00:00Z",
                     "results": results})
    return {"data": data, "has_more": False, "next_page": None}


def _dump(doc: dict) -> str:
    """JSON with the OpenAI amounts as bare numbers, written from their decimal text."""
    return re.sub(f'"{_NUMBER}(-?[0-9.]+)"', r"\1", json.dumps(doc, indent=2)) + "\n"


def write_reports(sources: Path, contracts_dir: Path) -> list[Path]:
    contracts, errors = load_contracts(contracts_dir)
    if errors:
        raise click.ClickException("; ".join(str(e) for e in errors))
    by_provider = provider_costs(sorted(sources.glob("usage-*.jsonl")), contracts)
    written = []
    for provider, days in sorted(by_provider.items()):
        months: dict[str, dict] = defaultdict(dict)
        for day, costs in days.items():
            months[f"{day:%Y-%m}"][day] = costs
        for month, month_days in sorted(months.items()):
            if provider == "openai":
                path, doc = sources / f"openai-costs-{month}.json", openai_page(month_days)
            elif provider == "anthropic":
                path, doc = (sources / f"anthropic-cost-report-{month}.json",
                             anthropic_report(month_days))
            else:
                continue
            path.write_text(_dump(doc), encoding="utf-8")
            written.append(path)
    return written


@click.command()
@click.option("--sources", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder with usage-*.jsonl; the reports are written there.")
@click.option("--contracts", "contracts_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("contracts"), show_default=True)
def main(sources: Path, contracts_dir: Path) -> None:
    """Write OpenAI and Anthropic cost reports for the usage events of SOURCES."""
    for path in write_reports(sources, contracts_dir):
        click.echo(path)


if __name__ == "__main__":
    main()
