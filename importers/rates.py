"""Exchange rates: a rates CSV, or beanprice's output, to ``price`` entries.

    date,currency,rate[,quote]          quote: the operating currency (default USD)
    2026-01-30,EUR,1.0850
    2026-02-27,EUR,1.1000,USD

or what ``bean-price`` prints (a ``.prices`` or ``.txt`` file, one entry a line)::

    2026-01-30 price EUR 1.0850 USD

each becomes, in ``imports/<month>.<source>.beancount``::

    2026-01-30 price EUR 1.0850 USD
      source: "rates.csv"
      sha256: "..."

A rate is the number of ``quote`` per unit of ``currency``, a positive decimal as
written (never through float). The revenue and cogs plugins read the book's ``price``
entries (``rules.fx``: the latest on or before a date). Dedupe is by (date, currency,
quote): a rate the book already holds (or a line above) is a duplicate, another rate
for the same day a conflict (the first is kept; the row is quarantined with both rates). Quarantined with the reason: a bad date, currency code
or rate, a currency quoted in itself.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from beancount.core import data
from beancount.core.amount import Amount

from tokenbooks.plugins.rules import accounts

from .base import Progress, file_sha256, read_head
from .purchase_base import CsvImporter, csv_rows, day
from .usage import Extraction, Quarantined, RowProblem, UnreadableSource

COLUMNS = ("date", "currency", "rate")
CODE = re.compile(r"^[A-Z][A-Z0-9'._-]{0,22}[A-Z0-9]$")
PRICE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+price\s+(\S+)\s+(\S+)\s+(\S+)\s*(;.*)?$")
PRICES_SUFFIXES = (".prices", ".txt")
Key = tuple[datetime.date, str, str]


def code_of(text: str, name: str) -> str:
    code = (text or "").strip().upper()
    if not CODE.match(code):
        raise RowProblem(name, f"expected a currency code such as EUR, got {text.strip()!r}")
    return code


def rate_of(text: str) -> Decimal:
    raw = (text or "").strip()
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        rate = Decimal(-1)
    if not rate.is_finite() or rate <= 0 or len(raw) > 40:
        raise RowProblem("rate", f"expected a positive decimal number, got {raw!r}")
    return rate


class Importer(CsvImporter):
    """Exchange rates, CSV (``date,currency,rate[,quote]``) or beanprice output."""

    kind = "rates"
    required = COLUMNS

    def __init__(self, operating: str = "USD") -> None:
        self.operating = operating
        self.results: dict[str, Extraction] = {}
        self.progress = Progress()
        self.book: dict[Key, tuple[Decimal, str]] = {}  # (rate, sha256 of its source)

    def identify(self, filepath: str) -> bool:
        if str(filepath).lower().endswith(PRICES_SUFFIXES):
            head = read_head(filepath)
            lines = [x for x in (head or "").splitlines() if x.strip()
                     and not x.lstrip().startswith(";")]
            return bool(lines) and PRICE_LINE.match(lines[0].strip()) is not None
        return super().identify(filepath)

    def account(self, filepath: str) -> data.Account:
        return accounts.BANK  # archived with the cash it values

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        sha256 = file_sha256(filepath)
        self.book = {(e.date, e.currency, e.amount.currency): (e.amount.number,
                                                               str(e.meta.get("sha256", "")))
                     for e in existing if isinstance(e, data.Price)
                     and e.amount.number is not None}
        result = self.run(Path(filepath), sha256=sha256)
        self.results[str(filepath)] = result
        return list(result.entries)

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """Nothing to do: ``extract`` already dropped every rate the book holds."""

    def run(self, path: Path, dry: bool = False, sha256: str = "") -> Extraction:
        sha256 = sha256 or file_sha256(path)
        result = Extraction(source=path, sha256=sha256, importer=self.name, kind=self.kind)
        seen: dict[Key, Decimal] = {}
        for line, text, parsed in self.rows(path):
            result.read += 1
            try:
                when, base, quote, rate = parsed()
            except RowProblem as problem:
                result.quarantine.append(Quarantined(line, problem.field, problem.reason, text))
                continue
            key = (when, base, quote)
            held = self.book.get(key)
            # a line above first: a re-run says what the first run said, byte for byte
            before = seen.get(key, held[0] if held is not None else None)
            if before is not None:  # the first is kept
                if before != rate:
                    where = "a line above gives" if key in seen else "the book has"
                    result.conflicts.append(Quarantined(
                        line, "rate", f"{where} {before} {quote} for {base} on {when}; "
                                      f"expected one rate a day (the first is kept)", text))
                else:
                    result.duplicates += 1
                    seen[key] = rate
                continue
            seen[key] = rate
            result.imported += 1
            meta = data.new_metadata(str(path), line, {"source": path.name, "sha256": sha256})
            result.entries.append(data.Price(meta, when, base, Amount(rate, quote)))
        result.entries.sort(key=lambda e: (e.date, e.currency, e.amount.currency))
        if result.read and not result.imported and not result.duplicates and all(
                q.field == "(line)" for q in result.quarantine):
            raise UnreadableSource(f"{path}: no row could be read as rates "
                                   f"({result.quarantine[0].reason} on line "
                                   f"{result.quarantine[0].line})")
        return result

    def rows(self, path: Path) -> Iterator[
            tuple[int, str, Callable[[], tuple[datetime.date, str, str, Decimal]]]]:
        """(line, text, parse) of each row; ``parse()`` raises RowProblem."""
        if str(path).lower().endswith(PRICES_SUFFIXES):
            with open(path, encoding="utf-8", errors="replace") as handle:
                for number, raw in enumerate(handle, 1):
                    text = raw.rstrip("\r\n")
                    if not text.strip() or text.lstrip().startswith(";"):
                        continue
                    yield number, text, functools.partial(self.price_line, text)
            return
        for row in csv_rows(path, self.progress):
            yield row.line, row.text, functools.partial(self.csv_row, row.values)

    def price_line(self, text: str) -> tuple[datetime.date, str, str, Decimal]:
        found = PRICE_LINE.match(text.strip())
        if found is None or "\ufffd" in text:
            raise RowProblem("(line)", "expected 'YYYY-MM-DD price CUR RATE QUOTE'")
        when = day(found.group(1), "date")
        base, quote = code_of(found.group(2), "currency"), code_of(found.group(4), "quote")
        return self.checked(when, base, quote, rate_of(found.group(3)))

    def csv_row(self, values: dict[str, str] | RowProblem
                ) -> tuple[datetime.date, str, str, Decimal]:
        if isinstance(values, RowProblem):
            raise values
        when = day(values["date"], "date")
        base = code_of(values["currency"], "currency")
        quote = code_of(values.get("quote") or self.operating, "quote")
        return self.checked(when, base, quote, rate_of(values["rate"]))

    @staticmethod
    def checked(when: datetime.date, base: str, quote: str, rate: Decimal
                ) -> tuple[datetime.date, str, str, Decimal]:
        if base == quote:
            raise RowProblem("currency", f"expected another currency than the quote {quote}")
        return when, base, quote, rate


def rates_file(path: str | os.PathLike, operating: str = "USD") -> list[data.Price]:
    """The price entries of a rates file (for scripts and tests); its quarantine raises."""
    importer = Importer(operating)
    result = importer.run(Path(path))
    if result.quarantine:
        q = result.quarantine[0]
        raise UnreadableSource(f"{path}:{q.line}: {q.field}: {q.reason}")
    return list(result.entries)
