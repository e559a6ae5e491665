"""Files and folders the bot makes are its owner's alone: files 0600, folders 0700, whatever the umask.

The process umask (0o077, set by the command line) already says so; these say it again at each
call, so a library caller or an inherited umask cannot loosen them. A file or folder that
already exists is tightened only when it belongs to this user (another's is left as it is).
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
FOLDER_MODE = 0o700
UMASK = 0o077


def private_folder(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and any missing parents as 0700 folders; tighten it if it is ours.

    ``tighten=False`` leaves an existing folder as it is (one the bot does not own, such as the
    folder an operator put the database file in).
    """
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        with suppress(FileExistsError):  # made meanwhile by another process
            created.mkdir(mode=FOLDER_MODE)
        _tighten(created, FOLDER_MODE)
    if not missing and tighten:
        _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> None:
    """Make an existing file readable by its owner only, if it is ours."""
    _tighten(path, FILE_MODE)


def create_private(path: Path, *, exclusive: bool = False) -> int:
    """Open ``path`` for writing (created 0600, emptied) and return the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode applies only to a file it creates
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: Path, *, encoding: str = "utf-8", newline: str | None = None) -> IO[str]:
    """Open ``path`` as a text file for writing, created 0600 (and made 0600 if it existed)."""
    return os.fdopen(create_private(path), "w", encoding=encoding, newline=newline)


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(mode)
