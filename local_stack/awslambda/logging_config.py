"""What Lambda itself does with a function's logs: its logging configuration (format, levels, log
group), the variables that tell the runtime about it, its own per-invocation lines, and which lines
reach CloudWatch Logs.

Sources: "Configuring advanced logging controls for Lambda functions"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html), its pages
"Configuring JSON and plain text log formats"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html) and
"Log-level filtering" (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html),
the ``LoggingConfig`` API type (https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html),
"Log and monitor Python Lambda functions" (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html)
and the "Lambda Telemetry API Event schema reference" for the JSON system records
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html).
"""

from __future__ import annotations

import json
import math
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from sam_template.model import Template

# Application log levels, most detail first ("Log-level filtering": TRACE is the highest level of
# detail, FATAL the lowest); Python's names map onto them (WARNING is WARN, CRITICAL is FATAL).
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _rank(level: str) -> int | None:
    name = _ALIASES.get(level.upper(), level.upper())
    return APPLICATION_LEVELS.index(name) if name in APPLICATION_LEVELS else None


@dataclass(frozen=True)
class LogSettings:
    """A function's ``LoggingConfig`` as Lambda applies it. The format is ``Text`` unless set; the
    levels only apply to ``JSON`` (log-level filtering needs the JSON format), where they default to
    INFO; the log group is ``/aws/lambda/<function name>`` unless set."""

    log_format: str = "Text"
    application_level: str | None = None
    system_level: str | None = None
    log_group: str = ""

    @classmethod
    def of(
        cls,
        template: Template,
        logical_id: str,
        resolve: Callable[[Any], Any] | None = None,
    ) -> LogSettings:
        """The function's own ``LoggingConfig`` over ``Globals`` (as SAM merges a map property: the
        function's keys win); intrinsic values resolved by ``resolve`` when given."""
        merged = dict(template.body.get("Globals", {}).get("Function", {}).get("LoggingConfig") or {})
        merged.update(template.properties(logical_id).get("LoggingConfig") or {})
        config = {key: str(resolve(value) if resolve else value) for key, value in merged.items()}
        log_format = "JSON" if config.get("LogFormat", "Text").upper() == "JSON" else "Text"
        group = config.get("LogGroup") or f"/aws/lambda/{logical_id}"
        if log_format != "JSON":
            return cls("Text", None, None, group)
        return cls(
            "JSON",
            config.get("ApplicationLogLevel", "INFO").upper(),
            config.get("SystemLogLevel", "INFO").upper(),
            group,
        )

    def variables(self) -> dict[str, str]:
        """What Lambda tells the runtime (and libraries such as Powertools' Logger) about it:
        ``AWS_LAMBDA_LOG_FORMAT``, and ``AWS_LAMBDA_LOG_LEVEL`` (the application level) with JSON."""
        variables = {"AWS_LAMBDA_LOG_FORMAT": self.log_format, "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group}
        if self.application_level is not None:
            variables["AWS_LAMBDA_LOG_LEVEL"] = self.application_level
        return variables

    def keeps_system(self, level: str = "INFO") -> bool:
        """Whether a system line of this level reaches CloudWatch (START, END, REPORT are INFO)."""
        if self.system_level is None:
            return True
        return SYSTEM_LEVELS.index(level) >= SYSTEM_LEVELS.index(self.system_level)

    def keeps(self, line: str) -> bool:
        """Whether an application log line reaches CloudWatch: with JSON, a line is filtered by the
        ``level`` of the JSON object it is; a missing or invalid level counts as INFO ("Log-level
        filtering"). EMF documents are not filtered here (their metrics are always extracted; the
        documentation does not say what becomes of one under a level above INFO)."""
        if self.application_level is None:
            return True
        level = "INFO"
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                document = None
            if isinstance(document, dict):
                if "_aws" in document:
                    return True
                if isinstance(document.get("level"), str) and _rank(document["level"]) is not None:
                    level = document["level"]
        threshold = _rank(self.application_level)
        rank = _rank(level)
        return threshold is None or rank is None or rank >= threshold


def log_stream_name(now: float | None = None) -> str:
    """A new execution environment's log stream: ``YYYY/MM/DD/[$LATEST]<32 hex digits>``, as Lambda
    names one per environment ("Sending Lambda function logs to CloudWatch Logs", Log streams)."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    return f"{day}/[$LATEST]{secrets.token_hex(16)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": _now(), "type": kind, "record": record}, separators=(",", ":"))


RUNTIME_VERSION = f"python:{sys.version_info.major}.{sys.version_info.minor}"


def init_start(settings: LogSettings, function_name: str) -> str:
    """The line Lambda writes when an environment's Init phase starts."""
    if settings.log_format == "JSON":
        return _json(
            "platform.initStart",
            {
                "initializationType": "on-demand",
                "phase": "init",
                "runtimeVersion": RUNTIME_VERSION,
                "functionName": function_name,
                "functionVersion": "$LATEST",
            },
        )
    return f"INIT_START Runtime Version: {RUNTIME_VERSION}"


def start(settings: LogSettings, request_id: str) -> str:
    if settings.log_format == "JSON":
        return _json("platform.start", {"requestId": request_id, "version": "$LATEST"})
    return f"START RequestId: {request_id} Version: $LATEST"


def end(settings: LogSettings, request_id: str) -> str | None:
    """Text's END line; the JSON format has no record of its own for it (``platform.report`` is the
    invocation's last)."""
    return None if settings.log_format == "JSON" else f"END RequestId: {request_id}"


def report(
    settings: LogSettings,
    request_id: str,
    *,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_ms: float | None,
    status: str = "success",
) -> str:
    """The REPORT line / ``platform.report`` record: duration, billed duration (rounded up to the
    millisecond), memory size and used, and the Init duration on a cold start."""
    billed = max(1, math.ceil(duration_ms))
    if settings.log_format == "JSON":
        metrics: dict[str, Any] = {
            "durationMs": round(duration_ms, 3),
            "billedDurationMs": billed,
            "memorySizeMB": memory_mb,
            "maxMemoryUsedMB": max_memory_mb,
        }
        if init_ms is not None:
            metrics["initDurationMs"] = round(init_ms, 3)
        return _json("platform.report", {"requestId": request_id, "metrics": metrics, "status": status})
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status != "success":
        line += f"\tStatus: {status}"
    return line
