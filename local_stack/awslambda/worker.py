"""Inside an execution environment (a worker process the local Lambda spawns): Init loads the
function's handler once, then invocations run one at a time.

This module imports only the standard library and ``sam_template.handlers``: a spawned worker
imports it before the function's code, and every one of the stack's environments would carry
whatever else it pulled in (the stack's own modules cost ~6 MB a process).
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from typing import TYPE_CHECKING, Any

from sam_template.handlers import LambdaContext

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    from sam_template.handlers import HandlerCode


def serve(connection: Connection, code: HandlerCode, logical_id: str, environment: dict[str, str]) -> None:
    """An execution environment: Init (load the handler once), then one invocation at a time."""
    os.environ.update(environment)  # the function's own variables, and only its own
    try:
        handler = code.load(logical_id)
        init_error = None
    except Exception:  # noqa: BLE001 - an init error fails every invocation, as on Lambda
        handler, init_error = None, traceback.format_exc()
    connection.send(("ready", init_error is None))
    while True:
        try:
            event, timeout_ms = connection.recv()
        except (EOFError, OSError):
            return
        if handler is None:
            connection.send((False, None, f"Runtime.InitError\n{init_error}"))
            continue
        connection.send(run(handler, logical_id, event, timeout_ms))


def run(
    handler: Callable[[dict[str, Any], Any], Any], function_name: str, event: dict[str, Any], timeout_ms: int
) -> tuple[bool, Any, str]:
    """(succeeded, response, printed output) of one invocation in this environment."""
    captured = io.StringIO()
    context = LambdaContext(function_name=function_name, remaining_ms=timeout_ms)
    try:
        with contextlib.redirect_stdout(captured):
            return True, handler(event, context), captured.getvalue()
    except Exception:  # noqa: BLE001 - reported to the caller as a function error
        return False, None, captured.getvalue() + traceback.format_exc()
