"""Lambda's DynamoDB event source mapping, emulated on the emulated Streams API.

Settings come from the template's event source (``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``FilterCriteria``, ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError``,
``FunctionResponseTypes``, ``DestinationConfig.OnFailure``, ``TumblingWindowInSeconds``). Semantics
kept ("Using AWS Lambda with Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html):

- shards: "Lambda polls shards in your DynamoDB stream for records"; each shard is read and
  delivered on its own, shards in parallel, one batch per shard at a time (``ParallelizationFactor``
  1, the default: "the number of batches to process concurrently from each shard"); a shard whose
  parent the mapping still holds waits until the parent is drained and delivered ("Because shards
  have a lineage (parent and children), an application must always process a parent shard before it
  processes a child shard", DynamoDB Developer Guide, "Reading and processing a stream");
- records are filtered first (a filtered-out record counts as processed);
- a batch is delivered when it is full or its oldest record has waited the batching window (a
  drained shard's last records at once: none can join them);
- one decision of what an invocation leaves done (:func:`~.outcome.outcome`: ``batchItemFailures``,
  a function error, a window's missing state) and one retry policy for the plain and the windowed
  path (:meth:`StreamPoller._settle`): everything before the lowest failed sequence number is done,
  the rest is retried; after ``MaximumRetryAttempts`` retries the batch's description goes to the
  on-failure queue and the shard moves on; a function error retries the batch, bisected when
  ``BisectBatchOnFunctionError`` (not a window's final invocation: how Lambda would bisect one is not
  documented);
- a record is never delivered again after a batch that contained it succeeded;
- ``TumblingWindowInSeconds``: a tumbling window per shard (``.windows``);
- ``IteratorAge`` per batch: "the difference between the time Lambda received the batch and the
  time the last record in the batch was written to the stream", published for every attempt.

moto's stream records carry no ``userIdentity``: REMOVE records of items the TTL emulation
deleted are given DynamoDB's TTL service identity here (see ``local_stack.dynamodb.ttl``).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connection_tracker.streams import TTL_IDENTITY
from local_stack.awslambda.esm.outcome import FAILED, Outcome, outcome
from local_stack.awslambda.esm.windows import MAX_STATE_BYTES, Shard, window_event, window_start
from local_stack.awslambda.filters import passes
from local_stack.dynamodb.streams import StreamReader, lambda_record, without_split_inserts
from local_stack.dynamodb.ttl import item_key
from local_stack.periodic import Periodic
from sam_template.handlers import function_arn

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.awslambda.environments import LocalFunctions
    from local_stack.awslambda.esm.settings import SourceSettings
    from local_stack.faults import Fault

SHARD_REFRESH_SECONDS = 5.0  # DescribeStream this often; at once when a shard was drained (its child)
# "Lambda polls shards in your DynamoDB stream for records at a base rate of 4 times per second"
# (Polling and batching streams). A poll reads each shard once (``StreamReader.read``: more pages
# only while they come back full).
POLL_INTERVAL_SECONDS = 0.25
MAX_PARALLEL_SHARDS = 32  # shards delivered at once (the function's concurrency bounds it as well)


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
        self._shards: dict[str, Shard] = {}  # the shards held: not finished yet
        self._finished: set[str] = set()
        self._shards_seen = 0.0
        self._refresh_due = True
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_SHARDS, thread_name_prefix="shard")
        self._in_flight: set[Future[None]] = set()
        self._counts = threading.Lock()
        # others that follow the stream (the TTL emulation) get every record read, unfiltered
        self.observers: list[Callable[[list[dict[str, Any]]], None]] = []
        self.delivered: dict[str, int] = {
            "records": 0,
            "batches": 0,
            "filtered": 0,
            "retries": 0,
            "dead_lettered": 0,
            "trimmed": 0,  # times records were trimmed from the stream before they were delivered
            "responses_lost": 0,
            "shards_open": 0,  # shards the mapping reads that are still open
            "shards_closed": 0,  # shards read to their end (closed and drained)
        }
        self.iterator_age = 0.0  # seconds between a record's creation and its delivery, last batch
        # the stack's injected faults (``/_local/faults``), and how often each took a response
        self.faults = faults
        self._faults_used: dict[int, int] = {}

    def _count(self, name: str, value: int = 1) -> None:
        with self._counts:
            self.delivered[name] += value

    def _trimmed(self, shard_id: str) -> None:
        """Records of the shard were trimmed (older than the stream's retention) before this
        mapping read them: they are lost, as on AWS; said, never silent."""
        self._count("trimmed")
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

    def stop(self) -> None:
        """No more polls; the deliveries in flight end first (a flush may follow, in this thread)."""
        super().stop()
        wait(list(self._in_flight))
        self._pool.shutdown(wait=True)

    def poll_once(self, *, flush: bool = False, wait_done: bool = False) -> None:
        """Read new records, and deliver every batch that is due, each ready shard in a thread of
        its own (``wait_done``: return once they are done). With ``flush`` (the stack is stopping)
        every batch is delivered now, tumbling windows closed, shard after shard, children after
        their parents."""
        while True:
            self._forget_finished()  # before choosing: a finished shard is never handed out again
            if self._refresh_due or time.monotonic() - self._shards_seen > SHARD_REFRESH_SECONDS:
                self._refresh()
            # taken before reading: a record not read yet was written after it, so its timestamp is
            # at or after it, and a window ending by then has all its records read
            now = time.time()
            ready = [
                shard
                for shard in self._shards.values()
                if not shard.busy and not shard.finished and self._ready(shard)
            ]
            for shard in ready:
                shard.busy = True
                if flush:
                    self._work(shard, now, flush=True)
                else:
                    self._in_flight.add(self._pool.submit(self._work, shard, now, flush=False))
            if wait_done:
                wait(list(self._in_flight))
            self._in_flight = {future for future in self._in_flight if not future.done()}
            if not (flush and any(shard.finished for shard in self._shards.values())):
                return

    def _refresh(self) -> None:
        """The shards of the stream (DescribeStream), the new ones held."""
        for shard_id in self._reader.shards():
            if shard_id not in self._shards and shard_id not in self._finished:
                self._shards[shard_id] = Shard(shard_id, self._reader.parents.get(shard_id))
        self._shards_seen = time.monotonic()
        self._refresh_due = False
        self._tally_shards()

    def _ready(self, shard: Shard) -> bool:
        """A parent before its children: a shard waits while the mapping holds its parent."""
        return shard.parent_id is None or shard.parent_id not in self._shards

    def _forget_finished(self) -> None:
        finished = [shard for shard in self._shards.values() if not shard.busy and shard.finished]
        for shard in finished:
            del self._shards[shard.shard_id]
            self._finished.add(shard.shard_id)
        if finished:
            self._refresh_due = True  # their children may be listed by now (the refresh tallies)

    def _tally_shards(self) -> None:
        drained = sum(shard.drained for shard in self._shards.values())
        with self._counts:
            self.delivered["shards_open"] = len(self._shards) - drained
            self.delivered["shards_closed"] = len(self._finished) + drained

    def _work(self, shard: Shard, now: float, *, flush: bool) -> None:
        """One shard's turn: read it, deliver what is due (a failed batch waits for the next poll)."""
        try:
            self._read(shard)
            if self.settings.tumbling_window:
                self._deliver_windows(shard, now, flush=flush)
                return
            while shard.buffer and (flush or shard.drained or self._due(shard)):
                if not self._deliver(shard):
                    return
        except Exception as exc:  # noqa: BLE001 - said, and the shard tried again next poll
            print(f"{self.name} {self._function} {shard.shard_id}: {exc!r}", flush=True)
        finally:
            shard.busy = False

    def _read(self, shard: Shard) -> None:
        records = without_split_inserts(list(self._reader.read(shard.shard_id)))
        if not shard.drained and self._reader.drained(shard.shard_id):
            shard.drained = True
        for observer in self.observers:
            observer(records)
        for record in records:
            delivered = self._as_lambda_record(record)
            if not passes(self.settings.filter_criteria, delivered):
                self._count("filtered")
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

    def _due(self, shard: Shard) -> bool:
        if len(shard.buffer) >= self.settings.batch_size:
            return True
        return shard.oldest is not None and time.monotonic() - shard.oldest >= self.settings.batching_window

    # ----- one batch: invoke, decide, retry ----------------------------------------------------------
    def _deliver(self, shard: Shard) -> bool:
        """The shard's next batch, without a window; ``True`` when it is done (or given up)."""
        batch = shard.buffer[: self.settings.batch_size]
        result = self._attempt(shard, batch, lambda part: {"Records": part}, windowed=False, bisect=True)
        return self._settle(shard, batch, result.done)

    def _attempt(
        self,
        shard: Shard,
        batch: list[dict[str, Any]],
        event: Callable[[list[dict[str, Any]]], dict[str, Any]],
        *,
        windowed: bool,
        bisect: bool,
    ) -> Outcome:
        """Invoke the function with ``event(batch)``; a failed invocation is bisected when the
        mapping says so (the first half invoked, recursively). A window's state is kept from a
        successful one (past 1 MB the window ends early)."""
        result = outcome(
            batch,
            self._call(event(batch), batch),
            report_item_failures=self.settings.report_item_failures,
            windowed=windowed,
        )
        if result.failed:
            if bisect and self.settings.bisect and len(batch) > 1:
                return self._attempt(shard, batch[: len(batch) // 2], event, windowed=windowed, bisect=bisect)
            return result
        self._count("batches")
        self._count("records", result.done or 0)
        if windowed and result.state is not None:
            shard.state = result.state
            if len(json.dumps(shard.state).encode()) > MAX_STATE_BYTES:
                shard.ended_early = True
        return result

    def _settle(
        self,
        shard: Shard,
        batch: list[dict[str, Any]],
        done: int | None,
        on_give_up: Callable[[], None] | None = None,
    ) -> bool:
        """The retry policy, for both paths: the done records leave the buffer; the rest is retried
        (backing off) until ``MaximumRetryAttempts``, then sent to the on-failure destination and the
        shard moves on. ``True`` when the whole batch is done or given up."""
        if done == len(batch):
            shard.attempts = 0
            shard.take(len(batch))
            return True
        if shard.attempts >= self.settings.max_retries >= 0:
            if batch[done or 0 :]:
                self._dead_letter(shard, batch[done or 0 :])
            shard.attempts = 0
            shard.take(len(batch))
            if on_give_up is not None:
                on_give_up()
            return True
        shard.attempts += 1
        self._count("retries")
        shard.take(done or 0)
        time.sleep(min(0.05 * shard.attempts, 1.0))  # Lambda backs off between retries
        return False

    # ----- tumbling windows (``.windows``) ----------------------------------------------------------
    def _deliver_windows(self, shard: Shard, now: float, *, flush: bool) -> None:
        """Deliver the shard's due batches window by window, each window's records in batches of
        their own, then its final invocation once it has closed (with the last records, or none).
        A window closes at its end, or when its shard is drained (no record can join it)."""
        length = self.settings.tumbling_window
        while True:
            if shard.ended_early:  # the state grew past 1 MB: the window ends early, then goes on
                if not self._window_invocation(shard, [], final=False, early=True):
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
            closed = flush or shard.drained or now >= start + length
            if not closed and not (batch and self._due(shard)):
                return
            final = closed and in_window <= self.settings.batch_size
            if not self._window_invocation(shard, batch, final=final, early=False):
                return  # retried on a later poll (the state from before it is kept)
            if final:
                shard.window, shard.state, shard.finished_through = None, {}, start + length

    def _window_invocation(
        self, shard: Shard, batch: list[dict[str, Any]], *, final: bool, early: bool
    ) -> bool:
        """One invocation of the shard's open window; ``True`` when its batch is done (or given up:
        a final invocation given up ends its window without its final state, which reconcile
        corrects)."""
        start, length = shard.window or 0, self.settings.tumbling_window

        def event(part: list[dict[str, Any]]) -> dict[str, Any]:
            return window_event(shard, part, length, self.stream_arn, final=final, early=early)

        def give_up() -> None:
            if final:
                shard.window, shard.state, shard.finished_through = None, {}, start + length
            elif early:
                shard.state, shard.ended_early = {}, False

        result = self._attempt(shard, batch, event, windowed=True, bisect=not (final or early))
        return self._settle(shard, batch, result.done, on_give_up=give_up)

    # ----- the function --------------------------------------------------------------------------------
    def _call(self, event: dict[str, Any], batch: list[dict[str, Any]]) -> Any:  # noqa: ANN401
        """Invoke the function with ``event`` (IteratorAge published); ``FAILED`` on a function error."""
        newest = batch[-1]["dynamodb"].get("ApproximateCreationDateTime") if batch else None
        age = max(0.0, time.time() - float(time.time() if newest is None else newest))
        self._functions.metrics.iterator_age(self._function, age * 1000)
        try:
            response = self._functions.invoke(self._function, event)
        except Exception:  # noqa: BLE001 - a function error
            return FAILED
        if self._loses_response(event):
            return FAILED
        self.iterator_age = age  # as published (not after the invocation, which added its duration)
        return response

    def _loses_response(self, event: dict[str, Any]) -> bool:
        """An injected ``lose_response`` fault (``local_stack.faults``) takes this invocation's
        response: the function ran, its environment died before answering."""
        for fault in self.faults():
            if fault.function != self._function or fault.lose_response is None:
                continue
            if fault.lose_response == "final" and not event.get("isFinalInvokeForWindow"):
                continue
            with self._counts:
                used = self._faults_used.get(id(fault), 0)
                if fault.times is not None and used >= fault.times:
                    continue
                self._faults_used[id(fault)] = used + 1
                self.delivered["responses_lost"] += 1
            self._functions.response_lost(self._function)  # a function error, as Lambda counts it
            return True
        return False

    def _dead_letter(self, shard: Shard, records: list[dict[str, Any]]) -> None:
        self._count("dead_lettered", len(records))
        if self._sqs is None or self._dead_letter_url is None:
            return
        info = {
            "requestContext": {
                "requestId": f"local-{time.time_ns()}",
                "functionArn": function_arn(self._function),
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
