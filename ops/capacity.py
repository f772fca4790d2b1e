"""Capacity and cost of a deployment, for a load described by its connect rate and lifetimes.

``python -m ops.capacity --connects-per-second R --mean-lifetime D [--ttl-share S] [--gauge on|off]
[--max-per-client N] [--json]`` prints, for that load: DynamoDB request units per second on each
table, stream shards and consumer invocations per second, the gauge's transactions and the write
rate on its count item, Lambda concurrency per function, the API Gateway quotas that bind first,
and a monthly cost estimate at on-demand prices in us-east-1.

Every constant below is a documented AWS quota or price (cited beside it), or an assumption about
this product's own behaviour (marked so, with where it was measured). Prices were read on
2026-11-26 from stored copies of the AWS pricing pages; check the live pages before you budget.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass

# ----- AWS quotas --------------------------------------------------------------------------------
# API Gateway, "Quotas for configuring and running a WebSocket in API Gateway":
# https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html
API_NEW_CONNECTIONS_PER_SECOND = 500  # per account and Region, across all WebSocket APIs (adjustable)
API_CONNECTION_DURATION_SECONDS = 7_200  # 2 hours, not adjustable
API_IDLE_TIMEOUT_SECONDS = 600  # 10 minutes, not adjustable
# DynamoDB, "Understanding DynamoDB warm throughput in different scenarios": each partition is
# limited to 1,000 write units and 3,000 read units per second.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html
PARTITION_WRITE_UNITS_PER_SECOND = 1_000
PARTITION_READ_UNITS_PER_SECOND = 3_000
# DynamoDB, "Service, account, and table quotas": an on-demand table takes at most 40,000 read and
# 40,000 write request units per second by default (adjustable).
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
TABLE_WRITE_UNITS_PER_SECOND = 40_000
# Lambda, "Lambda quotas": 1,000 concurrent executions per account and Region by default.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_ACCOUNT_CONCURRENCY = 1_000
# TransactWriteItems takes 100 actions: the gauge puts 99 markers and the count in one
# (DynamoDB developer guide, "Amazon DynamoDB Transactions: How it works").
GAUGE_CHANGES_PER_TRANSACTION = 99

# ----- prices, us-east-1, read 2026-11-26 -------------------------------------------------------------
# DynamoDB on-demand (https://aws.amazon.com/dynamodb/pricing/on-demand/): a write request unit
# writes up to 1 KB, a transactional write takes 2; a strongly consistent read of up to 4 KB takes
# 1 read request unit, an eventually consistent one half. Reads of a stream by a Lambda trigger
# are free.
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625
DYNAMODB_PER_MILLION_READ_UNITS = 0.125
DYNAMODB_PER_GB_MONTH = 0.25
# Lambda, arm64 (https://aws.amazon.com/lambda/pricing/): first 7.5 billion GB-seconds a month.
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND_ARM64 = 0.0000133334
# API Gateway WebSocket (https://aws.amazon.com/api-gateway/pricing/): first billion messages,
# in 32 KB increments; connection minutes. $connect and $disconnect are counted as messages here
# (API Gateway's ConnectCount metric calls them "messages sent to the $connect route"): the
# conservative reading.
API_PER_MILLION_MESSAGES = 1.00
API_PER_MILLION_CONNECTION_MINUTES = 0.25
# CloudWatch (https://aws.amazon.com/cloudwatch/pricing/): log ingestion per GB, custom metrics
# per metric-month (first 10,000), a standard alarm per metric it reads, a dashboard.
CLOUDWATCH_PER_GB_LOGS = 0.50
CLOUDWATCH_PER_METRIC_MONTH = 0.30
CLOUDWATCH_PER_ALARM_METRIC_MONTH = 0.10
CLOUDWATCH_PER_DASHBOARD_MONTH = 3.00
SECONDS_PER_MONTH = 30 * 86_400

# ----- this product's behaviour (assumptions, measured or read from template.yaml) ------------------
ITEM_BYTES = 400  # a connection item with metadata (tests/events/connect.json): < 1 KB, one write unit
MARKER_BYTES = 60
BATCH_SIZE = 1_000  # template.yaml, the consumer's BatchSize
BATCHING_WINDOW_SECONDS = 5.0  # template.yaml, MaximumBatchingWindowInSeconds
TOMBSTONE_SECONDS = 3_600 + 900  # StreamMaxRecordAgeSeconds + the gauge's margin
CONNECT_MEMORY_GB, CONSUMER_MEMORY_GB = 0.25, 0.5  # template.yaml MemorySize
# Warm durations on Lambda (assumed: the handler's own work measured by `make bench` is ~4 ms; one
# DynamoDB request adds ~5-10 ms): replace with your functions' Duration p50.
CONNECT_SECONDS, DISCONNECT_SECONDS = 0.020, 0.015
CONSUMER_SECONDS_PER_BATCH, CONSUMER_SECONDS_PER_RECORD = 0.050, 0.000_016  # bench: ~62k records/s
GAUGE_SECONDS_PER_TRANSACTION = 0.015
LOG_BYTES_PER_CONNECTION = 3_500  # connect, disconnect and two event lines, with Lambda's own lines
CUSTOM_METRICS, ALARM_METRICS, DASHBOARDS = 15, 13, 1  # the catalogue; the alarms' metrics; one


class CapacityError(ValueError):
    """The load described makes no sense (a message for the person who typed it)."""


@dataclass(frozen=True)
class Load:
    connects_per_second: float
    mean_lifetime_seconds: float
    ttl_share: float = 0.0  # connections whose $disconnect never came: removed by TTL (free)
    gauge: bool = True
    max_per_client: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.connects_per_second) or self.connects_per_second <= 0:
            raise CapacityError("--connects-per-second must be a number above 0")
        if not math.isfinite(self.mean_lifetime_seconds) or self.mean_lifetime_seconds <= 0:
            raise CapacityError("--mean-lifetime must be a number of seconds above 0")
        if not 0 <= self.ttl_share <= 1:
            raise CapacityError("--ttl-share is a fraction of connections, from 0 to 1")
        if self.max_per_client < 0:
            raise CapacityError("--max-per-client must be 0 (unlimited) or more")


@dataclass(frozen=True)
class Capacity:
    open_connections: float
    connections_write_units: float
    connections_read_units: float
    counters_write_units: float
    counters_read_units: float
    stream_records_per_second: float
    stream_shards: int
    consumer_invocations_per_second: float
    gauge_transactions_per_second: float
    count_item_write_units: float
    count_item_limit_write_units: int
    concurrency: dict[str, float]
    binding: list[str]
    monthly_cost: dict[str, float]


def estimate(load: Load) -> Capacity:
    rate = load.connects_per_second
    lifetime = min(load.mean_lifetime_seconds, API_CONNECTION_DURATION_SECONDS)
    open_connections = rate * lifetime  # Little's law
    disconnects = rate * (1 - load.ttl_share)  # TTL deletes cost no write units

    # the connections table: one PutItem per connect, one DeleteItem per $disconnect; with the
    # per-client limit one keys-only Query page (eventually consistent: half a read unit) per connect
    connections_write = rate + disconnects
    scans_per_second = open_connections * ITEM_BYTES / 4096 * 0.5 * (1 / 300 + 1 / 3600)  # sweeper, reconcile
    connections_read = (0.5 * rate if load.max_per_client else 0.0) + scans_per_second

    # the stream: an INSERT and a REMOVE per connection; shards follow the table's partitions
    records = 2 * rate
    shards = max(1, math.ceil(connections_write / PARTITION_WRITE_UNITS_PER_SECOND))
    per_shard = records / shards
    batch = min(BATCH_SIZE, per_shard * BATCHING_WINDOW_SECONDS)
    invocations = shards * per_shard / batch

    # the gauge: markers opened and closed in transactions (2 write units each) and the count
    # item once per transaction; one strongly consistent read of the count per batch
    transactions = invocations * math.ceil(batch / GAUGE_CHANGES_PER_TRANSACTION) if load.gauge else 0.0
    count_item = 2 * transactions
    counters_write = (2 * 2 * rate + count_item) if load.gauge else 0.0
    counters_read = invocations if load.gauge else 0.0

    consumer_seconds = (
        CONSUMER_SECONDS_PER_BATCH
        + batch * CONSUMER_SECONDS_PER_RECORD
        + (
            math.ceil(batch / GAUGE_CHANGES_PER_TRANSACTION) * GAUGE_SECONDS_PER_TRANSACTION
            if load.gauge
            else 0
        )
    )
    concurrency = {
        "ConnectFunction": rate * CONNECT_SECONDS,
        "DisconnectFunction": disconnects * DISCONNECT_SECONDS,
        "StreamMetricsFunction": float(shards),  # one batch per shard at a time
    }

    binding = []
    if rate > API_NEW_CONNECTIONS_PER_SECOND:
        binding.append(
            f"API Gateway: {rate:,.0f} new connections/s is over the account's "
            f"{API_NEW_CONNECTIONS_PER_SECOND}/s quota (adjustable: ask for an increase before launch)"
        )
    if load.mean_lifetime_seconds > API_CONNECTION_DURATION_SECONDS:
        binding.append("API Gateway closes every connection after 2 hours: clients must reconnect")
    if load.mean_lifetime_seconds > API_IDLE_TIMEOUT_SECONDS:
        binding.append("API Gateway closes connections idle for 10 minutes: clients must send keepalives")
    if count_item > PARTITION_WRITE_UNITS_PER_SECOND:
        binding.append(
            f"the gauge's count item takes {count_item:,.0f} write units/s, over one partition's "
            f"{PARTITION_WRITE_UNITS_PER_SECOND}: shard the count item (N count items, summed on read)"
        )
    for table, units in (("ConnectionsTable", connections_write), ("CountersTable", counters_write)):
        if units > TABLE_WRITE_UNITS_PER_SECOND:
            binding.append(
                f"DynamoDB: {table} takes {units:,.0f} write units/s, over the table quota of "
                f"{TABLE_WRITE_UNITS_PER_SECOND:,}/s (adjustable)"
            )
    if sum(concurrency.values()) > LAMBDA_ACCOUNT_CONCURRENCY:
        binding.append(
            f"Lambda: {sum(concurrency.values()):,.0f} concurrent executions, over the default 1,000"
        )

    storage_gb = (
        open_connections * ITEM_BYTES + (open_connections + rate * TOMBSTONE_SECONDS) * MARKER_BYTES
    ) / 1e9
    requests = rate + disconnects + invocations
    gb_seconds = (
        rate * CONNECT_SECONDS * CONNECT_MEMORY_GB
        + disconnects * DISCONNECT_SECONDS * CONNECT_MEMORY_GB
        + invocations * consumer_seconds * CONSUMER_MEMORY_GB
    )
    cost = {
        "DynamoDB": SECONDS_PER_MONTH
        * (
            (connections_write + counters_write) * DYNAMODB_PER_MILLION_WRITE_UNITS
            + (connections_read + counters_read) * DYNAMODB_PER_MILLION_READ_UNITS
        )
        / 1e6
        + storage_gb * DYNAMODB_PER_GB_MONTH,
        "Lambda": SECONDS_PER_MONTH
        * (requests * LAMBDA_PER_MILLION_REQUESTS / 1e6 + gb_seconds * LAMBDA_PER_GB_SECOND_ARM64),
        "API Gateway": SECONDS_PER_MONTH * (rate + disconnects) * API_PER_MILLION_MESSAGES / 1e6
        + open_connections * SECONDS_PER_MONTH / 60 * API_PER_MILLION_CONNECTION_MINUTES / 1e6,
        "CloudWatch": SECONDS_PER_MONTH * rate * LOG_BYTES_PER_CONNECTION / 1e9 * CLOUDWATCH_PER_GB_LOGS
        + CUSTOM_METRICS * CLOUDWATCH_PER_METRIC_MONTH
        + ALARM_METRICS * CLOUDWATCH_PER_ALARM_METRIC_MONTH
        + DASHBOARDS * CLOUDWATCH_PER_DASHBOARD_MONTH,
    }
    cost["total"] = sum(cost.values())
    return Capacity(
        open_connections=open_connections,
        connections_write_units=connections_write,
        connections_read_units=connections_read,
        counters_write_units=counters_write,
        counters_read_units=counters_read,
        stream_records_per_second=records,
        stream_shards=shards,
        consumer_invocations_per_second=invocations,
        gauge_transactions_per_second=transactions,
        count_item_write_units=count_item,
        count_item_limit_write_units=PARTITION_WRITE_UNITS_PER_SECOND,
        concurrency=concurrency,
        binding=binding,
        monthly_cost={name: round(value, 2) for name, value in cost.items()},
    )


def rows(capacity: Capacity) -> list[tuple[str, str]]:
    found = [
        ("open connections (rate x lifetime)", f"{capacity.open_connections:,.0f}"),
        (
            "ConnectionsTable write / read units per s",
            f"{capacity.connections_write_units:,.1f} / {capacity.connections_read_units:,.2f}",
        ),
        (
            "CountersTable write / read units per s",
            f"{capacity.counters_write_units:,.1f} / {capacity.counters_read_units:,.2f}",
        ),
        (
            "stream records per s, shards",
            f"{capacity.stream_records_per_second:,.0f}, {capacity.stream_shards}",
        ),
        ("consumer invocations per s", f"{capacity.consumer_invocations_per_second:,.2f}"),
        ("gauge transactions per s", f"{capacity.gauge_transactions_per_second:,.2f}"),
        (
            "count item write units per s (limit)",
            f"{capacity.count_item_write_units:,.1f} ({capacity.count_item_limit_write_units:,})",
        ),
    ]
    found += [
        (f"Lambda concurrency, {name}", f"{value:,.2f}") for name, value in capacity.concurrency.items()
    ]
    found += [(f"monthly cost, {name}", f"${value:,.2f}") for name, value in capacity.monthly_cost.items()]
    found += [("binds first", reason) for reason in capacity.binding] or [
        ("binds first", "nothing at this load")
    ]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connects-per-second", type=float, required=True)
    parser.add_argument("--mean-lifetime", type=float, required=True, help="seconds a connection stays open")
    parser.add_argument("--ttl-share", type=float, default=0.0, help="fraction ending by TTL, 0-1 (0)")
    parser.add_argument(
        "--gauge", choices=("on", "off"), default="on", help="the ActiveConnections gauge (on)"
    )
    parser.add_argument("--max-per-client", type=int, default=0, help="MAX_CONNECTIONS_PER_CLIENT (0)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        load = Load(
            args.connects_per_second,
            args.mean_lifetime,
            args.ttl_share,
            args.gauge == "on",
            args.max_per_client,
        )
    except CapacityError as exc:
        parser.error(str(exc))
    capacity = estimate(load)
    if args.json:
        print(json.dumps({"load": asdict(load), **asdict(capacity)}))
        return 0
    width = max(len(name) for name, _ in rows(capacity))
    print(
        f"load: {load.connects_per_second:,g} connects/s, mean lifetime {load.mean_lifetime_seconds:,g} s, "
        f"TTL share {load.ttl_share:g}, gauge {args.gauge}, max per client {load.max_per_client}"
    )
    for name, value in rows(capacity):
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
