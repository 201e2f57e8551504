"""Breakage: the estimate in force against the rate the book's history shows.

Pure computation (no Beancount import). The estimate in force on a day is the pack's
``breakage.rate``, or the latest approved revision (with ``approved_by``) dated on or
before that day (``revisions`` take effect on their date as a cumulative catch-up,
``rules.modifications``; the engine does not apply one without ``approved_by``). The history's
rate is what the lots of the pack that have expired left unused: credits unused at expiry
divided by credits, over every lot of the pack whose expiry date is on or before the
day. A pack whose lots have not expired yet has no history (``None``), never a zero.

    acme standard  proportional  in force 0.20 (pack)   history 0.17 over 3 lots
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .lots import Lot
from .model import ContractSet, Pack

RATE = Decimal("0.0001")


@dataclass(frozen=True)
class Estimate:
    customer: str
    contract: str
    pack: str
    method: str  # proportional | remote
    rate: Decimal | None  # expected unused fraction in force (None: remote)
    since: str  # "pack" or the revision's date
    basis: str  # the revision's basis and approver, if any
    expired_lots: int
    expired_credits: Decimal
    unused_credits: Decimal
    history_rate: Decimal | None  # None: no lot of the pack has expired yet

    @property
    def difference(self) -> Decimal | None:
        if self.rate is None or self.history_rate is None:
            return None
        return self.history_rate - self.rate


def in_force(pack: Pack, day: datetime.date) -> tuple[Decimal | None, str, str]:
    """(rate, since, basis) of the pack's breakage estimate on ``day``."""
    terms = pack.breakage
    if terms.method != "proportional":
        return None, "", "remote: recognized at expiry"
    rate, since, basis = terms.rate, "pack", ""
    for revision in sorted(terms.revisions, key=lambda r: r.date):
        if revision.date <= day and revision.approved_by:
            rate, since = revision.rate, revision.date.isoformat()
            basis = "; ".join(x for x in (revision.basis or "", revision.approved_by or "")
                              if x)
    return rate, since, basis


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), ROUND_HALF_UP)


def estimates(contracts: ContractSet, lots: Iterable[Lot], day: datetime.date
              ) -> list[Estimate]:
    """One line per pack of every contract in force on ``day`` or with lots."""
    expired: dict[tuple[str, str], list[Lot]] = {}
    seen: set[tuple[str, str]] = set()
    for lot in lots:
        seen.add((lot.contract, lot.pack))
        if lot.expires is not None and lot.expires <= day:
            expired.setdefault((lot.contract, lot.pack), []).append(lot)
    out = []
    for cid in sorted(contracts.customers):
        for contract in contracts.customers[cid].contracts:
            for name, pack in sorted(contract.packs.items()):
                if not contract.active_on(day) and (contract.id, name) not in seen:
                    continue
                rate, since, basis = in_force(pack, day)
                done = expired.get((contract.id, name), [])
                credits = sum((lot.credits for lot in done), Fraction(0))
                unused = sum((lot.credits - lot.used for lot in done), Fraction(0))
                history = ((Decimal(unused.numerator) / Decimal(unused.denominator)
                            / (Decimal(credits.numerator) / Decimal(credits.denominator))
                            ).quantize(RATE, ROUND_HALF_UP) if credits else None)
                out.append(Estimate(cid, contract.id, name, pack.breakage.method, rate, since,
                                    basis, len(done), _decimal(credits), _decimal(unused),
                                    history))
    return out
