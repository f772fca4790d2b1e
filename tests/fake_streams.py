"""The DynamoDB Streams API held in memory, for the event source mapping's unit tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

T0 = 1_730_212_320  # 2024-10-29T14:32:00Z, on a minute: a 60-second window starts here


class Streams:
    """The DynamoDB Streams API over shards in memory: DescribeStream, GetShardIterator, GetRecords
    (no NextShardIterator once a closed shard is read to its end)."""

    exceptions = SimpleNamespace(
        ExpiredIteratorException=type("ExpiredIteratorException", (Exception,), {}),
        TrimmedDataAccessException=type("TrimmedDataAccessException", (Exception,), {}),
    )

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self._numbers = iter(range(1, 10**6))

    def shard(self, shard_id: str, parent: str | None = None, *, closed: bool = False) -> None:
        self.shards[shard_id] = {"parent": parent, "records": [], "closed": closed}

    def write(self, shard_id: str, key: str, created: int = T0 + 1) -> None:
        number = str(next(self._numbers))
        self.shards[shard_id]["records"].append(
            {
                "eventName": "INSERT",
                "dynamodb": {
                    "Keys": {"k": {"S": key}},
                    "SequenceNumber": number,
                    "ApproximateCreationDateTime": created,
                },
            }
        )

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        shards = [
            {"ShardId": shard_id, **({"ParentShardId": held["parent"]} if held["parent"] else {})}
            for shard_id, held in self.shards.items()
        ]
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(self, ShardId: str, ShardIteratorType: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        start = len(self.shards[ShardId]["records"]) if ShardIteratorType == "LATEST" else 0
        return {"ShardIterator": f"{ShardId}|{start}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        shard_id, position = ShardIterator.rsplit("|", 1)
        held = self.shards[shard_id]
        records = held["records"][int(position) : int(position) + Limit]
        following = int(position) + len(records)
        page: dict[str, Any] = {"Records": records}
        if not (held["closed"] and following >= len(held["records"])):
            page["NextShardIterator"] = f"{shard_id}|{following}"
        return page
