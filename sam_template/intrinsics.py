"""CloudFormation intrinsic functions resolved as a deployment would resolve them."""

from __future__ import annotations

from typing import Any


def resolve(value: Any, parameters: dict[str, str], physical: dict[str, str]) -> Any:  # noqa: ANN401
    """Resolve the ``!Ref`` of a parameter or resource, as CloudFormation would at deploy time;
    ``None`` for what only a deployment can say (``!Sub`` of API ids, a resource not provisioned)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in parameters:
            return parameters[name]
        return physical.get(name)
    return None if isinstance(value, dict) else value


def getatt_resource(value: Any) -> str | None:  # noqa: ANN401
    """The logical id that ``!GetAtt Resource.Attribute`` names, or ``None`` for anything else."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        parts = target if isinstance(target, list) else str(target).split(".", 1)
        return str(parts[0])
    return None


def resource_named(value: Any) -> str | None:  # noqa: ANN401
    """The logical id a ``!Ref Resource`` or ``!GetAtt Resource.Attribute`` names (how SAM's
    translator refers to a function, a table's stream or a queue), or ``None``."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return getatt_resource(value)
