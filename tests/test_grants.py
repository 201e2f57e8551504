"""Grants: credits without consideration of their own, by kind (docs/grants.md), draw
priority and voids. Worked examples to the cent.

One token is one credit and a credit is worth 0.01 at list (``enginekit``). Engine-side
bookings only: the importer's purchase entry (cash against the liability) is not among
them, so ``balance(DEFERRED)`` is the engine's side of the liability.
"""

from __future__ import annotations

import dataclasses
import datetime
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from enginekit import balance, book, contract, day, monthly, pack, purchase, run, usage

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.cogs import promotional_costs
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.grants import allocate_purchase
from tokenbooks.plugins.rules.lots import Lot, sort_key
from tokenbooks.plugins.rules.model import (
    Bonus,
    ContractSet,
    Grant,
    MaterialRight,
    ModelRates,
    PriceBook,
    PriceBookVersion,
)

D = Decimal
DEFERRED = accounts.deferred_revenue("acme")
UNBILLED = accounts.unbilled("acme")
USAGE = accounts.REVENUE_USAGE
BREAKAGE = accounts.REVENUE_BREAKAGE
CONCESSIONS = accounts.REVENUE_CONCESSIONS
ROOT = Path(__file__).resolve().parents[1]


def grant(gid: str, date: str, credits: int, kind: str, **kw) -> Grant:
    for key in ("expires", "void"):
        if isinstance(kw.get(key), str):
            kw[key] = day(kw[key])
    return Grant(gid, day(date), D(credits), kind, **kw)


def income(result, account: str, lot: str | None = None) -> Decimal:
    """What ``account`` earned (credits positive), optionally on one lot."""
    return -balance(result, account, lot=lot)


P80 = {"p": pack("p", "80.00", 10000, expires="2026-06-30")}  # 0.008 a credit


# --- concession (ASC 606-10-32-25..27) ------------------------------------------------------

def test_concession_prepaid_used_in_part_replaces_paid_credits_and_shows_its_contra_line():
    # Pack 80.00 for 10,000 credits; concession of 3,000 credits, drawn first (priority
    # 10 < 50). Usage of 5,000 credits (50.00 at list): 3,000 from the grant, 2,000 from
    # the pack. The grant: Usage 30.00 against Concessions 30.00 (net 0); the pack
    # earns 2,000 x 0.008 = 16.00. Nothing else.
    c = contract(packs=P80, grants=(grant("sorry", "2026-01-01", 3000, "concession",
                                          priority=10, expires="2026-03-31"),))
    result = run(c, [usage("2026-01-10", 5000)], [purchase("2026-01-01", "p", "80.00")],
                 as_of="2026-01-31")
    gl = "c1.grant.sorry"
    assert income(result, USAGE, gl) == D("30.00")
    assert income(result, CONCESSIONS, gl) == D("-30.00")
    assert income(result, USAGE, "c1.p.2026-01-01") == D("16.00")
    assert income(result, USAGE) == D("46.00") and income(result, CONCESSIONS) == D("-30.00")
    assert balance(result, DEFERRED, lot=gl) == 0  # no consideration, none moved
    [booking] = [b for b in result.bookings if b.rule == "usage"]
    assert booking.meta["grant_credits"] == "c1.grant.sorry=3000"
    assert {leg.lot for leg in booking.legs} == {gl, "c1.p.2026-01-01"}
    [entry] = [b for b in result.bookings if b.rule == "grant"]
    assert entry.meta["grant"] == "concession" and entry.meta["priority"] == 10
    assert entry.meta["expires"] == day("2026-03-31")


