"""DynamoDB Streams shards in the emulated stream: several open at once, each rolling over to a child.

moto gives a table's stream one shard for ever. With ``python -m local_stack up --stream-shards N
--shard-rollover-seconds S`` the moto server (``local_stack.provisioning.server``) puts a
:class:`ShardedStream` where moto keeps that shard (``table.stream_shard``):

- N shards are open at once; a change goes to the open shard its item's partition key hashes to,
  so a key's records stay in one shard, in the order they were made ("DynamoDB Streams": "For each
  item that is modified in a DynamoDB table, the stream records appear in the same sequence as the
  actual modifications to the item");
- every S seconds each open shard closes and a child opens in its place with ``ParentShardId``
  ("Reading and processing a stream": shards are ephemeral, created and deleted automatically;
  "Because shards have a lineage (parent and children), an application must always process a
  parent shard before it processes a child shard");
- ``DescribeStream`` lists every shard, a closed one with its ``EndingSequenceNumber`` (API
  reference, DescribeStream: "If both StartingSequenceNumber and EndingSequenceNumber are present,
  then that shard is closed and can no longer receive more data"), paged by ``Limit`` (at most 100)
  and ``ExclusiveStartShardId``/``LastEvaluatedShardId``;
- ``GetShardIterator`` takes any listed shard's id (``ResourceNotFoundException`` otherwise);
- ``GetRecords`` on a closed shard answers without ``NextShardIterator`` once the iterator has
  reached its last record (API reference, GetRecords: "If set to null, the shard has been closed
  and the requested iterator will not return any more data");
- a closed shard is forgotten (no longer listed) once the stream's retention has passed since it
  closed: its records are trimmed by then (24 hours, as on AWS).

Each shard is one of moto's own ``StreamShard`` objects (its records, trimming and a cancelled
transaction's take-back work as for moto's one shard); shards get disjoint ranges of sequence
numbers, a child's above its parent's. With one shard and no rollover (the default) nothing here
is installed: moto's stream is unchanged.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import weakref
import zlib
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from local_stack.periodic import Periodic

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

# moto's own first sequence number; each shard gets a block of numbers of its own above it
FIRST_SEQUENCE_NUMBER = 1_100_000_000_017_454_423_009
SEQUENCE_BLOCK = 10**12
# DescribeStream's Limit: "The maximum number of shard objects to return. The upper limit is 100."
DESCRIBE_LIMIT = 100

SHARDS_VARIABLE = "LOCAL_STREAM_SHARDS"
ROLLOVER_VARIABLE = "LOCAL_SHARD_ROLLOVER_SECONDS"


class ResourceNotFoundException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", message)


def shard_index(key: object, count: int) -> int:
    """The open shard (of ``count``) a partition key's value goes to: the same one for a key, always."""
    raw = key if isinstance(key, bytes) else str(key).encode()
    return zlib.crc32(raw) % count


def _shard_id() -> str:
    """An id shaped as DynamoDB's: ``shardId-<20 digits>-<8 hex>`` (28 to 65 characters)."""
    return f"shardId-{time.time_ns() // 1_000_000:020d}-{secrets.token_hex(4)}"


