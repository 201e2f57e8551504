"""``tokenbooks aggregate`` then ``tokenbooks import DIR``: the books of the raw import,
byte for byte but for the names of the sources (the entries of every import file, the
event-id index, the counts and the quarantine of each source), with DuckDB and with
Spark (skipped without Java or pyspark: ``make test`` installs both), on the sample
sources and on a month of hostile sources: duplicates and conflicts within a file,
across files and against the book, malformed rows, the token classes, the long-context
band, names that would break the book's syntax, a file name no shell likes, a foreign
format, and sums past the daily-aggregate bound and past int64."""

from __future__ import annotations

import csv
import datetime
import importlib.util
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_import_cmd import new_book, run

from tokenbooks.importers import usage_daily
from tokenbooks.importers.base import file_sha256
from tokenbooks.importers.index import read_sidecar
from tokenbooks.importers.usage import MAX_COUNT
from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.generate import write_sample

ROOT = Path(__file__).resolve().parents[1]
HAS_SPARK = shutil.which("java") is not None and importlib.util.find_spec("pyspark") is not None
SPARK = pytest.mark.skipif(not HAS_SPARK, reason="Spark needs Java and pyspark (make test "
                                                  "installs both)")
ENGINES = ["duckdb", pytest.param("spark", marks=SPARK)]
CUSTOMERS = ("acme", "globex", "hooli", "initech", "umbrella")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gpt-5-mini")
HOSTILE = ['gpt"4o', "chat\\", '";include "x', "naïve ☃ 模型", "a; b ; c", "end\\\\",
           "x" * 200]
LONG_CONTEXT = ("claude-sonnet-4-5: {input: 6.00, cached_input: 0.60, output: 30.00, "
                "long_context: {above: 200000, input: 12.00, cached_input: 1.20, "
                "output: 45.00}}")


@pytest.fixture(scope="module")
def spark_session():
    """One Spark session for the module (the engine uses the active one)."""
    if not HAS_SPARK:
        yield None
        return
    from tokenbooks.scripts.spark_aggregate import session

    spark = session("local[2]", "tokenbooks-aggregate-test")
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture
def engine(request, spark_session):
    return request.param


