"""EventBridge schedules of the template (rules and EventBridge Scheduler schedules with a
``rate(...)`` expression: ``sam_template.schedules``), emulated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.periodic import Periodic
from sam_template.handlers import ACCOUNT, REGION

if TYPE_CHECKING:
    from local_stack.awslambda.environments import LocalFunctions


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


class Schedule(Periodic):
    """One EventBridge schedule: invokes its function every period (a failed run is the function's
    error, in its log; the next run comes all the same)."""

    def __init__(self, functions: LocalFunctions, logical_id: str, seconds: float) -> None:
        super().__init__(seconds)
        self.name = f"schedule-{logical_id}"
        self._functions = functions
        self._logical_id = logical_id

    def round(self) -> None:
        self._functions.invoke(self._logical_id, scheduled_event())
