"""Breakage owed to a state (docs/variable-consideration.md, ASC 606-10-55-49): a pack's
``unclaimed_property`` share of its breakage is a liability,
``Liabilities:Unclaimed-Property:<J>``, never revenue; only the rest is breakage
revenue. Remote and proportional, to the cent (half up, cumulative per lot)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from enginekit import balance, contract, day, monthly, pack, purchase, run, usage
from pricinglab_kit import contracts, write_book

from tokenbooks.plugins.reports import Ledger
from tokenbooks.plugins.reports import rollforward as rollforward_report
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.model import Breakage, UnclaimedProperty
from tokenbooks.scripts import loading

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
DELAWARE = "Liabilities:Unclaimed-Property:US-DE"
LOT = "c1.p.2026-01-01"


def owed(share: str = "0.25", **kw) -> object:
    base = pack("p", "100.00", 10000, expires=kw.pop("expires", "2026-03-01"))
    return dataclasses.replace(base, unclaimed_property=UnclaimedProperty(D(share), "US-DE"),
                               **kw)


def test_the_account() -> None:
    assert accounts.unclaimed_property("us-de") == "Liabilities:Unclaimed-Property:Us-De"
    assert UnclaimedProperty(D("0.25"), "US-DE").account == DELAWARE


def test_remote_breakage_with_a_share_owed_to_a_state() -> None:
    # 4,000 of 10,000 credits used (40.00); expiry 03-01: 60.00 left, of which 25%
    # (15.00) is owed to Delaware and 45.00 is breakage revenue
    result = run(contract(packs={"p": owed()}), [usage("2026-01-10", 4000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-03-31")
    assert monthly(result, USAGE) == {"2026-01": D("40.00")}
    assert monthly(result, BREAKAGE) == {"2026-03": D("45.00")}
    assert balance(result, DELAWARE) == D("-15.00")  # a liability (credit balance)
    [expiry] = [b for b in result.bookings if b.rule == "expiry"]
    assert expiry.date == day("2026-03-01")
    assert {(leg.account, leg.amount) for leg in expiry.legs} == {
        (DEFERRED, D("60.00")), (BREAKAGE, D("-45.00")), (DELAWARE, D("-15.00"))}
    assert balance(result, DEFERRED, lot=LOT) == D("100.00")  # nothing left
    [lot] = result.lots
    assert lot.posted_unclaimed.posted == D("15.00")


def test_proportional_breakage_with_a_share_owed_to_a_state() -> None:
    # 20% expected unused: 8,000 of 10,000 credits expected used.
    # Jan: 1,000 used -> target 12.50, face 10.00, breakage 2.50: owed 0.625 -> 0.63,
    #      revenue 1.87.
    # Feb: 3,000 in all -> target 37.50, face 30.00, breakage 7.50: owed 1.875 -> 1.88
    #      cumulative (February 1.25), revenue 5.62 cumulative (February 3.75).
    # Expiry 06-01: target 100.00, face 30.00, breakage 70.00: owed 17.50 (June 15.62),
    #      revenue 52.50 (June 46.88). 30.00 + 52.50 + 17.50 = 100.00.
    p = owed(expires="2026-06-01",
             breakage=Breakage("proportional", D("0.20"), (), "Controller"))
    result = run(contract(packs={"p": p}),
                 [usage("2026-01-10", 1000), usage("2026-02-10", 2000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-06-30")
    assert monthly(result, BREAKAGE) == {"2026-01": D("1.87"), "2026-02": D("3.75"),
                                         "2026-06": D("46.88")}
    assert monthly(result, DELAWARE) == {"2026-01": D("0.63"), "2026-02": D("1.25"),
                                         "2026-06": D("15.62")}
    assert monthly(result, USAGE) == {"2026-01": D("10.00"), "2026-02": D("20.00")}
    assert balance(result, DEFERRED, lot=LOT) == D("100.00")


def test_share_zero_and_one() -> None:
    args = ([usage("2026-01-10", 4000)], [purchase("2026-01-01", "p", "100.00")])
    none = run(contract(packs={"p": owed("0")}), *args, as_of="2026-03-31")
    assert monthly(none, BREAKAGE) == {"2026-03": D("60.00")} and balance(none, DELAWARE) == 0
    every = run(contract(packs={"p": owed("1")}), *args, as_of="2026-03-31")
    assert monthly(every, BREAKAGE) == {} and balance(every, DELAWARE) == D("-60.00")


CUSTOMER = """\
customer: acme
name: Acme
contracts:
  - id: acme-2026
    start: 2026-01-01
    currency: USD
    billing: prepaid
    price_book: list
    credit_value: 0.01
    packs:
      standard:
        price: 100.00
        credits: 10000
        expires: 2026-03-01
        unclaimed_property: {{share: {share}, jurisdiction: US-DE}}
"""

BOOK = """\
2026-01-05 * "Acme" "Credit purchase: standard" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-1"
  Assets:Bank                         100.00 USD
  Liabilities:Deferred-Revenue:Acme  -100.00 USD

2026-01-10 custom "usage" "acme" "m" "chat" ""
  input_tokens: 400000
  events: 1

2026-03-31 custom "tokenbooks" "note" "the book runs to here"
"""


def load_book(tmp_path: Path, share: str):
    contracts(tmp_path, {"acme": CUSTOMER.format(share=share)})
    return loading.load(write_book(tmp_path, BOOK))


def test_a_book_opens_the_account_and_passes_its_invariants(tmp_path: Path) -> None:
    # 400,000 tokens of model m (10.00 per 1M) = 4.00 = 400 credits; expiry 03-01:
    # 96.00 left, 30% owed: 28.80, breakage revenue 67.20
    entries, errors, options = load_book(tmp_path, "0.30")
    assert [e.message for e in errors] == []
    assert any(getattr(e, "account", "") == "Liabilities:Unclaimed-Property:US-DE"
               and type(e).__name__ == "Open" for e in entries)
    legs = {(p.account, p.units.number) for e in entries
            if getattr(e, "meta", {}).get("rule") == "expiry" for p in e.postings}
    assert legs == {("Liabilities:Deferred-Revenue:Acme", D("96.00")),
                    ("Income:Revenue:Breakage", D("-67.20")),
                    ("Liabilities:Unclaimed-Property:US-DE", D("-28.80"))}
    report = rollforward_report.report(Ledger(entries, options).month("2026-03"))
    [acme] = [line for line in report.lines if line.customer == "acme"]
    assert acme.other == {"unclaimed-property": D("-28.80")} and acme.ties


def test_a_share_outside_zero_to_one_is_an_error_at_its_line(tmp_path: Path) -> None:
    _, errors, _ = load_book(tmp_path, "1.5")
    messages = [f"{e.source.get('lineno')}: {e.message}" for e in errors]
    assert any(m.startswith("15: ") and "unclaimed_property.share: expected a number <= 1, "
               "got 1.5" in m for m in messages), messages
