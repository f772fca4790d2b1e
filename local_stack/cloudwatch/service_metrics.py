"""The metrics AWS services publish about what the local stack does, published into the emulated
CloudWatch under AWS's own namespaces, names, dimensions and units (``ops.aws_metrics``, taken
from each service's metrics page), so the template's alarms and dashboard read what they would
read on AWS:

- ``AWS/Lambda`` per ``FunctionName`` (the local function name: its logical id): ``Invocations``,
  ``Errors``, ``Throttles``, ``Duration`` (every value, so percentiles work),
  ``ConcurrentExecutions``, and ``IteratorAge`` of stream consumers (Lambda metrics types);
- ``AWS/ApiGateway`` per ``ApiId``, ``Stage`` — and ``Route`` too when the stage has
  ``DetailedMetricsEnabled`` — ``ConnectCount``, ``MessageCount``, ``IntegrationError``,
  ``ClientError``, ``ExecutionError``, ``IntegrationLatency`` (Monitor WebSocket API execution with
  CloudWatch metrics);
- ``AWS/SQS`` per ``QueueName``: ``ApproximateNumberOfMessagesVisible``.

Each value carries the second it happened in (the stack's metric store keeps it, for percentiles);
the emulated CloudWatch stores them as the services publish them, one data point per metric and
minute ("Lambda sends metric data to CloudWatch in 1-minute intervals": Using CloudWatch metrics
with Lambda; API Gateway and SQS publish one-minute metrics too). Values go to the sink as they
are (``MetricSink.put_values``): the shipper aggregates them before ``PutMetricData``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from local_stack.periodic import Periodic
from ops.aws_metrics import AWS_METRICS

if TYPE_CHECKING:
    from local_stack.cloudwatch.shipper import MetricSink

# one-minute data, as the services publish them
_RESOLUTION = 60
_UNITS = {key: metric.unit for key, metric in AWS_METRICS.items()}
_LAMBDA_UNITS = tuple(
    _UNITS[("AWS/Lambda", name)] for name in ("Invocations", "Errors", "Duration", "ConcurrentExecutions")
)


class ServiceMetrics:
    def __init__(self, sink: MetricSink, api: tuple[str, str, bool] | None = None) -> None:
        self._sink = sink
        self.api = api  # ApiId, Stage, DetailedMetricsEnabled of the WebSocket API (none: no API)

    def publish(self, namespace: str, name: str, dimensions: dict[str, str], value: float) -> None:
        self.publish_many(namespace, [(name, dimensions, value)])

    def publish_many(self, namespace: str, values: list[tuple[str, dict[str, str], float]]) -> None:
        """Values that happened together (an invocation's metrics): one put, one timestamp."""
        self._sink.put_values(
            namespace,
            time.time(),
            [
                (
                    name,
                    tuple(dimensions.items()),
                    _UNITS[(namespace, name)],
                    float(value),
                    _RESOLUTION,
                )
                for name, dimensions, value in values
            ],
        )

    # ----- AWS/Lambda ----------------------------------------------------------------------------
    def invocation(self, function: str, milliseconds: float, *, failed: bool, concurrent: int) -> None:
        """Every invocation's four values (the one call per invocation: its values built directly)."""
        name = (("FunctionName", function),)
        invocations, errors, duration, concurrency = _LAMBDA_UNITS
        self._sink.put_values(
            "AWS/Lambda",
            time.time(),
            [
                ("Invocations", name, invocations, 1.0, _RESOLUTION),
                ("Errors", name, errors, 1.0 if failed else 0.0, _RESOLUTION),
                ("Duration", name, duration, float(milliseconds), _RESOLUTION),
                ("ConcurrentExecutions", name, concurrency, float(concurrent), _RESOLUTION),
            ],
        )

    def throttle(self, function: str) -> None:
        """A throttled invocation: counted in ``Throttles``, not in ``Invocations``."""
        self.publish("AWS/Lambda", "Throttles", {"FunctionName": function}, 1)

    def iterator_age(self, function: str, milliseconds: float) -> None:
        self.publish("AWS/Lambda", "IteratorAge", {"FunctionName": function}, milliseconds)

    # ----- AWS/ApiGateway ------------------------------------------------------------------------
    def gateway(self, name: str, value: float = 1, route: str | None = None) -> None:
        if self.api is None:
            return
        api_id, stage, detailed = self.api
        values = [(name, {"ApiId": api_id, "Stage": stage}, value)]
        if detailed and route:
            values.append((name, {"ApiId": api_id, "Stage": stage, "Route": route}, value))
        self.publish_many("AWS/ApiGateway", values)

    # ----- AWS/SQS -------------------------------------------------------------------------------
    def queue_depth(self, queue_name: str, visible: int) -> None:
        self.publish("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue_name}, visible)


class QueueDepths(Periodic):
    """SQS's ``ApproximateNumberOfMessagesVisible`` of every queue, once a minute (scaled with the
    alarms' periods, so that a scaled period still holds a data point, as a real one does)."""

    name = "sqs-metrics"

    def __init__(self, metrics: ServiceMetrics, sqs: Any, queues: dict[str, str], time_scale: float) -> None:  # noqa: ANN401
        super().__init__(max(0.5, 60 * time_scale))
        self._metrics = metrics
        self._sqs = sqs
        self._queues = queues

    def round(self) -> None:
        for url in self._queues.values():
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            visible = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
            self._metrics.queue_depth(url.rsplit("/", 1)[-1], visible)
