"""EventBridge schedules of the template (``Type: Schedule``, ``rate(...)``), emulated."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sam_template.handlers import ACCOUNT, REGION

if TYPE_CHECKING:
    from local_stack.lambdas import LocalFunctions
    from sam_template.model import Template

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` -> 300."""
    if not expression.startswith("rate(") or not expression.endswith(")"):
        raise ValueError(f"only rate() schedules are emulated, not {expression!r}")
    value, unit = expression[5:-1].split()
    return float(value) * _UNITS[unit]


def schedules(template: Template) -> dict[str, float]:
    """Seconds between invocations of every scheduled function."""
    found = {}
    for logical_id, function in template.of_type("AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "Schedule":
                found[logical_id] = rate_seconds(event["Properties"]["Schedule"])
    return found


def scheduled_event(region: str = REGION) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/local-schedule"],
        "detail": {},
    }


class Scheduler:
    def __init__(self, functions: LocalFunctions, every: dict[str, float]) -> None:
        self._functions = functions
        self._every = every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.runs: dict[str, int] = dict.fromkeys(every, 0)

    def start(self) -> None:
        for logical_id, seconds in self._every.items():
            thread = threading.Thread(
                target=self._run, args=(logical_id, seconds), name=f"schedule-{logical_id}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def _run(self, logical_id: str, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self._functions.invoke(logical_id, scheduled_event())
            except Exception as exc:  # noqa: BLE001 - a failed run is the function's error, logged
                print(f"schedule {logical_id}: {exc!r}")
            self.runs[logical_id] += 1

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
