"""The cost meter: what a run of the local stack would cost on AWS, computed as each service bills
(rules and prices: ``ops.prices``, the one price table, shared with ``ops.capacity``).

The stack feeds it what it sees itself — Lambda invocations (requests, GB-seconds), API Gateway's
messages and connection minutes, the lines delivered to CloudWatch Logs (bytes per function, EMF
documents included, and the metrics they publish) — and takes from the emulated endpoint what
only it sees (``local_stack.cost.endpoint``, ``GET /_local/meter/units`` on the endpoint: DynamoDB
units per table and index, SQS, SNS and CloudWatch requests). :meth:`Meter.bill` is ``GET
/_local/bill`` on the management port.

Lambda's own START, END and REPORT lines ("platform" lines) are counted as the local runtime
delivers them: written, or dropped by the function's ``LoggingConfig`` as Lambda drops them
(``sam_template.logging_config``).

Not metered: storage (GB-months of tables and logs), data transfer, X-Ray traces, and the free
tiers (every figure is before them).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.cloudwatch import emf
from local_stack.cost import UNITS_PATH
from ops import prices
from sam_template.monitoring import alarm_metrics, dashboards

if TYPE_CHECKING:
    from sam_template.model import Template


class Meter:
    """What the stack sees of the bill. Thread-safe: fed from the gateway's loop, the invocation
    threads and the log shipper."""

    def __init__(self, template: Template | None = None, endpoint: str | None = None) -> None:
        self.since = time.time()
        self._endpoint = endpoint  # the emulated AWS endpoint (its own units at UNITS_PATH)
        self._lock = threading.Lock()
        self._memory: dict[str, int] = {}
        self._alarm_metrics = self._dashboards = 0
        if template is not None:
            for logical_id, function in template.of_type("AWS::Lambda::Function").items():
                properties = function.get("Properties", {})
                self._memory[logical_id] = int(properties.get("MemorySize", 128))
            self._alarm_metrics = alarm_metrics(template)
            self._dashboards = dashboards(template)
        self.requests: dict[str, int] = defaultdict(int)
        self.gb_seconds: dict[str, float] = defaultdict(float)
        self.milliseconds: dict[str, float] = defaultdict(float)
        self.log_bytes: dict[str, int] = defaultdict(int)
        self.metrics_published = 0
        self.custom_metrics: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self.messages = 0
        self.connections = 0
        self._closed_seconds = 0.0
        self._open: dict[str, float] = {}

    # ----- what the stack sees ---------------------------------------------------------------------
    def invoked(self, function: str, duration_ms: float) -> None:
        """An invocation Lambda bills (it ran, or started to): a request and its GB-seconds."""
        with self._lock:
            self.requests[function] += 1
            self.milliseconds[function] += duration_ms
            self.gb_seconds[function] += prices.gb_seconds(self._memory.get(function, 128), duration_ms)

    def logged(
        self, function: str, lines: list[str], documents: list[dict[str, Any] | None] | None = None
    ) -> None:
        """Lines of a function delivered to CloudWatch Logs (its EMF documents among them);
        ``documents``: each line's EMF document (``emf.parse``), where the caller read them already."""
        size = sum(prices.log_event_bytes(line) for line in lines)
        published = 0
        metrics = set()
        for document in documents if documents is not None else map(emf.parse, lines):
            if document is None:
                continue
            for namespace, data in emf.metric_data(document):
                for datum in data:
                    published += len(datum["Values"])
                    dimensions = tuple((d["Name"], d["Value"]) for d in datum["Dimensions"])
                    metrics.add((namespace, str(datum["MetricName"]), dimensions))
        with self._lock:
            self.log_bytes[function] += size
            self.metrics_published += published
            self.custom_metrics |= metrics

    def message(self, payload_bytes: int = 0) -> None:
        """A WebSocket message through API Gateway (``$connect`` and ``$disconnect`` included)."""
        with self._lock:
            self.messages += prices.api_messages(payload_bytes)

    def opened(self, connection_id: str) -> None:
        with self._lock:
            self.connections += 1
            self._open[connection_id] = time.time()

    def closed(self, connection_id: str) -> None:
        with self._lock:
            started = self._open.pop(connection_id, None)
            if started is not None:
                self._closed_seconds += time.time() - started

    # ----- the bill ---------------------------------------------------------------------------------
    def endpoint_units(self) -> dict[str, Any]:
        """What the emulated endpoint metered (``local_stack.cost.endpoint``); nothing without one."""
        if self._endpoint is None:
            return {}
        with urllib.request.urlopen(f"{self._endpoint}{UNITS_PATH}", timeout=10) as answer:  # noqa: S310 - loopback
            units: dict[str, Any] = json.loads(answer.read())
            return units

    def bill(self, endpoint: dict[str, Any] | None = None) -> dict[str, Any]:
        aws = self.endpoint_units() if endpoint is None else endpoint
        now = time.time()
        with self._lock:
            minutes = (self._closed_seconds + sum(now - at for at in self._open.values())) / 60
            log_bytes = dict(self.log_bytes)
            lambdas = {
                name: {
                    "requests": count,
                    "gbSeconds": round(self.gb_seconds[name], 6),
                    "meanDurationMs": round(self.milliseconds[name] / count, 3),
                }
                for name, count in sorted(self.requests.items())
            }
            units = {
                "dynamodb": aws.get("dynamodb", {}),
                "lambda": lambdas,
                "apigateway": {"messages": self.messages, "connectionMinutes": round(minutes, 4)},
                "cloudwatch": {
                    "logBytes": dict(sorted(log_bytes.items())),
                    "metricsPublished": self.metrics_published,
                    "requests": aws.get("cloudwatch", {}).get("requests", 0),
                    "logsInsightsBytesScanned": aws.get("cloudwatch", {}).get("bytesScanned", 0),
                },
                "sqs": {"requests": aws.get("sqs", {}).get("requests", 0)},
                "sns": {"requests": aws.get("sns", {}).get("requests", 0)},
            }
            connections, custom = self.connections, len(self.custom_metrics)
        usage = usage_of(units)
        charges = prices.dollars(usage)
        return {
            "since": datetime.fromtimestamp(self.since, tz=UTC).isoformat(timespec="seconds"),
            "connections": connections,
            "units": units,
            "dollars": {name: round(value, 9) for name, value in charges.items()},
            "perMillionConnections": {
                name: round(value, 6) for name, value in prices.per_million(charges, connections).items()
            },
            "monthly": {
                "customMetrics": custom,
                "alarms": self._alarm_metrics,
                "dashboards": self._dashboards,
                "dollars": round(prices.monthly(custom, self._alarm_metrics, self._dashboards), 2),
            },
        }


