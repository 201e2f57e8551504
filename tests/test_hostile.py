"""Hostile input: names that would break the book's syntax, counts past int64, amounts
past the decimal context, repeated CSV columns, formulas in CSV cells, foreign Host
headers. Each is escaped, quarantined with its reason or refused with a clear error:
never a traceback, never a corrupted file, never a silent pick."""

from __future__ import annotations

import csv
import datetime
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from beancount import loader
from beancount.core import data
from beancount.parser import grammar, parser, printer
from click.testing import CliRunner
from cogs_book import ledger_text, make_contracts, revenue, usage

from tokenbooks.importers import (
    litellm,
    purchases,
    stripe,
    usage_csv,
    usage_daily,
    usage_jsonl,
    usage_parquet,
)
from tokenbooks.importers.usage import (
    MAX_COUNT,
    MAX_NAME,
    UnreadableSource,
    UsageCore,
    unique_columns,
)
from tokenbooks.plugins.entries.bills import bill_entry, line_from_entry
from tokenbooks.plugins.entries.build import format_entry
from tokenbooks.plugins.entries.purchases import purchase_entry, purchase_from_entry
from tokenbooks.plugins.entries.usage import parse_usage, usage_from_entry
from tokenbooks.plugins.reports.tables import Table, csv_cell, to_csv
from tokenbooks.plugins.rules.bills import BillLine
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.records import Purchase
from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = load_contracts(ROOT / "contracts")[0]
DAY = "2026-03-01T10:00:00Z"

HOSTILE = ['gpt"4o', "chat\\", "\\", '"', 'a\\"b', "naïve ☃ 模型", "a; b ; c", "end\\\\",
           '";include "x', "x" * MAX_NAME]
CONTROLS = ["line\nbreak", "carriage\rreturn", "tab\there", "del\x7fete", "nul\x00",
            "c1\x85next"]


def event(i: int, **over: object) -> dict:
    base = {"event_id": f"e{i:05d}", "timestamp": DAY, "customer": "acme",
            "model": "gpt-4o", "feature": "chat", "input_tokens": 10, "output_tokens": 5}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def reparse(entries: list) -> list:
    text = "".join(format_entry(e) for e in entries)
    parsed, errors, _ = parser.parse_string(text)
    assert errors == [], (errors, text)
    return parsed


def without_ref(record):
    return record._replace(ref="")


# -- 1. escaping ---------------------------------------------------------------------------


def test_beancount_printer_leaves_custom_strings_raw():
    """The bug format_entry works around (if Beancount fixes it, format_entry's escape
    would double: this test then fails and says so)."""
    entry = data.Custom(data.new_metadata("x", 0), datetime.date(2026, 1, 1), "usage",
                        [grammar.ValueType('a"b', str)])
    assert '"a"b"' in printer.format_entry(entry)
    assert '"a\\"b"' in format_entry(entry)


@pytest.mark.parametrize("field", ["model", "feature", "action", "user", "workflow"])
def test_hostile_names_round_trip_through_write_and_parse(tmp_path, field):
    events = []
    for i, name in enumerate(HOSTILE):
        over: dict[str, object] = {field: name}
        if field == "action":
            over["status"] = "completed"
        events.append(event(i, **over))
    result = usage_jsonl.Importer(CONTRACTS).run(write_jsonl(tmp_path / "h.jsonl", events))
    assert result.quarantine == []
    parsed = reparse(result.entries)
    assert len(parsed) == len(result.entries)
    for written, read in zip(result.entries, parsed, strict=True):
        assert [v.value for v in read.values] == [v.value for v in written.values]
        assert without_ref(usage_from_entry(read)) == without_ref(usage_from_entry(written))
    if field in ("model", "feature", "action"):
        position = ("model", "feature", "action").index(field) + 1
        assert sorted(e.values[position].value for e in parsed) == sorted(HOSTILE)
    elif field == "workflow":  # not aggregated on: checked, not kept
        assert all("workflow" not in e.meta for e in parsed)


