"""The cost meter's part inside the emulated AWS endpoint (the moto server): DynamoDB request units
per table and per index, SQS and SNS requests, CloudWatch API requests, as each service bills them
(the rules and prices: ``ops.prices``). ``GET /_local/meter/units`` on the endpoint answers what it
counted (units, no dollars); the stack's meter (``local_stack.cost.meter``) adds what the stack
itself sees and prices the whole at ``GET /_local/bill`` on the management port.

Two layers: the WSGI layer (:class:`RequestMeter`) notes who makes each request, the DynamoDB
operation it is and the consistency it asks, and counts SQS, SNS and CloudWatch requests; DynamoDB
units are counted in moto's backend (:func:`meter_dynamodb`, one of the server's patches:
``local_stack.provisioning.server.PATCHES``), where the items before and after are.

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
import inspect
import io
import json
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

from local_stack.cost import UNITS_PATH
from ops import prices

if TYPE_CHECKING:
    from collections.abc import Callable

    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

# AWS services' own calls for the account (local_stack.provisioning.emulator.client's access_key), billed
LAMBDA_SERVICE_KEY = "LOCAL-LAMBDA"  # the event source mapping's on-failure destination
CLOUDWATCH_SERVICE_KEY = "LOCAL-CLOUDWATCH"  # alarm actions (SNS)
TTL_KEY = "LOCAL-TTL"  # DynamoDB's TTL process: its deletes are free
SERVICE_KEYS = frozenset({LAMBDA_SERVICE_KEY, CLOUDWATCH_SERVICE_KEY})


class _Request(threading.local):
    """The request this thread serves, as the endpoint's WSGI layer saw it (``RequestMeter``)."""

    def __init__(self) -> None:
        self.access_key: str | None = None
        self.operation: str | None = None  # a DynamoDB request's operation (``X-Amz-Target``)
        self.consistent: dict[str, bool] = {}  # a GetItem's or BatchGetItem's ConsistentRead by table


_request = _Request()
_deserializer = TypeDeserializer()


def billed(access_key: str | None) -> bool:
    """Whether calls made with this access key are on the account's bill: a function's
    (``LOCAL<LOGICAL ID>``) or an AWS service's acting for the account. The TTL process, the
    stack and the harness are not billed."""
    if not access_key or access_key == TTL_KEY:
        return False
    return access_key in SERVICE_KEYS or (access_key.startswith("LOCAL") and access_key.isalnum())


def _keyed(
    backend: DynamoDBBackend,
    table_name: str,
    attributes: Any,  # noqa: ANN401 - as the call gives them
) -> tuple[Table, tuple[DynamoType, DynamoType | None], dict[str, Any]] | None:
    """The table, key and attributes a call names (``None``: moto refuses the call itself)."""
    try:
        table = backend.get_table(table_name)
        return table, backend.get_keys_value(table, attributes), attributes
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


# The meter, one for the process: moto's backends are the process's too.
METER = DynamoDBMeter()

# What each metered method of moto's DynamoDB backend stands for on the bill: the DynamoDB operations
# (``X-Amz-Target``) whose call of it is billed. moto calls these methods for other operations too,
# which are billed as what they are part of: UpdateItem, and PutItem with ``ReturnValues``, read the
# item with ``get_item`` (no read on the bill); a transaction calls ``get_item``, ``put_item``,
# ``update_item`` and ``delete_item`` for its actions (billed once, by ``transact_write_items``).
METERED: dict[str, frozenset[str]] = {
    "put_item": frozenset({"PutItem", "BatchWriteItem"}),
    "update_item": frozenset({"UpdateItem"}),
    "delete_item": frozenset({"DeleteItem", "BatchWriteItem"}),
    "get_item": frozenset({"GetItem", "BatchGetItem"}),
    "query": frozenset({"Query"}),
    "scan": frozenset({"Scan"}),
    "transact_write_items": frozenset({"TransactWriteItems"}),
}


def _metering(method: str) -> bool:
    """Whether this thread's call of the backend's ``method`` is on the bill."""
    return billed(_request.access_key) and _request.operation in METERED[method]


def meter_dynamodb(meter: DynamoDBMeter = METER) -> None:
    """Meter moto's DynamoDB backend (the methods :data:`METERED` names): a patch of
    ``local_stack.provisioning.server.PATCHES``, applied once, after the transactions' journal."""
    _meter_writes(meter)
    _meter_gets(meter)
    _meter_pages(meter)
    _meter_transactions(meter)


