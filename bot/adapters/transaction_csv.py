"""Reading the card system's daily file: checked whole first, then streamed row by row.

Nothing here holds more than one row and a block of text, however the file is shaped: the text is
read a block at a time, lines are taken from it at most ``max_line_bytes`` at a time, and a longer
row is skipped (its line breaks still counted) and reported, never kept. Runs of plain whole lines
(no quote; all LF-, all CRLF- or all CR-ended) are handed over whole, to be matched in one go.
Over 300 lines on purpose: the file's one reader, from its bytes (encoding, line ends, hash) to
its rows, so that no other code parses a transaction file.
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
# Characters of text read at a time: enough lines per run that a run's cost is its lines', and
# little enough that reading stays within a few hundred KiB whatever the file holds.
_BLOCK = 1 << 15
_LOW = 1 << 12  # read the next block when less than this is left, so runs stay long
_UNEVEN_ENDING = re.compile(r"\r(?!\n)|(?<!\r)\n").search  # a line end that is not a CRLF
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


@dataclass(frozen=True, slots=True)
class Lines:
    """Consecutive whole lines of the file, none holding a quote, all ended alike (LF, CRLF or CR).

    ``text`` is the lines joined by LFs, without the LF after the last one; in the file each line
    ends with ``ending`` bytes (1 for a LF or a CR, 2 for a CRLF). Some may be blank or too long:
    ``plain_row`` says what each is.
    """

    text: str
    ending: int = 1


Stretch = tuple[int, "str | list[str] | Unreadable | Lines"]  # (first line, one row or a run of lines)


def read_rows(facts: FileFacts, *, skip: int = 0) -> Generator[RawRow, None, None]:
    """Yield (first line, row) for each data row after the header.

    A row is the raw text of a line without quotes (the caller splits or matches it, which is
    much cheaper than the csv module), the fields of a quoted record (which may span lines),
    or Unreadable (bad quoting, cut short, longer than the limit). ``skip`` rows are passed over
    (a resumed run). Files with or without a BOM, with LF, CRLF or CR line endings, read the same.
    """
    limits = facts.limits
    for start, row in read_stretches(facts, skip=skip):
        if isinstance(row, Lines):
            for number, text in enumerate(row.text.split("\n"), start):
                plain = plain_row(text, limits, row.ending)
                if plain is not None:
                    yield number, plain
        else:
            yield start, row


def read_stretches(facts: FileFacts, *, skip: int = 0) -> Generator[Stretch, None, None]:
    """Yield what ``read_rows`` yields, but runs of plain lines as Lines (first line, run), in
    file order; a run's line numbers follow one another. Once ``skip`` rows are passed over."""
    limits = facts.limits
    limit = limits.max_line_bytes
    cap, quick = limit + 1, limit // 4  # a line of `quick` characters cannot pass `limit` bytes
    with _open(facts) as handle:
        text = _Text(handle.read)
        read = text.readline
        records = _Records(read, limit)
        header = records.next()
        number = max(header.lines, 1) if header else 1  # the header's last line
        while True:
            piece = records.pending()
            if not piece:
                lines = text.lines()
                if lines is not None:
                    if skip:  # a resumed run: the run's rows one by one, until skip is spent
                        for offset, line in enumerate(lines.text.split("\n"), number + 1):
                            plain = plain_row(line, limits, lines.ending)
                            if plain is None:
                                continue
                            if skip:
                                skip -= 1
                                continue
                            yield offset, plain
                    else:
                        yield number + 1, lines
                    number += lines.text.count("\n") + 1
                    continue
                piece = read(cap)
                if not piece:
                    return
            number += 1
            start = number
            row: str | list[str] | Unreadable
            # The usual line: no quote, its line ending read, short enough to be sure of its size.
            if '"' not in piece and piece.endswith(LINE_ENDINGS) and (
                    len(piece) <= quick or _size(piece) <= limit):
                row = piece.rstrip("\r\n")
                if not row:  # a blank line is not a row
                    continue
            else:
                record = records.rest(piece)
                number += record.lines - 1
                row = record.row(limits)
            if skip:
                skip -= 1  # counted exactly as the first run counted rows
                continue
            yield start, row


def plain_row(line: str, limits: ReadLimits, ending: int = 1) -> str | Unreadable | None:
    """Return one line of a Lines run as read_rows yields it: None for a blank line (not a row)."""
    if not line:
        return None
    # Its line end counts towards the limit: the same test read_rows makes of a line read alone.
    if len(line) + ending <= limits.max_line_bytes // 4 or _size(line) + ending <= limits.max_line_bytes:
        return line
    return Unreadable(limits.too_long())