def test_a_hostile_name_in_a_written_book_loads(tmp_path):
    """The written import file, loaded with the plugins: the entry is priced like any."""
    contracts = make_contracts(tmp_path)
    result = usage_jsonl.Importer(contracts).run(write_jsonl(
        tmp_path / "h.jsonl", [event(1, customer="globex", feature='say "hi"\\')]))
    body = "".join(format_entry(e) for e in result.entries)
    entries, errors, _ = loader.load_string(ledger_text(contracts, body))
    assert errors == []
    (read,) = parse_usage(entries).records()
    assert read.feature == 'say "hi"\\' and read.input_tokens == 10


def test_bill_lines_and_purchases_round_trip(tmp_path):
    line = BillLine(provider="openai", day=datetime.date(2026, 1, 5),
                    amount=Decimal("1.25"), currency="USD", key='openai|2026-01-05|"x"\\',
                    label='gpt-4o "input"\\')
    (read,) = reparse([bill_entry(line, {"source": "r.json", "line_item": 'a"\\'})])
    ref = f"{read.meta['filename']}:{read.meta['lineno']}"
    assert line_from_entry(read) == BillLine(**{**line.__dict__, "ref": ref})
    purchase = Purchase(date=datetime.date(2026, 1, 3), customer="acme",
                        contract="acme-2026", pack='std "x"\\', amount=Decimal("10.00"),
                        currency="USD", payment_id='pay"1\\')
    (read,) = reparse([purchase_entry(purchase, 'Acme "Corp"\\', {"source": "p.csv"})])
    assert purchase_from_entry(read).payment_id == 'pay"1\\'
    assert read.payee == 'Acme "Corp"\\' and read.narration == 'Credit purchase: std "x"\\'


def test_format_entry_prints_plain_entries_as_beancounts_printer(tmp_path):
    """The lock's fingerprints use Beancount's printer: for the entries of a book
    without quotes or backslashes in custom values, both print the same bytes."""
    result = usage_jsonl.Importer(CONTRACTS).run(write_jsonl(
        tmp_path / "p.jsonl", [event(i, feature=f"f{i % 3}") for i in range(9)]))
    line = BillLine(provider="openai", day=datetime.date(2026, 1, 5), amount=Decimal("1"),
                    currency="USD", key="k", label="gpt-4o, input")
    for entry in [*result.entries, bill_entry(line, {"source": "r.json"})]:
        assert format_entry(entry) == printer.format_entry(entry)


# -- 2. bounds: names ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "customer", "model", "feature", "action",
                                   "user", "workflow"])
def test_names_with_control_characters_or_too_long_are_quarantined(tmp_path, field):
    bad = [*CONTROLS, "y" * (MAX_NAME + 1)]

    def rows(names: list[str]) -> list[dict]:
        events = [event(0)]
        for i, name in enumerate(names, start=1):
            over: dict[str, object] = {field: name}
            if field == "action":
                over["status"] = "completed"
            events.append(event(i, **over))
        return events

    def check(result, names: list[str]) -> None:
        assert (result.read, result.imported) == (len(names) + 1, 1)
        assert [q.field for q in result.quarantine] == [field] * len(names)
        reasons = [q.reason for q in result.quarantine]
        assert all("expected no control character" in r for r in reasons[:-1])
        assert reasons[-1] == f"expected at most {MAX_NAME} characters, got {MAX_NAME + 1}"

    events = rows(bad)
    path = write_jsonl(tmp_path / "c.jsonl", events)
    check(usage_jsonl.Importer(CONTRACTS).run(path), bad)
    # CSV: one row per line (a line break inside quotes is a malformed row: see usage_csv)
    in_csv = [name for name in bad if "\n" not in name and "\r" not in name]
    check(usage_csv.Importer(CONTRACTS).run(
        as_csv(write_jsonl(tmp_path / "d.jsonl", rows(in_csv)), tmp_path)), in_csv)
    # the same rows read by Python alone (the authority) say the same
    core = UsageCore(CONTRACTS.customers)
    core.feed_rows((n + 1, json.dumps(e), e) for n, e in enumerate(events))
    assert [q.field for q in core.quarantine] == [field] * len(bad)