class ShardedStream:
    """A table's stream of several shards, where moto keeps its one ``StreamShard``."""

    def __init__(self, account_id: str, table: Table, count: int, lock: threading.RLock) -> None:
        self.account_id = account_id
        self.table = table
        self.created_on = utcnow()
        self._lock = lock
        self._blocks = itertools.count()
        self.shards: list[StreamShard] = []  # every shard still listed, oldest first
        self.open: list[StreamShard] = [self._new(None) for _ in range(count)]

    @property
    def id(self) -> str:  # moto reads its one shard's id in places; the first open shard stands in
        return str(self.open[0].id)

    def _new(self, parent: str | None) -> StreamShard:
        shard = StreamShard(self.account_id, self.table)
        shard.id = _shard_id()
        shard.starting_sequence_number = FIRST_SEQUENCE_NUMBER + next(self._blocks) * SEQUENCE_BLOCK
        shard.__dict__.update(parent_id=parent, ending=None, closed_at=None)
        self.shards.append(shard)
        return shard

    def add(self, old: Any, new: Any) -> None:  # noqa: ANN401 - moto's items
        """A change of an item, appended to the open shard of its partition key."""
        item = new if new is not None else old
        with self._lock:  # no rollover between choosing the shard and appending to it
            self.open[shard_index(item.hash_key.value, len(self.open))].add(old, new)

    def roll_over(self, retention: float) -> None:
        """Close every open shard (its last sequence number is its end) and open a child in its
        place; forget closed shards whose records the retention has trimmed."""
        now = time.time()
        with self._lock:
            for position, shard in enumerate(self.open):
                shard.__dict__.update(
                    ending=shard.starting_sequence_number + len(shard.items) - 1, closed_at=now
                )
                self.open[position] = self._new(shard.id)
            self.shards = [
                shard
                for shard in self.shards
                if shard.__dict__["closed_at"] is None or now - shard.__dict__["closed_at"] < retention
            ]

    def find(self, shard_id: str) -> StreamShard:
        with self._lock:
            for shard in self.shards:
                if shard.id == shard_id:
                    return shard
        raise ResourceNotFoundException(f"Requested resource not found: Shard: {shard_id} in Stream")

    def describe(
        self, limit: int | None, exclusive_start: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the shards, and the last one's id when more follow."""
        with self._lock:
            shards = list(self.shards)
        if exclusive_start is not None:
            ids = [shard.id for shard in shards]
            shards = shards[ids.index(exclusive_start) + 1 :] if exclusive_start in ids else []
        limit = min(limit or DESCRIBE_LIMIT, DESCRIBE_LIMIT)
        page = shards[:limit]
        return [describe_shard(shard) for shard in page], page[-1].id if len(shards) > limit else None


def describe_shard(shard: StreamShard) -> dict[str, Any]:
    start = shard.starting_sequence_number
    numbers = {"StartingSequenceNumber": str(start)}
    ending = shard.__dict__.get("ending")
    if ending is not None:  # closed; an empty closed shard shows its range as its first number
        numbers["EndingSequenceNumber"] = str(max(ending, start))
    described: dict[str, Any] = {"ShardId": shard.id, "SequenceNumberRange": numbers}
    if shard.__dict__.get("parent_id"):
        described["ParentShardId"] = shard.__dict__["parent_id"]
    return described


def _get(self: ShardIterator, limit: int = 1000) -> dict[str, Any]:
    """moto's ``ShardIterator.get``, ending on a closed shard: no ``NextShardIterator`` once the
    iterator is past the shard's last record."""
    items = self.stream_shard.get(self.sequence_number, limit)
    position = int(items[-1]["dynamodb"]["SequenceNumber"]) + 1 if items else self.sequence_number
    page: dict[str, Any] = {"Records": items}
    ending = self.stream_shard.__dict__.get("ending")
    if ending is not None and position > ending:
        return page
    following = ShardIterator(self.streams_backend, self.stream_shard, "AT_SEQUENCE_NUMBER", position)
    self.streams_backend.shard_iterators[following.arn] = following
    page["NextShardIterator"] = following.arn
    return page


def from_environment() -> tuple[int, float]:
    """The shards and rollover period the stack asked for (``LOCAL_STREAM_SHARDS``,
    ``LOCAL_SHARD_ROLLOVER_SECONDS``; 0: never)."""
    count = int(os.environ.get(SHARDS_VARIABLE) or 1)
    if count < 1:
        raise ValueError(f"{SHARDS_VARIABLE} must be at least 1")
    return count, float(os.environ.get(ROLLOVER_VARIABLE) or 0)


def install(lock: threading.RLock, retention: Callable[[], float], count: int, rollover: float) -> None:
    """``count`` open shards per stream, rolled over every ``rollover`` seconds (0: by
    :meth:`ShardedStream.roll_over` only); nothing with one shard and no rollover. ``lock``: the
    server's lock of every stream append; ``retention``: how long the stream keeps records."""
    if count == 1 and not rollover:
        return
    sharded_streams: weakref.WeakSet[ShardedStream] = weakref.WeakSet()
    set_stream_specification = Table.set_stream_specification

    def sharded(self: Table, streams: dict[str, Any] | None) -> None:
        set_stream_specification(self, streams)
        if self.stream_shard is not None and not isinstance(self.stream_shard, ShardedStream):
            stream = ShardedStream(self.account_id, self, count, lock)
            self.stream_shard = stream  # type: ignore[assignment]
            sharded_streams.add(stream)

    def describe_stream(
        self: DynamoDBStreamsBackend, arn: str, limit: int | None = None, start: str | None = None
    ) -> dict[str, Any]:
        table = self._get_table_from_arn(arn)
        stream = table.stream_shard
        if not isinstance(stream, ShardedStream):
            return describe_one(self, arn)
        shards, last = stream.describe(limit, start)
        described = {
            "StreamArn": arn,
            "StreamLabel": table.latest_stream_label,
            "StreamStatus": "ENABLED",
            "StreamViewType": table.stream_specification["StreamViewType"],
            "CreationRequestDateTime": stream.created_on,
            "TableName": table.name,
            "KeySchema": table.schema,
            "Shards": shards,
        }
        if last is not None:
            described["LastEvaluatedShardId"] = last
        return described

    def get_shard_iterator(
        self: DynamoDBStreamsBackend,
        arn: str,
        shard_id: str,
        shard_iterator_type: str,
        sequence_number: str | None = None,
    ) -> ShardIterator:
        stream = self._get_table_from_arn(arn).stream_shard
        if not isinstance(stream, ShardedStream):
            return one_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)
        iterator = ShardIterator(self, stream.find(shard_id), shard_iterator_type, sequence_number)
        self.shard_iterators[iterator.arn] = iterator
        return iterator

    def describe_stream_paged(self: DynamoDBStreamsHandler) -> ActionResult:
        stream = self.backend.describe_stream(  # type: ignore[call-arg]
            self._get_param("StreamArn"), self._get_param("Limit"), self._get_param("ExclusiveStartShardId")
        )
        return ActionResult({"StreamDescription": stream})

    describe_one, one_iterator = (
        DynamoDBStreamsBackend.describe_stream,
        DynamoDBStreamsBackend.get_shard_iterator,
    )
    Table.set_stream_specification = sharded  # type: ignore[method-assign]
    DynamoDBStreamsBackend.describe_stream = describe_stream  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsHandler.describe_stream = describe_stream_paged  # type: ignore[method-assign]
    ShardIterator.get = _get  # type: ignore[method-assign]
    if rollover:
        Rollover(rollover, sharded_streams, retention).start()


class Rollover(Periodic):
    """Every period each open shard of every sharded stream closes and a child opens."""

    name = "shard-rollover"

    def __init__(
        self, period: float, streams: weakref.WeakSet[ShardedStream], retention: Callable[[], float]
    ) -> None:
        super().__init__(period)
        self._streams = streams
        self._retention = retention

    def round(self) -> None:
        for stream in list(self._streams):
            stream.roll_over(self._retention())
