"""The importers of a book for beangulp and Fava: what the ``import.py`` of a book
(written by ``tokenbooks init``) runs.

    # import.py
    from tokenbooks.scripts.ingest import book_importers
    CONFIG = book_importers(Path(__file__).resolve().parent)
    HOOKS = []
    if __name__ == "__main__":
        beangulp.Ingest(CONFIG, HOOKS)()

    python import.py extract -e main.beancount incoming/ > new.beancount
    python import.py archive -o documents incoming/

``book_importers`` reads the book's contracts (``contracts/``) and ``importers.yaml``
(as ``tokenbooks import`` does) and wraps each importer in
``importers.beangulp_path.BookImporter``. A mistake in either is one line naming the
file (``SystemExit``), never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from tokenbooks.importers.beangulp_path import BookImporter
from tokenbooks.plugins.rules.contracts import load_contracts

from .import_cmd import make_importers, read_settings


def book_importers(book: Path) -> list[BookImporter]:
    """The importers of the book in folder ``book``, for beangulp and Fava."""
    contracts, errors = load_contracts(book / "contracts")
    for error in errors:
        click.echo(f"warning: {error}", err=True)
    config = book / "importers.yaml"
    try:
        settings = read_settings(config) if config.exists() else {}
    except click.ClickException as exc:
        raise SystemExit(f"Error: {exc.message}") from None
    return [BookImporter(importer) for importer in make_importers(contracts, settings)]
