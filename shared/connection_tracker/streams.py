"""DynamoDB Streams records of the connections table, classified into connection events.

INSERT -> opened; REMOVE by the TTL service -> expired; any other REMOVE -> closed; anything else
(MODIFY, unknown) -> ``None``, ignored. The event source mapping filters too, but the decision is
made here, in code. A record that cannot be read raises :class:`MalformedRecord`.

Records are validated by pydantic against the typed-JSON shape of the attributes the consumer
reads (the rest of the item is ignored): one validation per record, about 3 us.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NotRequired

from pydantic import Field, FiniteFloat, TypeAdapter, ValidationError

# pydantic validates TypedDicts from typing only on Python >= 3.12; the runtime is 3.12, the code
# also runs on 3.11 (typing_extensions comes with pydantic)
from typing_extensions import TypedDict

from connection_tracker.models import UNKNOWN_CLIENT

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

# How DynamoDB marks the deletes its TTL process makes (DynamoDB developer guide, "TTL and streams").
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class MalformedRecord(ValueError):
    """A stream record without the image or attributes a connection event needs."""


class EventKind(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"
    EXPIRED = "expired"


class _String(TypedDict):
    S: Annotated[str, Field(min_length=1)]


class _Number(TypedDict):
    N: FiniteFloat


class _Image(TypedDict):
    """The attributes of a connection item (``models.ConnectionItem``) that the consumer reads."""

    connectionId: _String
    createdAt: _Number
    ttl: NotRequired[_Number]
    clientId: NotRequired[_String]
    sourceIp: NotRequired[Any]  # read when it is a string (never a reason to set a record aside)
    authenticated: NotRequired[Any]  # read when it is {"BOOL": true}; absent (older items): false


class _InsertStream(TypedDict):
    SequenceNumber: str
    NewImage: _Image


class _RemoveStream(TypedDict):
    SequenceNumber: str
    ApproximateCreationDateTime: FiniteFloat
    OldImage: _Image


class _Insert(TypedDict):
    dynamodb: _InsertStream


class _Remove(TypedDict):
    dynamodb: _RemoveStream
    userIdentity: NotRequired[dict[str, Any]]


_insert = TypeAdapter(_Insert)
_remove = TypeAdapter(_Remove)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    kind: EventKind
    connection_id: str
    client_id: str
    sequence_number: str
    lifetime: float | None = None  # seconds, REMOVE only
    expiry_lag: float | None = None  # seconds, TTL REMOVE only
    source_ip: str | None = None  # INSERT only, when the item holds it (CAPTURE_SOURCE_IP)
    authenticated: bool | None = None  # INSERT only, True when clientId is a verified token's claim

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "event": self.kind.value,
            "connectionId": self.connection_id,
            "clientId": self.client_id,
            "sequenceNumber": self.sequence_number,
        }
        if self.lifetime is not None:
            fields["lifetime"] = self.lifetime
        if self.expiry_lag is not None:
            fields["expiryLag"] = self.expiry_lag
        if self.source_ip is not None:
            fields["sourceIp"] = self.source_ip
        if self.authenticated is not None:
            fields["authenticated"] = self.authenticated
        return fields


def is_ttl_delete(user_identity: dict[str, Any] | None) -> bool:
    return (
        user_identity is not None
        and user_identity.get("type") == TTL_IDENTITY["type"]
        and user_identity.get("principalId") == TTL_IDENTITY["principalId"]
    )


def _malformed(name: str, exc: ValidationError) -> MalformedRecord:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return MalformedRecord(f"{name} record: {where}: {first['msg']}")


def sequence_number(record: Any) -> str | None:  # noqa: ANN401 - any JSON value Lambda sent
    """The record's ``dynamodb.SequenceNumber``, or ``None`` where the record has none."""
    stream = record.get("dynamodb") if isinstance(record, dict) else None
    number = stream.get("SequenceNumber") if isinstance(stream, dict) else None
    return str(number) if isinstance(number, str | int) and str(number) else None


def classify(record: DynamoDBRecord) -> ConnectionEvent | None:
    """The connection event of a stream record, or ``None`` for records that are not one."""
    if not isinstance(record.raw_event, dict):
        raise MalformedRecord(f"a record must be a JSON object, not {type(record.raw_event).__name__}")
    name = record.get("eventName")
    if name == "INSERT":
        try:
            inserted = _insert.validate_python(record.raw_event)["dynamodb"]
        except ValidationError as exc:
            raise _malformed(name, exc) from None
        image = inserted["NewImage"]
        source = image.get("sourceIp")
        verified = image.get("authenticated")
        return ConnectionEvent(
            EventKind.OPENED,
            image["connectionId"]["S"],
            image["clientId"]["S"] if "clientId" in image else UNKNOWN_CLIENT,
            inserted["SequenceNumber"],
            source_ip=source["S"] if isinstance(source, dict) and isinstance(source.get("S"), str) else None,
            # logged only when true: the default deployment's lines (and log bill) stay as they were
            authenticated=True if isinstance(verified, dict) and verified.get("BOOL") is True else None,
        )
    if name != "REMOVE":
        return None

    try:
        removal = _remove.validate_python(record.raw_event)
    except ValidationError as exc:
        raise _malformed(name, exc) from None
    removed = removal["dynamodb"]
    image = removed["OldImage"]
    removed_at = removed["ApproximateCreationDateTime"]
    # ApproximateCreationDateTime has one-second resolution: never report a negative duration.
    lifetime = max(0.0, removed_at - image["createdAt"]["N"] / 1000)
    connection_id = image["connectionId"]["S"]
    client_id = image["clientId"]["S"] if "clientId" in image else UNKNOWN_CLIENT
    if not is_ttl_delete(removal.get("userIdentity")):
        return ConnectionEvent(
            EventKind.CLOSED, connection_id, client_id, removed["SequenceNumber"], lifetime
        )
    if "ttl" not in image:
        raise MalformedRecord("REMOVE record by the TTL service: OldImage has no ttl")
    expiry_lag = max(0.0, removed_at - image["ttl"]["N"])
    return ConnectionEvent(
        EventKind.EXPIRED, connection_id, client_id, removed["SequenceNumber"], lifetime, expiry_lag
    )
