"""What AWS charges, and how each service counts what it charges: the one price table of the
project, shared by the local stack's cost meter (``local_stack.cost.meter``, ``local_stack.cost.endpoint``)
and the capacity model (``ops.capacity``).

Prices are on-demand, us-east-1, read on 2026-11-26 from stored copies of the AWS pricing pages
(check the live pages before you budget). Each rule cites the page that states it; where a page
leaves a detail open, the rule says what is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

# ----- prices ----------------------------------------------------------------------------------
# DynamoDB on-demand (https://aws.amazon.com/dynamodb/pricing/on-demand/): per million write and
# read request units; storage per GB-month. GetRecords by a Lambda trigger costs nothing ("You are
# not charged for GetRecords API calls invoked by AWS Lambda as part of DynamoDB triggers", same
# page; "Evaluate your DynamoDB streams usage",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html).
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625
DYNAMODB_PER_MILLION_READ_UNITS = 0.125
DYNAMODB_PER_GB_MONTH = 0.25
# Lambda, arm64 (https://aws.amazon.com/lambda/pricing/): per million requests; per GB-second,
# first 7.5 billion GB-seconds a month.
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND_ARM64 = 0.0000133334
# API Gateway WebSocket APIs (https://aws.amazon.com/api-gateway/pricing/): per million messages
# (first billion), per million connection minutes.
API_PER_MILLION_MESSAGES = 1.00
API_PER_MILLION_CONNECTION_MINUTES = 0.25
# CloudWatch (https://aws.amazon.com/cloudwatch/pricing/): logs ingested per GB (standard class);
# a custom metric per month (first 10,000); a standard alarm per metric it reads per month; a
# dashboard per month; API requests (PutMetricData) per 1,000; Logs Insights queries per GB of log
# data scanned (Logs, "Analyze (Logs Insights queries)").
CLOUDWATCH_PER_GB_LOGS = 0.50
CLOUDWATCH_PER_GB_SCANNED = 0.005
CLOUDWATCH_PER_METRIC_MONTH = 0.30
CLOUDWATCH_PER_ALARM_METRIC_MONTH = 0.10
CLOUDWATCH_PER_DASHBOARD_MONTH = 3.00
CLOUDWATCH_PER_THOUSAND_REQUESTS = 0.01
# SQS standard queues (https://aws.amazon.com/sqs/pricing/): per million requests.
SQS_PER_MILLION_REQUESTS = 0.40
# SNS standard topics (https://aws.amazon.com/sns/pricing/): per million API requests.
SNS_PER_MILLION_REQUESTS = 0.50

SECONDS_PER_MONTH = 30 * 86_400
BYTES_PER_GB = 1024**3  # AWS bills data in binary gigabytes

# ----- DynamoDB: item sizes and capacity units ---------------------------------------------------
# "DynamoDB item sizes and formats",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html:
# an item is the sum of its attribute names and values. A string is its UTF-8 bytes; a number
# about 1 byte per two significant digits plus 1 (leading and trailing zeros trimmed); a binary
# its raw bytes; null and Boolean 1 byte; a list or map 3 bytes plus its elements, each element 1
# byte more (a map's elements with their names).
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_deserializer = TypeDeserializer()


def _number_size(number: Decimal) -> int:
    digits = "".join(str(digit) for digit in number.normalize().as_tuple().digits)  # trailing zeros trimmed
    significant = digits.lstrip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _value_size(value: Any) -> int:  # noqa: ANN401, PLR0911 - any value boto3 deserialises to: one return per type
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, Decimal | int | float):
        return _number_size(Decimal(str(value)))
    if isinstance(value, Binary):
        return len(value.value)  # type: ignore[attr-defined]  # boto3's stubs omit it
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(name).encode("utf-8")) + _value_size(item) + 1 for name, item in value.items())
    if isinstance(value, Set):  # a string, number or binary set: its elements
        return sum(_value_size(item) for item in value)
    if isinstance(value, list | tuple):
        return 3 + sum(_value_size(item) + 1 for item in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it, from its Python values (boto3's ``TypeDeserializer``
    shapes: ``str``, ``Decimal``, ``Binary``, ``bool``, ``None``, ``set``, ``list``, ``dict``)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def typed_item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size of an item in DynamoDB JSON (``{"name": {"S": "..."}}``), deserialised by boto3."""
    return item_size({name: _deserializer.deserialize(value) for name, value in item.items()})  # type: ignore[arg-type]


