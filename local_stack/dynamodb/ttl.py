"""DynamoDB's TTL process, emulated: items whose TTL has passed are deleted within a short period,
and their REMOVE records are marked with the TTL service's identity (moto's records carry none).

Every table whose template enables TTL has it, with a stream or without. A table whose stream a
function reads is never scanned: the process learns every item's TTL from the stream records
(handed over by the stream reader, see ``StreamPoller.observers``). Any other table (the counters
table: its shards' markers) is scanned for expired items each sweep (DynamoDB's own process reads
tables in the background; these are small, and the TTL process is not billed). Each item is deleted
when its time comes, conditionally on the TTL still being in the past.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from local_stack.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable


def item_key(keys: dict[str, Any]) -> str:
    """An item's key (a stream record's ``Keys``, typed JSON) as one comparable string."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


class TtlEmulator(Periodic):
    name = "ttl"

    def __init__(
        self,
        dynamodb: Any,  # noqa: ANN401 - boto3 client
        *,
        table_name: str,
        ttl_attribute: str,
        on_expired: Callable[[str], None] | None = None,
        period: float = 1.0,
        scan: bool = False,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._attribute = ttl_attribute
        self._on_expired = on_expired
        self._scan = scan  # no stream to learn from: each sweep scans the table
        self._keys: list[str] | None = None
        super().__init__(period)
        self._due: list[tuple[float, str]] = []  # (ttl, item key as canonical JSON), a heap
        self._learned: list[tuple[float, str]] = []
        self._learned_lock = threading.Lock()
        self._sweeping = threading.Lock()  # the periodic sweep, or one asked for (``/_local/ttl``)

    def round(self) -> None:
        self.sweep()

    def learn(self, records: list[dict[str, Any]]) -> None:
        """Stream records (as the Streams API gives them): note the TTL of every item written."""
        learned = []
        for record in records:
            image = record["dynamodb"].get("NewImage") or {}
            ttl = image.get(self._attribute, {}).get("N")
            keys = record["dynamodb"].get("Keys")
            if ttl is not None and keys and record["eventName"] in ("INSERT", "MODIFY"):
                learned.append((float(ttl), item_key(keys)))
        with self._learned_lock:
            self._learned.extend(learned)

    def _scan_due(self, now: float) -> None:
        """Learn the items of the table whose TTL lies before ``now`` (a scan, filtered)."""
        if self._keys is None:
            schema = self._dynamodb.describe_table(TableName=self._table)["Table"]["KeySchema"]
            self._keys = [key["AttributeName"] for key in schema]
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="#ttl < :now",
            ExpressionAttributeNames={"#ttl": self._attribute},
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            ConsistentRead=True,
        )
        due = [
            (float(item[self._attribute]["N"]), item_key({name: item[name] for name in self._keys}))
            for page in pages
            for item in page["Items"]
        ]
        with self._learned_lock:
            self._learned.extend(due)

    def sweep(self, now: float | None = None) -> int:
        """Delete every known item whose TTL lies before ``now`` (default: the clock); return how
        many."""
        now = time.time() if now is None else now
        with self._sweeping:
            return self._sweep(now)

    def _sweep(self, now: float) -> int:
        if self._scan:
            self._scan_due(now)
        with self._learned_lock:
            learned, self._learned = self._learned, []
        for entry in learned:
            heapq.heappush(self._due, entry)
        deleted = 0
        while self._due and self._due[0][0] < now:
            entry = heapq.heappop(self._due)
            key = entry[1]
            if self._on_expired is not None:  # before the delete: the poller may read its record at once
                self._on_expired(key)
            try:
                self._dynamodb.delete_item(
                    TableName=self._table,
                    Key=json.loads(key),
                    ConditionExpression="#ttl < :now",
                    ExpressionAttributeNames={"#ttl": self._attribute},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
                )
            except self._dynamodb.exceptions.ConditionalCheckFailedException:
                continue  # gone already, or its TTL moved on (a MODIFY record tells us when)
            except Exception:
                # the request failed (the emulation busy, a connection reset): the item is still due,
                # and is deleted by a later sweep, as DynamoDB deletes expired items eventually
                heapq.heappush(self._due, entry)
                raise
            deleted += 1
        return deleted
