"""End to end: the sample book's January closes and ties out (the demo runs all three
months; one is enough here to keep the suite fast)."""

from __future__ import annotations

import json
from pathlib import Path

from closekit import close, errors, snapshot
from samplekit import copy_sample

ROOT = Path(__file__).resolve().parents[1]


def test_sample_january_closes_and_ties_out(tmp_path: Path) -> None:
    ledger = copy_sample(tmp_path)
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    reports = ledger.parent / "reports" / "2026-01"
    checks = json.loads((reports / "checks.json").read_text())["rows"]
    assert [r["status"] for r in checks] == ["ok"] * 6
    invoices = json.loads((reports / "invoices.json").read_text())["rows"]
    totals = {r["customer"]: r["amount"] for r in invoices if r["line"] == "total"}
    assert {"globex", "initech"} <= set(totals)  # arrears customers
    assert float(totals["initech"]) >= 500.00  # its monthly minimum
    roll = json.loads((reports / "rollforward.json").read_text())["rows"][-1]
    assert roll["closing"] == roll["gl_closing"] == roll["subledger_closing"]
    assert errors(ledger) == []
    before = snapshot(ledger.parent)
    assert close(ledger, "2026-01").exit_code == 0
    assert snapshot(ledger.parent) == before
