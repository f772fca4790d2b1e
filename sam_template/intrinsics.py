"""CloudFormation intrinsic functions resolved as a deployment would resolve them."""

from __future__ import annotations

from typing import Any


def resolve(value: Any, parameters: dict[str, str], physical: dict[str, str]) -> Any:  # noqa: ANN401
    """Resolve the ``!Ref`` of a parameter or resource, as CloudFormation would at deploy time;
    ``None`` for what only a deployment can say (``!Sub`` of API ids and the like)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in parameters:
            return parameters[name]
        return physical[name]
    return None if isinstance(value, dict) else value
