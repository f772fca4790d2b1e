"""Dashboard, alarms and IAM of template.yaml: names from the catalogue, least privilege."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from connection_tracker.catalogue import CATALOGUE, NAMESPACE
from ops import dashboard
from sam_template.conditions import deployed
from sam_template.model import TEMPLATE_PATH, load_template

ROOT = TEMPLATE_PATH.parent
FUNCTIONS = tuple(load_template().of_type("AWS::Serverless::Function"))
# calls whose IAM actions are not named after them
IAM_ACTIONS = {
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"},
    "apigatewaymanagementapi:GetConnection": {"execute-api:ManageConnections"},
    "apigatewaymanagementapi:DeleteConnection": {"execute-api:ManageConnections"},
    "apigatewaymanagementapi:PostToConnection": {"execute-api:ManageConnections"},
}
BOTOCORE_SERVICE = {"execute-api": "apigatewaymanagementapi"}
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# the IAM of a deployment with the defaults, and of one with every option that grants more
DEPLOYMENTS = {
    "defaults": {},
    "every option on": {
        "AuthMode": "cognito",  # de-duplication needs verified identities (the template's rule)
        "MaxConnectionsPerClient": "2",
        "TableKmsKeyArn": KEY,
        "LogsKmsKeyArn": KEY,
    },
}
# functions that call no AWS API: the authorizer verifies tokens against the issuer's public keys
CALLS_NO_AWS = {"AuthorizerFunction"}
# what DynamoDB needs of a table's customer managed key for the caller's reads and writes
TABLE_KEY_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def dashboard_body(template):
    return json.loads(template.properties("Dashboard")["DashboardBody"]["Fn::Sub"])


def our_metrics(body) -> set[str]:
    return {
        metric[1]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric[0] == NAMESPACE
    }


def test_dashboard_in_the_template_is_the_generated_one():
    assert dashboard.in_template(TEMPLATE_PATH.read_text(encoding="utf-8")) == dashboard.rendered(), (
        "template.yaml's dashboard is stale: run `python -m ops.dashboard --write`"
    )


def test_dashboard_shows_every_catalogue_metric_and_nothing_else(dashboard_body):
    assert our_metrics(dashboard_body) == {str(name) for name in CATALOGUE}


def test_dashboard_uses_only_the_service_dimension(dashboard_body):
    ours = [
        metric
        for widget in dashboard_body["widgets"]
        for metric in widget["properties"].get("metrics", [])  # log widgets have a query instead
        if metric[0] == NAMESPACE
    ]
    assert ours, "no widget shows a metric of ours"
    assert [metric for metric in ours if metric[2:4] != ["service", "${ServiceName}"]] == []


def test_dashboard_shows_api_gateway_and_lambda_health(dashboard_body):
    shown = {(m[0], m[1]) for w in dashboard_body["widgets"] for m in w["properties"].get("metrics", [])}
    for metric in ("ConnectCount", "IntegrationError", "ClientError", "ExecutionError", "IntegrationLatency"):
        assert ("AWS/ApiGateway", metric) in shown
    for metric in ("IteratorAge", "Errors", "Throttles", "Duration"):
        assert ("AWS/Lambda", metric) in shown
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in shown


def alarms(template):
    return template.of_type("AWS::CloudWatch::Alarm")


def alarm_metrics(alarm) -> list[dict]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return [
            {
                "Namespace": props["Namespace"],
                "MetricName": props["MetricName"],
                "Dimensions": props["Dimensions"],
            }
        ]
    return [query["MetricStat"]["Metric"] for query in props.get("Metrics", []) if "MetricStat" in query]


def test_alarms_use_catalogue_names_and_the_service_dimension_only(template):
    ours = [
        (name, metric)
        for name, alarm in alarms(template).items()
        for metric in alarm_metrics(alarm)
        if metric["Namespace"] == NAMESPACE
    ]
    # the connect-failure alarms read our metrics (test_alarm_coverage names the one that must)
    assert ours
    assert {metric["MetricName"] for _, metric in ours} <= {str(n) for n in CATALOGUE}
    dimensions = [(name, [d["Name"] for d in metric["Dimensions"]]) for name, metric in ours]
    assert [(name, names) for name, names in dimensions if names != ["service"]] == []


def test_every_alarm_notifies_and_chose_its_missing_data_treatment(template):
    assert alarms(template)
    for name, alarm in alarms(template).items():
        props = alarm["Properties"]
        assert props.get("TreatMissingData") in {"breaching", "notBreaching", "ignore", "missing"}, name
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_connect_failure_spike_is_a_count_and_a_ratio(template):
    props = template.properties("ConnectFailureSpikeAlarm")
    queries = {query["Id"]: query for query in props["Metrics"]}
    names = {q["MetricStat"]["Metric"]["MetricName"] for q in queries.values() if "MetricStat" in q}
    assert names == {"ConnectFailed", "ConnectAccepted", "ConnectRejected"}
    (returned,) = [q for q in queries.values() if q.get("ReturnData")]
    expression = returned["Expression"]["Fn::Sub"]
    assert "${ConnectFailureThreshold}" in expression
    assert "${ConnectFailureRatePercent}" in expression
    assert "rate" in expression
    assert "failed" in queries["rate"]["Expression"]


def test_alarm_coverage(template):
    watched = {
        (m["Namespace"], m["MetricName"]) for alarm in alarms(template).values() for m in alarm_metrics(alarm)
    }
    assert {
        (NAMESPACE, "ConnectFailed"),
        ("AWS/ApiGateway", "IntegrationError"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= watched
    errors = [a for a in alarms(template).values() if a["Properties"].get("MetricName") == "Errors"]
    # every function but the authorizer, whose Errors count each token it refuses with 401 (API
    # Gateway's "Unauthorized" is an error the function raises): its refusals are ConnectUnauthorized
    assert {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in errors} == set(FUNCTIONS) - CALLS_NO_AWS


def test_alarm_topic_is_encrypted(template):
    assert template.properties("AlarmTopic").get("KmsMasterKeyId")


def test_every_function_has_a_log_group_with_retention(template):
    groups = template.of_type("AWS::Logs::LogGroup").values()
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups}
    assert {name for name in named if name.startswith("/aws/lambda/")} == {
        f"/aws/lambda/${{{function}}}" for function in FUNCTIONS
    }
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ----- least privilege ---------------------------------------------------------------------------
def statements(template, function: str, parameters: dict[str, str] | None = None) -> list[dict]:
    """The function's IAM statements in a deployment with these parameters (defaults otherwise):
    its inline statements and those of the template's managed policies it is given."""
    chosen = deployed(template, {**template.parameter_defaults(), **(parameters or {})})
    if function not in chosen.resources:
        pytest.skip(f"{function} is not in this deployment")
    managed = chosen.of_type("AWS::IAM::ManagedPolicy")
    found = []
    for given in chosen.properties(function).get("Policies", []):
        ours = isinstance(given, dict) and set(given) == {"Ref"} and given["Ref"] in managed
        policy = managed[given["Ref"]]["Properties"]["PolicyDocument"] if ours else given
        assert isinstance(policy, dict), f"{function}: only inline statements or the template's own policies"
        assert "Statement" in policy, f"{function}: only inline statements or the template's own policies"
        found.extend(policy["Statement"])
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def deployed_functions(template, parameters: dict[str, str]) -> set[str]:
    return set(
        deployed(template, {**template.parameter_defaults(), **parameters}).of_type(
            "AWS::Serverless::Function"
        )
    )


