"""The $connect authorizer as API Gateway invokes it (tests/events/authorizer_request.json, the
developer guide's WebSocket REQUEST shape), and $connect after it (connect_authorized.json).

The issuer's JWKS is served over HTTP on this machine where AWS_ENDPOINT_URL points, as the
emulated Cognito serves it (``/{poolId}/.well-known/jwks.json``): the authorizer's real fetcher runs.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from connection_tracker import authorizer
from connection_tracker.catalogue import MetricName

if TYPE_CHECKING:
    from collections.abc import Iterator

POOL = "us-east-1_AbCdEf123"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
APP_CLIENT = "4ab8ivtenhhpmt0alv5vq1bc7o"
SUB = "0b5c2f1e-8a41-4e5f-9d4b-1f6f0c3e2a77"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    """The user pool's JWKS over HTTP; ``up`` False answers 503."""

    def __init__(self) -> None:
        self.up = True
        self.requests: list[str] = []
        jwk = {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "alg": "RS256", "use": "sig"}
        self.body = json.dumps({"keys": [jwk]}).encode()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                ok = issuer.up and self.path == f"/{POOL}/.well-known/jwks.json"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(issuer.body if ok else b"{}")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuer]:
    served = Issuer()
    monkeypatch.setenv("AUTH_MODE", "cognito")
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_AUDIENCE", APP_CLIENT)
    monkeypatch.setenv("AWS_ENDPOINT_URL", served.endpoint)
    authorizer.verifier.cache_clear()  # a new execution environment
    yield served
    authorizer.verifier.cache_clear()
    served.close()


def token(**changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": SUB, "iss": ISSUER, "aud": APP_CLIENT, "token_use": "id", "iat": now, "exp": now + 3600}
    claims.update(changes)
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def authorize(invoke, event):
    def call(presented: str | None) -> Any:
        request = event("authorizer_request")
        if presented is None:
            request["queryStringParameters"].pop("token")
            request["multiValueQueryStringParameters"].pop("token")
        else:
            request["queryStringParameters"]["token"] = presented
            request["multiValueQueryStringParameters"]["token"] = [presented]
        return invoke("AuthorizerFunction", request)

    return call


def test_a_valid_token_is_allowed_for_the_method_arn_with_its_client_id(authorize, event, issuer, output):
    answer = authorize(token())
    assert answer == {
        "principalId": SUB,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": event("authorizer_request")["methodArn"],
                }
            ],
        },
        "context": {"clientId": SUB},
    }
    printed = output()
    assert printed.metric_values() == {}  # an accepted token costs no metric and no log line
    assert printed.logs == []
    assert issuer.requests == [f"/{POOL}/.well-known/jwks.json"]


def test_the_keys_are_fetched_once_per_execution_environment(authorize, issuer):
    for _ in range(3):
        assert authorize(token())["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert len(issuer.requests) == 1


@pytest.mark.parametrize(
    ("presented", "reason"),
    [
        (None, "malformed"),
        ("not-a-token", "malformed"),
        ("EXPIRED", "expired"),
        ("FOREIGN", "issuer"),
    ],
)
def test_a_token_that_is_no_credential_is_401_counted_and_logged_without_its_text(
    authorize, issuer, output, presented, reason
):
    presented = {
        "EXPIRED": token(exp=int(time.time()) - 3600),
        "FOREIGN": token(iss="https://idp.example.com"),
    }.get(presented, presented)
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorize(presented)
    assert type(raised.value).__name__ == "Unauthorized"
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_UNAUTHORIZED: [1.0]}
    line = printed.log("token refused")
    assert (line["reason"], line["status"], line["level"]) == (reason, 401, "WARNING")
    assert line["correlation_id"] == "Lx1hHFmXoAMFmBw="  # joins $connect's lines and the access log
    if presented:
        text = json.dumps(printed.lines)
        assert all(part not in text for part in presented.split(".") if len(part) > 8)


