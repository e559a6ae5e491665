"""Reading the card system's daily file: checked whole first, then streamed row by row.

Nothing here holds more than one row, however the file is shaped: lines are read at most
``max_line_bytes`` at a time, and a longer row is skipped (its line breaks still counted) and
reported, never kept. Over 300 lines on purpose: the file's one reader, from its bytes (encoding,
line ends, hash) to its rows, so that no other code parses a transaction file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TextIO

from bot.errors import FileRejected

_CHUNK = 1 << 20
RawRow = tuple[int, "str | list[str] | Unreadable"]  # (first line, raw line or fields)
TRUNCATED = ("the last line has no line ending, so the file may be cut short here; the row was "
             "not used. Send the file again (complete files end with a line break)")
LINE_ENDINGS = ("\n", "\r")
# Byte order marks of encodings that are not UTF-8 (UTF-32's first: FF FE 00 00 starts like UTF-16's).
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


@dataclass(frozen=True)
class ReadLimits:
    """How much of a file one row and the header may take: [reconcile] max_line_bytes, max_columns."""

    max_line_bytes: int = 8192  # one row as it stands in the file, quoted line breaks included
    max_columns: int = 100  # columns in the header

    def too_long(self) -> str:
        """Return the reason a row over the limit is rejected with."""
        return (f"the row is longer than {self.max_line_bytes:,} bytes ([reconcile] max_line_bytes), "
                "so it was not read; check how the file was exported, or raise the limit")


@dataclass(frozen=True)
class FileFacts:
    """What one pass over the raw bytes established, and the limits the file is read within."""

    path: Path
    sha256: str
    size: int
    lines: int  # physical lines, counting an unterminated last line
    ends_with_newline: bool
    limits: ReadLimits = field(default_factory=ReadLimits)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A row the CSV parser could not split (bad quoting, an unclosed quote at the end), or too long."""

    message: str


def inspect_file(path: Path, limits: ReadLimits | None = None) -> FileFacts:
    """Hash the file and check that all of it is UTF-8, before a single row is used.

    hashlib lets go of the GIL on large buffers, so a caller may do other work in the meantime
    (see ``Inspection``).
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    size = newlines = 0
    last = b""
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(_CHUNK):
                if not size:
                    _refuse_wide_encoding(path, chunk)
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
    return FileFacts(path, digest.hexdigest(), size, newlines + (0 if ends else 1), ends,
                     limits or ReadLimits())


def _refuse_wide_encoding(path: Path, head: bytes) -> None:
    """Refuse a UTF-16 or UTF-32 file by its byte order mark, or by the NUL bytes between its
    characters (ASCII text in UTF-16 is every other byte zero; in UTF-32, three bytes in four)."""
    found = next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)
    how = "it starts with a byte order mark"
    if found is None:
        sample = head[:4096]
        zeros = sample.count(0)
        if zeros * 5 >= len(sample) * 3:
            found = "UTF-32"
        elif zeros * 5 >= len(sample):
            found = "UTF-16"
        how = "zero bytes between its characters"
    if found is not None:
        raise FileRejected(f"{path.name}: line 1: is {found} ({how}), not UTF-8; the whole file was "
                           "refused. Export it as UTF-8")


def read_header(facts: FileFacts) -> list[str]:
    """Return the header row's fields, or refuse the whole file (unreadable, too long, too wide)."""
    limits = facts.limits
    with _open(facts) as handle:
        reader = _Records(handle.readline, limits.max_line_bytes)
        record = reader.next()
    if record is None or (not record.pieces and not record.too_long):
        raise FileRejected(f"{facts.path.name}: line 1: no readable header row")
    if record.too_long:
        raise FileRejected(
            f"{facts.path.name}: line 1: the header is longer than {limits.max_line_bytes:,} bytes "
            "([reconcile] max_line_bytes); the whole file was refused. Export only the columns "
            f"needed (at most {limits.max_columns:,}), or raise the limit")
    try:
        fields = next(csv.reader(record.pieces, strict=True))
    except (StopIteration, csv.Error) as exc:
        raise FileRejected(f"{facts.path.name}: line 1: no readable header row") from exc
    if len(fields) > limits.max_columns:
        raise FileRejected(
            f"{facts.path.name}: line 1: the header has {len(fields):,} columns, more than "
            f"{limits.max_columns:,} ([reconcile] max_columns); the whole file was refused. Export "
            "only the columns needed, or raise the limit")
    return fields


