"""The template's ``Conditions``, evaluated as CloudFormation evaluates them for a deployment.

CloudFormation creates a resource with a ``Condition`` only when the condition holds ("Conditions
syntax", ``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``, ``Ref`` of a
parameter), and gives a property that is ``Fn::If`` the value of the branch its condition picks;
a branch that is ``Ref AWS::NoValue`` removes the property, or the list item ("Fn::If",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-conditions.html#intrinsic-function-reference-conditions-if).
:func:`deployed` is the template as a deployment with these parameters would have it.
"""

from __future__ import annotations

from typing import Any

from sam_template.intrinsics import Deployment
from sam_template.model import Template


class UnsupportedCondition(ValueError):
    """A condition uses a function this module does not evaluate (named in the message)."""


def _value(value: Any, parameters: dict[str, str]) -> str:  # noqa: ANN401
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return Deployment(parameters=parameters, refs={}).ref(str(value["Ref"]))
    if isinstance(value, dict):
        raise UnsupportedCondition(f"cannot evaluate {value!r} in a condition")
    return str(value).lower() if isinstance(value, bool) else str(value)


def evaluate(template: Template, name: str, parameters: dict[str, str]) -> bool:
    """Whether the template's condition ``name`` holds with these parameter values."""
    return holds(template, template.body.get("Conditions", {})[name], parameters, name)


def holds(template: Template, expression: Any, parameters: dict[str, str], name: str = "") -> bool:  # noqa: ANN401
    """Whether a condition expression holds (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``,
    ``Condition``): a ``Conditions`` entry's, or a rule's ``RuleCondition`` / ``Assert``."""
    definitions = template.body.get("Conditions", {})

    def holds(expression: Any) -> bool:  # noqa: ANN401
        if not isinstance(expression, dict) or len(expression) != 1:
            raise UnsupportedCondition(f"{name}: not a condition function: {expression!r}")
        ((function, arguments),) = expression.items()
        if function == "Condition":
            return holds(definitions[arguments])
        if function == "Fn::Equals":
            left, right = arguments
            return _value(left, parameters) == _value(right, parameters)
        if function == "Fn::Not":
            return not holds(arguments[0])
        if function == "Fn::And":
            return all(holds(argument) for argument in arguments)
        if function == "Fn::Or":
            return any(holds(argument) for argument in arguments)
        raise UnsupportedCondition(f"{name}: {function} is not evaluated locally")

    return holds(expression)


NO_VALUE = {"Ref": "AWS::NoValue"}
_REMOVED = object()  # what a property or list item set to AWS::NoValue becomes: nothing


def chosen(template: Template, value: Any, parameters: dict[str, str]) -> Any:  # noqa: ANN401
    """``value`` with every ``Fn::If`` replaced by the branch its condition picks, and every
    property or list item that is ``Ref AWS::NoValue`` removed (a value that is itself
    ``AWS::NoValue`` is returned as it is: its container decides)."""

    def pick(item: Any) -> Any:  # noqa: ANN401
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            name, if_true, if_false = item["Fn::If"]
            return pick(if_true if evaluate(template, str(name), parameters) else if_false)
        if item == NO_VALUE:
            return _REMOVED
        if isinstance(item, list):
            return [picked for element in item if (picked := pick(element)) is not _REMOVED]
        if isinstance(item, dict):
            return {key: picked for key, element in item.items() if (picked := pick(element)) is not _REMOVED}
        return item

    picked = pick(value)
    return NO_VALUE if picked is _REMOVED else picked


def deployed(template: Template, parameters: dict[str, str]) -> Template:
    """The template without the resources whose ``Condition`` does not hold, and with every
    resource's ``Fn::If`` chosen for these parameters."""
    resources = {
        logical_id: chosen(template, resource, parameters)
        for logical_id, resource in template.resources.items()
        if "Condition" not in resource or evaluate(template, str(resource["Condition"]), parameters)
    }
    return Template(body={**template.body, "Resources": resources}, path=template.path)