def test_a_token_of_another_app_client_is_denied_403(authorize, event, issuer, output):
    answer = authorize(token(aud="another-app-client"))
    (statement,) = answer["policyDocument"]["Statement"]
    assert (statement["Effect"], statement["Resource"]) == ("Deny", event("authorizer_request")["methodArn"])
    assert "context" not in answer
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_UNAUTHORIZED: [1.0]}
    assert (printed.log("token refused")["reason"], printed.log("token refused")["status"]) == (
        "audience",
        403,
    )


def test_the_issuer_out_of_reach_is_a_500_not_a_refusal(authorize, issuer, output):
    issuer.up = False
    with pytest.raises(authorizer.AuthorizerFailure) as raised:
        authorize(token())
    assert str(raised.value) != "Unauthorized"  # API Gateway answers 500 to any other error
    printed = output()
    assert MetricName.CONNECT_UNAUTHORIZED not in printed.metric_values()
    assert printed.log("issuer keys unavailable, connection refused")["level"] == "ERROR"


def test_a_bad_configuration_is_a_500_naming_the_variable(authorize, issuer, monkeypatch, output):
    monkeypatch.setenv("AUTH_ISSUER", "https://not-cognito.example.com")
    with pytest.raises(authorizer.AuthorizerFailure):
        authorize(token())
    assert "AUTH_ISSUER" in output().log("configuration error, connection refused")["error"]


# ----- $connect after the authorizer -------------------------------------------------------------------
def test_connect_stores_the_verified_client_and_ignores_the_claimed_one(
    invoke, event, dynamodb, table, debug_logs, output
):
    assert invoke("ConnectFunction", event("connect_authorized")) == {"statusCode": 200, "body": "connected"}
    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert item["clientId"] == {"S": SUB}
    assert item["authenticated"] == {"BOOL": True}
    printed = output()
    assert printed.log("clientId query parameter ignored: the token's identity is used")["level"] == "DEBUG"
    token_text = event("connect_authorized")["queryStringParameters"]["token"]
    assert token_text not in json.dumps(printed.lines)
    assert token_text not in json.dumps(item)


def test_connect_with_a_token_ignores_even_an_invalid_claimed_client(invoke, event, dynamodb, table):
    request = event("connect_authorized")
    request["queryStringParameters"]["clientId"] = "not valid!"
    assert invoke("ConnectFunction", request)["statusCode"] == 200
    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert item["clientId"] == {"S": SUB}


def test_connect_without_an_authorizer_stores_the_claim_as_unauthenticated(invoke, event, dynamodb, table):
    assert invoke("ConnectFunction", event("connect"))["statusCode"] == 200
    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert (item["clientId"], item["authenticated"]) == ({"S": "dashboard-7.eu:ops@team_a"}, {"BOOL": False})


def test_an_authorizer_context_without_a_valid_client_id_is_refused(invoke, event, dynamodb, table):
    request = event("connect_authorized")
    request["requestContext"]["authorizer"]["clientId"] = "has space"
    assert invoke("ConnectFunction", request)["statusCode"] == 400
    assert dynamodb.scan(TableName=table)["Items"] == []


def test_the_opened_line_says_whether_the_client_is_verified(invoke, event, records, output):
    verified, claimed = records("opened", "conn-verified"), records("opened", "conn-claimed")
    verified["dynamodb"]["NewImage"]["authenticated"] = {"BOOL": True}
    claimed["dynamodb"]["NewImage"].pop("authenticated", None)  # an item written before the attribute
    batch = event("stream_batch")
    batch["Records"] = [verified, claimed]
    invoke("StreamMetricsFunction", batch)
    opened = {line["connectionId"]: line for line in output().logs if line.get("event") == "opened"}
    assert opened["conn-verified"]["authenticated"] is True
    assert "authenticated" not in opened["conn-claimed"]  # only claimed: absent (no byte more by default)
