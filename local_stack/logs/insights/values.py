"""Log events as rows of fields, and the values in them: how they read as numbers, as truth and as
the strings GetQueryResults shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json

# A row's values are what the log event's JSON holds (strings, numbers, booleans, null), the
# system fields' timestamps and strings, and what functions make of them.
Row = dict[str, Any]

_NUMERIC = re.compile(r"\s*[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp: int  # epoch milliseconds
    message: str
    log_group: str
    log_stream: str
    ingestion_time: int = 0
    account: str = "123456789012"
    event_id: str = ""


class Timestamp(int):
    """Epoch milliseconds that are shown as a date (``@timestamp``, ``bin()``, ``earliest`` ...)."""

    __slots__ = ()

    def shown(self) -> str:
        return datetime.fromtimestamp(self / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def shown(value: Any) -> str:  # noqa: ANN401
    """A value as GetQueryResults shows it (every value is a string)."""
    if isinstance(value, Timestamp):
        return value.shown()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def text(value: Any) -> str | None:  # noqa: ANN401
    return None if value is None else shown(value)


def number(value: Any) -> float | None:  # noqa: ANN401
    """A value as a number: numbers, booleans and strings that spell a number; else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMERIC.match(value):
        return float(value)
    return None


def whole(value: float | None) -> Any:  # noqa: ANN401
    """A number shown without a fraction when it has none."""
    return None if value is None else (int(value) if float(value).is_integer() else value)


def truthy(value: Any) -> bool:  # noqa: ANN401
    return bool(value) and value is not None


def _flatten(value: Any, prefix: str, into: Row) -> None:  # noqa: ANN401
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}{key}.", into)
        return
    name = prefix[:-1]
    if isinstance(value, list):
        for index, inner in enumerate(value):
            _flatten(inner, f"{name}.{index}.", into)
        return
    into[name] = value


def discovered(message: str) -> Row:
    """The fields Logs Insights discovers in a log event's JSON: nested names joined with dots
    ("Supported logs and discovered fields": for Lambda logs, the first embedded JSON fragment of
    the event, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html).
    A discovered name starting with @ is shown with a second @ in front."""
    start = message.find("{")
    if start < 0:
        return {}
    try:
        document = from_json(message[start:], allow_partial=False)
    except ValueError:
        end = message.rfind("}")
        try:
            document = from_json(message[start : end + 1]) if end > start else None
        except ValueError:
            return {}
    if not isinstance(document, dict):
        return {}
    fields: Row = {}
    _flatten(document, "", fields)
    return {f"@{name}" if name.startswith("@") else name: value for name, value in fields.items()}


def event_row(event: LogEvent) -> Row:
    row = discovered(event.message)
    row.update(
        {
            # the system fields ("Supported logs and discovered fields")
            "@timestamp": Timestamp(event.timestamp),
            "@message": event.message,
            "@ingestionTime": Timestamp(event.ingestion_time or event.timestamp),
            "@logStream": event.log_stream,
            "@log": f"{event.account}:{event.log_group}",
            "@ptr": event.event_id,
        }
    )
    return row
