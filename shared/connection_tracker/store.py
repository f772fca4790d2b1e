"""Data access to the connections table (low-level client, one request per operation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from connection_tracker.clients import client
from connection_tracker.models import ConnectionItem, plain_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

CLIENT_INDEX = "ByClient"


class StoreError(RuntimeError):
    """DynamoDB refused or failed a request, after botocore's retries."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class ConnectionExists(StoreError):
    """An item with this connectionId is already stored; it was left untouched."""


def dynamodb_client() -> DynamoDBClient:
    dynamodb: DynamoDBClient = client("dynamodb")
    return dynamodb


def store_error(operation: str, exc: Exception) -> StoreError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return StoreError(operation, error.get("Code", "Unknown"), error.get("Message", str(exc)))
    return StoreError(operation, type(exc).__name__, str(exc))


class ConnectionStore:
    """The connections table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def put_new(self, item: ConnectionItem) -> None:
        """Write ``item`` unless its connectionId is already stored (never overwrites)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item.to_dynamodb(),
                ConditionExpression="attribute_not_exists(connectionId)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConnectionExists(
                    "PutItem", "ConditionalCheckFailedException", "already stored"
                ) from exc
            raise store_error("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise store_error("PutItem", exc) from exc

    def get(self, connection_id: str) -> ConnectionItem | None:
        """Strongly consistent read of one connection."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=_key(connection_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error("GetItem", exc) from exc
        item = response.get("Item")
        return ConnectionItem.from_dynamodb(item) if item else None

    def delete(self, connection_id: str) -> dict[str, Any] | None:
        """Remove a connection (idempotent); return the removed item's attributes, if there was one.

        The old attributes come back as plain values, unvalidated: a malformed item must still go.
        """
        try:
            response = self.client.delete_item(
                TableName=self.table_name, Key=_key(connection_id), ReturnValues="ALL_OLD"
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error("DeleteItem", exc) from exc
        old = response.get("Attributes")
        return plain_attributes(old) if old else None

    def client_connections(self, client_id: str) -> list[tuple[str, int]]:
        """(connectionId, createdAt) of a client's connections, oldest first (index ``ByClient``)."""
        found: list[tuple[str, int]] = []
        try:
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table_name,
                IndexName=CLIENT_INDEX,
                KeyConditionExpression="clientId = :client",
                ExpressionAttributeValues={":client": {"S": client_id}},
                ScanIndexForward=True,
            )
            for page in pages:
                found.extend(
                    (item["connectionId"]["S"], int(item["createdAt"]["N"])) for item in page["Items"]
                )
        except (ClientError, BotoCoreError) as exc:
            raise store_error("Query", exc) from exc
        return found

    def scan_page(
        self, start_key: str | None, limit: int = 100
    ) -> tuple[list[tuple[str, int | None]], str | None]:
        """One page of (connectionId, createdAt) and the key to continue from (None at the end)."""
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "ProjectionExpression": "connectionId, createdAt",
            "Limit": limit,
        }
        if start_key:
            arguments["ExclusiveStartKey"] = _key(start_key)
        try:
            page = self.client.scan(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise store_error("Scan", exc) from exc
        items = [
            (item["connectionId"]["S"], int(item["createdAt"]["N"]) if "createdAt" in item else None)
            for item in page["Items"]
        ]
        last = page.get("LastEvaluatedKey")
        return items, last["connectionId"]["S"] if last else None

    def connection_ids(self) -> list[str]:
        """Every connectionId in the table (a paginated scan of the keys)."""
        ids: list[str] = []
        start: str | None = None
        while True:
            page, start = self.scan_page(start, limit=1000)
            ids.extend(connection_id for connection_id, _ in page)
            if start is None:
                return ids


def _key(connection_id: str) -> dict[str, Any]:
    return {"connectionId": {"S": connection_id}}
