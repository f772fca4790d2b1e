"""The local AWS emulation (``local_stack.moto_server``): transactions all or nothing with moto's
cancellation reasons, at the cost of the items they touch rather than the tables they touch; streams
that trim records after their retention and iterators that expire, as DynamoDB Streams does."""

from __future__ import annotations

import copy

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend

from local_stack import moto_server
from local_stack.streams import StreamReader


@pytest.fixture
def journaled():
    """moto with the launcher's patches, taken back afterwards (they are process-wide)."""
    saved = (
        DynamoDBBackend.transact_write_items,
        StreamShard.add,
        StreamShard.get,
        DynamoDBStreamsBackend.get_shard_iterator,
        DynamoDBStreamsBackend.get_records,
    )
    moto_server._serialize_stream_appends()
    moto_server._journal_transactions()
    moto_server._expire_iterators()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
            yield client
    finally:
        (
            DynamoDBBackend.transact_write_items,
            StreamShard.add,
            StreamShard.get,
            DynamoDBStreamsBackend.get_shard_iterator,
            DynamoDBStreamsBackend.get_records,
        ) = saved


def _shards():
    from moto.dynamodb.models import dynamodb_backends

    return [table.stream_shard for table in dynamodb_backends["123456789012"]["us-east-1"].tables.values()]


def put(key: str, value: str) -> dict:
    return {"Put": {"TableName": "t", "Item": {"k": {"S": key}, "v": {"S": value}}}}


def items(client) -> dict[str, str]:
    return {i["k"]["S"]: i["v"]["S"] for i in client.scan(TableName="t", ConsistentRead=True)["Items"]}


def stream(client):
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams, arn, shard


def stream_records(client) -> list[str]:
    streams, arn, shard = stream(client)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [r["dynamodb"]["Keys"]["k"]["S"] for r in records]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(moto_server, "_now", fake)
    monkeypatch.setattr(moto_server, "STREAM_RETENTION_SECONDS", 60.0)
    return fake


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(journaled):
    client = journaled
    client.transact_write_items(TransactItems=[put("a", "1"), put("b", "1")])
    failing = {
        "Update": {
            "TableName": "t",
            "Key": {"k": {"S": "b"}},
            "UpdateExpression": "SET v = :v",
            "ConditionExpression": "v = :expected",
            "ExpressionAttributeValues": {":v": {"S": "2"}, ":expected": {"S": "not this"}},
        }
    }
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(TransactItems=[put("a", "2"), put("c", "2"), failing])

    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert items(client) == {"a": "1", "b": "1"}  # a restored, c never there
    assert stream_records(client) == ["a", "b"]  # the cancelled writes left no records
    (shard,) = _shards()
    assert len(shard.__dict__["created"]) == len(shard.items)  # trimming stays aligned


def test_a_committed_transaction_writes_everything_once(journaled):
    client = journaled
    client.transact_write_items(TransactItems=[put("a", "1"), put("b", "1")])
    client.transact_write_items(TransactItems=[put("a", "2"), put("c", "2")])
    assert items(client) == {"a": "2", "b": "1", "c": "2"}
    assert stream_records(client) == ["a", "b", "a", "c"]


def test_a_transaction_copies_the_items_it_touches_not_the_table(journaled, monkeypatch):
    client = journaled
    for start in range(0, 500, 25):
        client.transact_write_items(TransactItems=[put(f"i{n}", "1") for n in range(start, start + 25)])
    copied: list[type] = []
    deepcopy = copy.deepcopy

    def counting(value, memo=None):
        copied.append(type(value))
        return deepcopy(value, memo)

    monkeypatch.setattr(moto_server.copy, "deepcopy", counting)
    client.transact_write_items(TransactItems=[put("i1", "2"), put("new", "2")])

    assert Table not in copied
    assert len(copied) <= 10  # two items (and what moto's own update path copies), not 500


def test_records_older_than_the_retention_are_trimmed_and_reading_them_fails_as_on_aws(journaled, clock):
    client = journaled
    streams, arn, shard = stream(client)
    client.put_item(TableName="t", Item={"k": {"S": "old"}, "v": {"S": "1"}})
    old = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    clock.now += 61  # past the retention
    client.put_item(TableName="t", Item={"k": {"S": "new"}, "v": {"S": "1"}})

    with pytest.raises(streams.exceptions.TrimmedDataAccessException):
        streams.get_records(ShardIterator=old["ShardIterator"])
    assert stream_records(client) == ["new"]  # the trim horizon moved past the old record


def test_a_shard_iterator_expires_after_15_minutes(journaled, clock):
    client = journaled
    streams, arn, shard = stream(client)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    clock.now += 901
    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=iterator["ShardIterator"])


def test_the_reader_reports_trimmed_records_and_goes_on_from_the_oldest_left(journaled, clock):
    client = journaled
    streams, arn, _ = stream(client)
    trimmed: list[str] = []
    reader = StreamReader(streams, arn, "TRIM_HORIZON", on_trimmed=trimmed.append)
    (shard,) = reader.shards()
    client.put_item(TableName="t", Item={"k": {"S": "lost"}, "v": {"S": "1"}})
    clock.now += 61
    client.put_item(TableName="t", Item={"k": {"S": "kept"}, "v": {"S": "1"}})

    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in reader.read(shard)] == ["kept"]
    assert trimmed == [shard]


def test_the_reader_renews_an_expired_iterator_after_the_last_record_read(journaled, clock):
    client = journaled
    streams, arn, _ = stream(client)
    reader = StreamReader(streams, arn, "TRIM_HORIZON")
    (shard,) = reader.shards()
    client.put_item(TableName="t", Item={"k": {"S": "a"}, "v": {"S": "1"}})
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in reader.read(shard)] == ["a"]
    clock.now += 901  # the reader's iterator expires while the stream is quiet
    client.put_item(TableName="t", Item={"k": {"S": "b"}, "v": {"S": "1"}})
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in reader.read(shard)] == ["b"]
