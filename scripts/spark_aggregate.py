"""Daily usage aggregates on Spark, for logs one machine cannot aggregate.

    spark-submit scripts/spark_aggregate.py --contracts contracts/ --out s3://b/agg/2026-01 \\
        s3://b/events/month=2026-01/
    python -m tokenbooks.scripts.spark_aggregate --master 'local[2]' --contracts contracts/ \\
        --out build/agg usage-2026-01.jsonl usage-2026-02.jsonl
    tokenbooks import --ledger main.beancount build/agg/aggregates/month=*/*.parquet

Reads canonical usage events (``--format jsonl`` or ``parquet``; files or folders,
partitioned ``key=value/`` folders included) and writes, under ``--out``:

    aggregates/month=YYYY-MM/part-*.parquet   daily aggregates with their event ids
                                               (``tokenbooks.importers.usage_daily``)
    quarantine/part-*.json                     one JSON line per row not aggregated:
                                               file, line, field, reason, content

The rules are the importer's own code: each split of each input file is validated by
``UsageCore.validate`` (the vectorized checks, and ``check_event`` for every row they
cannot vouch for) and, for JSON Lines, read by the JSONL importer's chunk reader (a
malformed line is quarantined, the rest of its chunk is still read). Line numbers are
those of the file (1-based; for Parquet, the row number). An event id seen twice in a
month is aggregated once, at its first place (file, then line); the ids are kept with
each aggregate, so importing the aggregates records them in the book's event-id index
exactly as importing the events would. ``first_event``/``last_event`` are the first and
last event of the row in (file, line) order: the importer's own choice when one file
holds each day.

Spark runs the Python checks in its Python workers: tokenbooks (``pip install
'tokenbooks[spark]'``) must be installed where the executors run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from tokenbooks.importers import usage_jsonl
from tokenbooks.importers.base import per_user_limits
from tokenbooks.importers.usage import COUNTS, KEYS, NORMAL, UsageCore
from tokenbooks.plugins.rules.contracts import load_contracts

OUT = pa.schema([*NORMAL, ("file", pa.string()), ("field", pa.string()),
                 ("reason", pa.string()), ("content", pa.string())])


class Capture(UsageCore):
    """A UsageCore that keeps the valid rows instead of deduplicating and aggregating."""

    def __init__(self, customers: frozenset[str], per_user: frozenset[str]) -> None:
        super().__init__(customers, per_user)
        self.tables: list[pa.Table] = []

    def _add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.tables.append(table)


def _output(core: Capture, file: str) -> pa.RecordBatch | None:
    """The valid rows and the quarantined rows of one split, in the OUT schema."""
    parts = []
    for table in core.tables:
        n = table.num_rows
        extra = [pa.repeat(pa.scalar(file), n), *(pa.nulls(n, pa.string()),) * 3]
        parts.append(pa.table([*table.columns, *extra], schema=OUT))
    q = core.quarantine
    if q:
        columns = {name: pa.nulls(len(q), kind) for name, kind in zip(NORMAL.names,
                                                                     NORMAL.types, strict=True)}
        columns.update(line=pa.array([r.line for r in q], pa.int64()),
                       file=pa.array([file] * len(q)), field=pa.array([r.field for r in q]),
                       reason=pa.array([r.reason for r in q]),
                       content=pa.array([r.content for r in q]))
        parts.append(pa.table(columns, schema=OUT))
    table = pa.concat_tables(parts) if parts else OUT.empty_table()
    return table.combine_chunks().to_batches()[0] if table.num_rows else None


def validate_lines(lines: list[str], first_line: int, file: str, customers: frozenset[str],
                   per_user: frozenset[str]) -> pa.RecordBatch | None:
    """Validate consecutive JSONL lines of one file (from ``first_line``)."""
    core = Capture(customers, per_user)
    # The JSONL importer's chunk reader alone (it needs no contracts: ``core`` checks).
    reader = usage_jsonl.Importer.__new__(usage_jsonl.Importer)
    blob = "\n".join(lines).encode("utf-8") + b"\n"
    first = next((text for text in lines if text.strip()), "")
    reader.prepare(first.encode("utf-8"))
    reader._feed_piece(core, blob, first_line, len(lines))
    return _output(core, file)


def validate_table(table: pa.Table, first_line: int, file: str, customers: frozenset[str],
                   per_user: frozenset[str]) -> pa.RecordBatch | None:
    """Validate consecutive rows of one Parquet file (from row ``first_line``)."""
    core = Capture(customers, per_user)
    lines = pa.array(range(first_line, first_line + table.num_rows), pa.int64())

    def original(i: int) -> str:
        return json.dumps(table.slice(i, 1).to_pylist()[0], default=str, ensure_ascii=False,
                          sort_keys=True)

    core.feed_table(table, lines, original)
    return _output(core, file)


def split_validator(fmt: str, customers: frozenset[str], per_user: frozenset[str],
                    blocks: dict[tuple[str, int], tuple[int, int]]):
    """The mapInArrow function: batches of (row, file, block, mid) -> OUT batches."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            files = table.column("_file").to_pylist()
            starts = table.column("_block").to_pylist()
            mids = table.column("_mid").to_pylist()
            i = 0
            while i < len(files):  # runs of one split: consecutive lines of one file
                j = i
                while j < len(files) and (files[j], starts[j]) == (files[i], starts[i]):
                    j += 1
                low, offset = blocks[(files[i], starts[i])]
                line = mids[i] - low + offset + 1
                if fmt == "jsonl":
                    out = validate_lines(table.column("value").slice(i, j - i).to_pylist(),
                                         line, files[i], customers, per_user)
                else:
                    rows = table.slice(i, j - i).drop_columns(["_file", "_block", "_mid"])
                    out = validate_table(rows, line, files[i], customers, per_user)
                if out is not None:
                    yield out
                i = j

    return run


