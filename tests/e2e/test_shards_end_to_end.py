"""Streams at scale, end to end: the connections table's stream with 4 shards open at once, each
rolled over every 3 seconds (``--stream-shards 4 --shard-rollover-seconds 3``), the gauge on a
2-second window. 600 lifecycles at 20 a second: most close their socket, every tenth ends by TTL
(its item's TTL set in the past: DynamoDB's TTL process deletes it, then the socket closes and its
$disconnect finds nothing), the last 20 stay open. The consumer crashes once mid-window and loses
a final invocation's response after its write. Every count is exact across the shards' lineage,
and once their lifetime has passed the counters table holds the count and markers of live shards
only.

The two lost responses are the one at-least-once case the design documents (docs/architecture.md,
"Guarantees"): the invocation had published its records' metrics and log lines, Lambda delivers
the batch again, and they are published again. The functions' log tells those records (a sequence
number logged twice); every other record is counted exactly once, and the gauge is exact."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect

from local_stack.dashboard.terminal import MetricsReader
from tests.e2e.conftest import start_stack
from tests.e2e.test_gauge_end_to_end import gauge_count, local_call, table_items
from tests.e2e.test_local_stack import aws
from tests.waiting import wait_for

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIFECYCLES, RATE, OPEN_AT_END = 600, 20.0, 20
SHARDED = ("--stream-shards", "4", "--shard-rollover-seconds", "3")
SHORT_WINDOW = ("--parameter-overrides", "GaugeWindowSeconds=2")


def ends_by_ttl(index: int) -> bool:
    return index % 10 == 5 and index < LIFECYCLES - OPEN_AT_END


class Lifecycles:
    """The load: lifecycle ``i`` starts at ``i / RATE`` seconds, as client ``shards-i``."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.accepted = 0
        self.expired: set[str] = set()  # TTL-ending clients whose item the TTL process deleted
        self.aged: set[str] = set()  # TTL-ending clients whose item's TTL was set in the past
        self.open: list = []

    async def lifecycle(self, index: int) -> None:
        client = f"shards-{index}"
        socket = await connect(f"{self.stack.url}?clientId={client}", ping_interval=None, open_timeout=60)
        self.accepted += 1
        if index >= LIFECYCLES - OPEN_AT_END:
            self.open.append(socket)
            return
        if ends_by_ttl(index):
            while client not in self.expired:  # the TTL process deletes its item first
                await asyncio.sleep(0.2)
        else:
            await asyncio.sleep(0.5)
        await socket.close()

    def age_and_watch(self) -> None:
        """One pass of the clock for TTL-ending clients: an item of theirs gets a TTL in the past
        (a MODIFY record; the TTL process learns it and deletes the item); an aged one gone is
        expired."""
        dynamodb = aws(self.stack, "dynamodb")
        table = self.stack.ready["table"]
        present = table_items(self.stack)
        clients = set(present.values())
        self.expired |= self.aged - clients
        for connection_id, client in present.items():
            if client in self.aged or not ends_by_ttl(int(client.rsplit("-", 1)[1])):
                continue
            dynamodb.update_item(
                TableName=table,
                Key={"connectionId": {"S": connection_id}},
                UpdateExpression="SET #ttl = :past",
                ConditionExpression="attribute_exists(connectionId)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
            )
            self.aged.add(client)

    async def run(self) -> None:
        started = time.perf_counter()
        tasks = []
        done = asyncio.Event()

        async def clock() -> None:
            while not done.is_set():
                await asyncio.to_thread(self.age_and_watch)
                await asyncio.sleep(0.5)

        ticking = asyncio.create_task(clock())
        for index in range(LIFECYCLES):
            await asyncio.sleep(max(0.0, started + index / RATE - time.perf_counter()))
            tasks.append(asyncio.create_task(self.lifecycle(index)))
        await asyncio.gather(*tasks)
        done.set()
        await ticking


def shards(stack) -> dict[str, bool]:
    """Every shard of the connections table's stream: whether it is open (DescribeStream, paged)."""
    streams = aws(stack, "dynamodbstreams")
    found: dict[str, bool] = {}
    arguments = {"StreamArn": stack.ready["streamArn"]}
    while True:
        description = streams.describe_stream(**arguments)["StreamDescription"]
        for shard in description["Shards"]:
            found[shard["ShardId"]] = "EndingSequenceNumber" not in shard["SequenceNumberRange"]
        if "LastEvaluatedShardId" not in description:
            return found
        arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def logged_events(log: Path) -> Counter[tuple[str, str]]:
    """(event, sequence number) -> how many times the consumer logged it (its connection events)."""
    logged: Counter[tuple[str, str]] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0 or '"location":"stream_metrics"' not in line:
            continue
        entry = json.loads(line[start:])
        if entry.get("event") in {"opened", "closed", "expired"}:
            logged[(entry["event"], entry["sequenceNumber"])] += 1
    return logged