def aggregate(ledger: Path, out: Path, *sources: Path, engine: str = "duckdb") -> dict:
    args = ["aggregate", "--ledger", str(ledger), "--out", str(out), "--engine", engine,
            "--json", *map(str, sources)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def import_folder(ledger: Path, out: Path) -> list[dict]:
    result = run(ledger, out, extra=("--json",))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for row in summary:
        assert row["importer"] == "tokenbooks.importers.usage_daily.Importer"
        assert row["read"] == row["imported"] and row["quarantined"] == 0
    return summary


def raw_import(ledger: Path, *sources: Path) -> list[dict]:
    result = run(ledger, *sources, extra=("--json",))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def original(manifest: dict) -> dict[str, str]:
    """An aggregate file's name -> the name of its source."""
    return {Path(path).name: row["source"] for row in manifest["sources"]
            for path in row["aggregates"]}


def books(book: Path, names: dict[str, str] | None = None) -> dict[tuple[str, str], str]:
    """Each import file's entries by (month, source), without the header and the lines
    that name the source (``source``, ``sha256``)."""
    out = {}
    for path in sorted((book / "imports").glob("*.beancount")):
        if path.name == "README.beancount":
            continue
        text = path.read_text(encoding="utf-8")
        source = text.split("\n", 1)[0].removeprefix("; Imported by tokenbooks from ")
        key = (path.name.split(".")[0], (names or {}).get(source, source))
        assert key not in out
        out[key] = "\n".join(line for line in text.splitlines()
                             if not line.startswith(";") and "  source: " not in line
                             and "  sha256: " not in line)
    return out


def ids(book: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in (book / "imports").glob("*.events.gz"):
        found.setdefault(path.name[:7], []).extend(read_sidecar(path))
    return {month: sorted(values) for month, values in sorted(found.items())}


def book_quarantine(book: Path) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for path in sorted((book / "imports").glob("*.quarantine.jsonl")):
        for q in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
            found.setdefault(q["source"], []).append((q["line"], q["field"], q["reason"],
                                                      q["content"]))
    return found


def folder_quarantine(out: Path) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for q in map(json.loads, (out / "quarantine.jsonl").read_text(encoding="utf-8")
                 .splitlines()):
        found.setdefault(q["source"], []).append((q["line"], q["field"], q["reason"],
                                                  q["content"]))
    return found


COUNTED = ("read", "imported", "duplicates", "conflicts", "quarantined")


def counts(rows: list[dict]) -> list[tuple]:
    return [(Path(row["source"]).name, *(row[name] for name in COUNTED)) for row in rows]


def same_books(raw: Path, agg: Path, manifest: dict, direct: list[dict], out: Path) -> None:
    """The checks of every test: entries, index, counts and quarantine of each source."""
    expected = books(raw)
    assert expected and books(agg, original(manifest)) == expected
    assert ids(agg) == ids(raw)
    assert counts(manifest["sources"]) == counts(direct)
    assert folder_quarantine(out) == book_quarantine(raw)


# -- the sample sources ----------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_the_sample_sources_give_the_books_of_the_raw_import(tmp_path, engine):
    write_sample(tmp_path / "sample")
    sources = sorted((tmp_path / "sample").glob("usage-*.jsonl"))
    raw = new_book(tmp_path / "raw")
    direct = raw_import(raw, *sources)
    agg = new_book(tmp_path / "agg")
    out = tmp_path / "out"
    manifest = aggregate(agg, out, *sources, engine=engine)
    # 18,405 events of the USD customers' three months and 3,286 of lumen's quarter (EUR)
    assert manifest["engine"] == engine and manifest["read"] == 21691
    import_folder(agg, out)
    same_books(raw.parent, agg.parent, manifest, direct, out)
    assert sorted({month for month, _ in books(raw.parent)}) == ["2026-01", "2026-02",
                                                                 "2026-03"]


# -- a month of hostile sources -------------------------------------------------------------

def event(i: int, **over: object) -> dict:
    """Events of March 2026, a few of every kind: actions, the token classes, hostile
    names, the long-context band (claude-sonnet-4-5 past 200,000 input tokens)."""
    customer = CUSTOMERS[i % 5]
    item: dict = {"event_id": f"m-{i:04d}",
                  "timestamp": f"2026-03-{1 + i % 6:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                  "customer": customer, "model": MODELS[i % 4],
                  "feature": ("chat", "rag")[i % 2], "input_tokens": 1000 + 37 * i,
                  "cached_input_tokens": 100, "output_tokens": 50 + i}
    if customer == "globex" and i % 3 == 0:
        item.update(action="ticket_resolved", status=("completed", "failed")[i % 2])
    if i % 7 == 0:
        item.update(cache_write_tokens=200, cache_write_1h_tokens=50)
    if i % 11 == 0:
        item["service_tier"] = ("priority", "Standard", "flex")[i % 3]
    if i % 13 == 0:
        item["cache_hit"] = True
    if i % 17 == 0:
        item.update(web_search_calls=2, code_execution_calls=1, file_search_calls=3)
    if i % 19 == 0:
        item["context"] = "long"
    if i % 10 == 2:
        item["input_tokens"] = 250_000 + i  # past the long-context threshold (sonnet)
    if i % 23 == 5:
        item[("model", "feature", "action")[i % 3]] = HOSTILE[i % len(HOSTILE)]
        if item.get("action") and not item.get("status"):
            item["status"] = "partial"
    item.update(over)
    return item


def hostile_book(folder: Path) -> Path:
    ledger = new_book(folder)
    prices = folder / "contracts" / "price-books" / "list-2026.yaml"
    text = prices.read_text()
    plain = "claude-sonnet-4-5: {input: 6.00, cached_input: 0.60, output: 30.00}"
    assert plain in text
    prices.write_text(text.replace(plain, LONG_CONTEXT, 1))
    (folder / "importers.yaml").write_text(
        "litellm_json: {customers: {cust_00017: acme, team-acme-data: globex}}\n")
    return ledger


def lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in rows), encoding="utf-8")
    return path


