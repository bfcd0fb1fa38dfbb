"""Receiving a job: a slot reserved before the body is read, the multipart body streamed once into
the job's folder under the size limit, form fields checked, a server-side ``video_path`` opened
without following links.

Nothing here trusts the client: part names select fixed file names (``input/video``,
``input/tracks``, ``input/masks.upload``), the client's file name is kept for display only, the
byte limit is enforced on the bytes as they arrive (not only on ``Content-Length``), and a
``video_path`` is walked one component at a time with ``O_NOFOLLOW`` from the ``--allow-root``
folder, then hard-linked (or copied) into the job folder at submission, so replacing the file
afterwards changes nothing.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from sammask.service.store import JobState, JobStore

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a TypedDict the package defines for type checkers only

FILE_PARTS = {"video": "video", "tracks": "tracks", "masks": "masks.upload"}
"""Multipart file part -> the fixed name it is stored under in ``input/`` (a masks upload is renamed
to its format's name once checked: :func:`sammask.service.masks_upload.check_masks_upload`)."""
FIELD_PARTS = ("video_path", "settings")
MAX_FIELD_BYTES = 64 * 1024
"""Largest text field (``settings``, ``video_path``), bytes."""
FLUSH_BYTES = 1 << 20
"""Body bytes handed to the parser (and the disk) at once, off the event loop."""


class RequestRefused(Exception):
    """A request the service answers with ``status`` and ``detail`` (turned into an HTTP error).

    Args:
        status: HTTP status code.
        detail: one line saying what was wrong and what to do.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(slots=True)
class ReceivedForm:
    """A multipart body received into a folder.

    Attributes:
        files: part name (``video``, ``tracks``, ``masks``) -> stored path.
        sizes: part name -> bytes received.
        filenames: part name -> the client's file name (display only).
        fields: text fields (``video_path``, ``settings``), checked UTF-8 without control characters.
    """

    files: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


def check_text(name: str, value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or :class:`RequestRefused` (422 naming ``name``) for NUL and other control characters.

    Args:
        name: the field's name, for the message.
        value: the text.
        multiline: allow tab, CR and LF (JSON text).
    """
    allowed = "\t\r\n" if multiline else ""
    for ch in value:
        if (ord(ch) < 32 and ch not in allowed) or ord(ch) == 127:
            what = "a NUL byte" if ch == "\0" else f"the control character U+{ord(ch):04X}"
            raise RequestRefused(422, f"{name}: contains {what}; send printable text")
    return value


class _FormSink:
    """Callbacks of :class:`MultipartParser` writing each part to its fixed place."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.form = ReceivedForm()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._out: IO[bytes] | None = None
        self._text: bytearray | None = None
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self._headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name in self.form.files or name in self.form.fields:
            raise RequestRefused(422, f"{name}: sent twice; send each form part once")
        self._name = name
        if name in FILE_PARTS:
            if b"filename" not in options:
                raise RequestRefused(422, f"{name}: must be a file part (multipart with a filename)")
            path = self.dest / FILE_PARTS[name]
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            self._out = os.fdopen(fd, "wb")
            self.form.files[name] = path
            self.form.sizes[name] = 0
            self.form.filenames[name] = options[b"filename"].decode("utf-8", "replace")
        elif name in FIELD_PARTS:
            self._text = bytearray()
        else:
            known = ", ".join([*FILE_PARTS, *FIELD_PARTS])
            raise RequestRefused(422, f"unknown form part '{check_text('part name', name)[:80]}'; the parts are {known}")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._out.write(data[start:end])
            self.form.sizes[self._name or ""] += end - start
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise RequestRefused(422, f"{self._name}: longer than {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None
        elif self._text is not None and self._name is not None:
            try:
                text = bytes(self._text).decode("utf-8")
            except UnicodeDecodeError:
                raise RequestRefused(422, f"{self._name}: not UTF-8 text") from None
            self.form.fields[self._name] = check_text(self._name, text, multiline=self._name == "settings")
            self._text = None

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive_form(request: Request, dest: Path, limit: int) -> ReceivedForm:
    """Stream a ``multipart/form-data`` body into ``dest`` (each file part written once, fsynced).

    Args:
        request: the ASGI request (its body not read yet).
        dest: an existing, empty folder (``incoming/<id>/input``).
        limit: most body bytes accepted.

    Returns:
        The :class:`ReceivedForm`.

    Raises:
        RequestRefused: 413 past ``limit`` (checked on ``Content-Length`` first, then on the bytes
            as they arrive), 422 for a malformed body or field, 400 when the client went away.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, f"the request body ({int(declared)} bytes) is over the server's --max-upload-mb ({limit >> 20} MiB)")
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":  # text fields only (a job naming video_path)
        return await _receive_urlencoded(request, min(limit, 2 * MAX_FIELD_BYTES))
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise RequestRefused(422, "send the job as multipart/form-data (parts: video or video_path, tracks or masks, settings)")
    sink = _FormSink(dest)
    try:
        parser = MultipartParser(options[b"boundary"], sink.callbacks())
        received, pending = 0, bytearray()
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise RequestRefused(413, f"the request body is over the server's --max-upload-mb ({limit >> 20} MiB)")
            pending += chunk
            if len(pending) >= FLUSH_BYTES:
                await asyncio.to_thread(parser.write, bytes(pending))
                pending.clear()
        if pending:
            await asyncio.to_thread(parser.write, bytes(pending))
        parser.finalize()
    except ClientDisconnect:
        raise RequestRefused(400, "the client closed the connection before the body was complete") from None
    except MultipartParseError as exc:
        raise RequestRefused(422, f"malformed multipart body ({exc})") from None
    finally:
        sink.close()
    if not sink.ended:
        raise RequestRefused(422, "the multipart body ended before its closing boundary")
    return sink.form