def markers(stack) -> dict[str, int]:
    """The gauge's shard markers: shard id -> expiresAt."""
    items = aws(stack, "dynamodb").scan(TableName=stack.ready["tables"]["CountersTable"], ConsistentRead=True)
    prefix = "shard#"
    return {
        item["counter"]["S"].removeprefix(prefix): int(item["expiresAt"]["N"])
        for item in items["Items"]
        if item["counter"]["S"].startswith(prefix)
    }


def gauge_points(stack) -> list[tuple[str, float, float]]:
    """The last minute's one-second ``ActiveConnections`` datapoints (time, maximum, samples)."""
    now = time.time()
    points = aws(stack, "cloudwatch").get_metric_statistics(
        Namespace="ConnectionTracker",
        MetricName="ActiveConnections",
        Dimensions=[{"Name": "service", "Value": "connection-tracker"}],
        StartTime=now - 60,
        EndTime=now + 1,
        Period=1,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    return sorted((p["Timestamp"].isoformat(), p["Maximum"], p["SampleCount"]) for p in points)


def test_every_count_stays_exact_across_shards_rolling_over(tmp_path):
    stack = start_stack(tmp_path, "--batch-window", "0.2", "--ttl-period", "0.3", *SHARDED, *SHORT_WINDOW)
    loop = asyncio.new_event_loop()
    try:
        assert any("rolled over every 3 s" in notice for notice in stack.ready["notices"])  # said at start
        reader = MetricsReader(aws(stack, "cloudwatch"), since=time.time() - 60)
        # the consumer's next invocation runs and dies before answering (mid-window: nothing of the
        # gauge written); later a window's final invocation writes the gauge and then dies
        local_call(stack, "faults", {"function": "StreamMetricsFunction", "lose_response": "any", "times": 1})
        load = Lifecycles(stack)
        loop.call_later(
            10,
            lambda: local_call(
                stack, "faults", {"function": "StreamMetricsFunction", "lose_response": "final", "times": 1}
            ),
        )
        loop.run_until_complete(asyncio.wait_for(load.run(), timeout=150))
        assert load.accepted == LIFECYCLES

        wait_for(lambda: len(table_items(stack)) == OPEN_AT_END, timeout=60, interval=0.5)
        wait_for(lambda: gauge_count(stack) == OPEN_AT_END, timeout=60, interval=0.5)
        found = local_call(stack, "invoke/ReconcileFunction", {})
        assert (found["drift"], found["live"]) == (0, OPEN_AT_END)
        wait_for(
            lambda: reader.latest("ActiveConnections") == OPEN_AT_END,
            timeout=60,
            interval=0.5,
            describe=lambda: gauge_points(stack),
        )
        totals = reader.totals()
        expired = sum(ends_by_ttl(index) for index in range(LIFECYCLES))
        # each record once, but those of the two invocations whose responses were lost: twice
        logged = logged_events(tmp_path / "functions.log")
        assert set(logged.values()) <= {1, 2}
        once = Counter(event for event, _ in logged)
        twice = Counter(event for (event, _), times in logged.items() if times == 2)
        assert (once["opened"], once["expired"], once["closed"]) == (
            LIFECYCLES,
            expired,
            LIFECYCLES - OPEN_AT_END - expired,
        )
        assert totals["ConnectionsOpened"] == LIFECYCLES + twice["opened"]
        assert totals["ConnectionsExpired"] == expired + twice["expired"]
        assert totals["ConnectionsClosed"] == LIFECYCLES - OPEN_AT_END - expired + twice["closed"]
        assert reader.latest("ActiveConnections") == len(table_items(stack)) == len(load.open) == OPEN_AT_END
        # a marker per shard that had records: several generations of closed shards, maybe a live one
        written = markers(stack)
        lineage = shards(stack)
        assert sum(lineage.values()) == 4
        assert len(lineage) > 4 * 8  # the shards rolled over all along
        assert set(written) <= set(lineage)
        closed = {shard: expires for shard, expires in written.items() if not lineage[shard]}
        assert len(closed) > 4
        # once the closed shards' markers have lived their lifetime (DynamoDB's TTL process, run as of
        # then), the counters table holds the count and markers of live shards only
        after = max(closed.values()) + 1
        assert local_call(stack, "ttl", {"table": "CountersTable", "asOf": after})["deleted"] >= len(closed)
        assert set(markers(stack)) <= {shard for shard, is_open in lineage.items() if is_open}
        assert gauge_count(stack) == OPEN_AT_END
        for socket in load.open:
            loop.run_until_complete(socket.close())
        wait_for(lambda: gauge_count(stack) == 0 and not table_items(stack), timeout=60, interval=0.5)
    finally:
        loop.close()
        stack.stop()
        print("".join(stack.printed()))