def test_concession_that_expires_unused_leaves_no_breakage():
    c = contract(packs=P80, grants=(grant("sorry", "2026-01-01", 3000, "concession",
                                          expires="2026-01-31"),))
    result = run(c, [usage("2026-01-10", 1000)], [purchase("2026-01-01", "p", "80.00")],
                 as_of="2026-02-28")
    gl = "c1.grant.sorry"
    assert income(result, USAGE, gl) == D("10.00") and income(result, CONCESSIONS) == D("-10.00")
    assert income(result, BREAKAGE) == 0  # 2,000 credits expired: nothing
    lot = next(lot for lot in result.lots if lot.id == gl)
    assert lot.closed and lot.remaining == 2000 and lot.posted_total.posted == 0
    assert income(result, USAGE, "c1.p.2026-01-01") == 0  # no paid credit drawn


def test_concession_on_arrears_bills_only_what_the_credits_do_not_cover():
    # Arrears; 2,500 concession credits; 4,000 credits of usage (40.00): 25.00 is revenue
    # against 25.00 of concession (net 0), 15.00 is billed.
    c = contract(billing="arrears", packs={}, grants=(
        grant("goodwill", "2026-01-01", 2500, "concession"),))
    result = run(c, [usage("2026-01-10", 4000)], as_of="2026-01-31")
    assert income(result, USAGE) == D("40.00")
    assert income(result, CONCESSIONS) == D("-25.00")
    assert balance(result, UNBILLED) == D("15.00")
    # Once the credits are gone the contract bills in arrears as before.
    later = run(c, [usage("2026-01-10", 4000), usage("2026-02-03", 1000)], as_of="2026-02-28")
    assert monthly(later, USAGE)["2026-02"] == D("10.00")
    assert balance(later, UNBILLED) == D("25.00")


def test_concession_value_is_rounded_cumulatively_per_lot():
    # Model m at 0.001 a token (a credit is 0.01: 10 tokens). Three days of 333, 333 and
    # 334 tokens are worth 0.333, 0.333 and 0.334: posted 0.33, 0.34, 0.33 (0.333, 0.666,
    # 1.000 cumulative), never 0.33 three times.
    c = contract(billing="arrears", packs={}, grants=(
        grant("g", "2026-01-01", 1000, "concession"),))
    result = run(c, [usage("2026-01-05", 333), usage("2026-01-06", 333),
                     usage("2026-01-07", 334)], as_of="2026-01-31", posting="day",
                 price_book=book(("2026-01-01", "0.001")))
    assert [leg.amount for b in result.bookings for leg in b.legs
            if leg.account == CONCESSIONS and b.rule == "usage"] == [
        D("0.33"), D("0.34"), D("0.33")]
    assert income(result, USAGE) == D("1.00") and balance(result, UNBILLED) == 0


# --- promotional (marketing at cost) ----------------------------------------------------------

def cost_table(rate: str = "0.002") -> ContractSet:
    table = PriceBook("openai", "USD", 1, (PriceBookVersion(day("2026-01-01"), {
        "m": ModelRates(D(rate), D(rate), D(rate))}),), provider="openai")
    return ContractSet({}, {}, {"openai": table}, ())


