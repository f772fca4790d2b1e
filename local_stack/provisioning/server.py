"""moto's server, as ``python -m moto.server`` runs it, with fixes for faithfulness and throughput:

- stream records get unique sequence numbers: moto numbers them by the shard's length without a
  lock, so two concurrent writes on the threaded server could share one (seen: 2 of 300);
- a transaction copies the items it touches, not the tables: moto deep-copies every table a
  transaction touches (once per action: a 1,000-marker gauge batch took 37 s), so a table that
  only grows (the gauge's markers) made every batch slower;
- stream records are trimmed after the retention (24 h; ``LOCAL_STREAM_RETENTION_SECONDS``) and
  shard iterators expire after 15 minutes, as on AWS (moto keeps both forever);
- CloudWatch keeps one data point per metric and period of its storage resolution (a second for
  high-resolution data, a minute otherwise): statistic sets sent for the same metric and period are
  merged into it, where moto keeps one object per call (the AWS service metrics alone grew moto by
  ~4,500 objects a minute under a steady load);
- moto's models are tracked weakly: moto keeps every instance of every model it ever made (every
  item written, every stream record, every shard iterator, for its ``/moto-api`` page), which
  was the memory a long run grew by (~17 MB a minute at 25 connections a second);
- GetRecords answers with the records' JSON as stored, not through moto's generic serializer
  (~1.8 ms a record: a third of moto's time when a stream is read under load);
- a table's stream has several shards that roll over, when asked (``local_stack.dynamodb.shards``);
- requests are not logged (werkzeug writes a line per request);
- faults can be injected per function, service and operation (``FaultInjector``,
  ``local_stack.faults``);
- log groups keep their retention and a bound, and Logs Insights queries run
  (``local_stack.logs.service``);
- what the account's calls would cost is metered (``local_stack.cost.endpoint``, ``GET
  /_local/meter/units``);
- the backend of a request is looked up once per SigV4 scope and ``X-Amz-Target`` service, not by
  matching every backend's URL patterns on every request (a third of moto's time under load).

The changes to moto's classes are :data:`PATCHES`, applied once, in their order, by
:func:`apply_patches`. Run as ``python -m local_stack.provisioning.server HOST PORT``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum
from moto.core import responses as moto_responses
from moto.core.common_models import BaseModel
from moto.core.exceptions import JsonRESTError
from moto.core.serialize import BaseJSONSerializer, TimestampSerializer
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.logs.models import LogEvent, LogsBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from local_stack.cost import endpoint as metering
from local_stack.dynamodb import shards
from local_stack.logs.service import (
    LogsApplication,
    Retention,
    bound_log_groups,
    max_events,
    untrack_log_events,
)
from local_stack.provisioning import answers

if TYPE_CHECKING:
    from collections.abc import Callable


class LiveInstances:
    """A model's ``instances_tracked`` (moto lists every instance ever made, for ``/moto-api``),
    holding them weakly: an instance moto no longer uses is freed, and leaves the list. One weak
    reference per instance, all sharing one callback (a closure per reference cost ~250 bytes)."""

    def __init__(self, instances: list[Any]) -> None:
        self._live: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._strong: list[Any] = []  # what cannot be referenced weakly (none of moto's models)
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:  # noqa: ANN401
        try:
            self._live[id(instance)] = instance  # freed: its entry goes before its id is reused
        except TypeError:
            self._strong.append(instance)

    def __iter__(self) -> Any:  # noqa: ANN401
        while True:  # instances freed meanwhile are skipped; one made by another thread retries
            try:
                return iter([*self._live.values(), *self._strong])
            except RuntimeError:
                continue

    def __len__(self) -> int:
        return len(self._live) + len(self._strong)


def _track_models_weakly() -> None:
    new = BaseModel.__new__

    def tracked_weakly(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:  # noqa: ANN401
        tracked = cls.__dict__.get("instances_tracked")
        if not isinstance(tracked, LiveInstances):  # also after moto's reset put a new list there
            cls.instances_tracked = LiveInstances(tracked or [])  # type: ignore[attr-defined]
        return new(cls, *args, **kwargs)

    BaseModel.__new__ = staticmethod(tracked_weakly)  # type: ignore[method-assign]


class _Dispatcher(DomainDispatcherApplication):
    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._known: dict[tuple[str, str], Any] = {}

    def get_application(self, environ: dict[str, Any]) -> Any:  # noqa: ANN401
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        if not authorization.startswith("AWS4-HMAC-SHA256") or str(environ.get("PATH_INFO", "")).startswith(
            "/moto-api"
        ):
            return super().get_application(environ)
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/", 2)[-1]
        target = str(environ.get("HTTP_X_AMZ_TARGET", "")).split(".", 1)[0]
        key = (scope, target)
        application = self._known.get(key)
        if application is None:
            application = self._known[key] = super().get_application(environ)
        return application


# The stream records the running transaction has appended (per request thread), so that a
# cancelled transaction takes back exactly its own records.
_journal = threading.local()


# DynamoDB Streams keeps records 24 hours, then trims them; a shard iterator expires 15 minutes
# after it is returned (DynamoDB Streams API reference: GetRecords, TrimmedDataAccessException and
# ExpiredIteratorException). moto keeps both forever, so a long-running stack only grows.
STREAM_RETENTION_SECONDS = 86_400.0
ITERATOR_LIFETIME_SECONDS = 900.0


class TrimmedDataAccessException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "TrimmedDataAccessException",
            "The operation attempted to read past the oldest stream record in a shard (trimmed).",
        )


class ExpiredIteratorException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "Iterator expired: shard iterators last 15 minutes.")


def _now() -> float:
    return time.time()


# Stream records are appended, trimmed, read and (by a cancelled transaction) taken back under one
# lock: a record's sequence number is its position in the shard plus the shard's starting sequence
# number, so a read that computed a position while a trim moved the start skipped records (one in
# ~100,000 in a 30-minute soak: a ConnectionsOpened never counted). Reentrant: a transaction holds
# it while moto appends its records.
_stream_lock = threading.RLock()


def _serialize_stream_appends() -> None:
    """Stream records get unique sequence numbers (one append at a time) and are trimmed once older
    than the retention: the shard's starting sequence number moves past them, as on AWS. A read
    sees the shard as one append or trim left it, never halfway."""
    add = StreamShard.add

    def add_one_at_a_time(self: StreamShard, old: Any, new: Any) -> None:  # noqa: ANN401
        with _stream_lock:
            before = len(self.items)
            add(self, old, new)
            created: list[float] = self.__dict__.setdefault("created", [])
            now = _now()
            created.extend(now for _ in self.items[before:])
            appended = getattr(_journal, "records", None)
            if appended is not None:
                appended.extend((self, record) for record in self.items[before:])
            expired = next(
                (i for i, at in enumerate(created) if now - at < STREAM_RETENTION_SECONDS), len(created)
            )
            if expired:
                del self.items[:expired], created[:expired]
                self.starting_sequence_number += expired

    def get_untrimmed(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
        """moto's ``get`` (the records from sequence number ``start`` on), its position taken under
        the lock; the records' JSON is made outside it."""
        with _stream_lock:
            if start < self.starting_sequence_number:
                raise TrimmedDataAccessException
            position = start - self.starting_sequence_number
            records = self.items[position : position + quantity]
        return [record.to_json() for record in records]

    StreamShard.add = add_one_at_a_time  # type: ignore[method-assign]
    StreamShard.get = get_untrimmed  # type: ignore[method-assign]


