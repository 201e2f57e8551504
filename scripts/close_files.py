"""The files ``tokenbooks close`` writes into the book: the invoices and the lock of a month.

    invoices/2026-01.beancount   the month's invoice run and one invoice per customer
    closes/2026-01.beancount     the close directive (fingerprint of the manifest)
    closes/2026-01.manifest      the month's files by digest, its generated entries one
                                 by one (plugins.lock, version 2)
    reports/2026-01/lock.json    the close's record: period, fingerprint, manifest, entries
    git tag tokenbooks/close/2026-01   (annotated, on HEAD; "fingerprint: <hex>")

Both folders are included by ``main.beancount`` (``include "invoices/*.beancount"``,
``include "closes/*.beancount"``); each holds a ``README.beancount`` so the glob always
matches. Files are written only when their text changes, byte for byte the same for
the same book, each atomically (``scripts.writing``).

The lock step writes, in this order (``close_files``, or the close command's steps):

    closes/.2026-01.closing      a marker: the lock step of 2026-01 is under way
    closes/2026-01.manifest
    closes/2026-01.beancount     the close: from here on the month is closed
    reports/2026-01/lock.json    then the evidence of the close outside closes/
    git tag                      (when the book's folder is the top of a git work tree)
    (the marker removed)

The evidence comes after the close file: a crash can leave a closed month without its
evidence (what a book closed before there was evidence looks like, and what the next
command completes), never evidence of a close that is not there (which the lock plugin
reports as a close deleted). The manifest is evidence too (``plugins.lock``), hence the
marker: the next command (``recover``, under the book's lock) finds it and rolls the
lock step back (no close file: the manifest this close wrote is removed; closing again
writes it again) or completes it (the close file is there: the record and the tag are
written).

The git tag is written when the book's folder is the top of a git work tree with a
commit (``git rev-parse --is-inside-work-tree``, ``--show-toplevel``, ``HEAD``): a book
kept in a folder of another project's repository (the sample book) is not tagged, as
the lock plugin reads the tags of the first kind only, and two books of one repository
would claim the same tag names. No git, no repository or no commit: no tag, silently.
A tag that exists with another fingerprint stops the close before anything is written.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from beancount.core import data
from beancount.core.amount import Amount
from beancount.parser import parser, printer

from tokenbooks.plugins import lock
from tokenbooks.plugins.entries.build import format_entry, value
from tokenbooks.plugins.rules import accounts, manifest
from tokenbooks.plugins.rules.invoicing import Invoice

from . import writing

INVOICES = "invoices"
CLOSES = "closes"
REPORTS = "reports"
LOCK_RECORD = "lock.json"
TAG_PREFIX = "tokenbooks/close/"
MARKER_SUFFIX = ".closing"
INVOICE_RUN = "invoice-run"
LINK = re.compile(r"[A-Za-z0-9\-_/.]+")  # a charge that can be a link (a lot id)
README = {
    INVOICES: "; Invoices written by `tokenbooks close`, one file per month.\n",
    CLOSES: "; Closed months written by `tokenbooks close`: a close directive and the "
            "manifest of each.\n",
}


def invoice_entry(inv: Invoice, payee: str, filename: str) -> data.Transaction:
    meta = data.new_metadata(filename, 0, {
        "customer": inv.customer, "contract": " ".join(inv.contracts), "rule": "invoice",
        "invoice": inv.id, "period": inv.period, "due": inv.due,
        "payment_terms_days": Decimal(inv.terms_days)})
    postings = []
    billed = []  # a receivable booked before the invoice: the line, and its charge's leg
    for n, line in enumerate(inv.lines, 1):
        pmeta: dict[str, object] = {"line": Decimal(n), "stream": line.stream}
        if line.model:
            pmeta["model"] = line.model
        if line.charge:
            pmeta["charge"] = line.charge
        postings.append(data.Posting(accounts.receivable(inv.customer),
                                     Amount(line.amount, inv.currency), None, None, None,
                                     pmeta))
        if line.charge:
            billed.append(data.Posting(accounts.receivable(inv.customer),
                                       Amount(-line.amount, inv.currency), None, None, None,
                                       {"charge": line.charge}))
    if inv.unbilled_total or not billed:
        postings.append(data.Posting(accounts.unbilled(inv.customer),
                                     Amount(-inv.unbilled_total, inv.currency), None, None,
                                     None, None))
    postings += billed
    links = frozenset({inv.id, *inv.contracts,
                       *(line.charge for line in inv.lines if LINK.fullmatch(line.charge))})
    return data.Transaction(meta, inv.date, "*", payee,
                            f"Invoice {inv.id} for {inv.period}", data.EMPTY_SET, links,
                            postings)


def invoices_text(period: str, period_end: datetime.date, items: list[Invoice],
                  payees: dict[str, str]) -> str:
    """The invoice file of ``period``: the run (dated the month's last day, so the whole
    month is in the book when it is closed) and the invoices."""
    head = (f"; Invoices of {period}, written by `tokenbooks close`: do not edit.\n"
            f"; Each bills the month's Assets:Unbilled of one customer to "
            f"Assets:Receivable.\n")
    run = data.Custom(data.new_metadata("<close>", 0, {"invoices": Decimal(len(items))}),
                      period_end, INVOICE_RUN, [value(period)])
    parts = [format_entry(run)]
    for inv in items:
        parts.append(format_entry(invoice_entry(inv, payees.get(inv.customer,
                                                                        inv.customer),
                                                        "<close>")))
    return head + "\n" + "\n".join(parts)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it holds it already; atomically (a temporary file
    beside it, flushed, then renamed over it: ``writing.write_text_atomic``), so that a
    crash leaves the old file or the new one, never a part. Whether it wrote."""
    try:
        if path.exists() and path.read_bytes() == text.encode("utf-8"):
            return False
    except OSError:
        pass  # unreadable: written again
    writing.write_text_atomic(path, text)
    return True


