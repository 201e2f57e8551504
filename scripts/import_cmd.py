"""``tokenbooks import --ledger FILE SOURCE...``: usage logs and purchases into the book.

    tokenbooks import --ledger books/main.beancount usage-2026-01.jsonl payments.csv

For each source: find the one importer that identifies it (canonical usage JSONL, CSV
or Parquet, LiteLLM spend logs, canonical purchases CSV, Stripe payments export),
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
duplicates and quarantined per source (read = imported + duplicates + quarantined).

Importer settings (optional) live in ``importers.yaml`` beside the ledger:

    litellm:   {customers: {team-acme-support: acme}}     # end_user/team_id -> customer
    stripe:    {customers: {cus_QrvQguzkIK8zTj: hooli}, packs: {"Credit pack: 2,000 credits": starter},
                description_pattern: null, account: Assets:Bank}
    purchases: {account: Assets:Bank}
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import yaml
from beancount.core import data
from beancount.parser import printer
from tqdm import tqdm

from tokenbooks.importers import (
    anthropic_costs,
    late,
    litellm,
    openai_costs,
    purchases,
    stripe,
    usage_csv,
    usage_daily,
    usage_jsonl,
    usage_parquet,
)
from tokenbooks.importers.base import archive_name
from tokenbooks.importers.index import EventIndex, sidecar_for, write_sidecar
from tokenbooks.importers.provider_costs import ReportError
from tokenbooks.importers.purchase_base import PaymentIndex, slug
from tokenbooks.importers.usage import Extraction, UnreadableSource
from tokenbooks.plugins.config import PluginConfig, contracts_folder
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ContractSet

from . import loading

PROGRESS_BYTES = 16 << 20  # show a progress bar for sources larger than this


def load_book(ledger: Path) -> tuple[list[data.Directive], dict[str, Any]]:
    """The book's entries and options, as bean-check loads them, never from Beancount's
    pickle cache: it does not see new files of a glob include (``imports/*.beancount``),
    and dedupe must see every import file (``loading.load``)."""
    entries, _errors, options = loading.load(ledger)
    return entries, options


def make_importers(contracts: ContractSet, settings: dict[str, Any]) -> list:
    """One importer per format, sharing the event and payment indexes."""
    events, payments = EventIndex(), PaymentIndex()
    lite = settings.get("litellm") or {}
    strip = settings.get("stripe") or {}
    canon = settings.get("purchases") or {}
    return [
        usage_jsonl.Importer(contracts, index=events),
        usage_csv.Importer(contracts, index=events),
        usage_parquet.Importer(contracts, index=events),
        usage_daily.Importer(contracts, index=events),  # daily aggregates + ids
        litellm.Importer(contracts, index=events, customers=lite.get("customers")),
        purchases.Importer(contracts, account=canon.get("account", accounts.BANK),
                           index=payments),
        stripe.Importer(contracts, account=strip.get("account", accounts.BANK),
                        index=payments, customers=strip.get("customers"),
                        packs=strip.get("packs"),
                        description_pattern=strip.get("description_pattern")),
        openai_costs.Importer(),  # provider cost reports -> provider bills (cogs plugin)
        anthropic_costs.Importer(),
    ]


def identify(importers: Sequence, source: Path):
    """The one importer for ``source``; raises ClickException naming the file if none."""
    if not source.is_file():
        raise click.ClickException(f"{source}: no such file")
    found = [imp for imp in importers if imp.identify(str(source))]
    if not found:
        raise click.ClickException(
            f"{source}: no importer recognizes this file (expected canonical usage events "
            "as .jsonl/.csv/.parquet, a LiteLLM spend-log CSV, a purchases CSV, a Stripe "
            "payments CSV or an OpenAI/Anthropic cost report JSON, as text in UTF-8)")
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
            importer.extract(str(source), existing)
        except (UnreadableSource, ReportError) as exc:
            raise click.ClickException(f"{exc}; nothing was written") from exc
        except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
            raise click.ClickException(f"{source}: cannot be read ({exc}); nothing was "
                                       "written") from exc
        finally:
            importer.progress.callback = None
    return importer.results[str(source)]


def _free(path: Path) -> Path:
    """``path``, or ``name-2``, ``name-3``... for the first of them that does not exist."""
    stem = path.name.removesuffix(".beancount")
    n = 1
    while path.exists() or sidecar_for(path).exists():
        n += 1
        path = path.with_name(f"{stem}-{n}.beancount")
    return path


def render(extraction: Extraction, entries: list[data.Directive], sidecar: Path | None
           ) -> str:
    lines = [f"; Imported by tokenbooks from {extraction.source.name}",
             f"; sha256 {extraction.sha256}",
             f"; importer {extraction.importer}"]
    if sidecar is not None:
        lines.append(f"; event ids: {sidecar.name}")
    lines.append("; Generated: do not edit; import again instead.")
    text = "\n".join(lines) + "\n"
    for entry in entries:
        text += "\n" + printer.format_entry(entry)
    return text


def write(book: Path, extraction: Extraction) -> list[Path]:
    """Write the month files (and sidecars) and the quarantine of one extraction."""
    imports = book / "imports"
    imports.mkdir(parents=True, exist_ok=True)
    name = f"{slug(extraction.source.name) or 'source'}.{extraction.sha256[:8]}"
    written: list[Path] = []
    by_month: dict[str, list[data.Directive]] = defaultdict(list)
    for entry in extraction.entries:
        by_month[late.booked_month(entry)].append(entry)  # late usage: its events' month
    for month in sorted(by_month):
        target = _free(imports / f"{month}.{name}.beancount")
        sidecar = sidecar_for(target) if extraction.kind == "usage" else None
        if sidecar is not None:
            ids = extraction.event_ids.get(month, [])
            write_sidecar(sidecar, pa.chunked_array(ids, pa.string()))
            written.append(sidecar)
        target.write_text(render(extraction, by_month[month], sidecar), encoding="utf-8")
        written.append(target)
    quarantine = imports / f"{name}.quarantine.jsonl"
    if extraction.quarantine:
        quarantine.write_text("".join(q.as_json(extraction.source.name) + "\n"
                                      for q in extraction.quarantine), encoding="utf-8")
        written.append(quarantine)
    elif quarantine.exists():
        quarantine.unlink()
    return written


def archive(book: Path, importer, source: Path, extraction: Extraction) -> Path | None:
    """Copy the source into ``documents/<account>/<date>.<name>.<sha8>.<ext>`` (once)."""
    folder = book / "documents" / Path(*importer.account(str(source)).split(":"))
    name = archive_name(source, extraction.sha256)
    if folder.is_dir() and any(p.name[11:] == name for p in folder.iterdir()):
        return None
    day = max((e.date for e in extraction.entries), default=None)
    if day is None:
        day = datetime.datetime.fromtimestamp(source.stat().st_mtime, datetime.UTC).date()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{day:%Y-%m-%d}.{name}"
    shutil.copyfile(source, target)
    return target


def summary(rows: list[tuple[Path, Extraction, list[Path]]], book: Path) -> str:
    header = ("source", "importer", "read", "imported", "duplicates", "quarantined", "entries")
    table = [header]
    for source, result, _ in rows:
        table.append((source.name, result.importer.rsplit(".", 2)[-2], str(result.read),
                      str(result.imported), str(result.duplicates), str(result.quarantined),
                      str(len(result.entries))))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = []
    for row in table:
        out.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    for source, result, written in rows:
        for path in written:
            out.append(f"  {source.name}: wrote {os.path.relpath(path, book)}")
        if result.quarantine:
            out.append(f"  {source.name}: {result.quarantined} row(s) quarantined, see "
                       f"imports/{slug(source.name)}.{result.sha256[:8]}.quarantine.jsonl")
    return "\n".join(out)


def run_import(ledger: Path, sources: Sequence[Path], config: Path | None = None,
               quiet: bool = False, archive_sources: bool = True
               ) -> list[tuple[Path, Extraction, list[Path]]]:
    """Import ``sources`` into the book of ``ledger``; returns what each gave and wrote."""
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
    settings = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}
    importers = make_importers(contracts, settings or {})
    chosen = [(source, identify(importers, source)) for source in sources]
    results = []
    for source, importer in chosen:
        result = extract(importer, source, entries, quiet)
        late.redate(result.entries, late.closed_until(entries))  # closed months stay shut
        results.append((source, importer, result))
    done = []
    for source, importer, result in results:
        written = write(book, result)
        if archive_sources:
            copied = archive(book, importer, source, result)
            if copied is not None:
                written.append(copied)
        done.append((source, result, written))
    return done


@click.command("import")
@click.option("--ledger", "ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Importer settings (default: importers.yaml beside the "
                                 "ledger, if any).")
@click.option("--no-archive", is_flag=True, help="Do not copy the sources into documents/.")
@click.option("--strict", is_flag=True, help="Exit 1 if any row was quarantined.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.argument("sources", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
def import_(ledger: Path, config: Path | None, no_archive: bool, strict: bool, as_json: bool,
            sources: tuple[Path, ...]) -> None:
    """Import usage logs and credit purchases (SOURCES) into the book of LEDGER."""
    done = run_import(ledger, sources, config, quiet=as_json, archive_sources=not no_archive)
    book = ledger.resolve().parent
    if as_json:
        click.echo(json.dumps([{
            "source": str(source), "importer": result.importer, "read": result.read,
            "imported": result.imported, "duplicates": result.duplicates,
            "quarantined": result.quarantined, "entries": len(result.entries),
            "written": [os.path.relpath(p, book) for p in written],
        } for source, result, written in done], indent=2))
    else:
        click.echo(summary(done, book))
    if strict and any(result.quarantine for _, result, _ in done):
        raise SystemExit(1)
