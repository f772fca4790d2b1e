"""The counters table: the one owner of its key, its item kinds and their access.

Items, by their partition key ``counter``:

| item | attributes | written by |
|---|---|---|
| ``activeConnections`` | ``count`` | the gauge (``gauge``), corrected by the reconciliation |
| ``conn#<connectionId>`` | ``open``; ``expiresAt`` (the table's TTL attribute) once closed | the gauge |
| ``sweeper#cursor`` | ``after``: the connectionId the last sweep stopped after | the sweeper |

Every failure is raised as the layer's :class:`~connection_tracker.store.StoreError` (or its
:class:`TransactionCancelled`), never as a raw ``ClientError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from connection_tracker.store import StoreError, store_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

KEY = "counter"
EXPIRES = "expiresAt"  # the counters table's TTL attribute (template.yaml, CountersTable)
COUNT_ITEM = "activeConnections"
MARKER_PREFIX = "conn#"
CURSOR_ITEM = "sweeper#cursor"


class TransactionCancelled(StoreError):
    """DynamoDB cancelled a transaction; ``reasons`` holds one code per action (``"None"`` where
    that action was fine), as ``CancellationReasons`` gives them."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("TransactWriteItems", "TransactionCanceledException", ", ".join(reasons))
        self.reasons = reasons


def _key(name: str) -> dict[str, Any]:
    return {KEY: {"S": name}}


class CountersTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    # ----- the gauge: markers and the count, changed in transactions ---------------------------
    def open_marker_action(self, connection_id: str) -> dict[str, Any]:
        """Create the connection's marker, open, unless it exists (open or closed)."""
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {**_key(f"{MARKER_PREFIX}{connection_id}"), "open": {"BOOL": True}},
                "ConditionExpression": "attribute_not_exists(#key)",
                "ExpressionAttributeNames": {"#key": KEY},
            }
        }

    def close_marker_action(self, connection_id: str, expires_at: int) -> dict[str, Any]:
        """Close the connection's open marker and let it expire at ``expires_at`` (epoch seconds)."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(f"{MARKER_PREFIX}{connection_id}"),
                "UpdateExpression": "SET #open = :closed, #expires = :expires",
                "ConditionExpression": "#open = :open",
                "ExpressionAttributeNames": {"#open": "open", "#expires": EXPIRES},
                "ExpressionAttributeValues": {
                    ":open": {"BOOL": True},
                    ":closed": {"BOOL": False},
                    ":expires": {"N": str(expires_at)},
                },
            }
        }

    def count_action(self, delta: int) -> dict[str, Any]:
        """Add ``delta`` to the count."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(COUNT_ITEM),
                "UpdateExpression": "ADD #count :delta",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
            }
        }

    def transact(self, actions: Sequence[dict[str, Any]]) -> None:
        """All of ``actions`` or none. Raises :class:`TransactionCancelled` or ``StoreError``."""
        try:
            self._client.transact_write_items(TransactItems=list(actions))  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
                raise TransactionCancelled(reasons) from exc
            raise store_error("TransactWriteItems", exc) from exc
        except BotoCoreError as exc:
            raise store_error("TransactWriteItems", exc) from exc

    def count(self) -> int:
        """The count, read strongly consistent (0 before the first change)."""
        item = self._get(COUNT_ITEM)
        return int(item["count"]["N"]) if item and "count" in item else 0

    def add_to_count(self, delta: int) -> None:
        try:
            self._client.update_item(**self.count_action(delta)["Update"])
        except (ClientError, BotoCoreError) as exc:
            raise store_error("UpdateItem", exc) from exc

    def mark_open(self, connection_id: str) -> None:
        """Open the connection's marker, even over a closed one (the reconciliation's repair)."""
        self._put({**_key(f"{MARKER_PREFIX}{connection_id}"), "open": {"BOOL": True}})

    def open_markers(self) -> set[str]:
        """The connections whose markers are open (a paginated, consistent scan)."""
        found: set[str] = set()
        try:
            for page in self._client.get_paginator("scan").paginate(
                TableName=self.table_name,
                ProjectionExpression="#key",
                FilterExpression="#open = :open",
                ExpressionAttributeNames={"#key": KEY, "#open": "open"},
                ExpressionAttributeValues={":open": {"BOOL": True}},
                ConsistentRead=True,
            ):
                found |= {
                    item[KEY]["S"].removeprefix(MARKER_PREFIX)
                    for item in page["Items"]
                    if item[KEY]["S"].startswith(MARKER_PREFIX)
                }
        except (ClientError, BotoCoreError) as exc:
            raise store_error("Scan", exc) from exc
        return found

    # ----- the sweeper's cursor ---------------------------------------------------------------
    def load_cursor(self) -> str | None:
        """Where the last sweep stopped (``None``: start from the beginning)."""
        item = self._get(CURSOR_ITEM)
        return item["after"]["S"] if item and "after" in item else None

    def save_cursor(self, after: str | None) -> None:
        item: dict[str, Any] = _key(CURSOR_ITEM)
        if after is not None:
            item["after"] = {"S": after}
        self._put(item)

    # ----- plumbing -------------------------------------------------------------------------------
    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            item = self._client.get_item(TableName=self.table_name, Key=_key(name), ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error("GetItem", exc) from exc
        return dict(item) if item else None

    def _put(self, item: dict[str, Any]) -> None:
        try:
            self._client.put_item(TableName=self.table_name, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise store_error("PutItem", exc) from exc
