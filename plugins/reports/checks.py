"""The close's reconciliations of a month, each a named ``reconcile.Check`` with its
figures: unbilled zero after invoicing, each invoice once, COGS = provider bills, the
contract-liability rollforward tied out, and usage completeness (its source side is
counted by the close command: ``tokenbooks.scripts.sources``).

The close writes them to ``reports/YYYY-MM/checks.json``; ``recorded`` reads that record
back (Fava's Close status page shows what the close found, it does not re-read the
sources).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from ..entries.build import number
from ..rules import accounts, reconcile
from ..rules.rounding import to_cent
from . import rollforward
from .invoices import booked_invoices
from .ledger import Month
from .rows import balances
from .tables import Table

ZERO = Decimal("0.00")
COLUMNS = ["check", "status", "detail", "failures"]
NOT_RUN = "not run"


def unbilled(month: Month) -> reconcile.Check:
    return reconcile.unbilled(balances(month.to_date, accounts.UNBILLED,
                                       month.ids, month.end))


def invoices(month: Month) -> reconcile.Check:
    ids = [(str(e.meta.get("invoice")), str(e.meta.get("customer")),
            str(e.meta.get("period"))) for e in booked_invoices(month.to_date)]
    return reconcile.invoices(ids, month.period)


def cogs(month: Month) -> tuple[reconcile.Check, Table]:
    """Per provider: attributed + unattributed cost of the month = its bill; a provider
    without a bill of the month yet is "accrued, bill pending"; closed months' bills
    booked this month are shown with their true-ups (``rules.bills``)."""
    exact: dict[str, Decimal] = defaultdict(Decimal)  # the month's bill, every line
    prior_exact: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # closed months'
    names: dict[str, str] = {}
    own: set[str] = set()
    for line, _entry in month.ledger.bills:
        if month.start <= line.day <= month.end:
            component = accounts.component(line.provider)
            names[component] = line.provider
            exact[component] += line.amount
            if line.prior_period:
                prior_exact[(component, line.prior_period)] += line.amount
            else:
                own.add(component)
    prior_billed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for (component, _period), amount in prior_exact.items():  # rounded as the bill splits
        prior_billed[component] += to_cent(amount)
    attributed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    unattributed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    true_up: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in month.transactions:
        if entry.meta.get("rule") == "promotional":
            continue  # cost moved from COGS to marketing: still the provider's (grants)
        for p in entry.postings:
            if p.units is None:
                continue
            found = accounts.sub_component(p.account, accounts.COGS_INFERENCE)
            if found is not None:
                attributed[found] += number(p)
                continue
            found = accounts.sub_component(p.account, accounts.COGS_UNATTRIBUTED)
            if found is not None:
                target = true_up if (p.meta or {}).get("prior_period") else unattributed
                target[found] += number(p)
    providers = []
    for c in sorted(set(exact) | set(attributed) | set(unattributed)):
        billed = to_cent(exact.get(c, 0)) - prior_billed[c]
        pending = c not in own and attributed.get(c, ZERO) != 0 and not unattributed.get(c)
        providers.append(reconcile.ProviderCost(
            names.get(c, c.lower()), billed, attributed.get(c, ZERO),
            unattributed.get(c, ZERO), pending, prior_billed[c], true_up.get(c, ZERO)))
    result = reconcile.cogs(providers)
    rows: list[dict[str, object]] = [
        {"provider": p.provider, "bills": p.billed, "attributed": p.attributed,
         "unattributed": p.unattributed, "difference": p.difference,
         "status": reconcile.PENDING if p.pending else ("ok" if not p.difference
                                                        else "FAILED"),
         "prior_period_bills": p.prior_billed, "prior_period_true_up": p.prior_true_up}
        for p in providers]
    return result, Table("cogs", f"COGS tie-out {month.period}",
                         ["provider", "bills", "attributed", "unattributed", "difference",
                          "status", "prior_period_bills", "prior_period_true_up"], rows)


CLEARING_KINDS = {"purchase": "charges", "payment": "charges", "fee": "fees",
                  "refund": "refunds", "payout": "payouts"}


def clearing(month: Month) -> reconcile.Check:
    """``Assets:Stripe`` (and any account under it) over the month, by what moved it."""
    root = accounts.STRIPE
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for entry in month.to_date:
        kind = ("opening" if entry.date < month.start
                else CLEARING_KINDS.get(str(entry.meta.get("rule", "")), "other"))
        for p in entry.postings:
            if accounts.under(p.account, root) and p.units is not None:
                amount = number(p)
                if kind == "charges" and amount < 0:
                    kind_here = "fees"  # the charge's own fee leg
                else:
                    kind_here = kind
                sums[p.account][kind_here] += amount
    found = []
    for account, s in sorted(sums.items()):
        closing = sum(s.values(), ZERO)
        found.append(reconcile.Clearing(account, s["opening"], s["charges"], -s["fees"],
                                        -s["refunds"], -s["payouts"], s["other"], closing))
    return reconcile.clearing(found)


def of_book(month: Month) -> list[reconcile.Check]:
    """The checks that need nothing but the loaded book: unbilled, invoices, COGS, the
    rollforward and the clearing accounts (completeness also needs the source files: the
    close's)."""
    return [unbilled(month), invoices(month), cogs(month)[0], rollforward.check(month),
            clearing(month)]


def not_run(name: str, why: str) -> reconcile.Check:
    """A check this reader cannot run (shown as such, never as passed)."""
    return reconcile.Check(name, True, why, [])


def table(period: str, checks: Sequence[reconcile.Check],
          skipped: Sequence[str] = ()) -> Table:
    """The checks as a table; ``skipped``: names of checks not run here (status
    ``not run``)."""
    rows: list[dict[str, object]] = []
    for c in checks:
        status = (NOT_RUN if c.name in skipped else c.status or ("ok" if c.ok else "FAILED"))
        rows.append({"check": c.name, "status": status,
                     "detail": c.detail, "failures": "; ".join(c.failures)})
    return Table("checks", f"Reconciliations {period}", list(COLUMNS), rows)


def recorded(root: Path, period: str) -> Table | None:
    """The reconciliations the close of ``period`` recorded (``reports/<period>/
    checks.json``), or None when there is no readable record."""
    path = root / "reports" / period / "checks.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows: list[dict[str, object]] = [{c: str(row.get(c, "")) for c in COLUMNS}
                                         for row in doc["rows"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return Table("checks", str(doc.get("title") or f"Reconciliations {period}"),
                 list(COLUMNS), rows, [f"As recorded by the close of {period} in "
                                       f"reports/{period}/checks.json."])
