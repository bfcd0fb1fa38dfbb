"""A guard that records (and refuses) every non-loopback network connection of this process.

Patches ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo``: loopback, unspecified
(0.0.0.0, ::) and AF_UNIX addresses pass; anything else is recorded in :data:`VIOLATIONS` and fails
with ``OSError`` (so nothing leaves the machine and no DNS query is made). Threads that swallow the
error (telemetry senders do) are still caught: callers assert :data:`VIOLATIONS` is empty.
With ``NETGUARD_LOG=FILE`` in the environment each violation is also appended to FILE, so that
forked children (OpenVINO sends from a ``multiprocessing`` child) are seen by the parent.
Used by tests/conftest.py (autouse, whole suite) and by subprocess checks (``install()``).
"""

from __future__ import annotations

import ipaddress
import os
import socket

VIOLATIONS: list[str] = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_orig = {}


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%")[0]
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _record(what: str) -> None:
    VIOLATIONS.append(what)
    log = os.environ.get("NETGUARD_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {what}\n")


def _check_address(sock, address) -> None:
    if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", None) or isinstance(address, (str, bytes)):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local(host):
        _record(f"connect {address!r}")
        raise OSError(f"test network guard: non-loopback connect to {address!r} refused")


def _connect(self, address):
    _check_address(self, address)
    return _orig["connect"](self, address)


def _connect_ex(self, address):
    _check_address(self, address)
    return _orig["connect_ex"](self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"test network guard: lookup of {host!r} refused")
    return _orig["getaddrinfo"](host, *args, **kwargs)


def install() -> None:
    """Patch the socket module (idempotent)."""
    if _orig:
        return
    _orig.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex, getaddrinfo=socket.getaddrinfo)
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    """Undo :func:`install`."""
    if not _orig:
        return
    socket.socket.connect = _orig["connect"]
    socket.socket.connect_ex = _orig["connect_ex"]
    socket.getaddrinfo = _orig["getaddrinfo"]
    _orig.clear()
