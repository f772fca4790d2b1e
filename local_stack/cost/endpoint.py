"""The cost meter's part inside the emulated AWS endpoint (the moto server): DynamoDB request units
per table and per index, SQS and SNS requests, CloudWatch API requests, as each service bills them
(the rules and prices: ``ops.prices``). ``GET /_local/bill`` on the endpoint answers what it
counted; the stack's meter (``local_stack.cost.meter``) adds what the stack itself sees.

Only the account's own calls are billed: those of the functions (told apart by the access key
Lambda gives each, ``local_stack.faults.access_key``) and of AWS services acting for the account
(``SERVICE_KEYS``: the event source mapping's on-failure destination, the alarms' notifications).
Not billed, as on AWS: the TTL process's deletes ("deleting expired items via TTL is free of
charge": "Using time to live (TTL) in DynamoDB",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html), the event source
mapping's stream reads (free for a Lambda trigger: ``ops.prices``), and whatever the harness or an
operator asks of the emulation (the stack's own ``local`` credentials).

DynamoDB units are computed from the request, the item before and the item after, with boto3's
``TypeDeserializer`` (sizes: ``ops.prices.item_size``): a write consumes the larger of the item
before and after; a write whose condition fails consumes the item it found (at least 1 unit) and
writes no index; a delete consumes the item it removed; each index write (``index_write_sizes``)
consumes the projected item's size; a transaction's writes take 2 units per KB (index writes stay
single); a Query or Scan page consumes the summed size of the items it evaluated, filter or
projection notwithstanding. A cancelled transaction is charged its prepare phase only (1 unit per
KB of each item it names): the documentation says a transaction reads or writes each item twice,
to prepare and to commit, and no more about cancellations.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from ops import prices

if TYPE_CHECKING:
    from collections.abc import Callable

PATH = "/_local/bill"
# AWS services' own calls for the account (local_stack.provisioning.emulator.client's access_key), billed
LAMBDA_SERVICE_KEY = "LOCAL-LAMBDA"  # the event source mapping's on-failure destination
CLOUDWATCH_SERVICE_KEY = "LOCAL-CLOUDWATCH"  # alarm actions (SNS)
TTL_KEY = "LOCAL-TTL"  # DynamoDB's TTL process: its deletes are free
SERVICE_KEYS = frozenset({LAMBDA_SERVICE_KEY, CLOUDWATCH_SERVICE_KEY})

_request = threading.local()  # the access key of the request this thread serves
_deserializer = TypeDeserializer()


def billed(access_key: str | None) -> bool:
    """Whether calls made with this access key are on the account's bill: a function's
    (``LOCAL<LOGICAL ID>``) or an AWS service's acting for the account. The TTL process, the
    stack and the harness are not billed."""
    if not access_key or access_key == TTL_KEY:
        return False
    return access_key in SERVICE_KEYS or (access_key.startswith("LOCAL") and access_key.isalnum())


def _billed_now() -> bool:
    """Whether the request this thread serves is on the account's bill."""
    return billed(getattr(_request, "access_key", None))


def _keyed(handler: DynamoHandler, body_key: str) -> tuple[Table, Any] | None:
    """The table and key a request names (``None``: moto refuses the request itself)."""
    try:
        table = handler.dynamodb_backend.get_table(handler.body["TableName"])
        return table, handler.dynamodb_backend.get_keys_value(table, handler.body[body_key])
    except Exception:  # noqa: BLE001
        return None


def _credential(environ: dict[str, Any]) -> list[str]:
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    return authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")


def _plain(item: Any) -> dict[str, Any] | None:  # noqa: ANN401 - a moto Item or None
    """A moto item as boto3 deserialises it (``None`` for no item)."""
    if item is None:
        return None
    return _python(item.to_json()["Attributes"])


def _python(typed: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(_raw_binaries(value)) for name, value in typed.items()}  # type: ignore[arg-type]


