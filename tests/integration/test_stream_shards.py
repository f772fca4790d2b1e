"""Shards in the emulated stream (``local_stack.dynamodb.shards``), read through boto3 as any reader
would: several open at once, a key's records in one shard and in order, a rollover closing each
shard (``EndingSequenceNumber``) with a child carrying ``ParentShardId``, a closed shard's iterator
ending without ``NextShardIterator`` once drained, DescribeStream paged (DynamoDB Streams API
reference: DescribeStream, GetShardIterator, GetRecords)."""

from __future__ import annotations

import threading
from collections import defaultdict

import boto3
import pytest
from moto import mock_aws
from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend, Table, dynamodb_backends
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from local_stack.dynamodb import shards as shards_module
from local_stack.dynamodb.streams import StreamReader
from local_stack.provisioning import server as moto_server
from tests.tables import key_table

SHARDS = 4
PATCHED = [
    (Table, "set_stream_specification"),
    (StreamShard, "add"),
    (StreamShard, "get"),
    (DynamoDBStreamsBackend, "describe_stream"),
    (DynamoDBStreamsBackend, "get_shard_iterator"),
    (DynamoDBStreamsBackend, "get_records"),
    (DynamoDBStreamsHandler, "describe_stream"),
    (DynamoDBStreamsHandler, "get_records"),
    (ShardIterator, "get"),
    (DynamoDBBackend, "transact_write_items"),
]


@pytest.fixture
def sharded():
    """moto as the launcher runs it with four shards and no rollover thread (rolled over by the test),
    the patches taken back afterwards (they are process-wide)."""
    saved = [(owner, name, owner.__dict__[name]) for owner, name in PATCHED]
    new = BaseModel.__dict__["__new__"]
    moto_server._track_models_weakly()
    moto_server._serialize_stream_appends()
    shards_module.install(moto_server._stream_lock, lambda: 86_400.0, SHARDS, 0)
    moto_server._expire_iterators()
    moto_server._answer_records_as_stored()
    moto_server._journal_transactions()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            key_table(client, stream=True)
            streams = boto3.client("dynamodbstreams", region_name="us-east-1")
            arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
            yield client, streams, arn
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        BaseModel.__new__ = new


def the_stream() -> shards_module.ShardedStream:
    stream = dynamodb_backends["123456789012"]["us-east-1"].tables["t"].stream_shard
    assert isinstance(stream, shards_module.ShardedStream)
    return stream


def lifecycle(client, key: str) -> None:
    client.put_item(TableName="t", Item={"k": {"S": key}, "v": {"S": "1"}})
    client.put_item(TableName="t", Item={"k": {"S": key}, "v": {"S": "2"}})
    client.delete_item(TableName="t", Key={"k": {"S": key}})


def described(streams, arn, **paging) -> list[dict]:
    return streams.describe_stream(StreamArn=arn, **paging)["StreamDescription"]["Shards"]


def read_shard(streams, arn, shard_id: str, kind: str = "TRIM_HORIZON") -> tuple[list[dict], bool]:
    """Every record of the shard, and whether its iterator ended (no NextShardIterator)."""
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind)[
        "ShardIterator"
    ]
    records: list[dict] = []
    for _ in range(10):
        page = streams.get_records(ShardIterator=iterator)
        records.extend(page["Records"])
        if "NextShardIterator" not in page:
            return records, True
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            return records, False
    return records, False


def test_items_go_to_a_shard_by_partition_key_and_a_keys_records_stay_in_order(sharded):
    client, streams, arn = sharded
    for n in range(40):
        lifecycle(client, f"key-{n}")
    listed = described(streams, arn)
    assert len(listed) == SHARDS
    assert all("EndingSequenceNumber" not in shard["SequenceNumberRange"] for shard in listed)  # open
    shards_of: dict[str, set[str]] = defaultdict(set)
    events_of: dict[str, list[str]] = defaultdict(list)
    for shard in listed:
        records, ended = read_shard(streams, arn, shard["ShardId"])
        assert not ended  # an open shard's iterator goes on
        numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
        assert numbers == sorted(numbers)
        for record in records:
            key = record["dynamodb"]["Keys"]["k"]["S"]
            shards_of[key].add(shard["ShardId"])
            events_of[key].append(record["eventName"])
    assert len(shards_of) == 40
    assert all(len(held) == 1 for held in shards_of.values())  # a key's records in one shard
    assert all(events == ["INSERT", "MODIFY", "REMOVE"] for events in events_of.values())  # in order
    assert len({shard for held in shards_of.values() for shard in held}) > 1  # the keys spread


