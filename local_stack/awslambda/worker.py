"""Inside an execution environment (a worker process the local Lambda spawns): what Lambda's Python
runtime does there. Init sets the environment, the output and the root logger up, then imports the
handler; invocations then run one at a time.

Emulated from "Define Lambda function handler in Python"
(https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html), "Log and monitor Python Lambda
functions" (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html: the root logger's
handler and its text format ``[LEVEL]\\t<time>\\t<request id>\\t<message>``, the JSON format's keys
``timestamp``, ``level``, ``message``, ``logger``, ``requestId`` and, for exceptions, ``errorType``,
``errorMessage``, ``stackTrace``, ``location``), and "AWS Lambda function errors in Python"
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html: the error document
``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``).

This module imports only the standard library and ``sam_template.handlers``: a spawned worker
imports it before the function's code, and every one of the stack's environments would carry
whatever else it pulled in (the stack's own modules cost ~6 MB a process).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import pickle
import resource
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sam_template.handlers import LambdaContext, RuntimeFault

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from types import TracebackType

    from sam_template.handlers import HandlerCode

_TIME = "%Y-%m-%dT%H:%M:%S"


class Events:
    """The log events of this environment since they were last taken, in the order written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[str] = []
        self.request_id = ""  # of the invocation running now (the log records' ``requestId``)

    def add(self, message: str) -> None:
        with self._lock:
            self._events.append(message)

    def take(self) -> list[str]:
        with self._lock:
            taken, self._events = self._events, []
        return taken


class Lines(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr``: Lambda reads both into the function's log, each line an event."""

    def __init__(self, events: Events) -> None:
        super().__init__()
        self._events = events
        self._partial = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._events.add(line)
        return len(text)

    def drain(self) -> None:
        if self._partial:
            self._events.add(self._partial)
            self._partial = ""


class _RequestId(logging.Filter):
    def __init__(self, events: Events) -> None:
        super().__init__()
        self._events = events

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self._events.request_id
        return True


class _Handler(logging.Handler):
    """The root logger's handler: one log event per record, however many lines its message has."""

    def __init__(self, events: Events) -> None:
        super().__init__()
        self._events = events

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._events.add(self.format(record).removesuffix("\n"))
        except Exception:  # noqa: BLE001 - as logging.Handler does
            self.handleError(record)


_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"aws_request_id", "message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A record as the runtime writes it in the JSON format; the record's extra attributes become
    keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        created = datetime.fromtimestamp(record.created, tz=UTC)
        document: dict[str, Any] = {
            "timestamp": created.strftime(_TIME + ".%f")[:-3] + "Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None) or None,
        }
        if record.exc_info and record.exc_info[0] is not None:
            document["errorType"] = record.exc_info[0].__name__
            document["errorMessage"] = str(record.exc_info[1])
            document["stackTrace"] = traceback.format_tb(record.exc_info[2])
            document["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and k not in document}
        document.update(extra)
        kept = {k: v for k, v in document.items() if v is not None}
        return json.dumps(kept, default=str, ensure_ascii=False)


def setup_logging(events: Events, log_format: str, level: str) -> None:
    """The root logger as the runtime sets it up: its handler, the format from
    ``AWS_LAMBDA_LOG_FORMAT``, and the level from ``AWS_LAMBDA_LOG_LEVEL`` when Lambda sets one
    (TRACE is DEBUG in Python's logging); without one the root logger keeps Python's WARNING."""
    logging.Formatter.converter = time.gmtime
    handler = _Handler(events)
    if log_format.upper() == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", _TIME
            )
        )
    handler.addFilter(_RequestId(events))
    root = logging.getLogger()
    name = {"TRACE": "DEBUG"}.get(level.upper(), level.upper())
    if name in logging.getLevelNamesMapping():
        root.setLevel(name)
    root.addHandler(handler)


