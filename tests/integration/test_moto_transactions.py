"""The local AWS emulation's transactions (``local_stack.moto_server``): all or nothing with moto's
cancellation reasons, at the cost of the items they touch rather than the tables they touch."""

from __future__ import annotations

import copy

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.dynamodb.models.table import StreamShard

from local_stack import moto_server


@pytest.fixture
def journaled():
    """moto with the launcher's patches, taken back afterwards (they are process-wide)."""
    saved = (DynamoDBBackend.transact_write_items, StreamShard.add)
    moto_server._serialize_stream_appends()
    moto_server._journal_transactions()
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
        DynamoDBBackend.transact_write_items, StreamShard.add = saved


def put(key: str, value: str) -> dict:
    return {"Put": {"TableName": "t", "Item": {"k": {"S": key}, "v": {"S": value}}}}


def items(client) -> dict[str, str]:
    return {i["k"]["S"]: i["v"]["S"] for i in client.scan(TableName="t", ConsistentRead=True)["Items"]}


def stream_records(client) -> list[str]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [r["dynamodb"]["Keys"]["k"]["S"] for r in records]


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
