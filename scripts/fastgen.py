"""A vectorized generator of canonical usage events, for benchmarks at the sizes users
have (issue 18: at least 500,000 events a second, written).

    python -m tokenbooks.scripts.fastgen --out build/10m --customers 200 --months 12 \\
        --scale 6          # contracts/ and sources/usage-2026-MM.jsonl, ~12M events
    python -m tokenbooks.scripts.fastgen --out build/co --customers 1000 --company
                           # also purchases.csv and the providers' cost reports

The company is ``generate company``'s (the same contracts and usage profiles, from the
same seed); the events are drawn with numpy instead of one ``random`` call per field, so
their values differ from ``generate company``'s, but have the same shape: per customer
and day ``events_per_day x (1 + growth x progress) x U(0.7, 1.3)`` events (times
``--scale``), exponential token counts around the profile's means, cached input up to
twice the profile's share, models and features by the profile's weights.

Fast because nothing is sorted but small keys: a day's events are drawn already in time
order (one sort of ``second x customers + customer rank`` per day, the day's ids
numbered in that order), then each event's fields are drawn in that order from its
customer's profile. A day's JSON lines are one pyarrow join of lookups (the id's prefix
per customer and day, the clock per second, the customer/model/feature text per
combination, numbers by cast), written as one buffer while the next day is drawn.
Each month's file is in timestamp, then id order; same seed, same bytes.
"""

from __future__ import annotations

import datetime
import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .generate import Profile, _months, write_company_contracts, write_purchases

# second of the day -> 'HH:MM:SSZ","customer":"' (what follows the date in a line)
_CLOCK = pa.array([f'{h:02d}:{m:02d}:{s:02d}Z","customer":"' for h in range(24)
                   for m in range(60) for s in range(60)])


@dataclass
class Day:
    """One day's events, in file order: column arrays, one value per event."""

    date: datetime.date
    customer: np.ndarray  # index into the profiles
    second: np.ndarray  # of the day, UTC
    index: np.ndarray  # the event's number in its customer's day, from 1
    model: np.ndarray  # index into Tables.models
    feature: np.ndarray  # index into Tables.features
    inputs: np.ndarray
    cached: np.ndarray
    outputs: np.ndarray


class Tables:
    """The per-company lookups: profile parameters as arrays, weights as tables."""

    def __init__(self, profiles: list[Profile]) -> None:
        self.names = [p.customer for p in profiles]
        self.models = sorted({m for p in profiles for m in p.models})
        self.features = sorted({f for p in profiles for f in p.features})
        self.quoted = [_quoted(name) for name in self.names]  # as JSON string contents
        self.per_day = np.array([p.events_per_day for p in profiles], float)
        self.growth = np.array([p.growth for p in profiles], float)
        self.input_mean = np.array([p.input_tokens for p in profiles], float)
        self.output_mean = np.array([p.output_tokens for p in profiles], float)
        self.cached_share = np.array([p.cached_share for p in profiles], float)
        self.model_pick = _picker([p.models for p in profiles], self.models)
        self.feature_pick = _picker([p.features for p in profiles], self.features)
        self.lines: dict[str, Any] = {}


def _quoted(text: str) -> str:
    """``text`` as the inside of a JSON string (quotes, controls and non-ASCII escaped)."""
    return json.dumps(text)[1:-1]


def _picker(weights: list[dict[str, int]], names: list[str]) -> tuple[np.ndarray, ...]:
    """(offset, total, table) per customer: ``table[offset + r]`` for ``r`` uniform in
    ``[0, total)`` is a name index drawn by the integer weights."""
    offsets: list[int] = []
    totals: list[int] = []
    table: list[int] = []
    for chosen in weights:
        offsets.append(len(table))
        totals.append(sum(chosen.values()))
        for name in sorted(chosen):
            table += [names.index(name)] * chosen[name]
    return (np.array(offsets, np.int64), np.array(totals, np.int64),
            np.array(table, np.int64))


def _pick(rng: np.random.Generator, picker: tuple[np.ndarray, ...], customer: np.ndarray
          ) -> np.ndarray:
    offsets, totals, table = picker
    result: np.ndarray = table[offsets[customer] + rng.integers(0, totals[customer])]
    return result


