"""The events API Gateway hands a WebSocket API's integrations, and how it picks a message's route.

Shapes from "Setting up a WebSocket API integration request in API Gateway" and the
``APIGatewayWebSocketEvent`` documented for Lambda (``requestContext`` with ``routeKey``,
``eventType``, ``connectionId``, ``domainName``, ``stage``, ``apiId``, ...).
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_stack.ids import random_bytes

_ID_ALPHABET = string.ascii_letters + string.digits
CONNECTION_ROUTES = ("$connect", "$disconnect")


def new_connection_id() -> str:
    """An id shaped like API Gateway's (15 characters and a trailing '='): letters and digits
    drawn uniformly from one read of the system's random source (a byte below 248, a multiple of
    62, picks one)."""
    chosen = ""
    while len(chosen) < 15:
        chosen += "".join(_ID_ALPHABET[byte % 62] for byte in secrets.token_bytes(24) if byte < 248)
    return chosen[:15] + "="


def new_request_id() -> str:
    return base64.b64encode(random_bytes(12)).decode()


def request_time(moment: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Api:
    """What every event of one deployed stage carries about where it came from."""

    api_id: str
    stage: str
    domain_name: str  # where ``https://{domainName}/{stage}`` reaches ``@connections``


def websocket_event(
    api: Api, connection_id: str, route: str, connected_at: float, identity: dict[str, str]
) -> dict[str, Any]:
    """The event of one route invocation (``$connect``, ``$disconnect`` or a message route)."""
    now = time.time()
    request_id = new_request_id()
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": route.removeprefix("$").upper() if route in CONNECTION_ROUTES else "MESSAGE",
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": api.stage,
            "connectedAt": int(connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": identity,
            "requestId": request_id,
            "domainName": api.domain_name,
            "connectionId": connection_id,
            "apiId": api.api_id,
        },
        "isBase64Encoded": False,
    }


def route_of(message: str | bytes, selection_expression: str, routes: dict[str, str]) -> str | None:
    """The route a message goes to ("Working with routes for WebSocket APIs"): the route key the
    selection expression finds in it (``$request.body.action``: the JSON body's ``action``), else
    ``$default``, else none."""
    path = selection_expression.removeprefix("$request.body.")
    if path != selection_expression and isinstance(message, str):
        try:
            value: Any = json.loads(message)
        except ValueError:
            value = None
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value in routes and value not in CONNECTION_ROUTES:
            return value
    return "$default" if "$default" in routes else None
