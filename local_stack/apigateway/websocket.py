"""API Gateway's WebSocket side, emulated: ``$connect``/``$disconnect`` through the real handlers,
and the ``@connections`` management API.

- A handshake invokes the connect function with an API-Gateway-shaped event; a non-2xx answer
  refuses the handshake with that status, as API Gateway does.
- Closing the socket invokes the disconnect function with ``disconnectStatusCode`` and
  ``disconnectReason`` (API Gateway sends ``$disconnect`` on a best-effort basis: the fault switch
  ``skip_disconnect`` drops it for chosen connections).
- Idle connections (10 min) and old ones (2 h) are closed as API Gateway closes them.
- ``GET|POST|DELETE /{stage}/@connections/{connectionId}`` on the management port works with
  boto3's ``apigatewaymanagementapi`` client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import string
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from local_stack.awslambda.environments import FunctionThrottled
from local_stack.controls import PREFIX, Controls
from local_stack.cost.meter import Meter

if TYPE_CHECKING:
    import ssl

    from websockets.asyncio.server import Server
    from websockets.http11 import Request, Response

    from local_stack.awslambda.environments import LocalFunctions

_ID_ALPHABET = string.ascii_letters + string.digits
GOING_AWAY = (1001, "Going away")


def new_connection_id() -> str:
    """An id shaped like API Gateway's (15 characters and a trailing '='): letters and digits
    drawn uniformly from one read of the system's random source (a byte below 248, a multiple of
    62, picks one)."""
    chosen = ""
    while len(chosen) < 15:
        chosen += "".join(_ID_ALPHABET[byte % 62] for byte in secrets.token_bytes(24) if byte < 248)
    return chosen[:15] + "="


def _request_time(moment: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LiveConnection:
    connection_id: str
    socket: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str | None
    last_active: float
    close_as: tuple[int, str] | None = None


# "Quotas for configuring and running a WebSocket in API Gateway": message payload 128 KB (a
# larger message received closes the connection with 1009; a larger @connections POST is
# refused with 413 PayloadTooLargeException).
MESSAGE_PAYLOAD_BYTES = 128 * 1024
CONNECTION_ROUTES = ("$connect", "$disconnect")


class Gateway:
    def __init__(
        self,
        functions: LocalFunctions,
        *,
        routes: dict[str, str],
        stage: str,
        selection_expression: str = "$request.body.action",
        two_way: frozenset[str] = frozenset(),
        tls: ssl.SSLContext | None = None,
        api_id: str = "local",
        host: str = "127.0.0.1",
        port: int = 0,
        management_port: int = 0,
        region: str = "us-east-1",
        idle_timeout: float = 600.0,
        max_duration: float = 7200.0,
    ) -> None:
        self._functions = functions
        self.metrics = functions.metrics  # what API Gateway publishes (ServiceMetrics.api: ids)
        self.routes = routes  # route key -> logical id of the function its integration invokes
        self.selection_expression = selection_expression
        self.two_way = two_way  # route keys with a route response
        self._tls = tls  # @connections over HTTPS too, at the domainName the events carry
        self.stage = stage
        self.api_id = api_id
        self.host = host
        self._port = port
        self._management_port = management_port
        self.region = region
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.connections: dict[str, LiveConnection] = {}
        self.skip_disconnect: set[str] = set()
        self.controls = Controls(functions, self.skip_disconnect)
        self.meter = Meter()  # what API Gateway bills (the stack's cost meter replaces it)
        self.counts = {"accepted": 0, "refused": 0, "disconnects": 0, "disconnects_skipped": 0}
        self._pending: dict[int, tuple[str, float]] = {}
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda")
        self._server: Server | None = None
        self._management: ThreadingHTTPServer | None = None
        self._secure_management: ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ----- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.stage}"

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def management_url(self) -> str:
        assert self._management is not None
        return f"http://{self.host}:{self._management.server_address[1]}/{self.stage}"

    @property
    def domain_name(self) -> str:
        """What the events' ``requestContext.domainName`` says: where ``https://{domainName}/{stage}``
        reaches ``@connections``, as a handler builds it on AWS (the WebSocket port without TLS)."""
        if self._secure_management is not None:
            return f"{self.host}:{self._secure_management.server_address[1]}"
        return f"{self.host}:{self.port}"

    @property
    def connections_url(self) -> str:
        """The ``@connections`` endpoint a handler builds from its event."""
        scheme = "https" if self._secure_management is not None else "http"
        return f"{scheme}://{self.domain_name}/{self.stage}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
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
        self._management = ThreadingHTTPServer((self.host, self._management_port), _management_handler(self))
        servers = [self._management]
        if self._tls is not None:
            self._secure_management = ThreadingHTTPServer((self.host, 0), _management_handler(self))
            self._secure_management.socket = self._tls.wrap_socket(
                self._secure_management.socket, server_side=True
            )
            servers.append(self._secure_management)
        for server in servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="management-api", daemon=True).start()

    async def stop(self) -> None:
        """Close every connection (each gets its ``$disconnect``), then the servers."""
        lives = list(self.connections.values())
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
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for server in (self._management, self._secure_management):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._executor.shutdown(wait=True)

    # ----- $connect --------------------------------------------------------------------------------
    def _event(
        self, connection_id: str, route: str, connected_at: float, identity: dict[str, str]
    ) -> dict[str, Any]:
        now = time.time()
        request_id = base64.b64encode(uuid.uuid4().bytes[:12]).decode()
        return {
            "requestContext": {
                "routeKey": route,
                "eventType": route.removeprefix("$").upper() if route in CONNECTION_ROUTES else "MESSAGE",
                "extendedRequestId": request_id,
                "requestTime": _request_time(now),
                "messageDirection": "IN",
                "stage": self.stage,
                "connectedAt": int(connected_at * 1000),
                "requestTimeEpoch": int(now * 1000),
                "identity": identity,
                "requestId": request_id,
                "domainName": self.domain_name,
                "connectionId": connection_id,
                "apiId": self.api_id,
            },
            "isBase64Encoded": False,
        }

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

    async def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path.rstrip("/") != f"/{self.stage}":
            # a stage the API does not have: API Gateway refuses the handshake
            self.metrics.gateway("ClientError")
            return connection.respond(HTTPStatus.FORBIDDEN, '{"message": "Forbidden"}\n')
        connection_id, connected_at = new_connection_id(), time.time()
        query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        identity = {"sourceIp": str(connection.remote_address[0])}
        if "User-Agent" in request.headers:
            identity["userAgent"] = request.headers["User-Agent"]
        event = self._event(connection_id, "$connect", connected_at, identity)
        event["headers"], event["multiValueHeaders"] = headers, multi
        if query:
            event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
            event["multiValueQueryStringParameters"] = query
        connect = self.routes.get("$connect")
        if connect:
            self.metrics.gateway("ConnectCount", route="$connect")
            self.meter.message()
        # without a $connect route API Gateway accepts every handshake
        response: dict[str, Any] | None = (
            await self._invoke(connect, event) if connect else {"statusCode": 200}
        )
        if response is None:
            response = {"statusCode": 500, "body": "Internal server error"}
        status = int(response.get("statusCode", 200))
        if not 200 <= status < 300:
            self.counts["refused"] += 1
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
        self.connections[connection_id] = live
        self.counts["accepted"] += 1
        self.meter.opened(connection_id)
        watchdog = asyncio.create_task(self._watch(live))
        try:
            async for message in socket:
                live.last_active = time.time()
                await self._message(live, message)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self.connections.pop(connection_id, None)
            self.meter.closed(connection_id)
            await self._disconnect(live)

    def _route_of(self, message: str | bytes) -> str | None:
        """The route a message goes to: the route key the selection expression finds in it
        (``$request.body.action``: the JSON body's ``action``), else ``$default``, else none."""
        path = self.selection_expression.removeprefix("$request.body.")
        if path != self.selection_expression and isinstance(message, str):
            try:
                value: Any = json.loads(message)
            except ValueError:
                value = None
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value in self.routes and value not in CONNECTION_ROUTES:
                return value
        return "$default" if "$default" in self.routes else None

    async def _message(self, live: LiveConnection, message: str | bytes) -> None:
        """A client message, as API Gateway routes it (Working with routes for WebSocket APIs)."""
        route = self._route_of(message)
        self.metrics.gateway("MessageCount", route=route)
        self.meter.message(len(message.encode() if isinstance(message, str) else message))
        event = self._event(live.connection_id, route or "", live.connected_at, {"sourceIp": live.source_ip})
        error = {"connectionId": live.connection_id, "requestId": event["requestContext"]["requestId"]}
        if route is None:  # no route matches and there is no $default
            self.metrics.gateway("ClientError")
            await live.socket.send(json.dumps({"message": "Forbidden", **error}))
            return
        event["requestContext"]["messageId"] = base64.b64encode(uuid.uuid4().bytes[:12]).decode()
        if isinstance(message, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(message).decode(), True
        else:
            event["body"] = message
        response = await self._invoke(self.routes[route], event)
        if response is None:
            await live.socket.send(json.dumps({"message": "Internal server error", **error}))
        elif route in self.two_way and response.get("body") is not None:
            self.metrics.gateway("MessageCount", route=route)
            self.meter.message(len(str(response["body"]).encode()))
            await live.socket.send(str(response["body"]))  # the route response: back to the client

    async def _watch(self, live: LiveConnection) -> None:
        while True:
            now = time.time()
            idle_left = live.last_active + self.idle_timeout - now
            age_left = live.connected_at + self.max_duration - now
            if idle_left <= 0 or age_left <= 0:
                live.close_as = GOING_AWAY
                await live.socket.close(*GOING_AWAY)
                return
            # until the earlier deadline; a message meanwhile moved the idle one later: checked then
            await asyncio.sleep(min(idle_left, age_left))

    async def _disconnect(self, live: LiveConnection) -> None:
        disconnect = self.routes.get("$disconnect")
        if disconnect is None:
            return
        if live.connection_id in self.skip_disconnect:
            self.skip_disconnect.discard(live.connection_id)
            self.counts["disconnects_skipped"] += 1
            return
        code, reason = live.close_as or (live.socket.close_code or 1006, live.socket.close_reason or "")
        event = self._event(
            live.connection_id, "$disconnect", live.connected_at, {"sourceIp": live.source_ip}
        )
        event["requestContext"]["disconnectStatusCode"] = code
        event["requestContext"]["disconnectReason"] = reason
        event["headers"] = {"Host": f"{self.host}:{self.port}", "x-api-key": "", "X-Forwarded-For": ""}
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
        self.counts["disconnects"] += 1
        self.meter.message()
        await self._invoke(disconnect, event)

    # ----- @connections (called from the management API's threads) -----------------------------
    def _call(self, coroutine: Any) -> Any:  # noqa: ANN401
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def describe(self, connection_id: str) -> dict[str, Any] | None:
        live = self.connections.get(connection_id)
        if live is None:
            return None
        identity = {"sourceIp": live.source_ip}
        if live.user_agent:
            identity["userAgent"] = live.user_agent
        return {
            "connectedAt": _iso(live.connected_at),
            "identity": identity,
            "lastActiveAt": _iso(live.last_active),
        }

    def post(self, connection_id: str, data: bytes) -> bool:
        live = self.connections.get(connection_id)
        if live is None:
            return False
        try:
            payload: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            payload = data
        try:
            self._call(live.socket.send(payload))
        except ConnectionClosed:
            return False
        self.metrics.gateway("MessageCount")  # a message to the client, through @connections
        self.meter.message(len(data))
        live.last_active = time.time()
        return True

    def delete(self, connection_id: str) -> bool:
        live = self.connections.get(connection_id)
        if live is None:
            return False
        live.close_as = (1000, "")
        self.connections.pop(connection_id, None)  # gone for @connections from now on
        # API Gateway answers 204 at once and closes the socket on its own time
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(live.socket.close(1000), self._loop)
        return True


def _management_handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    prefix = f"/{gateway.stage}/@connections/"

    class ManagementApi(BaseHTTPRequestHandler):
        server_version = "LocalApiGateway"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401
            return

        def _connection_id(self) -> str | None:
            path = urlsplit(self.path).path
            return (
                unquote(path[len(prefix) :]) if path.startswith(prefix) and len(path) > len(prefix) else None
            )

        def _answer(self, status: int, body: dict[str, Any] | None = None, error: str | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _gone(self, connection_id: str) -> None:
            self._answer(410, {"message": f"Connection {connection_id} is gone"}, error="GoneException")

        def _route(self) -> str | None:
            connection_id = self._connection_id()
            if connection_id is None:
                self._answer(404, {"message": "Not Found"}, error="NotFoundException")
            return connection_id

        def do_GET(self) -> None:
            if urlsplit(self.path).path.startswith(PREFIX):
                self._answer(*gateway.controls.answer("GET", urlsplit(self.path).path, b""))
                return
            if (connection_id := self._route()) is not None:
                described = gateway.describe(connection_id)
                self._answer(200, described) if described else self._gone(connection_id)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if urlsplit(self.path).path.startswith(PREFIX):
                self._answer(*gateway.controls.answer("POST", urlsplit(self.path).path, data))
                return
            if (connection_id := self._route()) is None:
                return
            if len(data) > MESSAGE_PAYLOAD_BYTES:
                self._answer(
                    413,
                    {"message": f"Message too long: {len(data)} bytes, at most {MESSAGE_PAYLOAD_BYTES}"},
                    error="PayloadTooLargeException",
                )
                return
            self._answer(200) if gateway.post(connection_id, data) else self._gone(connection_id)

        def do_DELETE(self) -> None:
            if urlsplit(self.path).path.startswith(PREFIX):
                self._answer(*gateway.controls.answer("DELETE", urlsplit(self.path).path, b""))
                return
            if (connection_id := self._route()) is not None:
                self._answer(204) if gateway.delete(connection_id) else self._gone(connection_id)

    return ManagementApi
