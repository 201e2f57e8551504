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
    assert [r["status"] for r in checks] == ["ok"] * 7  # clearing included
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


def test_sample_february_after_the_customers_paid_january(tmp_path: Path) -> None:
    """As `make demo` does: January closed, its invoices paid (the generator's
    simulation: initech in two parts), February closed. February holds hooli's Stripe
    pack (200.00, fee 6.10), its 50.00 refund the next day and the payout of the rest."""
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli
    from tokenbooks.scripts.generate import write_payments

    ledger = copy_sample(tmp_path)
    # the EUR customer's sources, once `make sample` has imported them (docs/currency.md):
    # January's overage before its pack, invoiced in EUR and paid on 2026-02-15
    eur = [] if not any(ledger.parent.glob("imports/*.usage-eur-*.beancount")) else [
        "2026-02-15,lumen,INV-2026-01-LUMEN,62.71,EUR,pay-inv-2026-01-lumen-1"]
    assert close(ledger, "2026-01").exit_code == 0
    paid = tmp_path / "payments-2026-01.csv"
    assert write_payments(ledger.parent / "invoices" / "2026-01.beancount", paid) == 4 + len(eur)
    result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), str(paid)])
    assert result.exit_code == 0, result.output
    assert paid.read_text().splitlines()[1:] == sorted([
        "2026-02-09,acme,INV-2026-01-ACME,13.72,USD,pay-inv-2026-01-acme-1",
        "2026-02-10,initech,INV-2026-01-INITECH,300.00,USD,pay-inv-2026-01-initech-1",
        "2026-02-12,globex,INV-2026-01-GLOBEX,589.77,USD,pay-inv-2026-01-globex-1",
        "2026-02-24,initech,INV-2026-01-INITECH,200.00,USD,pay-inv-2026-01-initech-2", *eur])
    result = close(ledger, "2026-02")
    assert result.exit_code == 0, result.output
    reports = ledger.parent / "reports" / "2026-02"

    def rows(name: str) -> list[dict]:
        return json.loads((reports / f"{name}.json").read_text())["rows"]

    checks = {r["check"]: r for r in rows("checks")}
    assert all(r["status"] == "ok" for r in checks.values())
    assert checks["clearing"]["detail"].startswith(
        "Assets:Stripe 0.00 + charges 200.00 - fees 6.10 - refunds 50.00 - payouts 143.90 "
        "+ other 0.00 = 0.00")
    roll = {r["customer"]: r for r in rows("rollforward")}
    assert roll["hooli"]["refunds"] == "50.00" and roll["hooli"]["ties"] == "yes"
    [lot] = [r for r in rows("credits") if r["lot"] == "hooli-2026.starter.2026-02-03"]
    # 200.00 for 20,000 credits, 50.00 back: 5,000 credits taken back, 15,000 left to use
    assert (lot["credits"], lot["credits_refunded"], lot["refunded"]) == (
        "15000.00", "5000.00", "50.00")
    dunning = rows("dunning")
    settled = {r["ref"]: r for r in dunning if r["section"] == "settled"}
    assert set(settled) == {"INV-2026-01-ACME", "INV-2026-01-GLOBEX", "INV-2026-01-INITECH",
                            *(["INV-2026-01-LUMEN"] if eur else [])}
    assert all(r["open"] == "0.00" for r in settled.values())
    assert settled["INV-2026-01-INITECH"]["paid"] == "500.00"
    aging = {r["customer"]: r for r in dunning if r["section"] == "aging"}
    assert {c: r["total"] for c, r in aging.items()} == {"globex": "565.55",
                                                         "initech": "500.00"}  # February's
    assert errors(ledger) == []


def test_a_re_close_after_later_months_is_a_true_no_op(tmp_path: Path) -> None:
    """Three months closed (with the customers' payments in between, as `make demo`
    does), then January closed again: every file of the book is byte for byte what it
    was. January's reports read the book as of January's end: February's payments,
    invoices and purchases never leak into them."""
    from click.testing import CliRunner

    from tokenbooks.scripts.cli import cli
    from tokenbooks.scripts.generate import write_payments

    ledger = copy_sample(tmp_path)
    january = {}
    for period in ("2026-01", "2026-02", "2026-03"):
        result = close(ledger, period)
        assert result.exit_code == 0, result.output
        if period == "2026-01":
            folder = ledger.parent / "reports" / "2026-01"
            january = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        paid = tmp_path / f"payments-{period}.csv"
        write_payments(ledger.parent / "invoices" / f"{period}.beancount", paid)
        result = CliRunner().invoke(cli, ["import", "--ledger", str(ledger), str(paid)])
        assert result.exit_code == 0, result.output
    before = snapshot(ledger.parent)
    result = close(ledger, "2026-01")
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    assert snapshot(ledger.parent) == before
    folder = ledger.parent / "reports" / "2026-01"
    assert {p.name: p.read_bytes() for p in sorted(folder.iterdir())} == january
