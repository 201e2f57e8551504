"""The files ``tokenbooks close`` writes into the book: the invoices and the lock of a month.

    invoices/2026-01.beancount   the month's invoice run and one invoice per customer
    closes/2026-01.beancount     the close directive (fingerprint of the manifest)
    closes/2026-01.manifest      one fingerprint per entry of the month (plugins.lock)

Both folders are included by ``main.beancount`` (``include "invoices/*.beancount"``,
``include "closes/*.beancount"``); each holds a ``README.beancount`` so the glob always
matches. Files are written only when their text changes, byte for byte the same for
the same book.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from decimal import Decimal
from pathlib import Path

from beancount.core import data
from beancount.core.amount import Amount
from beancount.parser import printer

from tokenbooks.plugins import lock
from tokenbooks.plugins.entries.build import value
from tokenbooks.plugins.rules import accounts, manifest
from tokenbooks.plugins.rules.invoicing import Invoice

_UMASK = os.umask(0)
os.umask(_UMASK)
INVOICES = "invoices"
CLOSES = "closes"
INVOICE_RUN = "invoice-run"
README = {
    INVOICES: "; Invoices written by `tokenbooks close`, one file per month.\n",
    CLOSES: "; Closed months written by `tokenbooks close`: a close directive and the "
            "manifest of each.\n",
}


def invoice_entry(inv: Invoice, payee: str, filename: str) -> data.Transaction:
    meta = data.new_metadata(filename, 0, {
        "customer": inv.customer, "contract": " ".join(inv.contracts), "rule": "invoice",
        "invoice": inv.id, "period": inv.period, "due": inv.due,
        "payment_terms_days": Decimal(inv.terms_days)})
    postings = []
    for n, line in enumerate(inv.lines, 1):
        pmeta = {"line": Decimal(n), "stream": line.stream}
        if line.model:
            pmeta["model"] = line.model
        postings.append(data.Posting(accounts.receivable(inv.customer),
                                     Amount(line.amount, inv.currency), None, None, None,
                                     pmeta))
    postings.append(data.Posting(accounts.unbilled(inv.customer),
                                 Amount(-inv.total, inv.currency), None, None, None, None))
    links = frozenset({inv.id, *inv.contracts})
    return data.Transaction(meta, inv.date, "*", payee,
                            f"Invoice {inv.id} for {inv.period}", data.EMPTY_SET, links,
                            postings)


def invoices_text(period: str, period_end: datetime.date, items: list[Invoice],
                  payees: dict[str, str]) -> str:
    """The invoice file of ``period``: the run (dated the month's last day, so the whole
    month is in the book when it is closed) and the invoices."""
    head = (f"; Invoices of {period}, written by `tokenbooks close`: do not edit.\n"
            f"; Each bills the month's Assets:Unbilled of one customer to "
            f"Assets:Receivable.\n")
    run = data.Custom(data.new_metadata("<close>", 0, {"invoices": Decimal(len(items))}),
                      period_end, INVOICE_RUN, [value(period)])
    parts = [printer.format_entry(run)]
    for inv in items:
        parts.append(printer.format_entry(invoice_entry(inv, payees.get(inv.customer,
                                                                        inv.customer),
                                                        "<close>")))
    return head + "\n" + "\n".join(parts)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it holds it already; atomically (a temporary file
    beside it, flushed, then renamed over it), so that a crash leaves the old file or the
    new one, never a part. Whether it wrote."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            os.fchmod(out.fileno(), 0o666 & ~_UMASK)  # as a plain write would make it
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return True


def ensure_folders(book: Path) -> None:
    for folder, text in README.items():
        readme = book / folder / "README.beancount"
        if not readme.exists():
            write_if_changed(readme, text)


def close_files(book: Path, period: str, period_end: datetime.date,
                entries: data.Directives) -> tuple[Path, Path, int]:
    """Write the manifest and the close directive of ``period`` from the loaded book."""
    items = [item for item, _ in lock.period_items(entries, {period}, book)[period]]
    text = manifest.render(items)
    folder = book / CLOSES
    manifest_file = folder / f"{period}.manifest"
    write_if_changed(manifest_file, text)
    close = data.Custom(data.new_metadata("<close>", 0, {
        "manifest": manifest_file.name, "fingerprint": manifest.digest(text),
        "entries": Decimal(len(items))}), period_end, lock.CLOSE, [value(period)])
    directive = (f"; {period} is closed: `tokenbooks close` wrote this file and "
                 f"{manifest_file.name}.\n; Any later change to an entry dated in "
                 f"{period} is a bean-check error (tokenbooks.plugins.lock).\n\n"
                 + printer.format_entry(close))
    close_file = folder / f"{period}.beancount"
    write_if_changed(close_file, directive)
    return close_file, manifest_file, len(items)