def _raw_binaries(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value with its binaries as bytes: the JSON protocol (and moto's storage) carry
    them in base64, boto3's deserialiser takes what its serialiser gives, bytes."""
    ((kind, inner),) = value.items()
    if kind == "B" and isinstance(inner, str):
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(item) if isinstance(item, str) else item for item in inner]}
    if kind == "L":
        return {"L": [_raw_binaries(item) for item in inner]}
    if kind == "M":
        return {"M": {name: _raw_binaries(item) for name, item in inner.items()}}
    return value


def _size(item: dict[str, Any] | None) -> int:
    return prices.item_size(item) if item else 0


class DynamoDBMeter:
    """Request units per table and index, from the emulated DynamoDB's own items."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tables: dict[str, dict[str, float]] = defaultdict(lambda: {"writeUnits": 0.0, "readUnits": 0.0})
        self.indexes: dict[str, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(lambda: {"writeUnits": 0.0, "readUnits": 0.0})
        )

    # ----- the rules, on plain items ---------------------------------------------------------------
    def write(
        self,
        table: Table,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        *,
        transactional: bool = False,
    ) -> None:
        """A write that took place: ``old`` the item before (``None``: none), ``new`` after."""
        units = prices.write_units(max(_size(old), _size(new)), transactional=transactional)
        index_units = {
            index.name: sum(
                prices.write_units(size)
                for size in prices.index_write_sizes(
                    index.schema_key_attrs,
                    [*index.table_key_attrs, *index.schema_key_attrs],
                    index.projection or {},
                    old,
                    new,
                )
            )
            for index in table.global_indexes
        }
        with self._lock:
            self.tables[table.name]["writeUnits"] += units
            for name, value in index_units.items():
                self.indexes[table.name][name]["writeUnits"] += value

    def failed_write(
        self, table: Table, found: dict[str, Any] | None, *, transactional: bool = False
    ) -> None:
        """A write whose condition failed: the item it found, at least 1 unit; no index write."""
        with self._lock:
            self.tables[table.name]["writeUnits"] += prices.write_units(
                _size(found), transactional=transactional
            )

    def read(self, table: Table, size: int, *, consistent: bool, index: str | None = None) -> None:
        units = prices.read_units(size, consistent=consistent)
        with self._lock:
            if index:
                self.indexes[table.name][index]["readUnits"] += units
            else:
                self.tables[table.name]["readUnits"] += units

    def snapshot(self, backend: DynamoDBBackend | None = None) -> dict[str, Any]:
        with self._lock:
            names = set(self.tables) | set(self.indexes)
            found = {}
            for name in sorted(names):
                table = backend.tables.get(name) if backend is not None else None
                indexes = (
                    {index.name: {"writeUnits": 0.0, "readUnits": 0.0} for index in table.global_indexes}
                    if table
                    else {}
                )
                indexes.update({index: dict(units) for index, units in self.indexes[name].items()})
                found[name] = {**dict(self.tables[name]), "indexes": indexes}
            return found

    # ----- moto's operations ----------------------------------------------------------------------------
    def install(self) -> None:
        """Meter the emulated DynamoDB's operations (moto's request handlers and table scans)."""
        self._install_writes()
        self._install_gets()
        self._install_batch_writes()
        self._install_reads()
        self._install_transactions()

    def _install_writes(self) -> None:
        """PutItem, UpdateItem, DeleteItem: the item before, the item after, a failed condition."""
        meter = self

        def single(name: str, body_key: str) -> None:
            original = getattr(DynamoHandler, name)

            def metered(self: DynamoHandler) -> Any:  # noqa: ANN401
                target = _keyed(self, body_key) if _billed_now() else None
                if target is None:
                    return original(self)
                table, key = target
                old = _plain(table.get_item(*key))
                try:
                    result = original(self)
                except ConditionalCheckFailed:
                    meter.failed_write(table, old)
                    raise
                new: dict[str, Any] | None
                if name == "put_item":
                    new = _python(self.body["Item"])
                elif name == "update_item":
                    new = _plain(table.get_item(*key))
                else:
                    new = None
                meter.write(table, old, new)
                return result

            setattr(DynamoHandler, name, metered)

        for name, body_key in (("put_item", "Item"), ("update_item", "Key"), ("delete_item", "Key")):
            single(name, body_key)

    def _install_gets(self) -> None:
        """GetItem and BatchGetItem: each item's full size (a missing one: the minimum)."""
        meter = self
        get_item = DynamoHandler.get_item

        def metered_get(self: DynamoHandler) -> Any:  # noqa: ANN401
            target = _keyed(self, "Key") if _billed_now() else None
            result = get_item(self)
            if target is not None:
                table, key = target
                consistent = bool(self.body.get("ConsistentRead"))
                meter.read(table, _size(_plain(table.get_item(*key))), consistent=consistent)
            return result

        DynamoHandler.get_item = metered_get  # type: ignore[method-assign]
        batch_get = DynamoHandler.batch_get_item

        def metered_batch_get(self: DynamoHandler) -> Any:  # noqa: ANN401
            result = batch_get(self)
            if _billed_now():
                backend = self.dynamodb_backend
                for table_name, request in (self.body.get("RequestItems") or {}).items():
                    with contextlib.suppress(Exception):
                        table = backend.get_table(table_name)
                        consistent = bool(request.get("ConsistentRead"))
                        for keys in request.get("Keys", []):
                            item = table.get_item(*backend.get_keys_value(table, keys))
                            meter.read(table, _size(_plain(item)), consistent=consistent)
            return result

        DynamoHandler.batch_get_item = metered_batch_get  # type: ignore[method-assign]

    def _install_batch_writes(self) -> None:
        """BatchWriteItem: each item as the PutItem or DeleteItem it is."""
        meter = self
        batch_write = DynamoHandler.batch_write_item

        def metered_batch_write(self: DynamoHandler) -> Any:  # noqa: ANN401
            if not _billed_now():
                return batch_write(self)
            backend = self.dynamodb_backend
            planned = []
            for table_name, requests in (self.body.get("RequestItems") or {}).items():
                with contextlib.suppress(Exception):
                    table = backend.get_table(table_name)
                    for request in requests:
                        put = request.get("PutRequest")
                        key = backend.get_keys_value(
                            table, put["Item"] if put else request["DeleteRequest"]["Key"]
                        )
                        new = _python(put["Item"]) if put else None
                        planned.append((table, _plain(table.get_item(*key)), new))
            result = batch_write(self)
            for table, old, new in planned:
                meter.write(table, old, new)
            return result

        DynamoHandler.batch_write_item = metered_batch_write  # type: ignore[method-assign]

    def _install_reads(self) -> None:
        """Query and Scan pages: the summed size of the items evaluated, before the filter and the
        projection (moto's own last two steps, done here after the count)."""
        meter = self
        for name, projection_argument in (
            ("query", "projection_expressions"),
            ("scan", "projection_expression"),
        ):
            original = getattr(Table, name)
            signature = inspect.signature(original)

            def metered(
                self: Table,
                *args: Any,  # noqa: ANN401
                _original: Callable[..., Any] = original,
                _signature: inspect.Signature = signature,
                _projection: str = projection_argument,
                **kwargs: Any,  # noqa: ANN401
            ) -> Any:  # noqa: ANN401
                if not _billed_now():
                    return _original(self, *args, **kwargs)
                bound = _signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                condition = bound.arguments["filter_expression"]
                projection = bound.arguments[_projection]
                bound.arguments["filter_expression"] = None
                bound.arguments[_projection] = None
                results, scanned, last_key = _original(*bound.args, **bound.kwargs)
                evaluated = sum(_size(_plain(item)) for item in results)
                meter.read(
                    self,
                    evaluated,
                    consistent=bool(bound.arguments.get("consistent_read")),
                    index=bound.arguments.get("index_name"),
                )
                if condition is not None:
                    results = [item for item in results if condition.expr(item)]
                if projection:
                    results = [item.project(projection) for item in results]
                return results, scanned, last_key

            setattr(Table, name, metered)

    def _install_transactions(self) -> None:
        meter = self
        transact = DynamoDBBackend.transact_write_items

        def metered(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
            if not _billed_now():
                transact(self, transact_items)
                return
            planned = []
            for action in transact_items:
                kind, op = next(iter(action.items()))
                table = self.tables.get(op.get("TableName", ""))
                if table is None:
                    continue  # moto refuses the transaction itself
                with contextlib.suppress(Exception):
                    key = self.get_keys_value(table, op["Item"] if kind == "Put" else op["Key"])
                    planned.append((kind, op, table, key, _plain(table.get_item(*key))))
            try:
                transact(self, transact_items)
            except TransactionCanceledException:
                for _, _, table, _, old in planned:  # the prepare phase only (see the module)
                    meter.failed_write(table, old)
                raise
            for kind, op, table, key, old in planned:
                if kind == "ConditionCheck":
                    meter.failed_write(table, old, transactional=True)  # checked, not written
                    continue
                new = (
                    _python(op["Item"])
                    if kind == "Put"
                    else (_plain(table.get_item(*key)) if kind == "Update" else None)
                )
                meter.write(table, old, new, transactional=True)

        DynamoDBBackend.transact_write_items = metered  # type: ignore[method-assign]


class RequestMeter:
    """The endpoint's WSGI layer: notes each request's access key (for the DynamoDB meter), counts
    billed SQS, SNS and CloudWatch requests (SQS and SNS per 64 KB chunk of the request), and
    answers ``GET /_local/bill``."""

    def __init__(
        self,
        application: Any,  # noqa: ANN401 - a WSGI application
        dynamodb: DynamoDBMeter,
        backend: Callable[[], Any] | None = None,
    ) -> None:
        self._application = application
        self.dynamodb = dynamodb
        self._backend = backend  # the DynamoDB backend (its tables' indexes, listed at zero)
        self._lock = threading.Lock()
        self.requests: dict[str, float] = {"sqs": 0.0, "sns": 0.0, "cloudwatch": 0.0}
        # bytes Logs Insights queries scanned (the endpoint's engine counts them), billed per GB
        self.bytes_scanned: Callable[[], int] = lambda: 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:  # noqa: ANN401
        if environ.get("PATH_INFO") == PATH:
            body = json.dumps(self.snapshot()).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        credential = _credential(environ)
        key = credential[0] if len(credential) >= 4 else None
        if billed(key) and credential[3] in ("sqs", "sns", "monitoring"):
            service = "cloudwatch" if credential[3] == "monitoring" else credential[3]
            count = (
                1
                if service == "cloudwatch"
                else prices.chunked_requests(int(environ.get("CONTENT_LENGTH") or 0))
            )
            with self._lock:
                self.requests[service] += count
        _request.access_key = key
        try:
            return self._application(environ, start_response)
        finally:
            _request.access_key = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = dict(self.requests)
        return {
            "dynamodb": self.dynamodb.snapshot(self._backend() if self._backend else None),
            "sqs": {"requests": requests["sqs"]},
            "sns": {"requests": requests["sns"]},
            "cloudwatch": {"requests": requests["cloudwatch"], "bytesScanned": self.bytes_scanned()},
        }


def install(application: Any) -> RequestMeter:  # noqa: ANN401 - a WSGI application
    """Meter the emulated endpoint: DynamoDB's operations, and the requests ``application`` serves."""
    meter = DynamoDBMeter()
    meter.install()

    def backend() -> Any:  # noqa: ANN401
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto's registry, at call time

        from sam_template.handlers import ACCOUNT, REGION  # noqa: PLC0415

        return dynamodb_backends[ACCOUNT][REGION]

    return RequestMeter(application, meter, backend)
