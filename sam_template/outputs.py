"""The template's ``Outputs`` as a deployment resolves them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sam_template.conditions import chosen, evaluate
from sam_template.intrinsics import Unresolvable

if TYPE_CHECKING:
    from sam_template.intrinsics import Deployment
    from sam_template.model import Template


def resolved_outputs(
    template: Template, deployment: Deployment, parameters: dict[str, str]
) -> dict[str, Any]:
    """Each output whose ``Condition`` holds for ``parameters``, its ``Value`` resolved (``Fn::If``
    chosen, references as ``deployment`` has them); a value that cannot be resolved is left out."""
    resolved = {}
    for name, output in (template.body.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition and not evaluate(template, str(condition), parameters):
            continue
        try:
            resolved[name] = deployment.resolve(chosen(template, output.get("Value"), parameters))
        except Unresolvable:
            continue
    return resolved
