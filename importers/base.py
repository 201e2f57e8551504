"""What the usage importers share: contracts, the event index, the beangulp methods.

A usage importer subclasses ``UsageImporter`` and implements ``sniff`` (does the file
look like mine?) and ``feed`` (read the file in batches into a ``UsageCore``):

    class Importer(UsageImporter):
        suffixes = (".jsonl",)
        def sniff(self, head: str) -> bool: ...
        def feed(self, path: Path, core: UsageCore, progress: Progress) -> None: ...

``extract(filepath, existing)`` registers the event-id sidecars of the usage entries
in ``existing`` (see ``index``), so an event already in the book is never booked
again, and keeps the whole ``Extraction`` (counts, quarantine, ids) in
``self.results[filepath]`` for ``tokenbooks import``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import beangulp
import pyarrow as pa
from beancount.core import data

from tokenbooks.plugins.rules import accounts
from tokenbooks.plugins.rules.classes import long_context_thresholds
from tokenbooks.plugins.rules.contracts import load_contracts
from tokenbooks.plugins.rules.model import ContractSet, Customer

from .index import EventIndex
from .usage import Extraction, RepeatedIds, Spans, UnreadableSource, UsageCore

USAGE_ACCOUNT = accounts.REVENUE_USAGE
HEAD_BYTES = 64 * 1024


class Progress:
    """Bytes read so far; ``tokenbooks import`` plugs a tqdm bar in here."""

    def __init__(self, callback: Callable[[int], None] | None = None) -> None:
        self.callback = callback

    def update(self, n: int) -> None:
        if self.callback is not None:
            self.callback(n)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_head(path: str | os.PathLike, size: int = HEAD_BYTES) -> str | None:
    """The start of a text file, or None if it is not UTF-8 text (a line past the first
    that is not UTF-8 shows as U+FFFD: the importer quarantines it)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(size)
    except OSError:
        return None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut at the end of the block
            return head[:exc.start].decode("utf-8")
        end = head.find(b"\n")
        if 0 <= end < exc.start:  # a bad line after a good first line (the header): the
            return head.decode("utf-8", errors="replace")  # importer quarantines it
        return None


def as_contracts(contracts: ContractSet | str | os.PathLike) -> ContractSet:
    if isinstance(contracts, ContractSet):
        return contracts
    book, errors = load_contracts(contracts)
    if errors and not book.customers:
        raise ValueError(f"{contracts}: no valid customer ({errors[0]})")
    return book


def archive_name(path: str | os.PathLike, sha256: str) -> str:
    """``usage jan.jsonl`` -> ``usage-jan.3f2a9c1b.jsonl`` (the name with its hash)."""
    name = Path(path).name
    stem, dot, suffix = name.partition(".")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "source"
    return f"{stem}.{sha256[:8]}{dot}{suffix}"


ARCHIVE_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\.")


