"""DynamoDB's TTL process, emulated: expired items are deleted on a short period, and their
REMOVE records are marked with the TTL service's identity (moto's records carry none)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


class TtlEmulator:
    def __init__(
        self,
        dynamodb: Any,  # noqa: ANN401 - boto3 client
        table_name: str,
        ttl_attribute: str,
        on_expired: Callable[[str], None],
        *,
        period: float = 1.0,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._attribute = ttl_attribute
        self._on_expired = on_expired
        self._period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ttl", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - keep sweeping
                print(f"ttl emulation: {exc!r}")

    def sweep(self, now: float | None = None) -> int:
        """Delete every item whose TTL lies in the past; return how many."""
        now = time.time() if now is None else now
        deleted = 0
        paginator = self._dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            FilterExpression="#ttl < :now",
            ExpressionAttributeNames={"#ttl": self._attribute},
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
            ProjectionExpression="connectionId",
        )
        for page in pages:
            for item in page["Items"]:
                connection_id = item["connectionId"]["S"]
                self._on_expired(connection_id)  # before the delete: the poller may read it at once
                try:
                    self._dynamodb.delete_item(
                        TableName=self._table,
                        Key={"connectionId": {"S": connection_id}},
                        ConditionExpression="#ttl < :now",
                        ExpressionAttributeNames={"#ttl": self._attribute},
                        ExpressionAttributeValues={":now": {"N": str(int(now))}},
                    )
                except self._dynamodb.exceptions.ConditionalCheckFailedException:
                    continue
                deleted += 1
        self.deleted += deleted
        return deleted
