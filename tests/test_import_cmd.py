"""``tokenbooks import``: files written, bean-check, idempotent and byte-identical re-runs,
overlaps, quarantine files, unreadable sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from beancount import loader
from click.testing import CliRunner

from tokenbooks.importers.index import read_sidecar
from tokenbooks.plugins.entries.purchases import parse_purchases
from tokenbooks.plugins.entries.usage import parse_usage
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def usage_records(entries: list) -> tuple[list, list]:
    table = parse_usage(entries)
    return table.records(), table.bad


def purchase_records(entries: list) -> tuple[list, list]:
    found, bad = parse_purchases(entries)
    return [purchase for purchase, _ in found], bad


CUSTOMERS = ("acme", "globex", "hooli", "initech", "umbrella")


def event(i: int, **over) -> dict:
    customer = CUSTOMERS[i % 5]
    item = {"event_id": f"evt-{i:05d}", "timestamp": f"2026-03-{1 + i % 4:02d}T1{i % 10}:00:00Z",
            "customer": customer, "model": ("gpt-4o", "gpt-4o-mini")[i % 2],
            "feature": "chat", "input_tokens": 1000 + i, "cached_input_tokens": 100,
            "output_tokens": 50 + i}
    if customer == "globex" and i % 3 == 0:
        item.update(action="ticket_resolved", status="completed")
    item.update(over)
    return item


def jsonl(path: Path, events: list) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                            for e in events), encoding="utf-8")
    return path


PURCHASES = """date,customer,contract,pack,amount,currency,payment_id
2026-02-01,acme,acme-2026,standard,1000.00,USD,pay-1
2026-02-01,hooli,hooli-2026,starter,200.00,USD,pay-2
2026-02-03,umbrella,umbrella-2026,bulk,2000.00,USD,
"""


def new_book(folder: Path, store: str = "book") -> Path:
    """A new book with the sample contracts. ``store="book"``: the event-id index as
    sidecars, which these tests inspect (``tokenbooks init`` makes ``cache`` books,
    tests/test_event_index.py)."""
    runner = CliRunner()
    result = runner.invoke(cli, ["init", str(folder), "--start", "2026-01-01",
                                 "--index", store])
    assert result.exit_code == 0, result.output
    for sub in ("customers", "price-books", "costs"):
        for path in (ROOT / "contracts" / sub).glob("*.yaml"):
            shutil.copy(path, folder / "contracts" / sub)
    return folder / "main.beancount"


def run(ledger: Path, *sources: Path, extra: tuple[str, ...] = ()) -> object:
    return CliRunner().invoke(cli, ["import", "--ledger", str(ledger), *extra,
                                    *map(str, sources)])


def snapshot(book: Path) -> dict[str, bytes]:
    return {str(p.relative_to(book)): p.read_bytes()
            for sub in ("imports", "documents") for p in sorted((book / sub).rglob("*"))
            if p.is_file()}


def check(ledger: Path) -> list:
    entries, errors, _ = loader.load_file(str(ledger))
    assert [e.message for e in errors] == []
    return entries


@pytest.fixture
def sources(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "sources"
    folder.mkdir()
    purchases = folder / "purchases.csv"
    purchases.write_text(PURCHASES, encoding="utf-8")
    return {"usage": jsonl(folder / "usage-march.jsonl", [event(i) for i in range(60)]),
            "purchases": purchases}


def test_import_writes_the_book_and_bean_check_passes(tmp_path, sources):
    ledger = new_book(tmp_path / "book")
    result = run(ledger, sources["usage"], sources["purchases"])
    assert result.exit_code == 0, result.output
    assert "usage-march.jsonl" in result.output and "purchases.csv" in result.output
    book = ledger.parent
    files = sorted(p.name for p in (book / "imports").iterdir())
    usage_file = next(n for n in files if n.startswith("2026-03.usage-march.jsonl."))
    assert usage_file.endswith(".beancount")
    assert usage_file.replace(".beancount", ".events.gz") in files
    assert any(n.startswith("2026-02.purchases.csv.") for n in files)
    assert len(read_sidecar(book / "imports" / usage_file.replace(".beancount", ".events.gz"))
               ) == 60
    archived = list((book / "documents" / "Income" / "Revenue" / "Usage").iterdir())
    assert [p.name[11:] for p in archived] == [
        f"usage-march.{usage_file.split('.')[-2]}.jsonl"]
    assert (book / "documents" / "Assets" / "Bank").is_dir()
    entries = check(ledger)
    usage, bad = usage_records(entries)
    assert bad == [] and sum(u.events for u in usage) == 60
    bought, bad = purchase_records(entries)
    assert bad == [] and sorted(p.payment_id for p in bought) == ["", "pay-1", "pay-2"]


def test_rerun_is_idempotent_and_byte_identical(tmp_path, sources):
    ledger = new_book(tmp_path / "book")
    assert run(ledger, sources["usage"], sources["purchases"]).exit_code == 0
    before = snapshot(ledger.parent)
    again = run(ledger, sources["usage"], sources["purchases"], extra=("--json",))
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output)
    assert [(s["read"], s["imported"], s["duplicates"], s["quarantined"]) for s in summary] == [
        (60, 0, 60, 0), (3, 0, 3, 0)]
    assert snapshot(ledger.parent) == before
    other = new_book(tmp_path / "other")
    assert run(other, sources["usage"], sources["purchases"]).exit_code == 0
    assert snapshot(other.parent) == before


def test_overlapping_and_late_files_never_double_count(tmp_path, sources):
    ledger = new_book(tmp_path / "book")
    assert run(ledger, sources["usage"]).exit_code == 0
    late = jsonl(tmp_path / "late.jsonl", [event(i) for i in range(40, 90)])
    result = run(ledger, late, extra=("--json",))
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.output)
    assert (summary["read"], summary["imported"], summary["duplicates"]) == (50, 30, 20)
    entries = check(ledger)
    usage, _ = usage_records(entries)
    assert sum(u.events for u in usage) == 90
    assert sum(u.input_tokens for u in usage) == sum(1000 + i for i in range(90))
    days = {u.date for u in usage if u.ref.split(":")[0].endswith(".beancount")
            and "late.jsonl" in u.ref}
    assert days  # the late file added entries to days already booked
    # The same events again, in CSV this time: all duplicates.
    csv_path = tmp_path / "again.csv"
    names = ["event_id", "timestamp", "customer", "model", "feature", "input_tokens",
             "cached_input_tokens", "output_tokens", "action", "status"]
    rows = [",".join(str(event(i).get(n, "")) for n in names) for i in range(90)]
    csv_path.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (summary,) = json.loads(run(ledger, csv_path, extra=("--json",)).output)
    assert (summary["read"], summary["imported"], summary["duplicates"]) == (90, 0, 90)


def test_quarantine_file_and_later_fix(tmp_path):
    ledger = new_book(tmp_path / "book")
    rows = [event(0), "{not json", event(1, input_tokens=-3), event(2, customer="newco"),
            event(3, action="ticket_resolved", status=None), event(4)]
    rows[4] = {k: v for k, v in rows[4].items() if v is not None}
    source = jsonl(tmp_path / "mixed.jsonl", rows)
    result = run(ledger, source, extra=("--json",))
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.output)
    assert (summary["read"], summary["imported"], summary["quarantined"]) == (6, 2, 4)
    quarantine = next((ledger.parent / "imports").glob("*.quarantine.jsonl"))
    lines = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(q["line"], q["field"]) for q in lines] == [
        (2, "(line)"), (3, "input_tokens"), (4, "customer"), (5, "status")]
    assert lines[0]["content"] == "{not json" and "newco" in lines[2]["reason"]
    assert run(ledger, source, extra=("--strict",)).exit_code == 1
    # The contract of the new customer arrives: the row it held back is imported now.
    globex = (ROOT / "contracts" / "customers" / "globex.yaml").read_text()
    newco = globex.replace("customer: globex", "customer: newco").replace(
        "name: Globex Inc", "name: NewCo").replace("id: globex-2026", "id: newco-2026")
    (ledger.parent / "contracts" / "customers" / "newco.yaml").write_text(newco)
    (summary,) = json.loads(run(ledger, source, extra=("--json",)).output)
    assert (summary["imported"], summary["duplicates"], summary["quarantined"]) == (1, 2, 3)
    assert any(name.endswith("-2.beancount") for name in summary["written"])
    usage, _ = usage_records(check(ledger))
    assert sum(u.events for u in usage) == 3


def test_unreadable_source_is_an_error_and_nothing_is_written(tmp_path, sources):
    ledger = new_book(tmp_path / "book")
    before = snapshot(ledger.parent)
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    result = run(ledger, sources["usage"], binary)
    assert result.exit_code != 0
    assert "blob.jsonl" in result.output and "no importer recognizes" in result.output
    broken = jsonl(tmp_path / "broken.jsonl", ['{"event_id": 1', "{{{", "nope"])
    result = run(ledger, sources["usage"], broken)
    assert result.exit_code != 0
    assert "broken.jsonl" in result.output and "nothing was written" in result.output
    missing = run(ledger, tmp_path / "missing.jsonl")
    assert missing.exit_code != 0 and "missing.jsonl" in missing.output
    assert snapshot(ledger.parent) == before


def test_one_file_per_source_per_month_with_its_own_ids(tmp_path):
    import hashlib

    ledger = new_book(tmp_path / "book")
    events = [event(i, timestamp=f"2026-0{2 + i % 2}-1{i % 10}T08:00:00+00:00")
              for i in range(20)]
    source = jsonl(tmp_path / "two-months.jsonl", events)
    assert run(ledger, source).exit_code == 0
    imports = ledger.parent / "imports"
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    names = sorted(p.name for p in imports.glob("*two-months*"))
    assert names == [f"2026-02.two-months.jsonl.{sha[:8]}.beancount",
                     f"2026-02.two-months.jsonl.{sha[:8]}.events.gz",
                     f"2026-03.two-months.jsonl.{sha[:8]}.beancount",
                     f"2026-03.two-months.jsonl.{sha[:8]}.events.gz"]
    assert read_sidecar(imports / names[1]) == [f"evt-{i:05d}" for i in range(0, 20, 2)]
    assert read_sidecar(imports / names[3]) == [f"evt-{i:05d}" for i in range(1, 20, 2)]
    text = (imports / names[0]).read_text()
    assert f'sha256: "{sha}"' in text and "2026-03-" not in text.split("\n\n", 1)[1]
    usage, _ = usage_records(check(ledger))
    assert sum(u.events for u in usage) == 20


def test_importer_settings_from_importers_yaml(tmp_path):
    ledger = new_book(tmp_path / "book")
    samples = ROOT / "tests" / "data" / "importers"
    spend = shutil.copy(samples / "litellm_spendlogs.csv", tmp_path / "spend.csv")
    payments = shutil.copy(samples / "stripe_payments.csv", tmp_path / "payments.csv")
    without = json.loads(run(ledger, spend, extra=("--json", "--no-archive")).output)
    assert (without[0]["imported"], without[0]["quarantined"]) == (0, 2)
    (ledger.parent / "importers.yaml").write_text(
        "litellm:\n  customers: {cust_00017: acme, team-acme-data: globex}\n"
        "stripe:\n  customers: {cus_QrvQguzkIK8zTj: hooli}\n"
        "  packs: {'Credit pack: 2,000 credits': starter}\n", encoding="utf-8")
    result = run(ledger, spend, payments, extra=("--json", "--no-archive"))
    assert result.exit_code == 0, result.output
    spent, paid = json.loads(result.output)
    assert (spent["importer"], spent["imported"], spent["quarantined"]) == (
        "tokenbooks.importers.litellm.Importer", 2, 0)
    # Stripe: hooli has no contract in force in November 2025; the other charge has no
    # mapped customer. Both are quarantined, with reasons naming what was expected.
    assert (paid["importer"], paid["read"], paid["quarantined"]) == (
        "tokenbooks.importers.stripe.Importer", 2, 2)
    quarantine = next((ledger.parent / "imports").glob("payments.csv.*.quarantine.jsonl"))
    reasons = [json.loads(line)["reason"] for line in quarantine.read_text().splitlines()]
    assert "no contract in force on 2025-11-03" in reasons[0]
    assert "expected a customer" in reasons[1]
    assert not (ledger.parent / "documents" / "Assets").exists()


# --- importers.yaml mistakes, interrupted imports, the archive, the writer --------------


@pytest.mark.parametrize("text, expected", [
    ("litellm: !!python/object/apply:os.system ['echo owned']\n",
     "importers.yaml:1: not valid importer settings: could not determine a constructor"),
    ("- litellm\n- stripe\n", "expected a mapping of importers"),
    ("stripe: {account: bank}\n", "stripe.account: expected a Beancount account name"),
    ("purchases: {account: 'Assets:Bank:'}\n", "purchases.account: expected a Beancount"),
    ("stripee: {}\n", "unknown importer 'stripee'"),
    ("litellm: {customer: {a: acme}}\n", "litellm.customer: unknown setting"),
    ("litellm: [1, 2]\n", "litellm: expected a mapping of settings"),
    ("stripe: {packs: [starter]}\n", "stripe.packs: expected a mapping of names"),
    ("litellm: {customers: {a: acme}\n", "importers.yaml:2: not valid importer settings"),
])
def test_importers_yaml_mistakes_are_one_clear_error(tmp_path, sources, text, expected):
    ledger = new_book(tmp_path / "book")
    (ledger.parent / "importers.yaml").write_text(text, encoding="utf-8")
    before = snapshot(ledger.parent)
    result = run(ledger, sources["usage"])
    assert result.exit_code == 1, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and "nothing was imported" in line
    assert snapshot(ledger.parent) == before


def test_an_import_file_without_its_sidecar_is_written_again_and_booked_once(tmp_path,
                                                                             sources):
    """A run that stopped between an import file and its sidecar: the file is not booked
    (its events are imported again, not counted as duplicates of themselves), and the
    re-run writes the same file under the same name, then the sidecar."""
    ledger = new_book(tmp_path / "book")
    assert run(ledger, sources["usage"], sources["purchases"]).exit_code == 0
    done = snapshot(ledger.parent)
    (sidecar,) = (ledger.parent / "imports").glob("*.events.gz")
    sidecar.unlink()
    result = run(ledger, sources["usage"], sources["purchases"], extra=("--json",))
    assert result.exit_code == 0, result.output
    usage = json.loads(result.stdout)[0]
    assert (usage["imported"], usage["duplicates"]) == (60, 0)
    assert [Path(p).name for p in usage["written"]] == [
        sidecar.name.replace(".events.gz", ".beancount"), sidecar.name]
    assert snapshot(ledger.parent) == done
    usage_entries, _ = usage_records(check(ledger))
    assert sum(u.events for u in usage_entries) == 60
    # Without re-importing its source, every import says what is unfinished.
    sidecar.unlink()
    other = jsonl(tmp_path / "other.jsonl", [event(i) for i in range(100, 110)])
    result = run(ledger, other)
    assert result.exit_code == 0
    assert f"has no event-id index ({sidecar.name})" in result.output
    assert "import its source again" in result.output


def test_an_archived_copy_with_the_wrong_sha256_is_copied_again(tmp_path, sources):
    ledger = new_book(tmp_path / "book")
    assert run(ledger, sources["usage"]).exit_code == 0
    done = snapshot(ledger.parent)
    (copy,) = (ledger.parent / "documents" / "Income" / "Revenue" / "Usage").iterdir()
    copy.write_bytes(copy.read_bytes()[:100])  # cut short (an old, non-atomic copy)
    result = run(ledger, sources["usage"], extra=("--json",))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["written"] == [
        str(copy.relative_to(ledger.parent))]
    assert snapshot(ledger.parent) == done
    result = run(ledger, sources["usage"], extra=("--json",))  # whole: kept as it is
    assert json.loads(result.stdout)[0]["written"] == []


def test_leftover_temporary_files_are_removed_and_modes_are_a_plain_writes(tmp_path,
                                                                          sources):
    from tokenbooks.scripts import writing

    ledger = new_book(tmp_path / "book")
    book = ledger.parent
    (book / "imports" / ".2026-03.x.beancount.abc123.tokenbooks.tmp").write_text("; half")
    (book / "documents" / "Assets").mkdir(parents=True)
    (book / "documents" / "Assets" / ".2026.x.csv.k.tokenbooks.tmp").write_text("half")
    kept = book / "imports" / ".notes.tmp"  # not ours: left alone
    kept.write_text("mine")
    assert run(ledger, sources["usage"]).exit_code == 0
    assert not [p for p in book.rglob("*") if writing.is_temporary(p)]
    assert kept.exists()
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for path in (book / "imports").glob("2026-03.*"):
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777, path
