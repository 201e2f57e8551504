"""``tokenbooks aggregate --ledger FILE --out DIR SOURCES...``: raw usage logs to daily
aggregates on one big machine (DuckDB, the default: embedded, nothing to start) or on
Spark, for ``tokenbooks import DIR``.

    tokenbooks aggregate --ledger main.beancount --out build/agg logs/2026-03/
    tokenbooks import --ledger main.beancount build/agg

A source is a file, or a folder (its files, recursively, in name order; names starting
with ``.`` or ``_`` left out, as Spark leaves them out). Each is read by the importer
``tokenbooks import`` picks for it -- canonical usage JSONL, CSV or Parquet, LiteLLM, the
other tools' exports of ``importers.formats``, the sources ``importers.yaml`` declares
-- with that importer's own read step and ``UsageCore.validate``, so every row is judged
exactly as an import judges it: a row breaking a rule is quarantined with its line,
field and reason; an event id the book already holds (its event-id index, the sidecars
of ``importers.index``) is a duplicate, or a conflict if it was booked with other
content. The engine then takes the valid rows of every source: an id seen before in its
month (the sources in the order given, each in line order) is a duplicate of its first
place, or a conflict if its content differs; the first places are aggregated per
source, month and the key of a ``custom "usage"`` entry (customer, UTC day, model,
feature, action, user, service tier, context band, cache hit), with ``first_event`` and
``last_event`` the first and last event in (file, line) order, as the raw importer has
them. Written under DIR (its ``aggregates/`` replaced):

    aggregates/month=YYYY-MM/<source>.<sha8>.parquet   daily aggregates of one source
                                         and month (``importers.usage_daily``), named
                                         after the source and the first 8 hex digits of
                                         its sha256; columns ``source`` and
                                         ``source_sha256`` and the file's key-value
                                         metadata (``tokenbooks.source``,
                                         ``tokenbooks.source_sha256``) name the original
    quarantine.jsonl                     the rows not aggregated, source by source in
                                         line order: source, sha256, line, field,
                                         reason, content (as the import's quarantine
                                         files, conflicts included)
    manifest.json                        per source: its name, path, sha256, importer,
                                         rows read, imported (aggregated), duplicates,
                                         conflicts, quarantined, the files written

Counts: read = imported + duplicates + conflicts + quarantined, per source, as
``tokenbooks import`` prints them for the same sources in the same order. Sums never
wrap: the engines add them in 128-bit integers (DuckDB's HUGEINT, Spark's decimal(38));
a row of the daily format holds at most ``usage.MAX_COUNT`` (10^15) per count, so a
group whose sum is past it is written as one row per event, which the import adds up
again in Python integers into the one entry the raw import books.

``tokenbooks import DIR`` books the files of ``DIR/aggregates/`` with the daily-aggregate
importer, which checks every row again and dedupes its ids against the book as it then
is: the book may change between the two commands, nothing is booked twice. The book's
entries name the aggregate file (``source``, ``sha256``: the archived document under
``documents/``), whose name and metadata name the original source.

The engines share everything but the dedupe across the sources and the group-by: the
reading and validation (here, in Python, source by source, in bounded batches), the
dedupe against the book, the staging of the valid rows into one Parquet file of a work
folder (``DIR/.aggregate-*``, removed at the end) and the writing. DuckDB (in process)
or Spark (``--engine spark``: local mode by default, ``--master`` to choose) reads that
file; ``scripts/spark_aggregate.py`` is the Spark job for a cluster (``spark-submit``),
which validates on the executors too but knows no book and no provenance.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tokenbooks.importers import usage_daily
from tokenbooks.importers.base import UsageImporter
from tokenbooks.importers.index import EventIndex
from tokenbooks.importers.usage import (
    NORMAL,
    Extraction,
    UsageCore,
    content_hashes,
)
from tokenbooks.plugins.rules.classes import long_context_thresholds

# -- what both engines share -----------------------------------------------------------------

# The daily-aggregate names of the columns of ``usage.NORMAL`` that ``usage_daily`` names
# otherwise.
DAILY_NAMES = {"day": "date", "tier": "service_tier"}
_TYPES = {**{name: NORMAL.field(name).type for name in NORMAL.names},
          **{name: pa.int64() for name in usage_daily.EVENT_COUNTS},
          "date": pa.date32(), "service_tier": pa.string(), "first_event": pa.string(),
          "last_event": pa.string(), "event_ids": pa.list_(pa.string())}
# A daily-aggregate row as the engines give it: the columns of ``usage_daily`` and ``_ord``,
# the place of its first event (rows are written in key, then ``_ord``, order).
ROWS = pa.schema([(name, _TYPES[name]) for name in usage_daily.COLUMNS]
                 + [("_ord", pa.int64())])
# ... and as written: with the name and sha256 of the source.
DAILY = pa.schema([*(f for f in ROWS if f.name != "_ord"), ("source", pa.string()),
                   ("source_sha256", pa.string())])
_ROW_ORDER = [(name, "ascending") for name in (*usage_daily.KEY_FIELDS,
                                               *usage_daily.CLASS_KEYS, "_ord")]
# A valid row as the engines take it: its place (``ord``: numbered across the sources in
# their order, each in line order), its source (``src``: its number), the event as
# validated, its context as booked (``band``: ``context``, or "long" past the model's
# long-context threshold) and its content hash (``usage.content_hashes``).
STAGED = pa.schema([("ord", pa.int64()), ("src", pa.int32()), *NORMAL,
                    ("band", pa.string()), ("hash", pa.string())])
# The keys the engines group by (with ``band`` as the context), in STAGED's names.
GROUP_KEYS = ("src", "customer", "day", "model", "feature", "action", "user", "tier",
              "band", "cache_hit")


class Capture(UsageCore):
    """A UsageCore that keeps the valid rows instead of deduplicating and aggregating."""

    def __init__(self, customers: frozenset[str], per_user: frozenset[str]) -> None:
        super().__init__(customers, per_user)
        self.tables: list[pa.Table] = []

    def _add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.tables.append(table)


class Engine(Protocol):
    """The dedupe and group-by of the valid rows of all the sources: made with the
    Parquet file of those rows (``Stage``) and a work folder of its own."""

    name: str

    def again(self) -> pa.Table:
        """The rows whose id came before in their month (all but the first place, by
        ``ord``): STAGED and ``first_hash``, the content hash of the first place."""

    def partitions(self) -> Iterator[tuple[int, str, pa.Table]]:
        """(src, month, ROWS) of the first places, grouped: for each source and month,
        one row per key, or one row per event for a key whose sums pass MAX_COUNT."""

    def close(self) -> None:
        """Let go of what the engine holds (its session, its files)."""


class Stage:
    """The valid rows of all the sources, as the engines read them: one Parquet file
    (STAGED, a row group per batch), written as the sources are read -- by a thread of
    its own, while the next batch is read (pyarrow lets go of the GIL), one batch at a
    time, so that memory stays bounded by two batches whatever the sources hold."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        unique = ("ord", "line", "event_id", "hash")  # no dictionary for these
        self._writer = pq.ParquetWriter(
            path, STAGED, compression="lz4", write_statistics=False,
            use_dictionary=[n for n in STAGED.names if n not in unique])
        self._thread = ThreadPoolExecutor(1)
        self._pending: Future | None = None

    def add(self, batch: pa.Table) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._thread.submit(self._writer.write_table, batch)
        self.rows += batch.num_rows

    def close(self) -> Path:
        try:
            if self._pending is not None:
                self._pending.result()
        finally:
            self._thread.shutdown()
            self._writer.close()
        return self.path


