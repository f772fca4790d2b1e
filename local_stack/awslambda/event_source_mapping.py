"""Lambda's DynamoDB event source mapping, emulated on the emulated Streams API.

Settings come from the template's event source (``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``FilterCriteria``, ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError``,
``FunctionResponseTypes``, ``DestinationConfig.OnFailure``). Semantics kept:

- records are filtered first (a filtered-out record counts as processed);
- a batch is delivered when it is full or its oldest record has waited the batching window;
- ``batchItemFailures``: everything before the lowest failed sequence number is done, the rest
  is retried; after ``MaximumRetryAttempts`` retries the batch's description goes to the
  on-failure queue and the shard moves on;
- a function error retries the batch (bisected when ``BisectBatchOnFunctionError``);
- a record is never delivered again after a batch that contained it succeeded;
- ``TumblingWindowInSeconds``: tumbling windows, as "Implementing stateful DynamoDB stream
  processing in Lambda" documents them (:class:`Windows`).

moto's stream records carry no ``userIdentity``: REMOVE records of items the TTL emulation
deleted are given DynamoDB's TTL service identity here (see ``local_stack.dynamodb.ttl``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connection_tracker.streams import TTL_IDENTITY
from local_stack.awslambda.filters import passes
from local_stack.dynamodb.streams import StreamReader, lambda_record, without_split_inserts
from local_stack.dynamodb.ttl import item_key
from local_stack.periodic import Periodic
from local_stack.provisioning.emulator import ACCOUNT, REGION
from sam_template.intrinsics import resource_named

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.awslambda.environments import LocalFunctions
    from local_stack.faults import Fault
    from sam_template.model import Template

SHARD_REFRESH_SECONDS = 5.0
# "Lambda polls shards in your DynamoDB stream for records at a base rate of 4 times per second"
# (Using AWS Lambda with Amazon DynamoDB: Polling and batching streams). A poll reads each shard once
# (``StreamReader.read``: more pages only while they come back full).
POLL_INTERVAL_SECONDS = 0.25


@dataclass(frozen=True)
class SourceSettings:
    batch_size: int
    batching_window: float
    filter_criteria: dict[str, Any] | None
    max_retries: int
    bisect: bool
    report_item_failures: bool
    starting_position: str
    tumbling_window: int = 0  # seconds; 0: none

    @classmethod
    def from_properties(
        cls, source: dict[str, Any], parameters: dict[str, str] | None = None
    ) -> SourceSettings:
        """The settings of an event source mapping, with Lambda's defaults (``parameters``: what a
        ``!Ref`` of a template parameter gives)."""
        window = source.get("TumblingWindowInSeconds", 0)
        if isinstance(window, dict) and set(window) == {"Ref"}:
            window = (parameters or {}).get(str(window["Ref"]), 0)
        return cls(
            tumbling_window=int(window or 0),
            batch_size=int(source.get("BatchSize", 100)),
            batching_window=float(source.get("MaximumBatchingWindowInSeconds", 0)),
            filter_criteria=source.get("FilterCriteria"),
            max_retries=int(source.get("MaximumRetryAttempts", -1)),
            bisect=bool(source.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in source.get("FunctionResponseTypes", []),
            starting_position=str(source.get("StartingPosition", "TRIM_HORIZON")),
        )


@dataclass(frozen=True)
class StreamSource:
    """A function's ``DynamoDB`` event: which table's stream, where failed batches go, how."""

    function: str
    table: str
    on_failure_queue: str | None
    settings: SourceSettings


def stream_sources(template: Template, parameters: dict[str, str] | None = None) -> list[StreamSource]:
    """Every enabled event source mapping of the template that reads the stream of one of its
    DynamoDB tables (what SAM makes of a function's ``DynamoDB`` event), in template order; others
    are named at start as not emulated (``stack.notices``). ``parameters``: the deployment's
    (default: the template's defaults)."""
    parameters = template.parameter_defaults() if parameters is None else parameters
    found = []
    tables = template.of_type("AWS::DynamoDB::Table")
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        table = resource_named(properties.get("EventSourceArn"))
        function = resource_named(properties.get("FunctionName"))
        if table not in tables or function is None or properties.get("Enabled", True) is False:
            continue
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        settings = SourceSettings.from_properties(properties, parameters)
        found.append(StreamSource(function, table, resource_named(destination), settings))
    return found


# "Your state can be a maximum of 1 MB per shard. If it exceeds that size, Lambda terminates the
# window early." (Implementing stateful DynamoDB stream processing in Lambda,
# https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html)
MAX_STATE_BYTES = 1024 * 1024


@dataclass
class _Shard:
    shard_id: str
    buffer: list[dict[str, Any]] = field(default_factory=list)
    oldest: float | None = None
    attempts: int = 0
    # tumbling windows: the open window's start (epoch seconds), its state, whether it must end
    # early (its state grew past 1 MB), and the end of the last window finished
    window: int | None = None
    state: dict[str, Any] = field(default_factory=dict)
    ended_early: bool = False
    finished_through: int = 0


def window_start(record: dict[str, Any], length: int, finished_through: int = 0) -> int:
    """The start of the window a record belongs to.

    "Lambda determines tumbling window boundaries based on the time when records were inserted
    into the stream. All records have an approximate timestamp available that Lambda uses in
    boundary determinations." (Implementing stateful DynamoDB stream processing in Lambda,
    Configuration.) Windows are aligned to their length (a 60 s window starts on the minute).
    Not documented: a record that arrives after its window's final invocation (its timestamp is
    the second it was written, and the poll that reads it may come later) joins the window
    open then, never a finished one.
    """
    created = int(record["dynamodb"].get("ApproximateCreationDateTime") or time.time())
    return max(created - created % length, finished_through)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StreamPoller(Periodic):
    name = "event-source-mapping"

    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        streams: Any,  # noqa: ANN401 - boto3 dynamodbstreams client
        stream_arn: str,
        settings: SourceSettings,
        *,
        sqs: Any = None,  # noqa: ANN401
        dead_letter_url: str | None = None,
        ttl_deleted: set[str] | None = None,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        faults: Callable[[], list[Fault]] = list,
    ) -> None:
        self._functions = functions
        self._function = function
        self._reader = StreamReader(streams, stream_arn, settings.starting_position, on_trimmed=self._trimmed)
        self.stream_arn = stream_arn
        self.settings = settings
        self._sqs = sqs
        self._dead_letter_url = dead_letter_url
        self.ttl_deleted = ttl_deleted if ttl_deleted is not None else set()
        self._ttl_lock = threading.Lock()
        super().__init__(poll_interval)
        self._shards: dict[str, _Shard] = {}
        self._shards_seen = 0.0
        # others that follow the stream (the TTL emulation) get every record read, unfiltered
        self.observers: list[Callable[[list[dict[str, Any]]], None]] = []
        self.delivered: dict[str, int] = {
            "records": 0,
            "batches": 0,
            "filtered": 0,
            "retries": 0,
            "dead_lettered": 0,
            "trimmed": 0,  # times records were trimmed from the stream before they were delivered
        }
        self.iterator_age = 0.0  # seconds between a record's creation and its delivery, last batch
        self.delivered["responses_lost"] = 0
        # the stack's injected faults (``/_local/faults``), and how often each took a response
        self.faults = faults
        self._faults_used: dict[int, int] = {}

    def _trimmed(self, shard_id: str) -> None:
        """Records of the shard were trimmed (older than the stream's retention) before this
        mapping read them: they are lost, as on AWS; said, never silent."""
        self.delivered["trimmed"] += 1
        print(f"{self.name} {self._function}: records of {shard_id} were trimmed before delivery (lost)")

    @property
    def function(self) -> str:
        return self._function

    def mark_ttl_deleted(self, key: str) -> None:
        """The TTL process is deleting the item with this key (``ttl.item_key``): its REMOVE record
        gets the TTL service's identity."""
        with self._ttl_lock:
            self.ttl_deleted.add(key)

    # ----- thread ------------------------------------------------------------------------------
    def round(self) -> None:
        self.poll_once()

    def poll_once(self, *, flush: bool = False) -> None:
        """Read new records, and deliver every batch that is due (all of them with ``flush``; with
        tumbling windows, ``flush`` closes the open windows too: the stack is stopping)."""
        if time.monotonic() - self._shards_seen > SHARD_REFRESH_SECONDS:
            for shard_id in self._reader.shards():
                self._shards.setdefault(shard_id, _Shard(shard_id))
            self._shards_seen = time.monotonic()
        # taken before reading: a record not read yet was written after it, so its timestamp is
        # at or after it, and a window ending by then has all its records read
        now = time.time()
        for shard in self._shards.values():
            self._read(shard)
            if self.settings.tumbling_window:
                self._deliver_windows(shard, now, flush=flush)
                continue
            while shard.buffer and (flush or self._due(shard)):
                self._deliver(shard)

    def _read(self, shard: _Shard) -> None:
        records = without_split_inserts(list(self._reader.read(shard.shard_id)))
        for observer in self.observers:
            observer(records)
        for record in records:
            delivered = self._as_lambda_record(record)
            if not passes(self.settings.filter_criteria, delivered):
                self.delivered["filtered"] += 1
                continue
            shard.buffer.append(delivered)
            shard.oldest = shard.oldest or time.monotonic()

    def _as_lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        delivered = lambda_record(record, self.stream_arn)
        if delivered.get("eventName") == "REMOVE":
            key = item_key(delivered["dynamodb"].get("Keys") or {})
            with self._ttl_lock:
                if key in self.ttl_deleted:
                    self.ttl_deleted.discard(key)
                    delivered["userIdentity"] = dict(TTL_IDENTITY)
        return delivered

    def _due(self, shard: _Shard) -> bool:
        if len(shard.buffer) >= self.settings.batch_size:
            return True
        return shard.oldest is not None and time.monotonic() - shard.oldest >= self.settings.batching_window

    def _deliver(self, shard: _Shard) -> None:
        batch = shard.buffer[: self.settings.batch_size]
        done = self._invoke(batch)
        if done == len(batch):
            shard.attempts = 0
        elif shard.attempts >= self.settings.max_retries >= 0:
            self._dead_letter(shard, batch[done:])
            done, shard.attempts = len(batch), 0
        else:
            shard.attempts += 1
            self.delivered["retries"] += 1
        del shard.buffer[:done]
        shard.oldest = time.monotonic() if shard.buffer else None
        if done < len(batch):
            time.sleep(min(0.05 * shard.attempts, 1.0))  # Lambda backs off between retries

    # ----- tumbling windows ------------------------------------------------------------------------
    # "Implementing stateful DynamoDB stream processing in Lambda"
    # (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html): each invocation of a
    # window gets the state the previous one returned; "when using tumbling windows, your Lambda
    # function response must contain a state property. If the response does not contain a state
    # property, Lambda considers this a failed invocation"; "At the end of the window, the flag
    # isFinalInvokeForWindow is set to true ... After processing, the window completes ... and then
    # the state is dropped"; "If invocation is unsuccessful, your Lambda function suspends further
    # processing until a successful invocation"; "Tumbling windows fully support the existing retry
    # policies maxRetryAttempts and maxRecordAge".
    def _deliver_windows(self, shard: _Shard, now: float, *, flush: bool) -> None:
        """Deliver the shard's due batches window by window, each window's records in batches of
        their own, then its final invocation once it has closed (with the last records, or none)."""
        length = self.settings.tumbling_window
        while True:
            if shard.ended_early:  # the state grew past 1 MB: the window ends early, then goes on
                if self._window_invocation(shard, [], final=False, early=True) is None:
                    return
                shard.ended_early, shard.state = False, {}
                continue
            if shard.window is None:
                if not shard.buffer:
                    return
                shard.window = window_start(shard.buffer[0], length, shard.finished_through)
            start = shard.window
            in_window = 0
            for record in shard.buffer:
                if window_start(record, length, shard.finished_through) != start:
                    break
                in_window += 1
            batch = shard.buffer[: min(in_window, self.settings.batch_size)]
            closed = flush or now >= start + length
            if not closed and not (batch and self._due(shard)):
                return
            final = closed and in_window <= self.settings.batch_size
            done = self._window_invocation(shard, batch, final=final, early=False)
            if done is None or done < len(batch):
                return  # retried on a later poll (the state from before it is kept)
            if final:
                shard.window, shard.state, shard.finished_through = None, {}, start + length

    def _window_invocation(
        self, shard: _Shard, batch: list[dict[str, Any]], *, final: bool, early: bool
    ) -> int | None:
        """One invocation of the shard's open window; how many leading records are done, ``None``
        when it failed (retried later with the state from before it; after the retries the
        records go to the on-failure destination and, for a final invocation, the window ends)."""
        start = shard.window if shard.window is not None else 0
        event = {
            "Records": batch,
            "window": {"start": _iso(start), "end": _iso(start + self.settings.tumbling_window)},
            "state": shard.state,
            "shardId": shard.shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }
        done: int | None
        response = self._call(event, batch)
        if not isinstance(response, dict) or not isinstance(response.get("state"), dict):
            # a function error, or a response without state: a failed invocation. A batch before
            # the window's end is bisected as without windows; a final one is retried whole (how
            # Lambda bisects a final invocation is not documented)
            if self.settings.bisect and len(batch) > 1 and not (final or early):
                return self._window_invocation(shard, batch[: len(batch) // 2], final=False, early=False)
            done = None
        else:
            self.delivered["batches"] += 1
            shard.state = response["state"]
            if len(json.dumps(shard.state).encode()) > MAX_STATE_BYTES:
                shard.ended_early = True
            done = self._done(batch, response)
            self.delivered["records"] += done
        if done is not None and done == len(batch):
            shard.attempts = 0
            del shard.buffer[:done]
            shard.oldest = time.monotonic() if shard.buffer else None
            return done
        if shard.attempts >= self.settings.max_retries >= 0:  # given up: the shard moves on
            if batch[done or 0 :]:
                self._dead_letter(shard, batch[done or 0 :])
            shard.attempts = 0
            del shard.buffer[: len(batch)]
            shard.oldest = time.monotonic() if shard.buffer else None
            if final:  # the window ends without its final state (reconcile corrects the gauge)
                shard.window, shard.state = None, {}
                shard.finished_through = start + self.settings.tumbling_window
            elif early:
                shard.state, shard.ended_early = {}, False
            return len(batch)
        shard.attempts += 1
        self.delivered["retries"] += 1
        if done:
            del shard.buffer[:done]
        time.sleep(min(0.05 * shard.attempts, 1.0))  # Lambda backs off between retries
        return done

    def _call(self, event: dict[str, Any], batch: list[dict[str, Any]]) -> Any:  # noqa: ANN401
        """Invoke the function with ``event`` (IteratorAge published); ``None`` on a function error."""
        newest = batch[-1]["dynamodb"].get("ApproximateCreationDateTime", time.time()) if batch else None
        newest = time.time() if newest is None else newest
        age = max(0.0, time.time() - float(newest))
        self._functions.metrics.iterator_age(self._function, age * 1000)
        try:
            response = self._functions.invoke(self._function, event)
        except Exception:  # noqa: BLE001 - a function error
            return None
        if self._loses_response(event):
            return None
        self.iterator_age = age
        return response

    def _loses_response(self, event: dict[str, Any]) -> bool:
        """An injected ``lose_response`` fault (``local_stack.faults``) takes this invocation's
        response: the function ran, its environment died before answering."""
        for fault in self.faults():
            if fault.function != self._function or fault.lose_response is None:
                continue
            if fault.lose_response == "final" and not event.get("isFinalInvokeForWindow"):
                continue
            used = self._faults_used.get(id(fault), 0)
            if fault.times is not None and used >= fault.times:
                continue
            self._faults_used[id(fault)] = used + 1
            self.delivered["responses_lost"] += 1
            self._functions.response_lost(self._function)  # a function error, as Lambda counts it
            return True
        return False

    def _done(self, batch: list[dict[str, Any]], response: dict[str, Any]) -> int:
        """How many leading records a successful response leaves done (``batchItemFailures``)."""
        failures = response.get("batchItemFailures") or [] if self.settings.report_item_failures else []
        if not failures:
            return len(batch)
        failed = {str(item.get("itemIdentifier")) for item in failures}
        for index, record in enumerate(batch):
            if record["dynamodb"]["SequenceNumber"] in failed:
                return index
        return 0  # an identifier that is in no record fails the whole batch, as Lambda does

    def _invoke(self, batch: list[dict[str, Any]]) -> int:
        """Deliver ``batch``; return how many leading records are done."""
        newest = batch[-1]["dynamodb"].get("ApproximateCreationDateTime", time.time())
        # IteratorAge: "the difference between the time Lambda received the batch and the time the
        # last record in the batch was written to the stream", published for every attempt
        age = max(0.0, time.time() - float(newest))
        self._functions.metrics.iterator_age(self._function, age * 1000)
        event = {"Records": batch}
        try:
            response = self._functions.invoke(self._function, event)
            if self._loses_response(event):
                raise RuntimeError("response lost (injected)")  # noqa: TRY301 - as the crash it is
        except Exception:  # noqa: BLE001 - a function error: retry (bisected)
            if self.settings.bisect and len(batch) > 1:
                return self._invoke(batch[: len(batch) // 2])
            return 0
        self.delivered["batches"] += 1
        self.iterator_age = age  # as published (not after the invocation, which added its duration)
        failures = (
            (response or {}).get("batchItemFailures") or [] if self.settings.report_item_failures else []
        )
        if not failures:
            self.delivered["records"] += len(batch)
            return len(batch)
        failed = {str(item.get("itemIdentifier")) for item in failures}
        for index, record in enumerate(batch):
            if record["dynamodb"]["SequenceNumber"] in failed:
                self.delivered["records"] += index
                return index
        return 0  # an identifier that is in no record fails the whole batch, as Lambda does

    def _dead_letter(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        self.delivered["dead_lettered"] += len(records)
        if self._sqs is None or self._dead_letter_url is None:
            return
        info = {
            "requestContext": {
                "requestId": f"local-{time.time_ns()}",
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self._function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.attempts + 1,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": records[0]["dynamodb"].get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": records[-1]["dynamodb"].get("ApproximateCreationDateTime"),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._dead_letter_url, MessageBody=json.dumps(info, default=str))