def as_csv(jsonl_path: Path, folder: Path) -> Path:
    rows = [json.loads(line) for line in jsonl_path.read_text().splitlines()]
    names = ["event_id", "timestamp", "customer", "model", "feature", "input_tokens",
             "output_tokens", "action", "status", "user", "workflow"]
    path = folder / (jsonl_path.stem + ".csv")
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_name_of_the_bound_is_kept(tmp_path):
    name = "é" * MAX_NAME  # characters, not bytes
    result = usage_jsonl.Importer(CONTRACTS).run(write_jsonl(
        tmp_path / "n.jsonl", [event(1, model=name, event_id="i" * MAX_NAME)]))
    assert result.quarantine == [] and result.entries[0].values[1].value == name


def test_parquet_and_litellm_names_are_bounded(tmp_path):
    table = pa.table({"event_id": ["a", "b", "c"], "timestamp": [DAY] * 3,
                      "customer": ["acme"] * 3, "model": ["gpt-4o", "gpt\n4o", "m" * 201],
                      "input_tokens": [1, 2, 3]})
    pq.write_table(table, tmp_path / "n.parquet")
    result = usage_parquet.Importer(CONTRACTS).run(tmp_path / "n.parquet")
    assert [(q.line, q.field) for q in result.quarantine] == [(2, "model"), (3, "model")]
    path = tmp_path / "spend.csv"
    path.write_text("request_id,startTime,prompt_tokens,completion_tokens,end_user,model\n"
                    "r1,2026-03-01 10:00:00,1,1,acme,gpt-4o\n"
                    'r2,2026-03-01 10:00:00,1,1,acme,"gpt\n4o"\n'
                    "r\x7f3,2026-03-01 10:00:00,1,1,acme,gpt-4o\n", encoding="utf-8")
    result = litellm.Importer(CONTRACTS).run(path)
    assert [(q.field, q.line) for q in result.quarantine] == [("model", 3), ("event_id", 5)]
    assert result.imported == 1


# -- 2. bounds: counts and sums ------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, 2**64 + 5, MAX_COUNT + 1, "1" * 5000,
                                   str(2**63), "-" + "9" * 30])
def test_counts_past_the_bound_are_quarantined(tmp_path, value):
    events = [event(0), event(1, input_tokens=value), event(2, output_tokens=MAX_COUNT)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))  # 5000 digits: no json
    for result in (usage_jsonl.Importer(CONTRACTS).run(path),
                   usage_csv.Importer(CONTRACTS).run(as_csv(path, tmp_path))):
        assert [(q.line, q.field) for q in result.quarantine] in (
            [(2, "input_tokens")], [(3, "input_tokens")])  # CSV: its header is line 1
        reason = result.quarantine[0].reason
        assert "expected at most 1000000000000000 (10^15)" in reason or ">= 0" in reason
        assert len(reason) < 200
        output = sum(usage_from_entry(e).output_tokens for e in result.entries)
        assert output == MAX_COUNT + 5


def test_parquet_counts_past_int64(tmp_path):
    table = pa.table({"event_id": ["a", "b", "c"], "timestamp": [DAY] * 3,
                      "customer": ["acme"] * 3, "model": ["gpt-4o"] * 3,
                      "input_tokens": pa.array([1, 2**63 + 1, MAX_COUNT + 1], pa.uint64()),
                      "output_tokens": pa.array([MAX_COUNT, 1, 1], pa.int64())})
    pq.write_table(table, tmp_path / "u.parquet")
    result = usage_parquet.Importer(CONTRACTS).run(tmp_path / "u.parquet")
    assert [(q.line, q.field) for q in result.quarantine] == [(2, "input_tokens"),
                                                              (3, "input_tokens")]
    (entry,) = result.entries
    assert entry.meta["output_tokens"] == MAX_COUNT


