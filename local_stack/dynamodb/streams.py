"""DynamoDB Streams records as Lambda's event source mapping hands them to a function."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from mypy_boto3_dynamodbstreams.client import DynamoDBStreamsClient


# GetRecords returns at most 1,000 records (DynamoDB Streams API reference: GetRecords, Limit).
PAGE_LIMIT = 1000


def lambda_record(record: dict[str, Any], event_source_arn: str) -> dict[str, Any]:
    """A record from the Streams API (as boto3 parses it) in the shape Lambda delivers it."""
    delivered = {**record, "dynamodb": dict(record["dynamodb"]), "eventSourceARN": event_source_arn}
    created = delivered["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3 parses the timestamp; Lambda sends epoch seconds
        delivered["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    return delivered


def lambda_event(records: Iterable[dict[str, Any]], event_source_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(record, event_source_arn) for record in records]}


def read_all(client: DynamoDBStreamsClient, stream_arn: str) -> Iterator[dict[str, Any]]:
    """Every record currently in the stream, shard by shard, from the trim horizon."""
    reader = StreamReader(client, stream_arn)
    for shard_id in reader.shards():
        yield from reader.read(shard_id)


class StreamReader:
    """Reads a stream's new records shard by shard, each shard from ``starting_position`` on.

    A shard found after the first listing whose parent was listed (a child opened at a rollover)
    is read from its trim horizon: nothing written to it before it was found is skipped. A closed
    shard read to its end is ``drained`` (GetRecords gave no ``NextShardIterator``: "the shard has
    been closed and the requested iterator will not return any more data", API reference,
    GetRecords). An expired iterator is renewed after the last record read. Records trimmed before
    they were read (older than the stream's retention) are lost, as on AWS: ``on_trimmed`` is told,
    and reading goes on from the oldest record left.
    """

    def __init__(
        self,
        client: Any,  # noqa: ANN401 - boto3 dynamodbstreams client
        stream_arn: str,
        starting_position: str = "TRIM_HORIZON",
        on_trimmed: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self.stream_arn = stream_arn
        self._starting_position = starting_position
        self._on_trimmed = on_trimmed
        self._iterators: dict[str, str | None] = {}
        self._last: dict[str, str] = {}  # shard -> sequence number of the last record read
        self.parents: dict[str, str | None] = {}  # shard -> its ParentShardId (None: none)

    def _iterator(self, shard_id: str, kind: str, after: str | None = None) -> str:
        arguments = {"StreamArn": self.stream_arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if after is not None:
            arguments["SequenceNumber"] = after
        return str(self._client.get_shard_iterator(**arguments)["ShardIterator"])

    def _described(self) -> Iterator[dict[str, Any]]:
        """Every shard DescribeStream lists, page by page (``LastEvaluatedShardId``)."""
        arguments = {"StreamArn": self.stream_arn}
        while True:
            description = self._client.describe_stream(**arguments)["StreamDescription"]
            yield from description["Shards"]
            if not description.get("LastEvaluatedShardId"):
                return
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def shards(self) -> list[str]:
        """The shards known, the new ones with an iterator (parents listed before children)."""
        first = not self._iterators
        for shard in self._described():
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            parent = shard.get("ParentShardId")
            self.parents[shard_id] = parent
            position = "TRIM_HORIZON" if not first and parent in self.parents else self._starting_position
            self._iterators[shard_id] = self._iterator(shard_id, position)
        return list(self._iterators)

    def drained(self, shard_id: str) -> bool:
        """The shard is closed and every record of it has been read."""
        return shard_id in self._iterators and self._iterators[shard_id] is None

    def read(self, shard_id: str) -> Iterator[dict[str, Any]]:
        """The records of ``shard_id`` that arrived since the last read (boto3's parsed shape): one
        GetRecords, more only while pages come back full (a backlog). A poll is one read: reading
        until an empty page under a steady load never ended (a record arrived during every call)."""
        errors = self._client.exceptions
        while iterator := self._iterators.get(shard_id):
            try:
                page = self._client.get_records(ShardIterator=iterator, Limit=PAGE_LIMIT)
            except errors.ExpiredIteratorException:
                last = self._last.get(shard_id)
                self._iterators[shard_id] = (
                    self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", last)
                    if last
                    else self._iterator(shard_id, self._starting_position)
                )
                continue
            except errors.TrimmedDataAccessException:
                if self._on_trimmed is not None:
                    self._on_trimmed(shard_id)
                self._iterators[shard_id] = self._iterator(shard_id, "TRIM_HORIZON")
                continue
            self._iterators[shard_id] = page.get("NextShardIterator")
            if page["Records"]:
                self._last[shard_id] = page["Records"][-1]["dynamodb"]["SequenceNumber"]
                yield from page["Records"]
            if len(page["Records"]) < PAGE_LIMIT:
                return


def without_split_inserts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """moto's quirk undone: an UpdateItem on a new key gives two INSERT records (the key alone, then
    the item) where DynamoDB gives one. A key-only INSERT directly followed by an INSERT of the
    same key is dropped."""
    kept: list[dict[str, Any]] = []
    for record in records:
        previous = kept[-1] if kept else None
        if (
            previous is not None
            and record.get("eventName") == previous.get("eventName") == "INSERT"
            and record["dynamodb"].get("Keys") == previous["dynamodb"].get("Keys")
            and previous["dynamodb"].get("NewImage") == previous["dynamodb"].get("Keys")
        ):
            kept[-1] = record
            continue
        kept.append(record)
    return kept