def read_rows(facts: FileFacts, *, skip: int = 0) -> Generator[RawRow, None, None]:
    """Yield (first line, row) for each data row after the header.

    A row is the raw text of a line without quotes (the caller splits or matches it, which is
    much cheaper than the csv module), the fields of a quoted record (which may span lines),
    or Unreadable (bad quoting, cut short, longer than the limit). ``skip`` rows are passed over
    (a resumed run). Files with or without a BOM, with LF, CRLF or CR line endings, read the same.
    """
    limit = facts.limits.max_line_bytes
    cap, quick = limit + 1, limit // 4  # a line of `quick` characters cannot pass `limit` bytes
    with _open(facts) as handle:
        read = handle.readline
        records = _Records(read, limit)
        header = records.next()
        number = max(header.lines, 1) if header else 1  # the header's last line
        while text := records.pending() or read(cap):
            number += 1
            start = number
            row: str | list[str] | Unreadable
            # The usual line: no quote, its line ending read, short enough to be sure of its size.
            if '"' not in text and text.endswith(LINE_ENDINGS) and (
                    len(text) <= quick or _size(text) <= limit):
                row = text.rstrip("\r\n")
                if not row:  # a blank line is not a row
                    continue
            else:
                record = records.rest(text)
                number += record.lines - 1
                row = record.row(facts.limits)
            if skip:
                skip -= 1  # counted exactly as the first run counted rows
                continue
            yield start, row


def _open(facts: FileFacts) -> TextIO:
    """Open the file as text, as csv wants it, with csv's field limit set from the row limit."""
    csv.field_size_limit(facts.limits.max_line_bytes)  # a field is never longer than its row
    return facts.path.open(encoding="utf-8-sig", newline="")


def _size(text: str) -> int:
    """Return the UTF-8 size of ``text`` in bytes."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class _Record(NamedTuple):
    """One record's extent: its physical lines, and its text unless it was too long to keep."""

    lines: int
    pieces: list[str]  # the record's lines as read (empty when too long)
    too_long: bool

    def row(self, limits: ReadLimits) -> str | list[str] | Unreadable:
        """Return the record as read_rows yields it."""
        if self.too_long:
            return Unreadable(limits.too_long())
        if not self.pieces[-1].endswith(LINE_ENDINGS):
            return Unreadable(TRUNCATED)  # only the very last line can lack a line ending
        if len(self.pieces) == 1 and '"' not in self.pieces[0]:
            return self.pieces[0].rstrip("\r\n")
        reader = csv.reader(self.pieces, strict=True)
        try:
            fields = next(reader)
        except csv.Error as exc:
            return Unreadable(f"cannot be read as CSV: {exc}")
        if reader.line_num != len(self.pieces):  # cannot happen while CsvQuotes follows csv
            return Unreadable("cannot be read as CSV: a quoted field does not end where expected")
        return fields


