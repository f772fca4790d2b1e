"""The management port: one HTTP server (and its HTTPS twin at the events' ``domainName``) that
answers each request with the handler mounted at the longest prefix of its path.

The stack mounts API Gateway's ``@connections`` API (``ConnectionsApi``, at ``/{stage}/@connections/``)
and its own controls (``/_local/``); anything else is 404 ``NotFoundException``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import ssl

    from local_stack.apigateway.connections import ConnectionRegistry

# "Quotas for configuring and running a WebSocket in API Gateway": message payload 128 KB (a
# larger message received closes the connection with 1009; a larger @connections POST is
# refused with 413 PayloadTooLargeException).
MESSAGE_PAYLOAD_BYTES = 128 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None  # JSON; None: an empty body
    error: str | None = None  # x-amzn-ErrorType

    @classmethod
    def not_found(cls) -> Answer:
        return cls(404, {"message": "Not Found"}, "NotFoundException")


class Handler(Protocol):
    def __call__(self, method: str, path: str, body: bytes) -> Answer: ...


class ConnectionsApi:
    """``GET|POST|DELETE /{stage}/@connections/{connectionId}``, as boto3's
    ``apigatewaymanagementapi`` client calls it."""

    def __init__(self, stage: str, connections: ConnectionRegistry) -> None:
        self.prefix = f"/{stage}/@connections/"
        self._connections = connections

    def __call__(self, method: str, path: str, body: bytes) -> Answer:
        connection_id = unquote(path.removeprefix(self.prefix))
        if not connection_id:
            return Answer.not_found()
        gone = Answer(410, {"message": f"Connection {connection_id} is gone"}, "GoneException")
        if method == "GET":
            described = self._connections.describe(connection_id)
            return Answer(200, described) if described else gone
        if method == "POST":
            if len(body) > MESSAGE_PAYLOAD_BYTES:
                message = f"Message too long: {len(body)} bytes, at most {MESSAGE_PAYLOAD_BYTES}"
                return Answer(413, {"message": message}, "PayloadTooLargeException")
            return Answer(200) if self._connections.post(connection_id, body) else gone
        if method == "DELETE":
            return Answer(204) if self._connections.delete(connection_id) else gone
        return Answer.not_found()


class ManagementServer:
    """Serves the mounted handlers over HTTP on ``port`` (for tools) and over HTTPS on a free port
    (where handlers reach ``@connections`` from their events' ``domainName``)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext) -> None:
        self.host = host
        self._mounts: dict[str, Handler] = {}
        handler = _request_handler(self._mounts)
        self._plain = ThreadingHTTPServer((host, port), handler)
        self._secure = ThreadingHTTPServer((host, 0), handler)
        self._secure.socket = tls.wrap_socket(self._secure.socket, server_side=True)

    def mount(self, prefix: str, handler: Handler) -> None:
        self._mounts[prefix] = handler

    @property
    def port(self) -> int:
        port: int = self._plain.server_address[1]
        return port

    @property
    def secure_address(self) -> str:
        """``host:port`` of the HTTPS server."""
        return f"{self.host}:{self._secure.server_address[1]}"

    def start(self) -> None:
        for server in self._servers():
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="management-api", daemon=True).start()

    def stop(self) -> None:
        for server in self._servers():
            server.shutdown()
            server.server_close()

    def _servers(self) -> list[ThreadingHTTPServer]:
        return [self._plain, self._secure]


def _request_handler(mounts: dict[str, Handler]) -> type[BaseHTTPRequestHandler]:
    class ManagementRequest(BaseHTTPRequestHandler):
        server_version = "LocalApiGateway"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401
            return

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            prefixes = [prefix for prefix in mounts if path.startswith(prefix)]
            answer = mounts[max(prefixes, key=len)](method, path, body) if prefixes else Answer.not_found()
            payload = json.dumps(answer.body).encode() if answer.body is not None else b""
            self.send_response(answer.status)
            if answer.error:
                self.send_header("x-amzn-ErrorType", answer.error)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return ManagementRequest
