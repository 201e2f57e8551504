"""Synthetic usage and purchases: the bundled sample book and benchmark companies.

    python -m tokenbooks.scripts.generate sample  --out ledgers/sources
    python -m tokenbooks.scripts.generate company --out /tmp/co --customers 200

``sample`` writes a quarter (2026-01 to 2026-03) of canonical usage events, one JSONL
file per month, and a canonical purchases CSV for the five customers of ``contracts/``:
acme (prepaid, proportional breakage), globex (arrears, actions, tiers, a non-billable
``retry`` feature), initech (arrears with a monthly minimum), hooli (prepaid, hard stop)
and umbrella (prepaid with automatic top-up).

It also writes Stripe's itemized balance report of a pack hooli buys by card in
February (with its fee, a partial refund and the payout). ``payments`` writes the
sample customers' payments of a month's invoices (after ``tokenbooks close`` made them):

    python -m tokenbooks.scripts.generate payments --invoices ledgers/invoices/2026-01.beancount \\
        --out ledgers/sources/payments-2026-01.csv

``company`` writes a whole synthetic company: N customers (default 200) with contracts
(a mix of prepaid, arrears and hybrid), a price book for 5 models and cost tables, a
year of events and the purchases of the prepaid customers: the reference workload of
the benchmarks.

Output depends only on the arguments (a seeded generator, no clock): the same command
writes byte-identical files.
"""

from __future__ import annotations

import csv
import datetime
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import click

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "claude-haiku-4-5")
LIST_PRICES = {  # USD per 1M tokens: input, cached input, output
    "gpt-4o": ("5.00", "2.50", "20.00"),
    "gpt-4o-mini": ("0.30", "0.15", "1.20"),
    "gpt-5-mini": ("0.50", "0.05", "4.00"),
    "claude-sonnet-4-5": ("6.00", "0.60", "30.00"),
    "claude-haiku-4-5": ("2.00", "0.20", "10.00"),
}
COSTS = {  # what the providers charge us
    "openai": {"gpt-4o": ("2.50", "1.25", "10.00"), "gpt-4o-mini": ("0.15", "0.075", "0.60"),
               "gpt-5-mini": ("0.25", "0.025", "2.00")},
    "anthropic": {"claude-sonnet-4-5": ("3.00", "0.30", "15.00"),
                  "claude-haiku-4-5": ("1.00", "0.10", "5.00")},
}


@dataclass
class Profile:
    """How one customer uses the product, per UTC day."""

    customer: str
    events_per_day: int
    models: dict[str, int]  # model -> weight
    features: dict[str, int] = field(default_factory=lambda: {"chat": 1})
    input_tokens: int = 2000  # mean per event
    output_tokens: int = 400
    cached_share: float = 0.3
    users: int = 0
    action: str = ""  # an action some events complete (e.g. ticket_resolved)
    action_share: float = 0.0
    growth: float = 0.0  # relative growth of events per day over the period


