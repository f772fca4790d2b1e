"""DynamoDB's TTL process, emulated: items whose TTL has passed are deleted within a short period,
and their REMOVE records are marked with the TTL service's identity (moto's records carry none).

Like DynamoDB's own process it never scans the table: it learns every item's TTL from the
table's stream records (handed over by the stream reader, see ``StreamPoller.observers``), and
deletes each item when its time comes, conditionally on the TTL still being in the past.
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
        on_expired: Callable[[str], None],
        period: float = 1.0,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._attribute = ttl_attribute
        self._on_expired = on_expired
        super().__init__(period)
        self._due: list[tuple[float, str]] = []  # (ttl, item key as canonical JSON), a heap
        self._learned: list[tuple[float, str]] = []
        self._learned_lock = threading.Lock()

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

    def sweep(self, now: float | None = None) -> int:
        """Delete every known item whose TTL lies in the past; return how many."""
        with self._learned_lock:
            learned, self._learned = self._learned, []
        for entry in learned:
            heapq.heappush(self._due, entry)
        now = time.time() if now is None else now
        deleted = 0
        while self._due and self._due[0][0] < now:
            entry = heapq.heappop(self._due)
            key = entry[1]
            self._on_expired(key)  # before the delete: the poller may read its record at once
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
