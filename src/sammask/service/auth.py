"""Who is calling: bearer tokens (one ``--token`` or a ``--tokens-file`` of named clients), and the
cross-site check that keeps a web page the operator visits from submitting jobs.

A tokens file has one client per line, ``NAME TOKEN`` or ``NAME TOKEN admin`` (``#`` starts a
comment). A client sees and changes only the jobs it submitted; an ``admin`` client sees every
job. The single ``--token`` is an admin. Without any token every caller is the local admin
(loopback use only: ``serve`` refuses a non-loopback ``--host`` then).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sammask.errors import ConfigError, InputFileError

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_TOKEN_CHARS = 16
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: the client's name (owner of the jobs it submits).
        admin: sees and deletes every client's jobs.
    """

    name: str
    admin: bool = False

    def owns(self, owner: str | None) -> bool:
        """May this caller see a job owned by ``owner``?"""
        return self.admin or owner == self.name


@dataclass(frozen=True, slots=True)
class Tokens:
    """The accepted bearer tokens (empty: no authentication).

    Attributes:
        clients: ``(token, principal)`` pairs.
    """

    clients: tuple[tuple[str, Principal], ...] = ()

    @property
    def required(self) -> bool:
        """True when callers must present a token."""
        return bool(self.clients)

    @classmethod
    def build(cls, token: str | None = None, tokens_file: Path | None = None) -> Tokens:
        """The tokens of ``--token`` (an admin named ``admin``) and ``--tokens-file``.

        Raises:
            InputFileError: the tokens file cannot be read.
            ConfigError: a malformed line, a duplicate name or token, or a token shorter than
                16 characters.
        """
        clients: list[tuple[str, Principal]] = []
        if token:
            clients.append((token, Principal("admin", admin=True)))
        if tokens_file is not None:
            try:
                text = Path(tokens_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputFileError(f"--tokens-file {tokens_file}: cannot read it ({exc})") from None
            for lineno, line in enumerate(text.splitlines(), 1):
                parts = line.split("#", 1)[0].split()
                if not parts:
                    continue
                if len(parts) not in (2, 3) or not _NAME.match(parts[0]) or (len(parts) == 3 and parts[2] != "admin"):
                    raise ConfigError(
                        f"--tokens-file {tokens_file} line {lineno}: expected 'NAME TOKEN' or "
                        "'NAME TOKEN admin' (NAME of letters, digits, . _ -)"
                    )
                clients.append((parts[1], Principal(parts[0], admin=len(parts) == 3)))
        names = [p.name for _, p in clients]
        secrets = [t for t, _ in clients]
        if len(set(names)) != len(names) or len(set(secrets)) != len(secrets):
            raise ConfigError("every client needs its own name and its own token (a duplicate was found; --token is the client 'admin')")
        if any(len(t) < MIN_TOKEN_CHARS for t in secrets):
            raise ConfigError(
                f"tokens must have at least {MIN_TOKEN_CHARS} characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
            )
        return cls(tuple(clients))

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller of an ``Authorization`` header value, or None if it is missing or wrong.

        Every token is compared (constant time each), so the answer's timing does not say
        which one nearly matched.
        """
        if not self.required:
            return Principal(LOCAL, admin=True)
        scheme, _, given = (authorization or "").partition(" ")
        found = None
        for secret, principal in self.clients:
            if hmac.compare_digest(given.strip().encode(), secret.encode()) and scheme.lower() == "bearer":
                found = principal
        return found


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (the only ``--host`` allowed without a token)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_only(value: str) -> str:
    """``Host`` header or URL authority without the port (IPv6 brackets kept off)."""
    return (urlsplit("//" + value).hostname or "").lower()


def cross_site_reason(method: str, headers: Mapping[str, str], *, tokens_required: bool) -> str | None:
    """Why a request must be refused as cross-site, or None.

    State-changing requests (not GET/HEAD/OPTIONS) are refused when the browser says they come
    from another site (``Sec-Fetch-Site: cross-site``/``same-site``) or their ``Origin`` names
    another host than ``Host``. Without tokens, every request's ``Host`` must also be a loopback
    name (a DNS-rebinding page reaches 127.0.0.1 under its own name).
    """
    host = _host_only(headers.get("host", ""))
    if not tokens_required and host and not is_loopback(host):
        return f"Host '{host}' is not this machine; without a token the service answers loopback names only"
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None
    if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return "cross-site requests may not change jobs"
    origin = headers.get("origin")
    if origin is not None and origin != "null" and _host_only(urlsplit(origin).netloc) != host:
        return f"Origin '{origin}' is not this server; cross-site requests may not change jobs"
    if origin == "null":
        return "requests from an opaque origin may not change jobs"
    return None
