"""A vectorized generator of canonical usage events, for benchmarks at the sizes users
have (issue 18: at least 500,000 events a second).

    python -m tokenbooks.scripts.fastgen --out build/10m --customers 200 --months 12 \\
        --scale 6          # contracts/ and sources/usage-2026-MM.jsonl, ~10M events

The company is ``generate company``'s (the same contracts and usage profiles, from the
same seed); the events are drawn with numpy instead of one ``random`` call per field, so
their values differ from ``generate company``'s, but have the same shape: per customer
and day ``events_per_day x (1 + growth x progress) x U(0.7, 1.3)`` events (times
``--scale``), exponential token counts around the profile's means, cached input up to
twice the profile's share, models and features by the profile's weights. Each month's
file is sorted by timestamp, then id; same seed, same bytes. The JSON lines are built
by pyarrow string kernels, and the file is the values buffer of the resulting array
(each line ends with its newline), written at once.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .generate import Profile, _months, write_company_contracts

_CLOCK = pa.array([f"{h:02d}:{m:02d}:{sec:02d}Z" for h in range(24) for m in range(60)
                   for sec in range(60)])  # second of the day -> "HH:MM:SSZ"


def month_events(profiles: list[Profile], first: datetime.date, last: datetime.date,
                 seed: int, total_days: int, offset: int, scale: float = 1.0) -> pa.Array:
    """The JSON lines (one string per event, newline included) of one month, sorted."""
    rng = np.random.default_rng([seed, first.year, first.month])
    days = (last - first).days + 1
    parts: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    models_all: list[str] = sorted({m for p in profiles for m in p.models})
    features_all: list[str] = sorted({f for p in profiles for f in p.features})
    for number, profile in enumerate(profiles):
        progress = (offset + np.arange(days)) / max(total_days - 1, 1)
        counts = np.maximum(0, np.rint(profile.events_per_day * scale
                                       * (1 + profile.growth * progress)
                                       * rng.uniform(0.7, 1.3, days))).astype(np.int64)
        n = int(counts.sum())
        if not n:
            continue
        day_index = np.repeat(np.arange(days), counts)
        seconds = rng.integers(0, 86400, n)
        order = np.lexsort((seconds, day_index))
        day_index, seconds = day_index[order], seconds[order]
        # the index of each event in its day, from 1 (an id unique per customer and day)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        index = np.arange(n) - starts + 1
        model_names = sorted(profile.models)
        weights = np.array([profile.models[m] for m in model_names], float)
        model = np.array([models_all.index(m) for m in model_names])[
            rng.choice(len(model_names), n, p=weights / weights.sum())]
        feature_names = sorted(profile.features)
        fweights = np.array([profile.features[f] for f in feature_names], float)
        feature = np.array([features_all.index(f) for f in feature_names])[
            rng.choice(len(feature_names), n, p=fweights / fweights.sum())]
        inputs = np.maximum(1, rng.exponential(profile.input_tokens, n).astype(np.int64))
        cached = np.minimum(inputs, (inputs * profile.cached_share * rng.random(n) * 2)
                            .astype(np.int64))
        outputs = np.maximum(0, rng.exponential(profile.output_tokens, n).astype(np.int64))
        parts.append({"customer": np.full(n, number), "day": day_index, "second": seconds,
                      "index": index, "model": model, "feature": feature, "input": inputs,
                      "cached": cached, "output": outputs})
        names.append(profile.customer)
    if not parts:
        return pa.array([], pa.string())
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    customer_ids = np.concatenate([np.full(len(p["day"]), i) for i, p in enumerate(parts)])
    customer = pa.DictionaryArray.from_arrays(pa.array(customer_ids, pa.int32()),
                                              pa.array(names)).cast(pa.string())
    # texts by lookup (a month has few days, a day 86,400 seconds): no per-event format
    dates = [first + datetime.timedelta(days=d) for d in range(days)]
    day_index = pa.array(columns["day"], pa.int32())
    timestamp = pc.binary_join_element_wise(
        pa.array([f"{d:%Y-%m-%d}T" for d in dates]).take(day_index),
        _CLOCK.take(pa.array(columns["second"], pa.int32())), "")
    day_text = pa.array([f"{d:%Y%m%d}" for d in dates]).take(day_index)
    index_text = pc.utf8_lpad(pc.cast(pa.array(columns["index"]), pa.string()), 6, "0")
    event_id = pc.binary_join_element_wise(customer, day_text, index_text, "-")
    model = pa.DictionaryArray.from_arrays(pa.array(columns["model"], pa.int32()),
                                           pa.array(models_all)).cast(pa.string())
    feature = pa.DictionaryArray.from_arrays(pa.array(columns["feature"], pa.int32()),
                                             pa.array(features_all)).cast(pa.string())

    def text(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    pieces = ['{"event_id":"', event_id, '","timestamp":"', timestamp, '","customer":"',
              customer, '","model":"', model, '","feature":"', feature,
              '","input_tokens":', text(columns["input"]), ',"cached_input_tokens":',
              text(columns["cached"]), ',"output_tokens":', text(columns["output"]), "}\n"]
    lines = pc.binary_join_element_wise(*pieces, "")
    order = pc.sort_indices(pa.table({"t": timestamp, "id": event_id}),
                            sort_keys=[("t", "ascending"), ("id", "ascending")])
    return pc.take(lines, order)


def write_lines(path: Path, lines: pa.Array) -> int:
    """``lines`` (each with its newline) as one file: the array's values buffer."""
    array = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if isinstance(array, pa.LargeStringArray) or pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    array = pa.concat_arrays([array])  # offsets from 0, values contiguous
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset:array.offset + len(array)
                                                          + 1]
    data = array.buffers()[2]
    with path.open("wb") as out:
        if len(array):
            out.write(memoryview(data)[offsets[0]:offsets[-1]])
    return len(array)


def write_events(out: Path, customers: int, months: int, seed: int, scale: float
                 ) -> dict[str, int]:
    profiles = write_company_contracts(out / "contracts", customers, seed)
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    spans = _months(datetime.date(2026, 1, 1), months)
    total_days = (spans[-1][1] - spans[0][0]).days + 1
    counts = {}
    for first, last in spans:
        lines = month_events(profiles, first, last, seed, total_days,
                             (first - spans[0][0]).days, scale)
        name = f"usage-{first:%Y-%m}.jsonl"
        counts[name] = write_lines(sources / name, lines)
    return counts


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--customers", default=200, show_default=True)
@click.option("--months", default=12, show_default=True)
@click.option("--seed", default=11, show_default=True)
@click.option("--scale", default=1.0, show_default=True,
              help="Multiplies every customer's events per day (6: about 10M a year).")
def main(out: Path, customers: int, months: int, seed: int, scale: float) -> None:
    """A synthetic company's contracts and usage events, vectorized."""
    started = time.perf_counter()
    counts = write_events(out, customers, months, seed, scale)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    click.echo(f"{total:,} events in {seconds:.1f} s ({total / seconds:,.0f} events/s) "
               f"in {out / 'sources'}")


if __name__ == "__main__":
    main()
