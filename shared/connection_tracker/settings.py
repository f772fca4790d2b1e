"""Configuration from the environment, validated once per cold start.

A bad value raises :class:`ConfigurationError` naming the variable; callers log it and answer 500,
so a misconfigured function never writes a wrong item.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from connection_tracker.catalogue import NAMESPACE, SERVICE

if TYPE_CHECKING:
    from collections.abc import Mapping

# API Gateway closes every WebSocket connection after two hours.
API_GATEWAY_MAX_CONNECTION_HOURS = 2.0
# An item's ttl is ``int(now + TTL_HOURS*3600)`` and its createdAt ``now`` in milliseconds: under
# one second, the truncation can put the ttl before createdAt (depending on the clock's fraction),
# an item the model refuses. So one second is the shortest lifetime.
MIN_TTL_HOURS = 1 / 3600
# The model reads a ttl of 10**11 or more as milliseconds (refused); ten million hours (1,141
# years) keeps every ttl far below it.
MAX_TTL_HOURS = 10_000_000.0
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


class ConfigurationError(ValueError):
    """An environment variable is missing or has a bad value."""


class Settings(BaseModel):
    """The functions' environment (docs/architecture.md, "Configuration")."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    connections_table: str = Field(alias="CONNECTIONS_TABLE", min_length=1, max_length=255)
    ttl_hours: float = Field(default=24.0, alias="TTL_HOURS", gt=0)
    verify_write: bool = Field(default=False, alias="VERIFY_WRITE")
    capture_source_ip: bool = Field(default=True, alias="CAPTURE_SOURCE_IP")
    service: str = Field(default=SERVICE, alias="POWERTOOLS_SERVICE_NAME", min_length=1)
    namespace: str = Field(default=NAMESPACE, alias="POWERTOOLS_METRICS_NAMESPACE", min_length=1)
    region: str | None = Field(default=None, alias="AWS_REGION")
    counters_table: str | None = Field(default=None, alias="COUNTERS_TABLE", min_length=1)
    max_connections_per_client: int = Field(default=0, alias="MAX_CONNECTIONS_PER_CLIENT", ge=0)
    connections_api_endpoint: str | None = Field(default=None, alias="CONNECTIONS_API_ENDPOINT", min_length=1)
    dead_letter_queue_url: str | None = Field(default=None, alias="DEAD_LETTER_QUEUE_URL", min_length=1)
    # the event source mapping's MaximumRecordAgeInSeconds: how long a record may be delivered again
    stream_max_record_age_seconds: int = Field(
        default=3600, alias="STREAM_MAX_RECORD_AGE_SECONDS", ge=60, le=604_800
    )

    # the consumer's tumbling window (TumblingWindowInSeconds): how long the gauge trails the table
    gauge_window_seconds: int = Field(default=60, alias="GAUGE_WINDOW_SECONDS", ge=1, le=900)

    @field_validator("ttl_hours")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number of hours")
        if value < MIN_TTL_HOURS:
            raise ValueError(
                f"{value:g} hours is under one second ({MIN_TTL_HOURS:.6g} hours): "
                "the item's ttl could lie before its createdAt"
            )
        if value > MAX_TTL_HOURS:
            raise ValueError(
                f"{value:g} hours is over {MAX_TTL_HOURS:g}: the item's ttl would read as epoch milliseconds"
            )
        return value

    @field_validator("connections_api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = f"{value!r} is not an http(s) URL of the stage's @connections endpoint"
        try:
            url = _HTTP_URL.validate_python(value)
        except ValidationError:
            raise ValueError(problem) from None
        if not url.host or url.query or url.fragment:
            raise ValueError(problem)
        return value

    @property
    def ttl_seconds(self) -> float:
        return self.ttl_hours * 3600

    def warnings(self) -> list[str]:
        """Allowed but questionable values, to be logged at cold start."""
        if self.ttl_hours < API_GATEWAY_MAX_CONNECTION_HOURS:
            return [
                f"TTL_HOURS={self.ttl_hours:g} is below {API_GATEWAY_MAX_CONNECTION_HOURS:g}: items of "
                "connections that API Gateway still holds open may expire"
            ]
        return []


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], environ: Mapping[str, str], whole: str = "") -> Model:
    """The environment as ``model``; raise :class:`ConfigurationError` naming each bad variable
    (``whole``: the name given to an error of the settings as a whole)."""
    try:
        return model.model_validate(dict(environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or whole}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"bad configuration: {problems}") from exc


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Validate the environment; raise :class:`ConfigurationError` naming each bad variable."""
    return validated(Settings, environ)
