"""Capacity and cost of a deployment, for a load described by its connect rate and lifetimes.

``python -m ops.capacity --connects-per-second R --mean-lifetime D [--ttl-share S] [--gauge on|off]
[--max-per-client N] [--auth-mode none|cognito|oidc] [--json]`` prints, for that load: DynamoDB
request units per second on each table, stream shards and consumer invocations per second, the
gauge's transactions and the write rate on its count item, Lambda concurrency per function (the
``$connect`` authorizer's with an ``--auth-mode``), the API Gateway quotas that bind first,
a monthly cost estimate at on-demand prices in us-east-1, and the usage charges per million
connections by service (``--json``: ``perMillionConnections``, the keys of the local stack's cost
meter, ``GET /_local/bill``).

Every constant below is a documented AWS quota (cited beside it) or an assumption about this
product's own behaviour (marked so, with where it was measured). Prices and billing rules are
``ops.prices``, the price table the local stack's meter uses too; ``tests/e2e/test_bill.py`` holds
this model to the meter on a load run through the local stack.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import NamedTuple

from connection_tracker.catalogue import CATALOGUE
from ops import prices

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
# The gauge writes once per stream shard per tumbling window: the window's final invocation puts the
# shard's marker and updates the count item in one TransactWriteItems (2 items, each under 1 KB: 2
# write units each, "Amazon DynamoDB Transactions: How it works", Capacity management), then reads
# the count (strongly consistent: 1 read unit).
GAUGE_WINDOW_SECONDS = 60  # template.yaml, GaugeWindowSeconds
GAUGE_ITEMS_PER_TRANSACTION = 2

# ----- prices: ops.prices (the one price table, shared with the local stack's cost meter) -------------

# ----- this product's behaviour (assumptions, measured or read from template.yaml) ------------------
ITEM_BYTES = 400  # a connection item with metadata (tests/events/connect.json): < 1 KB, one write unit
INDEX_ENTRY_BYTES = 60  # ByClient's entry (KEYS_ONLY: connectionId, clientId, createdAt): one write unit
# a shard's marker (shard id, the highest sequence number applied, expiresAt); the count item and
# the sweeper's cursor, the counters table's other items, are smaller
MARKER_BYTES = 120
BATCH_SIZE = 1_000  # template.yaml, the consumer's BatchSize
BATCHING_WINDOW_SECONDS = 5.0  # template.yaml, MaximumBatchingWindowInSeconds
RECONCILE_SETTLE_SECONDS = 10  # reconcile counts twice, a window and this much apart
SWEEP_PAGE_ITEMS = 100  # the sweeper's Scan Limit (a page is rounded up to 4 KB on its own)
# Warm durations on Lambda (assumed: the handler's own work measured by `make bench` is ~4 ms; one
# DynamoDB request adds ~5-10 ms): replace with your functions' Duration p50 (--duration-ms).
CONNECT_SECONDS, DISCONNECT_SECONDS = 0.020, 0.015
# The $connect authorizer (AuthMode cognito / oidc), once per connect: a warm invocation verifies one
# RS256 signature with the JWKS cached (no request; `make bench` measures the handler at well under
# 1 ms here); Lambda bills whole milliseconds, and the assumed 3 ms leaves room for a slower CPU.
AUTHORIZER_SECONDS = 0.003
AUTH_MODES = ("none", "cognito", "oidc")
CONSUMER_SECONDS_PER_BATCH, CONSUMER_SECONDS_PER_RECORD = 0.050, 0.000_016  # bench: ~62k records/s
GAUGE_SECONDS_PER_TRANSACTION = 0.015
MAINTENANCE_SECONDS = 0.200  # a sweep or a reconciliation of a small table
# Log bytes ingested (message + 26 bytes an event), measured by the local stack's cost meter
# (GET /_local/bill) on this template: $connect's and $disconnect's EMF document; the consumer's
# connection line (and its share of the EMF documents) per record, and its `gauge updated` and
# `batch processed` lines and EMF documents per batch. Lambda's START/END/REPORT lines, when a
# function's LoggingConfig keeps them (``sam_template.logging_config``): ~PLATFORM_LOG_BYTES an
# invocation.
CONNECT_LOG_BYTES, DISCONNECT_LOG_BYTES = 274, 349
RECORD_LOG_BYTES, BATCH_LOG_BYTES = 410, 1_650
# With an authorizer: the opened line carries `"authenticated":true` (21 bytes, one of a
# connection's two records); an allowed token writes nothing in the authorizer's log (no metric,
# its line is DEBUG): its bytes are its refusals' (not modelled: per accepted connection).
AUTHENTICATED_RECORD_LOG_BYTES = 21 / 2
AUTHORIZER_LOG_BYTES = 0
PLATFORM_LOG_BYTES = 420
# A custom metric per name and dimension set: each metric of the catalogue, published with its one
# dimension (``service``). The alarms' metrics and the dashboards: the template's (TemplateFacts).
CUSTOM_METRICS = len(CATALOGUE)
FUNCTIONS = (
    "AuthorizerFunction",
    "ConnectFunction",
    "DisconnectFunction",
    "StreamMetricsFunction",
    "SweeperFunction",
    "ReconcileFunction",
)


class TemplateFacts(NamedTuple):
    """What the model reads from template.yaml."""

    indexed: bool  # the connections table has its ByClient index
    memory: dict[str, int]  # each function's MemorySize
    platform_lines: dict[str, bool]  # whether Lambda writes each function's START/END/REPORT lines
    every: dict[str, float]  # seconds between a scheduled function's invocations
    alarm_metrics: int  # metrics the alarms read (billed per alarm metric)
    dashboards: int


def template_facts(max_per_client: int) -> TemplateFacts:
    """From template.yaml, for this ``MaxConnectionsPerClient``: whether the connections table has
    its ByClient index, each function's MemorySize, whether Lambda writes its platform lines (its
    LoggingConfig), the schedules, and the alarms' metrics and dashboards billed by the month."""
    from sam_template.logging_config import LogSettings  # noqa: PLC0415
    from sam_template.model import load_template  # noqa: PLC0415 - reads the YAML
    from sam_template.monitoring import alarm_metrics, dashboards  # noqa: PLC0415
    from sam_template.schedules import schedules  # noqa: PLC0415
    from sam_template.tables import table_properties  # noqa: PLC0415

    template = load_template()
    table = table_properties(template, "ConnectionsTable", {"MaxConnectionsPerClient": str(max_per_client)})
    indexed = any(index.get("IndexName") == "ByClient" for index in table.get("GlobalSecondaryIndexes") or [])
    defaults = template.body.get("Globals", {}).get("Function", {})
    memory = {
        name: int(template.properties(name).get("MemorySize", defaults.get("MemorySize", 128)))
        for name in FUNCTIONS
    }
    platform_lines = {name: LogSettings.of(template, name).keeps_system() for name in FUNCTIONS}
    return TemplateFacts(
        indexed, memory, platform_lines, schedules(template), alarm_metrics(template), dashboards(template)
    )


