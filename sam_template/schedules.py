"""The template's schedules: which functions EventBridge invokes on a ``rate(...)`` schedule, and
how often. One reading for the local stack (which runs them) and the capacity model (which counts
their invocations and scans).

A SAM template declares them as a function's ``Schedule`` or ``ScheduleV2`` events; SAM expands
those into an ``AWS::Events::Rule`` or an ``AWS::Scheduler::Schedule`` ("EventBridge Scheduler
schedule expressions", rate expressions: ``rate(value unit)``, the unit ``minute(s)``,
``hour(s)`` or ``day(s)``,
https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#rate-based).
:func:`schedules` reads either form, the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sam_template.intrinsics import resource_named

if TYPE_CHECKING:
    from sam_template.model import Template

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` -> 300."""
    if not expression.startswith("rate(") or not expression.endswith(")"):
        raise ValueError(f"only rate() schedules are emulated, not {expression!r}")
    value, unit = expression[5:-1].split()
    return float(value) * _UNITS[unit]


def schedule_rules(template: Template) -> dict[str, tuple[str, list[str]]]:
    """Every enabled schedule of an expanded template — what SAM makes of ``Schedule`` (an
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


def _sam_events(template: Template) -> dict[str, tuple[str, list[str]]]:
    """Every enabled ``Schedule`` / ``ScheduleV2`` event of a SAM template's functions, as
    ``schedule_rules`` gives the rules SAM makes of them."""
    found = {}
    for logical_id, function in template.of_type("AWS::Serverless::Function").items():
        events: dict[str, Any] = function.get("Properties", {}).get("Events") or {}
        for name, event in events.items():
            properties = event.get("Properties") or {}
            key = {"Schedule": "Schedule", "ScheduleV2": "ScheduleExpression"}.get(event.get("Type"))
            enabled = properties.get("Enabled", True) is not False and properties.get("State") != "DISABLED"
            if key and enabled and isinstance(properties.get(key), str):
                found[f"{logical_id}{name}"] = (properties[key], [logical_id])
    return found


def schedules(template: Template) -> dict[str, float]:
    """Seconds between invocations of every function with a ``rate(...)`` schedule, in a SAM
    template or its expansion (other schedule expressions are named at start as not emulated:
    ``local_stack.stack.notices``)."""
    functions = {*template.of_type("AWS::Lambda::Function"), *template.of_type("AWS::Serverless::Function")}
    return {
        function: rate_seconds(expression)
        for expression, targets in {**schedule_rules(template), **_sam_events(template)}.values()
        if expression.startswith("rate(")
        for function in targets
        if function in functions
    }
