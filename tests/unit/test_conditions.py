"""Resources with a Condition exist locally only when a deployment with the same parameters would
create them (CloudFormation's Fn::Equals / Fn::Not / Fn::And / Fn::Or / Condition)."""

from __future__ import annotations

import pytest

from sam_template.conditions import UnsupportedCondition, chosen, deployed, evaluate
from sam_template.model import Template, load_template


def test_our_optional_resources_follow_their_parameters():
    template = load_template()
    defaults = template.parameter_defaults()
    assert "AlarmEmailSubscription" not in deployed(template, defaults).resources  # no e-mail given
    with_email = deployed(template, {**defaults, "AlarmEmail": "oncall@example.com"})
    assert "AlarmEmailSubscription" in with_email.resources
    assert "ConnectFunction" in with_email.resources  # unconditional resources stay


def conditions(**definitions):
    return Template(body={"Conditions": definitions, "Resources": {}}, path=load_template().path)


@pytest.mark.parametrize(
    ("stage", "region_is_ours", "expected"),
    [("prod", True, True), ("dev", True, False), ("prod", False, False)],
)
def test_functions_combine_as_cloudformation_combines_them(stage, region_is_ours, expected):
    template = conditions(
        IsProd={"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        InRegion={"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1" if region_is_ours else "eu-west-1"]},
        Both={"Fn::And": [{"Condition": "IsProd"}, {"Condition": "InRegion"}]},
        Neither={"Fn::Not": [{"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "InRegion"}]}]},
    )
    assert evaluate(template, "Both", {"Stage": stage}) is expected
    assert evaluate(template, "Neither", {"Stage": stage}) is (stage != "prod" and not region_is_ours)


def test_a_function_not_evaluated_is_named():
    template = conditions(Odd={"Fn::Contains": [["a"], "a"]})
    with pytest.raises(UnsupportedCondition, match="Fn::Contains"):
        evaluate(template, "Odd", {})


def test_fn_if_takes_the_branch_its_condition_picks_and_no_value_removes_what_it_stands_for():
    """ "Fn::If": the value of the branch the condition picks; ``Ref AWS::NoValue`` as a branch
    removes the property, or the list item, as if it were not written."""
    template = conditions(IsProd={"Fn::Equals": [{"Ref": "Stage"}, "prod"]})
    properties = {
        "Name": {"Fn::If": ["IsProd", "big", "small"]},
        "Key": {"Fn::If": ["IsProd", {"Ref": "Key"}, {"Ref": "AWS::NoValue"}]},
        "Items": ["always", {"Fn::If": ["IsProd", {"Sid": "only-in-prod"}, {"Ref": "AWS::NoValue"}]}],
        "Nested": {"Fn::If": ["IsProd", [{"Fn::If": ["IsProd", 1, 2]}], {"Ref": "AWS::NoValue"}]},
    }
    assert chosen(template, properties, {"Stage": "prod"}) == {
        "Name": "big",
        "Key": {"Ref": "Key"},
        "Items": ["always", {"Sid": "only-in-prod"}],
        "Nested": [1],
    }
    assert chosen(template, properties, {"Stage": "dev"}) == {"Name": "small", "Items": ["always"]}


def test_a_deployment_chooses_every_resources_fn_if():
    template = load_template()
    defaults = template.parameter_defaults()
    table = deployed(template, defaults).properties("ConnectionsTable")
    assert "GlobalSecondaryIndexes" not in table  # MaxConnectionsPerClient 0: nothing reads it
    assert table["DeletionProtectionEnabled"] is True
    limited = deployed(template, {**defaults, "MaxConnectionsPerClient": "2"}).properties("ConnectionsTable")
    assert [index["IndexName"] for index in limited["GlobalSecondaryIndexes"]] == ["ByClient"]