def aggregate(spark, inputs: list[str], fmt: str, contracts: Path, out: str) -> dict:
    """Run the job; returns the counts (read, valid, duplicates, quarantined, rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    book, errors = load_contracts(contracts)
    if not book.customers:
        raise SystemExit(f"{contracts}: no valid customer ({errors[0] if errors else ''})")
    customers = frozenset(book.customers)
    per_user = frozenset(c.id for c in book.customers.values() if per_user_limits(c))
    if fmt == "jsonl":
        raw = spark.read.text(inputs)
    else:
        raw = spark.read.parquet(*inputs)
        fields = ("event_id", "timestamp", "customer", "model", "feature", "input_tokens",
                  "cached_input_tokens", "output_tokens", "action", "status", "user",
                  "workflow")
        raw = raw.select(*[c for c in fields if c in raw.columns], "_metadata")
    raw = raw.select("*", F.col("_metadata.file_path").alias("_file"),
                     F.col("_metadata.file_block_start").alias("_block"),
                     F.monotonically_increasing_id().alias("_mid")).drop("_metadata")
    # Line numbers: each split's rows are consecutive ids; splits of a file in order.
    blocks: dict[tuple[str, int], tuple[int, int]] = {}  # split -> (first id, lines before)
    before: dict[str, int] = {}
    counted = raw.groupBy("_file", "_block").agg(F.min("_mid").alias("low"),
                                                 F.count("*").alias("n")).collect()
    for row in sorted(counted, key=lambda r: (r["_file"], r["_block"])):
        blocks[(row["_file"], row["_block"])] = (row["low"], before.get(row["_file"], 0))
        before[row["_file"]] = before.get(row["_file"], 0) + row["n"]
    schema = ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in OUT)
    checked = raw.mapInArrow(split_validator(fmt, customers, per_user, blocks), schema)
    checked = checked.persist()
    quarantine = checked.where(F.col("field").isNotNull()).select(
        "file", "line", "field", "reason", "content")
    events = checked.where(F.col("field").isNull()).withColumn(
        "month", F.date_format("day", "yyyy-MM"))
    first = Window.partitionBy("month", "event_id").orderBy("file", "line")
    ranked = events.withColumn("_rank", F.row_number().over(first))
    unique = ranked.where(F.col("_rank") == 1)
    place = F.struct("file", "line", "event_id")
    grouped = unique.groupBy("month", *KEYS).agg(
        *[F.sum(name).cast("long").alias(name) for name in COUNTS],
        F.count("*").alias("events"),
        F.min(place)["event_id"].alias("first_event"),
        F.max(place)["event_id"].alias("last_event"),
        F.array_sort(F.collect_list("event_id")).alias("event_ids"))
    # (named as the daily-aggregate format names them: ``usage_daily``)
    names = {"day": "date", "tier": "service_tier"}
    rows = grouped.select("month", *[F.col(k).alias(names[k]) if k in names else k
                                     for k in KEYS],
                          *COUNTS, "events", "first_event", "last_event", "event_ids")
    keys = [names.get(k, k) for k in KEYS]
    rows.repartition("month").sortWithinPartitions(*keys).write.mode("overwrite") \
        .partitionBy("month").parquet(f"{out}/aggregates")
    quarantine.coalesce(1).sortWithinPartitions("file", "line").write.mode("overwrite") \
        .json(f"{out}/quarantine")
    counts = {"read": checked.count(), "quarantined": quarantine.count(),
              "valid": events.count(), "unique": unique.count()}
    counts["duplicates"] = counts["valid"] - counts["unique"]
    checked.unpersist()
    return counts


def _spark_type(kind: pa.DataType) -> str:
    return {pa.int64(): "bigint", pa.string(): "string", pa.date32(): "date",
            pa.bool_(): "boolean"}[kind]


def session(master: str | None, name: str = "tokenbooks-aggregate"):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    # ANSI mode: a sum past a long's range fails the job instead of wrapping silently
    builder = (SparkSession.builder.appName(name).config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "true"))
    if master:
        builder = builder.master(master).config("spark.sql.shuffle.partitions", "4") \
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="files or folders of canonical events")
    parser.add_argument("--contracts", type=Path, required=True,
                        help="the book's contracts folder (customers, per-user limits)")
    parser.add_argument("--out", required=True, help="output folder (aggregates/, "
                                                     "quarantine/)")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default=None,
                        help="input format (default: from the first input's suffix)")
    parser.add_argument("--master", default=None, help="e.g. local[2] (spark-submit sets it)")
    args = parser.parse_args(argv)
    fmt = args.format or ("parquet" if args.inputs[0].rstrip("/").endswith(
        (".parquet", ".pq")) else "jsonl")
    spark = session(args.master)
    try:
        counts = aggregate(spark, args.inputs, fmt, args.contracts, args.out)
    finally:
        spark.stop()
    print(json.dumps(counts, sort_keys=True))


if __name__ == "__main__":
    main()