def test_promotional_credits_earn_nothing_and_their_usage_cost_is_marketing():
    # 5,000 promotional credits expiring 2026-03-31 before a 100.00 pack of 10,000
    # expiring 2026-06-30 (earliest expiry first). Usage 6,000 credits: 5,000 promo (no
    # revenue, no contra), 1,000 from the pack: 10.00 of usage revenue.
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-06-30")},
                 grants=(grant("welcome", "2026-01-01", 5000, "promotional",
                               expires="2026-03-31"),))
    u = usage("2026-01-10", 6000)
    result = run(c, [u], [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    assert income(result, USAGE) == D("10.00")
    assert CONCESSIONS not in {leg.account for b in result.bookings for leg in b.legs}
    assert income(result, USAGE, "c1.grant.welcome") == 0
    assert result.promotional == {(day("2026-01-10"), ""): {"c1.grant.welcome":
                                                            Fraction(5, 6)}}
    [booking] = [b for b in result.bookings if b.rule == "usage"]
    assert booking.meta["grant_credits"] == "c1.grant.welcome=5000"
    assert "c1.grant.welcome" in booking.meta["lots"]
    # The usage costs 6,000 x 0.002 = 12.00; the promotional share (5/6) is 10.00, a
    # marketing expense moved out of COGS (the other 2.00 stays COGS).
    shares = {("acme", key[0], key[1]): v for key, v in result.promotional.items()}
    [cost] = promotional_costs([u], cost_table(), shares)
    assert (cost.lot, cost.provider, cost.period, cost.amount) == (
        "c1.grant.welcome", "openai", "2026-01", D("10.00"))


def test_promotional_cost_rounds_cumulatively_per_customer_period_provider():
    u1, u2 = usage("2026-01-10", 1000), usage("2026-01-11", 1000)
    shares = {("acme", day("2026-01-10"), ""): {"g": Fraction(1, 3)},
              ("acme", day("2026-01-11"), ""): {"g": Fraction(1, 3)}}
    # 2.00 x 1/3 = 0.6666.. a day: one lot, one line, 1.33 for the month
    [cost] = promotional_costs([u1, u2], cost_table(), shares)
    assert cost.amount == D("1.33") and cost.usage_entries == 2


# --- draw priority ----------------------------------------------------------------------------

def test_two_grants_of_different_priorities_before_a_paid_pack():
    # concession priority 10, promotional priority 20, the pack 50 (the default):
    # 2,500 credits of usage = 1,000 concession + 1,000 promotional + 500 paid.
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-06-30")}, grants=(
        grant("promo", "2026-01-01", 1000, "promotional", priority=20),
        grant("sorry", "2026-01-01", 1000, "concession", priority=10)))
    result = run(c, [usage("2026-01-10", 2500)], [purchase("2026-01-01", "p", "100.00")],
                 as_of="2026-01-31")
    [booking] = [b for b in result.bookings if b.rule == "usage"]
    assert booking.meta["grant_credits"] == "c1.grant.promo=1000 c1.grant.sorry=1000"
    assert income(result, USAGE, "c1.p.2026-01-01") == D("5.00")
    assert income(result, USAGE, "c1.grant.sorry") == D("10.00")
    assert income(result, CONCESSIONS) == D("-10.00")
    assert income(result, USAGE) == D("15.00")  # net revenue 5.00


def test_priority_comes_before_expiry_and_free_before_paid_breaks_ties():
    lot = lambda i, kind, prio, exp, bought="2026-01-01": Lot(  # noqa: E731
        i, "c1", i, D(0), Fraction(10), day(bought), day(exp) if exp else None,
        kind=kind, priority=prio)
    lots = [lot("paid-a", "paid", 50, "2026-03-31"),
            lot("late-grant", "promotional", 90, "2026-02-01"),
            lot("promo-same", "promotional", 50, "2026-03-31", "2026-01-05"),
            lot("conc-same", "concession", 50, "2026-03-31"),
            lot("never", "paid", 50, None),
            lot("first", "paid", 10, None)]
    order = [x.id for x in sorted(lots, key=sort_key("earliest_expiry"))]
    assert order == ["first", "promo-same", "conc-same", "paid-a", "never", "late-grant"]
    oldest = [x.id for x in sorted(lots, key=sort_key("oldest"))]
    assert oldest == ["first", "conc-same", "paid-a", "never", "promo-same", "late-grant"]


def test_pack_priority_orders_paid_lots():
    packs = {"a": dataclasses.replace(pack("a", "100.00", 1000, expires="2026-03-31"),
                                      priority=60),
             "b": pack("b", "50.00", 1000, expires="2026-06-30")}
    result = run(contract(packs=packs), [usage("2026-01-10", 500)],
                 [purchase("2026-01-01", "a", "100.00"), purchase("2026-01-01", "b", "50.00")],
                 as_of="2026-01-31")
    assert income(result, USAGE, "c1.b.2026-01-01") == D("25.00")  # b first (50 < 60)
    assert income(result, USAGE, "c1.a.2026-01-01") == 0


# --- voids ------------------------------------------------------------------------------------

