"""API Gateway's ``@connections`` management API: is a connection still there, close it."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from connection_tracker.clients import client

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient


class ConnectionsApiError(RuntimeError):
    """The management API failed for another reason than the connection being gone."""


class ConnectionsApi:
    def __init__(self, client: ApiGatewayManagementApiClient) -> None:
        self._client = client

    def _call(self, operation: str, connection_id: str) -> bool:
        try:
            getattr(self._client, operation)(ConnectionId=connection_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                return False
            raise ConnectionsApiError(f"{operation} {connection_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise ConnectionsApiError(f"{operation} {connection_id}: {exc}") from exc
        return True

    def is_connected(self, connection_id: str) -> bool:
        """False when API Gateway answers GoneException."""
        return self._call("get_connection", connection_id)

    def close(self, connection_id: str) -> bool:
        """Close a connection (API Gateway then sends its ``$disconnect``); False if already gone."""
        return self._call("delete_connection", connection_id)


@cache
def connections_api(endpoint: str) -> ConnectionsApi:
    """The management API of a stage, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``."""
    return ConnectionsApi(client("apigatewaymanagementapi", endpoint_url=endpoint))


def endpoint(configured: str | None, domain_name: str | None, stage: str | None) -> str | None:
    """The stage's ``@connections`` endpoint: the configured one (``CONNECTIONS_API_ENDPOINT``), else
    ``https://{domainName}/{stage}`` from the event, as API Gateway's documentation builds it for
    a handler (``None`` when neither is known)."""
    if configured:
        return configured
    return f"https://{domain_name}/{stage}" if domain_name and stage else None
