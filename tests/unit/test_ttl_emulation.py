"""The emulated TTL process deletes every item whose TTL has passed, eventually: a request that
fails leaves the item due for the next sweep instead of forgetting it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from local_stack.dynamodb.ttl import TtlEmulator
from tests.tables import key_table

NOW = 1_800_000_000.0


def record(key: str, ttl: float) -> dict:
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"k": {"S": key}}, "NewImage": {"k": {"S": key}, "ttl": {"N": str(int(ttl))}}},
    }


class FlakyDeletes:
    """A DynamoDB client whose next ``delete_item`` fails as a dropped connection does."""

    def __init__(self, client) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.failures = 1

    def delete_item(self, **kwargs):
        if self.failures:
            self.failures -= 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return self._client.delete_item(**kwargs)


@pytest.fixture
def table():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        key_table(client)
        for key, ttl in (("old", NOW - 10), ("older", NOW - 20), ("later", NOW + 60)):
            client.put_item(TableName="t", Item={"k": {"S": key}, "ttl": {"N": str(int(ttl))}})
        yield client


def keys(client) -> set[str]:
    return {item["k"]["S"] for item in client.scan(TableName="t")["Items"]}


def test_an_item_whose_delete_failed_is_deleted_by_the_next_sweep(table):
    flaky = FlakyDeletes(table)
    expired: list[str] = []
    ttl = TtlEmulator(flaky, table_name="t", ttl_attribute="ttl", on_expired=expired.append)
    ttl.learn([record("old", NOW - 10), record("older", NOW - 20), record("later", NOW + 60)])

    with pytest.raises(EndpointConnectionError):
        ttl.sweep(now=NOW)
    assert keys(table) == {"old", "older", "later"}  # nothing deleted, nothing forgotten

    assert ttl.sweep(now=NOW) == 2
    assert keys(table) == {"later"}
    assert ttl.sweep(now=NOW + 61) == 1
    assert keys(table) == set()