def archived_copies(folder: str | os.PathLike, name: str) -> list[Path]:
    """The archived copies ``<YYYY-MM-DD>.<name>`` of a source in ``folder`` (whatever
    their date), sorted; temporary files (dot files) are not copies."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if ARCHIVE_DAY.match(path.name) and path.name[11:] == name
                  and path.is_file())


def is_copy(path: str | os.PathLike, sha256: str) -> bool:
    """Whether the file at ``path`` has the digest ``sha256`` (an archived copy whole)."""
    try:
        return file_sha256(path) == sha256
    except OSError:
        return False


def never(customer: Customer) -> bool:
    """A per-user hook that keeps ``user`` out of every aggregate."""
    return False


def per_user_limits(customer: Customer) -> bool:
    """The default per-user hook: a contract of the customer limits credits per user
    (``allowance.per_user``), so its usage is aggregated per user too."""
    for contract in customer.contracts:
        allowance = getattr(contract, "allowance", None)
        if allowance is not None and getattr(allowance, "per_user", None):
            return True
    return False


class UsageImporter(beangulp.Importer):
    """Base of the usage importers (canonical JSONL/CSV/Parquet, LiteLLM)."""

    suffixes: tuple[str, ...] = ()
    kind = "usage"
    spans: Spans | None = None  # the aggregation grain (``UsageCore``): None, a day
    spill: Path | None = None  # where finished months wait for the write (``UsageCore``)
    index_compression = "gzip"  # of their ids: a sidecar's (gzip), or ``zstd``, a derived
    # index's (``index.sidecar_bytes``), so that the write only moves the bytes

    def __init__(self, contracts: ContractSet | str | os.PathLike,
                 per_user: Callable[[Customer], bool] = per_user_limits,
                 index: EventIndex | None = None, account: str = USAGE_ACCOUNT) -> None:
        """``per_user`` says which customers need ``user`` in the aggregation key (the
        contracts with per-user limits); ``index`` may be shared by several importers so
        that their sources are deduplicated against one another."""
        self.contracts = as_contracts(contracts)
        self.per_user = per_user
        self.index = index if index is not None else EventIndex()
        self._account = account
        self.results: dict[str, Extraction] = {}
        self.progress = Progress()

    # -- what a subclass provides ----------------------------------------------------------

    def sniff(self, head: str) -> bool:
        raise NotImplementedError

    def feed(self, path: Path, core: UsageCore, progress: Progress) -> None:
        raise NotImplementedError

    # -- beangulp ----------------------------------------------------------------------------

    def identify(self, filepath: str) -> bool:
        if not str(filepath).lower().endswith(self.suffixes):
            return False
        head = read_head(filepath)
        return head is not None and self.sniff(head)

    def account(self, filepath: str) -> data.Account:
        return self._account

    def filename(self, filepath: str) -> str | None:
        return archive_name(filepath, self._sha256(filepath))

    def date(self, filepath: str) -> datetime.date | None:
        """The last UTC day of the events of the file (None if it has none)."""
        result = self.results.get(str(filepath))
        if result is None:  # read it aside: claiming its ids would make them duplicates
            result = self.run(Path(filepath), index=EventIndex())
        return max((e.date for e in result.entries), default=None)

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        return list(self.extract_result(filepath, existing).entries)

    def extract_result(self, filepath: str, existing: data.Entries) -> Extraction:
        """``extract``'s work, the entries not made (``tokenbooks import`` writes the
        usage table as text: ``Extraction.usage_table``)."""
        self.index.register(existing)
        missing = self._index_unindexed(filepath, existing)
        result = self.run(Path(filepath))
        result.warnings += missing
        self.results[str(filepath)] = result
        return result

    def _index_unindexed(self, filepath: str, existing: data.Entries) -> list[str]:
        """Usage booked without a sidecar (``beangulp extract`` or Fava's import page
        wrote the entries, not ``tokenbooks import``): its source is found by its sha256
        (the file being imported, or an archived copy under ``documents/``, as a
        ``document`` entry of the book) and read again for its ids, so that its events
        are duplicates. A source not found, or of another format, is a warning."""
        pending = [sha for sha in sorted(self.index.unindexed) if sha not in self.index.resolved]
        if not pending:
            return []
        candidates = [str(filepath)] + sorted(
            str(e.filename) for e in existing if isinstance(e, data.Document))
        warnings = []
        for sha in pending:
            found = next((path for path in candidates
                          if f".{sha[:8]}." in Path(path).name or path == str(filepath)
                          if Path(path).is_file() and file_sha256(path) == sha), None)
            if found is None or not self.identify(found):
                warnings.append(
                    f"usage booked from a source with sha256 {sha[:8]}... has no event-id "
                    f"index (not imported by tokenbooks import) and its source is not "
                    f"{'in documents/' if found is None else 'of this format'}: its events "
                    f"cannot be told from this file's (archive the source, or use "
                    f"tokenbooks import)")
                continue
            booked = self.run(Path(found), index=EventIndex())
            for month, ids in sorted(booked.event_ids.items()):
                combined = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
                hashes = pa.concat_arrays(booked.event_hashes[month])
                self.index.commit(month, combined)
                self.index.remember(month, combined, hashes)
            self.index.resolved.add(sha)
        return warnings

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """``extract`` already dropped every event id the book holds (its event-id
        index, and the sources of usage booked without one); this marks, for beangulp's
        own flow, an entry the book holds as it is (same source sha256, day and key)."""
        booked = {_usage_key(e) for e in existing
                  if isinstance(e, data.Custom) and e.type == "usage"}
        for entry in entries:
            if isinstance(entry, data.Custom) and entry.type == "usage" and \
                    _usage_key(entry) in booked:
                entry.meta["__duplicate__"] = True

    # -- the work ------------------------------------------------------------------------------

    def _sha256(self, filepath: str) -> str:
        result = self.results.get(str(filepath))
        return result.sha256 if result else file_sha256(filepath)

    def per_user_customers(self) -> set[str]:
        return {c.id for c in self.contracts.customers.values() if self.per_user(c)}

    def run(self, path: Path, index: EventIndex | None = None) -> Extraction:
        """Read, validate, deduplicate and aggregate one file (against ``index``, by
        default the importer's)."""
        index = index if index is not None else self.index
        core = self._read(path, index, fast_dedupe=True)
        try:
            return self._finish(path, core)
        except RepeatedIds:  # an id repeats inside the file: read it again, id by id
            core.rollback()
            core = self._read(path, index, fast_dedupe=False)
            return self._finish(path, core)

    def _read(self, path: Path, index: EventIndex, fast_dedupe: bool) -> UsageCore:
        core = UsageCore(self.contracts.customers, self.per_user_customers(), index,
                         long_context_thresholds([*self.contracts.price_books.values(),
                                                  *self.contracts.costs.values()]),
                         spans=self.spans)
        core.fast_dedupe = fast_dedupe
        core.spill, core.index_compression = self.spill, self.index_compression
        try:
            self.feed(path, core, self.progress)
        except BaseException:
            core.abandon()  # (months spilled by a thread: none written after this)
            raise
        return core

    def _finish(self, path: Path, core: UsageCore) -> Extraction:
        try:
            sha256 = core.digest.hexdigest() if core.hashed else file_sha256(path)
            parsed = core.read - sum(1 for q in core.quarantine if q.field == "(line)")
            if core.read and not parsed:
                raise UnreadableSource(f"{path}: no line could be read as "
                                       f"{self.format_name} ({core.quarantine[0].reason} "
                                       f"on line {core.quarantine[0].line})")
            return core.finish(path, sha256, self.name)
        except BaseException:
            core.abandon()
            raise

    format_name = "usage events"


def _usage_key(entry: data.Custom) -> tuple:
    meta = entry.meta or {}
    return (entry.date, tuple(str(v.value) for v in entry.values), meta.get("sha256"),
            meta.get("first_event"), meta.get("last_event"), meta.get("events"))
