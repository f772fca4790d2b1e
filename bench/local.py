"""1,000 concurrent WebSocket clients through the local stack, against the raw put_item rate of
the same moto server measured in the same run."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import ROOT, print_table
from connection_tracker.websocket import ConnectRequest
from local_stack import aws
from local_stack.loadgen import LoadPlan, generate
from local_stack.process import StackProcess
from local_stack.view import MetricsReader
from sam_template.model import load_template
from sam_template.tables import create_table

CLIENTS = 1_000
RAW_PUTS = 1_000


def _raw_put_rate(endpoint: str) -> float:
    """put_item calls per second from one client: the very request the connect function makes
    (same item, same condition), into a table made from the same template definition."""
    dynamodb = aws.client("dynamodb", endpoint)
    create_table(dynamodb, load_template(), "ConnectionsTable", "bench-raw")
    event = json.loads(Path(ROOT, "tests", "events", "connect.json").read_text(encoding="utf-8"))
    request = ConnectRequest.from_event(event, capture_source_ip=True, region=aws.REGION)
    start = time.perf_counter()
    for index in range(RAW_PUTS):
        item = replace(request, connection_id=f"raw-{index:06d}=").item(now=time.time(), ttl_seconds=86_400)
        dynamodb.put_item(
            TableName="bench-raw",
            Item=item.to_dynamodb(),
            ConditionExpression="attribute_not_exists(connectionId)",
        )
    return RAW_PUTS / (time.perf_counter() - start)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        stack = StackProcess(Path(scratch) / "functions.log", "--interval", "60")
        ready = stack.wait_ready()
        try:
            raw_rate = _raw_put_rate(ready["awsEndpoint"])
            plan = LoadPlan(url=ready["url"], clients=CLIENTS, concurrency=CLIENTS, hold=0.5, together=True)
            result = asyncio.run(generate(plan, progress=False))
            last_connect_wall = time.time() - (time.perf_counter() - result.last_connect)
            reader = MetricsReader(aws.client("cloudwatch", ready["awsEndpoint"]), since=time.time() - 120)
            visible_after = None
            while time.time() - last_connect_wall < 30:
                if reader.totals()["ConnectionsOpened"] >= CLIENTS:
                    visible_after = time.time() - last_connect_wall
                    break
                time.sleep(0.25)
        finally:
            stack.stop(timeout=60)
    summary = result.summary()
    rate = float(summary["connectsPerSecond"] or 0.0)
    latency = summary["connectLatencyMs"]
    assert isinstance(latency, dict)
    print_table(
        f"local stack, {CLIENTS:,} concurrent WebSocket clients (held open together)",
        [
            (
                "accepted / refused / errors",
                f"{result.accepted} / {sum(result.refused.values())} / {sum(result.errors.values())}",
            ),
            ("connects per second through the stack", f"{rate:,.0f}"),
            ("raw put_item per second, same moto server", f"{raw_rate:,.0f}"),
            ("connects/s / raw put_item rate", f"{rate / raw_rate:.2f}x"),
            ("connect latency p50 / p90 / p99", f"{latency['p50']} / {latency['p90']} / {latency['p99']} ms"),
            (
                "all ConnectionsOpened in CloudWatch after the last connect",
                f"{visible_after:.1f} s" if visible_after is not None else "not within 30 s",
            ),
        ],
    )
    return {
        "accepted": float(result.accepted),
        "ratio": rate / raw_rate,
        "visible_after": visible_after or -1.0,
    }