def test_sums_past_int64_are_exact(tmp_path):
    """9,300 events of 10^15 tokens in one batch: 9.3 x 10^18 > 2^63; the sum is exact."""
    n = 9_300
    path = write_jsonl(tmp_path / "sum.jsonl", [
        event(i, input_tokens=MAX_COUNT, cached_input_tokens=MAX_COUNT,
              output_tokens=MAX_COUNT) for i in range(n)])
    result = usage_jsonl.Importer(CONTRACTS).run(path)
    (entry,) = result.entries
    assert n * MAX_COUNT > 2**63
    for name in ("input_tokens", "cached_input_tokens", "output_tokens"):
        assert entry.meta[name] == Decimal(n * MAX_COUNT)
    assert entry.meta["events"] == n
    assert entry.meta["first_event"] == "e00000"
    assert entry.meta["last_event"] == f"e{n - 1:05d}"
    record = usage_from_entry(reparse(result.entries)[0])
    assert record.input_tokens == n * MAX_COUNT


def test_daily_aggregates_are_bounded_and_refuse_repeated_columns(tmp_path):
    path = tmp_path / "daily.csv"
    long_id = "i" * (MAX_NAME + 1)
    path.write_text(
        "customer,date,model,feature,action,user,input_tokens,events,first_event,"
        "last_event,event_ids\n"
        "acme,2026-03-01,gpt-4o,chat,,,5,1,e1,e1,e1\n"
        f"acme,2026-03-01,gpt-4o,chat,,,{MAX_COUNT + 1},1,e2,e2,e2\n"
        'acme,2026-03-01,"gpt\t4o",chat,,,5,1,e3,e3,e3\n'
        f"acme,2026-03-01,gpt-4o,chat,,,5,1,{long_id},{long_id},{long_id}\n",
        encoding="utf-8")
    result = usage_daily.Importer(CONTRACTS).run(path)
    assert [(q.line, q.field) for q in result.quarantine] == [
        (2, "input_tokens"), (3, "model"), (4, "event_ids")]
    assert result.imported == 1
    twice = tmp_path / "twice.csv"
    twice.write_text("customer,date,customer,events,event_ids\n"
                     "acme,2026-03-01,globex,1,e1\n")
    with pytest.raises(UnreadableSource, match="twice.csv: column 'customer' appears "):
        usage_daily.Importer(CONTRACTS).run(twice)


# -- 2. bounds: purchase amounts -----------------------------------------------------------

PURCHASE_HEAD = "date,customer,contract,pack,amount,currency,payment_id,credits\n"


@pytest.mark.parametrize("amount, reason", [
    ("1e999999", "expected an amount of at most 26 digits before the point"),
    ("123456789012345678901234567.00", "at most 26 digits before the point"),
    ("1000.001", "expected an amount > 0 to the cent"),
    ("1.0000000000000000000000000000001", "expected an amount > 0 to the cent"),
    ("1E-999999999", "expected an amount > 0 to the cent"),
    ("NaN", "expected an amount > 0 to the cent"),
    ("-5.00", "expected an amount > 0 to the cent"),
])
def test_purchase_amounts_past_the_context_or_the_cent_are_quarantined(
        tmp_path, amount, reason):
    path = tmp_path / "p.csv"
    path.write_text(PURCHASE_HEAD + f"2026-01-03,acme,,standard,1000.00,USD,pay-1,\n"
                    f"2026-01-04,acme,,standard,{amount},USD,pay-2,\n")
    result = purchases.Importer(CONTRACTS).run(path)
    assert result.imported == 1
    (q,) = result.quarantine
    assert (q.line, q.field) == (3, "amount") and reason in q.reason


