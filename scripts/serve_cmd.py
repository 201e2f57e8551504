"""``tokenbooks serve --ledger FILE``: the books in Fava, read-only, on this machine.

    tokenbooks serve --ledger books/main.beancount              http://127.0.0.1:5000/
    tokenbooks serve --ledger books/main.beancount --port 8080
    tokenbooks serve --ledger books/main.beancount --host 0.0.0.0   (with a warning)

Fava runs in read-only mode: every request that is not a GET is refused (401), so no
change to the books can go through it. Fava has no login: by default it listens on
127.0.0.1 only; ``--host`` opens it to other machines, where an auditor's access must go
through a reverse proxy with authentication.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import loading

if TYPE_CHECKING:
    from flask import Flask

LOCAL = ("127.0.0.1", "localhost", "::1")


def pause_gc_in_fava_loads() -> None:
    """Every load of a book by Fava in this process (the first one and each reload after a
    change) runs with the cyclic GC paused (``loading.paused_gc``)."""
    from fava.core import FavaLedger

    original = FavaLedger.load_file
    if getattr(original, "tokenbooks_paused_gc", False):
        return

    def load_file(self: FavaLedger) -> None:
        with loading.paused_gc():
            original(self)

    load_file.tokenbooks_paused_gc = True  # type: ignore[attr-defined]
    FavaLedger.load_file = load_file  # type: ignore[method-assign]


def create_app(ledger: Path) -> Flask:
    """The read-only Fava application for ``ledger`` (loaded at once)."""
    from fava.application import create_app as fava_app

    pause_gc_in_fava_loads()
    loading.forget_cache(ledger.resolve())
    return fava_app([str(ledger.resolve())], load=True, read_only=True)


@click.command("serve")
@click.option("--ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but localhost exposes the books to "
                   "the network (Fava has no login).")
def serve(ledger: Path, port: int, host: str) -> None:
    """Serve the books in Fava, read-only, on localhost."""
    from cheroot.wsgi import Server

    host = "127.0.0.1" if host == "localhost" else host  # cheroot: no IPv6 for localhost
    app = create_app(ledger)
    click.echo(f"Serving {ledger} with Fava, read-only (every change through Fava is "
               f"refused), on http://{host}:{port}/")
    if host not in LOCAL:
        click.echo(f"warning: listening on {host}, beyond this machine. Fava has no login: "
                   f"anyone who can reach this address reads the books. Put a reverse "
                   f"proxy with authentication in front of it.", err=True)
    server = Server((host, port), app)
    try:
        server.start()
    except KeyboardInterrupt:
        click.echo("Stopping Fava.", err=True)
        server.stop()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
