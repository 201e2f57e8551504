"""The ``tokenbooks`` command.

    tokenbooks init DIR                          a new book that passes bean-check
    tokenbooks import --ledger FILE SOURCE...    (importers)
    tokenbooks aggregate --ledger FILE --out DIR SOURCE...   raw usage logs to daily aggregates
    tokenbooks close --ledger FILE --period M    the month-end close
    tokenbooks audit-pack --ledger FILE --period P --out DIR   the auditor pack
    tokenbooks cutover --ledger FILE OPENING     open a book with the balances it takes over
    tokenbooks serve --ledger FILE               Fava, read-only, on localhost
    tokenbooks whatif --ledger FILE --period P --contracts DIR   proposed contracts, in memory
    tokenbooks regrain --ledger FILE --grain day|month   the open months' usage at a grain
    tokenbooks migrate-index --ledger FILE       an older book's sidecars to the derived index

Each command lives in its own module of ``tokenbooks.scripts`` and is registered here;
a command that does not exist yet is not listed.
"""

from __future__ import annotations

import click

from tokenbooks import __version__

from .aggregate_cmd import aggregate
from .audit_pack_cmd import audit_pack
from .close_cmd import close
from .cutover_cmd import cutover
from .export_cmd import export
from .import_cmd import import_
from .init_book import init
from .migrate_index import migrate_index
from .regrain_cmd import regrain_cmd
from .report_cmd import report
from .serve_cmd import serve
from .whatif_cmd import whatif_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tokenbooks")
def cli() -> None:
    """Plain-text books for AI products that bill by usage (Beancount, ASC 606)."""


cli.add_command(init)
cli.add_command(import_)
cli.add_command(report)
cli.add_command(close)
cli.add_command(cutover)
cli.add_command(serve)
cli.add_command(whatif_cmd)
cli.add_command(export)
cli.add_command(audit_pack)
cli.add_command(aggregate)
cli.add_command(regrain_cmd)
cli.add_command(migrate_index)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