def test_purchase_credits_ids_and_stripe_refunds_are_bounded(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(PURCHASE_HEAD + "2026-01-03,acme,,standard,1000.00,USD,pay-1,1e40\n"
                    '2026-01-03,acme,,standard,1000.00,USD,"pay\n2",\n')
    result = purchases.Importer(CONTRACTS).run(path)
    assert [(q.field, q.reason[:20]) for q in result.quarantine] == [
        ("credits", "expected at most 28 "), ("payment_id", "expected no control ")]
    head = (ROOT / "tests/data/importers/stripe_payments.csv").read_text().splitlines()[0]
    names = [*next(csv.reader([head])), "customer (metadata)", "pack (metadata)"]
    row = dict.fromkeys(names, "")
    row.update({"id": "ch_1", "Created (UTC)": "2026-01-03 10:00:00", "Amount": "1000.00",
                "Amount Refunded": "9" * 40, "Currency": "usd", "Status": "Paid",
                "customer (metadata)": "acme", "pack (metadata)": "standard"})
    out = io.StringIO()
    writer = csv.DictWriter(out, names, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    (tmp_path / "stripe.csv").write_text(out.getvalue())
    result = stripe.Importer(CONTRACTS).run(tmp_path / "stripe.csv")
    (q,) = result.quarantine
    assert q.field == "Amount Refunded" and "at most 26 digits" in q.reason


# -- 3. repeated CSV columns ---------------------------------------------------------------


def test_repeated_columns_refuse_every_csv_source(tmp_path):
    cases = [
        (usage_csv.Importer(CONTRACTS), "u.csv",
         f"event_id,timestamp,customer,model,model\ne1,{DAY},acme,a,b\n", "model"),
        (litellm.Importer(CONTRACTS), "l.csv",
         "request_id,startTime,prompt_tokens,completion_tokens,end_user,end_user\n"
         "r1,2026-03-01 10:00:00,1,1,acme,globex\n", "end_user"),
        (purchases.Importer(CONTRACTS), "p.csv",
         "date,customer,contract,pack,amount,amount,currency,payment_id\n"
         "2026-01-03,acme,,standard,1000.00,5.00,USD,pay-1\n", "amount"),
        (stripe.Importer(CONTRACTS, customers={"cus_1": "acme"}), "s.csv",
         "id,Created (UTC),Amount,Currency,Status,Customer ID,Customer ID\n"
         "ch_1,2026-01-03 10:00:00,10.00,usd,Paid,cus_1,cus_2\n", "Customer ID"),
    ]
    for importer, name, text, column in cases:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert importer.identify(str(path))
        with pytest.raises(UnreadableSource) as caught:
            importer.run(path)
        assert str(caught.value).startswith(f"{path}: column {column!r} appears twice")
    table = pa.Table.from_arrays([pa.array(["e1"]), pa.array([DAY]), pa.array(["acme"]),
                                  pa.array(["acme"])],
                                 names=["event_id", "timestamp", "customer", "customer"])
    pq.write_table(table, tmp_path / "u.parquet")
    with pytest.raises(UnreadableSource, match="column 'customer' appears twice"):
        usage_parquet.Importer(CONTRACTS).run(tmp_path / "u.parquet")
    assert unique_columns(["a", "", "b", ""], "x") == ["a", "", "b", ""]  # trailing commas


# -- the book: malformed usage entries and plugin config -----------------------------------


@pytest.mark.parametrize("counts, message", [
    ("  input_tokens: 100\n", "events: is required"),
    ("", "events: is required"),
    ("  input_tokens: 100\n  events: 0\n", "events: expected a whole number >= 1, got "
                                           "Decimal('0')"),
    ("  events: -1\n", "events: expected a whole number >= 1"),
])
def test_usage_without_events_is_a_malformed_entry(tmp_path, counts, message):
    contracts = make_contracts(tmp_path)
    body = (usage("2026-01-05", "acme", "gpt-4o", input_tokens=10)
            + '2026-01-06 custom "usage" "acme" "gpt-4o" "chat" ""\n' + counts)
    entries, errors, _ = loader.load_string(ledger_text(contracts, body))
    table = parse_usage(entries)
    assert len(table.rows) == 1 and len(table.bad) == 1 and message in table.bad[0][1]
    assert any(message in e.message for e in errors), [e.message for e in errors]


def test_an_unknown_hard_stop_is_a_load_error_not_a_traceback(tmp_path):
    contracts = make_contracts(tmp_path)
    text = (f'plugin "tokenbooks.plugins.book" "{{\'contracts\': \'{contracts}\', '
            f"'hard_stop': 'stop'}}\"\n2026-01-01 open Assets:Bank USD\n")
    _, errors, _ = loader.load_string(text)
    assert any("hard_stop: expected 'warning' or 'error', got 'stop'" in e.message
               for e in errors), [e.message for e in errors]


# -- 4. CSV injection ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+1", '=HYPERLINK("http://x","y")', "+1+cmd",
                                  "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "+", "=",
                                  "-12.50abc", "-1e5", "--5"])
