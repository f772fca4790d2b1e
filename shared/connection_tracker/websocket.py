"""API Gateway WebSocket events (``$connect`` / ``$disconnect``) parsed into what the handlers need.

Everything here is client input: it is validated before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from connection_tracker.models import (
    CLIENT_ID_CONTEXT_KEY,
    CONNECTION_ID_MAX_LENGTH,
    UNKNOWN_CLIENT,
    USER_AGENT_MAX_LENGTH,
    ClientId,
    ConnectionItem,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

CLIENT_ID_PARAMETER = "clientId"
_client_id = TypeAdapter(ClientId)


class InvalidRequest(ValueError):
    """The client sent something we refuse (answered with 400)."""


def _request_context(event: object) -> tuple[str, Mapping[str, Any]]:
    """The connectionId and the ``requestContext`` it came in; refuse an event without one (or
    one that is not a JSON object at all: a direct invoke can send ``null`` or a list)."""
    if not isinstance(event, dict):
        raise InvalidRequest(f"the event must be a JSON object, not {type(event).__name__}")
    context = event.get("requestContext")
    connection_id = context.get("connectionId") if isinstance(context, dict) else None
    if not isinstance(connection_id, str) or not connection_id or not isinstance(context, dict):
        raise InvalidRequest("requestContext.connectionId is missing")
    if len(connection_id) > CONNECTION_ID_MAX_LENGTH:
        raise InvalidRequest(f"requestContext.connectionId is longer than {CONNECTION_ID_MAX_LENGTH}")
    return connection_id, context


def _header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header, looked up case-insensitively as HTTP names are."""
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _authorized_client(context: Mapping[str, Any]) -> str | None:
    """The clientId the ``$connect`` authorizer verified (``requestContext.authorizer.clientId``,
    the context of its Allow policy), or ``None`` without an authorizer."""
    authorizer = context.get("authorizer")
    client_id = authorizer.get(CLIENT_ID_CONTEXT_KEY) if isinstance(authorizer, dict) else None
    if client_id is None:
        return None
    try:
        return _client_id.validate_python(client_id)
    except ValidationError:
        raise InvalidRequest("requestContext.authorizer.clientId is not a valid clientId") from None


def _claimed_client(raw: Mapping[str, Any]) -> str:
    """The clientId the client names in its query string (``unknown`` when it names none)."""
    params = raw.get("queryStringParameters")
    client_id = (
        params.get(CLIENT_ID_PARAMETER, UNKNOWN_CLIENT) if isinstance(params, dict) else UNKNOWN_CLIENT
    )
    try:
        return _client_id.validate_python(client_id)
    except ValidationError:
        raise InvalidRequest("clientId must be 1-128 characters of letters, digits and . _ : @ -") from None


def claimed_client_ignored(raw: Mapping[str, Any]) -> bool:
    """Whether the query string names a clientId (ignored when the authorizer verified one)."""
    params = raw.get("queryStringParameters")
    return isinstance(params, dict) and CLIENT_ID_PARAMETER in params


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """A validated ``$connect``: who connects, and the metadata we keep about it."""

    connection_id: str
    client_id: str
    metadata: Mapping[str, str]
    authenticated: bool = False  # client_id is the authorizer's verified claim

    @classmethod
    def from_event(
        cls, raw: Mapping[str, Any], *, capture_source_ip: bool, region: str | None
    ) -> ConnectRequest:
        connection_id, context = _request_context(raw)
        verified = _authorized_client(context)
        # with an authorizer, who the client is comes from its token: a clientId it names is ignored
        client_id = verified if verified is not None else _claimed_client(raw)
        identity = context.get("identity") or {}
        user_agent = _header(raw, "User-Agent") or identity.get("userAgent")
        metadata = {
            "sourceIp": identity.get("sourceIp") if capture_source_ip else None,
            "userAgent": user_agent[:USER_AGENT_MAX_LENGTH] if isinstance(user_agent, str) else None,
            "stage": context.get("stage"),
            "domainName": context.get("domainName"),
            "apiId": context.get("apiId"),
            "region": region,
        }
        return cls(
            connection_id=connection_id,
            client_id=client_id,
            metadata={name: value for name, value in metadata.items() if isinstance(value, str) and value},
            authenticated=verified is not None,
        )

    def item(self, *, now: float, ttl_seconds: float) -> ConnectionItem:
        return ConnectionItem.opened_at(
            now,
            ttl_seconds,
            connectionId=self.connection_id,
            clientId=self.client_id,
            authenticated=self.authenticated,
            **self.metadata,
        )


@dataclass(frozen=True, slots=True)
class DisconnectRequest:
    """A ``$disconnect``: the connection and why API Gateway says it closed."""

    connection_id: str
    status_code: int | None
    reason: str | None

    @classmethod
    def from_event(cls, raw: Mapping[str, Any]) -> DisconnectRequest:
        connection_id, context = _request_context(raw)
        status = context.get("disconnectStatusCode")
        reason = context.get("disconnectReason")
        return cls(
            connection_id=connection_id,
            status_code=status if isinstance(status, int) else None,
            reason=reason if isinstance(reason, str) else None,
        )
