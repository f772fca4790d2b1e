"""API Gateway's WebSocket endpoint, emulated: the socket server, each route through the real
handlers, the connections' lifetimes.

- A handshake invokes the connect function with an API-Gateway-shaped event; a non-2xx answer
  refuses the handshake with that status, as API Gateway does.
- Closing the socket invokes the disconnect function with ``disconnectStatusCode`` and
  ``disconnectReason`` (API Gateway sends ``$disconnect`` on a best-effort basis: the registry's
  ``skip_disconnect`` drops it for chosen connections).
- Idle connections (10 min) and old ones (2 h) are closed as API Gateway closes them.
- A binary frame from a client closes its connection with 1003, as API Gateway does.

The open connections and ``@connections`` are ``connections.ConnectionRegistry``'s; the management
port is ``management.ManagementServer``'s; the events are built by ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from local_stack.apigateway.connections import GOING_AWAY, UNSUPPORTED_DATA, LiveConnection
from local_stack.apigateway.events import (
    Api,
    new_connection_id,
    new_request_id,
    route_of,
    websocket_event,
)
from local_stack.apigateway.management import MESSAGE_PAYLOAD_BYTES
from local_stack.awslambda.environments import FunctionThrottled

if TYPE_CHECKING:
    from websockets.asyncio.server import Server
    from websockets.http11 import Request, Response

    from local_stack.apigateway.authorizers import ConnectAuthorizer
    from local_stack.apigateway.connections import ConnectionRegistry
    from local_stack.awslambda.environments import LocalFunctions
    from local_stack.cloudwatch.service_metrics import ServiceMetrics
    from local_stack.cost.meter import Meter


class Gateway:
    def __init__(
        self,
        functions: LocalFunctions,
        connections: ConnectionRegistry,
        meter: Meter,
        *,
        routes: dict[str, str],
        stage: str,
        selection_expression: str = "$request.body.action",
        two_way: frozenset[str] = frozenset(),
        domain_name: str,
        api_id: str = "local",
        authorizer: ConnectAuthorizer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 600.0,
        max_duration: float = 7200.0,
    ) -> None:
        self._functions = functions
        self.connections = connections
        self._meter = meter  # what API Gateway bills: messages and connection minutes
        self.metrics: ServiceMetrics = functions.metrics  # what API Gateway publishes
        self.routes = routes  # route key -> logical id of the function its integration invokes
        self.selection_expression = selection_expression
        self.two_way = two_way  # route keys with a route response
        self.stage = stage
        self.host = host
        self._port = port
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        # what every event says of the API (``domainName``: where ``https://{domainName}/{stage}``
        # reaches ``@connections``, the management port's HTTPS address)
        self.api = Api(api_id, stage, domain_name)
        self.authorizer = (
            authorizer  # $connect's Lambda REQUEST authorizer (local_stack.apigateway.authorizers)
        )
        self._pending: dict[int, tuple[str, float]] = {}
        self._server: Server | None = None
        self._bound_port = 0  # the port the server listens on, once it does

    # ----- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.stage}"

    @property
    def port(self) -> int:
        assert self._server is not None, "the gateway has not started"
        return self._bound_port

    async def start(self) -> None:
        self.connections.bind(asyncio.get_running_loop())
        self._server = await serve(
            self._session,
            self.host,
            self._port,
            process_request=self._connect,
            server_header=None,
            ping_interval=None,  # API Gateway does not ping; idle timeout is ours to enforce
            open_timeout=29,  # API Gateway's integration timeout: $connect may take that long
            # a client message over the payload quota closes the connection with 1009
            max_size=MESSAGE_PAYLOAD_BYTES,
        )
        # asked once (every $disconnect event's Host header names it)
        self._bound_port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Close every connection (each gets its ``$disconnect``), then the server."""
        lives = self.connections.open()
        for live in lives:
            live.close_as = GOING_AWAY
        closing = [live.socket.close(*GOING_AWAY) for live in lives]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout=5)
        for live in lives:  # a peer that did not answer the close handshake is cut
            live.socket.transport.abort()
        # let each session finish: its $disconnect runs
        await asyncio.sleep(0)
        deadline = time.monotonic() + 10
        while len(self.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ----- integrations ------------------------------------------------------------------------
    async def _invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """The integration's answer; ``None`` when the function failed (API Gateway's 500).

        Metrics as API Gateway publishes them: ``IntegrationLatency`` of every call; a function
        error or a throttle is a 4XX/5XX response from the integration (``IntegrationError``), and
        a throttle — Lambda refusing the call — also an error calling it (``ExecutionError``)."""
        route = event["requestContext"]["routeKey"]
        started = time.monotonic()
        try:
            response = await self._functions.invoke_async(logical_id, event)
        except Exception as exc:  # noqa: BLE001 - a function error is API Gateway's 500
            self.metrics.gateway("IntegrationError", route=route)
            if isinstance(exc, FunctionThrottled):
                self.metrics.gateway("ExecutionError", route=route)
            return None
        finally:
            self.metrics.gateway("IntegrationLatency", (time.monotonic() - started) * 1000, route=route)
        return response if isinstance(response, dict) else {"statusCode": 200}

    # ----- $connect ----------------------------------------------------------------------------
    async def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path)
        if path.path.rstrip("/") != f"/{self.stage}":
            # a stage the API does not have: API Gateway refuses the handshake
            self.metrics.gateway("ClientError")
            return connection.respond(HTTPStatus.FORBIDDEN, '{"message": "Forbidden"}\n')
        connection_id, connected_at = new_connection_id(), time.time()
        query = parse_qs(path.query, keep_blank_values=True)
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        identity = {"sourceIp": str(connection.remote_address[0])}
        if "User-Agent" in request.headers:
            identity["userAgent"] = request.headers["User-Agent"]
        event = websocket_event(self.api, connection_id, "$connect", connected_at, identity)
        event["headers"], event["multiValueHeaders"] = headers, multi
        if query:
            event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
            event["multiValueQueryStringParameters"] = query
        connect = self.routes.get("$connect")
        if connect:
            self.metrics.gateway("ConnectCount", route="$connect")
            self._meter.message()
        if self.authorizer is not None:  # before the integration
            verdict = await self.authorizer.check(event, self._functions.invoke_async)
            if verdict.status is not None:
                self.connections.count("refused")
                if verdict.status < 500:  # 401/403: a client error, as API Gateway counts it
                    self.metrics.gateway("ClientError")
                return connection.respond(HTTPStatus(verdict.status), f"{verdict.body}\n")
            event["requestContext"]["authorizer"] = verdict.authorizer
        # without a $connect route API Gateway accepts every handshake
        response: dict[str, Any] | None = (
            await self._invoke(connect, event) if connect else {"statusCode": 200}
        )
        if response is None:
            response = {"statusCode": 500, "body": "Internal server error"}
        status = int(response.get("statusCode", 200))
        if not 200 <= status < 300:
            self.connections.count("refused")
            return connection.respond(HTTPStatus(status), f"{response.get('body', '')}\n")
        self._pending[id(connection)] = (connection_id, connected_at)
        return None

    # ----- the open connection and $disconnect -------------------------------------------------
    async def _session(self, socket: ServerConnection) -> None:
        connection_id, connected_at = self._pending.pop(id(socket))
        live = LiveConnection(
            connection_id=connection_id,
            socket=socket,
            connected_at=connected_at,
            source_ip=str(socket.remote_address[0]),
            user_agent=socket.request.headers.get("User-Agent") if socket.request else None,
            last_active=time.time(),
        )
        self.connections.opened(live)
        watchdog = _Deadlines(live, self.idle_timeout, self.max_duration)
        try:
            async for message in socket:
                live.last_active = time.time()
                if isinstance(message, bytes):
                    # "Binary media types for WebSocket APIs in API Gateway": a binary frame is
                    # rejected and the client disconnected with code 1003 (no reason documented)
                    live.close_as = UNSUPPORTED_DATA
                    await socket.close(*UNSUPPORTED_DATA)
                    break
                await self._message(live, message)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self.connections.closed(connection_id)
            await self._disconnect(live)

    async def _message(self, live: LiveConnection, message: str) -> None:
        """A client's text message, as API Gateway routes it (Working with routes for WebSocket APIs)."""
        route = route_of(message, self.selection_expression, self.routes)
        self.metrics.gateway("MessageCount", route=route)
        self._meter.message(len(message.encode()))
        identity = {"sourceIp": live.source_ip}
        event = websocket_event(self.api, live.connection_id, route or "", live.connected_at, identity)
        error = {"connectionId": live.connection_id, "requestId": event["requestContext"]["requestId"]}
        if route is None:  # no route matches and there is no $default
            self.metrics.gateway("ClientError")
            await live.socket.send(json.dumps({"message": "Forbidden", **error}))
            return
        event["requestContext"]["messageId"] = new_request_id()
        event["body"] = message
        response = await self._invoke(self.routes[route], event)
        if response is None:
            await live.socket.send(json.dumps({"message": "Internal server error", **error}))
        elif route in self.two_way and response.get("body") is not None:
            self.metrics.gateway("MessageCount", route=route)
            self._meter.message(len(str(response["body"]).encode()))
            await live.socket.send(str(response["body"]))  # the route response: back to the client

    async def _disconnect(self, live: LiveConnection) -> None:
        disconnect = self.routes.get("$disconnect")
        if disconnect is None:
            return
        if self.connections.skips_disconnect(live.connection_id):
            return
        code, reason = live.close_as or (live.socket.close_code or 1006, live.socket.close_reason or "")
        identity = {"sourceIp": live.source_ip}
        event = websocket_event(self.api, live.connection_id, "$disconnect", live.connected_at, identity)
        event["requestContext"]["disconnectStatusCode"] = code
        event["requestContext"]["disconnectReason"] = reason
        event["headers"] = {"Host": f"{self.host}:{self.port}", "x-api-key": "", "X-Forwarded-For": ""}
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
        self._meter.message()
        await self._invoke(disconnect, event)


class _Deadlines:
    """Closes a connection as API Gateway does at its idle timeout or its maximum duration,
    whichever comes first (1001, going away): one timer a connection on the running loop, which,
    when it fires, re-arms itself for the later idle deadline a message set meanwhile."""

    def __init__(self, live: LiveConnection, idle_timeout: float, max_duration: float) -> None:
        self._live = live
        self._idle_timeout = idle_timeout
        self._max_duration = max_duration
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly
        self._check()

    def _check(self) -> None:
        live, now = self._live, time.time()
        idle_left = live.last_active + self._idle_timeout - now
        age_left = live.connected_at + self._max_duration - now
        if idle_left <= 0 or age_left <= 0:
            live.close_as = GOING_AWAY
            self._closing = self._loop.create_task(live.socket.close(*GOING_AWAY))
            return
        # until the earlier deadline; a message meanwhile moved the idle one later: checked then
        self._timer = self._loop.call_later(min(idle_left, age_left), self._check)

    def cancel(self) -> None:
        """The connection closed: no deadline left to watch."""
        if self._timer is not None:
            self._timer.cancel()