def test_formula_cells_are_quoted(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-12.50", "+3", "-0", "12.50", "0.001", "acme",
                                   "a=b", "", Decimal("-12.50"), -5, 7, "2026-01-01"])
def test_numbers_and_plain_text_stay(value):
    assert csv_cell(value) == value


def test_to_csv_escapes_text_cells_and_keeps_negative_amounts():
    table = Table("t", "T", ["name", "amount", "count", "day", "note"], [
        {"name": "=cmd|' /C calc'!A0", "amount": Decimal("-12.50"), "count": -3,
         "day": datetime.date(2026, 1, 1), "note": "-12.50"},
        {"name": "@acme", "amount": None, "note": "\t=1"}])
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows == [["name", "amount", "count", "day", "note"],
                    ["'=cmd|' /C calc'!A0", "-12.50", "-3", "2026-01-01", "-12.50"],
                    ["'@acme", "", "", "", "'\t=1"]]


def test_profitability_csv_escapes_names(tmp_path):
    contracts = make_contracts(tmp_path)
    feature = "=SUM(A1:A9)"
    body = (usage("2026-01-05", "acme", "gpt-4o", feature, input_tokens=1_000_000)
            + revenue("2026-01-31", "acme", "1.00", model="gpt-4o", feature=feature))
    main = tmp_path / "main.beancount"
    main.write_text(ledger_text(contracts, body))
    result = CliRunner().invoke(cli, ["report", "profitability", "--ledger", str(main),
                                      "--period", "2026-01", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    names = {r["name"] for r in rows if r["section"] == "feature"}
    assert names == {"'" + feature}
    acme = next(r for r in rows if r["section"] == "customer" and r["name"] == "acme")
    assert acme["gross_margin"] == "-1.50"  # revenue 1.00, cost 2.50: a number, as it was


# -- 5. serve: the Host header -------------------------------------------------------------


@pytest.fixture
def tiny_book(tmp_path) -> Path:
    main = tmp_path / "main.beancount"
    main.write_text('option "title" "tiny"\n2026-01-01 open Assets:Bank USD\n')
    return main


def test_serve_answers_only_its_own_host(tiny_book):
    from tokenbooks.scripts.serve_cmd import create_app

    app = create_app(tiny_book)
    client = app.test_client()
    slug = app.config["LEDGERS"].first_slug()
    url = f"/{slug}/income_statement/"
    for host in ("evil.example:5000", "evil.example", "127.0.0.1:5001", "localhost",
                 "127.0.0.1.evil.example:5000", ""):
        response = client.get(url, headers={"Host": host})
        assert response.status_code == 400, host
        assert b"answers only for" in response.data
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "LOCALHOST:5000"):
        assert client.get(url, headers={"Host": host}).status_code == 200, host


def test_serve_host_option_and_allowed_names(tiny_book):
    from tokenbooks.scripts.serve_cmd import allowed_hosts, create_app

    app = create_app(tiny_book, "10.0.0.5", 8080, allow=["books.example.com"])
    client = app.test_client()
    url = f"/{app.config['LEDGERS'].first_slug()}/income_statement/"
    for host, status in (("10.0.0.5:8080", 200), ("books.example.com", 200),
                         ("books.example.com:8080", 200), ("127.0.0.1:8080", 400),
                         ("10.0.0.5", 400), ("evil.example:8080", 400)):
        assert client.get(url, headers={"Host": host}).status_code == status, host
    assert allowed_hosts("::1", 80) >= {"[::1]", "[::1]:80", "localhost", "127.0.0.1:80"}
    assert allowed_hosts("fe80::1", 5000) == {"[fe80::1]:5000"}
