"""Template parameter overrides, as the SAM CLI takes them (``--parameter-overrides``), checked
as CloudFormation checks a parameter value.

Syntax: "sam deploy", ``--parameter-overrides``
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html):
key-value pairs in the AWS CLI's format, ``ParameterKey=KeyPairName,ParameterValue=MyKey
ParameterKey=InstanceType,ParameterValue=t1.micro``, or the shorter ``KeyPairName=MyKey
InstanceType=t1.micro``; several pairs in one argument (space-separated) or in several.

Values: "CloudFormation template Parameters syntax"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html):
a ``Number`` is an integer or a float; ``AllowedValues``, ``AllowedPattern`` (the whole value),
``MinLength`` / ``MaxLength`` (a ``String``'s), ``MinValue`` / ``MaxValue`` (a ``Number``'s).
CloudFormation refuses an undeclared parameter, and so do we.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sam_template.model import Template

_LONG_FORM = re.compile(r"^ParameterKey=(?P<key>[^,]+),\s*ParameterValue=(?P<value>.*)$")


def parse_overrides(arguments: Iterable[str]) -> dict[str, str]:
    """``["A=1 B=two", "C=3"]`` -> ``{"A": "1", "B": "two", "C": "3"}``; ``ValueError`` naming the
    pair that is not ``Key=Value`` (nor ``ParameterKey=K,ParameterValue=V``)."""
    found: dict[str, str] = {}
    for argument in arguments:
        for pair in shlex.split(argument):
            matched = _LONG_FORM.match(pair)
            if matched:
                key, value = matched["key"], matched["value"]
            else:
                key, separator, value = pair.partition("=")
                if not separator or not key:
                    raise ValueError(
                        f"--parameter-overrides: {pair!r} is not Key=Value "
                        "(or ParameterKey=Key,ParameterValue=Value)"
                    )
            found[key.strip()] = value
    return found


def check_overrides(template: Template, overrides: dict[str, str]) -> None:
    """``ValueError`` naming every override the template does not declare or whose value
    CloudFormation would refuse."""
    declared: dict[str, dict[str, Any]] = template.body.get("Parameters", {})
    problems = []
    for name, value in overrides.items():
        if name not in declared:
            names = ", ".join(sorted(declared))
            problems.append(f"{name} is not a parameter of the template (it has {names})")
            continue
        problem = _refusal(declared[name], value)
        if problem:
            problems.append(f"{name}={value!r}: {problem}")
    if problems:
        raise ValueError("--parameter-overrides: " + "; ".join(problems))


def _refusal(spec: dict[str, Any], value: str) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why CloudFormation would refuse ``value`` for a parameter declared as ``spec`` (``None``: it
    would not)."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return f"must be one of {', '.join(str(v) for v in allowed)}"
    if spec.get("Type", "String") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"must be at least {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"must be at most {spec['MaxValue']}"
        return None
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"must match {pattern}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"must be at least {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"must be at most {spec['MaxLength']} characters"
    return None
