"""The local AWS emulation (``local_stack.provisioning.server``): transactions all or nothing with moto's
cancellation reasons, at the cost of the items they touch rather than the tables they touch; streams
that trim records after their retention and iterators that expire, as DynamoDB Streams does;
CloudWatch data points one per metric and period of its resolution, as CloudWatch stores them."""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models import Table
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from local_stack.dynamodb import streams as streams_module
from local_stack.dynamodb.streams import StreamReader
from local_stack.provisioning import server as moto_server
from tests.tables import key_table

INHERITED = object()


@contextlib.contextmanager
def taken_back():
    """What the server's patches replace, put back afterwards (they are process-wide); an attribute
    a class inherited (``INHERITED``) is removed again."""
    saved = {
        (cls, name): cls.__dict__.get(name, INHERITED)
        for patch in moto_server.PATCHES
        for cls, name in patch.replaces
    }
    try:
        yield saved
    finally:
        for (cls, name), value in saved.items():
            if value is INHERITED:
                with contextlib.suppress(AttributeError):
                    delattr(cls, name)
            else:
                setattr(cls, name, value)


@pytest.fixture
def journaled():
    """moto with the launcher's patches, taken back afterwards."""
    with taken_back():
        for patch in moto_server.PATCHES:
            patch.apply()
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            key_table(client, stream=True)
            yield client


def test_each_patch_replaces_what_it_names_and_they_are_applied_once(monkeypatch):
    monkeypatch.setattr(moto_server, "_applied", [])
    monkeypatch.setenv("LOCAL_STREAM_SHARDS", "2")  # the shards' patch changes moto only when asked
    with taken_back() as original:
        moto_server.apply_patches()
        patched = {(cls, name): cls.__dict__[name] for cls, name in original}
        assert all(patched[place] is not original[place] for place in original)
        moto_server.apply_patches()  # again: nothing wraps itself twice
        assert {(cls, name): cls.__dict__[name] for cls, name in original} == patched


ORIGINAL_GET_RECORDS = DynamoDBStreamsHandler.get_records
ORIGINAL_STRUCTURE = BaseJSONSerializer._serialize_type_structure


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


def test_a_read_and_a_trim_at_the_same_time_lose_no_record(journaled, clock):
    """A put that trims the shard while a read is between finding its position and taking the
    records: the read still returns the records from its sequence number on (a read that skipped
    one record per record trimmed would leave ConnectionsOpened short in a long soak)."""
    client = journaled
    streams, arn, shard_id = stream(client)
    for key in ("a", "b", "c"):
        client.put_item(TableName="t", Item={"k": {"S": key}, "v": {"S": "1"}})
    first = streams.get_records(
        ShardIterator=streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"],
        Limit=1,
    )
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in first["Records"]] == ["a"]
    clock.now += 61  # "a", "b" and "c" are past the retention: the next put trims them
    (shard,) = _shards()
    concurrent: list[threading.Thread] = []

    class TrimmedMidRead(list):
        def __getitem__(self, index):
            if isinstance(index, slice) and not concurrent:  # the read is taking its records
                writer = threading.Thread(
                    target=client.put_item,
                    kwargs={"TableName": "t", "Item": {"k": {"S": "d"}, "v": {"S": "1"}}},
                )
                concurrent.append(writer)
                writer.start()
                writer.join(timeout=0.5)  # a read that lets the trim in returns the wrong records
            return super().__getitem__(index)

    shard.items = TrimmedMidRead(shard.items)
    rest = streams.get_records(ShardIterator=first["NextShardIterator"])
    concurrent[0].join()
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in rest["Records"]] == ["b", "c"]
    assert stream_records(client) == ["d"]  # the put went ahead after the read: the trim happened


