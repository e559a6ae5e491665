"""What the inbox keeps of a transaction file: a redacted copy, with no card number left in it.

The copy is the file byte for byte but for digits: the card_number column keeps its last four
(``***********0005``), and so does every other run of 13 or more digits anywhere in a line
(spaces, dashes or NUL bytes between them, so a UTF-16 file is covered too). A line longer than
``max_line_bytes`` has every digit masked, and so has the rest of its record (a quoted field may
carry it over further lines): no run can hide across the pieces such a line is read in.
The file is read as Latin-1, which maps each byte to one character and back, so any encoding
is copied faithfully and one pass, a line at a time, does it: time linear, memory flat.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bot.adapters.private_files import open_private, private_folder
from bot.adapters.transaction_csv import CsvQuotes
from bot.domain.cards import keep_last4, mask_long_digit_runs

_BOM = "\xef\xbb\xbf"  # UTF-8's byte order mark, as Latin-1 reads it
_LINE_ENDINGS = ("\n", "\r")
_ALL_DIGITS = str.maketrans("0123456789", "*" * 10)
_CARD_COLUMN = "card_number"
_RUN = 13  # digits in the shortest run that is masked: a shorter field cannot hold one


def write_redacted_copy(source: Path, target: Path, *, max_line_bytes: int) -> None:
    """Write ``target`` (0600, atomically) as ``source`` with every card number cut to its last 4."""
    private_folder(target.parent)
    temp = target.with_name(f".{target.name}.partial")
    cap = max_line_bytes + 1
    try:
        with source.open(encoding="latin-1", newline="") as lines, \
                open_private(temp, encoding="latin-1", newline="") as out:
            read, write = lines.readline, out.write
            cursor: _Cursor | None = None  # made from the header, the first line
            long_line = False  # this piece continues a line longer than the limit
            # Following a record that has a line over the limit: its lines are masked whole.
            skipping: CsvQuotes | None = None
            while text := read(cap):
                ends = text.endswith(_LINE_ENDINGS)
                if cursor is None:
                    cursor = _Cursor(_card_column(text) if ends or len(text) < cap else None)
                if long_line or skipping is not None or (not ends and len(text) == cap):
                    if skipping is None:
                        skipping = CsvQuotes(quoted=cursor.quoted, in_field=not cursor.fresh)
                    write(text.translate(_ALL_DIGITS))
                    long_line = not ends
                    if skipping.feed(text):  # the record ends here: the next line starts one
                        skipping = None
                        cursor.restart()
                    continue
                write(cursor.walk(text, ends))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, target)


def _card_column(header: str) -> int | None:
    """Return the position of the card_number column in a header line, if it has one."""
    names = [name.strip().strip('"').strip().lower() for name in header.rstrip("\r\n").split(",")]
    if names:
        names[0] = names[0].removeprefix(_BOM).strip().strip('"').strip()
    return names.index(_CARD_COLUMN) if _CARD_COLUMN in names else None


class _Cursor:
    """Which field of a record a line is in, across lines (a quoted field may span them).

    ``walk`` returns the line redacted: the card column's digits but the last four masked, and
    every other run of 13 or more digits too. With no card column (``card`` None: no header
    naming one) only the digit runs are masked.
    """

    __slots__ = ("card", "field", "fresh", "quoted", "shown")

    def __init__(self, card: int | None) -> None:
        self.card = card
        self.field = 0  # the field the next character belongs to
        self.fresh = True  # the next character starts that field
        self.quoted = False  # inside a quoted field
        self.shown = False  # the card field has shown its last four digits already

    def walk(self, text: str, ends: bool) -> str:
        """Follow ``text`` (a line, or a piece of a longer one); return it redacted: the card
        column cut to its last four digits, and so every other run of 13 or more digits."""
        card = self.card
        if card is None:
            return mask_long_digit_runs(text)
        body = text.rstrip("\r\n") if ends else text
        if not self.quoted and self.field == 0 and self.fresh and ends and '"' not in body:
            fields = body.split(",")  # the usual line: one unquoted record
            for index, value in enumerate(fields):
                # A run never spans a comma, and most fields are too short to hold one: the
                # regular expression runs only where it could find something.
                if index == card:
                    fields[index] = keep_last4(value)
                elif len(value) >= _RUN:
                    fields[index] = mask_long_digit_runs(value)
            return ",".join(fields) + text[len(body):]
        return mask_long_digit_runs(self.walk_slowly(text, ends))

    def walk_slowly(self, text: str, ends: bool) -> str:
        """Mask the card column field by field: for quotes, and lines that go on from or to
        another (digit runs elsewhere are left to the caller)."""
        card = self.card
        assert card is not None
        body = text.rstrip("\r\n") if ends else text
        out: list[str] = []
        i, n = 0, len(body)
        while i < n:
            if self.quoted:
                end = _closing_quote(body, i)
                stop = n if end is None else end + 1
                self.quoted = end is None
            elif self.fresh and body[i] == '"':
                self.fresh, self.quoted = False, True
                out.append('"')
                i += 1
                continue
            else:
                comma = body.find(",", i)
                stop = n if comma < 0 else comma
            self.fresh = False
            out.append(self._mask(body[i:stop]) if self.field == card else body[i:stop])
            i = stop
            if not self.quoted and i < n and body[i] == ",":
                out.append(",")
                i += 1
                self.field, self.fresh, self.shown = self.field + 1, True, False
        if ends and not self.quoted:  # the record ends with this line
            self.field, self.fresh, self.shown = 0, True, False
        return "".join(out) + text[len(body):]

    def restart(self) -> None:
        """Stand at the start of a record."""
        self.field, self.fresh, self.quoted, self.shown = 0, True, False, False

    def _mask(self, piece: str) -> str:
        """Mask the card field's digits: the first piece keeps its last four, later ones none."""
        if self.shown:
            return piece.translate(_ALL_DIGITS)
        self.shown = True
        return keep_last4(piece)


_QUOTE_RE = re.compile(r'"(?!")|""')


def _closing_quote(body: str, start: int) -> int | None:
    """Return where the quoted field open at ``start`` closes in ``body`` (None: it goes on)."""
    for match in _QUOTE_RE.finditer(body, start):
        if match.group() == '"':
            return match.start()
    return None
