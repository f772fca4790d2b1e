"""Faults injected at the HTTP layer of the emulated AWS endpoint: a function's calls (told apart by
its access key) get AWS's error response, and botocore retries them exactly as against AWS."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_stack.faults import access_key, parse
from local_stack.provisioning.emulator import MotoServer

TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture(scope="module")
def endpoint():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def dynamodb(server: MotoServer, function: str, attempts: int = 3):
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key(function),
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_an_error_reaches_only_the_named_function_after_botocores_retries(endpoint):
    dynamodb(endpoint, "Other").create_table(**TABLE)
    functions = {"ConnectFunction", "Other"}
    endpoint.inject(
        [
            parse(
                {
                    "function": "ConnectFunction",
                    "service": "dynamodb",
                    "operation": "PutItem",
                    "error": "ProvisionedThroughputExceededException",
                },
                functions,
            )
        ]
    )
    try:
        connect = dynamodb(endpoint, "ConnectFunction")
        with pytest.raises(ClientError) as raised:
            connect.put_item(TableName="t", Item={"k": {"S": "a"}})
        error = raised.value.response
        assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["ResponseMetadata"]["RetryAttempts"] == 2  # retried as a throttle, then raised
        connect.get_item(TableName="t", Key={"k": {"S": "a"}})  # another operation: untouched
        dynamodb(endpoint, "Other").put_item(TableName="t", Item={"k": {"S": "b"}})  # another function
    finally:
        endpoint.inject([])
    dynamodb(endpoint, "ConnectFunction").put_item(TableName="t", Item={"k": {"S": "c"}})  # cleared


def test_latency_delays_the_call_and_it_then_succeeds(endpoint):
    client = dynamodb(endpoint, "Slow")
    client.list_tables()  # connection open: the timing below is the fault's
    fault = {"function": "Slow", "service": "dynamodb", "operation": "ListTables", "latency_ms": 300}
    endpoint.inject([parse(fault, {"Slow"})])
    try:
        started = time.monotonic()
        client.list_tables()
        assert time.monotonic() - started >= 0.3
    finally:
        endpoint.inject([])
