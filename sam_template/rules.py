"""The template's ``Rules``, evaluated as CloudFormation evaluates them before it creates or updates
a stack: a rule whose ``RuleCondition`` holds (or that has none) refuses the parameters when one of
its ``Assertions`` does not hold, with the assertion's ``AssertDescription`` ("Rules",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html).
The rule functions evaluated are the condition functions (``sam_template.conditions``) over
parameters; others raise ``UnsupportedCondition``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sam_template.conditions import holds

if TYPE_CHECKING:
    from sam_template.model import Template


def broken_rules(template: Template, parameters: dict[str, str]) -> dict[str, str]:
    """Rule name -> the description of its first failing assertion, for these parameter values
    (the template's defaults where not given); empty when CloudFormation would accept them."""
    values = {**template.parameter_defaults(), **parameters}
    broken = {}
    for name, rule in template.body.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not holds(template, condition, values, name):
            continue
        for assertion in rule.get("Assertions", []):
            if not holds(template, assertion["Assert"], values, name):
                broken[name] = str(
                    assertion.get("AssertDescription", f"rule {name} refuses these parameters")
                )
                break
    return broken
