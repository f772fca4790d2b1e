"""The local stack runs an outside application's Lambda REQUEST authorizer on $connect
(tests/e2e/apps/guarded: a header identity source, policies per caller) as the API Gateway
developer guide says: a missing identity source is 401 without invoking it, a policy that does
not allow $connect is 403, a failing or malformed authorizer is 500, and an allowed caller reaches
$connect with the authorizer's principalId and context in requestContext.authorizer."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from local_stack.provisioning import emulator as aws
from tests.e2e.conftest import handshake, start_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

GUARDED = Path(__file__).parent / "apps" / "guarded" / "template.yaml"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("guarded"), "--template", str(GUARDED))
    yield stack
    stack.stop()
    print("".join(stack.printed()))


def _handshake(url: str, caller: str | None, query: str = "") -> int:
    """The handshake's HTTP status (101 when it was accepted)."""
    return handshake(url + query, {"X-Caller": caller} if caller is not None else None)


def _control(stack, path: str):
    base = stack.ready["managementUrl"].rsplit("/", 1)[0]
    with urllib.request.urlopen(f"{base}/_local/{path}", timeout=10) as answer:  # noqa: S310 - loopback
        return json.loads(answer.read())


def _invocations(stack, function: str) -> int:
    return _control(stack, "functions")[function]["invocations"]


def _logged(stack, prefix: str) -> list[dict]:
    lines = stack.log_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line.split(prefix, 1)[1]) for line in lines if prefix in line]


def test_the_authorizer_is_announced_and_not_named_unemulated(guarded):
    assert not any("Authorizer" in notice for notice in guarded.ready["notices"])


def test_a_missing_or_empty_identity_source_is_401_without_invoking_the_authorizer(guarded):
    before = _invocations(guarded, "GuardFunction"), _invocations(guarded, "ConnectFunction")
    assert _handshake(guarded.url, None) == 401
    assert _handshake(guarded.url, "") == 401
    assert (_invocations(guarded, "GuardFunction"), _invocations(guarded, "ConnectFunction")) == before


def test_an_allowed_caller_reaches_connect_with_the_principal_and_context(guarded):
    before = _invocations(guarded, "GuardFunction")
    assert _handshake(guarded.url, "alice", "?room=a&room=b") == 101  # allowed through wildcards
    assert _invocations(guarded, "GuardFunction") == before + 1

    seen = wait_for(lambda: [e for e in _logged(guarded, "guard-event ") if e["caller"] == "alice"])[-1]
    assert seen["type"] == "REQUEST"
    assert seen["methodArn"].startswith("arn:aws:execute-api:us-east-1:123456789012:")
    assert seen["methodArn"].endswith("/live/$connect")  # {api-id}/{stage}/$connect
    assert set(seen["keys"]) == {
        "type",
        "methodArn",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "stageVariables",
        "requestContext",
    }
    assert seen["stageVariables"] == {"realm": "blue"}
    assert seen["query"] == {"room": "b"}
    assert seen["multiQuery"] == {"room": ["a", "b"]}
    assert seen["multiHeader"] == ["alice"]
    assert (seen["routeKey"], seen["eventType"]) == ("$connect", "CONNECT")

    authorizer = wait_for(lambda: [a for a in _logged(guarded, "connect-authorizer ") if a])[-1]
    assert authorizer["principalId"] == "user|alice"
    # context values reach the integration as strings, with the authorizer's latency
    assert (authorizer["caller"], authorizer["level"], authorizer["admin"]) == ("alice", "3", "true")
    assert isinstance(authorizer["integrationLatency"], int)
    # the connection the authorizer saw is the one $connect got
    assert seen["connectionId"]


@pytest.mark.parametrize(
    "caller",
    [
        "mallory",  # an explicit Deny of $connect
        "bob",  # Allow of every route by a wildcard and Deny of $connec? : the Deny wins
        "elsewhere",  # Allow of another stage only: implicitly denied
    ],
)
def test_a_policy_that_does_not_allow_connect_is_403_and_connect_never_runs(guarded, caller):
    before = _invocations(guarded, "ConnectFunction")
    assert _handshake(guarded.url, caller) == 403
    assert _invocations(guarded, "ConnectFunction") == before


@pytest.mark.parametrize(
    "caller",
    [
        "crash",  # the function raises
        "garbage",  # a policyDocument that is not a policy
        "nested",  # a context value that is an object
        "slow",  # outlasts its Timeout
    ],
)
def test_an_authorizer_that_fails_is_500_and_connect_never_runs(guarded, caller):
    before = _invocations(guarded, "ConnectFunction"), _invocations(guarded, "GuardFunction")
    assert _handshake(guarded.url, caller) == 500
    assert _invocations(guarded, "ConnectFunction") == before[0]
    assert _invocations(guarded, "GuardFunction") == before[1] + 1


def test_the_authorizer_is_metered_and_logs_to_its_own_log_group(guarded):
    assert _handshake(guarded.url, "carol") == 101
    bill = _control(guarded, "bill")
    assert bill["units"]["lambda"]["GuardFunction"]["requests"] >= 1
    assert any(group.endswith("GuardFunction") for group in bill["units"]["cloudwatch"]["logBytes"])

    logs = aws.client("logs", guarded.ready["awsEndpoint"])

    def messages(group: str) -> list[str]:
        """The group's events so far (none before the shipper's first round has created it)."""
        try:
            return [event["message"] for event in logs.filter_log_events(logGroupName=group)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []

    assert wait_for(lambda: [m for m in messages("/aws/lambda/GuardFunction") if '"caller": "carol"' in m])
    connect_events = wait_for(lambda: messages("/aws/lambda/ConnectFunction"))  # carol's $connect logged
    assert not any("guard-event" in message for message in connect_events)


def test_the_status_line_counts_the_authorizers_decisions(guarded):
    assert _handshake(guarded.url, None) == 401
    assert _handshake(guarded.url, "mallory") == 403

    def counts() -> dict | None:
        lines = [json.loads(line) for line in guarded.printed() if line.startswith('{"event": "status"')]
        latest = lines[-1]["authorizer"] if lines else {}
        return latest if latest.get("unauthorized") and latest.get("denied") else None

    assert set(wait_for(counts)) == {"allowed", "unauthorized", "denied", "failed"}