class _Text:
    """The file's text a block at a time, taken a line at a time or a run of plain lines at once.

    ``readline(size)`` gives what the text file's own readline(size) gives with newline="" (a line
    ends at LF, CR or CRLF; a longer one comes ``size`` characters at a time), so that a file reads
    the same whether its lines are taken one by one or by runs. Positions found in the block are
    remembered, so no stretch of it is searched twice for the same character.
    """

    def __init__(self, read: Callable[[int], str]) -> None:
        self._read = read
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._last_lf = -1  # where the block's last LF is
        self._quote = self._cr = -1  # no quote (CR) from where it was looked for up to here
        self._uneven = -1  # no line end but CRLF from where it was looked for up to here

    def _fill(self) -> bool:
        """Read the next block on to what is left; return False at the end of the file."""
        if self._eof:
            return False
        more = self._read(_BLOCK)
        if not more:
            self._eof = True
            return False
        self._buf = self._buf[self._pos:] + more
        self._pos = 0
        self._last_lf = self._buf.rfind("\n")
        self._quote = self._cr = self._uneven = -1
        return True

    def readline(self, size: int) -> str:
        """Return the next line with its line ending, or its next ``size`` characters ("" at the end)."""
        while True:
            buf, pos = self._buf, self._pos
            window = min(len(buf), pos + size)
            lf = buf.find("\n", pos, window)
            cr = buf.find("\r", pos, window if lf < 0 else lf)
            if cr >= 0:
                if cr + 1 == len(buf) and self._fill():
                    continue  # a CR ends the block: the LF of a CRLF may come next
                end = cr + 2 if buf.startswith("\n", cr + 1) else cr + 1
            elif lf >= 0:
                end = lf + 1
            elif window - pos < size and self._fill():
                continue  # no line ending yet, and the line may go on in the next block
            else:
                end = window
            end = min(end, pos + size)
            self._pos = end
            return buf[pos:end]

    def lines(self) -> Lines | None:
        """Return the run of plain whole lines from here, or None if the next line is not one."""
        if len(self._buf) - self._pos < _LOW:
            self._fill()
        buf, pos, end = self._buf, self._pos, self._last_lf
        if end < pos:  # no LF ahead: the lines at hand can only end with a CR
            return self._cr_lines()
        if self._quote < pos:
            found = buf.find('"', pos, end)
            self._quote = end if found < 0 else found
        stop = min(end, self._quote)
        if self._cr < pos:
            found = buf.find("\r", pos, stop)
            self._cr = stop if found < 0 else found
        if self._cr < stop and buf.startswith("\r\n", self._cr) and buf.find("\n", pos, self._cr) < 0:
            return self._crlf_lines(stop)  # the first line ends with a CRLF: a run of CRLF lines
        stop = min(stop, self._cr)
        if stop < end:  # a quote or a CR: the run ends with the line before the one holding it
            stop = buf.rfind("\n", pos, stop)
            if stop < pos:
                return None
        self._pos = stop + 1
        return Lines(buf[pos:stop])

    def _cr_lines(self) -> Lines | None:
        """Return the run of whole CR-ended lines from here (no LF is left in the block), with LFs
        for line ends; None if the first line holds a quote or is not whole."""
        buf, pos = self._buf, self._pos
        # A CR that ends the block may be the first half of a CRLF, unless the file ends there.
        last = buf.rfind("\r", pos, len(buf) if self._eof else len(buf) - 1)
        if last < pos:
            return None
        if self._quote < pos:
            found = buf.find('"', pos, last)
            self._quote = last if found < 0 else found
        stop = last
        if self._quote < last:  # a quote: the run ends with the line before the one holding it
            stop = buf.rfind("\r", pos, self._quote)
            if stop < pos:
                return None
        self._pos = stop + 1
        return Lines(buf[pos:stop].replace("\r", "\n"))

    def _crlf_lines(self, stop: int) -> Lines | None:
        """Return the run of whole CRLF lines from here that ends before ``stop`` (a quote, or the
        block's last LF), with LFs for line ends; None if the first line is not one."""
        buf, pos = self._buf, self._pos
        if self._uneven < pos:
            lfs = buf.count("\n", pos, stop + 1)
            if buf.count("\r", pos, stop + 1) == lfs == buf.count("\r\n", pos, stop + 1):
                self._uneven = stop + 1  # the usual file: three counts instead of a slower search
            else:
                found = _UNEVEN_ENDING(buf, pos, stop + 1)
                self._uneven = stop + 1 if found is None else found.start()
        cut = buf.rfind("\n", pos, min(self._uneven, stop + 1))
        if cut < pos:
            return None
        self._pos = cut + 1
        return Lines(buf[pos:cut - 1].replace("\r\n", "\n"), 2)


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
