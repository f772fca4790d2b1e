"""Data access to the connections table (low-level client, one request per operation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from connection_tracker.models import ConnectionItem, plain_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# botocore's standard retry mode: throttling and transient errors are retried with backoff,
# three attempts in all; timeouts well inside API Gateway's 29 s integration limit.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)


class StoreError(RuntimeError):
    """DynamoDB refused or failed a request, after botocore's retries."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class ConnectionExists(StoreError):
    """An item with this connectionId is already stored; it was left untouched."""


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=CLIENT_CONFIG)


def _store_error(operation: str, exc: Exception) -> StoreError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return StoreError(operation, error.get("Code", "Unknown"), error.get("Message", str(exc)))
    return StoreError(operation, type(exc).__name__, str(exc))


class ConnectionStore:
    """The connections table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def put_new(self, item: ConnectionItem) -> None:
        """Write ``item`` unless its connectionId is already stored (never overwrites)."""
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item.to_dynamodb(),
                ConditionExpression="attribute_not_exists(connectionId)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConnectionExists(
                    "PutItem", "ConditionalCheckFailedException", "already stored"
                ) from exc
            raise _store_error("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise _store_error("PutItem", exc) from exc

    def get(self, connection_id: str) -> ConnectionItem | None:
        """Strongly consistent read of one connection."""
        try:
            response = self._client.get_item(
                TableName=self.table_name, Key=_key(connection_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("GetItem", exc) from exc
        item = response.get("Item")
        return ConnectionItem.from_dynamodb(item) if item else None

    def delete(self, connection_id: str) -> dict[str, Any] | None:
        """Remove a connection (idempotent); return the removed item's attributes, if there was one.

        The old attributes come back as plain values, unvalidated: a malformed item must still go.
        """
        try:
            response = self._client.delete_item(
                TableName=self.table_name, Key=_key(connection_id), ReturnValues="ALL_OLD"
            )
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("DeleteItem", exc) from exc
        old = response.get("Attributes")
        return plain_attributes(old) if old else None


def _key(connection_id: str) -> dict[str, Any]:
    return {"connectionId": {"S": connection_id}}
