"""Acceptance of the gauge through the local stack, on a 2-second tumbling window
(``--parameter-overrides GaugeWindowSeconds=2``): 300 clients, 100 of them dropped with their
$disconnect lost, the sweeper finds them gone and ActiveConnections equals the open sockets; and
the consumer crashed mid-window and right after a final invocation's write, its batches delivered
again, a malformed record among them: the gauge ends equal to the table's items."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect

from local_stack.dashboard.terminal import MetricsReader
from tests.e2e.conftest import start_stack
from tests.e2e.test_local_stack import aws
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLIENTS, DROPPED = 300, 100
SHORT_WINDOW = ("--parameter-overrides", "GaugeWindowSeconds=2")


def table_items(stack) -> dict[str, str]:
    """connectionId -> clientId of every item in the table."""
    dynamodb = aws(stack, "dynamodb")
    items: dict[str, str] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.ready["table"], ConsistentRead=True):
        items.update({item["connectionId"]["S"]: item["clientId"]["S"] for item in page["Items"]})
    return items


def local_call(stack, path: str, body: dict) -> dict:
    """The local stack's own controls: fault injection, invoking a scheduled function now."""
    request = urllib.request.Request(  # noqa: S310 - the stack on loopback
        stack.ready["managementUrl"].rsplit("/", 1)[0] + f"/_local/{path}",
        data=json.dumps(body).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return json.loads(answer.read() or b"{}")


def gauge_count(stack) -> int:
    """The gauge's own count item in the counters table."""
    item = aws(stack, "dynamodb").get_item(
        TableName=stack.ready["tables"]["CountersTable"],
        Key={"counter": {"S": "activeConnections"}},
        ConsistentRead=True,
    )["Item"]
    return int(item["count"]["N"])


def active_connections(reader: MetricsReader) -> float | None:
    return reader.latest("ActiveConnections")


def test_active_connections_equals_open_sockets_after_lost_disconnects(tmp_path):
    stack = start_stack(
        tmp_path, "--schedule-every", "SweeperFunction=2", "--batch-window", "0.2", *SHORT_WINDOW
    )
    loop = asyncio.new_event_loop()
    try:

        async def open_all() -> list:
            return await asyncio.gather(
                *(
                    connect(f"{stack.url}?clientId=gauge-{n}", ping_interval=None, open_timeout=60)
                    for n in range(CLIENTS)
                )
            )

        sockets = loop.run_until_complete(open_all())
        wait_for(lambda: len(table_items(stack)) == CLIENTS, timeout=60)
        items = table_items(stack)
        by_client = {client_id: connection_id for connection_id, client_id in items.items()}

        # the fault switch: API Gateway loses the $disconnect of the 100 we drop
        dropped = [by_client[f"gauge-{n}"] for n in range(DROPPED)]
        local_call(stack, "skip-disconnect", {"connectionIds": dropped})
        for socket in sockets[:DROPPED]:
            socket.transport.abort()
        loop.run_until_complete(asyncio.sleep(0.5))  # the aborts happen on the loop

        reader = MetricsReader(aws(stack, "cloudwatch"), since=time.time() - 120)
        open_sockets = CLIENTS - DROPPED
        # the sweeper probes every item with @connections GET and removes the gone ones
        wait_for(lambda: len(table_items(stack)) == open_sockets, timeout=90, interval=1)
        assert set(table_items(stack)) == set(items) - set(dropped)
        wait_for(lambda: gauge_count(stack) == open_sockets, timeout=60, interval=1)

        # the hourly reconciliation, run now, finds no drift to correct: the gauge was exact; and the
        # ActiveConnections metric it emits agrees with a count of the table
        found = local_call(stack, "invoke/ReconcileFunction", {})
        assert (found["drift"], found["live"]) == (0, open_sockets)
        wait_for(lambda: active_connections(reader) == open_sockets, timeout=30, interval=0.5)
        assert active_connections(reader) == len(table_items(stack)) == open_sockets
        totals = reader.totals()
        assert totals["ConnectionsOpened"] == CLIENTS
        assert totals["ConnectionsClosed"] == DROPPED  # removed by the sweeper, a principal
        assert totals["DisconnectHandled"] == 0
        # everyone leaves: the gauge itself (its count item) comes back to exactly zero
        for socket in sockets[DROPPED:]:
            loop.run_until_complete(socket.close())
        wait_for(lambda: gauge_count(stack) == 0 and not table_items(stack), timeout=60, interval=1)
    finally:
        loop.close()
        stack.stop()


def consumer_errors(stack) -> int:
    request = urllib.request.Request(stack.ready["managementUrl"].rsplit("/", 1)[0] + "/_local/functions")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the stack on loopback
        return int(json.loads(answer.read())["StreamMetricsFunction"]["errors"])


def test_the_gauge_stays_exact_through_crashes_redeliveries_and_a_malformed_record(tmp_path):
    stack = start_stack(tmp_path, "--batch-window", "0.2", *SHORT_WINDOW)
    loop = asyncio.new_event_loop()
    dynamodb = aws(stack, "dynamodb")
    try:
        # the consumer's next invocation runs and then dies before answering: a crash mid-window
        # (nothing of the gauge is written then); Lambda delivers the batch again
        local_call(stack, "faults", {"function": "StreamMetricsFunction", "lose_response": "any", "times": 1})

        async def open_many(count: int) -> list:
            return await asyncio.gather(
                *(
                    connect(f"{stack.url}?clientId=exact-{n}", ping_interval=None, open_timeout=60)
                    for n in range(count)
                )
            )

        sockets = loop.run_until_complete(open_many(60))
        wait_for(lambda: consumer_errors(stack) >= 1, timeout=30, interval=0.2)
        # next, a window's final invocation writes the gauge and then dies: retried, it finds the
        # shard's marker and changes nothing
        local_call(
            stack, "faults", {"function": "StreamMetricsFunction", "lose_response": "final", "times": 1}
        )
        # a malformed record: an item the consumer cannot read (set aside on the dead-letter queue)
        table = stack.ready["table"]
        dynamodb.put_item(
            TableName=table,
            Item={"connectionId": {"S": "malformed"}, "createdAt": {"S": "soon"}, "ttl": {"N": "1"}},
        )
        for socket in sockets[:25]:
            loop.run_until_complete(socket.close())
        wait_for(lambda: consumer_errors(stack) >= 2, timeout=30, interval=0.2)
        dynamodb.delete_item(TableName=table, Key={"connectionId": {"S": "malformed"}})

        open_sockets = 60 - 25
        wait_for(lambda: len(table_items(stack)) == open_sockets, timeout=60, interval=0.5)
        wait_for(lambda: gauge_count(stack) == len(table_items(stack)), timeout=60, interval=0.5)
        assert gauge_count(stack) == len(table_items(stack)) == open_sockets
        found = local_call(stack, "invoke/ReconcileFunction", {})
        assert (found["drift"], found["live"]) == (0, open_sockets)
        queue = stack.ready["deadLetterQueueUrl"]
        set_aside = aws(stack, "sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert set_aside
        assert all("malformed" in message["Body"] for message in set_aside)
        for socket in sockets[25:]:
            loop.run_until_complete(socket.close())
        wait_for(lambda: gauge_count(stack) == 0 and not table_items(stack), timeout=60, interval=0.5)
    finally:
        loop.close()
        stack.stop()
