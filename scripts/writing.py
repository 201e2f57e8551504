"""How ``tokenbooks import`` and ``tokenbooks close`` write the book: atomically, and one
command at a time.

Every file they write goes through here:

    write_text_atomic(path, text)        a temporary file beside ``path``
    write_bytes_atomic(path, data)       (``.<name>.<random>.tokenbooks.tmp``), written,
    copy_atomic(source, path, sha256)    flushed and fsync'ed, then renamed over ``path``
    remove(path)                         (``os.replace``) and the folder fsync'ed

so that a crash, a kill or a full disk leaves the old file or the new one, never a part
of either, and the files land in the order they are written. A new file has the mode a
plain write would give it (``0o666`` less the umask). On any failure the temporary file
is removed; an ``OSError`` becomes a ``WriteError``: a ``click.ClickException`` (exit
status 1) whose one line names the file. A temporary file left by a killed process is
removed by the next command (``sweep``, under the lock). In which order the commands
write, and how a re-run completes what a crash interrupted: ``import_cmd`` and
``close_cmd``.

One writer at a time: ``BookLock(book, command)`` takes an exclusive ``fcntl.flock`` on
``<book>/.tokenbooks.lock`` (the folder of ``main.beancount``; git-ignore it) and writes
the holder's pid, command and start time into it for the message another command shows:
it waits, saying once who holds the book, or with ``wait=False`` (``--no-wait``) fails
with that message. The lock is the operating system's: a killed holder releases it. It
is re-entrant within a process (the close imports without taking it again). Readers
(bean-check, Fava, ``tokenbooks report``) need none: they see whole files only.

Test hook: ``TOKENBOOKS_FAULT_AFTER=<n>`` makes the process exit at once (``os._exit(137)``,
as a ``kill -9`` would leave it) after the n-th file it writes or removes lands;
``TOKENBOOKS_FAULT_AFTER=<n>:tmp`` when the n-th file is written to its temporary file
but not yet renamed. For the fault tests (``tests/test_faults.py``) only.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

TMP_SUFFIX = ".tokenbooks.tmp"
LOCK_FILE = ".tokenbooks.lock"
FAULT_VARIABLE = "TOKENBOOKS_FAULT_AFTER"
CHUNK = 1 << 20
_UMASK = os.umask(0)
os.umask(_UMASK)
_written = 0  # files landed (or removed) by this process, for the test hook


class WriteError(click.ClickException):
    """A file of the book could not be written (a full disk, permissions...)."""

    def __init__(self, path: Path, exc: OSError, doing: str = "write") -> None:
        reason = exc.strerror or str(exc)
        code = f" [errno {exc.errno}]" if exc.errno else ""
        super().__init__(f"cannot {doing} {path}: {reason}{code}; no file was left "
                         f"half-written: fix it and run the command again")
        self.path = path
        self.errno = exc.errno


class SourceChanged(click.ClickException):
    """The file being archived is not the one that was read (it changed meanwhile)."""


# --- atomic writes ----------------------------------------------------------------------


def _fault(stage: str) -> None:
    """The test hook (see the module doc)."""
    wanted = os.environ.get(FAULT_VARIABLE)
    if not wanted:
        return
    count, _, when = wanted.partition(":")
    if (when or "after") != stage:
        return
    if stage == "tmp" and _written + 1 == int(count):
        os._exit(137)
    if stage == "after" and _written == int(count):
        os._exit(137)


def _landed() -> None:
    global _written
    _written += 1
    _fault("after")


def fsync_folder(folder: Path) -> None:
    """Make a rename or removal in ``folder`` durable (where the system allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EROFS):
            raise
    finally:
        os.close(handle)


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the block ends without an error, and is
    removed otherwise (see the module doc)."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:160]}.",
                                        suffix=TMP_SUFFIX)
    except OSError as exc:
        raise WriteError(path, exc) from exc
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), 0o666 & ~_UMASK)  # as a plain write would make it
            yield out
            out.flush()
            os.fsync(out.fileno())
        _fault("tmp")
        os.replace(temporary, path)
        fsync_folder(folder)
    except BaseException as exc:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(path, exc) from exc
        raise
    _landed()


