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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tokenbooks.importers import usage_jsonl
from tokenbooks.importers.base import per_user_limits
from tokenbooks.importers.usage import COUNTS, KEYS, MAX_COUNT, NORMAL
from tokenbooks.plugins.rules.classes import long_context_thresholds
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import PriceBook
from tokenbooks.scripts.aggregate_cmd import DAILY_NAMES, GROUP_KEYS, ROWS, STAGED, Capture

OUT = pa.schema([*NORMAL, ("file", pa.string()), ("field", pa.string()),
                 ("reason", pa.string()), ("content", pa.string())])


def _output(core: Capture, file: str) -> pa.RecordBatch | None:
    """The valid rows and the quarantined rows of one split, in the OUT schema."""
    parts = []
    for table in core.tables:
        table = core._band(table)  # the long-context band, as the raw import books it
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
                   per_user: frozenset[str], books: Sequence[PriceBook] = ()
                   ) -> pa.RecordBatch | None:
    """Validate consecutive JSONL lines of one file (from ``first_line``); ``books``: the
    price books and cost tables, for the long-context band."""
    core = Capture(customers, per_user)
    core.long_context = long_context_thresholds(books) if books else None
    # The JSONL importer's chunk reader alone (it needs no contracts: ``core`` checks).
    reader = usage_jsonl.Importer.__new__(usage_jsonl.Importer)
    blob = "\n".join(lines).encode("utf-8") + b"\n"
    first = next((text for text in lines if text.strip()), "")
    reader.prepare(first.encode("utf-8"))
    reader._feed_piece(core, blob, first_line, len(lines))
    return _output(core, file)


def validate_table(table: pa.Table, first_line: int, file: str, customers: frozenset[str],
                   per_user: frozenset[str], books: Sequence[PriceBook] = ()
                   ) -> pa.RecordBatch | None:
    """Validate consecutive rows of one Parquet file (from row ``first_line``)."""
    core = Capture(customers, per_user)
    core.long_context = long_context_thresholds(books) if books else None
    lines = pa.array(range(first_line, first_line + table.num_rows), pa.int64())

    def original(i: int) -> str:
        return json.dumps(table.slice(i, 1).to_pylist()[0], default=str, ensure_ascii=False,
                          sort_keys=True)

    core.feed_table(table, lines, original)
    return _output(core, file)


def split_validator(fmt: str, customers: frozenset[str], per_user: frozenset[str],
                    blocks: dict[tuple[str, int], tuple[int, int]],
                    books: Sequence[PriceBook] = ()):
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
                                         line, files[i], customers, per_user, books)
                else:
                    rows = table.slice(i, j - i).drop_columns(["_file", "_block", "_mid"])
                    out = validate_table(rows, line, files[i], customers, per_user, books)
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
    books = [*book.price_books.values(), *book.costs.values()]
    checked = raw.mapInArrow(split_validator(fmt, customers, per_user, blocks, books), schema)
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
    names = DAILY_NAMES  # (named as the daily-aggregate format names them)
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


class SparkEngine:
    """The Spark engine of ``tokenbooks aggregate`` (``scripts.aggregate_cmd``): Spark
    reads the Parquet file of the rows the command validated (``aggregate_cmd.Stage``),
    ranks each id's rows of a month by place, groups the first places per source, day
    and key (sums in decimal(38): no sum can wrap; one row per event for a key whose
    sums pass ``MAX_COUNT``) and writes them to the work folder, partitioned by source
    and month, for the command to write as the DuckDB engine's."""

    name = "spark"

    def __init__(self, staged: Path, work: Path, master: str | None = None) -> None:
        self.staged = staged
        self.work = work
        self.master = master or "local[*]"
        self._done = False

    def _run(self) -> None:
        if self._done:
            return
        self._done = True
        from pyspark.sql import SparkSession, Window
        from pyspark.sql import functions as F

        active = SparkSession.getActiveSession()
        spark = active or session(self.master)
        if active is None:
            spark.sparkContext.setLogLevel("ERROR")
        try:
            events = spark.read.parquet(str(self.staged))
            place = Window.partitionBy(F.trunc("day", "month"), "event_id").orderBy("ord")
            ranked = events.withColumn("_rank", F.row_number().over(place)) \
                .withColumn("first_hash", F.first("hash").over(place)).persist()
            ranked.where(F.col("_rank") > 1).drop("_rank").write.mode("overwrite") \
                .parquet(str(self.work / "again"))
            kept = ranked.where(F.col("_rank") == 1).drop("_rank", "first_hash")
            wide = "decimal(38,0)"
            grouped = kept.groupBy(*GROUP_KEYS).agg(
                *[F.sum(F.col(n).cast(wide)).alias(n) for n in COUNTS],
                F.count("*").alias("events"),
                F.min_by("event_id", "ord").alias("first_event"),
                F.max_by("event_id", "ord").alias("last_event"),
                F.array_sort(F.collect_list("event_id")).alias("event_ids"),
                F.min("ord").alias("_ord"))
            grouped = grouped.withColumn("_over", F.greatest(
                *[F.col(n).cast(wide) for n in (*COUNTS, "events")]) > F.lit(MAX_COUNT))
            out: list[Any] = ["customer", F.col("day").alias("date"), "model", "feature",
                              "action", "user"]
            classes: list[Any] = [F.col("tier").alias("service_tier"), F.col("band").alias("context"),
                       "cache_hit"]
            bounded = grouped.where(~F.col("_over")).select(
                "src", *out, *[F.col(n).cast("long").alias(n) for n in COUNTS], "events",
                "first_event", "last_event", "event_ids", *classes, "_ord")
            big = grouped.where(F.col("_over")).select(*GROUP_KEYS)
            singles = kept.join(big, list(GROUP_KEYS), "left_semi").select(
                "src", *out, *COUNTS, F.lit(1).cast("long").alias("events"),
                F.col("event_id").alias("first_event"), F.col("event_id").alias("last_event"),
                F.array("event_id").alias("event_ids"), *classes, F.col("ord").alias("_ord"))
            rows = bounded.unionByName(singles).withColumn("month",
                                                           F.date_format("date", "yyyy-MM"))
            rows.write.mode("overwrite").partitionBy("src", "month") \
                .parquet(str(self.work / "groups"))
            ranked.unpersist()
        finally:
            if active is None:
                spark.stop()

    def _read(self, folder: Path, schema: pa.Schema) -> pa.Table:
        parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not parts:
            return schema.empty_table()
        return pa.concat_tables([pq.read_table(p) for p in parts]).select(
            schema.names).cast(schema)

    def again(self) -> pa.Table:
        self._run()
        table = self._read(self.work / "again",
                           pa.schema([*STAGED, ("first_hash", pa.string())]))
        return table.sort_by("ord")

    def partitions(self) -> Iterator[tuple[int, str, pa.Table]]:
        self._run()
        folders = []
        for folder in (self.work / "groups").glob("src=*/month=*"):
            folders.append((int(folder.parent.name[4:]), folder.name[6:], folder))
        for src, month, folder in sorted(folders):
            yield src, month, self._read(folder, ROWS)

    def close(self) -> None:
        pass


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
