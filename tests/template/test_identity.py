"""template.yaml's identity (AuthMode none | cognito | oidc): each mode linted, scanned and expanded
by SAM's translator, the REQUEST authorizer on $connect where there is one, the user pool the stack
creates, and the rule that refuses per-client de-duplication without verified identities."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sam_template.conditions import deployed
from sam_template.expand import expand
from sam_template.model import TEMPLATE_PATH, load_template
from sam_template.rules import broken_rules

ROOT = TEMPLATE_PATH.parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
MODES = {
    "none": {},
    "cognito": {"AuthMode": "cognito"},
    "cognito, an existing pool": {
        "AuthMode": "cognito",
        "UserPoolId": "eu-west-1_AbCdEf123",
        "UserPoolClientId": "4ab8ivtenhhpmt0alv5vq1bc7o",
    },
    "oidc": {
        "AuthMode": "oidc",
        "AuthIssuer": "https://login.example.com/tenant",
        "AuthAudience": "api://tracker",
    },
}


@pytest.fixture(scope="module")
def template():
    return load_template()


def deployment(template, parameters: dict[str, str]):
    """What CloudFormation deploys: SAM's expansion, with the resources whose Condition holds."""
    values = {**template.parameter_defaults(), **parameters}
    return deployed(expand(template, values), values)


