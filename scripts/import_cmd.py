"""``tokenbooks import --ledger FILE SOURCE...``: usage logs and purchases into the book.

    tokenbooks import --ledger books/main.beancount usage-2026-01.jsonl payments.csv

For each source: find the one importer that identifies it (canonical usage JSONL, CSV
or Parquet, LiteLLM spend logs, canonical purchases CSV, Stripe payments export,
itemized balance report and credit grants JSON),
extract its entries while dropping every event id / payment id the book already holds
(and those of the sources before it), then write, beside ``main.beancount``:

    imports/2026-01.usage-2026-01.jsonl.273ce6c6.beancount    entries of one month
    imports/2026-01.usage-2026-01.jsonl.273ce6c6.events.gz    their event ids (usage)
    imports/usage-2026-01.jsonl.273ce6c6.quarantine.jsonl     rows not imported, and why
    documents/Income/Revenue/Usage/2026-01-31.usage-2026-01.273ce6c6.jsonl   the source

Names carry the first 8 hex digits of the source's sha256; a later import of the same
source that finds new rows (say, after a customer was added to the contracts) writes
``...273ce6c6-2.beancount``. Output is sorted and formatted the same way every time:
importing the same sources into the same book gives byte-identical files. Nothing is
written if any source cannot be read at all. A summary prints rows read, imported,
duplicates, conflicts and quarantined per source (read = imported + duplicates +
conflicts + quarantined; a conflict is an event id already booked with other content:
written to the quarantine file, the first booking kept), then the warnings (a provider
page with ``has_more: true``: the import is incomplete). ``--strict`` exits 1 on any
quarantined row, conflict or warning.

Importer settings (optional) live in ``importers.yaml`` beside the ledger:

    litellm:   {customers: {team-acme-support: acme}}     # end_user/team_id -> customer
    stripe:    {customers: {cus_QrvQguzkIK8zTj: hooli}, packs: {"Credit pack: 2,000 credits": starter},
                description_pattern: null, account: Assets:Stripe, bank: Assets:Bank,
                tax_jurisdiction: US-CA}      # payments export, itemized balance report and
                                              # credit grants (customers, packs, account)
    purchases: {account: Assets:Bank, tax_jurisdiction: US-CA}
    payments:  {account: Assets:Bank}                     # customer payments CSV: cash account

A mistake there (not YAML, a YAML tag such as ``!!python/object``, not a mapping, an
unknown importer or field, an ``account`` that is not a Beancount account name) is an
error naming the file, and nothing is imported.

Writing (``scripts.writing``): one command writes a book at a time (the lock file
``.tokenbooks.lock`` beside ``main.beancount``; ``--no-wait`` fails instead of waiting),
and every file is written atomically, in this order, source by source:

    documents/...                 the archived copy (if not there with its sha256 already)
    imports/...quarantine.jsonl   the rows not imported (or removed: none this time)
    imports/<month>...beancount   per month: the entries, then
    imports/<month>...events.gz   their event ids: the sidecar marks the events booked

so a crash, a kill or a full disk at any point leaves whole files only, and importing
the same sources again ends with exactly the files an uninterrupted run writes. What
the re-run finds and does: an archived copy with the wrong sha256 is copied again; an
import file without its sidecar (the run stopped between the two) is *unfinished*: its
events are not booked (no sidecar, so the dedupe does not know them) and the re-run
writes the same file, under the same name, then its sidecar; the temporary files a
killed run left are removed (``writing.sweep``). An unfinished file whose entries are
dated in a closed month is not an interrupted write (its month could not be closed
with it): it is kept and named in a warning.

With ``index: {store: cache}`` (docs/event-index.md) a usage import file records the
fingerprint of its ids in its header and has no sidecar; its ids go, after it, to
``.tokenbooks/index/`` (git-ignored). The import file alone marks its events booked: an
index missing, cut short or stale (a crash between the two, a fresh clone) is rebuilt
from the archived source before anything is read (``rebuild_index``), and if it cannot
be rebuilt to the fingerprint the import stops, nothing written.

Memory: the months a source sorted by time is done with wait in ``.tokenbooks/spill/``
(temporary files, ``UsageCore.spill``) and are written one at a time at the end; usage
entries are written as text straight from the aggregate tables
(``plugins.entries.usage_text``: the bytes of Beancount's printer).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import yaml
from beancount.core import account as bean_account
from beancount.core import data
from tqdm import tqdm

from tokenbooks.importers import (
    anthropic_costs,
    credit_notes,
    formats,
    late,
    litellm,
    openai_costs,
    purchases,
    rates,
    stripe,
    stripe_balance,
    stripe_credit_grants,
    usage_csv,
    usage_daily,
    usage_jsonl,
    usage_parquet,
)
from tokenbooks.importers import mapping as mapping_sources
from tokenbooks.importers import payments as payments_csv
from tokenbooks.importers.base import UsageImporter, archive_name, archived_copies, is_copy
from tokenbooks.importers.diagnose import explain
from tokenbooks.importers.index import (
    SIDECAR_SUFFIX,
    EventIndex,
    derived_path,
    fingerprint,
    repacked,
    sidecar_bytes,
    sidecar_for,
    sorted_ids,
    write_sidecar,
)
from tokenbooks.importers.memory import use_import_pool
from tokenbooks.importers.payments import InvoiceIndex
from tokenbooks.importers.provider_costs import ReportError
from tokenbooks.importers.purchase_base import PaymentIndex, slug
from tokenbooks.importers.usage import Extraction, SpilledMonth, UnreadableSource
from tokenbooks.plugins.config import PluginConfig, contracts_folder
from tokenbooks.plugins.entries import usage_text
from tokenbooks.plugins.entries.usage import at_grain
from tokenbooks.plugins.entries.usage_text import format_usage
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ContractSet
from tokenbooks.plugins.rules.records import EXTRA_COUNTS

from . import book_grain, close_files, loading, rebuild_index, writing

PROGRESS_BYTES = 16 << 20  # show a progress bar for sources larger than this


def load_book(ledger: Path) -> tuple[list[data.Directive], dict[str, Any]]:
    """The book's entries and options, as bean-check loads them, never from Beancount's
    pickle cache: it does not see new files of a glob include (``imports/*.beancount``),
    and dedupe must see every import file (``loading.load``)."""
    entries, _errors, options = loading.load(ledger)
    return entries, options


SETTINGS = {
    "litellm": ("customers",),
    "stripe": ("customers", "packs", "description_pattern", "account", "bank",
               "tax_jurisdiction"),
    "purchases": ("account", "tax_jurisdiction"),
    "payments": ("account",),
    "index": ("store",),  # where the event-id index lives (docs/event-index.md)
    **formats.SETTINGS,  # other tools' exports: customers, customer_from (docs/formats.md)
}


def read_settings(path: Path) -> dict[str, Any]:
    """The importer settings of ``path`` (``importers.yaml``), checked; ClickException
    naming the file and the mistake if they are not what ``make_importers`` takes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot be read ({exc}); nothing was "
                                   "imported") from exc
    try:
        found = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "tag" in str(problem):
            problem += " (YAML tags are not allowed in importer settings)"
        raise click.ClickException(f"{path}{where}: not valid importer settings: "
                                   f"{problem}; nothing was imported") from exc

    def bad(what: str) -> click.ClickException:
        return click.ClickException(f"{path}: {what}; nothing was imported")

    if found is None:
        return {}
    if not isinstance(found, dict):
        raise bad(f"expected a mapping of importers ({', '.join(SETTINGS)}) to their "
                  f"settings, got {type(found).__name__} {str(found)[:40]!r}")
    settings: dict[str, Any] = {}
    for name, section in found.items():
        if name == "sources":  # declared in-house sources (importers.mapping)
            try:
                settings[name] = mapping_sources.read_sources(section, path, text)
            except mapping_sources.MappingError as exc:
                raise click.ClickException(f"{exc}; nothing was imported") from exc
            continue
        if name not in SETTINGS:
            raise bad(f"unknown importer {name!r}; expected one of: "
                      f"{', '.join([*SETTINGS, 'sources'])}")
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise bad(f"{name}: expected a mapping of settings "
                      f"({', '.join(SETTINGS[name])}), got {type(section).__name__}")
        for key, value in section.items():
            if key not in SETTINGS[name]:
                raise bad(f"{name}.{key}: unknown setting; expected one of: "
                          f"{', '.join(SETTINGS[name])}")
            if key in ("account", "bank") and not (isinstance(value, str)
                                                   and bean_account.is_valid(value)):
                raise bad(f"{name}.{key}: expected a Beancount account name such as "
                          f"Assets:Bank, got {value!r}")
            if key == "tax_jurisdiction" and not (
                    isinstance(value, str)
                    and bean_account.is_valid(accounts.sales_tax(value))):
                raise bad(f"{name}.tax_jurisdiction: expected a jurisdiction such as US-CA "
                          f"or DE (letters, digits and dashes), got {value!r}")
            if key in ("customers", "packs"):
                if value is None:
                    value = {}
                if not isinstance(value, dict) or not all(
                        isinstance(v, (str, int)) and not isinstance(v, bool)
                        for pair in value.items() for v in pair):
                    raise bad(f"{name}.{key}: expected a mapping of names to names, got "
                              f"{str(value)[:60]!r}")
                value = {str(k): str(v) for k, v in value.items()}
            if name == "index" and key == "store" and value not in STORES:
                raise bad(f"index.store: expected one of {', '.join(STORES)} (book: a "
                          f"sidecar beside each import file; cache: a derived index "
                          f"outside the tracked files), got {value!r}")
            if key == "customer_from" and not formats.paths_ok(value):
                raise bad(f"{name}.customer_from: expected a list of field names (dotted "
                          f"paths) such as [metadata.tenant], got {str(value)[:60]!r}")
            if key == "description_pattern" and value is not None and not isinstance(
                    value, str):
                raise bad(f"{name}.description_pattern: expected a regular expression, "
                          f"got {value!r}")
            section = {**section, key: value}
        settings[name] = section
    return settings


def make_importers(contracts: ContractSet, settings: dict[str, Any]) -> list:
    """One importer per format, sharing the event and payment indexes."""
    events, payments = EventIndex(), PaymentIndex()
    invoices = InvoiceIndex()  # shared by the payments, credit notes and Stripe importers
    lite = settings.get("litellm") or {}
    strip = settings.get("stripe") or {}
    canon = settings.get("purchases") or {}
    return [
        *mapping_sources.importers(contracts, settings.get("sources") or [], events),
        usage_jsonl.Importer(contracts, index=events),
        usage_csv.Importer(contracts, index=events),
        usage_parquet.Importer(contracts, index=events),
        usage_daily.Importer(contracts, index=events),  # daily aggregates + ids
        litellm.Importer(contracts, index=events, customers=lite.get("customers")),
        *formats.usage_importers(contracts, settings, events),  # docs/formats.md
        purchases.Importer(contracts, account=canon.get("account", accounts.BANK),
                           index=payments,
                           tax_jurisdiction=canon.get("tax_jurisdiction", "")),
        *(kind.Importer(contracts, account=strip.get("account", accounts.STRIPE),
                        index=payments, customers=strip.get("customers"),
                        packs=strip.get("packs"),
                        description_pattern=strip.get("description_pattern"),
                        tax_jurisdiction=strip.get("tax_jurisdiction", ""),
                        bank=strip.get("bank", accounts.BANK), invoices=invoices)
          for kind in (stripe, stripe_balance)),  # payments export, itemized balance
        stripe_credit_grants.Importer(  # billing.credit_grant JSON: the same mapping
            contracts, account=strip.get("account", accounts.STRIPE), index=payments,
            customers=strip.get("customers"), packs=strip.get("packs"),
            description_pattern=strip.get("description_pattern")),
        payments_csv.Importer(contracts, account=(settings.get("payments") or {}).get(
            "account", accounts.BANK), index=invoices),  # customer payments of invoices
        credit_notes.Importer(contracts, index=invoices),
        rates.Importer(),  # exchange rates -> price entries (docs/currency.md)
        openai_costs.Importer(),  # provider cost reports -> provider bills (cogs plugin)
        anthropic_costs.Importer(),
        *formats.cost_importers(),
    ]


def identify(importers: Sequence, source: Path):
    """The one importer for ``source``; raises ClickException naming the file if none."""
    if not source.is_file():
        raise click.ClickException(f"{source}: no such file")
    found = [imp for imp in importers if imp.identify(str(source))]
    found = [imp for imp in found if getattr(imp, "declared", False)] or found  # sources:
    if not found:  # which formats were tried, what the closest one lacks
        raise click.ClickException(f"{source}: {explain(importers, source)}")
    if len(found) > 1:
        names = ", ".join(imp.name for imp in found)
        raise click.ClickException(f"{source}: several importers recognize it ({names})")
    return found[0]


def extract(importer, source: Path, existing: list[data.Directive],
            quiet: bool = False) -> Extraction:
    size = source.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=source.name, leave=False,
              disable=True if quiet or size < PROGRESS_BYTES else None,
              file=sys.stderr) as bar:
        importer.progress.callback = bar.update
        try:
            if hasattr(importer, "extract_result"):  # usage: the entries stay a table
                importer.extract_result(str(source), existing)
            else:
                importer.extract(str(source), existing)
        except (UnreadableSource, ReportError) as exc:
            raise click.ClickException(f"{exc}; nothing was written") from exc
        except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
            raise click.ClickException(f"{source}: cannot be read ({exc}); nothing was "
                                       "written") from exc
        finally:
            importer.progress.callback = None
    return importer.results[str(source)]


SIDECAR_LINE = "; event ids: "


def declared_sidecar(path: Path) -> Path | None:
    """The sidecar an import file names in its header (``; event ids: ...``), if any."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = [handle.readline() for _ in range(6)]
    except OSError:
        return None
    for line in head:
        if line.startswith(SIDECAR_LINE):
            return path.with_name(line[len(SIDECAR_LINE):].strip())
    return None


def unfinished(book: Path, entries: list[data.Directive]) -> tuple[set[Path], set[Path]]:
    """The import files whose sidecar is missing: (those an import of their source may
    write again: an interrupted write, see the module doc; those it must keep: entries
    dated in a closed month, whose sidecar went missing after the close)."""
    missing = set()
    for path in sorted((book / "imports").glob("*.beancount")):
        sidecar = declared_sidecar(path)
        if sidecar is not None and not sidecar.exists():
            missing.add(path.resolve())
    if not missing:
        return set(), set()
    until = late.closed_until(entries)
    kept = set()
    if until is not None:
        for entry in entries:
            name = entry.meta.get("filename") if entry.meta else None
            if name and entry.date <= until and Path(name).resolve() in missing:
                kept.add(Path(name).resolve())
    return missing - kept, kept


def _free(path: Path, rewrite: set[Path] | frozenset[Path] = frozenset()) -> Path:
    """``path``, or ``name-2``, ``name-3``... for the first of them that does not exist,
    or is an unfinished import file (``rewrite``) this import writes again."""
    stem = path.name.removesuffix(".beancount")
    n = 1
    while path.exists() and path.resolve() not in rewrite:
        n += 1
        path = path.with_name(f"{stem}-{n}.beancount")
    return path


def render(extraction: Extraction, entries: list[data.Directive], sidecar: Path | None,
           recorded: str | None = None) -> str:
    """The text of an import file: its header (``sidecar``: the name of its sidecar;
    ``recorded``: the fingerprint line of a derived index), then its entries."""
    lines = [f"; Imported by tokenbooks from {extraction.source.name}",
             f"; sha256 {extraction.sha256}",
             f"; importer {extraction.importer}"]
    if sidecar is not None:
        lines.append(f"; event ids: {sidecar.name}")
    if recorded is not None:
        lines.append(recorded)
    lines.append("; Generated: do not edit; import again instead.")
    parts = ["\n".join(lines), "\n"]
    for entry in entries:
        parts.append("\n")
        parts.append(format_usage(entry))  # the printer's bytes (usage entries: faster)
    return "".join(parts)


def _pending(extraction: Any) -> bool:
    """Whether an extraction's usage is still tables (``Extraction.pending``; other
    kinds of extraction have entries only)."""
    return isinstance(extraction, Extraction) and extraction.pending()


def _count(extraction: Any) -> int:
    return extraction.entry_count() if _pending(extraction) else len(extraction.entries)


def _text(extraction: Extraction, entries: Any, sidecar: Path | None,
          recorded: str | None = None) -> list[bytes | memoryview]:
    """The bytes of an import file: ``render``'s, or for a month of an aggregate table
    (``entries`` a table) its header and the table's text (``usage_text.table_text``)."""
    if not isinstance(entries, pa.Table):
        return [render(extraction, entries, sidecar, recorded).encode("utf-8")]
    head = render(extraction, [], sidecar, recorded).encode("utf-8")
    texts = usage_text.table_text(entries, extraction.source.name, extraction.sha256,
                                  EXTRA_COUNTS)
    return [head, usage_text.joined(texts)]


SPILL = (".tokenbooks", "spill")  # the spilled months' folder (temporary files only)
STORES = ("book", "cache")  # index.store of importers.yaml; book: the default (sidecars)
COMPRESSION = {"book": "gzip", "cache": "zstd"}  # of each store's index files
IGNORED = ".tokenbooks/"  # the derived index's folder, in the book's .gitignore


def keep_ignored(book: Path) -> Path | None:
    """Add the derived index's folder to the book's ``.gitignore`` if it is not there
    (a book made before ``tokenbooks init`` wrote it); the file written, if any."""
    path = book / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if IGNORED in text.splitlines() or "/" + IGNORED in text.splitlines():
        return None
    writing.write_text_atomic(path, text + ("" if not text or text.endswith("\n") else "\n")
                              + f"# the derived event-id index (docs/event-index.md)\n"
                                f"{IGNORED}\n")
    return path


def write(book: Path, extraction: Extraction, importer: Any = None,
          source: Path | None = None, rewrite: set[Path] | None = None,
          store: str = "book") -> list[Path]:
    """Write what one extraction gives, in the order of the module doc: the archived
    copy of ``source`` (given its ``importer``), the quarantine, then per month the
    entries and their sidecar. ``rewrite``: the unfinished import files that may be
    written again (``unfinished``); those written are taken out of it. ``store``
    ``cache``: no sidecar; each usage import file records the fingerprint of its ids
    and the ids go to its derived index under ``.tokenbooks/index/`` (not tracked)."""
    rewrite = rewrite if rewrite is not None else set()
    written: list[Path] = []
    if importer is not None and source is not None:
        copied = archive(book, importer, source, extraction)
        if copied is not None:
            written.append(copied)
    imports = book / "imports"
    name = f"{slug(extraction.source.name) or 'source'}.{extraction.sha256[:8]}"
    quarantine = imports / f"{name}.quarantine.jsonl"
    rejected = extraction.rejected()
    if rejected:
        text = "".join(q.as_json(extraction.source.name) + "\n" for q in rejected)
        if close_files.write_if_changed(quarantine, text):
            written.append(quarantine)
    elif quarantine.exists():
        writing.remove(quarantine)
    by_month: dict[str, Any] = defaultdict(list)
    spilled = getattr(extraction, "spilled", {})
    if _pending(extraction):  # the usage tables as text, directly
        by_month.update(extraction.usage_months or {})
        by_month.update(spilled)  # months read back from disk one at a time
    else:
        for entry in extraction.entries:
            by_month[late.booked_month(entry)].append(entry)  # late usage: its events'
            # month
    for month in sorted(by_month):
        target = _free(imports / f"{month}.{name}.beancount", rewrite)
        rewrite.discard(target.resolve())
        usage = extraction.kind == "usage"
        entries = by_month[month]
        if isinstance(entries, SpilledMonth):
            entries = entries.table()
        spill = spilled.get(month)
        if usage and store == "cache":
            if spill is not None:
                recorded = spill.fingerprint
            else:
                ids, hashes = sorted_ids(pa.chunked_array(extraction.event_ids.get(month, []),
                                                          pa.string()),
                                         extraction.event_hashes.get(month))
                recorded = fingerprint(ids)
            writing.write_bytes_atomic(target, _text(extraction, entries, None,
                                                     recorded.line()))
            del entries
            written.append(target)
            derived = derived_path(target)  # after the entries (which record it); a
            # crash before it leaves a missing index, rebuilt by the next import
            derived.parent.mkdir(parents=True, exist_ok=True)
            if spill is not None:
                _place_index(spill, derived, "zstd")
            else:
                writing.write_bytes_atomic(derived, sidecar_bytes(ids, hashes, "zstd"))
            writing.remove(derived_path(target, SIDECAR_SUFFIX))  # an earlier version's
            continue
        sidecar = sidecar_for(target) if usage else None
        writing.write_bytes_atomic(target, _text(extraction, entries, sidecar))
        del entries
        written.append(target)
        if sidecar is not None and spill is not None:  # its bytes, spilled
            _place_index(spill, sidecar, "gzip")
            written.append(sidecar)
        elif sidecar is not None:  # after the entries: it marks their events booked
            ids = extraction.event_ids.get(month, [])
            hashes = extraction.event_hashes.get(month)  # none: daily aggregates (v1)
            write_sidecar(sidecar, pa.chunked_array(ids, pa.string()),
                          writing.write_bytes_atomic,
                          hashes=pa.chunked_array(hashes, pa.string())
                          if hashes is not None else None)
            written.append(sidecar)
    return written


def _place_index(spill: SpilledMonth, path: Path, compression: str) -> None:
    """Write a spilled month's ids to their index file ``path``: its bytes as they are
    when the spill has them in ``compression`` (as ``run_import`` sets it), else the
    same text repacked; then let go of the spilled files."""
    if spill.compression == compression:
        writing.copy_atomic(spill.index_path, path)
    else:
        writing.write_bytes_atomic(path, repacked(spill.index_path.read_bytes(), compression))
    spill.remove()


def archive(book: Path, importer, source: Path, extraction: Extraction) -> Path | None:
    """Copy the source into ``documents/<account>/<date>.<name>.<sha8>.<ext>``, once: a
    copy already there with the source's sha256 is kept; one with another (cut short,
    damaged) is copied over."""
    folder = book / "documents" / Path(*importer.account(str(source)).split(":"))
    name = archive_name(source, extraction.sha256)
    copies = archived_copies(folder, name)
    if any(is_copy(path, extraction.sha256) for path in copies):
        return None
    if copies:
        target = copies[0]
    else:
        day = (extraction.last_day() if _pending(extraction)
               else max((e.date for e in extraction.entries), default=None))
        if day is None:
            day = datetime.datetime.fromtimestamp(source.stat().st_mtime,
                                                  datetime.UTC).date()
        target = folder / f"{day:%Y-%m-%d}.{name}"
    writing.copy_atomic(source, target, extraction.sha256)
    return target


def summary(rows: list[tuple[Path, Extraction, list[Path]]], book: Path) -> str:
    header = ("source", "importer", "read", "imported", "duplicates", "conflicts",
              "quarantined", "entries")
    table = [header]
    for source, result, _ in rows:
        table.append((source.name, result.importer.rsplit(".", 2)[-2], str(result.read),
                      str(result.imported), str(result.duplicates),
                      str(len(result.conflicts)), str(result.quarantined),
                      str(_count(result))))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = []
    for row in table:
        out.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    for source, result, written in rows:
        for path in written:
            out.append(f"  {source.name}: wrote {os.path.relpath(path, book)}")
        if result.quarantine or result.conflicts:
            what = ", ".join(part for part in (
                f"{result.quarantined} row(s) quarantined" if result.quarantine else "",
                f"{len(result.conflicts)} conflict(s) (event id booked with other "
                f"content; first booking kept)" if result.conflicts else "") if part)
            out.append(f"  {source.name}: {what}, see "
                       f"imports/{slug(source.name)}.{result.sha256[:8]}.quarantine.jsonl")
        for note in getattr(result, "notes", ()):
            out.append(f"  {source.name}: {note}")
        for warning in result.warnings:
            out.append(f"  warning: {warning}")
    return "\n".join(out)


def run_import(ledger: Path, sources: Sequence[Path], config: Path | None = None,
               quiet: bool = False, archive_sources: bool = True
               ) -> list[tuple[Path, Extraction, list[Path]]]:
    """Import ``sources`` into the book of ``ledger``; returns what each gave and wrote."""
    use_import_pool()  # jemalloc (importers.memory)
    book = ledger.resolve().parent
    entries, options = load_book(ledger)
    load = Load.of(options)
    if load is not None:
        contracts, errors = load.contracts, load.contract_errors
    else:  # the book has no tokenbooks plugin line: read the contracts beside it
        contracts, errors = load_contracts(contracts_folder(options, PluginConfig()))
    for error in errors:
        click.echo(f"warning: {error}", err=True)
    if config is None and (book / "importers.yaml").exists():
        config = book / "importers.yaml"
    settings = read_settings(config) if config else {}
    importers = make_importers(contracts, settings)
    chosen = [(source, identify(importers, source)) for source in sources]
    store = (settings.get("index") or {}).get("store", "book")
    for message in rebuild_index.rebuild(book, importers, list(sources)):  # derived
        # indexes missing or stale (any store: a book may have both kinds of files)
        click.echo(message, err=True)
    if store == "cache":
        keep_ignored(book)
    for importer in importers:  # the months a source is done with wait on disk, their
        if isinstance(importer, UsageImporter):  # ids as the index file's bytes
            importer.spill = book.joinpath(*SPILL)
            importer.index_compression = COMPRESSION[store]
    rewrite, kept = unfinished(book, entries)
    if rewrite:  # not booked: what dedupes must not count their events (they have no
        # sidecar, so the event index does not; the other indexes read the entries)
        entries = [e for e in entries if not (
            e.meta and e.meta.get("filename")
            and Path(e.meta["filename"]).resolve() in rewrite)]
    grain = book_grain.book_grain(options)
    month_grain = grain.grain == "month"  # docs/grain.md: aggregates per span
    until = late.closed_until(entries)
    # At month grain the usage sources are read last, by the spans of the book's
    # purchases and those of the other sources (a purchases file imported with the usage
    # cuts it): the core merges the days by span (``UsageImporter.spans``) and the
    # entries stay tables, written as text.
    order = sorted(range(len(chosen)), key=lambda i: month_grain and isinstance(
        chosen[i][1], UsageImporter))
    found: list[Any] = [None] * len(chosen)
    bills: list[data.Directive] = []  # of the sources before: a re-issued report in the
    # same run is a revision of the earlier one, or a duplicate
    spans = None
    for i in order:
        source, importer = chosen[i]
        if month_grain and isinstance(importer, UsageImporter):
            if spans is None:
                spans = book_grain.book_spans(grain, contracts, [
                    *entries, *(e for item in found if item is not None
                                for e in item[2].entries)])
            importer.spans = _OpenSpans(spans, until)
        result = extract(importer, source, entries + bills if bills else entries, quiet)
        if result.kind != "usage":
            bills += [e for e in result.entries
                      if isinstance(e, data.Custom) and e.type == late.PROVIDER_BILL]
        if until is not None and not (_pending(result)
                                      and (result.first_day() or until) > until):
            late.redate(result.entries, until)  # closed months stay shut
        found[i] = (source, importer, result)
    results = [item for item in found if item is not None]
    if month_grain:  # usage of other importers (daily aggregates): merged as entries
        for _, _, result in results:
            if result.kind == "usage" and not getattr(result, "spanned", False):
                if spans is None:
                    spans = book_grain.book_spans(grain, contracts, [
                        *entries, *(e for _, _, r in results if r.kind != "usage"
                                    for e in r.entries)])
                result.entries = at_grain(result.entries, spans)
    done = []
    for source, importer, result in results:
        written = write(book, result, importer if archive_sources else None, source,
                        rewrite, store)
        done.append((source, result, written))
    for path in sorted(rewrite | kept):
        click.echo(f"warning: {os.path.relpath(path, book)} has no event-id index "
                   f"({sidecar_for(path).name}): its events are not marked booked"
                   + (" (an interrupted import: import its source again to complete it)"
                      if path in rewrite else
                      " and its month is closed (the sidecar was deleted after the close?)"),
                   err=True)
    return done


class _OpenSpans:
    """The book's spans for the days of its open months; a closed month's days stay at
    day grain (its usage is late usage, dated in the first open month with
    ``original_date``: ``late.redate``, which ``at_grain`` leaves as it is)."""

    def __init__(self, spans: Any, closed: datetime.date | None) -> None:
        self.spans, self.closed = spans, closed

    def span(self, customer: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
        if self.closed is not None and day <= self.closed:
            return day, day
        return self.spans.span(customer, day)


def aggregate_files(folder: Path) -> list[Path]:
    """The daily aggregates ``tokenbooks aggregate`` (or the Spark job) wrote in
    ``folder``: ``aggregates/month=*/*.parquet``, in name order."""
    if not (folder / "aggregates").is_dir():
        raise click.ClickException(f"{folder}: a folder without aggregates/ (expected the "
                                   "output of tokenbooks aggregate); nothing was imported")
    return sorted(folder.glob("aggregates/month=*/*.parquet"))


def open_book(ledger: Path, command: str, wait: bool = True) -> writing.BookLock:
    """The book's lock for ``command`` (see ``writing``); once taken, what a killed
    command left is cleaned up (``recover``)."""
    return _Session(ledger.resolve().parent, command, wait)


class _Session(writing.BookLock):
    def __enter__(self) -> writing.BookLock:
        outer = not writing.held(self.book)
        super().__enter__()
        if outer:
            try:
                recover(self.book)
            except BaseException:
                super().__exit__(None, None, None)
                raise
        return self


def recover(book: Path) -> None:
    """Under the lock, before the book is read: the temporary files of a killed command
    removed, and a close that stopped in its lock step rolled back or completed
    (``close_files.recover``)."""
    writing.sweep(book)
    for message in close_files.recover(book):
        click.echo(message, err=True)


@click.command("import")
@click.option("--ledger", "ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Importer settings (default: importers.yaml beside the "
                                 "ledger, if any).")
@click.option("--no-archive", is_flag=True, help="Do not copy the sources into documents/.")
@click.option("--strict", is_flag=True,
              help="Exit 1 if any row was quarantined or conflicted, or on any warning "
                   "(an incomplete page).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-wait", is_flag=True,
              help="Exit 1 if another command is writing the book, instead of waiting.")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_(ledger: Path, config: Path | None, no_archive: bool, strict: bool, as_json: bool,
            no_wait: bool, sources: tuple[Path, ...]) -> None:
    """Import usage logs and credit purchases (SOURCES) into the book of LEDGER; a folder
    written by tokenbooks aggregate: its daily aggregates."""
    sources = tuple(f for s in sources for f in (aggregate_files(s) if s.is_dir() else [s]))
    command = f"tokenbooks import {' '.join(s.name for s in sources)}"
    with open_book(ledger, command[:200], wait=not no_wait):
        try:
            done = run_import(ledger, sources, config, quiet=as_json,
                              archive_sources=not no_archive)
        except OSError as exc:  # one not named by the writers (a folder, a read)
            raise click.ClickException(f"{exc.filename or ledger}: {exc.strerror or exc}"
                                       ) from exc
    book = ledger.resolve().parent
    if as_json:
        click.echo(json.dumps([{
            "source": str(source), "importer": result.importer, "read": result.read,
            "imported": result.imported, "duplicates": result.duplicates,
            "conflicts": len(result.conflicts),
            "quarantined": result.quarantined, "entries": _count(result),
            "warnings": list(result.warnings), "notes": list(getattr(result, "notes", ())),
            "written": [os.path.relpath(p, book) for p in written],
        } for source, result, written in done], indent=2))
    else:
        click.echo(summary(done, book))
    if strict and any(result.quarantine or result.conflicts or result.warnings
                      for _, result, _ in done):
        raise SystemExit(1)