class Staging(UsageCore):
    """One source's read for the engines: each batch of valid rows in line order (the
    order the importer aggregates them in), numbered after the rows before it, with
    its content hash and its booked context band; an id the book holds is taken out as
    the importer takes it out (a duplicate or a conflict, ``UsageCore._sort_out``); the
    rest go to ``sink``. ``index`` is only read."""

    def __init__(self, customers: frozenset[str], per_user: frozenset[str],
                 index: EventIndex, long_context: Callable[[str], int | None] | None,
                 src: int, start: int, sink: Callable[[pa.Table], None]) -> None:
        super().__init__(customers, per_user, index, long_context)
        self.src = src
        self.next = start
        self.sink = sink
        self.staged = 0

    def _add(self, table: pa.Table) -> None:
        n = table.num_rows
        if n == 0:
            return
        table = table.combine_chunks()
        lines = table.column("line").chunk(0)
        if n > 1 and not pc.all(pc.less_equal(lines[:-1], lines[1:])).as_py():
            table = table.sort_by("line")  # as ``UsageCore._aggregate`` orders a batch
        hashes = content_hashes(table)
        band = self._band(table).column("context")
        keep = self._not_booked(table, hashes)
        order = pa.array(np.arange(self.next, self.next + n, dtype=np.int64))
        self.next += n
        staged = (table.add_column(0, "src", pa.repeat(pa.scalar(self.src, pa.int32()), n))
                  .add_column(0, "ord", order).append_column("band", band)
                  .append_column("hash", hashes))
        if keep is not None:
            staged = staged.filter(pa.array(keep))
        if staged.num_rows:
            self.staged += staged.num_rows
            self.sink(staged.cast(STAGED))

    def _not_booked(self, table: pa.Table, hashes: pa.Array) -> np.ndarray | None:
        """The rows whose id the book does not hold (None: all of them); the others
        counted as duplicates or conflicts."""
        day = table.column("day")
        month_of = pc.add(pc.multiply(pc.year(day), 100), pc.month(day)).to_numpy(
            zero_copy_only=False)
        ids: list[str] | None = None
        keep = None
        for number in np.unique(month_of).tolist():
            month = f"{number // 100:04d}-{number % 100:02d}"
            if not self.index.has_ids(month):
                continue
            seen = self.index.month(month)
            rows = np.flatnonzero(month_of == number)
            if ids is None:
                ids = table.column("event_id").to_pylist()
            mine = [ids[i] for i in rows]
            if seen.isdisjoint(mine):
                continue
            known = rows[np.fromiter((i in seen for i in mine), bool, len(mine))]
            picked = pa.array(known)
            self._sort_out(month, table.take(picked), hashes.take(picked))
            if keep is None:
                keep = np.ones(table.num_rows, dtype=bool)
            keep[known] = False
        return keep


