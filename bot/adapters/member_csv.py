"""Member files: the CSV of X accounts and card numbers that `offerbot sync import` links.

The whole file is checked to be UTF-8 before a row is used, so a file in another encoding links
nothing rather than half its rows. Rows are numbered by physical line (a quoted field may span
lines; a row is known by its first), and a row the CSV parser cannot split is a problem of that
row only. No message ever holds a field's value: it may be a card number.
"""

from __future__ import annotations

import codecs
import csv
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.errors import FileRejected

MAX_ROW_LINES = 100  # a quote still open after this many lines is taken as never closed
_CHUNK = 1 << 20
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32", "little-endian"), (b"\x00\x00\xfe\xff", "UTF-32", "big-endian"),
         (b"\xff\xfe", "UTF-16", "little-endian"), (b"\xfe\xff", "UTF-16", "big-endian"))
_SAVE_AS = "Save it as UTF-8 (in Excel: Save As > CSV UTF-8) and import it again"

Row = dict[str, str] | str  # the row's fields by column, or why the row could not be read


def read_member_file(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    """Check the whole file, then return an iterator of (line, row) for its data rows.

    Refuses the file (FileRejected) before returning when it is not UTF-8 or its header lacks
    one of ``columns``.
    """
    check_encoding(path)
    records = _records(path)
    first = next(records, None)
    if first is None:
        raise FileRejected(f"{path}: is empty; expected a header row {','.join(columns)}")
    line, fields = first
    if isinstance(fields, str):
        raise FileRejected(f"{path}:{line}: the header row {fields}")
    header = [name.strip() for name in fields]
    missing = [c for c in columns if c not in header]
    if missing:
        raise FileRejected(f"{path}:{line}: header lacks {', '.join(missing)}; expected {','.join(columns)}")
    repeated = sorted({c for c in columns if header.count(c) > 1})
    if repeated:
        raise FileRejected(f"{path}:{line}: header has {', '.join(repeated)} more than once; "
                           "keep one column of each name")
    return _rows(records, header)


def _rows(records: Iterator[tuple[int, list[str] | str]], header: list[str]) -> Iterator[tuple[int, Row]]:
    for line, fields in records:
        if isinstance(fields, str):
            yield line, fields
            continue
        yield line, {name: value.strip() for name, value in zip(header, fields, strict=False) if name}


def check_encoding(path: Path) -> None:
    """Refuse (FileRejected) a file that is not UTF-8 from end to end, saying what it looks like."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = newlines = 0
    try:
        with path.open("rb") as raw:
            head = raw.read(4)
            for bom, name, order in _BOMS:
                if head.startswith(bom):
                    raise FileRejected(f"{path}: is {name} ({order}: it starts with a {name} byte-order "
                                       f"mark), not UTF-8; nothing was linked. {_SAVE_AS}")
            raw.seek(0)
            while chunk := raw.read(_CHUNK):
                pending = decoder.getstate()[0]  # the start of a character split across chunks
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    at = offset - len(pending) + exc.start
                    line = newlines + (pending + chunk)[:exc.start].count(b"\n") + 1
                    raise FileRejected(
                        f"{path}: line {line} (byte {at}) is not UTF-8; nothing was linked. {_SAVE_AS} "
                        "(it may be Windows-1252 or Latin-1)") from exc
                nul = chunk.find(b"\0")
                if nul >= 0:
                    line = newlines + chunk[:nul].count(b"\n") + 1
                    raise FileRejected(
                        f"{path}: line {line} (byte {offset + nul}) holds a NUL byte, as UTF-16 or UTF-32 "
                        f"text without a byte-order mark does; nothing was linked. {_SAVE_AS}")
                offset += len(chunk)
                newlines += chunk.count(b"\n")
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise FileRejected(f"{path}: ends in the middle of a UTF-8 character (the file is cut "
                                   "short); nothing was linked. Send it again") from exc
    except OSError as exc:
        raise FileRejected(f"{path}: cannot read: {exc.strerror}") from exc


def _records(path: Path) -> Iterator[tuple[int, list[str] | str]]:
    """Yield (first physical line, fields) per CSV record, or (line, why) for one that cannot be read.

    Blank lines are skipped. A quote left open takes at most MAX_ROW_LINES lines: then its row is
    reported and reading goes on at the next line, so one stray quote loses one row, not the rest.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        source = enumerate(handle, start=1)
        pushed: deque[tuple[int, str]] = deque()  # lines read ahead by a record that was given up

        def next_line() -> tuple[int, str] | None:
            return pushed.popleft() if pushed else next(source, None)

        while (item := next_line()) is not None:
            number, text = item
            if '"' not in text:  # the usual row: no quotes, one line
                fields = text.rstrip("\r\n").split(",")
            else:
                parsed, taken = _quoted_record(text, next_line)
                if isinstance(parsed, str):
                    yield number, parsed
                    if parsed.startswith(_UNCLOSED):
                        pushed.extendleft(reversed(taken[1:]))
                    continue
                fields = parsed
            if any(field.strip() for field in fields):
                yield number, fields


_UNCLOSED = "has a quote that is never closed"


def _quoted_record(first: str, next_line: Callable[[], tuple[int, str] | None]
                   ) -> tuple[list[str] | str, list[tuple[int, str]]]:
    """Parse one record with csv, which takes further lines only while a quote is open.

    Returns the fields (or why they cannot be read) and the lines taken after the first.
    """
    taken: list[tuple[int, str]] = [(0, first)]

    def feed() -> Iterator[str]:
        yield first
        while len(taken) < MAX_ROW_LINES:
            more = next_line()
            if more is None:
                return
            taken.append(more)
            yield more[1]

    reader = csv.reader(feed(), strict=True)
    try:
        return next(reader, []), taken
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return (f"{_UNCLOSED} (within {MAX_ROW_LINES} lines); the row was skipped and reading "
                    "went on at the next line. Check the quotes on this row"), taken
        return f"cannot be read as CSV ({exc}); check the quotes on this row", taken
