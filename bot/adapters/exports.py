"""Files for people and other systems: credits export, rejects, summary. Written atomically,
readable by their owner only (0600, in 0700 folders).

They hold no card number by construction (only last 4 digits reach them); digit runs are not
masked here, as a numeric transaction id may pass the Luhn check and must arrive intact.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from bot.adapters.private_files import open_private, private_folder

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
# A plain signed amount such as -5.00 is a number, not a formula; a clawback must stay numeric.
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")

CREDIT_COLUMNS = ("credit_id", "transaction_id", "campaign_id", "amount", "currency", "last4", "kind",
                  "reverses_credit_id")
CREDIT_OUTSIDE = ("transaction_id",)  # the rest: our ids, checked codes and numbers
REJECT_COLUMNS = ("line", "column", "transaction_id", "reason")
REJECT_OUTSIDE = ("transaction_id", "reason")  # the id as written in the file; reasons quote values


def neutralise(cell: str) -> str:
    """Make a cell inert in spreadsheets (OWASP CSV injection): prefix a ' to formula starts."""
    if cell.startswith(_FORMULA_START) and _NUMBER_RE.fullmatch(cell) is None:
        return "'" + cell
    return cell


@contextmanager
def _atomic(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a temporary file that replaces ``path`` (fsynced) only if the block succeeds."""
    private_folder(path.parent)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open_private(temp, newline=newline) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)  # the earlier file, if any, stays as it was
        raise
    os.replace(temp, path)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a CSV atomically (temp file, fsync, rename) with every cell neutralised."""
    count = 0
    with _atomic(path, newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise("" if v is None else str(v)) for v in row])
            count += 1
    return count


class CsvAppender:
    """A CSV written a batch at a time into a temporary file, put in place by ``finish``.

    ``outside`` names the columns whose text came from outside (an input file): those cells are
    neutralised. The others are built by the bot from checked values (ids, codes, numbers) and
    cannot start with a formula character, so checking them would only cost time.
    """

    def __init__(self, path: Path, columns: Sequence[str], outside: Sequence[str]) -> None:
        private_folder(path.parent)
        self._path, self._temp = path, path.with_name(f".{path.name}.partial")
        self._file = open_private(self._temp, newline="")
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        self._writer.writerow(columns)
        self._outside = [columns.index(name) for name in outside]

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write rows, the outside text in them neutralised."""
        outside = self._outside
        cleaned = []
        for row in rows:
            cells = list(row)
            for index in outside:
                value = cells[index]
                if value and value.startswith(_FORMULA_START):
                    cells[index] = neutralise(value)
            cleaned.append(cells)
        self._writer.writerows(cleaned)

    def finish(self) -> None:
        """Flush to disk and rename into place."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp, self._path)

    def abandon(self) -> None:
        """Drop the partial file (the export is rebuilt from the ledger instead)."""
        self._file.close()  # closing twice is harmless: finish() may have closed it already
        self._temp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    with _atomic(path) as out:
        out.write(text)


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