def test_a_rollover_closes_each_shard_and_opens_a_child_with_its_parent_id(sharded):
    client, streams, arn = sharded
    client.put_item(TableName="t", Item={"k": {"S": "early"}})
    before = {shard["ShardId"] for shard in described(streams, arn)}
    the_stream().roll_over(retention=86_400.0)
    client.put_item(TableName="t", Item={"k": {"S": "early"}, "v": {"S": "later"}})
    listed = described(streams, arn)
    closed = [shard for shard in listed if "EndingSequenceNumber" in shard["SequenceNumberRange"]]
    children = [shard for shard in listed if "ParentShardId" in shard]
    assert {shard["ShardId"] for shard in closed} == before
    assert {shard["ParentShardId"] for shard in children} == before
    assert all("EndingSequenceNumber" not in shard["SequenceNumberRange"] for shard in children)
    for child in children:  # a child's numbers lie above its parent's
        parent = next(shard for shard in closed if shard["ShardId"] == child["ParentShardId"])
        assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > int(
            parent["SequenceNumberRange"]["EndingSequenceNumber"]
        )
    # the key's later record is in the child of the shard that holds its earlier one
    holder = next(shard["ShardId"] for shard in closed if read_shard(streams, arn, shard["ShardId"])[0])
    child = next(shard["ShardId"] for shard in children if shard["ParentShardId"] == holder)
    (later,), _ = read_shard(streams, arn, child)
    assert (later["eventName"], later["dynamodb"]["NewImage"]["v"]["S"]) == ("MODIFY", "later")


def test_a_closed_shard_read_to_its_end_gives_no_next_iterator(sharded):
    client, streams, arn = sharded
    for n in range(12):
        client.put_item(TableName="t", Item={"k": {"S": f"key-{n}"}})
    the_stream().roll_over(retention=86_400.0)
    closed = [shard for shard in described(streams, arn) if "ParentShardId" not in shard]
    total = 0
    for shard in closed:
        records, ended = read_shard(streams, arn, shard["ShardId"])
        assert (
            ended
        )  # drained: "the shard has been closed and the requested iterator will not return any more data"
        total += len(records)
        if records:
            assert (
                records[-1]["dynamodb"]["SequenceNumber"]
                == shard["SequenceNumberRange"]["EndingSequenceNumber"]
            )
        assert read_shard(streams, arn, shard["ShardId"], "LATEST") == ([], True)
    assert total == 12


def test_describe_stream_pages_and_an_unknown_shard_is_not_found(sharded):
    _client, streams, arn = sharded
    the_stream().roll_over(retention=86_400.0)
    the_stream().roll_over(retention=86_400.0)
    first = streams.describe_stream(StreamArn=arn, Limit=5)["StreamDescription"]
    assert len(first["Shards"]) == 5
    rest = described(streams, arn, ExclusiveStartShardId=first["LastEvaluatedShardId"])
    assert len(first["Shards"]) + len(rest) == 3 * SHARDS
    assert "LastEvaluatedShardId" not in streams.describe_stream(StreamArn=arn)["StreamDescription"]
    with pytest.raises(streams.exceptions.ResourceNotFoundException):
        streams.get_shard_iterator(
            StreamArn=arn, ShardId="shardId-00000000000000000000-00000000", ShardIteratorType="TRIM_HORIZON"
        )


def test_closed_shards_are_forgotten_once_the_retention_has_passed(sharded):
    _, streams, arn = sharded
    the_stream().roll_over(retention=0.0)
    assert all("ParentShardId" in shard for shard in described(streams, arn))  # only the children


def test_the_stream_reader_follows_the_lineage_and_sees_a_drained_shard(sharded):
    client, streams, arn = sharded
    reader = StreamReader(streams, arn)
    first = reader.shards()
    client.put_item(TableName="t", Item={"k": {"S": "a"}})
    the_stream().roll_over(retention=86_400.0)
    client.put_item(TableName="t", Item={"k": {"S": "a"}, "v": {"S": "2"}})
    for shard_id in first:
        list(reader.read(shard_id))
        assert reader.drained(shard_id)
    children = [shard_id for shard_id in reader.shards() if shard_id not in first]
    assert {reader.parents[child] for child in children} == set(first)
    # a child found later is read from its trim horizon: the record written before it was found is there
    read = [record for child in children for record in reader.read(child)]
    assert [record["eventName"] for record in read] == ["MODIFY"]
    assert not any(reader.drained(child) for child in children)


def test_concurrent_writes_during_rollovers_lose_nothing(sharded):
    client, streams, arn = sharded
    written = threading.Semaphore(0)  # released every 10 writes: a rollover runs beside the next ones

    def roll() -> None:
        for _ in range(20):
            written.acquire()
            the_stream().roll_over(retention=86_400.0)

    roller = threading.Thread(target=roll)
    roller.start()
    for n in range(200):
        client.put_item(TableName="t", Item={"k": {"S": f"key-{n}"}})
        if n % 10 == 9:
            written.release()
    roller.join()
    assert len(the_stream().shards) == 21 * SHARDS
    reader = StreamReader(streams, arn)
    keys = [
        record["dynamodb"]["Keys"]["k"]["S"] for shard in reader.shards() for record in reader.read(shard)
    ]
    assert sorted(keys) == sorted(f"key-{n}" for n in range(200))
