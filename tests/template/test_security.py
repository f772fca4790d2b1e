"""template.yaml as a security reviewer scans it: checkov clean, every skip with its reason, the
customer managed keys a regulated team needs as parameters, and the ByClient index only where read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sam_template.conditions import deployed
from sam_template.model import TEMPLATE_PATH, load_template
from sam_template.tables import create_table_kwargs

ROOT = TEMPLATE_PATH.parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TABLE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LOGS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09ba-87dc-65fe-0987654321ba"
TABLES = ("ConnectionsTable", "CountersTable")


@pytest.fixture(scope="module")
def template():
    return load_template()


def deployment(template, **parameters: str):
    return deployed(template, {**template.parameter_defaults(), **parameters})


# ----- the scan ------------------------------------------------------------------------------------
def test_checkov_finds_nothing():
    """The scan `make scan` runs (`make test` runs it here): 0 failed checks."""
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: `make test` installs it (make install-checkov)")
    scan = ["--framework", "cloudformation", "--compact", "--quiet", "--skip-download"]
    result = subprocess.run(
        [str(CHECKOV), "-f", str(TEMPLATE_PATH), *scan],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_every_checkov_skip_names_a_check_and_says_why(template):
    skips = [
        (name, skip)
        for name, resource in template.resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), f"{name}: {skip}"
        assert len(skip.get("comment", "")) > 80, f"{name} skips {skip['id']} without a reason"
    # a reason is about this resource: never one sentence pasted over every function
    by_check: dict[str, list[str]] = {}
    for _, skip in skips:
        by_check.setdefault(skip["id"], []).append(skip["comment"])
    for check, comments in by_check.items():
        assert len(set(comments)) >= min(len(comments), 3), f"{check}: the same reason everywhere"


# ----- customer managed keys -----------------------------------------------------------------------
def test_without_keys_the_tables_and_logs_use_aws_managed_encryption(template):
    plain = deployment(template)
    for table in TABLES:
        assert plain.properties(table)["SSESpecification"] == {"SSEEnabled": True}  # aws/dynamodb
    groups = plain.of_type("AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert "KmsKeyId" not in group["Properties"], name
    assert "TableKeyUsePolicy" not in plain.resources


def test_with_keys_every_table_and_log_group_uses_them(template):
    keyed = deployment(template, TableKmsKeyArn=TABLE_KEY, LogsKmsKeyArn=LOGS_KEY, AccessLogging="true")
    for table in TABLES:
        assert keyed.properties(table)["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Ref": "TableKmsKeyArn"},
        }
    groups = keyed.of_type("AWS::Logs::LogGroup")
    assert len(groups) == 6  # five functions' and the stage's access log
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Ref": "LogsKmsKeyArn"}, name


def test_the_table_key_is_used_only_through_dynamodb_and_by_the_functions_that_touch_a_table(template):
    keyed = deployment(template, TableKmsKeyArn=TABLE_KEY)
    (statement,) = keyed.properties("TableKeyUsePolicy")["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Ref": "TableKmsKeyArn"}
    assert set(statement["Action"]) == {
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
    }
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"
    }
    assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}
    given = {
        name
        for name, function in keyed.of_type("AWS::Serverless::Function").items()
        if {"Ref": "TableKeyUsePolicy"} in function["Properties"].get("Policies", [])
    }
    assert given == set(keyed.of_type("AWS::Serverless::Function"))  # each one reads or writes a table


@pytest.mark.parametrize("value", ["alias/aws/dynamodb", "1234abcd-12ab", "arn:aws:kms:eu-west-1:1:key/x"])
def test_a_key_parameter_takes_only_a_key_arn(template, value):
    for parameter in ("TableKmsKeyArn", "LogsKmsKeyArn"):
        pattern = template.body["Parameters"][parameter]["AllowedPattern"]
        assert re.fullmatch(pattern, "")
        assert re.fullmatch(pattern, TABLE_KEY)
        assert not re.fullmatch(pattern, value)


def test_cfn_lint_is_clean_with_the_keys_and_the_index_on():
    parameters = [
        f"TableKmsKeyArn={TABLE_KEY}",
        f"LogsKmsKeyArn={LOGS_KEY}",
        "AuthMode=cognito",  # de-duplication needs verified identities (the template's rule)
        "MaxConnectionsPerClient=3",
    ]
    rules = ["--append-rules", "cfn_lint_serverless.rules"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            str(TEMPLATE_PATH),
            *rules,
            "--parameters",
            *parameters,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ----- the ByClient index only where it is read ------------------------------------------------------
def test_the_client_index_exists_only_with_a_per_client_limit(template):
    without = create_table_kwargs(template, "ConnectionsTable", "t")
    assert "GlobalSecondaryIndexes" not in without
    # DynamoDB takes no attribute definition that no key uses
    assert without["AttributeDefinitions"] == [{"AttributeName": "connectionId", "AttributeType": "S"}]

    limited = create_table_kwargs(template, "ConnectionsTable", "t", {"MaxConnectionsPerClient": "3"})
    (index,) = limited["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByClient"
    assert index["KeySchema"] == [
        {"AttributeName": "clientId", "KeyType": "HASH"},
        {"AttributeName": "createdAt", "KeyType": "RANGE"},
    ]
    assert {d["AttributeName"] for d in limited["AttributeDefinitions"]} == {
        "connectionId",
        "clientId",
        "createdAt",
    }


@pytest.mark.parametrize(("limit", "may_query"), [("0", False), ("3", True)])
def test_connect_may_query_the_index_only_when_it_exists(template, limit, may_query):
    statements = deployment(template, MaxConnectionsPerClient=limit).properties("ConnectFunction")["Policies"]
    actions = {action for policy in statements for s in policy["Statement"] for action in s["Action"]}
    assert ("dynamodb:Query" in actions) is may_query
