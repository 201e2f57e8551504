"""``tokenbooks regrain --grain day|month``: the open months' usage at another grain.

    tokenbooks regrain --ledger main.beancount --grain month

rewrites every usage import file of the open months (``imports/<month>.<source>...``;
the closed months, per ``closes/``, stay as they are, and so does late usage) at the new
grain, then sets the book's ``grain`` option (docs/grain.md):

- ``day -> month``: the day aggregates are merged per span (``rules.grain``) of the
  book's contracts and purchases (``entries.usage.at_grain``); a month aggregate that
  now covers a cut date (a purchase imported after it: the engine's error says to
  regrain) is split by extracting its file again at day grain first, as below;
- ``month -> day``: an import file with month aggregates is extracted again from its
  archived source (``documents/``, found by the sha256 in its header), at day grain; the
  command refuses, naming the file, when the source is missing or extracts to other
  counts than the file holds (events deduplicated against another import).

The import files keep their names, headers and sidecars (event ids stay per event).
Under the book lock; each file is written atomically and only when it changes, the
option last, so a re-run after a crash converges to the bytes of an uninterrupted run.
"""

from __future__ import annotations

import ast
import datetime
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import click
from beancount.core import data
from beancount.parser import parser

from tokenbooks.importers import late
from tokenbooks.importers.base import file_sha256
from tokenbooks.plugins import config
from tokenbooks.plugins.config import PluginConfig, contracts_folder
from tokenbooks.plugins.entries.usage import (
    at_grain,
    booked_month,
    is_usage,
    usage_from_entry,
)
from tokenbooks.plugins.entries.usage_text import format_usage
from tokenbooks.plugins.load import Load
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.grain import GRAINS, Spans
from tokenbooks.plugins.rules.model import ContractSet
from tokenbooks.plugins.rules.periods import month_of

from . import close_files, import_cmd
from .book_grain import BookGrain, book_grain, book_spans

HEADER_SOURCE = "; Imported by tokenbooks from "
HEADER_SHA = "; sha256 "


