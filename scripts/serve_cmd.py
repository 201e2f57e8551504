"""``tokenbooks serve --ledger FILE``: the books in Fava, read-only, on this machine.

    tokenbooks serve --ledger books/main.beancount              http://127.0.0.1:5000/
    tokenbooks serve --ledger books/main.beancount --port 8080
    tokenbooks serve --ledger books/main.beancount --host 0.0.0.0   (with a warning)

Fava runs in read-only mode: every request that is not a GET is refused (401), so no
change to the books can go through it. Fava has no login: by default it listens on
127.0.0.1 only; ``--host`` opens it to other machines, where an auditor's access must go
through a reverse proxy with authentication.

It answers only requests whose ``Host`` is the address it listens on (``HostCheck``),
any other is refused (400): a web page cannot read the books by pointing a name of its
own at 127.0.0.1 (DNS rebinding). On localhost that is ``127.0.0.1:PORT``,
``localhost:PORT`` or ``[::1]:PORT``; with ``--host`` that host and port; a reverse
proxy's name (or this machine's name, with ``--host 0.0.0.0``) is added with
``--allow-host NAME`` (``NAME`` or ``NAME:PORT``; a bare name is accepted with or
without the port).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import loading

if TYPE_CHECKING:
    from flask import Flask

LOCAL = ("127.0.0.1", "localhost", "::1")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5000


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` headers a server listening on ``host``:``port`` answers (lowercase)."""
    names = ["127.0.0.1", "localhost", "[::1]"] if host in LOCAL else [
        f"[{host}]" if ":" in host and not host.startswith("[") else host]
    out = {f"{name}:{port}" for name in names}
    if port == 80:  # a browser leaves out the default port
        out.update(names)
    for name in extra:
        out.add(name)
        if name.endswith("]") or ":" not in name:  # no port given: with ours too
            out.add(f"{name}:{port}")
    return frozenset(name.lower() for name in out)


class HostCheck:
    """WSGI middleware: a request whose ``Host`` is not one of ``allowed`` is refused
    (400) before it reaches Fava."""

    def __init__(self, app: Callable[..., Any], allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST") or "").strip().lower()
        if host in self.allowed:
            return self.app(environ, start_response)
        body = (f"400 Bad Request: this server answers only for "
                f"{', '.join(sorted(self.allowed))}\n").encode()
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", str(len(body)))])
        return [body]


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


def create_app(ledger: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
               allow: Iterable[str] = ()) -> Flask:
    """The read-only Fava application for ``ledger`` (loaded at once), answering only
    requests for ``host``:``port`` (and the ``allow`` names; see ``HostCheck``)."""
    from fava.application import create_app as fava_app

    pause_gc_in_fava_loads()
    loading.forget_cache(ledger.resolve())
    app = fava_app([str(ledger.resolve())], load=True, read_only=True)
    check = HostCheck(app.wsgi_app, allowed_hosts(host, port, allow))
    app.wsgi_app = check  # type: ignore[method-assign]
    return app


@click.command("serve")
@click.option("--ledger", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The book's main.beancount.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on; anything but localhost exposes the books to "
                   "the network (Fava has no login).")
@click.option("--allow-host", "allow", multiple=True, metavar="NAME",
              help="A further Host the server answers to (a reverse proxy's name; NAME "
                   "or NAME:PORT); others are refused (400). Repeatable.")
def serve(ledger: Path, port: int, host: str, allow: tuple[str, ...]) -> None:
    """Serve the books in Fava, read-only, on localhost."""
    from cheroot.wsgi import Server

    host = "127.0.0.1" if host == "localhost" else host  # cheroot: no IPv6 for localhost
    app = create_app(ledger, host, port, allow)
    server = Server((host, port), app)
    try:
        server.prepare()  # binds: the port is known (--port 0 picks one)
        bound = server.bind_addr
        port = bound[1] if isinstance(bound, tuple) else port
        check = app.wsgi_app
        if isinstance(check, HostCheck):
            check.allowed = allowed_hosts(host, port, allow)
        where = f"[{host}]" if ":" in host else host
        click.echo(f"Serving {ledger} with Fava, read-only (every change through Fava is "
                   f"refused), on http://{where}:{port}/")
        if host not in LOCAL:
            click.echo(f"warning: listening on {host}, beyond this machine. Fava has no "
                       f"login: anyone who can reach this address reads the books. Put a "
                       f"reverse proxy with authentication in front of it.", err=True)
        server.serve()
    except KeyboardInterrupt:
        click.echo("Stopping Fava.", err=True)
        server.stop()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
