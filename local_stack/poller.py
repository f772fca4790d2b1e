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
- a record is never delivered again after a batch that contained it succeeded.

moto's stream records carry no ``userIdentity``: REMOVE records of items the TTL emulation
deleted are given DynamoDB's TTL service identity here (see ``local_stack.ttl``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connection_tracker.streams import TTL_IDENTITY
from local_stack.aws import ACCOUNT, REGION
from local_stack.filters import passes
from local_stack.periodic import Periodic
from local_stack.streams import StreamReader, lambda_record, without_split_inserts
from local_stack.ttl import item_key
from sam_template.intrinsics import resource_named

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.lambdas import LocalFunctions
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

    @classmethod
    def from_properties(cls, source: dict[str, Any]) -> SourceSettings:
        """The settings of an event source mapping, with Lambda's defaults."""
        return cls(
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


def stream_sources(template: Template) -> list[StreamSource]:
    """Every enabled event source mapping of the template that reads the stream of one of its
    DynamoDB tables (what SAM makes of a function's ``DynamoDB`` event), in template order; others
    are named at start as not emulated (``stack.notices``)."""
    found = []
    tables = template.of_type("AWS::DynamoDB::Table")
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        table = resource_named(properties.get("EventSourceArn"))
        function = resource_named(properties.get("FunctionName"))
        if table not in tables or function is None or properties.get("Enabled", True) is False:
            continue
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        settings = SourceSettings.from_properties(properties)
        found.append(StreamSource(function, table, resource_named(destination), settings))
    return found


@dataclass
class _Shard:
    shard_id: str
    buffer: list[dict[str, Any]] = field(default_factory=list)
    oldest: float | None = None
    attempts: int = 0


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
        """Read new records, and deliver every batch that is due (all of them with ``flush``)."""
        if time.monotonic() - self._shards_seen > SHARD_REFRESH_SECONDS:
            for shard_id in self._reader.shards():
                self._shards.setdefault(shard_id, _Shard(shard_id))
            self._shards_seen = time.monotonic()
        for shard in self._shards.values():
            self._read(shard)
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

    def _invoke(self, batch: list[dict[str, Any]]) -> int:
        """Deliver ``batch``; return how many leading records are done."""
        newest = batch[-1]["dynamodb"].get("ApproximateCreationDateTime", time.time())
        # IteratorAge: "the difference between the time Lambda received the batch and the time the
        # last record in the batch was written to the stream", published for every attempt
        age = max(0.0, time.time() - float(newest))
        self._functions.metrics.iterator_age(self._function, age * 1000)
        try:
            response = self._functions.invoke(self._function, {"Records": batch})
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