class UsageFile:
    """One usage import file: its header and entries (in file order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.header = self.text.split("\n\n", 1)[0] + "\n"
        entries, errors, _ = parser.parse_file(str(path))
        if errors:
            raise click.ClickException(f"{path}:{errors[0].source.get('lineno', 0)}: "
                                       f"{errors[0].message}; nothing was regrained")
        self.entries = sorted(entries, key=lambda e: e.meta["lineno"])

    def field(self, prefix: str) -> str:
        for line in self.header.splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return ""

    def render(self, entries: list[data.Directive]) -> str:
        return self.header + "".join("\n" + format_usage(e) for e in entries)


def open_usage_files(book: Path, closed: datetime.date | None) -> list[UsageFile]:
    """The import files holding usage whose every entry is booked in an open month
    (``closed``: the last day of the last closed month)."""
    out = []
    for path in sorted((book / "imports").glob("*.beancount")):
        if path.name == "README.beancount":
            continue
        found = UsageFile(path)
        usage = [e for e in found.entries if is_usage(e)]
        if not usage:
            continue
        if closed is not None and any(booked_month(e) <= month_of(closed)
                                      for e in found.entries):
            continue
        out.append(found)
    return out


def to_day(found: UsageFile, book: Path, contracts: ContractSet) -> list[data.Directive]:
    """The day-grain entries of ``found``, extracted again from its archived source."""
    if not any(is_usage(e) and "until" in e.meta for e in found.entries):
        return found.entries
    name, sha256 = found.field(HEADER_SOURCE), found.field(HEADER_SHA)
    where = f"{found.path.relative_to(book)}"
    copy = next((p for p in sorted((book / "documents").rglob(f"*.{sha256[:8]}*"))
                 if p.is_file() and sha256 and file_sha256(p) == sha256), None)
    if not name or copy is None:
        raise click.ClickException(
            f"{where}: its source {name or '?'} (sha256 {sha256[:12] or '?'}) is not in "
            f"documents/; month -> day needs the archived source of every month-grain "
            f"import file (import it again, then regrain); nothing was regrained")
    month = booked_month(next(e for e in found.entries if is_usage(e)))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / Path(name).name
        shutil.copyfile(copy, source)
        settings = book / "importers.yaml"
        importer = import_cmd.identify(import_cmd.make_importers(
            contracts, import_cmd.read_settings(settings) if settings.exists() else {}),
            source)
        result = import_cmd.extract(importer, source, [], quiet=True)
    fresh = [e for e in result.entries if is_usage(e) and booked_month(e) == month
             and "original_date" not in e.meta]
    kept: list[data.Directive] = []
    month_grain: list[data.Directive] = []
    for entry in found.entries:
        (kept if not is_usage(entry) or "original_date" in entry.meta
         else month_grain).append(entry)
    if _counts(fresh) != _counts(month_grain):
        raise click.ClickException(
            f"{where}: its archived source {copy.relative_to(book)} gives other counts for "
            f"{month} than the file holds (events booked by another import file); regrain "
            f"it by importing the source again at day grain; nothing was regrained")
    day = at_grain(fresh, Spans({}))
    return [*day, *kept]


def _cut(found: UsageFile, spans: Spans) -> bool:
    """Whether an aggregate of ``found`` covers a cut date of ``spans``."""
    for entry in found.entries:
        if not is_usage(entry) or entry.meta.get("until") is None:
            continue
        usage = usage_from_entry(entry)  # type: ignore[arg-type]  # (a Custom)
        if spans.problem(usage.customer, usage.date, usage.last_day):
            return True
    return False


def _counts(entries: list[data.Directive]) -> Counter:
    totals: Counter = Counter()
    for entry in entries:
        usage = usage_from_entry(entry)  # type: ignore[arg-type]
        key = (usage.customer, month_of(usage.date), usage.model, usage.feature,
               usage.action, usage.user, usage.tier, usage.context, usage.cache_hit)
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "events",
                     "completed", "partial", "failed", "unbilled_events"):
            totals[(key, name)] += getattr(usage, name)
        for name, count in usage.extra:
            totals[(key, name)] += count
    return totals


PLUGIN_LINE = re.compile(r'^(plugin\s+"(?P<name>[^"]+)"\s+)"(?P<config>[^"]*)"(?P<rest>.*)$')


def with_grain(text: str, grain: str) -> str:
    """The ledger's text with its book (or revenue) plugin line's ``grain`` set."""
    lines = text.splitlines(keepends=True)
    for wanted in (config.BOOK, config.REVENUE):
        for i, line in enumerate(lines):
            match = PLUGIN_LINE.match(line.rstrip("\n"))
            if not match or match["name"] != wanted:
                continue
            settings = ast.literal_eval(match["config"] or "{}")
            settings["grain"] = grain
            shown = ", ".join(f"{k!r}: {v!r}" for k, v in settings.items())
            lines[i] = (f'{match[1]}"{{{shown}}}"{match["rest"]}'
                        + ("\n" if line.endswith("\n") else ""))
            return "".join(lines)
    raise click.ClickException("the ledger has no tokenbooks.plugins.book or .revenue "
                               "plugin line to set the grain on; nothing was regrained")


def regrain(ledger: Path, grain: str) -> list[Path]:
    """Rewrite the open months' usage import files at ``grain`` and set the option; the
    files written (under the lock: the caller holds it)."""
    book = ledger.resolve().parent
    entries, options = import_cmd.load_book(ledger)
    load = Load.of(options)
    contracts = (load.contracts if load is not None
                 else load_contracts(contracts_folder(options, PluginConfig()))[0])
    settings = book_grain(options)
    files = open_usage_files(book, late.closed_until(entries))
    written = []
    spans = (book_spans(BookGrain(grain, settings.posting, settings.period, settings.as_of),
                        contracts, entries) if grain == "month" else None)
    texts = []  # every file made before any is written: a refusal writes nothing
    for found in files:
        if spans is not None:
            # an aggregate the spans now cut (a purchase imported after it) needs its
            # days back first: from the archived source
            new = at_grain(to_day(found, book, contracts) if _cut(found, spans)
                           else found.entries, spans)
        else:
            new = to_day(found, book, contracts)
        texts.append((found.path, found.render(new)))
    text = ledger.read_text(encoding="utf-8")
    if settings.grain != grain or "'grain'" not in text:
        texts.append((ledger, with_grain(text, grain)))  # the option last
    for path, text in texts:
        if close_files.write_if_changed(path, text):
            written.append(path)
    return written


@click.command("regrain")
@click.option("--ledger", "ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--grain", type=click.Choice(GRAINS), required=True,
              help="The grain of the usage sub-ledger: day, or month (docs/grain.md).")
@click.option("--no-wait", is_flag=True,
              help="Exit 1 if another command is writing the book, instead of waiting.")
def regrain_cmd(ledger: Path, grain: str, no_wait: bool) -> None:
    """Rewrite the open months' usage import files of LEDGER at GRAIN (closed months stay
    as they are) and set the book's grain option."""
    with import_cmd.open_book(ledger, f"tokenbooks regrain --grain {grain}",
                              wait=not no_wait):
        try:
            written = regrain(ledger, grain)
        except OSError as exc:
            raise click.ClickException(f"{exc.filename or ledger}: {exc.strerror or exc}"
                                       ) from exc
    book = ledger.resolve().parent
    click.echo(f"regrained to {grain}: {len(written)} file(s) written"
               + "".join(f"\n  {os.path.relpath(p, book)}" for p in written))