def month_days(tables: Tables, first: datetime.date, last: datetime.date, seed: int,
               total_days: int, offset: int, scale: float = 1.0) -> Iterator[Day]:
    """The days of one month, drawn from the month's own seed (months are independent)."""
    rng = np.random.default_rng([seed, first.year, first.month])
    days = (last - first).days + 1
    progress = (offset + np.arange(days)) / max(total_days - 1, 1)
    counts = np.maximum(0, np.rint(
        (tables.per_day * scale)[:, None] * (1 + tables.growth[:, None] * progress[None, :])
        * rng.uniform(0.7, 1.3, (len(tables.names), days)))).astype(np.int64)
    width = max(len(tables.names), 1)
    for d in range(days):
        date = first + datetime.timedelta(days=d)
        # the customers in the order of their ids' prefix: the order within one second
        stamp = f"-{date:%Y%m%d}-"
        ranked = np.array(sorted(range(len(tables.names)),
                                 key=lambda i: tables.names[i] + stamp), np.int64)
        by_rank = counts[ranked, d]
        n = int(by_rank.sum())
        # one sorted key per event: second of the day, then the customer's id rank
        key = rng.integers(0, 86400, n) * width + np.repeat(np.arange(width), by_rank)
        key.sort()
        second, rank = np.divmod(key, width)
        customer = ranked[rank]
        # number each customer's events in time order: a stable sort by customer
        order = np.argsort(rank.astype(np.int16 if width < 2 ** 15 else np.int64),
                           kind="stable")
        starts = np.cumsum(by_rank) - by_rank
        index = np.empty(n, np.int64)
        index[order] = np.arange(n) - np.repeat(starts, by_rank) + 1
        inputs = np.maximum(1, (rng.standard_exponential(n) * tables.input_mean[customer])
                            .astype(np.int64))
        cached = np.minimum(inputs, (inputs * tables.cached_share[customer] * 2
                                     * rng.random(n)).astype(np.int64))
        outputs = (rng.standard_exponential(n) * tables.output_mean[customer]).astype(np.int64)
        yield Day(date, customer, second, index,
                  _pick(rng, tables.model_pick, customer),
                  _pick(rng, tables.feature_pick, customer), inputs, cached, outputs)


def _lookup(tables: Tables, key: str, size: int, make: Any) -> pa.Array:
    """A text table, made once and grown when a larger one is asked for."""
    found = tables.lines.get(key)
    if found is None or len(found) < size:
        found = tables.lines[key] = make(max(size, 2 * len(found) if found else size))
    result: pa.Array = found
    return result


def day_lines(tables: Tables, day: Day) -> pa.Array:
    """The day's JSON lines (one string per event, its newline included)."""
    n_models, n_features = len(tables.models), len(tables.features)
    if not len(day.customer):
        return pa.array([], pa.string())
    # '{"event_id":"cust0001-20260101-' per customer, for this day
    head = pa.array([f'{{"event_id":"{name}-{day.date:%Y%m%d}-' for name in tables.quoted])
    numbers = _lookup(tables, "index", int(day.index.max()) + 1, lambda size: pc.utf8_lpad(
        pc.cast(pa.array(np.arange(size)), pa.string()), 6, "0"))
    # 'cust0001","model":"gpt-4o","feature":"chat","input_tokens":' per combination
    combos = _lookup(tables, "combo", 1, lambda size: pa.array([
        f'{name}","model":"{_quoted(model)}","feature":"{_quoted(feature)}",'
        '"input_tokens":'
        for name in tables.quoted for model in tables.models for feature in tables.features]))
    combo = (day.customer * n_models + day.model) * n_features + day.feature

    def take(values: pa.Array, index: np.ndarray) -> pa.Array:
        return values.take(pa.array(index.astype(np.int32)))

    def text(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    return pc.binary_join_element_wise(
        take(head, day.customer), take(numbers, day.index),
        f'","timestamp":"{day.date:%Y-%m-%d}T', take(_CLOCK, day.second), take(combos, combo),
        text(day.inputs), ',"cached_input_tokens":', text(day.cached), ',"output_tokens":',
        text(day.outputs), "}\n", "")


def line_bytes(lines: pa.Array) -> memoryview:
    """The lines (each with its newline) as one buffer: the array's values."""
    if not len(lines):
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], np.int32)
    begin, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[begin:end]


