"""A multipart upload streamed to a hidden file in the inbox: never whole in memory, size-capped."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

_SMALL_FIELD = 4096  # bytes: the CSRF token and any other plain field


class UploadRefused(Exception):
    """The upload is refused before its file reaches the inbox."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class StreamedFile:
    """Where the uploaded file was written, under which name it came, and its size."""

    path: Path
    name: str
    size: int


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    value: bytearray = field(default_factory=bytearray)


class _Receiver:
    """Feeds python-multipart's streaming parser and writes the file part as it arrives.

    The CSRF token must come before the file (the form puts it first), so no byte of a forged
    upload is written.
    """

    def __init__(self, folder: Path, limit: int, check_token: Callable[[str | None], bool],
                 file_field: str) -> None:
        self._folder, self._limit, self._check, self._file_field = folder, limit, check_token, file_field
        self._part = _Part()
        self._header = b""
        self.token_ok = False
        self._fd: int | None = None
        self.file: StreamedFile | None = None
        self.fields: dict[str, str] = {}

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        key = self._header.lower()
        self._part.headers[key] = self._part.headers.get(key, b"") + data[start:end]

    def _header_end(self) -> None:
        self._header = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition"))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._part.filename = None if filename is None else filename.decode("utf-8", "replace")
        if self._part.name == self._file_field and self._part.filename is not None:
            if not self.token_ok:
                raise UploadRefused(403, "the form's security token is missing or out of date; "
                                         "reload the page and try again")
            if self.file is not None:
                raise UploadRefused(400, "send one file at a time")
            path = self._folder / f".upload-{secrets.token_hex(8)}.csv"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self.file = StreamedFile(path, self._part.filename, 0)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._fd is not None and self.file is not None:
            self.file.size += end - start
            if self.file.size > self._limit:
                raise UploadRefused(413, f"the file is larger than the limit of {self._limit:,} bytes "
                                         "([portal] max_upload_bytes); nothing was kept")
            os.write(self._fd, data[start:end])
        elif len(self._part.value) + end - start > _SMALL_FIELD:
            raise UploadRefused(400, f"the form field {self._part.name!r} is too long")
        else:
            self._part.value += data[start:end]

    def _end(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            return
        value = self._part.value.decode("utf-8", "replace")
        self.fields[self._part.name] = value
        if self._part.name == "csrf":
            self.token_ok = self._check(value)

    def abandon(self) -> None:
        """Close and delete a partly written file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)
            self.file = None


async def stream_upload(chunks: AsyncIterator[bytes], content_type: str | None, folder: Path, limit: int,
                        check_token: Callable[[str | None], bool],
                        file_field: str = "file") -> tuple[StreamedFile, dict[str, str]]:
    """Write the form's file to a hidden 0600 file in ``folder``; raise UploadRefused on any problem."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "send the file with the form on the upload page (multipart/form-data)")
    folder.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(folder, limit, check_token, file_field)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except UploadRefused:
        receiver.abandon()
        raise
    except Exception as exc:  # the parser's own errors: a broken or cut-off request
        receiver.abandon()
        raise UploadRefused(400, f"the upload arrived incomplete or malformed ({exc}); try again") from exc
    if receiver.file is None:
        if not receiver.token_ok:
            raise UploadRefused(403, "the form's security token is missing; reload the page and try again")
        raise UploadRefused(400, "choose a transaction file (.csv) to upload")
    return receiver.file, receiver.fields
