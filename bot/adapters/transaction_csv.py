"""Reading the card system's daily file: checked whole first, then streamed row by row."""

from __future__ import annotations

import codecs
import csv
import hashlib
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import FileRejected

_CHUNK = 1 << 20
RawRow = tuple[int, "str | list[str] | Unreadable"]  # (first line, raw line or fields)
TRUNCATED = ("the last line has no line ending, so the file may be cut short here; the row was "
             "not used. Send the file again (complete files end with a line break)")
csv.field_size_limit(1 << 16)  # a field longer than 64 KiB is an error, not a memory hog


@dataclass(frozen=True)
class FileFacts:
    """What one pass over the raw bytes established."""

    path: Path
    sha256: str
    size: int
    lines: int  # physical lines, counting an unterminated last line
    ends_with_newline: bool


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A row the CSV parser could not split (bad quoting, an unclosed quote at the end)."""

    message: str


def inspect_file(path: Path) -> FileFacts:
    """Hash the file and check that all of it is UTF-8, before a single row is used.

    hashlib lets go of the GIL on large buffers, so a caller may do other work in the meantime
    (see ``inspect_in_background``).
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    size = newlines = 0
    last = b""
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(_CHUNK):
                digest.update(chunk)
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line = newlines + chunk[:exc.start].count(b"\n") + 1
                    raise FileRejected(
                        f"{path.name}: line {line} (byte {size + exc.start}) is not UTF-8; the whole file "
                        "was refused. Export it as UTF-8 (it may be Windows-1252 or Latin-1)") from exc
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise FileRejected(f"{path.name}: ends in the middle of a UTF-8 character; the file "
                                   "is cut short. Send it again") from exc
    except OSError as exc:
        raise FileRejected(f"{path}: cannot read: {exc.strerror}") from exc
    if size == 0:
        raise FileRejected(f"{path.name}: is empty; expected a header row and transactions")
    ends = last == b"\n"
    return FileFacts(path, digest.hexdigest(), size, newlines + (0 if ends else 1), ends)


def read_header(facts: FileFacts) -> list[str]:
    """Return the header row's fields, or refuse the whole file."""
    with facts.path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            return next(csv.reader(handle, strict=True))
        except (StopIteration, csv.Error) as exc:
            raise FileRejected(f"{facts.path.name}: line 1: no readable header row") from exc


def read_rows(facts: FileFacts, *, skip: int = 0) -> Generator[RawRow, None, None]:
    """Yield (first line, row) for each data row after the header.

    A row is the raw text of a line without quotes (the caller splits or matches it, which is
    much cheaper than the csv module), the fields of a quoted record (which may span lines),
    or Unreadable. ``skip`` rows are passed over (a resumed run). Files with or without a BOM,
    with LF, CRLF or CR line endings, read the same.
    """
    with facts.path.open(encoding="utf-8-sig", newline="") as handle:
        lines = iter(handle)
        _, used, _ = _quoted_record(next(lines, ""), lines)  # the header, possibly quoted
        number = used  # the header's last line
        for text in lines:
            number += 1
            start = number
            row: str | list[str] | Unreadable
            if '"' in text:
                row, used, last = _quoted_record(text, lines)
                number += used - 1
                if row and not last.endswith(("\n", "\r")):
                    row = Unreadable(TRUNCATED)
            else:
                stripped = text.rstrip("\r\n")
                # Only the very last line can lack a line ending: the file may be cut short there.
                row = Unreadable(TRUNCATED) if stripped == text and text else stripped
            if not row:  # a blank line is not a row
                continue
            if skip:
                skip -= 1  # counted exactly as the first run counted rows
                continue
            yield start, row


def _quoted_record(first: str, lines: Iterator[str]) -> tuple[list[str] | Unreadable, int, str]:
    """Parse one quoted record with csv, which takes further lines only while a quote is open.

    Returns the fields (or Unreadable), the number of lines used and the last of them.
    """
    last = [first]

    def feed() -> Iterator[str]:
        yield first
        for more in lines:
            last[0] = more
            yield more

    reader = csv.reader(feed(), strict=True)
    try:
        row: list[str] | Unreadable = next(reader)
    except csv.Error as exc:
        row = Unreadable(f"cannot be read as CSV: {exc}")
    return row, max(reader.line_num, 1), last[0]


class Inspection:
    """``inspect_file`` running in a thread; ``result`` joins it (so no thread outlives it)."""

    def __init__(self, path: Path) -> None:
        self._facts: FileFacts | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="offerbot-inspect")
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._facts = inspect_file(path)
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> FileFacts:
        """Wait for the inspection; return its facts or raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._facts is not None
        return self._facts