def sort_out_again(again: pa.Table, results: Sequence[Extraction]) -> None:
    """Count the engine's repeated rows into each source's extraction: a duplicate of
    its first place (the same content hash) or a conflict (quarantined with the reason
    the import gives, ``UsageCore._sort_out``)."""
    if again.num_rows == 0:
        return
    day = again.column("day")
    month_of = pc.add(pc.multiply(pc.year(day), 100), pc.month(day))
    for number in pc.unique(month_of).to_pylist():
        month = f"{number // 100:04d}-{number % 100:02d}"
        part = again.filter(pc.equal(month_of, number))
        first = EventIndex()
        first.remember(month, part.column("event_id").combine_chunks(),
                       part.column("first_hash").combine_chunks())
        sources = part.column("src")
        for src in pc.unique(sources).to_pylist():
            mine = part.filter(pc.equal(sources, src)).sort_by("ord")
            core = UsageCore((), index=first)
            core._sort_out(month, mine, mine.column("hash").combine_chunks())
            results[src].duplicates += core.duplicates
            results[src].conflicts += core.conflicts


def _stem(name: str) -> str:
    """A file name's part of an aggregate file's name (no folder, no dot file)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:120] or "source"


def write_partitions(folder: Path, partitions: Iterator[tuple[int, str, pa.Table]],
                     results: Sequence[Extraction]
                     ) -> tuple[dict[int, list[Path]], dict[int, int]]:
    """Write each (source, month) of the engine's rows as one Parquet file under
    ``folder/month=YYYY-MM/`` (see the module doc); returns the files and the number of
    rows of each source."""
    written: dict[int, list[Path]] = {}
    counts: dict[int, int] = {}
    taken: set[Path] = set()
    for src, month, rows in partitions:
        if rows.num_rows == 0:
            continue
        result = results[src]
        table = rows.select(ROWS.names).cast(ROWS).sort_by(_ROW_ORDER).drop_columns(
            ["_ord"])
        n = table.num_rows
        table = table.append_column("source", pa.repeat(pa.scalar(result.source.name), n)
                                    ).append_column(
            "source_sha256", pa.repeat(pa.scalar(result.sha256), n))
        recorded = usage_daily.store_fingerprint(table.column("event_ids"))
        table = table.cast(DAILY).replace_schema_metadata({
            "tokenbooks.source": result.source.name,
            "tokenbooks.source_sha256": result.sha256,
            "tokenbooks.format": "daily usage aggregates (tokenbooks.importers.usage_daily)",
            # the batch's id store (its event_ids column): count and fingerprint, which
            # the import recomputes (docs/event-index.md)
            usage_daily.EVENTS_KEY: str(recorded.events),
            usage_daily.IDS_KEY: recorded.sha256,
        })
        path = folder / f"month={month}" / f"{_stem(result.source.name)}.{result.sha256[:8]}"
        target, k = path.with_name(path.name + ".parquet"), 1
        while target in taken:
            k += 1
            target = path.with_name(f"{path.name}-{k}.parquet")
        taken.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
        written.setdefault(src, []).append(target)
        counts[src] = counts.get(src, 0) + n
    return written, counts


def expand(sources: Sequence[Path], skip: Path | None = None) -> list[Path]:
    """The files of ``sources``: a file as is, a folder's files recursively, in name
    order (names starting with ``.`` or ``_`` left out), none under ``skip``."""
    files = []
    for source in sources:
        if not source.is_dir():
            files.append(source)
            continue
        found = []
        for path in sorted(source.rglob("*")):
            parts = path.relative_to(source).parts
            if any(part.startswith((".", "_")) for part in parts) or not path.is_file():
                continue
            if skip is not None and path.resolve().is_relative_to(skip):
                continue
            found.append(path)
        if not found:
            raise click.ClickException(f"{source}: no file in this folder")
        files += found
    return files


def _book(ledger: Path, config: Path | None) -> tuple[list, list, EventIndex]:
    """The book's entries (those of unfinished import files left out, as the import
    leaves them out), its usage importers' list and the event-id index they share."""
    from tokenbooks.plugins.config import PluginConfig, contracts_folder
    from tokenbooks.plugins.load import Load
    from tokenbooks.plugins.rules.contracts import load_contracts

    from .import_cmd import load_book, make_importers, read_settings, unfinished

    book = ledger.resolve().parent
    entries, options = load_book(ledger)
    load = Load.of(options)
    if load is not None:
        contracts, errors = load.contracts, load.contract_errors
    else:
        contracts, errors = load_contracts(contracts_folder(options, PluginConfig()))
    for error in errors:
        click.echo(f"warning: {error}", err=True)
    if config is None and (book / "importers.yaml").exists():
        config = book / "importers.yaml"
    importers = make_importers(contracts, read_settings(config) if config else {})
    rewrite, _kept = unfinished(book, entries)
    if rewrite:
        entries = [e for e in entries if not (
            e.meta and e.meta.get("filename")
            and Path(e.meta["filename"]).resolve() in rewrite)]
    index = next(imp.index for imp in importers if isinstance(imp, UsageImporter))
    index.register(entries)
    return entries, importers, index


