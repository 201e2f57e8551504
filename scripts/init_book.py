"""``tokenbooks init DIR``: a new, empty book that passes ``bean-check`` at once.

    DIR/main.beancount        options, plugin lines, includes
    DIR/accounts.beancount    open directives of the general accounts
    DIR/contracts/            customers/, price-books/ (a starter list), costs/, the schema
    DIR/imports/              imported entries, one file per source per month
    DIR/documents/            archived source files
    DIR/reports/              month-end outputs
    DIR/import.py             beangulp and Fava's import page over the tokenbooks importers
    DIR/importers.yaml        importer settings: ``index: {store: cache}`` (the event-id
                              index is a derived cache under .tokenbooks/, git-ignored;
                              docs/event-index.md); ``--index book`` keeps sidecars instead
    DIR/incoming/             where to put files for Fava's import page (import-dirs)

    $ tokenbooks init books --start 2026-01
"""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path

import click

from tokenbooks.plugins.rules.contracts import schema

TEMPLATES = resources.files("tokenbooks.scripts").joinpath("templates")
KEEP = "Kept by tokenbooks; this file keeps the empty folder in version control.\n"
STORES = ("cache", "book")  # index.store of importers.yaml (scripts.import_cmd.STORES)


def importers_yaml(store: str) -> str:
    """The importers.yaml of a new book: where its event-id index lives."""
    return ("# Importer settings of this book (README, Importing), written by tokenbooks init.\n"
            "# index.store: where the ids of imported events live (docs/event-index.md).\n"
            "#   cache: a derived index under .tokenbooks/ (git-ignored), checked against\n"
            "#          the fingerprint each import file records, rebuilt from documents/\n"
            "#   book:  a sidecar (.events.gz) beside each import file, committed\n"
            f"index: {{store: {store}}}\n")


def _render(name: str, **values: str) -> str:
    return TEMPLATES.joinpath(name).read_text(encoding="utf-8").format(**values)


def _render_plain(name: str) -> str:
    return TEMPLATES.joinpath(name).read_text(encoding="utf-8")


def create_book(directory: Path, title: str, currency: str, start: datetime.date,
                force: bool = False, store: str = "cache") -> list[Path]:
    """Write a new book into ``directory``; returns the files written. ``store``: where
    its event-id index lives (``cache``, the default for new books, or ``book``)."""
    if store not in STORES:
        raise click.BadParameter(f"expected one of {', '.join(STORES)}, got {store!r}",
                                 param_hint="--index")
    main = directory / "main.beancount"
    if main.exists() and not force:
        raise click.ClickException(f"{main} exists; not overwriting a book (use --force)")
    # The title goes into a Beancount string (and the comment line above it): quoted.
    quoted = title.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    values = {"title": quoted, "currency": currency, "start": start.isoformat(),
              "year": str(start.year)}
    import json

    files = {
        "main.beancount": _render("main.beancount", **values),
        "accounts.beancount": _render("accounts.beancount", **values),
        "contracts/tokenbooks.schema.json": json.dumps(schema(), indent=2) + "\n",
        "contracts/price-books/list.yaml": _render("list.yaml", **values),
        "contracts/customers/customer.yaml.example": _render("customer.yaml.example", **values),
        "contracts/costs/.keep": KEEP,
        # main.beancount includes imports/*.beancount, and a glob that matches nothing
        # is a load error: this file keeps the glob matching before the first import.
        "imports/README.beancount": "; Imported entries: one file per source per month, "
                                    "written by `tokenbooks import`.\n",
        "invoices/README.beancount": "; Invoices written by `tokenbooks close`, one file "
                                     "per month.\n",
        "closes/README.beancount": "; Closed months written by `tokenbooks close`: a close "
                                   "directive and the manifest of each.\n",
        "documents/.keep": KEEP,
        "reports/.keep": KEEP,
        "import.py": _render_plain("import.py.template"),
        "importers.yaml": importers_yaml(store),
        "incoming/.keep": KEEP,
        # what the commands make beside the books and nobody should commit
        ".gitignore": "# written by tokenbooks init\n.tokenbooks.lock\n.*.tokenbooks.tmp\n"
                      "*.picklecache\n"
                      "# the derived event-id index (docs/event-index.md)\n.tokenbooks/\n",
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--title", default="AI books", show_default=True, help="Title shown in Fava.")
@click.option("--currency", default="USD", show_default=True, help="Operating currency.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d", "%Y-%m"]), default=None,
              help="Date the accounts open, or a month (its first day: a cut-over "
                   "month, see tokenbooks cutover); default 1 January of this year.")
@click.option("--force", is_flag=True, help="Overwrite an existing book's files.")
@click.option("--index", "store", type=click.Choice(STORES), default="cache",
              show_default=True,
              help="Where the event-id index lives: cache (derived, git-ignored, rebuilt "
                   "from documents/) or book (a sidecar per import file, committed); "
                   "docs/event-index.md.")
def init(directory: Path, title: str, currency: str, start: datetime.datetime | None,
         force: bool, store: str) -> None:
    """Create a new book in DIRECTORY that passes bean-check at once."""
    day = start.date() if start else datetime.date(datetime.date.today().year, 1, 1)
    if not currency.isupper() or not currency.isalnum():
        raise click.BadParameter(f"expected an upper-case code such as USD, got {currency!r}",
                                 param_hint="--currency")
    written = create_book(directory, title, currency, day, force, store)
    click.echo(f"Created a book in {directory} ({len(written)} files).")
    click.echo(f"  check it:   bean-check {directory / 'main.beancount'}")
    click.echo(f"  browse it:  fava {directory / 'main.beancount'}")
    click.echo(f"  next:       add customers in {directory / 'contracts/customers'}/ "
               "(see customer.yaml.example)")