def ensure_folders(book: Path) -> None:
    for folder, text in README.items():
        readme = book / folder / "README.beancount"
        if not readme.exists():
            write_if_changed(readme, text)


class TagConflict(Exception):
    """The git tag of the month exists with another fingerprint."""


@dataclass(frozen=True)
class Seal:
    """The lock of a month, computed: the manifest and the close file's texts."""

    period: str
    manifest: str
    directive: str
    fingerprint: str
    entries: int


def seal(book: Path, period: str, period_end: datetime.date,
         entries: data.Directives, digests: lock.Digests | None = None) -> Seal:
    """The manifest (version 2: ``plugins.lock``) and close directive of ``period`` from
    the loaded book (no writing); ``digests``: the files hashed, to verify the seal with
    (``verify_seal``) without reading them again."""
    items = [item for item, _ in lock.v2_items(entries, {period}, book,
                                               digests or lock.Digests())[period]]
    text = manifest.render(items)
    fingerprint = manifest.digest(text)
    count = lock.entry_count(items)
    close = data.Custom(data.new_metadata("<close>", 0, {
        "manifest": f"{period}.manifest", "fingerprint": fingerprint,
        "entries": Decimal(count)}), period_end, lock.CLOSE, [value(period)])
    directive = (f"; {period} is closed: `tokenbooks close` wrote this file and "
                 f"{period}.manifest.\n; Any later change to an entry dated in "
                 f"{period} is a bean-check error (tokenbooks.plugins.lock).\n\n"
                 + format_entry(close))
    return Seal(period, text, directive, fingerprint, count)


def verify_seal(book: Path, period: str, entries: data.Directives, loaded: list[str],
                digests: lock.Digests | None = None) -> list[str]:
    """What a load of the book would say of the close just written, without loading the
    book again: that its close file is read by the book (an ``include`` of one of the
    ``loaded`` files matches it), that it parses to the month's close directive, and the
    lock's verdict on the month (``plugins.lock.verify``, on the loaded ``entries``) and
    on its evidence (a record or tag of another close). The problems, as messages."""
    close_file = close_path(book, period)
    if not lock.included(loaded, close_file):
        return [f"{close_file} is not in the book: expected the line include "
                f"\"{CLOSES}/*.beancount\" in the book's main file"]
    parsed, errors, _ = parser.parse_file(str(close_file))
    if errors:
        return [printer.format_error(e).rstrip() for e in errors]
    closes = lock.closed_periods(parsed)
    if set(closes) != {period}:
        return [f"{close_file}: expected the close directive of {period} alone"]
    found = [*lock.verify(entries, closes, book, digests or lock.Digests()),
             *lock.disagreements(closes, lock.evidence(book))]
    return [f"{e.source.get('filename')}:{e.source.get('lineno')}: {e.message}"
            for e in found]


