"""The DuckDB engine of ``tokenbooks aggregate`` (``scripts.aggregate_cmd``): the dedupe
and the group-by of the valid rows of all the sources, on one machine, embedded.

The rows come as the command validated them, in a Parquet file (``aggregate_cmd.Stage``:
the event, its place ``ord``, its source ``src``, its booked context ``band`` and its
content hash), which DuckDB reads in parallel; then, in SQL:

1. finds the ids seen more than once in a month (a hash aggregate over all the rows;
   usually none) and, for those only, ranks their rows by place: all but the first are
   the repeated rows (``again``), each with the content hash of its first place;
2. groups the other rows per source, day and key: the counts summed in HUGEINT (128
   bits: no sum can wrap), ``first_event`` / ``last_event`` the id of the smallest and
   largest place (``arg_min`` / ``arg_max`` by ``ord``: (file, line) order), the ids
   sorted by code point (DuckDB compares text byte by byte, UTF-8's order);
3. gives each source's month: the groups whose every sum is within ``MAX_COUNT``, cast
   to BIGINT (a cast past its range is an error, never a wrap), and for a group past
   it one row per event.

DuckDB holds its tables in memory, spilling to a folder of the command's work folder when
they outgrow its memory limit (80% of the machine's memory by default;
``TOKENBOOKS_DUCKDB_MEMORY`` and ``TOKENBOOKS_DUCKDB_THREADS`` set the limit and the
threads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from tokenbooks.importers.usage import COUNTS, MAX_COUNT

from .aggregate_cmd import GROUP_KEYS


def _q(name: str) -> str:
    return f'"{name}"'


KEYS = ", ".join(map(_q, GROUP_KEYS))
OUT_KEYS = ('customer, day AS date, model, feature, action, "user"')
CLASS_OUT = "tier AS service_tier, band AS context, cache_hit"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, staged: Path, work: Path) -> None:
        import duckdb

        config: dict[str, Any] = {"temp_directory": str(work / "duckdb-spill"),
                                  "preserve_insertion_order": False}
        if os.environ.get("TOKENBOOKS_DUCKDB_MEMORY"):
            config["memory_limit"] = os.environ["TOKENBOOKS_DUCKDB_MEMORY"]
        if os.environ.get("TOKENBOOKS_DUCKDB_THREADS"):
            config["threads"] = int(os.environ["TOKENBOOKS_DUCKDB_THREADS"])
        self.db = duckdb.connect(":memory:", config=config)
        path = str(staged).replace("'", "''")
        self.db.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
        self._done = False

    def _run(self) -> None:
        if self._done:
            return
        self._done = True
        db = self.db
        db.execute("""
            CREATE TEMP TABLE repeated AS
            SELECT date_trunc('month', day) AS m, event_id FROM events
            GROUP BY ALL HAVING count(*) > 1""")
        db.execute("""
            CREATE TEMP TABLE again AS
            SELECT * EXCLUDE (_rank) FROM (
                SELECT e.*, row_number() OVER w AS _rank, first_value(e.hash) OVER w AS first_hash
                FROM events e SEMI JOIN repeated r
                    ON date_trunc('month', e.day) = r.m AND e.event_id = r.event_id
                WINDOW w AS (PARTITION BY date_trunc('month', e.day), e.event_id ORDER BY e.ord)
            ) WHERE _rank > 1""")
        sums = ", ".join(f"sum({_q(n)}) AS {_q(n)}" for n in COUNTS)
        widest = ", ".join(_q(n) for n in (*COUNTS, "events"))
        db.execute(f"""
            CREATE TEMP TABLE groups AS
            SELECT *, strftime(day, '%Y-%m') AS month,
                   greatest({widest}) > {MAX_COUNT} AS over
            FROM (
                SELECT {KEYS}, {sums}, count(*) AS events,
                       arg_min(event_id, ord) AS first_event,
                       arg_max(event_id, ord) AS last_event,
                       list(event_id ORDER BY event_id) AS event_ids, min(ord) AS _ord
                FROM events e
                WHERE NOT EXISTS (SELECT 1 FROM again a WHERE a.ord = e.ord)
                GROUP BY {KEYS})""")
        self._over = db.sql("SELECT count(*) FROM groups WHERE over").fetchall()[0][0]

    def again(self) -> pa.Table:
        self._run()
        return self.db.sql("SELECT * FROM again ORDER BY ord").to_arrow_table()

    def partitions(self) -> Iterator[tuple[int, str, pa.Table]]:
        self._run()
        bounded = ", ".join(f"CAST({_q(n)} AS BIGINT) AS {_q(n)}" for n in COUNTS)
        single = ", ".join(_q(n) for n in COUNTS)
        keys = " AND ".join(f"g.{_q(k)} = e.{_q(k)}" for k in GROUP_KEYS)
        for src, month in self.db.sql(
                "SELECT DISTINCT src, month FROM groups ORDER BY ALL").fetchall():
            query = f"""
                SELECT {OUT_KEYS}, {bounded}, events, first_event, last_event, event_ids,
                       {CLASS_OUT}, _ord
                FROM groups WHERE src = $src AND month = $month AND NOT over"""
            if self._over:
                query += f"""
                UNION ALL
                SELECT {OUT_KEYS}, {single}, CAST(1 AS BIGINT) AS events,
                       event_id AS first_event, event_id AS last_event,
                       [event_id] AS event_ids, {CLASS_OUT}, ord AS _ord
                FROM events e
                WHERE src = $src AND strftime(day, '%Y-%m') = $month
                  AND NOT EXISTS (SELECT 1 FROM again a WHERE a.ord = e.ord)
                  AND EXISTS (SELECT 1 FROM groups g WHERE g.over AND {keys})"""
            rows = self.db.sql(query, params={"src": src, "month": month}).to_arrow_table()
            yield src, month, rows

    def close(self) -> None:
        self.db.close()