def test_void_mid_month_free_credits_expire_with_nothing_recognized():
    # 5,000 promotional credits voided 2026-01-15 (usable through 01-14, not on the void
    # date); 2,000 used on 01-10 from the grant; 2,000 on 01-20 come from the pack: 20.00.
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-06-30")}, grants=(
        grant("promo", "2026-01-01", 5000, "promotional", void="2026-01-15",
              reason="abuse"),))
    result = run(c, [usage("2026-01-10", 2000), usage("2026-01-20", 2000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    [void] = [b for b in result.bookings if b.rule == "void"]
    assert void.date == day("2026-01-15")
    assert void.meta["credits_expired"] == 3000 and void.meta["grant"] == "promotional"
    assert all(leg.amount == 0 for leg in void.legs)
    assert income(result, USAGE) == D("20.00")
    assert income(result, BREAKAGE) == 0
    usage_dates = [(b.meta["from"], b.date) for b in result.bookings if b.rule == "usage"]
    assert usage_dates == [(day("2026-01-10"), day("2026-01-14")),
                           (day("2026-01-20"), day("2026-01-31"))]


def test_void_list_entry_voids_a_grant():
    c = contract(packs=P80, grants=(grant("g", "2026-01-01", 1000, "concession",
                                          void="2026-01-05"),))
    result = run(c, [usage("2026-01-10", 500)], [purchase("2026-01-01", "p", "80.00")],
                 as_of="2026-01-31")
    assert income(result, CONCESSIONS) == 0  # voided before the usage: paid credits
    assert income(result, USAGE) == D("4.00")


# --- bundled (ASC 606-10-32-28..41) -----------------------------------------------------------

def test_allocate_purchase_by_relative_ssp():
    assert allocate_purchase(D("4500.00"), [("paid", Fraction(4500)), ("bonus", Fraction(450))]
                             ) == {"paid": D("4090.91"), "bonus": D("409.09")}
    assert allocate_purchase(D("100.00"), [("paid", Fraction(1)), ("a", Fraction(1)),
                                           ("b", Fraction(1))]) == {
        "paid": D("33.33"), "a": D("33.34"), "b": D("33.33")}


BONUS = {"large": dataclasses.replace(pack("large", "4500.00", 500000, expires="2026-06-30"),
                                      ssp=D("0.009"), bonus=Bonus(D(50000)))}


def test_pack_bonus_shares_the_consideration_and_breaks_at_expiry():
    # 4,500.00 for 500,000 credits + 50,000 bonus, SSP 0.009 a credit: 4,090.91 to the
    # paid lot, 409.09 to the bonus lot. 520,000 credits used: the paid lot whole
    # (4,090.91), 20,000 of the bonus (409.09 x 0.4 = 163.64); at expiry the bonus's
    # 245.45 left is breakage.
    result = run(contract(packs=BONUS), [usage("2026-02-10", 520000)],
                 [purchase("2026-01-01", "large", "4500.00")], as_of="2026-06-30")
    paid, bonus = "c1.large.2026-01-01", "c1.large.2026-01-01.bonus"
    [alloc] = [b for b in result.bookings if b.rule == "allocation"]
    assert alloc.meta["consideration"] == D("409.09") and alloc.meta["grant"] == "bundled"
    lots = {lot.id: lot for lot in result.lots}
    assert (lots[paid].price, lots[bonus].price) == (D("4090.91"), D("409.09"))
    assert lots[bonus].kind == "bundled"
    assert income(result, USAGE, paid) == D("4090.91")
    assert income(result, USAGE, bonus) == D("163.64")
    assert income(result, BREAKAGE, bonus) == D("245.45")
    assert income(result, USAGE) + income(result, BREAKAGE) == D("4500.00")
    assert balance(result, DEFERRED) == D("4500.00")  # all of it recognized


def test_bundled_grant_with_a_payment_and_its_void_is_remote_breakage():
    # Pack 100.00 / 10,000 (SSP 0.01) bought with payment pay-x; a bundled grant of
    # 10,000 credits at SSP 0.005 comes with it: weights 100 : 50, so 66.67 paid and
    # 33.33 to the grant. The grant expires first and is drawn first: 4,000 used in
    # January = 13.33; voided 2026-02-15: its 20.00 left is breakage on that day.
    packs = {"p": dataclasses.replace(pack("p", "100.00", 10000, expires="2026-06-30"),
                                      ssp=D("0.01"))}
    c = contract(packs=packs, grants=(grant(
        "bundle", "2026-01-01", 10000, "bundled", ssp=D("0.005"), with_payment="pay-x",
        expires="2026-03-31", void="2026-02-15"),))
    result = run(c, [usage("2026-01-10", 4000)],
                 [purchase("2026-01-01", "p", "100.00", payment_id="pay-x")],
                 as_of="2026-02-28")
    gl = "c1.grant.bundle"
    lots = {lot.id: lot for lot in result.lots}
    assert (lots["c1.p.2026-01-01"].price, lots[gl].price) == (D("66.67"), D("33.33"))
    assert income(result, USAGE, gl) == D("13.33")
    [void] = [b for b in result.bookings if b.rule == "void"]
    assert void.date == day("2026-02-15")
    assert income(result, BREAKAGE, gl) == D("20.00")
    assert income(result, USAGE, "c1.p.2026-01-01") == 0


def test_bundled_grant_without_its_payment_is_a_warning():
    c = contract(packs={"p": pack("p", "100.00", 10000)}, grants=(grant(
        "bundle", "2026-01-01", 100, "bundled", with_payment="nope"),))
    result = run(c, [], [purchase("2026-01-01", "p", "100.00")], as_of="2026-01-31")
    assert any("bundled with payment 'nope'" in n.message for n in result.notices)
    assert not result.errors and len(result.lots) == 1


def test_bundled_grant_of_its_own_ssp_needs_the_packs_ssp():
    c = contract(packs={"p": pack("p", "100.00", 10000)}, grants=(grant(
        "bundle", "2026-01-01", 100, "bundled", with_payment="pay-x", ssp=D("0.01")),))
    result = run(c, [], [purchase("2026-01-01", "p", "100.00", payment_id="pay-x")],
                 as_of="2026-01-31")
    assert any("has no ssp" in e.message for e in result.errors)


# --- material right (ASC 606-10-55-41..45) ----------------------------------------------------

def right_packs():
    return {"p": dataclasses.replace(
                pack("p", "100.00", 10000, expires="2026-12-31"), ssp=D("0.01"),
                material_right=MaterialRight("renewal", D("25.00"),
                                             expires=day("2026-06-30"))),
            "renewal": pack("renewal", "60.00", 10000, expires="2026-12-31")}


def test_material_right_lapses_into_breakage_on_its_expiry():
    # 100.00 for credits of SSP 100.00 and an option of SSP 25.00: 80.00 and 20.00. Not
    # exercised by 2026-06-30: its 20.00 is recognized that day.
    result = run(contract(packs=right_packs()), [usage("2026-01-10", 5000)],
                 [purchase("2026-01-01", "p", "100.00")], as_of="2026-07-31")
    option = "c1.p.2026-01-01.option"
    assert income(result, USAGE, "c1.p.2026-01-01") == D("40.00")  # 5,000 x 0.008
    [lapse] = [b for b in result.bookings if b.rule == "expiry" and b.meta["lot"] == option]
    assert lapse.date == day("2026-06-30")
    assert income(result, BREAKAGE, option) == D("20.00")
    assert balance(result, DEFERRED, lot=option) == 0


def test_material_right_exercised_moves_its_consideration_to_the_new_lot():
    # The renewal pack (60.00) bought 2026-03-01 exercises the option: its lot holds
    # 60.00 + 20.00 = 80.00 for 10,000 credits; 5,000 used = 40.00.
    result = run(contract(packs=right_packs()), [usage("2026-03-10", 15000)],
                 [purchase("2026-01-01", "p", "100.00"),
                  purchase("2026-03-01", "renewal", "60.00")], as_of="2026-07-31")
    lots = {lot.id: lot for lot in result.lots}
    assert lots["c1.renewal.2026-03-01"].price == D("80.00")
    assert lots["c1.p.2026-01-01.option"].price == 0
    assert income(result, USAGE, "c1.p.2026-01-01") == D("80.00")
    assert income(result, USAGE, "c1.renewal.2026-03-01") == D("40.00")
    assert income(result, BREAKAGE) == 0


# --- grants from the purchases CSV (amount 0 and a kind) --------------------------------------

def test_grant_purchase_row_is_a_free_lot():
    c = contract(packs={"p": pack("p", "100.00", 10000, expires="2026-06-30")})
    row = purchase("2026-01-01", "signup", "0.00", payment_id="g-1", grant="promotional",
                   credits=D(1000), expires=day("2026-03-31"))
    result = run(c, [usage("2026-01-10", 1500)], [row, purchase("2026-01-01", "p", "100.00")],
                 as_of="2026-01-31")
    lots = {lot.id: lot for lot in result.lots}
    assert lots["c1.signup.2026-01-01"].kind == "promotional"
    assert income(result, USAGE) == D("5.00")  # 500 paid credits
    assert not result.errors


@pytest.mark.parametrize("kind, allowed, message", [
    ("bundled", None, "expected 'concession' or 'promotional'"),
    ("promotional", frozenset({"concession"}), "not allowed by contract"),
])
def test_grant_purchase_row_of_a_bad_kind_is_an_error(kind, allowed, message):
    c = contract(packs={"p": pack("p", "100.00", 10000)})
    if allowed is not None:
        c = dataclasses.replace(c, grant_kinds=allowed)
    row = purchase("2026-01-01", "signup", "0.00", grant=kind, credits=D(1000))
    result = run(c, [], [row], as_of="2026-01-31")
    assert any(message in e.message for e in result.errors)
    assert not result.lots


# --- the contract file ------------------------------------------------------------------------

def load(tmp_path: Path, body: str):
    root = tmp_path / "contracts"
    (root / "customers").mkdir(parents=True)
    (root / "price-books").mkdir()
    (root / "price-books" / "list-2026.yaml").write_text(
        (ROOT / "contracts" / "price-books" / "list-2026.yaml").read_text())
    head = textwrap.dedent("""\
        customer: acme
        name: Acme
        contracts:
          - id: acme-2026
            start: 2026-01-01
            currency: USD
            billing: prepaid
            price_book: list-2026
            credit_value: 0.01
        """)
    (root / "customers" / "acme.yaml").write_text(head + textwrap.indent(
        textwrap.dedent(body), "    "))
    return load_contracts(root, display_base=root)


PACKS = """\
packs:
  p: {price: 100.00, credits: 10000, expires_after: 6 months, ssp: 0.01, priority: 40}
"""


def test_grants_parse_with_voids_and_priorities(tmp_path):
    book, errors = load(tmp_path, PACKS + """\
grant_kinds: [promotional, concession, bundled]
grants:
  - {id: welcome, date: 2026-01-01, credits: 5000, kind: promotional, expires: 2026-03-31, priority: 10}
  - {id: sorry, date: 2026-02-01, credits: 1000, kind: concession, expires_after: 30 days}
voids:
  - {grant: sorry, date: 2026-02-10, reason: duplicate}
""")
    assert errors == []
    c = book.customers["acme"].contracts[0]
    welcome, sorry = c.grants
    assert (welcome.priority, welcome.expiry()) == (10, datetime.date(2026, 3, 31))
    assert sorry.void == datetime.date(2026, 2, 10) and sorry.reason == "duplicate"
    assert sorry.expiry() == datetime.date(2026, 2, 10)
    assert c.packs["p"].priority == 40 and c.packs["p"].ssp == D("0.01")
    assert c.grant_kinds == frozenset({"promotional", "concession", "bundled"})


@pytest.mark.parametrize("body, line, expected", [
    (PACKS + "grant_kinds: [concession]\ngrants:\n"
             "  - {id: g, date: 2026-01-01, credits: 5, kind: promotional}\n",
     14, "contracts[0].grants[0].kind: grant kind 'promotional' is not allowed"),
    (PACKS + "grants:\n  - {id: g, date: 2026-01-01, credits: 5, kind: concession, "
             "priority: 1.5}\n",
     13, "contracts[0].grants[0].priority: expected a whole number, got 1.5"),
    (PACKS + "grants:\n  - {id: g, date: 2026-01-01, credits: 5, kind: concession}\n"
             "voids:\n  - {grant: nope, date: 2026-01-05}\n",
     15, "contracts[0].voids[0].grant: void of unknown grant 'nope' (expected one of: g)"),
    (PACKS + "grants:\n  - {id: g, date: 2026-01-01, credits: 5, kind: bundled}\n",
     13, "contracts[0].grants[0].with: is required for kind 'bundled'"),
    ("packs:\n  p: {price: 100.00, credits: 10000, material_right: {pack: p2, ssp: 5.00}}\n"
     "  p2: {price: 50.00, credits: 10000}\n",
     11, "contracts[0].packs.p.ssp: is required with a bonus of its own SSP or a material"),
    ("packs:\n  p: {price: 100.00, credits: 10000, priority: -1}\n",
     11, "contracts[0].packs.p.priority: expected a number >= 0, got -1"),
])
def test_bad_grants_are_errors_at_the_yaml_line(tmp_path, body, line, expected):
    book, errors = load(tmp_path, body)
    assert "acme" not in book.customers  # nothing half-valid is priced
    shown = [str(e) for e in errors]
    assert any(f"customers/acme.yaml:{line}: {expected}" in s for s in shown), shown


# --- the purchases importer: amount 0 with a kind ----------------------------------------------

def test_purchases_csv_grant_rows(tmp_path):
    from tokenbooks.importers import purchases
    from tokenbooks.plugins.entries.purchases import purchase_from_entry

    book, errors = load_contracts(ROOT / "contracts")
    assert errors == []
    rows = [
        "2026-02-01,hooli,hooli-2026,signup,0,USD,grant-h-1,5000,2026-04-30,promotional",
        "2026-02-01,hooli,hooli-2026,starter,0.00,USD,grant-h-2,,,concession",
        "2026-02-01,hooli,hooli-2026,signup,0,USD,grant-h-3,,,promotional",
        "2026-02-01,hooli,hooli-2026,starter,0,USD,grant-h-4,,,bundled",
        "2026-02-01,hooli,hooli-2026,starter,0,USD,grant-h-5,,,",
        "2026-02-01,hooli,hooli-2026,starter,200.00,USD,pay-h-6,,,promotional",
        "2026-02-01,hooli,hooli-2026,starter,150.00,USD,pay-h-7,,,",
    ]
    path = tmp_path / "grants.csv"
    path.write_text("date,customer,contract,pack,amount,currency,payment_id,credits,expires,"
                    "kind\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    result = purchases.Importer(book).run(path)
    assert (result.imported, result.quarantined) == (2, 5)
    assert [(q.line, q.field) for q in result.quarantine] == [
        (4, "credits"), (5, "kind"), (6, "amount"), (7, "kind"), (8, "amount")]
    assert "expected 200.00" in result.quarantine[-1].reason  # paid rows: price check
    first, second = (purchase_from_entry(e) for e in result.entries)
    assert (first.grant, first.amount, first.credits, first.expires) == (
        "promotional", D("0.00"), D(5000), day("2026-04-30"))
    assert (second.grant, second.credits, second.expires) == (
        "concession", D(20000), day("2026-05-01"))  # the pack's credits and term
    [leg] = result.entries[0].postings
    assert (leg.account, leg.units.number) == ("Liabilities:Deferred-Revenue:Hooli", D("0.00"))