class CapacityError(ValueError):
    """The load described makes no sense (a message for the person who typed it)."""


@dataclass(frozen=True)
class Load:
    connects_per_second: float
    mean_lifetime_seconds: float
    ttl_share: float = 0.0  # connections whose $disconnect never came: removed by TTL (free)
    gauge: bool = True
    max_per_client: int = 0
    batching_window_seconds: float = BATCHING_WINDOW_SECONDS
    gauge_window_seconds: float = GAUGE_WINDOW_SECONDS
    # measured mean durations per function (ms), instead of the assumed warm durations above
    durations_ms: dict[str, float] = field(default_factory=dict)
    auth_mode: str = "none"  # AuthMode: with cognito / oidc the authorizer runs once per connect

    def __post_init__(self) -> None:
        if not math.isfinite(self.connects_per_second) or self.connects_per_second <= 0:
            raise CapacityError("--connects-per-second must be a number above 0")
        if not math.isfinite(self.mean_lifetime_seconds) or self.mean_lifetime_seconds <= 0:
            raise CapacityError("--mean-lifetime must be a number of seconds above 0")
        if not 0 <= self.ttl_share <= 1:
            raise CapacityError("--ttl-share is a fraction of connections, from 0 to 1")
        if self.max_per_client < 0:
            raise CapacityError("--max-per-client must be 0 (unlimited) or more")
        if not self.batching_window_seconds >= 0:
            raise CapacityError("--batching-window is seconds, 0 or more")
        if not 1 <= self.gauge_window_seconds <= 900:
            raise CapacityError("--gauge-window is seconds, from 1 to 900 (GaugeWindowSeconds)")
        if any(not math.isfinite(ms) or ms < 0 for ms in self.durations_ms.values()):
            raise CapacityError("--duration-ms takes FUNCTION=MILLISECONDS, 0 or more")
        if self.auth_mode not in AUTH_MODES:
            raise CapacityError(f"--auth-mode is one of {', '.join(AUTH_MODES)}")

    @property
    def authorized(self) -> bool:
        return self.auth_mode != "none"