class _Records:
    """Records read a bounded piece at a time: at most ``limit`` bytes of one is ever kept.

    ``readline(limit + 1)`` returns a whole line, or the first ``limit + 1`` characters of a
    longer one (more characters than ``limit`` bytes can hold). A quote may carry a record over
    several lines; ``CsvQuotes`` follows csv's rules to find where it ends without keeping it.
    """

    def __init__(self, readline: Callable[[int], str], limit: int) -> None:
        self._read, self._limit, self._cap = readline, limit, limit + 1
        self._pending = ""  # a piece read ahead to see whether it was the LF of a cut CRLF

    def pending(self) -> str:
        """Return (and forget) a piece read ahead and not yet used."""
        text, self._pending = self._pending, ""
        return text

    def next(self) -> _Record | None:
        """Return the next record, or None at the end of the file."""
        text = self.pending() or self._read(self._cap)
        return self.rest(text) if text else None

    def rest(self, first: str) -> _Record:
        """Read the record that begins with the piece ``first``."""
        read, cap, limit = self._read, self._cap, self._limit
        quotes = CsvQuotes()
        pieces: list[str] | None = [first]
        size = _size(first)
        lines = 0
        last = text = first
        while True:
            ended = quotes.feed(text)
            last = text
            if text.endswith(LINE_ENDINGS):
                lines += 1
            elif len(text) < cap:  # a short piece without a line ending: the end of the file
                break
            if ended:
                break
            text = read(cap)
            if text == "\n" and len(last) == cap and last.endswith("\r"):
                text = read(cap)  # the LF of a CRLF the limit cut in two
            if not text:
                break
            if pieces is not None:
                size += _size(text)
                if size > limit:
                    pieces = None  # from here on only followed, never kept
                else:
                    pieces.append(text)
        if not last.endswith(LINE_ENDINGS):
            lines += 1  # the file's last line, without a line ending
        if size > limit:
            pieces = None
        if len(last) == cap and last.endswith("\r"):
            # The record ended on a CR the limit cut off; a LF right after it belongs to it.
            after = read(cap)
            self._pending = "" if after == "\n" else after
        return _Record(lines, pieces or [], pieces is None)


_START, _FIELD, _QUOTED, _QUOTE, _BROKEN = range(5)
# Fields that are surely whole where they stand: a quoted one closed and followed by its comma,
# or one without any quote followed by its comma. csv reads each of these so, and the comma
# after it leaves the next field at its start. Possessive: a regular expression that could
# backtrack would keep a note per field matched, memory growing with the line.
_WHOLE_FIELDS = re.compile(r'(?:"(?:[^"]|"")*+",|[^,"]*+,)++').match


class CsvQuotes:
    """Where csv (default dialect, strict) stands within a record, fed a piece at a time.

    Enough of csv's rules to tell where a record ends without keeping it: a quote opens a
    quoted field only at the start of a field; inside one, "" is a quote and a line break is
    part of the field; after its closing quote only a comma or the line's end may follow (csv
    raises there otherwise, and the record ends with that line).
    """

    __slots__ = ("state",)

    def __init__(self, *, quoted: bool = False, in_field: bool = False) -> None:
        """Start at a record's start, or inside a quoted field, or inside an unquoted one."""
        self.state = _QUOTED if quoted else _FIELD if in_field else _START

    def feed(self, text: str) -> bool:
        """Follow ``text`` (a line, or a piece of one); return True if the record ends with it."""
        body = text.rstrip("\r\n")
        state, i, n = self.state, 0, len(body)
        while i < n:
            if state == _QUOTED:
                j = body.find('"', i)
                if j < 0:
                    break
                state, i = _QUOTE, j + 1
            elif state == _QUOTE:
                char = body[i]
                if char == '"':
                    state, i = _QUOTED, i + 1
                elif char == ",":
                    state, i = _START, i + 1
                else:
                    state = _BROKEN
                    break
            elif state == _START:
                whole = _WHOLE_FIELDS(body, i)
                if whole is not None:  # complete fields, each followed by its comma, in one step
                    i = whole.end()
                elif body[i] == '"':
                    state, i = _QUOTED, i + 1
                else:
                    state = _FIELD
            elif state == _FIELD:
                j = body.find(',"', i)
                if j < 0:
                    state = _START if body.endswith(",") else _FIELD
                    break
                state, i = _QUOTED, j + 2
            else:  # _BROKEN: nothing more matters on this line
                break
        if len(body) != len(text) and state != _QUOTED:
            self.state = _START
            return True
        self.state = state
        return False


class Inspection:
    """``inspect_file`` running in a thread; ``result`` joins it (so no thread outlives it)."""

    def __init__(self, path: Path, limits: ReadLimits | None = None) -> None:
        self._facts: FileFacts | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, limits), name="offerbot-inspect")
        self._thread.start()

    def _run(self, path: Path, limits: ReadLimits | None) -> None:
        try:
            self._facts = inspect_file(path, limits)
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> FileFacts:
        """Wait for the inspection; return its facts or raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._facts is not None
        return self._facts