def _expire_iterators() -> None:
    """Shard iterators expire 15 minutes after they are returned (moto keeps every one: a poller
    asking five times a second made its memory grow without end). The iterators are kept in the
    order they were issued, so forgetting the expired ones looks only at those."""
    get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator
    get_records = DynamoDBStreamsBackend.get_records
    issued: OrderedDict[str, float] = OrderedDict()
    lock = threading.Lock()

    def forget_expired(backend: DynamoDBStreamsBackend) -> None:
        now = _now()
        with lock:
            while issued:
                arn, at = next(iter(issued.items()))
                if now - at <= ITERATOR_LIFETIME_SECONDS:
                    break
                del issued[arn]
                backend.shard_iterators.pop(arn, None)

    def issue(backend: DynamoDBStreamsBackend, known: int) -> None:
        """Note the iterators moto made since it held ``known`` (GetShardIterator makes one,
        GetRecords one for NextShardIterator): dicts keep insertion order."""
        with lock:
            for arn in itertools.islice(backend.shard_iterators, known, None):
                issued.setdefault(arn, _now())

    def get_shard_iterator_expiring(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        forget_expired(self)
        known = len(self.shard_iterators)
        iterator = get_shard_iterator(self, *args, **kwargs)
        issue(self, known)
        return iterator

    def get_records_expiring(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        forget_expired(self)
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorException
        known = len(self.shard_iterators)
        records = get_records(self, iterator_arn, limit)
        issue(self, known)
        return records

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator_expiring  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records_expiring  # type: ignore[method-assign]


def _record_value(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return TimestampSerializer._timestamp_unixtimestamp(value)  # moto's very conversion
    raise TypeError(f"a stream record holds a {type(value).__name__}")


def _answer_records_as_stored() -> None:
    """GetRecords answers with the records as moto stores them (DynamoDB JSON already), written as
    moto's serializer writes what is not JSON: binary values in base64, the creation time in epoch
    seconds with its milliseconds. moto's generic serializer walked every attribute of every record
    against the API model: ~1.8 ms a record, a third of moto's time when a stream is read under
    load. Same body (a test compares the two)."""

    def get_records(self: DynamoDBStreamsHandler) -> tuple[int, dict[str, str], str]:
        limit = self._get_param("Limit")
        page = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        body = json.dumps(page, default=_record_value)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[assignment,method-assign]


# CloudWatch stores a metric at its storage resolution: one-second periods for high-resolution
# data (StorageResolution 1), one-minute periods otherwise ("Publish custom metrics": High-resolution
# metrics; AWS services such as Lambda send their metrics in 1-minute intervals, "Using CloudWatch
# metrics with Lambda"). Periods older than this are no longer merged into (a late value starts one).
_MERGE_WINDOW_SECONDS = 180.0


def _merge_statistic_sets() -> None:
    """Statistic sets (``StatisticValues``) sent for a metric's same period are merged into one
    data point, as CloudWatch aggregates them; moto appends an object per datum sent."""
    put = CloudWatchBackend.put_metric_data
    lock = threading.Lock()
    buckets: OrderedDict[tuple[Any, ...], MetricAggregatedDatum] = OrderedDict()

    def period_start(timestamp: datetime, resolution: int) -> datetime:  # moto's own time zone kept
        start = timestamp.replace(microsecond=0)
        return start.replace(second=0) if resolution == 60 else start

    def epoch(timestamp: datetime) -> float:
        return timestamp.replace(tzinfo=timestamp.tzinfo or UTC).timestamp()

    def put_merged(self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        for number, datum in enumerate(metric_data, start=1):
            self._validate_parameters_put_metric_data(datum, number)
        unmerged = []
        with lock:  # appends and merges of concurrent requests one at a time
            for datum in metric_data:
                stats, timestamp = datum.get("StatisticValues"), datum.get("Timestamp")
                if not stats or not isinstance(timestamp, datetime):
                    unmerged.append(datum)
                    continue
                start = period_start(timestamp, 1 if int(datum.get("StorageResolution") or 60) == 1 else 60)
                dimensions = tuple(sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions") or []))
                key = (id(self), namespace, datum["MetricName"], dimensions, datum.get("Unit"), start)
                point = buckets.get(key)
                if point is None:
                    put(self, namespace, [{**datum, "Timestamp": start}])
                    buckets[key] = self.metric_data[-1]  # type: ignore[assignment]
                    continue
                point.sum += float(stats["Sum"])
                point.sample_count += float(stats["SampleCount"])
                point.min = min(point.min, float(stats["Minimum"]))
                point.max = max(point.max, float(stats["Maximum"]))
            oldest = _now() - _MERGE_WINDOW_SECONDS
            while buckets and epoch(next(iter(buckets))[-1]) < oldest:
                buckets.popitem(last=False)
            if unmerged:
                put(self, namespace, unmerged)

    CloudWatchBackend.put_metric_data = put_merged  # type: ignore[method-assign]


def _key_of(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    """The (hash, range) key a transaction action touches, as moto stores it."""
    attributes = op.get("Item") if "Item" in op else op.get("Key")
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None  # moto rejects it itself
    range_attr = table.range_key_attr
    range_value = DynamoType(attributes[range_attr]) if range_attr and range_attr in attributes else None
    return DynamoType(attributes[table.hash_key_attr]), range_value


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:  # noqa: ANN401
    """Put ``item`` back under its key (``None``: no item), without a stream record."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def _journal_transactions() -> None:
    """A transaction costs what it touches: before it runs, the items it names are copied (not
    the tables, as moto does: a counters table of 10,000 markers made every gauge batch copy them
    all); when it is cancelled, exactly those items and the stream records it appended are put
    back. moto's own checks, all-or-nothing outcome and cancellation reasons are unchanged."""
    transact = DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def no_table_copies(value: Any, memo: Any = None) -> Any:  # noqa: ANN401
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_with_journal(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        # one transaction at a time, as moto's table copies assumed; no other stream record meanwhile:
        # the records a cancelled transaction takes back are the newest of their shards
        with lock, _stream_lock:
            before: dict[tuple[Table, DynamoType, DynamoType | None], Any] = {}
            for action in transact_items:
                _, op = next(iter(action.items()))
                table = self.tables.get(op.get("TableName", ""))
                key = _key_of(table, op) if table is not None else None
                if table is None or key is None or (table.has_range_key and key[1] is None):
                    continue  # moto refuses the action itself
                if (table, *key) not in before:
                    before[(table, *key)] = copy.deepcopy(table.get_item(*key))
            _journal.records = []
            setattr(dynamodb_models, "copy", SimpleNamespace(deepcopy=no_table_copies))  # noqa: B010
            try:
                transact(self, transact_items)
            except Exception:
                for (table, hash_value, range_value), item in before.items():
                    _restore(table, hash_value, range_value, item)
                for shard, record in _journal.records:
                    position = shard.items.index(record)
                    del shard.items[position]
                    created = shard.__dict__.get("created")
                    if created is not None:  # the creation times kept beside the records, for trimming
                        del created[position]
                raise
            finally:
                setattr(dynamodb_models, "copy", copy)  # noqa: B010
                _journal.records = None

    DynamoDBBackend.transact_write_items = transact_with_journal  # type: ignore[method-assign]


# What the log groups keep (their retention and a bound), enforced after every PutLogEvents: set by
# its patch, read by the logs service (``LogsApplication``).
_log_retention: Retention | None = None


def _bound_log_groups() -> None:
    global _log_retention  # noqa: PLW0603 - set once, by its patch, before the server starts
    _log_retention = bound_log_groups(max_events())


def _shard_streams() -> None:
    """Several shards per stream, rolled over, when the stack asks (``local_stack.dynamodb.shards``);
    nothing with one shard and no rollover."""
    shards.install(_stream_lock, lambda: STREAM_RETENTION_SECONDS, *shards.from_environment())


@dataclass(frozen=True)
class Patch:
    """A change to moto's classes: ``apply`` replaces the attributes ``replaces`` names."""

    apply: Callable[[], None]
    replaces: tuple[tuple[type | ModuleType, str], ...]


# Every change this server makes to moto, in the order it is made. Where two patches replace the
# same method, the later wraps the earlier: the meter wraps the transactions' journal, so that it
# sees a cancelled transaction as the client does (its items already put back).
PATCHES: tuple[Patch, ...] = (
    Patch(_track_models_weakly, ((BaseModel, "__new__"),)),
    Patch(untrack_log_events, ((LogEvent, "__new__"),)),
    Patch(_serialize_stream_appends, ((StreamShard, "add"), (StreamShard, "get"))),
    # before the iterators' expiry, which wraps the sharded GetShardIterator; replaces nothing with
    # one shard and no rollover (the default)
    Patch(
        _shard_streams,
        (
            (Table, "set_stream_specification"),
            (DynamoDBStreamsBackend, "describe_stream"),
            (DynamoDBStreamsBackend, "get_shard_iterator"),
            (DynamoDBStreamsHandler, "describe_stream"),
            (ShardIterator, "get"),
        ),
    ),
    Patch(
        _expire_iterators,
        ((DynamoDBStreamsBackend, "get_shard_iterator"), (DynamoDBStreamsBackend, "get_records")),
    ),
    Patch(_answer_records_as_stored, ((DynamoDBStreamsHandler, "get_records"),)),
    Patch(_journal_transactions, ((DynamoDBBackend, "transact_write_items"),)),
    Patch(_merge_statistic_sets, ((CloudWatchBackend, "put_metric_data"),)),
    Patch(_bound_log_groups, ((LogsBackend, "put_log_events"),)),
    Patch(metering.meter_dynamodb, tuple((DynamoDBBackend, name) for name in metering.METERED)),
    Patch(answers.cache_action_names, ((moto_responses, "method_names_from_class"),)),
    Patch(answers.attribute_values_as_stored, ((BaseJSONSerializer, "_serialize_type_structure"),)),
)
_patched = threading.Lock()
_applied: list[Patch] = []


def apply_patches() -> None:
    """Apply :data:`PATCHES`, in order, once per process (a second call changes nothing: a patch
    applied twice would wrap itself, the meter counting every unit twice)."""
    with _patched:
        for patch in PATCHES[len(_applied) :]:
            patch.apply()
            _applied.append(patch)


class FaultInjector:
    """Faults injected at the HTTP layer (``local_stack.faults``): a request from the function whose
    access key a fault names, for that service and operation, gets AWS's error response (or waits
    first), at the fault's rate. ``PUT /_local/faults`` replaces the list (JSON)."""

    def __init__(self, application: Any) -> None:  # noqa: ANN401 - a WSGI application
        self._application = application
        self._faults: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:  # noqa: ANN401
        if environ.get("PATH_INFO") == "/_local/faults":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self._faults = json.loads(environ["wsgi.input"].read(length) or b"[]")
            start_response("204 No Content", [])
            return [b""]
        if self._faults:
            fault = self._matching(environ)
            if fault is not None and random.random() < fault["rate"]:  # noqa: S311 - not cryptography
                if fault["latencyMs"]:
                    time.sleep(fault["latencyMs"] / 1000)
                else:
                    return self._error(environ, fault, start_response)
        return self._application(environ, start_response)

    def _matching(self, environ: dict[str, Any]) -> dict[str, Any] | None:
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        credential = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        if len(credential) < 4:
            return None
        key, service = credential[0], credential[3]
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.rsplit(".", 1)[-1] if target else _query_action(environ)
        for fault in self._faults:
            if (fault["accessKey"], fault["service"], fault["operation"]) == (key, service, operation):
                return fault
        return None

    @staticmethod
    def _error(environ: dict[str, Any], fault: dict[str, Any], start_response: Any) -> list[bytes]:  # noqa: ANN401
        code, message = fault["error"], "Injected by the local stack (/_local/faults)"
        reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[
            fault["status"]
        ]
        request_id = str(uuid.uuid4())
        if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol: the code is the __type's last part
            body = json.dumps({"__type": f"com.amazonaws.local#{code}", "message": message}).encode()
            content_type = "application/x-amz-json-1.0"
        else:  # query protocol
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        start_response(
            f"{fault['status']} {reason}",
            [
                ("Content-Type", content_type),
                ("x-amzn-RequestId", request_id),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


def _query_action(environ: dict[str, Any]) -> str | None:
    actions = parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    return actions[0] if actions else None


def main(host: str, port: int) -> None:
    global STREAM_RETENTION_SECONDS  # noqa: PLW0603 - set once, before the server starts
    STREAM_RETENTION_SECONDS = float(
        os.environ.get("LOCAL_STREAM_RETENTION_SECONDS") or STREAM_RETENTION_SECONDS
    )
    apply_patches()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logs = LogsApplication(_Dispatcher(), _log_retention)
    metered = metering.wrap(logs)  # the cost meter's units (GET /_local/meter/units)
    metered.bytes_scanned = lambda: logs.insights.counter.snapshot()["bytesScanned"]
    run_simple(host, port, FaultInjector(metered), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
