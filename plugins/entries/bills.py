"""Provider bill lines in Beancount form, both ways.

The provider cost importers (``tokenbooks.importers.openai_costs``,
``tokenbooks.importers.anthropic_costs``) write one entry per line of the provider's cost
report: a day bucket and a line item, in currency units (dollars), exact as reported.
``tokenbooks.plugins.cogs`` reads them back, adds up each provider's lines per posting
period and books the bill against the cost attributed to usage.

    2026-01-05 custom "provider-bill" "openai" "gpt-4o-2024-08-06, input" 41.204 USD
      bill_key: "openai|2026-01-05|proj_abc|gpt-4o-2024-08-06, input"
      project_id: "proj_abc"
      source: "openai-costs-2026-01.json"
      sha256: "9f2c..."

``bill_key`` is the report's natural key (provider, bucket day and the report's group-by
fields): importing the same report twice, or two overlapping reports, marks the second
copy of a line as a duplicate. A line re-issued with another amount is booked as a
revision: the difference, keyed ``<bill_key>#r<n>``, with ``revision_of`` (the report's
key) and ``supersedes`` (the line it corrects); ``booked_bills`` gives each report key's
total so far. A line dated in the first open month for a closed one carries
``prior_period`` (``importers.late``), kept on the ``BillLine``.

    >>> booked_bills(entries)["openai|2026-01-05|proj_abc|gpt-4o-2024-08-06, input"].total
    Decimal('41.204')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from beancount.core import data
from beancount.core.amount import Amount

from ..rules.bills import BillLine
from .build import ref, value

PROVIDER_BILL = "provider-bill"
KEY = "bill_key"
REVISION_OF = "revision_of"


def bill_entry(line: BillLine, meta: dict[str, object]) -> data.Custom:
    """The ``custom "provider-bill"`` entry of one bill line, with provenance ``meta``."""
    values = [value(line.provider), value(line.label), value(Amount(line.amount, line.currency))]
    full = {KEY: line.key, **meta}
    return data.Custom(data.new_metadata(str(meta.get("source", "<import>")), 0, full),
                       line.day, PROVIDER_BILL, values)


def line_from_entry(entry: data.Custom) -> BillLine:
    """The bill line of a ``custom "provider-bill"`` entry (ValueError if malformed)."""
    values = [item.value for item in entry.values]
    if (len(values) != 3 or not isinstance(values[0], str) or not values[0]
            or not isinstance(values[1], str) or not isinstance(values[2], Amount)):
        raise ValueError('expected custom "provider-bill" "<provider>" "<line item>" '
                         '<amount> <currency>')
    key = entry.meta.get(KEY)
    if not isinstance(key, str) or not key:
        raise ValueError(f"{KEY}: expected the report's natural key as a string")
    amount = values[2]
    if amount.number is None:
        raise ValueError("expected an amount with a number")
    prior = entry.meta.get("prior_period")
    return BillLine(provider=values[0], day=entry.date, amount=Decimal(amount.number),
                    currency=amount.currency, key=key, label=values[1], ref=ref(entry.meta),
                    prior_period=prior if isinstance(prior, str) else "")


def bill_lines(entries: Iterable[data.Directive]
               ) -> tuple[list[tuple[BillLine, data.Custom]], list[tuple[data.Custom, str]]]:
    """Every bill line of a book with its entry, and (entry, message) for malformed ones."""
    lines, bad = [], []
    custom = data.Custom
    for entry in entries:  # every load: a class check per entry, not isinstance
        if entry.__class__ is custom and entry.type == PROVIDER_BILL:
            try:
                lines.append((line_from_entry(entry), entry))
            except ValueError as exc:
                bad.append((entry, str(exc)))
    return lines, bad


def existing_keys(entries: Iterable[data.Directive]) -> set[str]:
    """The ``bill_key`` of every provider bill line already in the book."""
    return {e.meta[KEY] for e in entries
            if isinstance(e, data.Custom) and e.type == PROVIDER_BILL and KEY in e.meta}


@dataclass
class Booked:
    """What the book holds of one report line: the total of its lines (the first and
    its revisions), the key of the latest, its revision number, the reports it came from."""

    total: Decimal
    latest: str
    revision: int = 1
    sources: set[str] = field(default_factory=set)


def booked_bills(entries: Iterable[data.Directive]) -> dict[str, Booked]:
    """Each report key (``bill_key``, or ``revision_of`` of a revision) of the book's
    bill lines, with what is booked of it."""
    out: dict[str, Booked] = {}
    for entry in entries:
        if not (isinstance(entry, data.Custom) and entry.type == PROVIDER_BILL
                and isinstance(entry.meta.get(KEY), str)):
            continue
        key = entry.meta[KEY]
        base = entry.meta.get(REVISION_OF) or key
        amount = entry.values[2].value if len(entry.values) == 3 else None
        number = Decimal(amount.number) if isinstance(amount, Amount) and amount.number is not None else Decimal(0)
        raw = entry.meta.get("revision")
        revision = int(raw) if isinstance(raw, Decimal) else 1
        state = out.get(base)
        if state is None:
            state = out[base] = Booked(Decimal(0), key, 0)
        state.total += number
        if revision > state.revision:
            state.latest, state.revision = key, revision
        digest = entry.meta.get("sha256")
        if isinstance(digest, str):
            state.sources.add(digest)
    return out