def _meter_writes(meter: DynamoDBMeter) -> None:
    """PutItem, UpdateItem, DeleteItem (and BatchWriteItem's puts and deletes): the item before,
    the item after, a failed condition."""

    def wrap(name: str, after: Callable[[Table, Any, dict[str, Any]], dict[str, Any] | None]) -> None:
        original = getattr(DynamoDBBackend, name)
        signature = inspect.signature(original)
        attributes = list(signature.parameters)[2]  # after the table's name: the item, or the key

        def metered(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            target = None
            if _metering(name):
                bound = signature.bind(self, *args, **kwargs)
                target = _keyed(self, bound.arguments["table_name"], bound.arguments[attributes])
            if target is None:
                return original(self, *args, **kwargs)
            table, key, given = target
            old = _plain(table.get_item(*key))
            try:
                result = original(self, *args, **kwargs)
            except ConditionalCheckFailed:
                meter.failed_write(table, old)
                raise
            meter.write(table, old, after(table, key, given))
            return result

        setattr(DynamoDBBackend, name, metered)

    wrap("put_item", lambda _table, _key, item: _python(item))
    wrap("update_item", lambda table, key, _given: _plain(table.get_item(*key)))
    wrap("delete_item", lambda _table, _key, _given: None)


def _meter_gets(meter: DynamoDBMeter) -> None:
    """GetItem and BatchGetItem: each item's full size (a missing one: the minimum), consistent or
    not as the request asked (``RequestMeter`` notes it: the backend is not told)."""
    get_item = DynamoDBBackend.get_item

    def metered(
        self: DynamoDBBackend,
        table_name: str,
        keys: dict[str, Any],
        *args: Any,  # noqa: ANN401
        **kwargs: Any,  # noqa: ANN401
    ) -> Any:  # noqa: ANN401
        found = get_item(self, table_name, keys, *args, **kwargs)
        if _metering("get_item"):
            table = self.get_table(table_name)
            item = table.get_item(*self.get_keys_value(table, keys))  # whole, whatever the projection
            meter.read(table, _size(_plain(item)), consistent=_request.consistent.get(table_name, False))
        return found

    DynamoDBBackend.get_item = metered  # type: ignore[method-assign]


def _meter_pages(meter: DynamoDBMeter) -> None:
    """Query and Scan pages: the summed size of the items evaluated, before the filter and the
    projection (moto's own last two steps, done here after the count)."""
    for name, projection_argument in (("query", "projection_expressions"), ("scan", "projection_expression")):
        original = getattr(DynamoDBBackend, name)
        signature = inspect.signature(original)

        def metered(
            self: DynamoDBBackend,
            *args: Any,  # noqa: ANN401
            _name: str = name,
            _original: Callable[..., Any] = original,
            _signature: inspect.Signature = signature,
            _projection: str = projection_argument,
            **kwargs: Any,  # noqa: ANN401
        ) -> Any:  # noqa: ANN401
            if not _metering(_name):
                return _original(self, *args, **kwargs)
            bound = _signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            expression, projection = arguments["filter_expression"], arguments[_projection]
            condition = (
                get_filter_expression(expression, arguments["expr_names"], arguments["expr_values"])
                if expression
                else None
            )
            arguments["filter_expression"] = arguments[_projection] = None
            results, scanned, last_key = _original(*bound.args, **bound.kwargs)
            meter.read(
                self.get_table(arguments["table_name"]),
                sum(_size(_plain(item)) for item in results),
                consistent=bool(arguments.get("consistent_read")),
                index=arguments.get("index_name"),
            )
            if condition is not None:
                results = [item for item in results if condition.expr(item)]
            if projection:
                results = [item.project(projection) for item in results]
            return results, scanned, last_key

        setattr(DynamoDBBackend, name, metered)


def _meter_transactions(meter: DynamoDBMeter) -> None:
    """TransactWriteItems: each action at 2 units per KB; a cancelled one, its prepare phase."""
    transact = DynamoDBBackend.transact_write_items

    def metered(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if not _metering("transact_write_items"):
            transact(self, transact_items)
            return
        planned = []
        for action in transact_items:
            kind, op = next(iter(action.items()))
            target = _keyed(self, op.get("TableName", ""), op.get("Item") if kind == "Put" else op.get("Key"))
            if target is not None:  # else moto refuses the transaction itself
                table, key, _ = target
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
    answers ``GET /_local/meter/units`` (:data:`local_stack.cost.UNITS_PATH`)."""

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
        if environ.get("PATH_INFO") == UNITS_PATH:
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
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.rsplit(".", 1)[-1] if target.startswith("DynamoDB_") else None
        _request.access_key, _request.operation = key, operation
        _request.consistent = (
            _consistent_reads(environ, operation)
            if billed(key) and operation in ("GetItem", "BatchGetItem")
            else {}
        )
        try:
            return self._application(environ, start_response)
        finally:
            _request.access_key = _request.operation = None
            _request.consistent = {}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = dict(self.requests)
        return {
            "dynamodb": self.dynamodb.snapshot(self._backend() if self._backend else None),
            "sqs": {"requests": requests["sqs"]},
            "sns": {"requests": requests["sns"]},
            "cloudwatch": {"requests": requests["cloudwatch"], "bytesScanned": self.bytes_scanned()},
        }


def _consistent_reads(environ: dict[str, Any], operation: str | None) -> dict[str, bool]:
    """A GetItem's ``ConsistentRead``, or a BatchGetItem's per table, by the table name the request
    gives (moto's backend is not told). The body is read here and handed on as it was."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return {}  # moto answers the malformed request itself
    if not isinstance(request, dict):
        return {}
    if operation == "GetItem":
        return {str(request.get("TableName")): request.get("ConsistentRead") is True}
    tables = request.get("RequestItems")
    return {
        str(name): isinstance(spec, dict) and spec.get("ConsistentRead") is True
        for name, spec in (tables.items() if isinstance(tables, dict) else ())
    }


def wrap(application: Any, meter: DynamoDBMeter = METER) -> RequestMeter:  # noqa: ANN401 - a WSGI application
    """The requests ``application`` serves, metered (DynamoDB's operations are metered in moto's
    backend: :func:`meter_dynamodb`, applied with the server's patches)."""

    def backend() -> Any:  # noqa: ANN401
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto's registry, at call time

        from sam_template.handlers import ACCOUNT, REGION  # noqa: PLC0415

        return dynamodb_backends[ACCOUNT][REGION]

    return RequestMeter(application, meter, backend)
