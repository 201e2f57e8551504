"""Expiry semantics (docs/expiry.md): credits are usable up to the expiry instant and not
on it; breakage is booked on the expiry date; a modification moves a lot's expiry (one
source of truth: the engine's lot, which the invariants read). Worked examples to the
cent: a pack of 100.00 for 10,000 credits (0.01 each), one token is one credit."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from enginekit import balance, contract, day, monthly, pack, purchase, run, usage
from pricinglab_kit import contracts, write_book

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.lots import Lot, expired, usable
from tokenbooks.plugins.rules.model import Modification, Overage, Term
from tokenbooks.scripts import loading

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
UNBILLED = accounts.unbilled("acme")
THIRTY_DAYS = pack("p", "100.00", 10000, after=Term(30, "day"))
APPROVED = {"approved_by": "M. Chen, Controller", "approved_on": day("2026-01-19")}


def test_the_rule() -> None:
    assert usable(day("2026-01-31"), day("2026-01-30"))
    assert not usable(day("2026-01-31"), day("2026-01-31"))
    assert expired(day("2026-01-31"), day("2026-01-31")) and not expired(None, day("2099-01-01"))
    lot = Lot("l", "c1", "p", D("100.00"), 10000, day("2026-01-01"), day("2026-01-31"))
    assert lot.usable_on(day("2026-01-30")) and not lot.usable_on(day("2026-01-31"))


def test_expires_after_n_days_gives_d_plus_n_and_that_day_is_not_covered() -> None:
    # bought 01-01, 30 days: expiry 01-31. 4,000 used on 01-30 (40.00, booked that day,
    # the segment's last usable day); 1,000 on 01-31 is not covered: overage invoiced at
    # list (10.00); the 6,000 left are breakage on 01-31: 60.00.
    result = run(contract(packs={"p": THIRTY_DAYS}),
                 [usage("2026-01-30", 4000), usage("2026-01-31", 1000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-02-28")
    [lot] = result.lots
    assert lot.expires == day("2026-01-31")
    usage_bookings = [(b.date, b.meta.get("lots")) for b in result.bookings if b.rule == "usage"]
    assert usage_bookings == [(day("2026-01-30"), "c1.p.2026-01-01"), (day("2026-01-31"), None)]
    [expiry] = [b for b in result.bookings if b.rule == "expiry"]
    assert expiry.date == day("2026-01-31") and expiry.meta["credits_expired"] == 6000
    assert monthly(result, BREAKAGE) == {"2026-01": D("60.00")}
    assert monthly(result, USAGE, "usage") == {"2026-01": D("50.00")}  # 40.00 + 10.00
    assert balance(result, UNBILLED) == D("10.00")
    assert balance(result, DEFERRED, lot="c1.p.2026-01-01") == D("100.00")  # all recognized


def test_explicit_expires_is_the_first_day_not_usable_under_a_hard_stop() -> None:
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-01-31")},
                 overage=Overage("hard_stop"))
    result = run(c, [usage("2026-01-30", 4000), usage("2026-01-31", 1000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    assert monthly(result, USAGE) == {"2026-01": D("40.00")}
    assert monthly(result, BREAKAGE) == {"2026-01": D("60.00")}
    [blocked] = [b for b in result.bookings if b.meta.get("blocked_credits")]
    assert blocked.date == day("2026-01-31") and blocked.meta["blocked_credits"] == 1000
    assert [n.rule for n in result.notices] == ["hard-stop"]


def test_posting_by_day_gives_the_same_month() -> None:
    args = ([usage("2026-01-30", 4000), usage("2026-01-31", 1000)],
            [purchase("2026-01-01", "p", "100.00")])
    by_month = run(contract(packs={"p": THIRTY_DAYS}), *args, as_of="2026-01-31")
    by_day = run(contract(packs={"p": THIRTY_DAYS}), *args, as_of="2026-01-31", posting="day")
    for account in (USAGE, BREAKAGE, UNBILLED):
        assert monthly(by_month, account) == monthly(by_day, account)


def test_a_purchase_on_its_expiry_date_is_breakage_that_day() -> None:
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-01-10")})
    result = run(c, [usage("2026-01-10", 100)], [purchase("2026-01-10", "p", "100.00")],
                 as_of="2026-01-31")
    assert monthly(result, BREAKAGE) == {"2026-01": D("100.00")}
    assert "expired on 2026-01-10, before they could be used" in result.errors[0].message


def test_a_void_is_the_first_day_the_grant_cannot_be_used() -> None:
    from test_grants import grant
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-06-30")}, grants=(
        grant("promo", "2026-01-01", 5000, "promotional", void="2026-01-15"),))
    result = run(c, [usage("2026-01-14", 1000), usage("2026-01-15", 1000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    # 01-14 from the grant (no revenue), 01-15 from the pack: 10.00
    assert monthly(result, USAGE) == {"2026-01": D("10.00")}
    [void] = [b for b in result.bookings if b.rule == "void"]
    assert void.date == day("2026-01-15") and void.meta["credits_expired"] == 4000


# --- a modification moves the expiry -----------------------------------------------------

def modified(expires: str) -> object:
    return contract(packs={"p": pack("p", "100.00", 10000, expires="2026-01-31")},
                    modifications=(Modification("ext", day("2026-01-20"),
                                                expires=day(expires), **APPROVED),))


def test_extended_expiry_covers_usage_to_the_new_date() -> None:
    # expiry 01-31 extended on 01-20 to 02-28: 1,000 on 01-31 and on 02-27 are covered
    # (10.00 each); 1,000 on 02-28 is overage (10.00 invoiced); breakage on 02-28 of the
    # 7,000 left after 3,000 used (1,000 on 01-10 too): 70.00.
    result = run(modified("2026-02-28"),
                 [usage("2026-01-10", 1000), usage("2026-01-31", 1000),
                  usage("2026-02-27", 1000), usage("2026-02-28", 1000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-03-31")
    [lot] = result.lots
    assert lot.expires == day("2026-02-28")
    [mod] = [b for b in result.bookings if b.rule == "modification"]
    assert (mod.meta["expires"], mod.meta["expires_before"]) == (day("2026-02-28"),
                                                                day("2026-01-31"))
    assert monthly(result, USAGE) == {"2026-01": D("20.00"), "2026-02": D("20.00")}
    assert monthly(result, BREAKAGE) == {"2026-02": D("70.00")}
    [expiry] = [b for b in result.bookings if b.rule == "expiry"]
    assert expiry.date == day("2026-02-28")
    assert balance(result, UNBILLED) == D("10.00")


def test_shortened_expiry_books_breakage_on_the_new_date() -> None:
    # expiry 01-31 shortened on 01-20 to 01-25: 1,000 on 01-24 covered (10.00); 1,000
    # on 01-25 and 01-31 invoiced (20.00); the 8,000 left after 2,000 used are breakage
    # on 01-25, not 01-31: 80.00.
    result = run(modified("2026-01-25"),
                 [usage("2026-01-10", 1000), usage("2026-01-24", 1000),
                  usage("2026-01-25", 1000), usage("2026-01-31", 1000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    [expiry] = [b for b in result.bookings if b.rule == "expiry"]
    assert expiry.date == day("2026-01-25") and expiry.meta["credits_expired"] == 8000
    assert monthly(result, BREAKAGE) == {"2026-01": D("80.00")}
    assert balance(result, UNBILLED) == D("20.00")
    lots = [(b.meta["from"], b.date, b.meta.get("lots")) for b in result.bookings
            if b.rule == "usage"]
    # cut on the modification date, then on the new last usable day (01-24)
    assert lots == [(day("2026-01-10"), day("2026-01-20"), "c1.p.2026-01-01"),
                    (day("2026-01-24"), day("2026-01-24"), "c1.p.2026-01-01"),
                    (day("2026-01-25"), day("2026-01-31"), None)]


def test_shortened_proportional_lot_trues_up_on_the_new_date() -> None:
    from tokenbooks.plugins.rules.model import Breakage
    p = dataclasses.replace(pack("p", "100.00", 10000, expires="2026-06-30"),
                            breakage=Breakage("proportional", D("0.20"), (), "Controller"))
    c = contract(packs={"p": p}, modifications=(
        Modification("short", day("2026-02-10"), expires=day("2026-02-15"), **APPROVED),))
    # 2,000 used in January: 100 x 2,000 / 8,000 = 25.00 (usage 20.00, breakage 5.00);
    # expiry 02-15: the 75.00 left is breakage that day (8,000 credits unused).
    result = run(c, [usage("2026-01-10", 2000), usage("2026-02-15", 500)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-02-28")
    assert monthly(result, BREAKAGE) == {"2026-01": D("5.00"), "2026-02": D("75.00")}
    assert monthly(result, USAGE, "usage") == {"2026-01": D("20.00"), "2026-02": D("5.00")}


# --- the invariants read the engine's lots -----------------------------------------------

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
      standard: {{price: 100.00, credits: 10000, expires_after: 1 month}}
    overage: {{policy: invoice}}
    modifications:
      - id: move-expiry
        date: 2026-01-20
        expires: {expires}
        approved_by: "M. Chen, Controller"
        approved_on: 2026-01-19
"""

