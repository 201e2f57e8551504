"""Month grain at import: the usage core merging the days by span (``UsageCore(spans=)``,
the text fast path ``tokenbooks import`` takes) writes the bytes of a day-grain import
merged by ``entries.usage.at_grain`` (what ``tokenbooks regrain`` does), over random
events: several customers with hostile names, days of two months, models, actions,
zero-token failed and unbilled events, cut dates, customers at day grain, late usage of
a closed month, months spilled to disk and a source that comes back to a month."""

from __future__ import annotations

import datetime
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenbooks.importers import late
from tokenbooks.importers.usage import UsageCore
from tokenbooks.plugins.entries.usage import at_grain
from tokenbooks.plugins.rules.grain import Cuts, Spans
from tokenbooks.scripts.import_cmd import _OpenSpans, write

START = datetime.date(2026, 1, 1)
CUSTOMERS = ("acme", 'gl"obex', "in\\itech", "hööli 😀")
CLOSED = datetime.date(2026, 1, 31)


@st.composite
def workloads(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 120))
    events = []
    for i in range(n):
        kind = draw(st.sampled_from(["tokens", "tokens", "failed", "unbilled", "action"]))
        event = {"event_id": f"e{i:04d}", "customer": draw(st.sampled_from(CUSTOMERS)),
                 "timestamp": f"{START + datetime.timedelta(days=draw(st.integers(0, 58)))}"
                              f"T{draw(st.integers(0, 23)):02d}:00:00Z",
                 "model": draw(st.sampled_from(["gpt-4o", "claude", 'm"x'])),
                 "feature": draw(st.sampled_from(["", "chat", "se\\arch"]))}
        if kind in ("tokens", "action", "unbilled"):
            tokens = draw(st.integers(0, 5000))
            event.update(input_tokens=tokens, cached_input_tokens=tokens // 3,
                         output_tokens=draw(st.integers(0, 900)))
        if kind == "unbilled":
            event["unbilled"] = True
        if kind in ("failed", "action"):
            event.update(action="run", status=draw(st.sampled_from(
                ["failed", "completed", "partial"] if kind == "action" else ["failed"])))
        if draw(st.booleans()) and kind == "tokens":
            event["web_search_calls"] = draw(st.integers(1, 3))
        events.append(event)
    cuts = {}
    for customer in CUSTOMERS:
        how = draw(st.sampled_from(["cuts", "cuts", "day", "none"]))
        if how == "cuts":
            offsets = draw(st.sets(st.integers(0, 58), max_size=5))
            cuts[customer] = Cuts(customer, tuple(sorted(
                START + datetime.timedelta(days=d) for d in offsets)))
        elif how == "day":
            cuts[customer] = Cuts(customer, day_grain="top_up")
        # none: no contract, day grain
    return {"events": events, "cuts": cuts, "closed": draw(st.booleans()),
            "order": draw(st.sampled_from(["sorted", "shuffled"])),
            "batch": draw(st.integers(1, 40)), "seed": draw(st.integers(0, 2**16))}