def write_lines(path: Path, lines: pa.Array) -> int:
    """``lines`` (each with its newline) as one file."""
    array = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    with path.open("wb") as out:
        out.write(line_bytes(array))
    return len(array)


class Writer:
    """Writes files from buffers in a thread of its own (a write releases the GIL), so
    that the next day is drawn while this one is written. ``write(path, data)`` appends
    to ``path``'s file, a temporary one beside it (``.<name>.tmp``) renamed over
    ``path`` when the writer moves to another file or closes: a killed run leaves
    whole files and temporary ones, which the next run replaces. Not fsync'ed: these are
    benchmark inputs, not books. ``close`` waits, and raises what the thread raised
    (then no temporary file is left)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Path, Any] | None] = queue.Queue(maxsize=4)
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def temporary(path: Path) -> Path:
        return path.with_name(f".{path.name}.tmp")

    def _run(self) -> None:
        path: Path | None = None
        handle: Any = None
        ended = False
        try:
            while (item := self._queue.get()) is not None:
                if item[0] != path:
                    self._land(path, handle)
                    path, handle = item[0], None
                    handle = self.temporary(path).open("wb")
                if item[1] is not None:
                    handle.write(item[1])
            ended = True
            self._land(path, handle)
        except BaseException as error:  # noqa: BLE001 - raised again by close()
            self._failed = self._failed or error
            if handle is not None and path is not None:
                handle.close()
                self.temporary(path).unlink(missing_ok=True)
            while not ended and self._queue.get() is not None:  # so write() never blocks
                pass

    def _land(self, path: Path | None, handle: Any) -> None:
        if handle is not None and path is not None:
            handle.close()
            if self._failed is not None:  # aborted: the file is not whole
                raise self._failed
            self.temporary(path).replace(path)

    def write(self, path: Path, data: Any) -> None:
        if self._failed is not None:  # stop drawing: the files cannot be written
            self.close()
        self._queue.put((path, data))

    def close(self, error: BaseException | None = None) -> None:
        """Wait for the writes and land the last file; with ``error`` (the caller
        failed), drop it instead."""
        if error is not None and self._failed is None:
            self._failed = error
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._failed is not None and self._failed is not error:
            raise self._failed


def _token_sums(tables: Tables, day: Day, into: dict[str, dict[str, np.ndarray]]) -> None:
    """Add the day's tokens per model to ``into`` (ISO date -> token kind -> per model);
    exact: a day's sums are far below 2**53."""
    sums = into.setdefault(day.date.isoformat(), {})
    size = len(tables.models)
    for kind, values in (("input", day.inputs - day.cached), ("cached input", day.cached),
                         ("output", day.outputs)):
        total = np.rint(np.bincount(day.model, weights=values, minlength=size)).astype(
            np.int64)
        sums[kind] = sums[kind] + total if kind in sums else total


def write_events(out: Path, customers: int, months: int, seed: int, scale: float,
                 token_sums: dict[str, dict[str, np.ndarray]] | None = None
                 ) -> dict[str, int]:
    """The company's contracts and usage files; returns the events per file. With
    ``token_sums``, also fills it: ISO date -> token kind -> tokens per model."""
    return write_usage(out, write_company_contracts(out / "contracts", customers, seed),
                       months, seed, scale, token_sums)


def write_usage(out: Path, profiles: list[Profile], months: int, seed: int, scale: float,
                token_sums: dict[str, dict[str, np.ndarray]] | None = None
                ) -> dict[str, int]:
    """The profiles' usage files, ``sources/usage-YYYY-MM.jsonl`` from 2026-01."""
    tables = Tables(profiles)
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    spans = _months(datetime.date(2026, 1, 1), months)
    total_days = (spans[-1][1] - spans[0][0]).days + 1
    counts: dict[str, int] = {}
    writer = Writer()
    try:
        for first, last in spans:
            name = f"usage-{first:%Y-%m}.jsonl"
            counts[name] = 0
            writer.write(sources / name, None)  # the file exists if the month is empty
            for day in month_days(tables, first, last, seed, total_days,
                                  (first - spans[0][0]).days, scale):
                lines = day_lines(tables, day)
                counts[name] += len(lines)
                writer.write(sources / name, line_bytes(lines))
                if token_sums is not None:
                    _token_sums(tables, day, token_sums)
    except BaseException as error:
        writer.close(error)
        raise
    writer.close()
    return counts