def read_source(importer: UsageImporter, path: Path, index: EventIndex, src: int,
                start: int, sink: Callable[[pa.Table], None]) -> tuple[Extraction, int]:
    """Read and validate one source with its importer's own ``run`` (its read step, the
    sha256, the check that anything could be read, its warnings), the rows going to
    ``sink`` instead of the importer's aggregation; returns the extraction and the
    place after its last row."""
    cores: list[Staging] = []

    def staged_read(path: Path, index: EventIndex, fast_dedupe: bool) -> UsageCore:
        contracts = importer.contracts
        core = Staging(frozenset(contracts.customers), frozenset(importer.per_user_customers()),
                       index, long_context_thresholds([*contracts.price_books.values(),
                                                       *contracts.costs.values()]),
                       src, start, sink)
        importer.feed(path, core, importer.progress)
        cores.append(core)
        return core

    importer._read = staged_read  # type: ignore[method-assign]
    try:
        result = importer.run(path, index)
    finally:
        del importer._read
    core = cores[-1]
    result.imported = core.staged  # less the engine's duplicates and conflicts, later
    return result, core.next


def run_aggregate(ledger: Path, sources: Sequence[Path], out: Path, engine: str = "duckdb",
                  config: Path | None = None, master: str | None = None) -> dict[str, Any]:
    """Aggregate ``sources`` against the book of ``ledger`` into ``out``; returns the
    manifest (see the module doc)."""
    from tokenbooks.importers.provider_costs import ReportError
    from tokenbooks.importers.usage import UnreadableSource

    from .import_cmd import identify
    from .writing import write_text_atomic

    files = expand(sources, skip=out.resolve())
    entries, importers, index = _book(ledger, config)
    chosen = []
    for path in files:
        importer = identify(importers, path)
        if not isinstance(importer, UsageImporter) or isinstance(importer,
                                                                 usage_daily.Importer):
            what = ("daily aggregates already" if isinstance(importer, usage_daily.Importer)
                    else f"not usage events ({importer.name.rsplit('.', 2)[-2]})")
            raise click.ClickException(f"{path}: {what}; import it with tokenbooks import; "
                                       "nothing was written")
        chosen.append((path, importer))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".aggregate-", dir=out))
    results: list[Extraction] = []
    try:
        stage = Stage(work / "staged.parquet")
        try:
            place = 0
            for src, (path, importer) in enumerate(chosen):
                warnings = importer._index_unindexed(str(path), entries)
                try:
                    result, place = read_source(importer, path, index, src, place,
                                                stage.add)
                except (UnreadableSource, ReportError) as exc:
                    raise click.ClickException(f"{exc}; nothing was written") from exc
                except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
                    raise click.ClickException(f"{path}: cannot be read ({exc}); "
                                               "nothing was written") from exc
                result.warnings += warnings
                results.append(result)
        finally:
            staged = stage.close()
        runner = make_engine(engine, staged, work, master)
        try:
            again = runner.again()
            sort_out_again(again, results)
            if again.num_rows:  # not imported: duplicates or conflicts of a first place
                for item in pc.value_counts(again.column("src")).to_pylist():
                    results[item["values"]].imported -= item["counts"]
            written, counts = write_partitions(work / "aggregates", runner.partitions(),
                                               results)
        finally:
            runner.close()
        final = out / "aggregates"
        if final.exists():
            shutil.rmtree(final)
        if (work / "aggregates").exists():
            os.replace(work / "aggregates", final)
        else:
            final.mkdir()
        manifest = _manifest(runner.name, chosen, results, written, counts,
                             work / "aggregates", final, out)
        text = "".join(json.dumps({"source": r.source.name, "sha256": r.sha256,
                                   "line": q.line, "field": q.field, "reason": q.reason,
                                   "content": q.content}, ensure_ascii=False,
                                  sort_keys=True) + "\n"
                       for r in results for q in r.rejected())
        write_text_atomic(out / "quarantine.jsonl", text)
        write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2,
                                                            ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _manifest(engine: str, chosen: list, results: list[Extraction],
              written: dict[int, list[Path]], counts: dict[int, int], staged: Path,
              final: Path, out: Path) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for src, ((path, _importer), result) in enumerate(zip(chosen, results, strict=True)):
        files = [str((final / p.relative_to(staged)).relative_to(out))
                 for p in written.get(src, [])]
        rows.append({
            "source": result.source.name, "path": str(path), "sha256": result.sha256,
            "importer": result.importer, "read": result.read, "imported": result.imported,
            "duplicates": result.duplicates, "conflicts": len(result.conflicts),
            "quarantined": result.quarantined, "rows": counts.get(src, 0),
            "aggregates": files, "warnings": list(result.warnings)})
    totals = {name: sum(row[name] for row in rows)
              for name in ("read", "imported", "duplicates", "conflicts", "quarantined",
                           "rows")}
    return {"engine": engine, **totals, "sources": rows}


