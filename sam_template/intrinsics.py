"""CloudFormation intrinsic functions resolved as a deployment would resolve them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sam_template.handlers import ACCOUNT, REGION

# What ``!Ref`` of a pseudo parameter gives in the local account and region.
PSEUDO_PARAMETERS = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "local",
}


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


class Unresolvable(ValueError):
    """A reference the local deployment has no value for (named in the message); ``resource``: the
    logical id (or parameter) it names."""

    def __init__(self, reference: str, resource: str) -> None:
        super().__init__(reference)
        self.resource = resource


_SUB_REFERENCE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Deployment:
    """What a local deployment gives references: parameters' values, each resource's ``!Ref``
    value and its ``!GetAtt`` attributes ((logical id, attribute) -> value)."""

    parameters: dict[str, str]
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def ref(self, name: str) -> str:
        for table in (self.parameters, self.refs, PSEUDO_PARAMETERS):
            if name in table:
                return table[name]
        raise Unresolvable(f"!Ref {name}", name)

    def getatt(self, name: str, attribute: str) -> str:
        if (name, attribute) not in self.attributes:
            raise Unresolvable(f"!GetAtt {name}.{attribute}", name)
        return self.attributes[(name, attribute)]

    def resolve(self, value: Any) -> Any:  # noqa: ANN401, PLR0911 - any CloudFormation value, one return per function
        """The value with every ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and ``Fn::Join`` resolved, as
        CloudFormation resolves them at deploy time."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(str(value["Ref"]))
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            name, attribute = target if isinstance(target, list) else str(target).split(".", 1)
            return self.getatt(str(name), str(attribute))
        if set(value) == {"Fn::Sub"}:
            return self._sub(value["Fn::Sub"])
        if set(value) == {"Fn::Join"}:
            separator, items = value["Fn::Join"]
            return str(separator).join(str(self.resolve(item)) for item in items)
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:  # noqa: ANN401 - a string, or [string, variables]
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: str(self.resolve(item)) for name, item in variables.items()}

        def substitute(matched: re.Match[str]) -> str:
            reference = matched.group(1)
            if reference in local:
                return local[reference]
            if "." in reference and not reference.startswith("AWS::"):
                return self.getatt(*reference.split(".", 1))
            return self.ref(reference)

        return _SUB_REFERENCE.sub(substitute, str(text))