def write_company(out: Path, customers: int, months: int, seed: int, scale: float
                  ) -> dict[str, int]:
    """What ``generate company`` writes, vectorized: contracts, usage, the prepaid
    customers' purchases (``generate company``'s) and the providers' cost reports of the
    events (``provider_reports``', from token sums instead of a pass over the JSON)."""
    sums: dict[str, dict[str, np.ndarray]] = {}
    profiles = write_company_contracts(out / "contracts", customers, seed)
    counts = write_usage(out, profiles, months, seed, scale, sums)
    purchases = [
        {"date": "2026-01-01", "customer": p.customer, "contract": f"{p.customer}-2026",
         "pack": "standard", "amount": "500.00", "currency": "USD",
         "payment_id": f"pay-{p.customer}-0001"}
        for i, p in enumerate(profiles) if i % 3 == 0]
    counts["purchases.csv"] = write_purchases(out / "sources" / "purchases.csv", purchases)
    write_cost_reports(out, sorted({m for p in profiles for m in p.models}), sums)
    return counts


def write_cost_reports(out: Path, models: list[str],
                       sums: dict[str, dict[str, np.ndarray]]) -> list[Path]:
    """The providers' cost reports of the token sums, as ``provider_reports`` writes
    them (the same pricing: exact per day, model and token type)."""
    from tokenbooks.plugins.rules.cogs import resolve_model
    from tokenbooks.plugins.rules.contracts import load_contracts

    from . import provider_reports

    contracts, errors = load_contracts(out / "contracts")
    if errors:
        raise click.ClickException("; ".join(str(e) for e in errors))
    costs: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(Decimal)))
    for iso, kinds in sums.items():
        day = datetime.date.fromisoformat(iso)
        for m, model in enumerate(models):
            found = resolve_model(contracts.costs, model, day)
            if found is None:
                continue
            provider, name, table = found
            rates = table.rates_on(name, day)
            if rates is None:
                continue
            per = Decimal(table.per)
            prices = {"input": rates.input, "cached input": rates.cached_input,
                      "output": rates.output}
            for kind, tokens in kinds.items():
                costs[provider][day][(name, kind)] += int(tokens[m]) * prices[kind] / per
    written = []
    for provider, days in sorted(costs.items()):
        by_month: dict[str, dict] = defaultdict(dict)
        for day, day_costs in days.items():
            by_month[f"{day:%Y-%m}"][day] = day_costs
        for month, month_days_ in sorted(by_month.items()):
            if provider == "openai":
                path = out / "sources" / f"openai-costs-{month}.json"
                doc = provider_reports.openai_page(month_days_)
            elif provider == "anthropic":
                path = out / "sources" / f"anthropic-cost-report-{month}.json"
                doc = provider_reports.anthropic_report(month_days_)
            else:
                continue
            path.write_text(provider_reports._dump(doc), encoding="utf-8")
            written.append(path)
    return written


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--customers", default=200, show_default=True)
@click.option("--months", default=12, show_default=True)
@click.option("--seed", default=11, show_default=True)
@click.option("--scale", default=1.0, show_default=True,
              help="Multiplies every customer's events per day (6: about 12M a year).")
@click.option("--company", is_flag=True,
              help="Also the purchases and the providers' cost reports (a whole workload).")
def main(out: Path, customers: int, months: int, seed: int, scale: float,
         company: bool) -> None:
    """A synthetic company's contracts and usage events, vectorized."""
    started = time.perf_counter()
    if company:
        counts = write_company(out, customers, months, seed, scale)
        total = sum(v for k, v in counts.items() if k.startswith("usage-"))
    else:
        counts = write_events(out, customers, months, seed, scale)
        total = sum(counts.values())
    seconds = time.perf_counter() - started
    click.echo(f"{total:,} events in {seconds:.1f} s ({total / seconds:,.0f} events/s) "
               f"in {out / 'sources'}")


if __name__ == "__main__":
    main()
