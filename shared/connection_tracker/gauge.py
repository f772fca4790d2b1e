"""The exact ``ActiveConnections`` gauge, kept in the counters table and replay-safe.

The counters table holds one count item and one marker item per connection (``conn#<id>``).
Applying a connection event writes, in one transaction, the marker change and the count change:
INSERT creates the marker, open, if there is none; REMOVE closes an open marker and gives it a TTL
(a day: far beyond the stream's retries), so a replayed INSERT of a closed connection still finds
it. A record Lambda delivers again (a retried batch, a re-batched bisection, a crash after the
write but before the response) finds its marker already in that state: the transaction names it,
and it is applied without it. Every change is atomic, so no crash can leave count and markers
apart.

Only the records before a batch's first failure are applied: Lambda delivers that record and
everything after it again, in order, so a REMOVE is never applied before its INSERT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

KEY = "counter"
EXPIRES = "expiresAt"  # the counters table's TTL attribute
COUNT_ITEM = "activeConnections"
MARKER_PREFIX = "conn#"
TOMBSTONE_SECONDS = 86_400
# TransactWriteItems takes 100 actions: 99 markers and the count.
_CHUNK = 99


@dataclass(frozen=True, slots=True)
class Change:
    connection_id: str
    delta: int  # +1 opened, -1 closed or expired
    position: int = 0  # index of the record in its batch


class GaugeUpdateFailed(RuntimeError):
    """A transaction failed (after botocore's retries) for a reason other than a replay.

    ``position`` is the batch index of the first change not applied; every change before it is.
    """

    def __init__(self, position: int, cause: str) -> None:
        super().__init__(f"gauge update failed at record {position}: {cause}")
        self.position = position


class ActiveConnectionsGauge:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def _marker(self, connection_id: str) -> dict[str, Any]:
        return {KEY: {"S": f"{MARKER_PREFIX}{connection_id}"}}

    def _action(self, change: Change) -> dict[str, Any]:
        if change.delta > 0:
            return {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {**self._marker(change.connection_id), "open": {"BOOL": True}},
                    "ConditionExpression": "attribute_not_exists(#key)",
                    "ExpressionAttributeNames": {"#key": KEY},
                }
            }
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": self._marker(change.connection_id),
                "UpdateExpression": "SET #open = :closed, #expires = :expires",
                "ConditionExpression": "#open = :open",
                "ExpressionAttributeNames": {"#open": "open", "#expires": EXPIRES},
                "ExpressionAttributeValues": {
                    ":open": {"BOOL": True},
                    ":closed": {"BOOL": False},
                    ":expires": {"N": str(int(time.time()) + TOMBSTONE_SECONDS)},
                },
            }
        }

    def _count_action(self, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {KEY: {"S": COUNT_ITEM}},
                "UpdateExpression": "ADD #count :delta",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
            }
        }

    def apply(self, changes: Sequence[Change]) -> int:
        """Apply the changes that are not applied yet, in order; return how many were.

        Raises :class:`GaugeUpdateFailed` at the first chunk that fails: the chunks before it are
        applied, and applying them again later (a redelivery) changes nothing.
        """
        applied = 0
        for chunk in _chunks(changes):
            try:
                applied += self._apply_chunk(chunk)
            except (ClientError, BotoCoreError) as exc:
                raise GaugeUpdateFailed(chunk[0].position, str(exc)) from exc
        return applied

    def _apply_chunk(self, changes: list[Change]) -> int:
        while changes:
            delta = sum(change.delta for change in changes)
            actions = [self._action(change) for change in changes]
            if delta:
                actions.append(self._count_action(delta))
            try:
                self._client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])
                replayed = {
                    index
                    for index, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if not replayed:  # cancelled for another reason (a conflict): let Lambda retry
                    raise
                changes = [change for index, change in enumerate(changes) if index not in replayed]
                continue
            return len(changes)
        return 0

    def count(self) -> int:
        item = self._client.get_item(
            TableName=self.table_name, Key={KEY: {"S": COUNT_ITEM}}, ConsistentRead=True
        ).get("Item")
        return int(item["count"]["N"]) if item and "count" in item else 0

    # ----- reconcile ---------------------------------------------------------------------------
    def markers(self) -> set[str]:
        """The connections whose markers are open."""
        found: set[str] = set()
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
        return found

    def reconcile(self, live: Iterable[str]) -> dict[str, int]:
        """Make markers and count agree with the live connections; return the drift found."""
        live_ids = set(live)
        marked = self.markers()
        missing = sorted(live_ids - marked)
        orphaned = sorted(marked - live_ids)
        for connection_id in missing:  # open, even over a tombstone: the item is there
            self._client.put_item(
                TableName=self.table_name, Item={**self._marker(connection_id), "open": {"BOOL": True}}
            )
        self.apply([Change(connection_id, -1) for connection_id in orphaned])
        before = self.count()
        drift = len(live_ids) - before
        if drift:
            self._client.update_item(**self._count_action(drift)["Update"])
        return {
            "live": len(live_ids),
            "countBefore": before,
            "drift": drift,
            "missingMarkers": len(missing),
            "orphanedMarkers": len(orphaned),
        }


def _chunks(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive groups of at most 99 changes in which no connection appears twice (a
    transaction may touch an item once), in their order."""
    chunks: list[list[Change]] = [[]]
    seen: set[str] = set()
    for change in changes:
        if len(chunks[-1]) == _CHUNK or change.connection_id in seen:
            chunks.append([])
            seen = set()
        chunks[-1].append(change)
        seen.add(change.connection_id)
    return [chunk for chunk in chunks if chunk]
