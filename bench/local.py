"""1,000 concurrent WebSocket clients through the local stack, against the raw put_item rate of
the same moto server measured in the same run: three bursts, each between two halves of the raw
puts (this machine's speed drifts within a minute: a baseline taken once swung the ratio from 0.6
to 0.97 between runs of the same code), and the median of the bursts' ratios."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import ROOT, print_table
from connection_tracker.websocket import ConnectRequest
from local_stack.dashboard.terminal import MetricsReader
from local_stack.harness.loadgen import LoadPlan, LoadResult, generate
from local_stack.harness.process import StackProcess
from local_stack.provisioning import emulator as aws
from sam_template.model import load_template
from sam_template.tables import create_table

CLIENTS = 1_000
RAW_PUTS = 600  # per burst: half before it, half after
ROUNDS = 3


class RawPuts:
    """put_item calls from one client: the very request the connect function makes (same item, same
    condition), into a table made from the same template definition."""

    def __init__(self, endpoint: str) -> None:
        self._dynamodb = aws.client("dynamodb", endpoint)
        create_table(self._dynamodb, load_template(), "ConnectionsTable", "bench-raw")
        event = json.loads(Path(ROOT, "tests", "events", "connect.json").read_text(encoding="utf-8"))
        self._request = ConnectRequest.from_event(event, capture_source_ip=True, region=aws.REGION)
        self.puts = 0  # made so far: each call's item has a new connection id

    def run(self, puts: int) -> float:
        """Make ``puts`` calls; their rate (per second)."""
        start = time.perf_counter()
        for index in range(self.puts, self.puts + puts):
            item = replace(self._request, connection_id=f"raw-{index:06d}=").item(
                now=time.time(), ttl_seconds=86_400
            )
            self._dynamodb.put_item(
                TableName="bench-raw",
                Item=item.to_dynamodb(),
                ConditionExpression="attribute_not_exists(connectionId)",
            )
        self.puts += puts
        return puts / (time.perf_counter() - start)


@dataclass(frozen=True)
class Round:
    """One burst of ``CLIENTS`` clients, with the raw rate just before and just after it."""

    result: LoadResult
    raw_before: float
    raw_after: float
    visible_after: float | None  # seconds from the last connect until CloudWatch counted them all

    @property
    def rate(self) -> float:
        return float(self.result.summary()["connectsPerSecond"] or 0.0)

    @property
    def raw(self) -> float:
        """The raw rate over both halves (as many calls each: the harmonic mean)."""
        return 2 / (1 / self.raw_before + 1 / self.raw_after)

    @property
    def ratio(self) -> float:
        return self.rate / self.raw


def _burst(raw: RawPuts, url: str, reader: MetricsReader, number: int) -> Round:
    before = raw.run(RAW_PUTS // 2)
    plan = LoadPlan(url=url, clients=CLIENTS, concurrency=CLIENTS, hold=0.5, together=True)
    result = asyncio.run(generate(plan, progress=False))
    last_connect_wall = time.time() - (time.perf_counter() - result.last_connect)
    visible_after = None
    while time.time() - last_connect_wall < 30:
        if reader.totals()["ConnectionsOpened"] >= CLIENTS * number:
            visible_after = time.time() - last_connect_wall
            break
        time.sleep(0.25)
    # the clients' disconnects (DeleteItem, REMOVE records, the gauge) keep moto busy for a few
    # seconds: the second half of the baseline waits until the stack has counted them
    while time.time() - last_connect_wall < 60 and reader.totals()["ConnectionsClosed"] < CLIENTS * number:
        time.sleep(0.25)
    return Round(result, before, raw.run(RAW_PUTS // 2), visible_after)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        stack = StackProcess(Path(scratch) / "functions.log", "--interval", "60")
        ready = stack.wait_ready()
        try:
            raw = RawPuts(ready["awsEndpoint"])
            reader = MetricsReader(aws.client("cloudwatch", ready["awsEndpoint"]), since=time.time() - 120)
            rounds = [_burst(raw, ready["url"], reader, number) for number in range(1, ROUNDS + 1)]
        finally:
            stack.stop(timeout=60)
    ratio = statistics.median(burst.ratio for burst in rounds)
    rows = []
    for number, burst in enumerate(rounds, start=1):
        result, latency = burst.result, burst.result.summary()["connectLatencyMs"]
        assert isinstance(latency, dict)
        rows += [
            (
                f"burst {number}: accepted / refused / errors",
                f"{result.accepted} / {sum(result.refused.values())} / {sum(result.errors.values())}",
            ),
            (
                f"burst {number}: connects/s, raw put_item/s (before / after) = ratio",
                f"{burst.rate:,.0f}, {burst.raw:,.0f} ({burst.raw_before:,.0f} / {burst.raw_after:,.0f})"
                f" = {burst.ratio:.2f}x",
            ),
            (
                f"burst {number}: connect latency p50 / p90 / p99",
                f"{latency['p50']} / {latency['p90']} / {latency['p99']} ms",
            ),
            (
                f"burst {number}: all ConnectionsOpened in CloudWatch after the last connect",
                f"{burst.visible_after:.1f} s" if burst.visible_after is not None else "not within 30 s",
            ),
        ]
    rows.append(("connects/s / raw put_item rate, median of the bursts", f"{ratio:.2f}x"))
    print_table(
        f"local stack, {ROUNDS} bursts of {CLIENTS:,} concurrent WebSocket clients (held open together;"
        " burst 1 also scales the connect function out: its environments' Init runs on these cores)",
        rows,
    )
    return {
        "accepted": float(sum(burst.result.accepted for burst in rounds)),
        "ratio": ratio,
        "visible_after": max(burst.visible_after or -1.0 for burst in rounds),
    }
