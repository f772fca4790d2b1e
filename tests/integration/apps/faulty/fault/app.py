"""Fails as the event asks: crash (the process dies), hang (past the timeout), raise; or takes a
while (sleep, seconds); answers with what the event gives it to echo."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill would
    if event.get("hang"):
        threading.Event().wait()  # never returns: only the timeout ends it
    if event.get("raise"):
        raise RuntimeError("asked to raise")
    time.sleep(float(event.get("sleep", 0)))
    print("served")
    return {
        "pid": os.getpid(),
        "echo": event.get("echo"),
        "remainingMs": context.get_remaining_time_in_millis(),
        "variables": {name: os.environ.get(name) for name in ("ONLY_MINE", "AWS_LAMBDA_FUNCTION_NAME")},
    }