@pytest.mark.parametrize("parameters", MODES.values(), ids=MODES)
def test_cfn_lint_is_clean_in_every_mode(parameters):
    given = [f"{name}={value}" for name, value in parameters.items()]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            str(TEMPLATE_PATH),
            "--append-rules",
            "cfn_lint_serverless.rules",
            *(["--parameters", *given] if given else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("parameters", MODES.values(), ids=MODES)
def test_checkov_finds_nothing_in_sams_expansion_of_every_mode(template, parameters, tmp_path):
    """SAM's expansion (the roles and permissions SAM adds included) scanned as `make scan` scans."""
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: `make test` installs it (make install-checkov)")
    expanded = expand(template, {**template.parameter_defaults(), **parameters})
    path = tmp_path / "expanded.json"
    path.write_text(json.dumps(expanded.body), encoding="utf-8")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(path),
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout


def test_without_auth_connect_is_open_and_nothing_of_identity_is_deployed(template):
    plain = deployment(template, {})
    assert plain.properties("ConnectRoute")["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in plain.properties("ConnectRoute")
    for kind in ("AWS::ApiGatewayV2::Authorizer", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"):
        assert not plain.of_type(kind), kind
    assert "AuthorizerFunction" not in plain.resources


@pytest.mark.parametrize("mode", ["cognito", "cognito, an existing pool", "oidc"])
def test_with_auth_connect_has_a_request_authorizer_on_the_token_query_parameter(template, mode):
    chosen = deployment(template, MODES[mode])
    (authorizer_id,) = chosen.of_type("AWS::ApiGatewayV2::Authorizer")
    authorizer = chosen.properties(authorizer_id)
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert "${AuthorizerFunction.Arn}" in authorizer["AuthorizerUri"]["Fn::Sub"]
    route = chosen.properties("ConnectRoute")
    assert (route["AuthorizationType"], route["AuthorizerId"]) == ("CUSTOM", {"Ref": authorizer_id})
    assert chosen.properties("DisconnectRoute")["AuthorizationType"] == "NONE"  # $connect only
    function = chosen.properties("AuthorizerFunction")
    assert (function["Runtime"], function["Architectures"], function["Handler"]) == (
        "python3.12",
        ["arm64"],
        "app.lambda_handler",
    )
    assert "AuthorizerLogGroup" in chosen.resources


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_api_gateway_may_invoke_the_authorizer_for_this_apis_authorizer_only(template, mode):
    chosen = deployment(template, MODES[mode])
    permission = chosen.properties("AuthorizerPermission")
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "AuthorizerFunction"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${WebSocketApi}/authorizers/${ConnectAuthorizer}")


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_the_authorizer_is_granted_nothing_but_its_logs_and_traces(template, mode):
    chosen = deployment(template, MODES[mode])
    role = chosen.properties("AuthorizerFunctionRole")
    assert "Policies" not in role  # no statement of its own: it calls no AWS API
    assert {arn.rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]} == {
        "AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
    }


def test_the_authorizer_has_its_own_pinned_requirements_and_the_layer_does_not():
    own = (ROOT / "functions" / "authorizer" / "requirements.txt").read_text(encoding="utf-8")
    pins = {line.split("==")[0].lower(): line for line in own.splitlines() if "==" in line}
    assert set(pins) == {"pyjwt", "cryptography"}
    layer = (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").lower()
    assert "pyjwt" not in layer
    assert "cryptography" not in layer  # the other functions' cold start does not grow
    for requirements in ("requirements-dev.txt", "requirements-py311.txt"):
        text = (ROOT / requirements).read_text(encoding="utf-8")
        assert all(pin in text.splitlines() for pin in pins.values()), requirements


def test_cognito_without_a_pool_creates_one_and_its_app_client_without_a_secret(template):
    chosen = deployment(template, MODES["cognito"])
    client = chosen.properties("UserPoolClient")
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert client["UserPoolId"] == {"Ref": "UserPool"}
    environment = chosen.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert environment["AUTH_AUDIENCE"] == {"Ref": "UserPoolClient"}
    assert environment["AUTH_ISSUER"]["Fn::Sub"][1] == {"Pool": {"Ref": "UserPool"}}
    outputs = {
        name
        for name, output in template.body["Outputs"].items()
        if output.get("Condition") == "CreateUserPool"
    }
    assert outputs == {"AuthUserPoolId", "AuthUserPoolClientId"}


def test_cognito_with_a_pool_given_uses_it_and_creates_none(template):
    chosen = deployment(template, MODES["cognito, an existing pool"])
    assert not chosen.of_type("AWS::Cognito::UserPool")
    environment = chosen.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert environment["AUTH_AUDIENCE"] == {"Ref": "UserPoolClientId"}
    assert environment["AUTH_ISSUER"]["Fn::Sub"][1] == {"Pool": {"Ref": "UserPoolId"}}


def test_oidc_takes_the_issuer_and_audience_parameters(template):
    chosen = deployment(template, MODES["oidc"])
    assert not chosen.of_type("AWS::Cognito::UserPool")
    environment = chosen.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert (environment["AUTH_ISSUER"], environment["AUTH_AUDIENCE"]) == (
        {"Ref": "AuthIssuer"},
        {"Ref": "AuthAudience"},
    )


# ----- the rules ---------------------------------------------------------------------------------------
def test_deduplication_without_auth_is_refused_with_a_message_saying_why(template):
    refused = broken_rules(template, {"MaxConnectionsPerClient": "1"})
    assert set(refused) == {"DeduplicationNeedsVerifiedIdentities"}
    assert "verified identities" in refused["DeduplicationNeedsVerifiedIdentities"]
    assert "AuthMode" in refused["DeduplicationNeedsVerifiedIdentities"]


@pytest.mark.parametrize("mode", ["cognito", "oidc"])
def test_deduplication_with_auth_is_accepted(template, mode):
    assert broken_rules(template, {**MODES[mode], "MaxConnectionsPerClient": "1"}) == {}


@pytest.mark.parametrize("parameters", MODES.values(), ids=MODES)
def test_every_mode_as_documented_passes_the_rules(template, parameters):
    assert broken_rules(template, parameters) == {}


@pytest.mark.parametrize(
    ("parameters", "rule"),
    [
        ({"AuthMode": "oidc", "AuthAudience": "api"}, "OidcNeedsIssuerAndAudience"),
        ({"AuthMode": "oidc", "AuthIssuer": "https://login.example.com"}, "OidcNeedsIssuerAndAudience"),
        ({"AuthMode": "cognito", "UserPoolId": "eu-west-1_AbC123"}, "CognitoPoolAndClientTogether"),
        ({"AuthMode": "cognito", "UserPoolClientId": "abc"}, "CognitoPoolAndClientTogether"),
    ],
)
def test_incomplete_identity_parameters_are_refused(template, parameters, rule):
    assert set(broken_rules(template, parameters)) == {rule}


# ----- tokens are secrets ----------------------------------------------------------------------------------
def test_the_access_log_carries_no_query_string_nor_header(template):
    stage = deployment(template, MODES["cognito"]).properties("Stage")
    log_format = stage["AccessLogSettings"]["DestinationArn"] and stage["AccessLogSettings"]["Format"]
    variables = {part.split('"', 1)[0] for part in log_format.split("$context.")[1:]}
    assert variables  # it is a format of context variables
    for variable in variables:
        lowered = variable.lower()
        assert "query" not in lowered, variable
        assert "header" not in lowered, variable
        assert "token" not in lowered, variable
    assert "$input" not in log_format
    assert "$request" not in log_format
