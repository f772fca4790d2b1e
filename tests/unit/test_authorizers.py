"""The rules of API Gateway's Lambda REQUEST authorizers for WebSocket APIs, as the local stack
applies them (local_stack.apigateway.authorizers), one test per rule."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import pytest

from local_stack.apigateway.authorizers import (
    ConnectAuthorizer,
    MalformedResponse,
    allows,
    authorizer_event,
    check_identity_sources,
    identity_value,
    integration_context,
    matches,
    method_arn,
    missing_identity,
)
from local_stack.awslambda.environments import FunctionError

EVENTS = Path(__file__).parent.parent / "events"
CONNECT = json.loads((EVENTS / "connect.json").read_text())
REQUEST = json.loads((EVENTS / "authorizer_request_documented.json").read_text())
ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$connect"


def _statement(effect: str, resource: object, action: object = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# ----- the event -------------------------------------------------------------------------------
def test_the_method_arn_of_connect_has_no_http_method():
    assert method_arn("us-east-1", "123456789012", "abcdef123", "prod") == ARN


def test_the_event_has_the_shape_of_the_guides_websocket_request_authorizer_input():
    event = authorizer_event(CONNECT, ARN, {"realm": "blue"})
    assert set(event) == set(REQUEST)
    assert (event["type"], event["methodArn"]) == ("REQUEST", ARN)
    assert set(event["requestContext"]) == set(REQUEST["requestContext"])
    assert event["headers"] == CONNECT["headers"]
    assert event["multiValueHeaders"] == CONNECT["multiValueHeaders"]
    assert event["queryStringParameters"] == CONNECT["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == CONNECT["multiValueQueryStringParameters"]
    assert event["stageVariables"] == {"realm": "blue"}


def test_a_handshake_without_a_query_string_has_no_query_parameters():
    query = {"queryStringParameters", "multiValueQueryStringParameters"}
    bare = {key: value for key, value in CONNECT.items() if key not in query}
    event = authorizer_event(bare, ARN, {})
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event


def test_the_authorizer_cannot_change_the_event_connect_gets():
    connect = copy.deepcopy(CONNECT)
    event = authorizer_event(connect, ARN, {})
    event["requestContext"]["identity"]["sourceIp"] = "10.0.0.1"
    event["multiValueHeaders"]["Host"].append("evil")
    assert connect == CONNECT


# ----- identity sources ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("route.request.header.HeaderAuth1", "headerValue1"),
        ("route.request.header.headerauth1", "headerValue1"),  # header names: any case
        ("route.request.querystring.QueryString1", "queryValue1"),
        ("route.request.querystring.querystring1", None),  # query names: exact
        ("route.request.header.Authorization", None),
        ("stageVariables.realm", "blue"),
        ("stageVariables.colour", None),
        ("context.identity.sourceIp", "203.0.113.24"),
        ("context.stage", "prod"),
        ("context.nothing.here", None),
    ],
)
def test_an_identity_source_selects_its_value(source, expected):
    event = {**REQUEST, "stageVariables": {"realm": "blue"}}
    assert identity_value(source, event) == expected


def test_any_missing_or_empty_identity_source_refuses_before_the_function():
    sources = ["route.request.header.HeaderAuth1", "route.request.querystring.QueryString1"]
    assert not missing_identity(sources, REQUEST)
    assert missing_identity([*sources, "route.request.querystring.token"], REQUEST)
    empty = {**REQUEST, "headers": {**REQUEST["headers"], "HeaderAuth1": ""}}
    assert missing_identity(sources, empty)
    assert not missing_identity([], REQUEST)  # no identity source: always invoked


def test_an_identity_source_api_gateway_would_not_accept_is_refused_at_start():
    check_identity_sources(["route.request.header.X", "stageVariables.y", "context.z"])
    with pytest.raises(ValueError, match=r"method\.request\.header\.Auth"):
        check_identity_sources(["method.request.header.Auth"])  # a REST API's form


# ----- the policy ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("resource", "covered"),
    [
        (ARN, True),
        ("*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:abcdef123/*", True),
        ("arn:aws:execute-api:*:123456789012:abcdef123/prod/$connect", True),
        ("arn:aws:execute-api:us-east-?:123456789012:abcdef123/pro?/$connect", True),
        ("arn:aws:execute-api:us-east-1:*", True),  # a segment's final * reaches past colons
        ("arn:aws:execute-api:us-east-1:123456789012:abcdef123/*/$connect", True),
        ("arn:aws:execute-api:us-east-1:123456789012:abcdef123/dev/$connect", False),
        ("arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$disconnect", False),
        ("arn:aws:execute-api:us-west-2:123456789012:abcdef123/prod/$connect", False),
        ("arn:aws:execute-api:us-east-1:123456789012:abcdef12?/prod/$connect?", False),  # ? is one char
        ("arn:aws:execute-api:us-east-1:123456789012:ABCDEF123/prod/$connect", False),  # ARNs: exact case
        ("arn:aws:execute-api:us-*-1:123456789012:abcdef123/prod/$connect", True),
        ("arn:aws:execute-api:us*1:123456789012:abcdef123/prod/$connect", True),
        ("arn:aws:execute-api:u*t:123456789012:abcdef123/prod/$connect", False),  # * inside a segment
    ],
)
def test_a_resource_covers_the_method_arn_with_iam_wildcards(resource, covered):
    assert matches(resource, ARN) is covered
    assert allows(_policy(_statement("Allow", resource)), ARN) is covered


def test_an_explicit_deny_wins_over_any_allow():
    policy = _policy(_statement("Allow", "*"), _statement("Deny", ARN))
    assert not allows(policy, ARN)
    reversed_order = _policy(_statement("Deny", [ARN]), _statement("Allow", ARN))
    assert not allows(reversed_order, ARN)


def test_without_an_allow_the_method_is_implicitly_denied():
    assert not allows(_policy(_statement("Allow", ARN.replace("prod", "dev"))), ARN)


def test_only_statements_about_invoke_count():
    assert not allows(_policy(_statement("Allow", ARN, "execute-api:ManageConnections")), ARN)
    assert allows(_policy(_statement("Allow", ARN, ["execute-api:*"])), ARN)
    assert allows(_policy(_statement("Allow", ARN, "Execute-API:Invoke")), ARN)  # actions: any case
    assert not allows(_policy(_statement("Allow", "*"), _statement("Deny", "*", "execute-api:*")), ARN)


def test_a_single_statement_object_is_a_policy_too():
    assert allows({"Statement": _statement("Allow", ARN)}, ARN)


@pytest.mark.parametrize(
    "policy",
    [
        "Allow",
        {},
        {"Statement": []},
        {"Statement": [{"Effect": "Permit", "Action": "execute-api:Invoke", "Resource": ARN}]},
        {"Statement": [{"Effect": "Allow", "Resource": ARN}]},
        {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke"}]},
        {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [1]}]},
    ],
)
def test_a_document_that_is_not_a_policy_is_malformed(policy):
    with pytest.raises(MalformedResponse):
        allows(policy, ARN)


# ----- what the integration gets ---------------------------------------------------------------
def test_principal_and_context_reach_the_integration_as_strings():
    output = {
        "principalId": "user|a1b2",
        "policyDocument": _policy(_statement("Allow", ARN)),
        "context": {"stringKey": "value", "numberKey": 1, "booleanKey": True, "ratio": 0.5},
    }
    assert integration_context(output, 12) == {
        "stringKey": "value",
        "numberKey": "1",
        "booleanKey": "true",
        "ratio": "0.5",
        "principalId": "user|a1b2",
        "integrationLatency": 12,
    }


@pytest.mark.parametrize(
    "output",
    [
        None,
        "allow",
        {"policyDocument": {}},  # no principalId
        {"principalId": "", "policyDocument": {}},
        {"principalId": "p", "context": {"nested": {"a": 1}}},  # a JSON object as a value
        {"principalId": "p", "context": {"list": [1, 2]}},  # an array as a value
        {"principalId": "p", "context": "text"},
    ],
)
def test_an_output_api_gateway_cannot_use_is_malformed(output):
    with pytest.raises(MalformedResponse):
        integration_context(output, 1)


# ----- the decision ----------------------------------------------------------------------------
def _decide(response: object, sources: list[str] | None = None, raises: Exception | None = None):
    calls = []

    async def invoke(function: str, event: dict) -> object:
        calls.append((function, event))
        if raises is not None:
            raise raises
        return response

    authorizer = ConnectAuthorizer(
        "AuthFunction", sources if sources is not None else ["route.request.header.Host"], ARN
    )
    verdict = asyncio.run(authorizer.check(CONNECT, invoke))
    return verdict, calls, authorizer.counts


def test_allowed_the_connect_goes_on_with_the_authorizer_context():
    verdict, calls, counts = _decide(
        {"principalId": "me", "policyDocument": _policy(_statement("Allow", ARN)), "context": {"k": "v"}}
    )
    assert verdict.status is None
    assert (verdict.authorizer["principalId"], verdict.authorizer["k"]) == ("me", "v")
    assert calls[0][0] == "AuthFunction"
    assert calls[0][1]["methodArn"] == ARN
    assert counts["allowed"] == 1


def test_denied_is_403():
    verdict, _, counts = _decide({"principalId": "me", "policyDocument": _policy(_statement("Deny", ARN))})
    assert (verdict.status, counts["denied"]) == (403, 1)


def test_missing_identity_is_401_and_the_function_is_not_invoked():
    verdict, calls, counts = _decide({}, sources=["route.request.querystring.token"])
    assert (verdict.status, calls, counts["unauthorized"]) == (401, [], 1)


@pytest.mark.parametrize(
    "error",
    [
        FunctionError("AuthFunction: Task timed out after 2.00 seconds"),
        FunctionError("AuthFunction raised KeyError", error_message="'token'"),
        RuntimeError("the environment could not start"),
    ],
    ids=["timed out", "raised", "not run"],
)
def test_a_failing_or_timed_out_function_is_500(error):
    verdict, calls, counts = _decide(None, raises=error)
    assert (verdict.status, len(calls), counts["failed"]) == (500, 1, 1)


def test_a_function_failing_with_unauthorized_is_401():
    # raise Exception("Unauthorized"), as the developer guide's example authorizers do
    error = FunctionError("AuthFunction raised Exception", error_message="Unauthorized")
    verdict, calls, counts = _decide(None, raises=error)
    assert (verdict.status, len(calls), counts["unauthorized"], counts["failed"]) == (401, 1, 1, 0)


def test_a_malformed_output_is_500():
    verdict, _, _ = _decide({"principalId": "me", "policyDocument": "yes"})
    assert verdict.status == 500