def imported(book: Path, work: dict, spans: Spans | None) -> list:
    """The import files ``tokenbooks import`` writes for ``work``: at month grain through
    the core (``spans``), or at day grain then merged by ``at_grain``."""
    closed = CLOSED if work["closed"] else None
    grain = Spans(work["cuts"])
    events = sorted(work["events"], key=lambda e: (e["timestamp"], e["event_id"]))
    if work["order"] == "shuffled":
        random.Random(work["seed"]).shuffle(events)
    core = UsageCore(set(CUSTOMERS), spans=_OpenSpans(grain, closed) if spans else None)
    core.spill = book / ".tokenbooks" / "spill"
    rows = [(line, str(e), e) for line, e in enumerate(events, start=1)]
    for start in range(0, len(rows), work["batch"]):
        core.feed_rows(rows[start:start + work["batch"]])
    result = core.finish(Path("usage.jsonl"), "ab" * 32, "tokenbooks.importers.usage_jsonl")
    assert result.quarantined == 0, result.quarantine[:2]
    if closed is not None and (result.first_day() or closed) <= closed:
        late.redate(result.entries, closed)  # as ``run_import`` does
    if spans is None:
        result.entries = at_grain(result.entries, grain)
    (book / "imports").mkdir(parents=True)
    write(book, result)
    return sorted((p.name, p.read_bytes()) for p in (book / "imports").iterdir())


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(workloads())
def test_month_grain_through_the_core_writes_what_at_grain_writes(work: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hook = imported(Path(folder) / "hook", work, spans=Spans(work["cuts"]))
        merged = imported(Path(folder) / "merged", work, spans=None)
    assert [name for name, _ in hook] == [name for name, _ in merged]
    for (name, ours), (_, theirs) in zip(hook, merged, strict=True):
        if name.endswith(".beancount"):
            assert ours.decode() == theirs.decode(), name  # (a readable difference)
        assert ours == theirs, name


def test_a_span_of_days_with_and_without_tokens_makes_two_entries(tmp_path: Path) -> None:
    """The worked example: acme's January, cut on the 10th; a failed action alone on the
    4th and the 12th, tokens on the 3rd, 5th, 11th and 12th (with the failed run)."""
    def ev(n: int, d: int, **kw: object) -> dict:
        return {"event_id": f"e{n}", "timestamp": f"2026-01-{d:02d}T10:00:00Z",
                "customer": "acme", "model": "m", "action": "run", "status": "failed",
                **kw}

    events = [ev(1, 3, input_tokens=100, status="completed"), ev(2, 4),
              ev(3, 5, input_tokens=50, output_tokens=7, status="completed"),
              ev(4, 11, input_tokens=10, status="completed"), ev(5, 12),
              ev(6, 12, input_tokens=1, status="completed")]
    spans = Spans({"acme": Cuts("acme", (datetime.date(2026, 1, 10),))})
    core = UsageCore({"acme"}, spans=spans)
    core.feed_rows([(i, "{}", e) for i, e in enumerate(events, start=1)])
    result = core.finish(Path("u.jsonl"), "0" * 64, "test")
    assert [(e.date.day, e.meta.get("until"), int(e.meta.get("input_tokens", 0)),
             int(e.meta["events"]), int(e.meta.get("completed", 0)),
             int(e.meta.get("failed", 0)), e.meta["first_event"], e.meta["last_event"])
            for e in result.entries] == [
        (3, datetime.date(2026, 1, 5), 150, 2, 2, 0, "e1", "e3"),  # tokens: 3rd, 5th
        (4, None, 0, 1, 0, 1, "e2", "e2"),  # the 4th, no tokens: apart
        (11, datetime.date(2026, 1, 12), 11, 3, 2, 1, "e4", "e6")]  # after the cut
    assert list(result.entries[0].meta)[2:] == [
        "input_tokens", "output_tokens", "events", "completed", "until", "source",
        "sha256", "first_event", "last_event"]


def test_a_purchases_file_of_the_same_run_cuts_the_usage_read_before_it(tmp_path: Path
                                                                        ) -> None:
    """The sample at month grain, March's usage imported again with a purchases file of
    acme's on 2026-03-20 in one run, the usage named first: the usage sources are read
    last, so the purchase cuts acme's March (an entry from the 20th, none across it, no
    guard error at bean-check)."""
    import shutil

    from click.testing import CliRunner
    from samplekit import copy_sample

    from tokenbooks.scripts import loading
    from tokenbooks.scripts.cli import cli

    ledger = copy_sample(tmp_path / "book")
    book = ledger.parent
    assert CliRunner().invoke(cli, ["regrain", "--ledger", str(ledger), "--grain",
                                    "month"]).exit_code == 0
    usage = book / "imports" / "2026-03.usage-2026-03.jsonl.549cd449.beancount"
    for path in (usage, usage.with_suffix(".events.gz")):
        path.unlink(missing_ok=True)
    for path in (book / ".tokenbooks").rglob("2026-03.usage-2026-03*"):
        path.unlink()  # (a derived index of the file, if the sample has one)
    source = tmp_path / "usage-2026-03.jsonl"
    shutil.copyfile(next((book / "documents").rglob("*usage-2026-03*")), source)
    purchases = tmp_path / "purchases-late.csv"
    purchases.write_text("date,customer,contract,pack,amount,currency,payment_id,credits,"
                         "expires,kind\n2026-03-20,acme,acme-2026,standard,1000.00,USD,"
                         "pay-acme-late,,,\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), str(source),
                                      str(purchases)])
    assert result.exit_code == 0, result.output
    text = usage.read_text(encoding="utf-8")
    assert '\n2026-03-20 custom "usage" "acme"' in text
    assert "  until: 2026-03-19\n" in text
    _, errors, _ = loading.load(ledger)
    assert not [e.message for e in errors if "regrain" in e.message]
