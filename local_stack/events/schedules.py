"""EventBridge schedules of the template (rules and EventBridge Scheduler schedules with a
``rate(...)`` expression), emulated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.periodic import Periodic
from sam_template.handlers import ACCOUNT, REGION
from sam_template.intrinsics import resource_named

if TYPE_CHECKING:
    from local_stack.awslambda.environments import LocalFunctions
    from sam_template.model import Template

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` -> 300."""
    if not expression.startswith("rate(") or not expression.endswith(")"):
        raise ValueError(f"only rate() schedules are emulated, not {expression!r}")
    value, unit = expression[5:-1].split()
    return float(value) * _UNITS[unit]


def schedule_rules(template: Template) -> dict[str, tuple[str, list[str]]]:
    """Every enabled schedule of the template — what SAM makes of ``Schedule`` (an
    ``AWS::Events::Rule``) and ``ScheduleV2`` (an ``AWS::Scheduler::Schedule``) events — as
    logical id -> (schedule expression, the functions it invokes)."""
    found = {}
    for logical_id, rule in template.of_type("AWS::Events::Rule").items():
        properties = rule["Properties"]
        if "ScheduleExpression" in properties and properties.get("State", "ENABLED") == "ENABLED":
            targets = [resource_named(target.get("Arn")) for target in properties.get("Targets", [])]
            found[logical_id] = (str(properties["ScheduleExpression"]), [t for t in targets if t])
    for logical_id, schedule in template.of_type("AWS::Scheduler::Schedule").items():
        properties = schedule["Properties"]
        if properties.get("State", "ENABLED") == "ENABLED":
            target = resource_named(properties.get("Target", {}).get("Arn"))
            found[logical_id] = (str(properties["ScheduleExpression"]), [target] if target else [])
    return found


def schedules(template: Template) -> dict[str, float]:
    """Seconds between invocations of every function with a ``rate(...)`` schedule (other schedule
    expressions are named at start as not emulated: ``stack.notices``)."""
    functions = template.of_type("AWS::Lambda::Function")
    return {
        function: rate_seconds(expression)
        for expression, targets in schedule_rules(template).values()
        if expression.startswith("rate(")
        for function in targets
        if function in functions
    }


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