def _months(start: datetime.date, months: int) -> list[tuple[datetime.date, datetime.date]]:
    spans = []
    day = start.replace(day=1)
    for _ in range(months):
        nxt = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        spans.append((day, nxt - datetime.timedelta(days=1)))
        day = nxt
    return spans


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def events(profile: Profile, first: datetime.date, last: datetime.date, seed: int,
           total_days: int | None = None, day_offset: int = 0) -> Iterator[dict]:
    """Canonical usage events of one customer between two dates (inclusive)."""
    rng = random.Random(f"{seed}:{profile.customer}:{first.isoformat()}")
    span = total_days or ((last - first).days + 1)
    day = first
    index = 0
    while day <= last:
        progress = (day_offset + (day - first).days) / max(span - 1, 1)
        count = max(0, round(profile.events_per_day * (1 + profile.growth * progress)
                             * rng.uniform(0.7, 1.3)))
        midnight = datetime.datetime.combine(day, datetime.time(), datetime.UTC)
        seconds = sorted(rng.randrange(86400) for _ in range(count))
        for second in seconds:
            index += 1
            input_tokens = max(1, int(rng.expovariate(1 / profile.input_tokens)))
            cached = int(input_tokens * profile.cached_share * rng.random() * 2)
            event = {
                "event_id": f"{profile.customer}-{day:%Y%m%d}-{index:06d}",
                "timestamp": (midnight + datetime.timedelta(seconds=second)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "customer": profile.customer,
                "model": _pick(rng, profile.models),
                "feature": _pick(rng, profile.features),
                "input_tokens": input_tokens,
                "cached_input_tokens": min(cached, input_tokens),
                "output_tokens": max(0, int(rng.expovariate(1 / profile.output_tokens))),
            }
            if profile.users:
                event["user"] = f"u{rng.randrange(profile.users):03d}"
            if profile.action and rng.random() < profile.action_share:
                event["action"] = profile.action
                event["status"] = rng.choices(("completed", "partial", "failed"),
                                              weights=(8, 1, 1))[0]
                event["workflow"] = f"wf-{event['event_id']}"
            yield event
        day += datetime.timedelta(days=1)


def write_jsonl(path: Path, rows: Iterator[dict]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def write_monthly_usage(out: Path, profiles: list[Profile], start: datetime.date, months: int,
                        seed: int) -> dict[str, int]:
    """One ``usage-YYYY-MM.jsonl`` per month, events sorted by time; returns counts."""
    counts = {}
    spans = _months(start, months)
    total_days = (spans[-1][1] - spans[0][0]).days + 1
    for first, last in spans:
        offset = (first - spans[0][0]).days
        rows = [e for p in profiles
                for e in events(p, first, last, seed, total_days, offset)]
        rows.sort(key=lambda e: (e["timestamp"], e["event_id"]))
        name = f"usage-{first:%Y-%m}.jsonl"
        counts[name] = write_jsonl(out / name, iter(rows))
    return counts


PURCHASE_FIELDS = ("date", "customer", "contract", "pack", "amount", "currency", "payment_id",
                   "credits", "expires", "kind")


def write_purchases(path: Path, rows: list[dict]) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, PURCHASE_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in sorted(rows, key=lambda r: (r["date"], r["payment_id"])):
            writer.writerow({k: row.get(k, "") for k in PURCHASE_FIELDS})
    return len(rows)


# --- the bundled sample ---------------------------------------------------------------------

SAMPLE_PROFILES = [
    Profile("acme", 48, {"gpt-4o": 3, "gpt-4o-mini": 5, "claude-haiku-4-5": 2},
            {"chat": 3, "summarize": 1}, input_tokens=120000, output_tokens=6000, users=25,
            growth=0.5),
    Profile("globex", 50, {"gpt-4o-mini": 6, "gpt-4o": 1},
            {"chat": 6, "retry": 1}, input_tokens=300000, output_tokens=15000,
            action="ticket_resolved", action_share=0.3, growth=0.5),
    Profile("initech", 18, {"claude-sonnet-4-5": 1, "claude-haiku-4-5": 2},
            {"rag": 1}, input_tokens=120000, output_tokens=16000, growth=1.0),
    Profile("hooli", 18, {"gpt-5-mini": 1}, {"chat": 1}, input_tokens=200000,
            output_tokens=40000, users=200),
    Profile("umbrella", 40, {"claude-sonnet-4-5": 2, "gpt-4o": 1},
            {"summarize": 2, "chat": 1}, input_tokens=150000, output_tokens=12000),
]

SAMPLE_PURCHASES = [
    {"date": "2026-01-02", "customer": "acme", "contract": "acme-2026", "pack": "standard",
     "amount": "1000.00", "currency": "USD", "payment_id": "pay-acme-0001"},
    {"date": "2026-02-10", "customer": "acme", "contract": "acme-2026", "pack": "large",
     "amount": "4500.00", "currency": "USD", "payment_id": "pay-acme-0002"},
    {"date": "2026-01-05", "customer": "hooli", "contract": "hooli-2026", "pack": "starter",
     "amount": "200.00", "currency": "USD", "payment_id": "pay-hooli-0001"},
    # Sign-up credits (docs/grants.md): amount 0, promotional: no revenue; the cost of
    # their usage is a marketing expense.
    {"date": "2026-01-05", "customer": "hooli", "contract": "hooli-2026", "pack": "welcome",
     "amount": "0", "currency": "USD", "payment_id": "grant-hooli-welcome", "credits": "5000",
     "expires": "2026-03-31", "kind": "promotional"},
    {"date": "2026-01-01", "customer": "umbrella", "contract": "umbrella-2026", "pack": "bulk",
     "amount": "2000.00", "currency": "USD", "payment_id": "pay-umbrella-0001"},
    # The modification's added credits, invoiced: no payment yet, so a receivable.
    {"date": "2026-03-01", "customer": "umbrella", "contract": "umbrella-2026",
     "pack": "umbrella-amend-1", "amount": "700.00", "currency": "USD", "payment_id": "",
     "credits": "100000", "expires": "2027-02-28"},
    # Modifications of the sample contracts (issue 5): a catch-up, a separate contract.
    {"date": "2026-03-16", "customer": "umbrella", "contract": "umbrella-2026",
     "pack": "umbrella-amend-2", "amount": "350.00", "currency": "USD",
     "payment_id": "pay-umbrella-0002"},
    {"date": "2026-03-05", "customer": "acme", "contract": "acme-2026", "pack": "acme-amend-1",
     "amount": "1800.00", "currency": "USD", "payment_id": "pay-acme-0003"},
]


# Hooli buys a second starter pack through Stripe (2.9% + 0.30 fee), gets 50.00 of it
# back the next day, and Stripe pays the rest out: Stripe's itemized balance report.
STRIPE_FIELDS = ["balance_transaction_id", "created_utc", "available_on_utc", "currency",
                 "gross", "fee", "net", "reporting_category", "source_id", "description",
                 "customer_id", "customer_email", "charge_id", "payment_metadata[customer]",
                 "payment_metadata[pack]"]
SAMPLE_STRIPE = [
    ["txn_sample_0001", "2026-02-03 09:12:44", "2026-02-05 00:00:00", "usd", "200.00", "6.10",
     "193.90", "charge", "ch_sample_hooli_0002", "Credit pack: starter", "cus_sample_hooli",
     "ops@hooli.example", "ch_sample_hooli_0002", "hooli", "starter"],
    ["txn_sample_0002", "2026-02-04 16:30:02", "2026-02-04 16:30:02", "usd", "-50.00", "0.00",
     "-50.00", "refund", "re_sample_hooli_0002", "REFUND FOR CHARGE (Credit pack: starter)",
     "cus_sample_hooli", "ops@hooli.example", "ch_sample_hooli_0002", "hooli", "starter"],
    ["txn_sample_0003", "2026-02-06 00:05:00", "2026-02-06 00:05:00", "usd", "-143.90", "0.00",
     "-143.90", "payout", "po_sample_0001", "STRIPE PAYOUT", "", "", "", "", ""],
]


def write_stripe_balance(path: Path, rows: list[list[str]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(STRIPE_FIELDS)
        writer.writerows(rows)
    return len(rows)


# The EUR customer (docs/currency.md): its usage, purchase and the rates in files of
# their own, so that the USD customers' sources, and their entries, stay as they were.
EUR_PROFILE = Profile("lumen", 36, {"gpt-4o": 2, "gpt-4o-mini": 1}, {"chat": 1},
                      input_tokens=100000, output_tokens=5000)
EUR_PURCHASES = [
    {"date": "2026-01-06", "customer": "lumen", "contract": "lumen-2026", "pack": "standard",
     "amount": "1000.00", "currency": "EUR", "payment_id": "pay-lumen-0001"}]
# to the quarter's last day: later dates (a payment in April) use its rate, the latest
# on or before them, and the book runs to the dates it ran to before
RATES_FIRST, RATES_LAST = datetime.date(2026, 1, 1), datetime.date(2026, 3, 31)


def rate_rows(seed: int) -> list[list[str]]:
    """USD per EUR on each weekday from RATES_FIRST to RATES_LAST: a seeded random walk
    from 1.0850 in steps of at most 0.0040, to 4 decimals (a fixing, as the ECB's)."""
    rng = random.Random(f"{seed}:rates")
    rate, rows = Decimal("1.0850"), []
    day = RATES_FIRST
    while day <= RATES_LAST:
        if day.weekday() < 5:
            rows.append([day.isoformat(), "EUR", f"{rate:.4f}"])
            rate += Decimal(rng.randint(-40, 40)) / 10000
        day += datetime.timedelta(days=1)
    return rows


def write_rates(path: Path, seed: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "currency", "rate"])
        writer.writerows(rows := rate_rows(seed))
    return len(rows)


def write_sample(out: Path, seed: int = 7) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = write_monthly_usage(out, SAMPLE_PROFILES, datetime.date(2026, 1, 1), 3, seed)
    spans = _months(datetime.date(2026, 1, 1), 3)
    counts["usage-eur-2026-q1.jsonl"] = write_jsonl(
        out / "usage-eur-2026-q1.jsonl",
        events(EUR_PROFILE, spans[0][0], spans[-1][1], seed))
    counts["purchases-eur.csv"] = write_purchases(out / "purchases-eur.csv", EUR_PURCHASES)
    counts["rates-eur-usd.csv"] = write_rates(out / "rates-eur-usd.csv", seed)
    counts["purchases.csv"] = write_purchases(out / "purchases.csv", SAMPLE_PURCHASES)
    counts["stripe-balance-2026-02.csv"] = write_stripe_balance(
        out / "stripe-balance-2026-02.csv", SAMPLE_STRIPE)
    # (not named payments-*: that is what `make demo` writes after each close)
    counts["cutover-payments.csv"] = write_payment_rows(
        out / "cutover-payments.csv", SAMPLE_OPENING_PAYMENTS)
    return counts


# initech paying its December invoice, taken over at the cut-over (ledgers/opening.yaml)
SAMPLE_OPENING_PAYMENTS = [
    {"date": "2026-01-20", "customer": "initech", "invoice": "LEGACY-2025-12-INITECH",
     "amount": "500.00", "currency": "USD", "payment_id": "wire-legacy-2025-12-initech"}]


def write_payment_rows(path: Path, rows: list[dict[str, str]]) -> int:
    """A payments CSV of ``rows`` (``PAYMENT_FIELDS``)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=PAYMENT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# --- the sample's customers paying their invoices ----------------------------------------------

PAYMENT_FIELDS = ["date", "customer", "invoice", "amount", "currency", "payment_id"]
# Days after the invoice date each customer pays; initech pays in two parts.
PAYS_AFTER = {"acme": (9,), "globex": (12,), "hooli": (5,), "initech": (10, 24),
              "umbrella": (14,)}


def invoice_totals(path: Path) -> list[tuple[datetime.date, str, str, str, Decimal]]:
    """(date, customer, invoice, currency, total) of each invoice of an invoices file
    written by ``tokenbooks close``: the sum of its lines (postings with ``line``)."""
    from beancount.core import data
    from beancount.parser import parser

    entries, errors, _ = parser.parse_file(str(path))
    if errors:
        raise click.ClickException(f"{path}: {errors[0].message}")
    out = []
    for entry in entries:
        if isinstance(entry, data.Transaction) and entry.meta.get("rule") == "invoice":
            units = [p.units for p in entry.postings
                     if (p.meta or {}).get("line") is not None and p.units is not None]
            total = sum((Decimal(u.number or 0) for u in units), Decimal(0))
            out.append((entry.date, str(entry.meta["customer"]), str(entry.meta["invoice"]),
                        str(units[0].currency), total))
    return out


def write_payments(invoices: Path, path: Path) -> int:
    """The sample's customers pay each invoice of ``invoices``: in full, ``PAYS_AFTER``
    days after its date (initech: 60% then the rest). A simulation of the customers'
    side, as the usage is: the amounts are the invoices' own."""
    rows = []
    for day, customer, invoice, currency, total in invoice_totals(invoices):
        after = PAYS_AFTER.get(customer, (15,))
        parts = [total] if len(after) == 1 else [
            (total * Decimal("0.6")).quantize(Decimal("0.01"), ROUND_HALF_UP)]
        if len(after) > 1:
            parts.append(total - parts[0])
        for n, (days, amount) in enumerate(zip(after, parts, strict=True), 1):
            rows.append([(day + datetime.timedelta(days=days)).isoformat(), customer, invoice,
                         f"{amount:.2f}", currency, f"pay-{invoice.lower()}-{n}"])
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(PAYMENT_FIELDS)
        writer.writerows(sorted(rows))
    return len(rows)


# --- a synthetic company for benchmarks -----------------------------------------------------


def _yaml_rates(models: dict[str, tuple[str, str, str]], indent: str) -> str:
    return "".join(f"{indent}{m}: {{input: {i}, cached_input: {c}, output: {o}}}\n"
                   for m, (i, c, o) in sorted(models.items()))


def write_company_contracts(root: Path, customers: int, seed: int) -> list[Profile]:
    """Contracts, price book and cost tables of a synthetic company; returns the profiles."""
    rng = random.Random(f"company:{seed}")
    for sub in ("customers", "price-books", "costs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "price-books" / "list-2026.yaml").write_text(
        "id: list-2026\ncurrency: USD\nper: 1000000\nversions:\n  - effective: 2026-01-01\n"
        "    models:\n" + _yaml_rates(LIST_PRICES, "      "))
    for provider, table in COSTS.items():
        (root / "costs" / f"{provider}.yaml").write_text(
            f"id: {provider}\nprovider: {provider}\ncurrency: USD\nper: 1000000\nversions:\n"
            "  - effective: 2026-01-01\n    models:\n" + _yaml_rates(table, "      "))
    profiles = []
    for n in range(customers):
        cid = f"cust{n:04d}"
        kind = ("prepaid", "arrears", "hybrid")[n % 3]
        models = {m: rng.randint(1, 5) for m in rng.sample(MODELS, rng.randint(1, 3))}
        profiles.append(Profile(cid, rng.randint(5, 40), models,
                                {"chat": 3, "summarize": 1, "retry": 1},
                                input_tokens=rng.randint(500, 5000),
                                output_tokens=rng.randint(100, 1000), growth=rng.random()))
        head = (f"customer: {cid}\nname: Customer {n}\nsegment: {kind}\ncontracts:\n"
                f"  - id: {cid}-2026\n    start: 2026-01-01\n    currency: USD\n"
                f"    price_book: list-2026\n    non_billable_features: [retry]\n")
        if kind == "prepaid":
            body = ("    billing: prepaid\n    credit_value: 0.01\n    packs:\n"
                    "      standard: {price: 500.00, credits: 50000, expires_after: 6 months}\n"
                    "    overage: {policy: top_up, top_up: {pack: standard, below: 5000}}\n")
        elif kind == "arrears":
            body = "    billing: arrears\n"
        else:
            body = ("    billing: arrears\n    commitment: {amount: 200.00, period: month, "
                    "method: remote}\n")
        (root / "customers" / f"{cid}.yaml").write_text(head + body)
    return profiles


def write_company(out: Path, customers: int = 200, months: int = 12, seed: int = 11
                  ) -> dict[str, int]:
    profiles = write_company_contracts(out / "contracts", customers, seed)
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    counts = write_monthly_usage(sources, profiles, datetime.date(2026, 1, 1), months, seed)
    purchases = [
        {"date": "2026-01-01", "customer": p.customer, "contract": f"{p.customer}-2026",
         "pack": "standard", "amount": "500.00", "currency": "USD",
         "payment_id": f"pay-{p.customer}-0001"}
        for i, p in enumerate(profiles) if i % 3 == 0
    ]
    counts["purchases.csv"] = write_purchases(sources / "purchases.csv", purchases)
    return counts


@click.group()
def main() -> None:
    """Write synthetic usage, purchases and contracts."""


@main.command("sample")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", default=7, show_default=True)
def sample_command(out: Path, seed: int) -> None:
    """The bundled sample company's usage and purchases (2026-01 to 2026-03)."""
    for name, count in write_sample(out, seed).items():
        click.echo(f"{out / name}: {count} rows")


@main.command("payments")
@click.option("--invoices", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              required=True, help="An invoices file of the book (invoices/YYYY-MM.beancount).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def payments_command(invoices: Path, out: Path) -> None:
    """The sample's customers paying the invoices of one month (a payments CSV)."""
    click.echo(f"{out}: {write_payments(invoices, out)} rows")


@main.command("company")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--customers", default=200, show_default=True)
@click.option("--months", default=12, show_default=True)
@click.option("--seed", default=11, show_default=True)
def company_command(out: Path, customers: int, months: int, seed: int) -> None:
    """A synthetic company: contracts, a year of usage, purchases."""
    for name, count in write_company(out, customers, months, seed).items():
        click.echo(f"{name}: {count} rows")


if __name__ == "__main__":
    main()