@dataclass(frozen=True)
class Capacity:
    open_connections: float
    connections_write_units: float
    connections_read_units: float
    index_write_units: float  # ByClient's, when the template has it
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


@dataclass(frozen=True)
class Flow:
    """A load's rates, as the model derives them (per second)."""

    rate: float
    disconnects: float
    open_connections: float
    records: float
    shards: int
    batch: float
    invocations: float
    transactions: float
    indexed: bool


def flow(load: Load) -> Flow:
    rate = load.connects_per_second
    lifetime = min(load.mean_lifetime_seconds, API_CONNECTION_DURATION_SECONDS)
    disconnects = rate * (1 - load.ttl_share)  # TTL deletes cost no write units
    indexed = _facts(load.max_per_client).indexed
    records = 2 * rate  # an INSERT and a REMOVE per connection
    shards = max(1, math.ceil((rate + disconnects) / PARTITION_WRITE_UNITS_PER_SECOND))
    per_shard = records / shards
    batch = max(1.0, min(BATCH_SIZE, per_shard * load.batching_window_seconds))
    # with the gauge, the mapping has a tumbling window: besides the batches, each shard's window
    # ends in a final invocation (with or without records) that writes the gauge once
    finals = shards / load.gauge_window_seconds if load.gauge else 0.0
    invocations = shards * per_shard / batch + finals
    transactions = finals
    return Flow(
        rate, disconnects, rate * lifetime, records, shards, batch, invocations, transactions, indexed
    )


@cache
def _facts(max_per_client: int) -> TemplateFacts:
    return template_facts(max_per_client)


def _seconds(load: Load, name: str, assumed: float) -> float:
    return load.durations_ms[name] / 1000 if name in load.durations_ms else assumed


@dataclass(frozen=True)
class TableUnits:
    """Request units per second on each table (and the ByClient index) under a load."""

    connections_write: float
    connections_read: float
    index_write: float
    counters_write: float
    counters_read: float


def table_units(load: Load) -> TableUnits:
    """DynamoDB's request units per second, table by table: the one computation behind both the
    capacity figures (:func:`estimate`) and the bill (:func:`usage_per_second`)."""
    f = flow(load)
    every = _facts(load.max_per_client).every
    sweep, reconcile = every["SweeperFunction"], every["ReconcileFunction"]
    # a PutItem per connect, a DeleteItem per $disconnect (the item's size); ByClient, when the
    # template has it: an index write for each (the entry's size), and a Query page per connect
    connections_write = (f.rate + f.disconnects) * prices.write_units(ITEM_BYTES)
    index_write = (f.rate + f.disconnects) * prices.write_units(INDEX_ENTRY_BYTES) if f.indexed else 0.0
    query = prices.read_units(load.max_per_client * INDEX_ENTRY_BYTES, consistent=False)
    connections_read = f.rate * query if load.max_per_client else 0.0
    # each sweep Scans the table in pages (eventually consistent, each page rounded up on its own);
    # each reconciliation counts it, twice with the gauge (a window apart)
    pages = max(1.0, f.open_connections / SWEEP_PAGE_ITEMS)
    connections_read += pages * prices.read_units(SWEEP_PAGE_ITEMS * ITEM_BYTES, consistent=False) / sweep
    count = max(1.0, f.open_connections * ITEM_BYTES / prices.READ_UNIT_BYTES) * 0.5  # eventually consistent
    connections_read += count * (2 if load.gauge else 1) / reconcile
    # the sweeper's cursor: a GetItem (strongly consistent) and a PutItem each sweep
    cursor_read = prices.read_units(MARKER_BYTES, consistent=True)
    counters_write, counters_read = prices.write_units(MARKER_BYTES) / sweep, cursor_read / sweep
    if load.gauge:
        # one transaction of the shard's marker and the count item per shard per window, one
        # strongly consistent read of the count after it; reconcile reads the count
        counters_write += (
            GAUGE_ITEMS_PER_TRANSACTION
            * prices.write_units(MARKER_BYTES, transactional=True)
            * f.transactions
        )
        counters_read += prices.read_units(MARKER_BYTES, consistent=True) * (f.transactions + 1 / reconcile)
    return TableUnits(
        connections_write=connections_write,
        connections_read=connections_read,
        index_write=index_write,
        counters_write=counters_write,
        counters_read=counters_read,
    )


