"""``tokenbooks audit-pack --ledger FILE --period P --out DIR``: the auditor pack.

    tokenbooks audit-pack --ledger books/main.beancount --period 2026-Q1 --out audit/2026-Q1 \\
        --sample 25 --seed 20260401

A thin adapter over the reports library (``tokenbooks.plugins.reports.audit``, which
computes every file of the pack; docs/audit-pack.md): it takes the book's writer lock
(the book cannot change while the pack is read from it), loads the book, counts each
month's usage completeness against the archived sources (``sources``, as the close
does) and writes the pack into DIR.

Every file goes through ``writing`` (a temporary file, fsync'ed, renamed) and in this
order: ``README.md`` (the index, which says the pack is complete) is removed first if
the pack changes, then each part is written (only when its text changes), then
``SHA256SUMS``, and ``README.md`` last. A run killed at any point leaves either the
earlier complete pack or a folder without ``README.md``, never a pack that looks
complete and is not (``audit.verify``); running the command again ends with the bytes
of an uninterrupted run. DIR may be new, empty or an earlier pack: a folder holding
other files is refused, so that a mistyped ``--out`` overwrites nothing.

Exit status 0: the pack is written and complete, and every sampled line re-derives to
the cent. 1: the book has errors, DIR holds other files, a file could not be written,
or a sampled line did not re-derive (the pack is written all the same, to be read).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from tokenbooks.plugins import reports
from tokenbooks.plugins.reports import Ledger, audit
from tokenbooks.plugins.rules.periods import month_of, months, parse_period

from . import close_files, sources, writing
from .import_cmd import open_book
from .report_cmd import load_book


class PackFailed(click.ClickException):
    """The pack could not be made or written."""


def check_folder(out: Path, book: Path) -> None:
    """PackFailed unless ``out`` can take a pack: new, empty, or holding a pack's files."""
    if out.exists() and not out.is_dir():
        raise PackFailed(f"{out}: is a file, expected a folder for the pack")
    documents = (book / "documents").resolve()
    if out == documents or documents in out.parents:
        raise PackFailed(f"{out}: is inside the book's documents/ folder, which the book "
                         f"files as its documents: choose another folder")
    if not out.is_dir():
        return
    other = sorted(p.name for p in out.iterdir()
                   if p.name not in audit.FILES and not writing.is_temporary(p))
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5
                                        else "")
        raise PackFailed(f"{out}: holds files that are not an auditor pack's ({shown}); "
                         f"write the pack to a new or empty folder, or to an earlier pack's")


def write_pack(out: Path, files: Mapping[str, str]) -> list[str]:
    """Write the pack's ``files`` (README.md last) into ``out`` in the module doc's order;
    the names it wrote ([] when the folder held this pack already)."""
    out.mkdir(parents=True, exist_ok=True)
    writing.sweep(out)  # what a killed run left (we hold the book's lock)
    readme = out / audit.README
    if all((out / name).is_file() and (out / name).read_bytes() == text.encode("utf-8")
           for name, text in files.items()):
        return []
    writing.remove(readme)  # from here until it is written again, the pack is not complete
    done = []
    for name, text in files.items():
        if name != audit.README and close_files.write_if_changed(out / name, text):
            done.append(name)
    for name in audit.FILES:
        if name not in files and writing.remove(out / name):
            done.append(f"{name} (removed)")
    close_files.write_if_changed(readme, files[audit.README])
    done.append(audit.README)
    return done


def run_audit_pack(ledger: Path, period: str, out: Path, size: int, seed: int,
                   wait: bool = True, echo: Callable[[str], None] = click.echo
                   ) -> audit.Pack:
    ledger = ledger.resolve()
    try:
        start, end = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc
    out = out.resolve()
    check_folder(out, ledger.parent)
    command = f"tokenbooks audit-pack --period {period} --sample {size} --seed {seed}"
    with open_book(ledger, command, wait=wait):
        check_folder(out, ledger.parent)  # again, holding the lock
        entries, options = load_book(str(ledger))
        try:
            book = Ledger(entries, options)
        except reports.NotComputed as exc:
            raise PackFailed(f"{ledger}: {exc}") from exc
        found = {}
        for month in months(month_of(start), month_of(end - datetime.timedelta(days=1))):
            found[month] = sources.completeness(book.month(month))
        try:
            pack = audit.build(book, period, size, seed, found,
                               str(options.get("title") or ""), command)
        except audit.AuditError as exc:
            raise PackFailed(str(exc)) from exc
        done = write_pack(out, pack.files)
    counts = pack.counts
    where = out if not out.is_relative_to(Path.cwd()) else out.relative_to(Path.cwd())
    echo(f"audit-pack {period}: {where}/: "
         + (f"{len(done)} file(s) written" if done else "unchanged (the same pack)")
         + f"; contract log {counts['contract-log']} rows, sample {counts['sample']} of "
           f"{counts['population']} revenue lines (seed {seed}), "
           f"{counts['sample-entries']} usage entries traced")
    return pack


@click.command("audit-pack")
@click.option("--ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--period", required=True, help="2026-01, 2026-Q1 or 2026.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The pack's folder: new, empty, or an earlier pack's.")
@click.option("--sample", "size", type=click.IntRange(min=0), default=25, show_default=True,
              help="Revenue lines to sample and trace.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The sample's seed: the same seed draws the same lines.")
@click.option("--no-wait", is_flag=True,
              help="Exit 1 if another command is writing the book, instead of waiting.")
def audit_pack(ledger: Path, period: str, out: Path, size: int, seed: int,
               no_wait: bool) -> None:
    """Write the auditor pack of PERIOD: contract log, breakage back-test, completeness,
    close fingerprints and a traced sample of revenue lines."""
    pack = run_audit_pack(ledger, period, out, size, seed, wait=not no_wait)
    bad = pack.not_rederived
    if bad:
        click.echo(f"audit-pack {period}: {len(bad)} sampled line(s) did not re-derive "
                   f"from the pack: {', '.join(bad)} (see sample.json)", err=True)
        raise SystemExit(1)