def error_document(
    error_type: str, message: str, stack_trace: list[str], request_id: str = ""
) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def error_event(error: dict[str, Any], log_format: str) -> str:
    """The ERROR log event the runtime writes for a failed Init or invocation."""
    if log_format.upper() == "JSON":
        stamp = time.strftime(_TIME, time.gmtime())
        return json.dumps({"timestamp": stamp, "level": "ERROR", **error}, ensure_ascii=False)
    message = f": {error['errorMessage']}" if error["errorMessage"] else ""
    lines = [f"[ERROR] {error['errorType']}{message}"]
    lines.append("Traceback (most recent call last):")
    for entry in error["stackTrace"]:
        for line in entry.splitlines():
            lines.append("\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" "))
    return "\n".join(lines)


def _user_frames(tb: TracebackType | None) -> list[str]:
    """The traceback from the function's own code on (this module's frames left out)."""
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return traceback.format_list(frames)


def _init(code: HandlerCode, events: Events, log_format: str) -> tuple[Any, dict[str, Any] | None]:
    try:
        return code.import_handler(), None
    except RuntimeFault as fault:
        error = error_document(fault.error_type, fault.message, fault.stack_trace)
    except Exception as exc:  # noqa: BLE001 - the module raised while imported: an Init error
        error = error_document(type(exc).__name__, str(exc), _user_frames(exc.__traceback__))
    events.add(error_event(error, log_format))
    return None, error


def serve(connection: Connection, code: HandlerCode, logical_id: str, environment: dict[str, str]) -> None:
    """An execution environment: Init (load the handler once), then one invocation at a time."""
    os.environ.clear()  # the function's own variables and Lambda's, and nothing of the stack's shell
    os.environ.update(environment)
    with contextlib.suppress(OSError):
        os.chdir(code.folder)  # the working directory is LAMBDA_TASK_ROOT
    events = Events()
    stdout, stderr = Lines(events), Lines(events)
    sys.stdout, sys.stderr = stdout, stderr
    log_format = environment.get("AWS_LAMBDA_LOG_FORMAT", "Text")
    setup_logging(events, log_format, environment.get("AWS_LAMBDA_LOG_LEVEL", ""))
    started = time.perf_counter()
    handler, init_error = _init(code, events, log_format)
    init_ms = (time.perf_counter() - started) * 1000
    stdout.drain()
    stderr.drain()
    connection.send(("ready", init_error is None, events.take(), init_ms))
    while True:
        try:
            event, request_id, deadline_ms, invoked_arn = connection.recv()
        except (EOFError, OSError):
            return
        events.request_id = request_id
        if handler is None:  # Lambda runs a failed Init again for the next invocation
            handler, init_error = _init(code, events, log_format)
        if handler is None:
            assert init_error is not None
            outcome: tuple[bool, Any] = (False, {**init_error, "requestId": request_id})
        else:
            outcome = run(
                handler,
                logical_id,
                event,
                request_id=request_id,
                deadline_ms=deadline_ms,
                invoked_arn=invoked_arn,
                events=events,
                log_format=log_format,
            )
        stdout.drain()
        stderr.drain()
        events.request_id = ""
        max_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        # pickled as Connection.recv reads it, without Connection.send's ForkingPickler (it copies
        # the copyreg dispatch table for every message: most of this loop's own time)
        connection.send_bytes(pickle.dumps((*outcome, events.take(), max_memory_mb), pickle.HIGHEST_PROTOCOL))


@functools.cache
def _context_fields(function_name: str) -> dict[str, Any]:
    """What the context object says of the function and its environment, from the variables
    Lambda set for it: read at the first invocation and kept (they are the same for every
    invocation of the environment; reading them each time was a sixth of this loop's own time)."""
    return {
        "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", function_name),
        "memory_limit_in_mb": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        "log_group_name": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        "log_stream_name": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        "function_version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    }


def run(
    handler: Callable[[dict[str, Any], Any], Any],
    function_name: str,
    event: dict[str, Any],
    *,
    request_id: str,
    deadline_ms: float,
    invoked_arn: str,
    events: Events,
    log_format: str,
) -> tuple[bool, Any]:
    """(succeeded, response or error document) of one invocation in this environment."""
    context = LambdaContext(
        **_context_fields(function_name),
        aws_request_id=request_id,
        invoked_function_arn=invoked_arn,
        deadline_ms=deadline_ms,
    )
    try:
        return True, handler(event, context)
    except Exception as exc:  # noqa: BLE001 - reported to the caller as a function error
        error = error_document(type(exc).__name__, str(exc), _user_frames(exc.__traceback__), request_id)
        events.add(error_event(error, log_format))
        return False, error
