"""Invoices (pure): one per customer, lines by stream and model to the cent, due dates,
ids; and the dunning rules (aging, jumps)."""

from __future__ import annotations

import datetime
from decimal import Decimal as D
from fractions import Fraction

from tokenbooks.plugins.rules import dunning
from tokenbooks.plugins.rules.invoicing import UnbilledItem, invoices, split_by_model

END = datetime.date(2026, 1, 31)


def item(customer: str, stream: str, amount: str, currency: str = "USD") -> UnbilledItem:
    return UnbilledItem(customer, f"{customer}-2026", END, currency, stream, D(amount))


def test_split_by_model_adds_up_to_the_cent() -> None:
    parts = split_by_model(D("100.00"), {"a": Fraction(1), "b": Fraction(1), "c": Fraction(1)})
    assert parts == [("a", D("33.33")), ("b", D("33.34")), ("c", D("33.33"))]
    assert split_by_model(D("5.00"), {}) == [("", D("5.00"))]


def test_one_invoice_per_customer_with_lines_and_due_date() -> None:
    weights = {("globex", "Usage"): {"gpt-4o": Fraction(3), "gpt-4o-mini": Fraction(1)},
               ("globex", "Actions"): {"gpt-4o": Fraction(1)}}
    items = [item("globex", "usage", "400.00"), item("globex", "actions", "20.00"),
             item("initech", "usage", "399.11"), item("initech", "commitment", "100.89")]
    out = invoices("2026-01", END, items, weights, {"globex": 45})
    globex, initech = out
    assert globex.id == "INV-2026-01-GLOBEX" and globex.due == datetime.date(2026, 3, 17)
    assert [(x.stream, x.model, x.amount) for x in globex.lines] == [
        ("usage", "gpt-4o", D("300.00")), ("usage", "gpt-4o-mini", D("100.00")),
        ("actions", "gpt-4o", D("20.00"))]
    assert initech.total == D("500.00") and initech.due == datetime.date(2026, 3, 2)
    assert [(x.stream, x.model) for x in initech.lines] == [("usage", ""), ("commitment", "")]


def test_nothing_unbilled_no_invoice_and_two_currencies_two_ids() -> None:
    out = invoices("2026-01", END, [item("a", "usage", "0.00"), item("b", "usage", "1.00"),
                                    item("b", "usage", "2.00", "EUR")], {}, {})
    assert [i.id for i in out] == ["INV-2026-01-B-EUR", "INV-2026-01-B-USD"]


def test_aging_applies_payments_to_the_oldest_first() -> None:
    charges = [dunning.Charge("g", "INV-1", datetime.date(2026, 1, 31),
                              datetime.date(2026, 3, 2), D("100.00")),
               dunning.Charge("g", "INV-2", datetime.date(2026, 2, 28),
                              datetime.date(2026, 3, 30), D("50.00"))]
    items = dunning.open_items(charges, [dunning.Payment("g", datetime.date(2026, 3, 5),
                                                         D("60.00"))],
                               datetime.date(2026, 5, 15))
    assert [(i.ref, i.amount, i.days_past_due, i.bucket) for i in items] == [
        ("INV-1", D("40.00"), 74, "61-90"), ("INV-2", D("50.00"), 46, "31-60")]
    assert dunning.aging(items)[0]["total"] == D("90.00")


def test_jump_against_the_trailing_three_month_average() -> None:
    history = {("g", "2026-01"): D("100.00"), ("g", "2026-02"): D("110.00"),
               ("g", "2026-03"): D("90.00"), ("n", "2026-03"): D("0.00")}
    out = dunning.jumps("2026-04", {"g": D("150.00"), "n": D("80.00")}, history)
    g, n = out
    assert (g.average, g.ratio, g.increase, g.flagged) == (D("100.00"), D("1.50"),
                                                           D("50.00"), True)
    assert n.average is None and not n.flagged  # no history: nothing to compare with
    calm = dunning.jumps("2026-04", {"g": D("110.00")}, history)[0]
    assert calm.ratio == D("1.10") and not calm.flagged


def test_a_flat_minimum_is_no_jump_when_the_contract_is_young() -> None:
    """A $500 monthly minimum from February: March's 500 against February alone (the
    months before the contract are not months of zero billing)."""
    history = {("i", "2026-02"): D("500.00")}
    book_covers = "2025-11"
    flat = dunning.jumps("2026-03", {"i": D("500.00")}, history, first_period=book_covers,
                         in_force={"i": {"2026-02"}})[0]
    assert (flat.average, flat.months, flat.flagged) == (D("500.00"), 1, False)
    # without the contract's months, December and January count as zero: a false jump
    naive = dunning.jumps("2026-03", {"i": D("500.00")}, history, first_period=book_covers)[0]
    assert (naive.average, naive.flagged) == (D("166.67"), True)
