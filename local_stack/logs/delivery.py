"""The functions' lines delivered to the emulated CloudWatch Logs, as Lambda delivers them.

Lambda sends a function's output to the log group ``/aws/lambda/<function name>``, one log stream
per execution environment, named ``YYYY/MM/DD/[<version>]<environment id>`` ("Sending Lambda
function logs to CloudWatch Logs", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html);
Lambda creates the group when it does not exist. Every line goes, EMF documents included (they
are log events on AWS too). The lines are shipped from a background thread, a ``PutLogEvents`` per
stream and second, within the API's limits (10,000 events and 1,048,576 bytes a call, counting 26
bytes per event: CloudWatch Logs API reference, PutLogEvents). One thing differs: the runtime
here hands over an invocation's output when it ends, so its lines carry the invocation's end time.

At start, the template's log groups are created with their retention and its saved queries
(``AWS::Logs::QueryDefinition``) put, so ``DescribeQueryDefinitions`` lists them.
"""

from __future__ import annotations

import collections
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from local_stack.periodic import Shipper

if TYPE_CHECKING:
    from sam_template.intrinsics import Deployment
    from sam_template.model import Template

# What the emulated CloudWatch Logs keeps in memory, all log groups together (--log-events-max,
# LOCAL_LOG_EVENTS_MAX in the moto server)
MAX_EVENTS = 100_000
MAX_EVENTS_PER_CALL = 10_000
MAX_BYTES_PER_CALL = 1_048_576
EVENT_OVERHEAD_BYTES = 26


def logs_notice(max_events: int | None) -> str:
    """What the start-up says about the emulated CloudWatch Logs' memory bound."""
    kept = max_events or MAX_EVENTS
    return (
        f"CloudWatch Logs keeps at most {kept:,} log events in memory, all groups together "
        "(the oldest go first; --log-events-max); Logs Insights queries see only those"
    )


def log_group_names(template: Template, deployment: Deployment) -> dict[str, str]:
    """The template's log groups: logical id -> name (what ``!Ref`` of a log group gives)."""
    return {
        logical_id: str(deployment.resolve(resource["Properties"]["LogGroupName"]))
        for logical_id, resource in template.of_type("AWS::Logs::LogGroup").items()
        if "LogGroupName" in resource.get("Properties", {})
    }


def provision(template: Template, deployment: Deployment, logs: Any) -> dict[str, str]:  # noqa: ANN401
    """Create the template's log groups (with their retention) and put its saved queries; return
    the groups' names by logical id."""
    names = log_group_names(template, deployment)
    for logical_id, name in names.items():
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=name)
        days = template.properties(logical_id).get("RetentionInDays")
        if days is not None:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(deployment.resolve(days)))
    resolving = replace(deployment, refs={**deployment.refs, **names})
    for logical_id, resource in template.of_type("AWS::Logs::QueryDefinition").items():
        properties = resolving.resolve(resource["Properties"])
        logs.put_query_definition(
            name=str(properties.get("Name", logical_id)),
            queryString=str(properties["QueryString"]),
            logGroupNames=[str(group) for group in properties.get("LogGroupNames", [])],
        )
    return names


class LogShipper(Shipper):
    """Takes each invocation's output (:meth:`deliver`, called where the local Lambda routes it)
    and ships it to the function's log group from a background thread. :meth:`deliver` runs once
    per invocation on the gateway's loop and the invocation threads: it appends to a queue that
    takes no lock (a ``deque``), the shipping thread takes everything queued once a round."""

    name = "logs-to-cloudwatch"

    def __init__(self, logs: Any, period: float = 1.0) -> None:  # noqa: ANN401 - a boto3 logs client
        super().__init__(period)
        self._logs = logs
        self._pending: collections.deque[tuple[str, str, int, list[str]]] = collections.deque()
        self._created: set[tuple[str, str | None]] = set()
        self.events = 0  # delivered
        self.bytes = 0  # delivered, as PutLogEvents counts them (message + 26 bytes an event)

    def deliver(self, group: str, stream: str, events: list[str]) -> None:
        """One invocation's log events, in the function's log group and its execution
        environment's stream (as the local Lambda names them, after its logging configuration)."""
        events = [event for event in events if event.strip()]
        if not events:
            return
        self._pending.append((group, stream, int(time.time() * 1000), events))

    def _queued(self) -> bool:
        return bool(self._pending)

    def _ship(self) -> None:
        batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        while self._pending:
            group, stream, stamp, lines = self._pending.popleft()
            batches.setdefault((group, stream), []).extend({"timestamp": stamp, "message": m} for m in lines)
        for (group, stream), events in batches.items():
            self._ensure(group, stream)
            for chunk, size in _calls(events):
                self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=chunk)
                self.events += len(chunk)
                self.bytes += size

    def _ensure(self, group: str, stream: str) -> None:
        exists = self._logs.exceptions.ResourceAlreadyExistsException
        if (group, None) not in self._created:
            with contextlib.suppress(exists):
                self._logs.create_log_group(logGroupName=group)
            self._created.add((group, None))
        if (group, stream) not in self._created:
            with contextlib.suppress(exists):
                self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._created.add((group, stream))


def _calls(events: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], int]]:
    """The events split into PutLogEvents calls within its limits, in chronological order, each
    with its size as PutLogEvents counts it."""
    events.sort(key=lambda event: event["timestamp"])  # stable: a stream's lines keep their order
    calls: list[tuple[list[dict[str, Any]], int]] = []
    call: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + EVENT_OVERHEAD_BYTES
        if call and (len(call) >= MAX_EVENTS_PER_CALL or size + cost > MAX_BYTES_PER_CALL):
            calls.append((call, size))
            call, size = [], 0
        call.append(event)
        size += cost
    if call:
        calls.append((call, size))
    return calls
