"""The usage sub-ledger and purchase entries in Beancount form, both ways.

Importers write these entries; plugins read them back into the plain records of
``tokenbooks.plugins.rules.records``. Keeping both directions in one module keeps the
format in one place.

A usage aggregate (one customer, UTC day, model, feature and action) with provenance:

    2026-01-05 custom "usage" "acme" "gpt-4o" "chat" ""
      input_tokens: 120000
      cached_input_tokens: 20000
      output_tokens: 30000
      events: 42
      source: "usage-2026-01.jsonl"
      sha256: "9f2c..."
      first_event: "evt-000001"
      last_event: "evt-000042"

An action aggregate has the action as fourth value and its outcomes in metadata
(``completed``, ``partial``, ``failed``). A credit purchase is a transaction:

    2026-01-03 * "Acme Corp" "Credit purchase: standard" ^acme-2026
      customer: "acme"
      contract: "acme-2026"
      rule: "purchase"
      pack: "standard"
      credits: 100000
      expires: 2026-07-03
      payment_id: "pay-001"
      Assets:Bank                          1000.00 USD
      Liabilities:Deferred-Revenue:Acme   -1000.00 USD
"""

from __future__ import annotations

import datetime
import gc
from collections.abc import Iterable, Sequence
from decimal import Decimal

from beancount.core import data
from beancount.core.amount import Amount
from beancount.parser import grammar

from .rules import accounts
from .rules.records import Purchase, Usage

USAGE = "usage"
COUNT_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "events",
                "completed", "partial", "failed", "unbilled_events")
OUTCOME_FIELDS = COUNT_FIELDS[4:]
_new_usage = tuple.__new__  # Usage's fields in order, without its keyword-handling __new__


def _ref(meta: data.Meta) -> str:
    return f"{meta.get('filename', '?')}:{meta.get('lineno', 0)}"


# The parsed record is kept in the entry's metadata (a hidden ``__`` key, never printed),
# so that the several plugins of one load (revenue, cogs, reports) parse each usage entry
# once: at a few hundred thousand entries, parsing is a visible share of a load. It is
# kept as a plain tuple of the Usage fields, not as a Usage. Beancount's metadata dicts
# hold only numbers and strings, so the cyclic garbage collector does not track them;
# storing a tracked object (a NamedTuple, a young tuple) in a few hundred thousand of
# them makes them all tracked, and they set off a full collection of the whole book
# later in the load (seconds). A plain tuple of numbers, strings and dates can be
# untracked first (``usage_table``).
PARSED = "__tokenbooks_usage__"


def _count(raw: object, name: str) -> int:
    if raw.__class__ is Decimal:
        numerator, denominator = raw.as_integer_ratio()
        if denominator == 1 and numerator >= 0:
            return numerator
    elif raw.__class__ is int and raw >= 0:
        return raw
    raise ValueError(f"{name}: expected a whole number >= 0, got {raw!r}")


def usage_from_entry(entry: data.Custom) -> Usage:
    """The Usage record of one ``custom "usage"`` entry (raises ValueError if malformed)."""
    return _new_usage(Usage, usage_fields(entry))


def usage_fields(entry: data.Custom) -> tuple:
    """The fields of ``usage_from_entry(entry)`` as a plain tuple, in the order of Usage."""
    parsed = entry.meta.get(PARSED)
    if parsed is None:
        parsed = entry.meta[PARSED] = _usage_fields(entry)
    return parsed


def usage_table(entries: Iterable[data.Directive]
                ) -> tuple[list[data.Custom], list[tuple], list[tuple]]:
    """The usage entries of a book, the fields of each (as ``usage_fields``), and
    (entry, message) for the malformed ones: the one pass of a load's first plugin over
    every usage entry, the later ones read the fields it kept."""
    found, fields, bad = [], [], []
    fresh_metas, fresh = [], []
    custom = data.Custom
    for entry in entries:
        if entry.__class__ is custom and entry.type == USAGE:
            parsed = entry.meta.get(PARSED)
            if parsed is None:
                try:
                    parsed = _usage_fields(entry)
                except ValueError as exc:
                    bad.append((entry, str(exc)))
                    continue
                fresh_metas.append(entry.meta)
                fresh.append(parsed)
            found.append(entry)
            fields.append(parsed)
    if fresh:
        # A young tuple of numbers, strings and dates is untracked by the next collection
        # of the youngest generation (cheap: it holds little else). Kept after that, it
        # leaves the entries' metadata dicts untracked too (see PARSED).
        gc.collect(0)
        for meta, parsed in zip(fresh_metas, fresh, strict=True):
            meta[PARSED] = parsed
    return found, fields, bad


def _usage_fields(entry: data.Custom) -> tuple:
    # The hot path of every load: positional access, one integer check per count.
    values = entry.values
    size = len(values)
    customer = values[0].value if size else None
    if not customer or not isinstance(customer, str):
        raise ValueError('expected custom "usage" "<customer>" "<model>" "<feature>" "<action>"')
    model = (values[1].value or "") if size > 1 else ""
    feature = (values[2].value or "") if size > 2 else ""
    action = (values[3].value or "") if size > 3 else ""
    get = entry.meta.get
    # Unrolled for the four counts every entry has; the hot path of every load.
    raw = get("input_tokens")
    input_tokens = 0
    if raw is not None:
        input_tokens, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or input_tokens < 0:
            input_tokens = _count(raw, "input_tokens")
    raw = get("cached_input_tokens")
    cached = 0
    if raw is not None:
        cached, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or cached < 0:
            cached = _count(raw, "cached_input_tokens")
    raw = get("output_tokens")
    output = 0
    if raw is not None:
        output, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or output < 0:
            output = _count(raw, "output_tokens")
    raw = get("events")
    events = 0
    if raw is not None:
        events, one = raw.as_integer_ratio() if raw.__class__ is Decimal else (-1, 0)
        if one != 1 or events < 0:
            events = _count(raw, "events")
    if cached > input_tokens:
        raise ValueError("cached_input_tokens: expected at most input_tokens")
    outcomes = [0, 0, 0, 0]  # completed, partial, failed, unbilled_events: often absent
    for i, name in enumerate(OUTCOME_FIELDS):
        raw = get(name)
        if raw is not None:
            outcomes[i] = _count(raw, name)
    until = get("until")
    user = get("user")
    return (entry.date, customer, model, feature, action, input_tokens, cached, output,
            events, *outcomes, str(user) if user else "",
            until if isinstance(until, datetime.date) else None,
            f"{get('filename', '?')}:{get('lineno', 0)}")


