"""The connections API Gateway holds open, and the ``@connections`` operations on them.

``GET``, ``POST`` and ``DELETE /{stage}/@connections/{connectionId}`` ("Use @connections commands
in your backend service"): a connection that is not open answers ``GoneException`` (410).
Operations arrive on the management API's threads; sockets live on the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from local_stack.apigateway.events import iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from websockets.asyncio.server import ServerConnection

    from local_stack.cost.meter import Meter

GOING_AWAY = (1001, "Going away")
UNSUPPORTED_DATA = (1003, "")  # a client's binary frame (API Gateway documents the code only)
# How long an ``@connections`` call waits for the gateway's event loop to send a message.
SEND_SECONDS = 10.0


@dataclass
class LiveConnection:
    connection_id: str
    socket: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str | None
    last_active: float
    close_as: tuple[int, str] | None = None


class ConnectionRegistry:
    """Open connections by id, what happened to connections so far (``counts``), and the
    connections whose ``$disconnect`` API Gateway is to lose (``skip_disconnect``: it is
    best-effort on AWS too)."""

    def __init__(self, meter: Meter, on_message: Callable[[], None]) -> None:
        self._meter = meter  # API Gateway bills @connections messages too
        self._on_message = on_message  # a message to a client counted in API Gateway's metrics
        self._live: dict[str, LiveConnection] = {}
        self._lock = threading.Lock()
        self._skip_disconnect: set[str] = set()
        self._counts = {"accepted": 0, "refused": 0}
        self._loop: asyncio.AbstractEventLoop | None = None

    # ----- the gateway's side (its event loop) ---------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the sockets live on: ``@connections`` sends and closes through it."""
        self._loop = loop

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def opened(self, live: LiveConnection) -> None:
        with self._lock:
            self._live[live.connection_id] = live
            self._counts["accepted"] += 1
        self._meter.opened(live.connection_id)

    def closed(self, connection_id: str) -> None:
        with self._lock:
            self._live.pop(connection_id, None)
        self._meter.closed(connection_id)

    def skips_disconnect(self, connection_id: str) -> bool:
        """Whether this connection's ``$disconnect`` is lost (once: the mark is used up)."""
        with self._lock:
            if connection_id not in self._skip_disconnect:
                return False
            self._skip_disconnect.discard(connection_id)
            return True

    def skip(self, connection_ids: list[str]) -> int:
        with self._lock:
            self._skip_disconnect.update(connection_ids)
            return len(self._skip_disconnect)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, connection_id: object) -> bool:
        return connection_id in self._live

    def open(self) -> list[LiveConnection]:
        with self._lock:
            return list(self._live.values())

    # ----- @connections (the management API's threads) ------------------------------------------
    def describe(self, connection_id: str) -> dict[str, Any] | None:
        live = self._live.get(connection_id)
        if live is None:
            return None
        identity = {"sourceIp": live.source_ip}
        if live.user_agent:
            identity["userAgent"] = live.user_agent
        return {
            "connectedAt": iso(live.connected_at),
            "identity": identity,
            "lastActiveAt": iso(live.last_active),
        }

    def post(self, connection_id: str, data: bytes) -> bool:
        live = self._live.get(connection_id)
        if live is None:
            return False
        try:
            payload: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            payload = data
        assert self._loop is not None, "the gateway has not started"
        try:
            asyncio.run_coroutine_threadsafe(live.socket.send(payload), self._loop).result(SEND_SECONDS)
        except ConnectionClosed:
            return False
        self._on_message()
        self._meter.message(len(data))
        live.last_active = time.time()
        return True

    def delete(self, connection_id: str) -> bool:
        with self._lock:
            live = self._live.pop(connection_id, None)  # gone for @connections from now on
        if live is None:
            return False
        live.close_as = (1000, "")
        # API Gateway answers 204 at once and closes the socket on its own time
        assert self._loop is not None, "the gateway has not started"
        asyncio.run_coroutine_threadsafe(live.socket.close(1000), self._loop)
        return True
