"""The counters table: the one owner of its key, its item kinds and their access.

Items, by their partition key ``counter``:

| item | attributes | written by |
|---|---|---|
| ``activeConnections`` | ``count`` | the gauge (``gauge``), corrected by the reconciliation |
| ``shard#<shardId>`` | ``appliedThrough`` (highest sequence number applied); ``expiresAt`` | the gauge |
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
SHARD_PREFIX = "shard#"
# DynamoDB Streams sequence numbers are 21 to 40 digits (DynamoDB Streams API reference,
# StreamRecord: SequenceNumber): zero-padded to 40 they compare as strings as they do as numbers
# (a number attribute holds 38 digits at most).
SEQUENCE_DIGITS = 40
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

    # ----- the gauge: the shards' markers and the count, changed in transactions ---------------
    def applied_marker_action(self, shard_id: str, sequence_number: str, expires_at: int) -> dict[str, Any]:
        """Record that the shard is applied through ``sequence_number``, unless it already is
        (through it or a later one); the marker expires at ``expires_at`` (epoch seconds)."""
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    **_key(f"{SHARD_PREFIX}{shard_id}"),
                    "appliedThrough": {"S": sequence_number.zfill(SEQUENCE_DIGITS)},
                    EXPIRES: {"N": str(expires_at)},
                },
                "ConditionExpression": "attribute_not_exists(#through) OR #through < :through",
                "ExpressionAttributeNames": {"#through": "appliedThrough"},
                "ExpressionAttributeValues": {":through": {"S": sequence_number.zfill(SEQUENCE_DIGITS)}},
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