def close_path(book: Path, period: str) -> Path:
    return book / CLOSES / f"{period}.beancount"


def manifest_path(book: Path, period: str) -> Path:
    return book / CLOSES / f"{period}.manifest"


def marker_path(book: Path, period: str) -> Path:
    return book / CLOSES / f".{period}{MARKER_SUFFIX}"


def record_path(book: Path, period: str) -> Path:
    return book / REPORTS / period / LOCK_RECORD


def write_seal(book: Path, sealed: Seal) -> tuple[Path, Path]:
    """The marker, the manifest, then the close file (see the module doc)."""
    period = sealed.period
    write_if_changed(marker_path(book, period), json.dumps(
        {"period": period, "fingerprint": sealed.fingerprint,
         "entries": sealed.entries}) + "\n")
    manifest_file = manifest_path(book, period)
    write_if_changed(manifest_file, sealed.manifest)
    close_file = close_path(book, period)
    write_if_changed(close_file, sealed.directive)
    return close_file, manifest_file


def unseal(book: Path, period: str) -> None:
    """Undo ``write_seal`` (the close turned out not to be in the book): close file first."""
    writing.remove(close_path(book, period))
    writing.remove(manifest_path(book, period))
    writing.remove(marker_path(book, period))


def record_text(period: str, fingerprint: str, entries: int) -> str:
    return json.dumps({"period": period, "fingerprint": fingerprint,
                       "manifest": f"{period}.manifest", "entries": entries},
                      indent=2) + "\n"


def write_evidence(book: Path, period: str, fingerprint: str, entries: int) -> list[str]:
    """The record ``reports/<P>/lock.json`` and the git tag of a closed month, those
    missing; what it wrote. TagConflict if the tag says another fingerprint."""
    done = []
    existing = tag_fingerprint(book, period)
    if existing is not None and existing != fingerprint:
        raise TagConflict(conflict_message(period, existing, fingerprint))
    if write_if_changed(record_path(book, period), record_text(period, fingerprint,
                                                                entries)):
        done.append(f"{REPORTS}/{period}/{LOCK_RECORD}")
    if existing is None and make_tag(book, period, fingerprint, entries):
        done.append(f"git tag {TAG_PREFIX}{period}")
    return done


def finish(book: Path, period: str) -> None:
    """The lock step of ``period`` is complete: its marker removed."""
    writing.remove(marker_path(book, period))


def conflict_message(period: str, found: str, fingerprint: str) -> str:
    return (f"the git tag {TAG_PREFIX}{period} exists with another fingerprint "
            f"({found[:12] or 'none'}..., this close: {fingerprint[:12]}...): the month "
            f"was closed with other entries; check it, and delete the tag (git tag -d "
            f"{TAG_PREFIX}{period}) only if that close is void")


def close_files(book: Path, period: str, period_end: datetime.date,
                entries: data.Directives) -> tuple[Path, Path, int]:
    """Write the lock of ``period`` from the loaded book, all of it (the module doc's
    order): the manifest, the close directive, the record and the tag."""
    sealed = seal(book, period, period_end, entries)
    check_tag(book, period, sealed.fingerprint)
    close_file, manifest_file = write_seal(book, sealed)
    write_evidence(book, period, sealed.fingerprint, sealed.entries)
    finish(book, period)
    return close_file, manifest_file, sealed.entries