def make_engine(name: str, staged: Path, work: Path, master: str | None = None) -> Engine:
    if name == "duckdb":
        from .duckdb_aggregate import DuckDBEngine
        return DuckDBEngine(staged, work)
    if name == "spark":
        from .spark_aggregate import SparkEngine
        return SparkEngine(staged, work, master)
    raise ValueError(f"unknown engine {name!r}; expected duckdb or spark")


def summary(manifest: dict[str, Any]) -> str:
    header = ("source", "read", "imported", "duplicates", "conflicts", "quarantined",
              "rows")
    table = [header] + [(row["source"], *(str(row[name]) for name in header[1:]))
                        for row in manifest["sources"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                     for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
           for row in table]
    for row in manifest["sources"]:
        for path in row["aggregates"]:
            out.append(f"  {row['source']}: wrote {path}")
        for warning in row["warnings"]:
            out.append(f"  warning: {warning}")
    if manifest["quarantined"] or manifest["conflicts"]:
        out.append(f"  {manifest['quarantined']} row(s) quarantined, "
                   f"{manifest['conflicts']} conflict(s): see quarantine.jsonl")
    return "\n".join(out)


@click.command("aggregate")
@click.option("--ledger", "ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount (its contracts, importer settings and "
                   "event-id index).")
@click.option("--out", "out", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: aggregates/ (replaced), quarantine.jsonl, "
                   "manifest.json.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True, help="DuckDB (embedded) or Spark (tokenbooks[spark]).")
@click.option("--master", default=None,
              help="The Spark master for --engine spark (default local[*]).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Importer settings (default: importers.yaml beside the "
                                 "ledger, if any).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.argument("sources", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
def aggregate(ledger: Path, out: Path, engine: str, master: str | None, config: Path | None,
              as_json: bool, sources: tuple[Path, ...]) -> None:
    """Pre-aggregate usage logs (SOURCES: files or folders) into daily aggregates in OUT,
    deduplicated against each other and the book of LEDGER; then `tokenbooks import OUT`."""
    manifest = run_aggregate(ledger, sources, out, engine, config, master)
    click.echo(json.dumps(manifest, indent=2, ensure_ascii=False) if as_json
               else summary(manifest))
