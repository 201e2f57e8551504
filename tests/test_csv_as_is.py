"""CSV as it is (issue 15): quoted multi-line values, a UTF-8 BOM, TSV told by content,
columns in another order; a line that is not UTF-8 is quarantined with its number and
the rest of the file imported. Canonical usage CSV and the purchases CSV, through
``tokenbooks import`` on real-shaped files (a spreadsheet's export with CRLF line ends
and a notes column)."""

from __future__ import annotations

import json
from pathlib import Path

from test_import_cmd import new_book, run

from tokenbooks.importers import usage_csv
from tokenbooks.importers.base import Progress
from tokenbooks.importers.purchase_base import csv_rows

HEADER = ["notes", "output_tokens", "customer", "event_id", "model", "timestamp",
          "input_tokens", "cached_input_tokens", "feature"]


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [[f"call {i}", str(50 + i), ("acme", "globex")[i % 2], f"evt-{i:04d}", "gpt-4o",
             f"2026-03-0{1 + i % 3}T10:00:00Z", str(1000 + i), "100", "chat"]
            for i in range(start, start + n)]


def write(path: Path, lines: list[list[str]], sep: str = ",", bom: bool = False,
          end: str = "\r\n") -> Path:
    text = (("\ufeff" if bom else "") + sep.join(HEADER) + end
            + "".join(sep.join(cell for cell in line) + end for line in lines))
    path.write_bytes(text.encode("utf-8"))
    return path


def summary(result) -> dict:
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)
    return found


def quarantine(book: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((book / "imports").glob("*.quarantine.jsonl"))
            for line in p.read_text(encoding="utf-8").splitlines()]


def booked_tokens(book: Path) -> int:
    text = "".join(p.read_text(encoding="utf-8")
                   for p in sorted((book / "imports").glob("2026-03.*.beancount")))
    return sum(int(line.split(":")[1]) for line in text.splitlines()
               if line.strip().startswith("input_tokens:"))


def test_quoted_line_breaks_bom_and_column_order(tmp_path: Path) -> None:
    lines = rows(300)
    lines[5][0] = '"first line\r\nsecond line, with a comma\r\nthird ""quoted"" line"'
    lines[250][0] = '"a note\nover two lines"'
    source = write(tmp_path / "export.csv", lines, bom=True)
    importer = usage_csv.Importer(_contracts(tmp_path))
    assert importer.identify(str(source))
    ledger = new_book(tmp_path / "book")
    found = summary(run(ledger, source, extra=("--json",)))
    assert (found["read"], found["imported"], found["quarantined"]) == (300, 300, 0)
    assert booked_tokens(ledger.parent) == sum(1000 + i for i in range(300))
    assert summary(run(ledger, source, extra=("--json",)))["duplicates"] == 300


def test_a_tsv_export_is_told_by_its_content(tmp_path: Path) -> None:
    source = write(tmp_path / "usage-export.tsv", rows(20), sep="\t", end="\n")
    ledger = new_book(tmp_path / "book")
    found = summary(run(ledger, source, extra=("--json",)))
    assert (found["importer"].rsplit(".", 2)[-2], found["imported"]) == ("usage_csv", 20)
    named_csv = write(tmp_path / "tabs.csv", rows(5, 100), sep="\t", end="\n")
    assert summary(run(ledger, named_csv, extra=("--json",)))["imported"] == 5


def test_an_undecodable_line_is_quarantined_with_its_number(tmp_path: Path) -> None:
    source = write(tmp_path / "latin.csv", rows(200))
    raw = source.read_bytes().split(b"\r\n")
    raw[41] = raw[41].replace(b"call 40", b"caf\xe9 40")  # line 42: Latin-1, not UTF-8
    source.write_bytes(b"\r\n".join(raw))
    ledger = new_book(tmp_path / "book")
    found = summary(run(ledger, source, extra=("--json",)))
    assert (found["read"], found["imported"], found["quarantined"]) == (200, 199, 1)
    (row,) = quarantine(ledger.parent)
    assert (row["line"], row["field"]) == (42, "(line)")
    assert "UTF-8" in row["reason"]
    assert booked_tokens(ledger.parent) == sum(1000 + i for i in range(200)) - 1040


PURCHASES = ["date", "customer", "contract", "pack", "amount", "currency", "payment_id"]


def test_purchases_csv_as_it_is(tmp_path: Path) -> None:
    text = ("\ufeff" + "\t".join(reversed(PURCHASES)) + "\r\n"
            + "pay-1\tUSD\t1000.00\tstandard\tacme-2026\tacme\t2026-02-01\r\n"
            + "pay-2\tUSD\t200.00\tstarter\thooli-2026\thooli\t2026-02-01\r\n")
    source = tmp_path / "purchases.tsv"
    source.write_text(text, encoding="utf-8")
    ledger = new_book(tmp_path / "book")
    found = summary(run(ledger, source, extra=("--json",)))
    assert (found["importer"].rsplit(".", 2)[-2], found["imported"]) == ("purchases", 2)
    # a quoted line break and a line that is not UTF-8, in a comma-separated file
    odd = tmp_path / "odd.csv"
    odd.write_bytes((b"date,customer,contract,pack,amount,currency,payment_id,note\r\n"
                     b'2026-02-02,acme,acme-2026,standard,1000.00,USD,pay-3,"two\r\nlines"\r\n'
                     ) + b"2026-02-02,acme,acme-2026,standard,1000.00,USD,pay-4,"
                    b"caf\xe9\r\n2026-02-03,acme,acme-2026,standard,1000.00,USD,pay-5,ok\r\n")
    read = list(csv_rows(odd, Progress()))
    assert [(r.line, isinstance(r.values, dict)) for r in read] == [
        (2, True), (4, False), (5, True)]
    assert read[0].values["note"] == "two\r\nlines"
    found = summary(run(ledger, odd, extra=("--json",)))
    assert (found["read"], found["imported"], found["quarantined"]) == (3, 2, 1)
    (row,) = quarantine(ledger.parent)
    assert row["line"] == 4 and "UTF-8" in row["reason"]


def _contracts(tmp_path: Path) -> Path:
    ledger = new_book(tmp_path / "contracts-book")
    return ledger.parent / "contracts"
