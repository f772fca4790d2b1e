"""What Lambda itself writes to a function's logs: its own per-invocation lines (INIT_START, START,
END, REPORT, or their JSON records) and the log stream an execution environment writes to. Which
of them reach CloudWatch Logs, and which of the function's own lines, is the function's
``LoggingConfig``: ``sam_template.logging_config.LogSettings``.

Sources: "Configuring advanced logging controls for Lambda functions"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html), its pages
"Configuring JSON and plain text log formats"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html) and
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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sam_template.logging_config import LogSettings


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
