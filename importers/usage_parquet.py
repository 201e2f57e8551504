"""Canonical usage events as Parquet: one event per row, columns named as in DESIGN.md.

    pyarrow.parquet.write_table(pa.table({"event_id": [...], "timestamp": [...],
                                          "customer": [...], ...}), "usage.parquet")

Row groups are read in batches of 128k rows, only the canonical columns. A timestamp
column may be text (RFC 3339 with offset), Unix seconds, or a Parquet timestamp (one
without a time zone is taken as UTC). The "line" of a row is its 1-based row number;
its quarantined content is the row as JSON.

    importer = Importer("contracts/")
    entries = importer.extract("usage-2026-01.parquet", existing=[])
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .base import Progress, UsageImporter
from .usage import FIELDS, UnreadableSource, UsageCore, unique_columns

BATCH_ROWS = 128 * 1024
MAGIC = b"PAR1"


class Importer(UsageImporter):
    """Canonical usage events, Parquet (``.parquet``)."""

    suffixes = (".parquet", ".pq")
    format_name = "Parquet usage events"

    def identify(self, filepath: str) -> bool:
        if not str(filepath).lower().endswith(self.suffixes):
            return False
        try:
            with open(filepath, "rb") as handle:
                if handle.read(4) != MAGIC:
                    return False
            names = pq.read_schema(filepath).names
        except (OSError, pa.ArrowException):
            return False
        return {"event_id", "timestamp", "customer"} <= set(names)

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: not a readable Parquet file ({exc})") from exc
        unique_columns(parquet.schema_arrow.names, path, "schema")
        columns = [name for name in (*FIELDS, "unbilled") if name in parquet.schema_arrow.names]
        per_row = path.stat().st_size / max(1, parquet.metadata.num_rows)  # for progress
        row = 1
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                table = pa.Table.from_batches([batch])
                n = table.num_rows

                def original(i: int, table: pa.Table = table) -> str:
                    values = table.slice(i, 1).to_pylist()[0]
                    return json.dumps(values, default=str, ensure_ascii=False, sort_keys=True)

                core.feed_table(table, pa.array(np.arange(row, row + n, dtype=np.int64)),
                                original)
                row += n
                progress.update(round(row * per_row) - round((row - n) * per_row))
        except (OSError, pa.ArrowException) as exc:
            raise UnreadableSource(f"{path}: Parquet data unreadable near row {row} "
                                   f"({exc})") from exc
