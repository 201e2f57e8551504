"""A small book for the close tests: the sample contracts, two months of a few usage
events per customer, purchases, and the providers' cost reports for those events.

``store``: where the book keeps its event-id index (docs/event-index.md): ``cache`` (what
``tokenbooks init`` writes for a new book: a derived index under ``.tokenbooks/``) or
``book`` (a sidecar ``.events.gz`` beside each import file, as older books have).

    >>> ledger = build(tmp_path, store="book")
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from beancount import loader
from click.testing import CliRunner

from tokenbooks.scripts.cli import cli
from tokenbooks.scripts.provider_reports import write_reports

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = ("acme", "globex", "hooli", "initech", "umbrella")
PURCHASES = """date,customer,contract,pack,amount,currency,payment_id
2026-01-02,acme,acme-2026,standard,1000.00,USD,pay-1
2026-01-02,hooli,hooli-2026,starter,200.00,USD,pay-2
2026-01-03,umbrella,umbrella-2026,bulk,2000.00,USD,pay-3
"""


def event(i: int, month: int, day: int, **over: object) -> dict:
    customer = CUSTOMERS[i % 5]
    item: dict[str, object] = {
        "event_id": f"evt-{month:02d}-{i:04d}",
        "timestamp": f"2026-{month:02d}-{day:02d}T1{i % 10}:00:00Z",
        "customer": customer, "model": ("gpt-4o", "gpt-4o-mini")[i % 2], "feature": "chat",
        "input_tokens": 20000 + 100 * i, "cached_input_tokens": 1000,
        "output_tokens": 3000 + i}
    if customer == "globex" and i % 3 == 0:
        item.update(action="ticket_resolved", status="completed")
    item.update(over)
    return item


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def month_events(month: int, days: int) -> list[dict]:
    return [event(i, month, 1 + i % days) for i in range(10 * days)]


STORES = ("cache", "book")


def build(folder: Path, store: str = "cache") -> Path:
    """A book in ``folder`` with January and February imported; returns main.beancount."""
    runner = CliRunner()
    result = runner.invoke(cli, ["init", str(folder / "book"), "--start", "2026-01-01",
                                 "--index", store])
    assert result.exit_code == 0, result.output
    book = folder / "book"
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, book / "contracts" / sub)
    sources = folder / "sources"
    sources.mkdir()
    write_jsonl(sources / "usage-2026-01.jsonl", month_events(1, 4))
    write_jsonl(sources / "usage-2026-02.jsonl", month_events(2, 3))
    (sources / "purchases.csv").write_text(PURCHASES, encoding="utf-8")
    write_reports(sources, book / "contracts")
    ledger = book / "main.beancount"
    result = runner.invoke(cli, ["import", "--ledger", str(ledger),
                                 *sorted(map(str, sources.iterdir()))])
    assert result.exit_code == 0, result.output
    return ledger


def closed_copy(folder: Path, *periods: str, store: str = "cache") -> Path:
    """A book built in ``folder`` with ``periods`` closed, in order; returns its folder."""
    ledger = build(folder, store)
    for period in periods:
        result = close(ledger, period)
        assert result.exit_code == 0, result.output
    return ledger.parent


def copy_book(book: Path, folder: Path) -> Path:
    """A copy of the book folder ``book`` as ``folder/book`` (a test's own to change)."""
    copy = folder / "book"
    shutil.copytree(book, copy, ignore=shutil.ignore_patterns("*.picklecache"))
    return copy


def close(ledger: Path, period: str, *extra: str):
    return CliRunner().invoke(cli, ["close", "--ledger", str(ledger), "--period", period,
                                    *extra])


def errors(ledger: Path) -> list[str]:
    _, errs, _ = loader._load([(str(ledger), True)], None, None, None)
    return [f"{e.source.get('filename')}:{e.source.get('lineno')}: {e.message}" for e in errs]


def snapshot(book: Path) -> dict[str, bytes]:
    return {str(p.relative_to(book)): p.read_bytes() for p in sorted(book.rglob("*"))
            if p.is_file() and not p.name.endswith(".picklecache")}