def _invocations(load: Load) -> dict[str, tuple[float, float]]:
    """Each function's invocations a second and seconds an invocation, at this load."""
    f = flow(load)
    facts = _facts(load.max_per_client)
    consumer = _seconds(
        load, "StreamMetricsFunction", CONSUMER_SECONDS_PER_BATCH + f.batch * CONSUMER_SECONDS_PER_RECORD
    ) + (
        0.0
        if "StreamMetricsFunction" in load.durations_ms or not load.gauge
        else f.transactions / max(f.invocations, 1e-12) * GAUGE_SECONDS_PER_TRANSACTION
    )
    # reconcile waits a window (and the settling margin) between its two counts
    settle = load.gauge_window_seconds + RECONCILE_SETTLE_SECONDS if load.gauge else 0.0
    return {
        # API Gateway invokes the authorizer for every connect (a WebSocket authorizer's answer is
        # not cached): its requests and GB-seconds are Lambda's, no API Gateway message
        "AuthorizerFunction": (
            f.rate if load.authorized else 0.0,
            _seconds(load, "AuthorizerFunction", AUTHORIZER_SECONDS),
        ),
        "ConnectFunction": (f.rate, _seconds(load, "ConnectFunction", CONNECT_SECONDS)),
        "DisconnectFunction": (f.disconnects, _seconds(load, "DisconnectFunction", DISCONNECT_SECONDS)),
        "StreamMetricsFunction": (f.invocations, consumer),
        "SweeperFunction": (
            1 / facts.every["SweeperFunction"],
            _seconds(load, "SweeperFunction", MAINTENANCE_SECONDS),
        ),
        "ReconcileFunction": (
            1 / facts.every["ReconcileFunction"],
            _seconds(load, "ReconcileFunction", MAINTENANCE_SECONDS + settle),
        ),
    }


def usage_per_second(load: Load) -> prices.Usage:
    """What the load uses each second, in the units each service bills (``ops.prices``): what the
    local stack's cost meter counts, from the same rules."""
    f = flow(load)
    facts = _facts(load.max_per_client)
    units = table_units(load)
    invocations = _invocations(load)
    log_bytes = (
        (
            f.rate * AUTHORIZER_LOG_BYTES + f.records * AUTHENTICATED_RECORD_LOG_BYTES
            if load.authorized
            else 0.0
        )
        + f.rate * CONNECT_LOG_BYTES
        + f.disconnects * DISCONNECT_LOG_BYTES
        + f.records * RECORD_LOG_BYTES
        + f.invocations * BATCH_LOG_BYTES
        + sum(count for name, (count, _) in invocations.items() if facts.platform_lines[name])
        * PLATFORM_LOG_BYTES
    )
    return prices.Usage(
        dynamodb_write_units=units.connections_write + units.index_write + units.counters_write,
        dynamodb_read_units=units.connections_read + units.counters_read,
        lambda_requests=sum(count for count, _ in invocations.values()),
        lambda_gb_seconds=sum(
            count * prices.gb_seconds(facts.memory[name], seconds * 1000)
            for name, (count, seconds) in invocations.items()
        ),
        api_messages=f.rate + f.disconnects,  # $connect and $disconnect (see ops.prices.api_messages)
        api_connection_minutes=f.open_connections / 60,
        log_bytes=log_bytes,
    )


