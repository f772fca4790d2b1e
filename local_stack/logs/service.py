"""CloudWatch Logs in the moto server: bounded log groups, and Logs Insights served at the endpoint.

moto keeps log events in its logs backend (``CreateLogGroup``, ``PutLogEvents``, ``GetLogEvents``,
``FilterLogEvents`` are moto's), but forever and without its groups' retention, and its
``StartQuery`` knows only ``fields``, ``sort`` and ``limit``. Here:

- a log group keeps what its retention allows ("Change log data retention in CloudWatch Logs":
  events older than the retention are deleted), and all groups together at most
  ``LOCAL_LOG_EVENTS_MAX`` events (default :data:`MAX_EVENTS`): the oldest go first;
- ``StartQuery``, ``GetQueryResults``, ``StopQuery``, ``PutQueryDefinition``,
  ``DescribeQueryDefinitions`` and ``DeleteQueryDefinition`` are answered by
  :mod:`local_stack.logs.insights` (CloudWatch Logs API reference, each operation's page);
- ``GET /_local/logs`` tells the bytes the queries scanned (what Logs Insights bills), the
  queries run, and the events kept: the local stack's cost meter reads it.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.logs.models import LogEvent, LogsBackend, logs_backends

from local_stack.logs import insights
from local_stack.logs.delivery import MAX_EVENTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# How often retention is applied when the bound is not reached.
RETENTION_SWEEP_SECONDS = 60.0
# Finished queries whose results are kept for GetQueryResults (AWS keeps them for 7 days).
KEPT_QUERIES = 500
TARGET_PREFIX = "Logs_20140328."
SERVED = (
    "StartQuery",
    "GetQueryResults",
    "StopQuery",
    "PutQueryDefinition",
    "DescribeQueryDefinitions",
    "DeleteQueryDefinition",
)


class LogsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Retention:
    """The bound on what the emulated log groups keep, applied after every ``PutLogEvents``."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.events = 0  # kept, all groups together
        self.dropped = 0
        self._lock = threading.Lock()
        self._swept = time.time()

    def added(self, backend: LogsBackend, count: int) -> None:
        with self._lock:
            self.events += count
            now = time.time()
            # trimmed in steps (a tenth of the bound at a time), not on every call
            if self.events > self.max_events * 1.1 or now - self._swept >= RETENTION_SWEEP_SECONDS:
                self._trim(backend, now)
                self._swept = now

    def _trim(self, backend: LogsBackend, now: float) -> None:
        streams = [
            (group, stream)
            for group in list(backend.groups.values())
            for stream in list(group.streams.values())
        ]
        for group, stream in streams:
            days = group.retention_in_days
            if days:
                self._drop_before(stream, int((now - float(days) * 86_400) * 1000))
        kept = sum(len(stream.events) for _, stream in streams)
        if kept > self.max_events:
            stamps = sorted(event.timestamp for _, stream in streams for event in stream.events)
            cutoff = stamps[kept - self.max_events]  # the oldest go first
            for _, stream in streams:
                self._drop_before(stream, cutoff)
            kept = sum(len(stream.events) for _, stream in streams)
        self.events = kept

    def _drop_before(self, stream: Any, cutoff: int) -> None:  # noqa: ANN401 - moto's LogStream
        events = stream.events
        count = bisect.bisect_left([event.timestamp for event in events], cutoff)
        if count:
            stream.stored_bytes -= sum(len(event.message) for event in events[:count])
            del events[:count]
            self.dropped += count


def _untracked(cls: type[LogEvent], *_: Any, **__: Any) -> LogEvent:  # noqa: ANN401
    return object.__new__(cls)


def untrack_log_events() -> None:
    """Log events are not added to moto's list of every model instance (``instances_tracked``, what
    ``/moto-api`` lists; ``BaseModel.__new__``): the functions deliver thousands a second under
    load, and tracking each cost more than storing it (nothing reads that list for log events)."""
    LogEvent.__new__ = staticmethod(_untracked)  # type: ignore[assignment,method-assign]


