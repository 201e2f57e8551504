"""The provider usage reports: OpenAI usage (API page, dashboard export) and the Anthropic
usage report.

- the token classes they carry (docs/token-classes.md), checked by hand against copies
  of the reference samples with buckets added: 5-minute and 1-hour cache writes (part
  of the input), batch / priority / flex / scale tiers, the long-context band, web
  searches; results differing only in tier or band are other rows;
- a page with ``has_more: true`` is a warning naming the file (the import is incomplete);
- the column-wise path (``fastpath.bucket_feed``) gives what the per-record path gives,
  byte for byte -- the entries, quarantine, counts, event ids, digest and the very rows
  fed to the core -- on the samples, their variants and generated pages full of
  hostile values.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.importers import anthropic_usage, fastpath, foreign, openai_usage
from tokenbooks.importers.index import EventIndex
from tokenbooks.importers.usage import UsageCore
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.usage import usage_from_entry
from tokenbooks.plugins.rules.contracts import load_contracts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
DATA = ROOT / "tests" / "data" / "formats"
CONTRACTS = load_contracts(ROOT / "contracts")[0]
PROJECT = "proj_7Qk2LmN4pR8sT1vW"
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
API_KEY = "apikey_01Rj2N8SVvo6BePZj99NhmiT"
CUSTOMERS = {PROJECT: "acme", WORKSPACE: "acme", API_KEY: "globex"}
NOV_2 = 1762041600  # 2025-11-02T00:00:00Z


def sample(name: str) -> dict:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"reference sample {name} not available")
    return json.loads(path.read_text())


def run(module, path: Path, fast: bool = True, index: EventIndex | None = None, **options):
    importer = module.Importer(CONTRACTS, customers=CUSTOMERS, **options)
    importer.fast = fast
    return importer.run(path, index=index if index is not None else EventIndex())


def rows(result) -> list[tuple]:
    """(day, customer, model, tier, context, input, cached, output, cache writes 5m and
    1h, web searches, events) of each usage entry."""
    out = []
    for entry in result.entries:
        u = usage_from_entry(entry)
        out.append((u.date.isoformat(), u.customer, u.model, u.tier, u.context,
                    u.input_tokens, u.cached_input_tokens, u.output_tokens,
                    u.count("cache_write_tokens"), u.count("cache_write_1h_tokens"),
                    u.count("web_search_calls"), u.events))
    return sorted(out)


def write(path: Path, doc, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
    return path


# -- token classes, by hand -------------------------------------------------------------------


def openai_result(**fields) -> dict:
    base = {"object": "organization.usage.completions.result", "input_tokens": 1000,
            "output_tokens": 100, "input_cached_tokens": 400, "num_model_requests": 4,
            "project_id": PROJECT, "user_id": None, "api_key_id": "key_Xy12AbCd34EfGh56",
            "model": "gpt-5-mini-2025-08-07", "batch": False, "service_tier": "default"}
    return {**base, **fields}


def test_openai_service_tiers_by_hand(tmp_path):
    doc = sample("openai_usage_completions.json")
    doc["data"][1]["results"] = [  # 2025-11-02, the sample's empty bucket
        openai_result(service_tier="priority"),
        openai_result(input_tokens=2000, input_cached_tokens=0),  # default: plain
        openai_result(service_tier="auto", input_tokens=10, input_cached_tokens=0,
                      output_tokens=1),  # auto: plain too, the same row as default
        openai_result(batch=True, service_tier="flex", input_tokens=300,
                      input_cached_tokens=0, output_tokens=30),  # batch wins
        openai_result(batch=None, service_tier="Scale", input_tokens=50,
                      input_cached_tokens=0, output_tokens=5)]  # lower-cased
    for indent in (2, None):
        path = write(tmp_path / f"page-{indent}.json", doc, indent)
        for fast in (True, False):
            result = run(openai_usage, path, fast)
            assert rows(result) == [
                # the sample: gpt-4.1 is batch (batch: true), gpt-5-mini default
                ("2025-11-01", "acme", "gpt-4.1-2025-04-14", "batch", "", 1250000, 0,
                 310000, 0, 0, 0, 1),
                ("2025-11-01", "acme", "gpt-5-mini-2025-08-07", "", "", 182400, 96000,
                 41250, 0, 0, 0, 1),
                # default + auto: 2000 + 10 in, 0 cached, 100 + 1 out, two results
                ("2025-11-02", "acme", "gpt-5-mini-2025-08-07", "", "", 2010, 0, 101,
                 0, 0, 0, 2),
                ("2025-11-02", "acme", "gpt-5-mini-2025-08-07", "batch", "", 300, 0, 30,
                 0, 0, 0, 1),
                ("2025-11-02", "acme", "gpt-5-mini-2025-08-07", "priority", "", 1000, 400,
                 100, 0, 0, 0, 1),
                ("2025-11-02", "acme", "gpt-5-mini-2025-08-07", "scale", "", 50, 0, 5,
                 0, 0, 0, 1)]
            assert result.quarantine == []


def test_openai_dashboard_export_batch_is_a_tier():
    path = SAMPLES / "openai_dashboard_completions_export.csv"
    if not path.exists():
        pytest.skip("reference sample not available")
    for export in (path, DATA / "openai_dashboard_completions_export.tsv"):
        assert rows(run(openai_usage, export)) == [  # batch TRUE / FALSE, tier default
            ("2025-11-01", "acme", "gpt-4.1-2025-04-14", "batch", "", 1250000, 0, 310000,
             0, 0, 0, 1),
            ("2025-11-01", "acme", "gpt-5-mini-2025-08-07", "", "", 182400, 96000, 41250,
             0, 0, 0, 1)]


def anthropic_result(**fields) -> dict:
    base = {"uncached_input_tokens": 1000,
            "cache_creation": {"ephemeral_1h_input_tokens": 400,
                               "ephemeral_5m_input_tokens": 300},
            "cache_read_input_tokens": 200, "output_tokens": 50,
            "server_tool_use": {"web_search_requests": 7}, "api_key_id": None,
            "workspace_id": WORKSPACE, "model": "claude-sonnet-4-5-20250929",
            "service_tier": "standard", "context_window": "0-200k"}
    return {**base, **fields}


def test_anthropic_cache_writes_tiers_bands_and_web_searches_by_hand(tmp_path):
    doc = sample("anthropic_usage_report.json")
    doc["data"].append({"starting_at": "2025-11-02T00:00:00Z",
                        "ending_at": "2025-11-03T00:00:00Z", "results": [
        anthropic_result(service_tier="batch"),
        anthropic_result(service_tier="priority", context_window="200k-1M"),
        anthropic_result(service_tier="priority"),  # only the band differs: another row
        anthropic_result(),  # standard, 0-200k: the plain row
        anthropic_result(service_tier=None, context_window=None, output_tokens=1,
                         uncached_input_tokens=5, cache_creation=None,
                         cache_read_input_tokens=0, server_tool_use=None),  # plain too
        anthropic_result(context_window="huge")]})  # not a band: quarantined
    for indent in (2, None):
        path = write(tmp_path / f"report-{indent}.json", doc, indent)
        for fast in (True, False):
            result = run(anthropic_usage, path, fast)
            # 1000 uncached + 200 read + 300 (5m) + 400 (1h) written = 1900 input
            assert rows(result) == [
                # the sample's first result: 420,000 + 1,280,000 + 64,000 + 0 = 1,764,000
                # in; 64,000 written for 5 minutes; 12 web searches
                ("2025-11-01", "acme", "claude-sonnet-4-5-20250929", "", "", 1764000,
                 1280000, 95000, 64000, 0, 12, 1),
                # plain: 1900 + 5 in, 200 read, 50 + 1 out, 300 / 400 written, 7 searches
                ("2025-11-02", "acme", "claude-sonnet-4-5-20250929", "", "", 1905, 200,
                 51, 300, 400, 7, 2),
                ("2025-11-02", "acme", "claude-sonnet-4-5-20250929", "batch", "", 1900,
                 200, 50, 300, 400, 7, 1),
                ("2025-11-02", "acme", "claude-sonnet-4-5-20250929", "priority", "",
                 1900, 200, 50, 300, 400, 7, 1),
                ("2025-11-02", "acme", "claude-sonnet-4-5-20250929", "priority", "long",
                 1900, 200, 50, 300, 400, 7, 1)]
            # the sample's second result has no customer key; "huge" is no band
            assert [(q.field, q.reason[:40]) for q in result.quarantine] == [
                ("customer", "expected a customer key in one of: works"),
                ("context_window", "expected a context window band such as 0")]


def test_anthropic_legacy_names_cache_writes_are_5_minute():
    result = run(anthropic_usage, DATA / "anthropic_usage_legacy.json")
    # input_tokens 150,000 (uncached) + cache_creation_input_tokens 20,000 + 5,000 read
    assert rows(result) == [("2025-11-01", "globex", "claude-haiku-4-5-20251001", "", "",
                             175000, 5000, 38000, 20000, 0, 0, 1)]


# -- has_more -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["column-wise", "per-record"])
def test_has_more_is_a_warning_naming_the_file(tmp_path, fast):
    page = sample("openai_usage_completions.json")  # has_more: true, next_page
    path = write(tmp_path / "usage-page-1.json", page)
    importer = openai_usage.Importer(CONTRACTS, customers=CUSTOMERS)
    importer.fast = fast
    importer.extract(str(path), [])
    result = importer.results[str(path)]
    assert result.imported == 2  # imported all the same
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith(f"{path}: has_more is true")
    assert "page_AAAAAGkFxdEiJdKOAAAAAGkEcYA=" in warning
    report = sample("anthropic_usage_report.json")
    for has_more, warned in ((True, 1), (False, 0), (None, 0), ("true", 0)):
        for indent in (None, 2):
            report.update(has_more=has_more, next_page="page_2" if has_more else None)
            path = write(tmp_path / f"report-{has_more}-{indent}.json", report, indent)
            result = run(anthropic_usage, path, fast)
            assert len(result.warnings) == warned, (has_more, indent)
            assert all(str(path) in w and "'page_2'" in w for w in result.warnings)
    # where the page has it: first, last, twice (the last wins, as json reads it); a
    # bucket's own has_more is not the page's
    first = {"has_more": True, **{k: v for k, v in page.items() if k != "has_more"}}
    twice = json.dumps(page)[:-1] + ', "has_more": false}'
    nested = copy.deepcopy(page)
    nested["has_more"] = False
    nested["data"][0]["has_more"] = True
    for text, warned in ((json.dumps(first), 1), (twice, 0), (json.dumps(nested), 0),
                         ("\ufeff" + json.dumps(page), 1)):
        path = tmp_path / "variant.json"
        path.write_text(text, encoding="utf-8")
        assert len(run(openai_usage, path, fast).warnings) == warned, text[-80:]


def test_has_more_fails_a_strict_import(tmp_path):
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli

    book = tmp_path / "book"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0, "init"
    (book / "importers.yaml").write_text(
        f"openai_usage: {{customers: {{{PROJECT}: acme}}}}\n", encoding="utf-8")
    page = write(tmp_path / "usage-page-1.json", sample("openai_usage_completions.json"))
    ledger = str(book / "main.beancount")
    strict = runner.invoke(cli, ["import", "--ledger", ledger, str(page), "--strict"])
    assert strict.exit_code != 0
    assert "usage-page-1.json: has_more is true" in strict.output


def test_the_exports_have_no_pages():
    path = SAMPLES / "openai_dashboard_completions_export.csv"
    if not path.exists():
        pytest.skip("reference sample not available")
    assert run(openai_usage, path).warnings == []


def test_page_fields_read_the_end_of_a_page_as_json_does():
    for doc in ({"data": [], "has_more": True, "next_page": "p2"},
                {"has_more": True, "data": [{"has_more": False}], "next_page": None},
                {"data": [{"next_page": "x"}], "has_more": False},
                {"data": [{"has_more": True}]}, {"data": [], "object": "has_more"}):
        for text in (json.dumps(doc), json.dumps(doc, indent=2),
                     json.dumps(doc, ensure_ascii=True).replace('"has_more"',
                                                                '"has_\\u006dore"')):
            expected = {k: v for k, v in json.loads(text).items()
                        if k in ("has_more", "next_page")}
            assert fastpath.page_fields(text.encode(), ("has_more", "next_page")) == expected
    assert fastpath.page_fields(b'{"data": [], "has_more": true} trailing',
                                ("has_more",)) == {"has_more": True}
    assert fastpath.page_fields(b"[1, 2]", ("has_more",)) == {}
    assert fastpath.page_fields(b"\xff\xfe", ("has_more",)) == {}


# -- the column-wise path gives the per-record path's rows ------------------------------------


@contextlib.contextmanager
def capture() -> Iterator[list]:
    """Record every row handed to the core (tables row by row with their lines, texts and
    values; problems), whatever the batches."""
    fed: list = []
    feed_table, feed_rows = UsageCore.feed_table, UsageCore.feed_rows

    def table(self, table, lines, original, values=None):
        for i, row in enumerate(table.to_pylist()):
            fed.append(("row", lines[i].as_py(), original(i),
                        json.dumps(row, sort_keys=True, default=str),
                        json.dumps(values(i), sort_keys=True, default=str)
                        if values is not None else None))
        return feed_table(self, table, lines, original, values)

    def listed(self, given):
        given = list(given)
        for line, content, value in given:
            fed.append(("problem", line, content,
                        (value.field, value.reason) if hasattr(value, "reason")
                        else json.dumps(value, sort_keys=True, default=str)))
        return feed_rows(self, given)

    UsageCore.feed_table, UsageCore.feed_rows = table, listed  # type: ignore[method-assign]
    try:
        yield fed
    finally:
        UsageCore.feed_table, UsageCore.feed_rows = feed_table, feed_rows  # type: ignore[method-assign]


def outputs(module, path: Path, fast: bool, index: EventIndex | None = None, **options):
    result = run(module, path, fast, index, **options)
    return ("".join(format_entry(e) for e in result.entries),
            [q.as_json(path.name) for q in result.quarantine],
            [q.as_json(path.name) for q in result.conflicts],
            (result.read, result.imported, result.duplicates, result.quarantined),
            {m: [a.to_pylist() for a in ids] for m, ids in result.event_ids.items()},
            {m: [a.to_pylist() for a in ids] for m, ids in result.event_hashes.items()},
            result.sha256, result.warnings)


def same(module, path: Path, monkeypatch, booked: Path | None = None, **options) -> tuple:
    """Both paths' outputs and fed rows, compared (an unreadable page fails both alike);
    ``booked``: a file imported first into the index both paths dedupe against."""
    got = []
    for fast in (False, True):
        index = EventIndex()
        if booked is not None:
            run(module, booked, True, index, **options)
        with capture() as fed:
            try:
                out = outputs(module, path, fast, index, **options)
            except Exception as exc:  # noqa: BLE001 - the same exception either way
                out = (type(exc).__name__, str(exc))
        got.append((out, fed))
    assert got[1][0] == got[0][0]
    assert got[1][1] == got[0][1]
    return got[1][0]


def test_the_samples_and_their_variants_alike(tmp_path, monkeypatch):
    files = [DATA / "anthropic_usage_legacy.json",
             DATA / "openai_dashboard_completions_export.tsv"]
    files += [p for p in sorted(SAMPLES.glob("*_usage_*")) if p.suffix in (".json", ".csv")]
    for path in files:
        module = anthropic_usage if "anthropic" in path.name else openai_usage
        same(module, path, monkeypatch)
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            for indent in (None, 1):
                same(module, write(tmp_path / f"v-{indent}-{path.name}", doc, indent),
                     monkeypatch)
            gz = tmp_path / f"{path.name}.gz"
            gz.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
            same(module, gz, monkeypatch)


def test_the_fast_path_is_taken_for_a_clean_page(tmp_path, monkeypatch):
    for module, page in ((openai_usage, openai_page), (anthropic_usage, anthropic_page)):
        rng = random.Random(1)
        path = write(tmp_path / f"{module.__name__}.json",
                     page([[template(module, i, rng) for i in range(b, b + 40)]
                           for b in range(0, 200, 40)]), None)
        calls = []
        monkeypatch.setattr(module.Importer, "event",
                            lambda self, record, calls=calls: calls.append(record) or {})
        result = run(module, path)
        monkeypatch.undo()
        assert result.imported == 200 and result.quarantine == []
        assert calls == []  # no record went through the per-record mapping


def test_a_long_page_in_batches_alike(tmp_path, monkeypatch):
    """More events than a batch: the core gets them in the per-record path's batches (or
    at once where that gives the same), with problems and duplicates among them."""
    for module, page in ((openai_usage, openai_page), (anthropic_usage, anthropic_page)):
        rng = random.Random(2)
        buckets = [[template(module, i, rng) for i in range(b, b + 50)]
                   for b in range(0, 300, 50)]
        buckets[2][7] = {**buckets[2][7], "model": None}  # a problem of the core
        clean = write(tmp_path / "clean.json", page(buckets), None)
        booked = write(tmp_path / "booked.json", page(buckets[:2]), None)
        bad = copy.deepcopy(buckets)
        bad[3][3]["output_tokens"] = -5  # a problem of the mapping
        bad[4][9] = dict(bad[4][8])  # the same bucket twice: a duplicate
        bad[4][10] = {**bad[4][8], "output_tokens": 1}  # and again, with other counts
        hostile = write(tmp_path / "hostile.json", page(bad), None)
        for batch in (8192, 7):
            monkeypatch.setattr(foreign, "BATCH", batch)
            for path in (clean, hostile):
                same(module, path, monkeypatch)
                same(module, path, monkeypatch, booked=booked)


# -- generated pages -------------------------------------------------------------------------------


def template(module, i: int, rng: random.Random) -> dict:
    customers = (PROJECT, "acme")
    if module is openai_usage:
        return openai_result(input_tokens=1000 + rng.randrange(5000),
                             project_id=customers[i % 2], user_id=f"user-{i}",
                             model=("gpt-4o", "gpt-4o-mini")[i % 2],
                             batch=i % 5 == 0, service_tier=("default", "priority")[i % 3 // 2])
    return anthropic_result(uncached_input_tokens=1000 + rng.randrange(5000),
                            model=f"claude-sonnet-4-5-{i % 100}",
                            workspace_id=(WORKSPACE, None)[i % 4 // 3],
                            api_key_id=(None, API_KEY)[i % 4 // 3],
                            service_tier=("standard", "batch", "priority")[i % 3],
                            context_window=("0-200k", "200k-1M")[i % 7 // 6])


def openai_page(buckets: list[list[dict]], **page) -> dict:
    return {"object": "page", "data": [
        {"object": "bucket", "start_time": 1767225600 + 86400 * b,
         "end_time": 1767312000 + 86400 * b, "results": results}
        for b, results in enumerate(buckets)], "has_more": False, "next_page": None, **page}


def anthropic_page(buckets: list[list[dict]], **page) -> dict:
    return {"data": [
        {"starting_at": f"2026-01-{1 + b:02d}T00:00:00Z",
         "ending_at": f"2026-01-{2 + b:02d}T00:00:00Z", "results": results}
        for b, results in enumerate(buckets)], "has_more": False, "next_page": None, **page}


ODD_VALUES = (None, "", -1, 0, 10**16, 2**70, 1.0, 1.5, "12", "x" * 250, "a\nb", True,
              False, [], {}, ["chat", 3], {"a": 1}, "2026-01-05T10:00:00+02:00",
              "2026-01-05T10:00:00", "yesterday", 1767607200, -86400, 10**15, "é", "\u0000",
              "unknown-customer", "globex", "acme", PROJECT, WORKSPACE, "priority",
              "PRIORITY", " flex ", "Batch", "standard", "DEFAULT", "auto", "İ",
              "x\u0085", "0-200k", "200k-1M", "1M-2M", "0-128K", "huge", "200k-",
              float("nan"), float("inf"), "\U0001f600")
KEYS = {openai_usage: ("start_time", "input_tokens", "output_tokens", "input_cached_tokens",
                       "num_model_requests", "project_id", "user_id", "api_key_id", "model",
                       "batch", "service_tier", "api_source", "has_more"),
        anthropic_usage: ("starting_at", "uncached_input_tokens", "input_tokens",
                          "cache_read_input_tokens", "cache_creation_input_tokens",
                          "cache_creation", "output_tokens", "server_tool_use",
                          "api_key_id", "workspace_id", "model", "service_tier",
                          "context_window", "cache_creation.ephemeral_5m_input_tokens")}


LIKE = {  # odd values of the type a field has: the column-wise path reads them
    int: (None, -1, 0, 10**15, 10**15 + 1, 10**16, 2**62, 1767225600, 253402300800),
    str: (None, "", "x" * 250, "a\nb", "é", "\u0000", "\x85", "unknown-customer", "globex",
          "acme", PROJECT, WORKSPACE, "priority", "PRIORITY", " flex ", "Batch", "DEFAULT",
          "auto", "İ", "0-200k", "200k-1M", "1M-2M", "0-128K", "huge", "200k-", "2026-01-05",
          "2026-01-05T10:00:00+02:00", "2026-01-05T10:00:00", "2026-13-01T00:00:00Z"),
    bool: (None, True, False)}


def mutate(module, record: dict, rng: random.Random) -> dict:
    record = copy.deepcopy(record)
    for _ in range(rng.randrange(1, 3)):
        holder = record
        if isinstance(record.get("cache_creation"), dict) and rng.random() < 0.2:
            holder = record["cache_creation"]
        key = rng.choice(list(holder) + list(KEYS[module]))
        action = rng.random()
        kind = type(holder.get(key))
        if action < 0.15:
            holder.pop(key, None)
        elif action < 0.2:
            holder[key + ".x"] = 1
        elif action < 0.9 and kind in LIKE:
            holder[key] = rng.choice(LIKE[kind])
        elif action < 0.9:
            holder[key] = rng.choice(LIKE[rng.choice((int, str))])
        else:
            holder[key] = rng.choice(ODD_VALUES)
    return record


def hostile_page(module, rng: random.Random) -> dict:
    buckets = []
    rate = rng.choice((0.04, 0.1, 0.35))
    for b in range(rng.randrange(1, 5)):
        results: list = []
        for i in range(rng.randrange(0, 12)):
            record = template(module, b * 12 + i % 9, rng)  # some records repeat
            results.append(mutate(module, record, rng) if rng.random() < rate else record)
        buckets.append(results)
    page = (openai_page if module is openai_usage else anthropic_page)(buckets)
    roll = rng.random()
    start = "start_time" if module is openai_usage else "starting_at"
    if roll < 0.06:
        bucket = rng.choice(page["data"])
        bucket[start] = rng.choice(ODD_VALUES)  # a bucket start of another kind
    elif roll < 0.12:
        rng.choice(page["data"]).pop(start)
    elif roll < 0.18:  # a bucket or page field the records would inherit
        holder = rng.choice([page, rng.choice(page["data"])])
        holder[rng.choice(KEYS[module])] = rng.choice(ODD_VALUES)
    elif roll < 0.22 and page["data"][0]["results"]:
        page["data"][0]["results"][0] = rng.choice((None, 5, "x", [1]))  # not an object
    elif roll < 0.26:
        page["data"][0]["results"] = rng.choice((None, 5, {}, "x"))
    elif roll < 0.3:
        page = {**{start: rng.choice(ODD_VALUES)}, **page}  # before data: inherited
    elif roll < 0.34:
        page["has_more"] = rng.choice((True, "true", 1, None))
    return page


def render(page: dict, rng: random.Random) -> str:
    text = json.dumps(page, indent=rng.choice((None, None, 1, 2)),
                      ensure_ascii=rng.random() < 0.3)
    roll = rng.random()
    if roll < 0.05:
        text = "\ufeff" + text
    elif roll < 0.08:
        text = text.replace('"model"', '"mod\\u0065l"', 1)  # a key spelled with escapes
    elif roll < 0.1:
        text += " trailing"
    elif roll < 0.12:
        text = text.replace("0, ", "Inf, ", 1)
    elif roll < 0.14:
        text = text.replace('"results": [', '"results": [null, ', 1)
    return text + ("\n" if rng.random() < 0.5 else "")


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), module=st.sampled_from((openai_usage, anthropic_usage)),
       batch=st.sampled_from((3, 8192)))
def test_hostile_pages_import_alike(tmp_path, monkeypatch, seed, module, batch):
    rng = random.Random(seed)
    path = tmp_path / f"page-{seed}.json"
    path.write_text(render(hostile_page(module, rng), rng), encoding="utf-8")
    monkeypatch.setattr(foreign, "BATCH", batch)
    options = {"customer_from": ["api_key_id", "workspace_id"]} if rng.random() < 0.1 else {}
    same(module, path, monkeypatch, **options)


def test_broken_pages_fail_or_import_alike(tmp_path, monkeypatch):
    for module, page in ((openai_usage, openai_page), (anthropic_usage, anthropic_page)):
        rng = random.Random(3)
        good = page([[template(module, i, rng) for i in range(4)]])
        text = json.dumps(good)
        record = json.dumps(good["data"][0]["results"][0])
        for variant in (text[:-9], text + " trailing", text + "\n" + text, "[" + text + "]",
                        text.replace(record, record[:-1] + ', "model": "x"}', 1),  # twice
                        text.replace(record, record[:-1] + ', "z": NaN}', 1),
                        text.replace(record, record[:-1] + ', "z": Inf}', 1),
                        text.replace(record, record[:-1] + ', "z": -NaN}', 1),
                        text.replace(record, record[:-1] + ', "z": "\\ud800"}', 1),
                        text.replace(record, record[:-1] + ', "z": "a\tb"}', 1),
                        text.replace(record, record[:-1] + ', "z": "\\u0000tb0"}', 1),
                        text.replace('"data": [', '"data": [null, 5, ', 1),
                        text.replace('"data"', '"data": [], "data"', 1),
                        text.replace(record, "{}", 1), "", "{}", '{"data": {}}',
                        '{"data": [{"results": [{"a": 1}]}]}'):
            path = tmp_path / "broken.json"
            path.write_text(variant, encoding="utf-8")
            same(module, path, monkeypatch)
        path = tmp_path / "latin1.json"
        path.write_bytes(text.replace('"model": "', '"model": "\xe9', 1).encode("latin-1"))
        same(module, path, monkeypatch)