def per_million_connections(load: Load) -> dict[str, float]:
    """Usage charges per million connections, by service, as the meter's ``perMillionConnections``."""
    return prices.per_million(prices.dollars(usage_per_second(load)), load.connects_per_second)


def estimate(load: Load) -> Capacity:
    f = flow(load)
    facts = _facts(load.max_per_client)
    rate, open_connections = f.rate, f.open_connections

    tables = table_units(load)
    connections_write, counters_write = tables.connections_write, tables.counters_write
    count_item = 2 * f.transactions
    usage = usage_per_second(load)
    invocations = _invocations(load)
    concurrency = {
        name: count * seconds
        for name, (count, seconds) in invocations.items()
        if name in {"AuthorizerFunction", "ConnectFunction", "DisconnectFunction"}
    }
    concurrency["StreamMetricsFunction"] = float(f.shards)  # one batch per shard at a time

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

    storage_gb = (open_connections * ITEM_BYTES + (f.shards * MARKER_BYTES if load.gauge else 0)) / 1e9
    month = {name: value * prices.SECONDS_PER_MONTH for name, value in prices.dollars(usage).items()}
    cost = {
        "DynamoDB": month["dynamodb"] + storage_gb * prices.DYNAMODB_PER_GB_MONTH,
        "Lambda": month["lambda"],
        "API Gateway": month["apigateway"],
        "CloudWatch": month["cloudwatch"]
        + prices.monthly(CUSTOM_METRICS, facts.alarm_metrics, facts.dashboards),
        "SQS": month["sqs"],
        "SNS": month["sns"],
    }
    cost["total"] = sum(cost.values())
    return Capacity(
        open_connections=open_connections,
        connections_write_units=connections_write,
        connections_read_units=tables.connections_read,
        index_write_units=tables.index_write,
        counters_write_units=counters_write,
        counters_read_units=tables.counters_read,
        stream_records_per_second=f.records,
        stream_shards=f.shards,
        consumer_invocations_per_second=f.invocations,
        gauge_transactions_per_second=f.transactions,
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
        ("ConnectionsTable ByClient index write units per s", f"{capacity.index_write_units:,.1f}"),
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
    parser.add_argument(
        "--auth-mode", choices=AUTH_MODES, default="none", help="AuthMode: the $connect authorizer (none)"
    )
    parser.add_argument(
        "--batching-window", type=float, default=BATCHING_WINDOW_SECONDS, help="the consumer's, seconds (5)"
    )
    parser.add_argument(
        "--gauge-window",
        type=float,
        default=GAUGE_WINDOW_SECONDS,
        help="the gauge's tumbling window, seconds (GaugeWindowSeconds: 60)",
    )
    parser.add_argument(
        "--duration-ms",
        action="append",
        default=[],
        metavar="FUNCTION=MS",
        help="a function's measured mean duration (its Duration), instead of the assumed one",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        durations = {}
        for given in args.duration_ms:
            name, _, value = given.partition("=")
            durations[name] = float(value)
        load = Load(
            args.connects_per_second,
            args.mean_lifetime,
            args.ttl_share,
            args.gauge == "on",
            args.max_per_client,
            args.batching_window,
            args.gauge_window,
            durations,
            args.auth_mode,
        )
    except (CapacityError, ValueError) as exc:
        parser.error(
            str(exc) if isinstance(exc, CapacityError) else "--duration-ms takes FUNCTION=MILLISECONDS"
        )
    capacity = estimate(load)
    per_million = per_million_connections(load)
    if args.json:
        print(json.dumps({"load": asdict(load), **asdict(capacity), "perMillionConnections": per_million}))
        return 0
    width = max(len(name) for name, _ in rows(capacity))
    print(
        f"load: {load.connects_per_second:,g} connects/s, mean lifetime {load.mean_lifetime_seconds:,g} s, "
        f"TTL share {load.ttl_share:g}, gauge {args.gauge}, max per client {load.max_per_client}, "
        f"auth {load.auth_mode}"
    )
    for name, value in rows(capacity):
        print(f"  {name:<{width}}  {value}")
    for name, value in per_million.items():
        print(f"  {'per million connections, ' + name:<{width}}  ${value:,.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
