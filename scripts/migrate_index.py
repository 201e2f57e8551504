"""``tokenbooks migrate-index --ledger FILE``: move an older book's sidecars to the cache.

A book made before ``tokenbooks init`` wrote ``index: {store: cache}`` keeps a sidecar
``imports/<file>.events.gz`` beside each usage import file, committed to git. Once its
``importers.yaml`` says ``index: {store: cache}``, new imports go to the derived index;
this command moves the files already there (docs/event-index.md, *Migrating a book*).
For each usage import file with a sidecar, in a month that is not closed:

1. its ids are copied to ``.tokenbooks/index/<file>.events.zst`` (the sidecar's text,
   compressed with zstd as the derived index is);
2. the import file's header line ``; event ids: <sidecar>`` becomes the fingerprint of
   those ids (``; event index: N events, ids sha256 ... (derived v2)``), byte for byte
   the file a ``store: cache`` import of the same source writes;
3. the sidecar is removed (then ``git rm`` it, or commit the deletion).

Each step is one atomic write, in that order, so a crash leaves a file in one of three
states the next run completes (an import file with both a fingerprint and its sidecar
is read by its sidecar until step 3). Files of a closed month keep their sidecar: its
lock sealed it (a closed month's files cannot change), and it is read as before.

    $ tokenbooks migrate-index --ledger books/main.beancount
    migrated imports/2026-03.usage-mar.jsonl.3f2a9c1b.beancount (41230 events)
    1 file(s) migrated, 2 kept (closed months: 2026-01, 2026-02)
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from tokenbooks.importers.index import (
    declared_fingerprint,
    derived_path,
    fingerprint,
    read_sidecar,
    repacked,
    sidecar_for,
    verified_derived,
)
from tokenbooks.plugins.rules import manifest

from . import writing
from .import_cmd import keep_ignored, open_book, read_settings

SIDECAR_LINE = "; event ids: "  # the header line naming an import file's sidecar


def sealed(book: Path) -> tuple[set[str], list[str]]:
    """The files (``imports/...``) the manifests of the closed months list, and those
    months."""
    files: set[str] = set()
    months = []
    for path in sorted((book / "closes").glob("*.manifest")):
        months.append(path.name.removesuffix(".manifest"))
        text = path.read_text(encoding="utf-8")
        files.update(item.where for item in manifest.parse(text, str(path)))
    return files, months


def with_fingerprint(text: str, sidecar: Path, line: str) -> str | None:
    """``text`` of an import file with its sidecar's header line replaced by ``line``;
    None if its header does not name ``sidecar``."""
    head, sep, rest = text.partition("\n; Generated:")
    old = f"{SIDECAR_LINE}{sidecar.name}"
    lines = head.split("\n")
    if old not in lines:
        return None
    return "\n".join(line if x == old else x for x in lines) + sep + rest


def migrate(book: Path) -> tuple[list[str], list[str], list[str]]:
    """Move the sidecars of the book's open months to the derived index; returns what
    was migrated, the import files kept with their sidecar, and the closed months."""
    files, months = sealed(book)
    done, kept = [], []
    for path in sorted((book / "imports").glob("*.beancount")):
        sidecar = sidecar_for(path)
        shown = os.path.relpath(path, book)
        if not sidecar.exists():
            continue
        if shown in files or os.path.relpath(sidecar, book) in files:
            kept.append(shown)
            continue
        ids = read_sidecar(sidecar)
        found = fingerprint(ids)
        declared = declared_fingerprint(path)
        if declared is not None and (declared.events, declared.sha256) != (
                found.events, found.sha256):
            raise click.ClickException(
                f"{shown}: its header records {declared.events} events (ids sha256 "
                f"{declared.sha256[:12]}...) but its sidecar {sidecar.name} holds "
                f"{found.events} (ids sha256 {found.sha256[:12]}...): not migrated (import "
                f"its source again, or restore the file from version control)")
        derived = derived_path(path)
        if verified_derived(path, found) is None:  # 1. the ids, outside the book (the
            derived.parent.mkdir(parents=True, exist_ok=True)  # sidecar's text, zstd)
            writing.write_bytes_atomic(derived, repacked(sidecar.read_bytes()))
        if declared is None:  # 2. the fingerprint, in the import file
            text = path.read_text(encoding="utf-8")
            new = with_fingerprint(text, sidecar, found.line())
            if new is None:
                raise click.ClickException(
                    f"{shown}: expected the header line {SIDECAR_LINE}{sidecar.name} (an "
                    f"import file written by tokenbooks import); not migrated")
            writing.write_text_atomic(path, new)
        writing.remove(sidecar)  # 3. the sidecar, once both are in place
        done.append(f"migrated {shown} ({found.events} events)")
    return done, kept, months


@click.command("migrate-index")
@click.option("--ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The book's main.beancount.")
def migrate_index(ledger: Path) -> None:
    """Move the event-id sidecars of the open months to the derived index (store: cache)."""
    book = ledger.resolve().parent
    settings = read_settings(book / "importers.yaml") if (
        book / "importers.yaml").exists() else {}
    if (settings.get("index") or {}).get("store") != "cache":
        raise click.ClickException(
            f"{book / 'importers.yaml'}: expected index: {{store: cache}} (set it first: "
            f"new imports go to the derived index from then on); nothing was migrated")
    with open_book(ledger, "tokenbooks migrate-index"):
        keep_ignored(book)
        done, kept, months = migrate(book)
    for line in done:
        click.echo(line)
    click.echo(f"{len(done)} file(s) migrated, {len(kept)} kept"
               + (f" (closed months: {', '.join(months)})" if kept else ""))