async def _receive_urlencoded(request: Request, limit: int) -> ReceivedForm:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestRefused(413, f"a form without files may have at most {limit} bytes")
    except ClientDisconnect:
        raise RequestRefused(400, "the client closed the connection before the body was complete") from None
    form = ReceivedForm()
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body), errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestRefused(422, f"malformed form body ({exc})") from None
    for name, value in pairs:
        if name in FILE_PARTS:
            raise RequestRefused(422, f"{name}: send files as multipart/form-data")
        if name not in FIELD_PARTS:
            raise RequestRefused(
                422, f"unknown form field '{check_text('field name', name)[:80]}'; the fields are {', '.join(FIELD_PARTS)}"
            )
        if name in form.fields:
            raise RequestRefused(422, f"{name}: sent twice; send each form field once")
        form.fields[name] = check_text(name, value, multiline=name == "settings")
    return form


class Admission:
    """Queue slots: a submission reserves one before its body is read, atomically.

    Args:
        store: the job store (``queued`` jobs hold slots).
        capacity: ``--queue-size``.
    """

    def __init__(self, store: JobStore, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._lock = threading.Lock()
        self._reserved = 0

    def reserve(self) -> bool:
        """Take a slot (True) or find the queue full (False)."""
        with self._lock:
            if self.store.count(JobState.QUEUED) + self._reserved >= self.capacity:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        """Give a reserved slot back (the job was stored as ``queued``, or refused)."""
        with self._lock:
            self._reserved -= 1


def open_under(root: Path, video_path: str) -> int:
    """Open ``root/video_path`` read-only without following a link on any component.

    ``video_path`` is relative to ``root`` (an absolute path must lie under ``root`` as
    written); ``..`` and empty components are refused.

    Args:
        root: the resolved ``--allow-root`` folder (the operator's; links above it are trusted).
        video_path: the client's path.

    Returns:
        An open file descriptor of a regular file (the caller closes it).

    Raises:
        RequestRefused: 403 for ``..``, a link or a path outside ``root``; 404 for a missing
            file or one that is not a regular file; 422 for a malformed path.
    """
    check_text("video_path", video_path)
    if not video_path or len(video_path) > 4096:
        raise RequestRefused(422, "video_path: give a file below the server's --allow-root folder")
    if video_path.startswith("/"):
        prefix = str(root).rstrip("/") + "/"
        if not video_path.startswith(prefix):
            raise RequestRefused(403, "video_path must stay under the server's --allow-root folder")
        video_path = video_path[len(prefix) :]
    parts = [p for p in video_path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise RequestRefused(403, "video_path must name a file under the server's --allow-root folder, without '..'")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (0 if last else os.O_DIRECTORY)
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK):
                    raise RequestRefused(403, "video_path may not go through a symbolic link") from None
                if exc.errno == errno.ENOTDIR:
                    raise RequestRefused(403, "video_path may not go through a symbolic link or a file") from None
                raise RequestRefused(404, "video_path does not name a file under the server's --allow-root folder") from None
            os.close(fd)
            fd = nxt
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RequestRefused(404, "video_path does not name a regular file")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def link_or_copy(fd: int, dest: Path) -> None:
    """Make ``dest`` the file open as ``fd``: a hard link when possible, else a copy (fsynced).

    Raises:
        OSError: the copy failed.
    """
    try:
        os.link(f"/proc/self/fd/{fd}", dest, follow_symlinks=True)
        return
    except OSError:
        pass  # another file system, protected_hardlinks, no /proc: copy
    with os.fdopen(os.dup(fd), "rb") as src, open(dest, "xb") as out:
        shutil.copyfileobj(src, out, FLUSH_BYTES)
        out.flush()
        os.fsync(out.fileno())