def bound_log_groups(max_events: int) -> Retention:
    """Patch moto's ``PutLogEvents`` so that the log groups keep their retention and the bound."""
    put = LogsBackend.put_log_events
    retention = Retention(max_events)

    def put_bounded(
        self: LogsBackend, log_group_name: str, log_stream_name: str, log_events: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        answer = put(self, log_group_name, log_stream_name, log_events)
        retention.added(self, len(log_events))
        return answer

    LogsBackend.put_log_events = put_bounded  # type: ignore[method-assign]
    return retention


class _Query:
    def __init__(
        self, query: insights.Query, groups: list[str], start: int, end: int, limit: int | None
    ) -> None:
        self.query, self.groups, self.start, self.end, self.limit = query, groups, start, end, limit
        self.status = "Scheduled"
        self.answer: dict[str, Any] | None = None


class LogsInsights:
    """The Logs Insights operations of one moto server, over moto's logs backend."""

    def __init__(self, backends: Callable[[str], LogsBackend] | None = None) -> None:
        self._backend = backends or (lambda region: logs_backends[DEFAULT_ACCOUNT_ID][region])
        self._queries: OrderedDict[str, _Query] = OrderedDict()
        self._definitions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.counter = insights.ScanCounter()

    def handle(self, operation: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_{operation}")
        answer: dict[str, Any] = handler(region, request)
        return answer

    # StartQuery: "Schedules a query of a log group using CloudWatch Logs Insights"; the log groups
    # by logGroupName, logGroupNames or logGroupIdentifiers; startTime and endTime in epoch seconds;
    # a query that cannot be parsed is a MalformedQueryException (CloudWatch Logs API reference, StartQuery)
    def _StartQuery(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        groups = [
            name.rsplit(":log-group:", 1)[-1].removesuffix(":*")
            for name in (
                request.get("logGroupNames")
                or request.get("logGroupIdentifiers")
                or ([request["logGroupName"]] if request.get("logGroupName") else [])
            )
        ]
        if not groups:
            raise LogsError(
                "InvalidParameterException",
                "a query needs logGroupName, logGroupNames or logGroupIdentifiers",
            )
        backend = self._backend(region)
        for name in groups:
            if name not in backend.groups:
                raise LogsError(
                    "ResourceNotFoundException", f"The specified log group does not exist: {name}"
                )
        try:
            query = insights.parse(str(request.get("queryString", "")))
        except insights.QueryError as exc:
            raise LogsError("MalformedQueryException", str(exc)) from None
        start, end = int(request["startTime"]), int(request["endTime"])
        if start > end:
            raise LogsError("InvalidParameterException", "startTime must not be after endTime")
        query_id = str(uuid.uuid4())
        with self._lock:
            self._queries[query_id] = _Query(query, groups, start, end, request.get("limit"))
            while len(self._queries) > KEPT_QUERIES:
                self._queries.popitem(last=False)
        return {"queryId": query_id}

    # GetQueryResults: the results, the statistics (recordsMatched, recordsScanned, bytesScanned)
    # and the status; a query scheduled here runs when its results are first asked for.
    def _GetQueryResults(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        query = self._find(str(request.get("queryId")))
        if query.status == "Scheduled":
            query.status = "Running"
            try:
                result = insights.run(
                    query.query, self._events(region, query), limit=query.limit, counter=self.counter
                )
            except insights.QueryError as exc:
                query.status = "Failed"
                query.answer = {"results": [], "statistics": _statistics(0, 0, 0), "message": str(exc)}
            else:
                query.status = "Complete"
                statistics = _statistics(result.records_matched, result.records_scanned, result.bytes_scanned)
                query.answer = {"results": result.rows, "statistics": statistics}
        answer = dict(query.answer or {"results": [], "statistics": _statistics(0, 0, 0)})
        answer.pop("message", None)
        return {**answer, "status": query.status}

    # StopQuery: "If the query has already ended, the operation returns an error indicating that
    # the specified query is not running."
    def _StopQuery(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        query = self._find(str(request.get("queryId")))
        if query.status not in ("Scheduled", "Running"):
            raise LogsError("InvalidParameterException", f"the query is not running ({query.status})")
        query.status = "Cancelled"
        return {"success": True}

    def _PutQueryDefinition(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if not request.get("name") or not request.get("queryString"):
            raise LogsError("InvalidParameterException", "a query definition needs a name and a queryString")
        definition_id = str(request.get("queryDefinitionId") or uuid.uuid4())
        with self._lock:
            self._definitions[definition_id] = {
                "queryDefinitionId": definition_id,
                "name": request["name"],
                "queryString": request["queryString"],
                "lastModified": int(time.time() * 1000),
                "logGroupNames": list(request.get("logGroupNames") or []),
            }
        return {"queryDefinitionId": definition_id}

    def _DescribeQueryDefinitions(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        prefix = str(request.get("queryDefinitionNamePrefix") or "")
        with self._lock:
            found = [d for d in self._definitions.values() if str(d["name"]).startswith(prefix)]
        found.sort(key=lambda d: str(d["name"]))
        start = int(request.get("nextToken") or 0)
        size = int(request.get("maxResults") or 1000)
        answer: dict[str, Any] = {"queryDefinitions": found[start : start + size]}
        if start + size < len(found):
            answer["nextToken"] = str(start + size)
        return answer

    def _DeleteQueryDefinition(self, region: str, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._lock:
            removed = self._definitions.pop(str(request.get("queryDefinitionId")), None)
        if removed is None:
            raise LogsError("ResourceNotFoundException", "no such query definition")
        return {"success": True}

    def _find(self, query_id: str) -> _Query:
        with self._lock:
            query = self._queries.get(query_id)
        if query is None:
            raise LogsError("ResourceNotFoundException", f"no query {query_id}")
        return query

    def _events(self, region: str, query: _Query) -> Iterable[insights.LogEvent]:
        """The events of the query's groups in its time range (inclusive), in the order delivered."""
        backend = self._backend(region)
        start, end = query.start * 1000, query.end * 1000 + 999
        found = []
        for name in query.groups:
            group = backend.groups.get(name)
            if group is None:
                continue
            for stream_name, stream in list(group.streams.items()):
                found += [
                    (
                        event.event_id,
                        insights.LogEvent(
                            event.timestamp,
                            event.message,
                            name,
                            stream_name,
                            event.ingestion_time,
                            DEFAULT_ACCOUNT_ID,
                            str(event.event_id),
                        ),
                    )
                    for event in list(stream.events)
                    if start <= event.timestamp <= end
                ]
        found.sort(key=lambda pair: pair[0])
        return [event for _, event in found]


def _statistics(matched: int, scanned: int, scanned_bytes: int) -> dict[str, float]:
    return {
        "recordsMatched": float(matched),
        "recordsScanned": float(scanned),
        "bytesScanned": float(scanned_bytes),
    }


class LogsApplication:
    """WSGI: the Logs Insights operations answered here, ``/_local/logs`` the counters, the rest to moto."""

    def __init__(self, application: Any, retention: Retention | None = None) -> None:  # noqa: ANN401
        self._application = application
        self.insights = LogsInsights()
        self.retention = retention

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:  # noqa: ANN401
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.removeprefix(TARGET_PREFIX)
        if environ.get("PATH_INFO") == "/_local/logs":
            body = {
                **self.insights.counter.snapshot(),
                "eventsKept": self.retention.events if self.retention else None,
                "eventsDropped": self.retention.dropped if self.retention else None,
                "maxEvents": self.retention.max_events if self.retention else None,
            }
            return _answer(start_response, "200 OK", body)
        if not target.startswith(TARGET_PREFIX) or operation not in SERVED:
            return self._application(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        region = scope[2] if len(scope) > 3 else "us-east-1"
        try:
            request = json.loads(environ["wsgi.input"].read(length) or b"{}")
            answer = self.insights.handle(operation, region, request)
        except LogsError as exc:
            return _answer(start_response, "400 Bad Request", {"__type": exc.code, "message": str(exc)})
        except (KeyError, ValueError, TypeError) as exc:
            return _answer(
                start_response,
                "400 Bad Request",
                {"__type": "InvalidParameterException", "message": str(exc)},
            )
        return _answer(start_response, "200 OK", answer)


def _answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:  # noqa: ANN401
    encoded = json.dumps(body).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("Content-Length", str(len(encoded))),
        ],
    )
    return [encoded]


def max_events() -> int:
    return int(os.environ.get("LOCAL_LOG_EVENTS_MAX") or MAX_EVENTS)
