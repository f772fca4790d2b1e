"""What AWS documents about the service metrics our alarms and dashboard read.

Each entry is taken from the metric's documentation page (``source``): the unit the service
publishes it in (an alarm's threshold is in that unit: an alarm's ``Unit`` filters data points,
it converts nothing), the statistics that mean something for it, the dimension sets it is
published with, how often it is published, and what its absence means. The template tests check
every alarm and dashboard widget against this table, and docs/operations.md's alarm table cites it.
"""

from __future__ import annotations

from dataclasses import dataclass

LAMBDA_METRICS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
API_GATEWAY_WEBSOCKET_METRICS_DOC = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-logging.html"
)
SQS_METRICS_DOC = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-available-cloudwatch-metrics.html"
)
CLOUDWATCH_ALARM_DOC = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
)

# Dimension sets API Gateway publishes for WebSocket APIs without extra settings; route-level
# metrics come only with the stage's DetailedMetricsEnabled (billed as custom metrics).
_API_STAGE = (frozenset({"ApiId"}), frozenset({"ApiId", "Stage"}))
API_ROUTE_DIMENSIONS = frozenset({"ApiId", "Stage", "Route"})
_PERCENTILES = ("p50", "p90", "p95", "p99")


@dataclass(frozen=True)
class MetricFacts:
    namespace: str
    name: str
    unit: str
    statistics: tuple[str, ...]  # the ones that mean something for this metric
    dimensions: tuple[frozenset[str], ...]  # published without any setting
    publish_seconds: int  # the service publishes a data point this often
    absent_when: str  # what a missing data point means
    source: str


def _lambda(name: str, unit: str, statistics: tuple[str, ...], absent_when: str) -> MetricFacts:
    return MetricFacts(
        "AWS/Lambda",
        name,
        unit,
        statistics,
        (frozenset({"FunctionName"}),),
        60,
        absent_when,
        LAMBDA_METRICS_DOC,
    )


def _api(name: str, unit: str, statistics: tuple[str, ...]) -> MetricFacts:
    return MetricFacts(
        "AWS/ApiGateway",
        name,
        unit,
        statistics,
        _API_STAGE,
        60,
        "no requests in that minute",
        API_GATEWAY_WEBSOCKET_METRICS_DOC,
    )


AWS_METRICS: dict[tuple[str, str], MetricFacts] = {
    (facts.namespace, facts.name): facts
    for facts in (
        _lambda("Invocations", "Count", ("Sum",), "no invocations"),
        _lambda("Errors", "Count", ("Sum",), "no invocations"),
        _lambda("Throttles", "Count", ("Sum",), "no invocation attempts"),
        _lambda(
            "Duration", "Milliseconds", ("Average", "Maximum", "Minimum", *_PERCENTILES), "no invocations"
        ),
        # "Age is the difference between the time Lambda received the batch and the time the last
        # record in the batch was written to the stream"; the documentation recommends Maximum.
        _lambda("IteratorAge", "Milliseconds", ("Maximum",), "no batches processed"),
        _lambda("ConcurrentExecutions", "Count", ("Maximum",), "no invocations"),
        _api("ConnectCount", "Count", ("Sum",)),
        _api("MessageCount", "Count", ("Sum",)),
        _api("IntegrationError", "Count", ("Sum",)),
        _api("ClientError", "Count", ("Sum",)),
        _api("ExecutionError", "Count", ("Sum",)),
        _api("IntegrationLatency", "Milliseconds", ("Average", "Maximum", *_PERCENTILES)),
        # SQS publishes queue metrics only while the queue is active; the five-minute period is the
        # interval its metrics have been published at (a shorter period sees gaps).
        MetricFacts(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Count",
            ("Maximum", "Average"),
            (frozenset({"QueueName"}),),
            300,
            "the queue is inactive (empty and unused)",
            SQS_METRICS_DOC,
        ),
    )
}