def test_get_records_answers_the_body_motos_serializer_wrote(journaled, monkeypatch):
    """Every attribute type, nested, in the three kinds of record: the emulator's GetRecords body
    (the records as stored) is moto's serialized body, field for field; boto3 reads back the item
    as written."""
    client = journaled
    item = {
        "k": {"S": "ünï"},
        "n": {"N": "1.5"},
        "b": {"B": b"\x00\x01bin"},
        "bs": {"BS": [b"x", b"y"]},
        "ss": {"SS": ["p", "q"]},
        "ns": {"NS": ["1", "2"]},
        "l": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]},
        "m": {"M": {"in": {"N": "3"}, "deep": {"M": {"z": {"B": b"zz"}}}}},
    }
    client.put_item(TableName="t", Item=item)
    client.put_item(TableName="t", Item={**item, "n": {"N": "2"}})
    client.delete_item(TableName="t", Key={"k": item["k"]})
    streams, arn, shard = stream(client)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    bodies: list[dict] = []
    streams.meta.events.register(
        "after-call.dynamodbstreams.GetRecords",
        lambda http_response, **_: bodies.append(json.loads(http_response.content)),
    )

    page = streams.get_records(ShardIterator=iterator["ShardIterator"])
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", ORIGINAL_GET_RECORDS)
    streams.get_records(
        ShardIterator=iterator["ShardIterator"]
    )  # the same records, through moto's serializer

    ours, motos = bodies
    assert [r["eventName"] for r in ours["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert {**ours, "NextShardIterator": None} == {**motos, "NextShardIterator": None}
    assert page["Records"][0]["dynamodb"]["NewImage"] == item
    assert isinstance(page["Records"][0]["dynamodb"]["ApproximateCreationDateTime"], datetime)


def test_a_shard_iterator_expires_after_15_minutes(journaled, clock):
    client = journaled
    streams, arn, shard = stream(client)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    clock.now += 901
    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=iterator["ShardIterator"])


def test_expired_iterators_are_forgotten_so_a_polling_reader_holds_a_bounded_number(journaled, clock):
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    client = journaled
    streams, arn, shard = stream(client)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    for _ in range(30):  # a reader polling every minute for half an hour: each answer is a new iterator
        iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
        clock.now += 60
    streams.get_records(ShardIterator=iterator)

    held = dynamodbstreams_backends["123456789012"]["us-east-1"].shard_iterators
    assert 14 <= len(held) <= 17  # the last 15 minutes' iterators, not all 32


def test_moto_forgets_the_items_it_no_longer_holds(journaled):
    from moto.dynamodb.models.dynamo_type import Item

    client = journaled
    for version in range(200):  # one item, written 200 times
        client.put_item(TableName="t", Item={"k": {"S": "same"}, "v": {"S": str(version)}})
    gc.collect()

    tracked = [item for item in Item.instances_tracked if item.hash_key.value == "same"]
    assert 1 <= len(tracked) <= 3  # the item the table holds (and a copy in flight), not 200
    assert items(client) == {"same": "199"}


def _statistics(seconds: int, minimum: float, maximum: float, total: float) -> dict:
    return {"SampleCount": seconds, "Sum": total, "Minimum": minimum, "Maximum": maximum}


def test_statistic_sets_of_one_period_become_one_data_point_at_the_metric_resolution(journaled):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    minute = datetime.now(tz=UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    for second, resolution in ((5, 60), (20, 60), (50, 60), (5, 1), (5, 1), (6, 1)):
        cloudwatch.put_metric_data(
            Namespace="N",
            MetricData=[
                {
                    "MetricName": f"every{resolution}s",
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                    "Timestamp": minute + timedelta(seconds=second),
                    "StatisticValues": _statistics(2, second, second + 1, 2 * second + 1),
                    "Unit": "Count",
                    "StorageResolution": resolution,
                }
            ],
        )

    stored = cloudwatch_backends["123456789012"]["us-east-1"].metric_data
    naive = minute.replace(tzinfo=None)  # moto keeps UTC times without a zone
    by_name = {name: [d for d in stored if d.name == name] for name in ("every60s", "every1s")}
    assert [(d.timestamp, d.sample_count, d.sum, d.min, d.max) for d in by_name["every60s"]] == [
        (naive, 6, 11 + 41 + 101, 5, 51)
    ]
    assert [(d.timestamp, d.sample_count) for d in by_name["every1s"]] == [
        (naive + timedelta(seconds=5), 4),
        (naive + timedelta(seconds=6), 2),
    ]
    answer = cloudwatch.get_metric_statistics(
        Namespace="N",
        MetricName="every60s",
        Dimensions=[{"Name": "FunctionName", "Value": "f"}],
        StartTime=minute,
        EndTime=minute + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    assert [(p["Sum"], p["SampleCount"], p["Maximum"]) for p in answer] == [(153, 6, 51)]


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


def test_a_read_is_one_get_records_and_more_only_while_pages_come_back_full(journaled, monkeypatch):
    """Lambda polls a shard 4 times a second: a poll is one GetRecords, unless a page is full (a
    backlog). Reading until an empty page never ended under a steady load."""
    monkeypatch.setattr(streams_module, "PAGE_LIMIT", 2)
    client = journaled
    streams, arn, _ = stream(client)
    calls: list[int] = []
    streams.meta.events.register("before-call.dynamodbstreams.GetRecords", lambda **_: calls.append(1))
    reader = StreamReader(streams, arn, "TRIM_HORIZON")
    (shard,) = reader.shards()
    for key in "abcde":
        client.put_item(TableName="t", Item={"k": {"S": key}, "v": {"S": "1"}})

    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in reader.read(shard)] == list("abcde")
    assert len(calls) == 3  # pages of 2, 2 and 1
    client.put_item(TableName="t", Item={"k": {"S": "f"}, "v": {"S": "1"}})
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in reader.read(shard)] == ["f"]
    assert len(calls) == 4  # one short page: the poll is done, no empty page asked for


def test_dynamodb_answers_holding_items_are_the_bodies_motos_serializer_wrote(journaled, monkeypatch):
    """GetItem, UpdateItem, DeleteItem and Query answer with every attribute type, nested, empty
    values and binaries among them: the body written with the server's patches is moto's own,
    field for field, and boto3 reads back the items as written."""
    client = journaled
    plain = {
        "k": {"S": "plain"},
        "e": {"S": ""},
        "n": {"N": "-1.5e3"},
        "ss": {"SS": ["p", "q"]},
        "ns": {"NS": ["1", "2"]},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "l": {"L": [{"S": "x"}, {"L": []}, {"M": {}}]},
        "m": {"M": {"in": {"N": "3"}, "deep": {"M": {"y": {"SS": ["a"]}}}}},
    }
    binary = {**plain, "k": {"S": "binary"}, "b": {"B": b"\x00bin"}, "bs": {"BS": [b"x"]}}
    binary["m"] = {"M": {"deep": {"M": {"z": {"B": b"zz"}}}, "in": {"N": "3"}}}

    def answers() -> list[dict]:
        bodies: list[dict] = []

        def keep(http_response, **_):
            bodies.append(json.loads(http_response.content))

        client.meta.events.register("after-call.dynamodb", keep)
        try:
            for item in (plain, binary):
                client.put_item(TableName="t", Item=item)
                client.get_item(TableName="t", Key={"k": item["k"]}, ReturnConsumedCapacity="TOTAL")
                client.update_item(
                    TableName="t",
                    Key={"k": item["k"]},
                    UpdateExpression="SET extra = :v",
                    ExpressionAttributeValues={":v": {"L": [{"N": "1"}, {"NULL": True}]}},
                    ReturnValues="ALL_NEW",
                )
                client.query(
                    TableName="t",
                    KeyConditionExpression="k = :k",
                    ExpressionAttributeValues={":k": item["k"]},
                )
                client.delete_item(TableName="t", Key={"k": item["k"]}, ReturnValues="ALL_OLD")
            client.get_item(TableName="t", Key={"k": {"S": "missing"}})
        finally:
            client.meta.events.unregister("after-call.dynamodb", keep)
        return bodies

    ours = answers()
    read_back = client.put_item(TableName="t", Item=binary) and client.get_item(
        TableName="t", Key={"k": binary["k"]}
    )
    client.delete_item(TableName="t", Key={"k": binary["k"]})
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", ORIGINAL_STRUCTURE)
    motos = answers()

    assert ours == motos
    assert ours[1]["Item"] == json.loads(json.dumps(plain))  # the plain item, all of it
    assert read_back["Item"] == binary