def hostile_sources(folder: Path) -> tuple[Path, list[Path]]:
    """(what the books hold before, the month's sources)."""
    folder.mkdir()
    booked = lines(folder / "booked.jsonl", [event(i, event_id=f"b-{i}") for i in range(6)])
    big = [{"event_id": f"big-{i}", "timestamp": "2026-03-09T10:00:00Z", "customer": "acme",
            "model": "gpt-4o", "feature": "batch", "input_tokens": MAX_COUNT,
            "output_tokens": MAX_COUNT // 2} for i in range(3)]  # past the daily bound
    first = lines(folder / 'usage march "a";b ☃ 2026.jsonl', [
        *[event(i) for i in range(0, 150)],
        event(3),  # the same event again: a duplicate
        event(4, output_tokens=1),  # the same id, other content: a conflict
        event(0, event_id="b-0"),  # in the book already: a duplicate
        event(1, event_id="b-1", output_tokens=7),  # in the book with other content
        "not json {",
        event(1000, timestamp="2026-03-02T10:00:00"),  # no offset
        event(1001, customer="nobody"),
        event(1002, feature="line\nbreak"),
        event(1003, model="tab\there"),
        "",
        event(1004, timestamp="2026-02-28T23:30:00-01:00"),  # UTC: March 1st
        event(1005, timestamp="2026-04-01T00:00:01Z"),  # another month
        *big,
    ])
    rows = [event(i) for i in range(120, 200)]  # 120-149 again: duplicates across files
    rows[25] = event(145, output_tokens=99999)  # conflicts with the first file's 145
    rows.append(event(2000, timestamp="2026-04-02T10:00:00Z"))
    columns = sorted({name for row in rows for name in row})
    second = folder / "second part.csv"
    with second.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("true" if v is True else v) for k, v in row.items()})
    third = folder / "third.parquet"
    parquet_rows = [event(i) for i in range(190, 240)] + [event(5, output_tokens=3)]
    columns = sorted({name for row in parquet_rows for name in row})
    pq.write_table(pa.table({c: [row.get(c) for row in parquet_rows] for c in columns}),
                   third)
    records = json.loads((ROOT / "tests" / "data" / "formats" / "litellm_spend_logs_api.json")
                         .read_text())
    for k, record in enumerate(records):
        record["startTime"] = f"2026-03-0{3 + k}T09:14:03Z"
        record.pop("endTime", None)
    gateway = folder / "litellm-spend.json"
    gateway.write_text(json.dumps(records))
    return booked, [first, second, third, gateway]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_hostile_month_gives_the_books_of_the_raw_import(tmp_path, engine):
    booked, sources = hostile_sources(tmp_path / "sources")
    raw = hostile_book(tmp_path / "raw")
    agg = hostile_book(tmp_path / "agg")
    for ledger in (raw, agg):
        assert raw_import(ledger, booked)[0]["imported"] == 6
    direct = raw_import(raw, *sources)
    assert [r["importer"].rsplit(".", 2)[-2] for r in direct] == [
        "usage_jsonl", "usage_csv", "usage_parquet", "litellm_json"]
    assert [(r["duplicates"], r["conflicts"]) for r in direct][:3] == [(2, 2), (29, 1),
                                                                       (10, 1)]
    out = tmp_path / "out"
    manifest = aggregate(agg, out, *sources, engine=engine)
    import_folder(agg, out)
    same_books(raw.parent, agg.parent, manifest, direct, out)
    entries = "\n".join(books(agg.parent).values())
    for text in ('"gpt\\"4o"', 'context: "long"', 'service_tier: "priority"',
                 "cache_write_tokens: ", "web_search_calls: ", "cache_hit: TRUE",
                 f"input_tokens: {3 * MAX_COUNT}"):
        assert text in entries, text
    assert sorted({month for month, _ in books(agg.parent)}) == ["2026-03", "2026-04"]
    # the sum past the bound is three rows of one event each, added up again on import
    files = [out / p for row in manifest["sources"] for p in row["aggregates"]]
    table = pa.concat_tables([pq.read_table(p) for p in files])
    over = table.filter(pa.compute.equal(table.column("feature"), "batch")).to_pylist()
    assert [(r["events"], r["input_tokens"], r["first_event"]) for r in over] == [
        (1, MAX_COUNT, f"big-{i}") for i in range(3)]
    # raw and aggregated imports know each other's events, both ways
    again = raw_import(agg, *sources)
    assert [r["imported"] for r in again] == [0, 0, 0, 0]
    rerun = aggregate(agg, tmp_path / "again", *sources, engine=engine)
    assert rerun["imported"] == rerun["rows"] == 0
    assert rerun["duplicates"] + rerun["conflicts"] == rerun["read"] - rerun["quarantined"]
    assert import_folder(raw, tmp_path / "again") == []
    late = json.loads(run(raw, out, extra=("--json",)).stdout)  # into the raw book
    assert late and all(r["imported"] == 0 and r["read"] == r["duplicates"] for r in late)


# -- provenance, folders, refusals -----------------------------------------------------------