PURCHASE = """\
2026-01-05 * "Acme" "Credit purchase: standard" ^acme-2026
  customer: "acme"
  contract: "acme-2026"
  rule: "purchase"
  pack: "standard"
  payment_id: "pay-1"
  Assets:Bank                         100.00 USD
  Liabilities:Deferred-Revenue:Acme  -100.00 USD

"""


def usage_entry(date: str, tokens: int) -> str:  # model m: 10.00 per 1M input tokens
    return (f'{date} custom "usage" "acme" "m" "chat" ""\n  input_tokens: {tokens}\n'
            f"  events: 1\n\n")


def load_book(tmp_path: Path, expires: str, body: str) -> tuple[list[str], list]:
    contracts(tmp_path, {"acme": CUSTOMER.format(expires=expires)})
    ledger = write_book(tmp_path, PURCHASE + body
                        + '2026-03-31 custom "tokenbooks" "note" "the book runs to here"\n')
    entries, errors, _ = loading.load(ledger)
    return [e.message for e in errors], entries


def postings(entries: list, rule: str) -> list[tuple[object, str, Decimal]]:
    return [(e.date, p.account, p.units.number) for e in entries
            if getattr(e, "meta", {}).get("rule") == rule for p in getattr(e, "postings", ())]


def test_extension_passes_the_invariants_on_every_later_load(tmp_path: Path) -> None:
    # bought 01-05, 1 month: expiry 02-05; extended on 01-20 to 03-05. 200 credits used
    # on 02-10 (after the purchase's expiry, before the new one): no invariant error.
    # Breakage on 03-05: 98.00.
    errors, entries = load_book(tmp_path, "2026-03-05", usage_entry("2026-02-10", 200000))
    assert errors == []
    assert (day("2026-03-05"), "Income:Revenue:Breakage", D("-98.00")) in postings(
        entries, "expiry")


def test_shortened_expiry_passes_the_invariants(tmp_path: Path) -> None:
    # shortened on 01-20 to 01-25: 100 credits on 01-22 covered (1.00), 100 on 01-25
    # invoiced, breakage of 99.00 on 01-25.
    errors, entries = load_book(tmp_path, "2026-01-25", usage_entry("2026-01-22", 100000)
                                + usage_entry("2026-01-25", 100000))
    assert errors == []
    assert (day("2026-01-25"), "Income:Revenue:Breakage", D("-99.00")) in postings(
        entries, "expiry")


def test_a_modification_cannot_expire_credits_on_or_before_its_date(tmp_path: Path) -> None:
    errors, _ = load_book(tmp_path, "2026-01-20", "")
    assert any("modifications[0].expires: expected a date after the modification's date "
               "2026-01-20" in m for m in errors), errors