def recover(book: Path) -> list[str]:
    """Roll back or complete a lock step a killed close left (see the module doc); what
    it did, to say. Call it holding the book's lock, before loading the book."""
    out = []
    for marker in sorted((book / CLOSES).glob(f".*{MARKER_SUFFIX}")):
        period = marker.name[1:].removesuffix(MARKER_SUFFIX)
        try:
            noted = json.loads(marker.read_text(encoding="utf-8"))
            fingerprint, count = str(noted["fingerprint"]), int(noted["entries"])
        except (OSError, ValueError, KeyError, TypeError):
            fingerprint, count = "", 0
        close_file = close_path(book, period)
        if not close_file.exists():
            manifest_file = manifest_path(book, period)
            try:
                mine = manifest.digest(manifest_file.read_text(encoding="utf-8"))
            except OSError:
                mine = None
            if mine is not None and mine == fingerprint:  # the one this close wrote
                writing.remove(manifest_file)
            writing.remove(marker)
            out.append(f"tokenbooks: the close of {period} stopped before the month was "
                       f"closed; undone (close it again)")
            continue
        text = close_file.read_text(encoding="utf-8")
        found = re.search(r'fingerprint: "([0-9a-f]+)"', text)
        entries = re.search(r"entries: (\d+)", text)
        if found:
            fingerprint = found.group(1)
        if entries:
            count = int(entries.group(1))
        try:
            done = write_evidence(book, period, fingerprint, count)
        except TagConflict as exc:
            out.append(f"tokenbooks: warning: {period}: {exc}")
            continue
        except GitFailed as exc:
            out.append(f"tokenbooks: warning: {period}: {exc} (tried again by the next "
                       f"command)")
            continue
        finish(book, period)
        out.append(f"tokenbooks: the close of {period} stopped after the month was "
                   f"closed; completed ({', '.join(done) or 'nothing was missing'})")
    return out


# --- the git tag --------------------------------------------------------------------------


class GitFailed(Exception):
    """git could not make the tag."""


def _git(book: Path, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", "-C", str(book), *args], capture_output=True,
                              text=True, timeout=60, env=env)
    except (OSError, subprocess.SubprocessError):
        return None


def git_book(book: Path) -> bool:
    """Whether the book's folder is the top of a git work tree with a commit."""
    if shutil.which("git") is None:
        return False
    inside = _git(book, "rev-parse", "--is-inside-work-tree", "--show-toplevel")
    if inside is None or inside.returncode or not inside.stdout.startswith("true"):
        return False
    lines = inside.stdout.splitlines()
    if len(lines) < 2 or Path(lines[1]).resolve() != Path(book).resolve():
        return False
    head = _git(book, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    return head is not None and head.returncode == 0


def tag_fingerprint(book: Path, period: str) -> str | None:
    """The fingerprint the month's tag keeps ("" if none), None without a tag (or git)."""
    if not git_book(book):
        return None
    found = _git(book, "for-each-ref", "--format=%(objecttype)%00%(contents)",
                 f"refs/tags/{TAG_PREFIX}{period}")
    if found is None or found.returncode or not found.stdout:
        return None
    value = re.search(r"^fingerprint: ([0-9a-f]+)\s*$", found.stdout, re.MULTILINE)
    return value.group(1) if value else ""


def check_tag(book: Path, period: str, fingerprint: str) -> None:
    """TagConflict if the month's tag exists with another fingerprint."""
    existing = tag_fingerprint(book, period)
    if existing is not None and existing != fingerprint:
        raise TagConflict(conflict_message(period, existing, fingerprint))


def make_tag(book: Path, period: str, fingerprint: str, entries: int) -> bool:
    """Tag HEAD ``tokenbooks/close/<P>`` (annotated); whether it did (not a git book)."""
    if not git_book(book):
        return False
    env = dict(os.environ)
    ident = _git(book, "var", "GIT_COMMITTER_IDENT")
    if ident is None or ident.returncode:  # no identity configured: the tool's own
        env.setdefault("GIT_COMMITTER_NAME", "tokenbooks")
        env.setdefault("GIT_COMMITTER_EMAIL", "tokenbooks@localhost")
    message = (f"tokenbooks close {period}\n\nfingerprint: {fingerprint}\n"
               f"manifest: {CLOSES}/{period}.manifest\nentries: {entries}\n")
    done = _git(book, "-c", "tag.gpgSign=false", "tag", "-a", "-m", message,
                f"{TAG_PREFIX}{period}", "HEAD", env=env)
    if done is None or done.returncode:
        reason = (done.stderr.strip().splitlines() or ["?"])[-1] if done else "git failed"
        raise GitFailed(f"git tag {TAG_PREFIX}{period} failed: {reason}")
    return True