def granted(template, parameters: dict[str, str]) -> list[tuple[str, str, str | dict]]:
    """(function, action, resource) of every statement of every function of the deployment."""
    return [
        (function, action, resource)
        for function in sorted(deployed_functions(template, parameters))
        for statement in statements(template, function, parameters)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


@pytest.mark.parametrize("parameters", DEPLOYMENTS.values(), ids=DEPLOYMENTS)
def test_no_wildcard_actions_or_resources(template, parameters):
    grants = granted(template, parameters)
    # each function is granted some, but the one that calls no AWS API
    assert {function for function, _, _ in grants} == deployed_functions(template, parameters) - CALLS_NO_AWS
    assert [(function, action) for function, action, _ in grants if "*" in action] == []
    # only a connection id may be any: one stage's @connections
    texts = [(function, r if isinstance(r, str) else json.dumps(r)) for function, _, r in grants]
    assert [(f, text) for f, text in texts if "*" in text and "/@connections/*" not in text] == []


def _imported_modules(path: Path, seen: set[Path]) -> set[Path]:
    """The file and every ``connection_tracker`` module it imports, transitively."""
    if path in seen:
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("connection_tracker"):
            target = ROOT / "shared" / Path(*node.module.split("."))
            module = (
                target.with_suffix(".py") if target.with_suffix(".py").exists() else target / "__init__.py"
            )
            _imported_modules(module, seen)
    return seen


def called_actions(template, function: str, services: set[str]) -> set[str]:
    """IAM actions of the AWS calls the function's code makes (its module and what it imports)."""
    folder, module, _ = template.function_code(function)
    calls = set()
    for path in _imported_modules(folder / f"{module}.py", set()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls.add(node.func.attr)
            # operations named in strings: get_paginator("query"), getattr(client, "get_connection")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                calls.add(node.value)
    session = botocore.session.get_session()
    actions = set()
    for service in services:
        model = session.get_service_model(BOTOCORE_SERVICE.get(service, service))
        for operation in model.operation_names:
            if xform_name(operation) in calls:
                call = f"{model.service_name}:{operation}"
                actions |= IAM_ACTIONS.get(call, {call})
    return actions


@pytest.mark.parametrize("parameters", DEPLOYMENTS.values(), ids=DEPLOYMENTS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_may_do_only_what_its_code_does(template, function, parameters):
    granted = {action for s in statements(template, function, parameters) for action in as_list(s["Action"])}
    services = {action.split(":")[0] for action in granted}
    allowed = called_actions(template, function, services - {"sqs", "kms"}) if services else set()
    # DynamoDB uses a table's customer managed key with the caller's permissions: no code calls KMS
    if parameters.get("TableKmsKeyArn") and any(action.startswith("dynamodb:") for action in granted):
        allowed |= TABLE_KEY_ACTIONS
    # The Lambda service sends a failed batch's description to the on-failure destination with the
    # function's role: that is the one action no code of ours calls.
    for event in template.properties(function).get("Events", {}).values():
        if event["Properties"].get("DestinationConfig", {}).get("OnFailure"):
            allowed.add("sqs:SendMessage")
    assert granted or function in CALLS_NO_AWS, f"{function} has no permissions"
    assert not (granted and function in CALLS_NO_AWS), f"{function} calls no AWS API: {sorted(granted)}"
    assert granted <= allowed, f"{function} is granted {sorted(granted - allowed)} that its code never calls"


@pytest.mark.parametrize("parameters", DEPLOYMENTS.values(), ids=DEPLOYMENTS)
@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - CALLS_NO_AWS))
def test_each_statement_is_scoped_to_this_stacks_resources(template, function, parameters):
    resources = [
        resource
        for statement in statements(template, function, parameters)
        for resource in as_list(statement["Resource"])
    ]
    assert resources, f"{function} has no permissions"
    # each one this stack's ARN: a reference, an attribute or a substitution of them
    unscoped = [
        r for r in resources if not isinstance(r, dict) or not set(r) <= {"Fn::GetAtt", "Fn::Sub", "Ref"}
    ]
    assert unscoped == [], f"{function}: {unscoped} are not this stack's ARNs"