def write_bytes_atomic(path: Path, data: bytes | bytearray | memoryview
                       | Iterable[bytes | bytearray | memoryview]) -> None:
    """Write ``data`` (bytes, or an iterable of parts, streamed) to ``path`` atomically."""
    with atomic_file(path) as out:
        if isinstance(data, (bytes, bytearray, memoryview)):
            out.write(data)
        else:
            for part in data:
                out.write(part)


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, as is (no newline translation)."""
    write_bytes_atomic(path, text.encode(encoding))


def copy_atomic(source: Path, path: Path, sha256: str | None = None) -> None:
    """Copy ``source`` to ``path`` atomically; with ``sha256``, only if the bytes copied
    have that digest (else ``SourceChanged``, and ``path`` is left as it was)."""
    try:
        reader = open(source, "rb")  # noqa: SIM115 (closed below, errors named apart)
    except OSError as exc:
        raise click.ClickException(f"{source}: cannot be read ({exc.strerror or exc})"
                                   ) from exc
    with reader:
        digest = hashlib.sha256()
        with atomic_file(path) as out:
            while block := _read(reader, source):
                digest.update(block)
                out.write(block)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise SourceChanged(f"{source}: it changed while it was being imported "
                                    f"(sha256 {digest.hexdigest()[:8]}..., read as "
                                    f"{sha256[:8]}...); import it again")


def _read(reader: IO[bytes], source: Path) -> bytes:
    try:
        return reader.read(CHUNK)
    except OSError as exc:
        raise click.ClickException(f"{source}: cannot be read ({exc.strerror or exc})"
                                   ) from exc


def remove(path: Path) -> bool:
    """Remove ``path`` if it exists (durably); whether it did."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteError(path, exc, "remove") from exc
    fsync_folder(path.parent)
    _landed()
    return True


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)


def sweep(book: Path) -> list[Path]:
    """Remove the temporary files a killed command left in the book's folder (call it
    holding the lock: another writer's temporary files are live)."""
    removed = []
    for folder, dirs, files in os.walk(book):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules")]
        for name in files:
            if name.startswith(".") and name.endswith(TMP_SUFFIX):
                path = Path(folder) / name
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise WriteError(path, exc, "remove") from exc
                removed.append(path)
    return removed


# --- one writer at a time ---------------------------------------------------------------


class BookLocked(click.ClickException):
    """The book is being written by another command (``--no-wait``)."""


_held: dict[str, int] = {}  # books this process holds the lock of -> depth


def lock_path(book: Path) -> Path:
    return Path(book) / LOCK_FILE


def _holder(handle: int) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    for _ in range(20):  # the holder writes it just after taking the lock
        try:
            text = os.pread(handle, 4096, 0).decode("utf-8", "replace")
            found = json.loads(text) if text.strip() else None
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict) and found.get("pid"):
            since = f", since {found['since']}" if found.get("since") else ""
            host = f" on {found['host']}" if found.get("host") else ""
            return f"pid {found['pid']}{host} ({found.get('command', '?')}{since})"
        time.sleep(0.05)
    return "another process"


class BookLock:
    """The exclusive lock of the book in ``book`` (see the module doc), as a context
    manager: ``with BookLock(book, "tokenbooks import", wait=True): ...``."""

    def __init__(self, book: Path, command: str, wait: bool = True,
                 echo: Callable[[str], Any] | None = None) -> None:
        self.book = Path(book).resolve()
        self.command = command
        self.wait = wait
        self.echo = echo or (lambda text: click.echo(text, err=True))
        self._handle: int | None = None
        self._key = str(self.book)

    def __enter__(self) -> BookLock:
        if self._key in _held:  # this process holds it already (the close's import)
            _held[self._key] += 1
            return self
        path = lock_path(self.book)
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise WriteError(path, exc, "open the lock file") from exc
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(handle)
                if not self.wait:
                    raise BookLocked(f"{self.book}: the book is being written by {holder}; "
                                     f"try again when it is done (or without --no-wait, "
                                     f"to wait for it)") from None
                self.echo(f"tokenbooks: waiting for the book {self.book}, which is being "
                          f"written by {holder}")
                fcntl.flock(handle, fcntl.LOCK_EX)
            since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                 "command": self.command, "since": since})
            try:  # who holds it, for the message of another command (best effort)
                os.ftruncate(handle, 0)
                os.pwrite(handle, (record + "\n").encode("utf-8"), 0)
            except OSError:
                pass
        except BaseException:
            os.close(handle)  # releases the lock if it was taken
            raise
        self._handle = handle
        _held[self._key] = 1
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is None:
            _held[self._key] -= 1
            return
        _held.pop(self._key, None)
        try:
            os.ftruncate(self._handle, 0)  # nobody holds it: no holder to name
        except OSError:
            pass
        os.close(self._handle)
        self._handle = None


def held(book: Path) -> bool:
    """Whether this process holds the lock of the book in ``book``."""
    return str(Path(book).resolve()) in _held
