"""The connection item: one definition of every attribute, its validation and its DynamoDB form."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Self

# DynamoDB's typed JSON -> Python: the port of boto3's TypeDeserializer that powertools ships (its
# DynamoDB stream data class uses it), so reading items and stream images does not import boto3
from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

if TYPE_CHECKING:
    from collections.abc import Mapping

    from boto3.dynamodb.types import TypeSerializer

UNKNOWN_CLIENT = "unknown"
# The key of the authorizer's context that $connect reads (requestContext.authorizer.clientId).
CLIENT_ID_CONTEXT_KEY = "clientId"
CLIENT_ID_MAX_LENGTH = 128
CONNECTION_ID_MAX_LENGTH = 128  # API Gateway's are 16 characters
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
USER_AGENT_MAX_LENGTH = 512
# Epoch seconds stay below this until the year 5138; epoch milliseconds passed it in 1973.
_MAX_EPOCH_SECONDS = 10**11

ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=CLIENT_ID_MAX_LENGTH, pattern=CLIENT_ID_PATTERN)
]

_deserializer = TypeDeserializer()


@cache
def _serializer() -> TypeSerializer:
    """boto3's serializer, imported where an item is written (only ``$connect`` writes items):
    importing boto3 costs the functions that only read a cold start they need not pay."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415 - see above

    return TypeSerializer()


class ConnectionItem(BaseModel):
    """A row of the connections table (docs/architecture.md, "The connection item")."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    connection_id: str = Field(alias="connectionId", min_length=1, max_length=CONNECTION_ID_MAX_LENGTH)
    created_at: int = Field(alias="createdAt", ge=0, description="epoch milliseconds at connect")
    ttl: int = Field(ge=0, lt=_MAX_EPOCH_SECONDS, description="expiry, epoch seconds")
    client_id: ClientId = Field(default=UNKNOWN_CLIENT, alias="clientId")
    # true: clientId is a verified token's claim (the $connect authorizer's); false: only claimed.
    # Items written before the attribute existed read as false.
    authenticated: bool = False
    source_ip: str | None = Field(default=None, alias="sourceIp")
    user_agent: str | None = Field(default=None, alias="userAgent", max_length=USER_AGENT_MAX_LENGTH)
    stage: str | None = None
    domain_name: str | None = Field(default=None, alias="domainName")
    api_id: str | None = Field(default=None, alias="apiId")
    region: str | None = None

    @model_validator(mode="after")
    def _ttl_after_creation(self) -> Self:
        if self.ttl * 1000 < self.created_at:
            raise ValueError("ttl (epoch seconds) lies before createdAt (epoch milliseconds)")
        return self

    @classmethod
    def opened_at(cls, now: float, ttl_seconds: float, **attributes: Any) -> ConnectionItem:  # noqa: ANN401
        """The item of a connection opened at ``now`` (epoch seconds) that lives ``ttl_seconds``."""
        return cls.model_validate({"createdAt": int(now * 1000), "ttl": int(now + ttl_seconds), **attributes})

    def attributes(self) -> dict[str, Any]:
        """Plain attribute values by their table names; absent metadata is left out."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_dynamodb(self) -> dict[str, Any]:
        """The item in DynamoDB's typed JSON, for the low-level client."""
        serializer = _serializer()
        return {name: serializer.serialize(value) for name, value in self.attributes().items()}

    @classmethod
    def from_dynamodb(cls, image: Mapping[str, Any]) -> ConnectionItem:
        """Parse an item or stream image in DynamoDB's typed JSON; raise ``ValueError`` when malformed."""
        return cls.model_validate(plain_attributes(image))


def plain_attributes(image: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed JSON (``{"S": "x"}``) as plain Python values (numbers as ``Decimal``)."""
    return {name: _deserializer.deserialize(value) for name, value in image.items()}
