"""uvicorn with connection limits: a header deadline, a body idle timeout and a connection cap.

uvicorn times out idle keep-alive connections but not a client that sends half a request and
stops (each such connection is held forever). :class:`GuardedH11Protocol` adds, per connection:

- ``header_timeout_s``: the request line and headers must arrive within this many seconds of
  the connection opening (or of the previous response): slowloris clients are dropped;
- ``body_idle_s``: while a request body is being received, at most this many seconds may pass
  without a byte (a paused read, when the app is slower than the client, does not count);
- ``max_connections``: connections beyond this many are closed as soon as they are accepted.

Keep-alive idle connections are closed after uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Limits of :class:`GuardedH11Protocol` (defaults: ``sammask serve``'s).

    Attributes:
        header_timeout_s: seconds for the request line and headers.
        body_idle_s: seconds without a body byte while a body is expected.
        keep_alive_s: seconds an idle keep-alive connection is kept.
        max_connections: most open connections.
    """

    header_timeout_s: float = 10.0
    body_idle_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 200


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the read deadlines and the connection cap of :attr:`limits`."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._header_deadline: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's protocol takes a Transport, asyncio's base a BaseTransport
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("connection refused: %d open (the cap)", self.limits.max_connections)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._header_deadline = None  # the headers are in
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._header_deadline = None
        self._disarm()  # idle keep-alive: uvicorn's timer; the next request's first byte re-arms

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _arm(self) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        waiting_headers = state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting_headers:
            now = self.loop.time()
            if self._header_deadline is None:
                self._header_deadline = now + self.limits.header_timeout_s
            delay = max(0.0, self._header_deadline - now)
        elif state is h11.SEND_BODY:
            delay = self.limits.body_idle_s
        else:
            return
        self._read_timer = self.loop.call_later(delay, self._read_timeout)

    def _read_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # the app has not read what was sent: not the client's delay
            self._read_timer = self.loop.call_later(self.limits.body_idle_s, self._read_timeout)
            return
        state = self.conn.their_state
        if state is h11.IDLE or state is h11.SEND_BODY:
            self.logger.info("closing a connection: the client sent too slowly (%s)", state)
            self.transport.close()


def protocol_with(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with ``limits`` (uvicorn's ``http=`` takes a class)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_config(app: Any, host: str, port: int, limits: ConnectionLimits, **kwargs: Any) -> Any:
    """A ``uvicorn.Config`` serving ``app`` with ``limits`` (``kwargs`` go to uvicorn).

    Also sets uvicorn's ``limit_concurrency`` (503 past the cap) and ``timeout_keep_alive``.
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_with(limits),
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # uvicorn annotates int; it is a call_later delay, a float works
        **kwargs,
    )
