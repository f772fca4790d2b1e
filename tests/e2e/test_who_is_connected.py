"""Who is connected, answered end to end: clients connect, some leave, some expire by TTL, and the
template's saved *Connected now* query (through boto3 against the local stack's AWS endpoint, and
through ``python -m ops.who``) lists exactly the connections still open, with their clients."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from websockets.sync.client import connect

from ops.who import WINDOW_SECONDS
from tests.e2e.test_rehearsal import management
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e]

# 30 clients over 3 client ids; 10 close; 2 expire by TTL
CLIENTS = {"alpha": 10, "beta": 10, "gamma": 10}
CLOSING = {"alpha": 4, "beta": 3, "gamma": 3}
EXPIRING = ("gamma", 2)


def aws(ready: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=ready["awsEndpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def items(ready: dict[str, Any]) -> list[dict[str, Any]]:
    scanned = aws(ready, "dynamodb").scan(TableName=ready["table"], ConsistentRead=True)["Items"]
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in scanned]


def connected_now(ready: dict[str, Any]) -> list[dict[str, str]]:
    logs = aws(ready, "logs")
    (definition,) = logs.describe_query_definitions(queryDefinitionNamePrefix="local/Connected now")[
        "queryDefinitions"
    ]
    now = int(time.time())
    query = logs.start_query(
        logGroupNames=definition["logGroupNames"],
        startTime=now - WINDOW_SECONDS,
        endTime=now + 1,
        queryString=definition["queryString"],
    )
    answer = wait_for(
        lambda: (a := logs.get_query_results(queryId=query["queryId"]))["status"] == "Complete" and a
    )
    return [{cell["field"]: cell["value"] for cell in row} for row in answer["results"]]


def open_scenario(stack: Any, held: contextlib.ExitStack) -> list[dict[str, Any]]:
    """Connect, close and expire as the acceptance says; return the items still open."""
    sockets = {
        client: [held.enter_context(connect(f"{stack.url}?clientId={client}")) for _ in range(count)]
        for client, count in CLIENTS.items()
    }
    wait_for(lambda: len(items(stack.ready)) == sum(CLIENTS.values()), timeout=60)
    for client, count in CLOSING.items():
        for socket in sockets[client][:count]:
            socket.close()
    wait_for(lambda: len(items(stack.ready)) == sum(CLIENTS.values()) - sum(CLOSING.values()), timeout=60)
    # two connections of gamma reach their TTL (as if their $disconnect never came): DynamoDB's
    # TTL process deletes them, and the consumer logs them expired
    client, count = EXPIRING
    dynamodb = aws(stack.ready, "dynamodb")
    for item in [i for i in items(stack.ready) if i["clientId"] == client][:count]:
        dynamodb.update_item(
            TableName=stack.ready["table"],
            Key={"connectionId": {"S": item["connectionId"]}},
            UpdateExpression="SET #ttl = :past",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
        )
    expected = sum(CLIENTS.values()) - sum(CLOSING.values()) - count
    return wait_for(lambda: len(left := items(stack.ready)) == expected and left, timeout=60)


def test_connected_now_lists_exactly_the_open_connections(tmp_path):
    from tests.e2e.conftest import start_stack

    stack = start_stack(tmp_path, "--batch-window", "0.2", "--ttl-period", "0.3")
    try:
        with contextlib.ExitStack() as held:
            still_open = open_scenario(stack, held)
            expected = {(i["connectionId"], i["clientId"]) for i in still_open}
            assert len(expected) == 18
            assert Counter(client for _, client in expected) == {"alpha": 6, "beta": 7, "gamma": 5}

            # boto3's start_query / get_query_results against the local endpoint
            rows = wait_for(lambda: len(r := connected_now(stack.ready)) == 18 and r, timeout=60)
            assert {(r["connectionId"], r["client"]) for r in rows} == expected
            assert {r["source"] for r in rows} == {"127.0.0.1"}
            assert all(r["state"] == "opened" for r in rows)

            # python -m ops.who, all and one client
            who = [sys.executable, "-m", "ops.who", "--endpoint-url", stack.ready["awsEndpoint"], "--json"]
            everyone = json.loads(subprocess.run(who, check=True, capture_output=True, text=True).stdout)
            assert {(c["connection"], c["client"]) for c in everyone["connections"]} == expected
            assert everyone["statistics"]["bytesScanned"] > 0
            # no authorizer (AuthMode none): no client id is a verified token's claim
            assert {c["verified"] for c in everyone["connections"]} == {None}
            gamma = json.loads(
                subprocess.run([*who, "--client", "gamma"], check=True, capture_output=True, text=True).stdout
            )
            assert {(c["connection"], c["client"]) for c in gamma["connections"]} == {
                pair for pair in expected if pair[1] == "gamma"
            }
            printed = subprocess.run(who[:-1], check=True, capture_output=True, text=True).stdout
            assert printed.splitlines()[0].split() == ["client", "verified", "connection", "since", "source"]
            assert printed.splitlines()[-1] == "18 connected"
            # what the queries scanned is on the bill (Logs Insights bills per GB scanned)
            status, bill = management(stack, "GET", "/_local/bill")
            assert status == 200
            scanned = bill["units"]["cloudwatch"]["logsInsightsBytesScanned"]
            assert scanned >= everyone["statistics"]["bytesScanned"]
    finally:
        stack.stop()