def usage_records(entries: Iterable[data.Directive]) -> tuple[list[Usage], list[tuple]]:
    """All usage records of a book, and (entry, message) for entries that are malformed."""
    _, fields, bad = usage_table(entries)
    return [_new_usage(Usage, parsed) for parsed in fields], bad


def _value(value: object) -> grammar.ValueType:
    return grammar.ValueType(value, type(value))


def usage_entry(usage: Usage, provenance: dict[str, object]) -> data.Custom:
    """The ``custom "usage"`` entry for ``usage``, with provenance metadata."""
    meta: dict[str, object] = {}
    for name in COUNT_FIELDS:
        value = getattr(usage, name)
        if value or name == "events":
            meta[name] = Decimal(value)
    if usage.user:
        meta["user"] = usage.user
    if usage.until and usage.until != usage.date:
        meta["until"] = usage.until
    meta.update(provenance)
    return data.Custom(
        data.new_metadata(str(provenance.get("source", "<import>")), 0, meta), usage.date,
        USAGE, [_value(usage.customer), _value(usage.model), _value(usage.feature),
                _value(usage.action)],
    )


def is_purchase(entry: data.Directive) -> bool:
    return (isinstance(entry, data.Transaction)
            and entry.meta.get("rule") in ("purchase", "refund")
            and "customer" in entry.meta)


def purchase_from_entry(entry: data.Transaction) -> Purchase:
    """The Purchase record of a purchase or refund transaction."""
    meta = entry.meta
    customer = meta["customer"]
    liability = accounts.deferred_revenue(customer)
    legs = [p for p in entry.postings if p.account == liability]
    if not legs:
        raise ValueError(f"expected a posting to {liability}")
    amount = sum((p.units.number for p in legs), Decimal(0))
    currency = legs[0].units.currency
    kind = meta["rule"]
    paid = not any(p.account.startswith("Assets:Receivable:") for p in entry.postings)
    credits = meta.get("credits")
    return Purchase(
        date=entry.date, customer=customer, contract=str(meta.get("contract", "")),
        pack=str(meta.get("pack", "")), amount=abs(amount), currency=currency,
        payment_id=str(meta.get("payment_id", "") or ""),
        credits=Decimal(credits) if credits is not None else None,
        expires=meta.get("expires") if isinstance(meta.get("expires"), datetime.date) else None,
        paid=paid, kind=kind, refund_of=str(meta.get("refund_of", "") or ""), ref=_ref(meta),
    )


def purchase_records(entries: Iterable[data.Directive]) -> tuple[list[Purchase], list[tuple]]:
    records, bad = [], []
    transaction = data.Transaction
    for entry in entries:  # every load: a class check first, not a call per entry
        if entry.__class__ is transaction and is_purchase(entry):
            try:
                records.append(purchase_from_entry(entry))
            except (ValueError, KeyError) as exc:
                bad.append((entry, str(exc)))
    return records, bad


def purchase_entry(purchase: Purchase, payee: str, provenance: dict[str, object],
                   cash_account: str = accounts.BANK) -> data.Transaction:
    """The transaction of a credit purchase (or refund) that ``purchase_from_entry`` reads
    back: cash (or the receivable when unpaid) against the customer's contract liability.
    ``provenance`` (source, sha256, import_key, ...) is added to the metadata."""
    meta: dict[str, object] = {"customer": purchase.customer, "contract": purchase.contract,
                               "rule": purchase.kind, "pack": purchase.pack}
    if purchase.credits is not None:
        meta["credits"] = purchase.credits
    if purchase.expires is not None:
        meta["expires"] = purchase.expires
    meta["payment_id"] = purchase.payment_id
    if purchase.refund_of:
        meta["refund_of"] = purchase.refund_of
    meta.update(provenance)
    cash = cash_account if purchase.paid else accounts.receivable(purchase.customer)
    sign = Decimal(1) if purchase.kind == "purchase" else Decimal(-1)
    what = "Credit purchase" if purchase.kind == "purchase" else "Refund"
    return transaction(
        meta, purchase.date, payee, f"{what}: {purchase.pack}",
        [posting(cash, sign * purchase.amount, purchase.currency),
         posting(accounts.deferred_revenue(purchase.customer), -sign * purchase.amount,
                 purchase.currency)],
        links=[purchase.contract] if purchase.contract else (),
        filename=str(provenance.get("source", "<import>")),
    )


def posting(account: str, number: Decimal, currency: str) -> data.Posting:
    return data.Posting(account, Amount(number, currency), None, None, None, None)


def transaction(meta: dict[str, object], date: datetime.date, payee: str, narration: str,
                postings: Sequence[data.Posting], links: Iterable[str] = (),
                filename: str = "<tokenbooks>", lineno: int = 0) -> data.Transaction:
    return data.Transaction(
        data.new_metadata(filename, lineno, dict(meta)), date, "*", payee, narration,
        data.EMPTY_SET, frozenset(links), list(postings),
    )