def usage_of(units: dict[str, Any]) -> prices.Usage:
    """The bill's units, summed per billing dimension."""
    tables = units.get("dynamodb", {}).values()
    return prices.Usage(
        dynamodb_write_units=sum(
            table["writeUnits"] + sum(index["writeUnits"] for index in table.get("indexes", {}).values())
            for table in tables
        ),
        dynamodb_read_units=sum(
            table["readUnits"] + sum(index["readUnits"] for index in table.get("indexes", {}).values())
            for table in tables
        ),
        lambda_requests=sum(function["requests"] for function in units["lambda"].values()),
        lambda_gb_seconds=sum(function["gbSeconds"] for function in units["lambda"].values()),
        api_messages=units["apigateway"]["messages"],
        api_connection_minutes=units["apigateway"]["connectionMinutes"],
        log_bytes=sum(units["cloudwatch"]["logBytes"].values()),
        cloudwatch_requests=units["cloudwatch"].get("requests", 0),
        logs_bytes_scanned=units["cloudwatch"].get("logsInsightsBytesScanned", 0),
        sqs_requests=units["sqs"]["requests"],
        sns_requests=units["sns"]["requests"],
    )


def summary(bill: dict[str, Any]) -> str:
    """The bill in a few lines (printed when the stack stops)."""
    dollars, per = bill["dollars"], bill["perMillionConnections"]
    lines = [
        f"bill since {bill['since']}: {bill['connections']:,} connections, ${dollars['total']:.6f} "
        f"(${per['total']:.2f} per million connections; the tracker's own ${per['tracker']:.2f})"
    ]
    lines += [f"  {name:<11} ${dollars[name]:.6f}  ${per[name]:.2f} per million" for name in prices.SERVICES]
    monthly = bill["monthly"]
    lines.append(
        f"  monthly     ${monthly['dollars']:.2f} ({monthly['customMetrics']} custom metrics, "
        f"{monthly['alarms']} alarm metrics, {monthly['dashboards']} dashboards)"
    )
    return "\n".join(lines)