def test_aggregates_name_their_sources_not_the_engines_parts(tmp_path):
    booked, sources = hostile_sources(tmp_path / "sources")
    agg = hostile_book(tmp_path / "agg")
    out = tmp_path / "out"
    manifest = aggregate(agg, out, *sources)
    names = set()
    for row, source in zip(manifest["sources"], sources, strict=True):
        sha = file_sha256(source)
        assert (row["source"], row["path"], row["sha256"]) == (source.name, str(source), sha)
        assert row["read"] == (row["imported"] + row["duplicates"] + row["conflicts"]
                               + row["quarantined"])
        for relative in row["aggregates"]:
            path = out / relative
            names.add(path.name)
            assert path.parent.name.startswith("month=2026-0")
            assert path.name.endswith(f".{sha[:8]}.parquet") and "part-" not in path.name
            parquet = pq.ParquetFile(path)
            meta = parquet.schema_arrow.metadata
            assert meta[b"tokenbooks.source"].decode() == source.name
            assert meta[b"tokenbooks.source_sha256"].decode() == sha
            table = parquet.read()
            assert set(table.column("source").to_pylist()) == {source.name}
            assert set(table.column("source_sha256").to_pylist()) == {sha}
            assert usage_daily.Importer(ROOT / "contracts").identify(str(path))
    assert 'usage-march-a-b-2026.jsonl.' in "".join(sorted(names))
    assert not any(p.name.startswith(".") for p in out.rglob("*"))  # no work files left
    # run twice: the same bytes (and the aggregates of an earlier run replaced)
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (out / "aggregates" / "month=2026-01").mkdir()
    (out / "aggregates" / "month=2026-01" / "stale.parquet").write_bytes(b"x")
    aggregate(agg, out, *sources)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == first


def test_folders_are_read_recursively_and_the_output_is_left_out(tmp_path):
    write_sample(tmp_path / "sample")
    logs = tmp_path / "logs"
    for path in sorted((tmp_path / "sample").glob("usage-2026-*.jsonl")):
        target = logs / f"month={path.stem[6:]}" / path.name
        target.parent.mkdir(parents=True)
        shutil.copy(path, target)
    (logs / "_SUCCESS").write_text("")
    (logs / ".hidden.jsonl").write_text("not json\n")
    agg = new_book(tmp_path / "agg")
    out = logs / "agg"
    first = aggregate(agg, out, logs)
    assert [row["source"] for row in first["sources"]] == [
        "usage-2026-01.jsonl", "usage-2026-02.jsonl", "usage-2026-03.jsonl"]
    second = aggregate(agg, out, logs)  # its own output is not a source
    assert counts(second["sources"]) == counts(first["sources"])


def test_what_is_not_raw_usage_is_refused_and_nothing_is_written(tmp_path):
    write_sample(tmp_path / "sample")
    agg = new_book(tmp_path / "agg")
    out = tmp_path / "out"
    usage = tmp_path / "sample" / "usage-2026-01.jsonl"
    for source, message in ((tmp_path / "sample" / "purchases.csv", "not usage events"),
                            (None, "daily aggregates already")):
        if source is None:
            aggregate(agg, out, usage)
            source = next((out / "aggregates").rglob("*.parquet"))
            shutil.copy(source, tmp_path / "daily.parquet")
            source = tmp_path / "daily.parquet"
            shutil.rmtree(out)
        result = CliRunner().invoke(cli, ["aggregate", "--ledger", str(agg), "--out",
                                          str(out), str(usage), str(source)])
        assert result.exit_code == 1 and message in result.output, result.output
        assert not out.exists()
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x00\x01\x02")
    result = CliRunner().invoke(cli, ["aggregate", "--ledger", str(agg), "--out", str(out),
                                      str(binary)])
    assert result.exit_code == 1 and "binary.jsonl" in result.output
    assert not (out / "manifest.json").exists()
    folder = tmp_path / "empty"
    folder.mkdir()
    result = run(agg, folder)
    assert result.exit_code == 1 and "without aggregates/" in result.output


def test_sums_past_int64_never_wrap(tmp_path):
    """9,300 events of 10^15 tokens for one key: 9.3 x 10^18 > 2^63; DuckDB sums in
    HUGEINT, the group is past the daily bound, so its events are rows of their own, and
    the import adds them up to the raw import's entry."""
    n = 9_300
    source = lines(tmp_path / "sum.jsonl", [
        {"event_id": f"s{i:05d}", "timestamp": "2026-03-01T10:00:00Z", "customer": "acme",
         "model": "gpt-4o", "feature": "chat", "input_tokens": MAX_COUNT,
         "cached_input_tokens": MAX_COUNT, "output_tokens": MAX_COUNT} for i in range(n)])
    raw, agg = new_book(tmp_path / "raw"), new_book(tmp_path / "agg")
    direct = raw_import(raw, source)
    out = tmp_path / "out"
    manifest = aggregate(agg, out, source)
    assert manifest["rows"] == n
    import_folder(agg, out)
    same_books(raw.parent, agg.parent, manifest, direct, out)
    (text,) = books(agg.parent).values()
    assert f"input_tokens: {n * MAX_COUNT}" in text and n * MAX_COUNT > 2**63
    assert Decimal(n * MAX_COUNT) > Decimal(2**63)
    assert datetime.date(2026, 3, 1).isoformat() in text
