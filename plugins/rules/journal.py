"""What the engine produces: bookings (balanced transactions), notices and errors.

Plain data, no Beancount type: ``tokenbooks.plugins.revenue`` turns a ``Booking`` into a
``Transaction`` (one posting per ``Leg``, the leg's ``lot``, ``rule`` and ``detail`` as
posting metadata), a ``Notice`` into a ``custom "tokenbooks"`` warning entry and an
``EngineError`` into a ``bean-check`` error.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Leg:
    account: str
    amount: Decimal
    lot: str = ""
    rule: str = ""
    # (model, feature, action) the revenue of a Usage or Actions leg was earned by, when
    # the engine split it so (``ContractEngine.split``); posting metadata in the book.
    detail: tuple[str, str, str] | None = None
    # the model ids as logged (comma-separated) when not ``detail``'s model, which is the
    # price book's (``rules.models``): posting metadata ``logged_model``.
    logged: str = ""


@dataclass
class Booking:
    """One generated transaction: one customer, one contract, balanced legs."""

    date: datetime.date
    customer: str
    contract: str
    rule: str
    narration: str
    legs: list[Leg]
    meta: dict[str, object] = field(default_factory=dict)
    links: tuple[str, ...] = ()

    def balanced(self) -> bool:
        return sum((leg.amount for leg in self.legs), Decimal(0)) == 0


@dataclass(frozen=True)
class Notice:
    """A warning that is not an error (e.g. usage blocked by a hard stop)."""

    date: datetime.date
    customer: str
    contract: str
    rule: str
    message: str
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineError:
    """An error to report at ``ref`` (``file:line`` of the usage or purchase entry)."""

    date: datetime.date
    customer: str
    message: str
    ref: str = ""
