"""The contract-liability rollforward (pure): identity, ties, 50-8(b), gross revisions."""

from __future__ import annotations

from decimal import Decimal as D

from tokenbooks.plugins.rules.rollforward import LotState, Movement, rollforward


def test_identity_and_ties_per_customer_and_total() -> None:
    moves = [Movement("acme", "addition", "purchase", D("500.00")),
             Movement("acme", "revenue", "usage", D("-446.18")),
             Movement("acme", "revenue", "expiry", D("-3.82")),
             Movement("hooli", "refund", "refund", D("-50.00"))]
    lots = [LotState("acme", "a1", D("1000.00"), D("550.00"), D("450.00")),
            LotState("acme", "a2", D("0.00"), D("500.00"), D("0.00")),
            LotState("hooli", "h1", D("200.00"), D("150.00"), D("0.00"))]
    report = rollforward("2026-01", "USD", {"acme": D("1000.00"), "hooli": D("200.00")},
                         moves, {"acme": D("1050.00"), "hooli": D("150.00")}, lots)
    acme, hooli, total = report.lines
    assert acme.closing == D("1050.00") and acme.ties
    assert acme.revenue["usage"] == D("446.18") and acme.revenue["expiry"] == D("3.82")
    assert hooli.refunds == D("50.00") and hooli.closing == D("150.00")
    assert total.closing == total.gl_closing == D("1200.00")
    assert report.failures() == []
    assert report.revenue_kinds == ["usage", "expiry"]


def test_a_ledger_that_differs_from_the_lots_fails() -> None:
    report = rollforward("2026-01", "USD", {}, [Movement("acme", "addition", "purchase",
                                                         D("100.00"))],
                         {"acme": D("100.00")}, [LotState("acme", "a", D(0), D("90.00"),
                                                          D("10.00"))])
    assert report.failures()[0] == ("acme: ledger balance of Liabilities:Deferred-Revenue "
                                    "100.00 != contract sub-ledger (lots: price - revenue "
                                    "posted) 90.00, a difference of 10.00")
    assert report.failures()[1].startswith("(total): ")
    assert not report.lines[0].ties


def test_50_8b_takes_revenue_from_the_opening_balance_first_per_lot() -> None:
    # lot a: 300 open, 500 recognized this month -> 300 from the opening balance;
    # lot b: bought this month, 80 recognized -> none from the opening balance.
    lots = [LotState("acme", "a", D("300.00"), D("0.00"), D("300.00")),
            LotState("acme", "b", D("0.00"), D("420.00"), D("80.00")),
            LotState("acme", "c", D("1000.00"), D("900.00"), D("100.00"))]
    report = rollforward("2026-02", "USD", {"acme": D("1300.00")},
                         [Movement("acme", "addition", "purchase", D("500.00")),
                          Movement("acme", "revenue", "usage", D("-480.00"))],
                         {"acme": D("1320.00")}, lots)
    assert report.lines[0].from_opening == D("400.00")  # 300 (a) + 100 (c), nothing of b


def test_breakage_revisions_are_shown_gross() -> None:
    moves = [Movement("acme", "revenue", "breakage-revision", D("-40.00")),
             Movement("acme", "revenue", "breakage-revision", D("15.00")),
             Movement("acme", "revenue", "modification", D("-5.00"))]
    report = rollforward("2026-03", "USD", {"acme": D("100.00")}, moves,
                         {"acme": D("70.00")}, [LotState("acme", "a", D("100.00"),
                                                         D("70.00"), D("30.00"))])
    acme = report.lines[0]
    assert acme.revenue["breakage-revision-increase"] == D("40.00")
    assert acme.revenue["breakage-revision-decrease"] == D("-15.00")
    assert acme.closing == D("70.00") and acme.ties
    assert report.revenue_kinds == ["breakage-revision-increase",
                                    "breakage-revision-decrease", "modification"]


def test_a_lot_whose_revenue_nets_to_nothing_is_still_classified():
    """Usage released 77.71 from a lot and a breakage revision took 77.71 back the same
    day: the engine writes no zero liability leg for the lot, yet the rollforward shows
    the usage and the breakage, not a transaction that did nothing."""
    import datetime

    from beancount import loader

    from tokenbooks.plugins.reports.rows import liability_rows

    text = """
2026-01-01 open Assets:Bank USD
2026-01-01 open Liabilities:Deferred-Revenue:Acme USD
2026-01-01 open Income:Revenue:Usage USD
2026-01-01 open Income:Revenue:Breakage USD
2026-01-02 * "acme" "purchase"
  customer: "acme"
  rule: "purchase"
  Assets:Bank  1000.00 USD
  Liabilities:Deferred-Revenue:Acme  -1000.00 USD
    lot: "L"
2026-03-31 * "acme" "usage"
  customer: "acme"
  rule: "usage"
  Liabilities:Deferred-Revenue:Acme  5.00 USD
    lot: "M"
  Income:Revenue:Usage  -5.00 USD
    lot: "M"
  Income:Revenue:Usage  -77.71 USD
    lot: "L"
  Income:Revenue:Breakage  77.71 USD
    lot: "L"
"""
    entries, errors, _ = loader.load_string(text)
    assert errors == []
    txns = [e for e in entries if hasattr(e, "postings")]
    _, moves, closing = liability_rows(txns, {"Acme": "acme"}, datetime.date(2026, 3, 1),
                                       datetime.date(2026, 3, 31))
    kinds = sorted((m.kind, m.amount) for m in moves)
    assert kinds == [("breakage", D("77.71")), ("usage", D("-77.71")), ("usage", D("-5.00"))]
    assert closing == {"acme": D("995.00")}