def write_units(size: int, *, transactional: bool = False) -> int:
    """Write request units of one item write: 1 per KB, rounded up, at least 1; a transactional
    write 2 per KB ("DynamoDB read and write operations", Capacity unit consumption for write
    operations, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html;
    "Amazon DynamoDB Transactions: How it works", Capacity management for transactions,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read request units of one read of ``size`` bytes (an item, or what a Query or Scan page
    evaluated, summed): 1 per 4 KB, rounded up, at least one 4 KB; an eventually consistent read
    half, a transactional read 2 ("DynamoDB read and write operations", Capacity unit consumption
    for read operations: a GetItem of a missing item still consumes the minimum)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def projected(item: Mapping[str, Any], keys: Sequence[str], projection: Mapping[str, Any]) -> dict[str, Any]:
    """What a global secondary index holds of an item: the table's and the index's keys
    (``KEYS_ONLY``), those and ``NonKeyAttributes`` (``INCLUDE``), or all of it (``ALL``)."""
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return dict(item)
    kept = set(keys) | (set(projection.get("NonKeyAttributes") or []) if kind == "INCLUDE" else set())
    return {name: value for name, value in item.items() if name in kept}


def index_write_sizes(
    index_keys: Sequence[str],
    keys: Sequence[str],
    projection: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> list[int]:
    """The index writes a table write makes, each the size of the projected item written or
    removed ("Global secondary indexes: write capacity", Provisioned throughput considerations,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html): an item that gets
    the index's key attributes is put (1 write); one that loses them is deleted from it (1); one
    whose index key changes is deleted and put (2); one whose projected attributes change is
    updated (1); an item in the index neither before nor after costs the index nothing.
    ``index_keys`` are the index's key attributes, ``keys`` those and the table's."""
    before = old is not None and all(name in old for name in index_keys)
    after = new is not None and all(name in new for name in index_keys)
    old_entry = projected(old, keys, projection) if before and old is not None else None
    new_entry = projected(new, keys, projection) if after and new is not None else None
    if old_entry is None and new_entry is None:
        return []
    if old_entry is None or new_entry is None:
        return [item_size(old_entry if new_entry is None else new_entry)]  # type: ignore[arg-type]
    if any(old_entry.get(name) != new_entry.get(name) for name in index_keys):
        return [item_size(old_entry), item_size(new_entry)]
    return [item_size(new_entry)] if old_entry != new_entry else []


# ----- Lambda ------------------------------------------------------------------------------------
def gb_seconds(memory_mb: int, duration_ms: float) -> float:
    """An invocation's compute: its memory (GB) x its duration rounded up to the millisecond
    (Lambda pricing; "AWS Lambda changes duration billing granularity from 100ms down to 1ms")."""
    return memory_mb / 1024 * math.ceil(max(duration_ms, 0.0)) / 1000


# ----- API Gateway ---------------------------------------------------------------------------------
MESSAGE_UNIT_BYTES = 32 * 1024


def api_messages(payload_bytes: int) -> int:
    """Messages billed for one WebSocket message: one per 32 KB, rounded up (API Gateway pricing:
    "messages are metered in 32 KB increments"); ``$connect`` and ``$disconnect`` count as one
    each here (the conservative reading: API Gateway's ``ConnectCount`` calls them messages)."""
    return max(1, math.ceil(payload_bytes / MESSAGE_UNIT_BYTES))


# ----- SQS and SNS ------------------------------------------------------------------------------------
REQUEST_CHUNK_BYTES = 64 * 1024


def chunked_requests(payload_bytes: int) -> int:
    """Requests billed for one SQS or SNS API call: "each 64 KB chunk of a payload is billed as 1
    request" (SQS pricing; SNS pricing says the same of published data)."""
    return max(1, math.ceil(payload_bytes / REQUEST_CHUNK_BYTES))


# ----- CloudWatch Logs ------------------------------------------------------------------------------------
# What an ingested log event weighs: its message's UTF-8 bytes plus 26 bytes, as PutLogEvents sizes
# an event ("CloudWatch Logs API reference, PutLogEvents"). The pricing page bills GB ingested
# without saying how an event is sized: this is the documented size of an event, an upper bound.
LOG_EVENT_OVERHEAD_BYTES = 26


def log_event_bytes(message: str) -> int:
    """A log event's size as CloudWatch Logs counts it: its UTF-8 bytes and 26 (an ASCII message's
    characters are its bytes: counted without encoding it)."""
    size = len(message) if message.isascii() else len(message.encode("utf-8"))
    return size + LOG_EVENT_OVERHEAD_BYTES


# ----- a bill ------------------------------------------------------------------------------------------
SERVICES = ("dynamodb", "lambda", "apigateway", "cloudwatch", "sqs", "sns")


@dataclass
class Usage:
    """What a run (the meter) or a load (the model) uses, in the units each service bills."""

    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    api_messages: float = 0.0
    api_connection_minutes: float = 0.0
    log_bytes: float = 0.0
    cloudwatch_requests: float = 0.0
    logs_bytes_scanned: float = 0.0
    sqs_requests: float = 0.0
    sns_requests: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def dollars(usage: Usage) -> dict[str, float]:
    """Usage charges by service, and their total (no fixed monthly charge: see :func:`monthly`)."""
    found = {
        "dynamodb": (
            usage.dynamodb_write_units * DYNAMODB_PER_MILLION_WRITE_UNITS
            + usage.dynamodb_read_units * DYNAMODB_PER_MILLION_READ_UNITS
        )
        / 1e6,
        "lambda": usage.lambda_requests * LAMBDA_PER_MILLION_REQUESTS / 1e6
        + usage.lambda_gb_seconds * LAMBDA_PER_GB_SECOND_ARM64,
        "apigateway": (
            usage.api_messages * API_PER_MILLION_MESSAGES
            + usage.api_connection_minutes * API_PER_MILLION_CONNECTION_MINUTES
        )
        / 1e6,
        "cloudwatch": usage.log_bytes / BYTES_PER_GB * CLOUDWATCH_PER_GB_LOGS
        + usage.cloudwatch_requests * CLOUDWATCH_PER_THOUSAND_REQUESTS / 1000
        + usage.logs_bytes_scanned / BYTES_PER_GB * CLOUDWATCH_PER_GB_SCANNED,
        "sqs": usage.sqs_requests * SQS_PER_MILLION_REQUESTS / 1e6,
        "sns": usage.sns_requests * SNS_PER_MILLION_REQUESTS / 1e6,
    }
    found["total"] = sum(found.values())
    return found


def per_million(charges: Mapping[str, float], connections: float) -> dict[str, float]:
    """Charges per million connections, by service, with ``tracker``: the total less API
    Gateway's own charges (the same with or without the tracker)."""
    scale = 1e6 / connections if connections > 0 else 0.0
    found = {name: value * scale for name, value in charges.items()}
    found["tracker"] = found["total"] - found["apigateway"]
    return found


def monthly(custom_metrics: int, alarm_metrics: int, dashboards: int) -> float:
    """Fixed monthly charges: custom metrics, standard alarms (per metric read), dashboards."""
    return (
        custom_metrics * CLOUDWATCH_PER_METRIC_MONTH
        + alarm_metrics * CLOUDWATCH_PER_ALARM_METRIC_MONTH
        + dashboards * CLOUDWATCH_PER_DASHBOARD_MONTH
    )
