"""Who is connected, for real (DESIGN.md "Identity"), through the local stack with the tracker's own
template at ``AuthMode=cognito`` and ``MaxConnectionsPerClient=1``: the template's user pool in the
emulated Cognito, its ``$connect`` REQUEST authorizer run by the gateway, tokens from
``python -m local_stack token``'s code path.

Forged tokens are signed with the emulated pool's own key (moto's, shipped in its package) where a
case needs a valid signature on wrong claims."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import time
import urllib.request
from importlib import resources
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from local_stack.cognito.tokens import find_pool, issue_token
from local_stack.provisioning import emulator as aws
from tests.e2e.conftest import handshake, start_stack
from tests.waiting import wait_for

if TYPE_CHECKING:
    from local_stack.harness.process import StackProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("identity")]  # one stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Any:
    running = start_stack(
        tmp_path_factory.mktemp("identity"),
        "--batch-window",
        "0.2",
        "--parameter-overrides",
        "AuthMode=cognito",
        "MaxConnectionsPerClient=1",
    )
    yield running
    running.stop()
    print("".join(running.printed()))


def token(stack: StackProcess, user: str, *, access: bool = False) -> str:
    return issue_token(find_pool(stack.log_path.parent / "stack.json"), user, access=access)


def items(stack: StackProcess) -> list[dict[str, Any]]:
    dynamodb = aws.client("dynamodb", stack.ready["awsEndpoint"])
    return dynamodb.scan(TableName=stack.ready["table"], ConsistentRead=True)["Items"]


def functions(stack: StackProcess) -> dict[str, Any]:
    url = stack.ready["managementUrl"].rsplit("/", 1)[0] + "/_local/functions"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the stack on loopback
        result: dict[str, Any] = json.loads(answer.read())
        return result


def metric_sum(stack: StackProcess, name: str) -> float:
    cloudwatch = aws.client("cloudwatch", stack.ready["awsEndpoint"])
    now = time.time()
    points = cloudwatch.get_metric_statistics(
        Namespace="ConnectionTracker",
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": "connection-tracker"}],
        StartTime=now - 3600,
        EndTime=now + 60,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in points)


def moto_signing_key() -> tuple[Any, str]:
    """The emulated pool's private key and its key id (moto signs every pool's tokens with it)."""
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    key = json.loads(gzip.decompress(packed))  # one JWK
    return jwt.PyJWK(key).key, key["kid"]


def signed(claims: dict[str, Any], **changes: Any) -> str:
    key, kid = moto_signing_key()
    return jwt.encode({**claims, **changes}, key, algorithm="RS256", headers={"kid": kid})


def encoded(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """The algorithm-confusion forgery: HMAC keyed with the issuer's public key (PyJWT refuses to
    make one, so it is made by hand)."""
    signing_input = f"{encoded({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{encoded(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def unsigned(claims: dict[str, Any]) -> str:
    return f"{encoded({'alg': 'none', 'typ': 'JWT'})}.{encoded(claims)}."


def bad_tokens(stack: StackProcess) -> dict[str, str]:
    """Each refusal reason of the authorizer, as a token a client might present."""
    good = token(stack, "mallory")
    claims = jwt.decode(good, options={"verify_signature": False})
    header, payload, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    public = jwt.PyJWK(moto_public_jwk()).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    not_json = base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    return {
        "alg none": unsigned(claims),
        "HS256 with the public key as secret": hs256(claims, pem, moto_signing_key()[1]),
        "unknown kid": jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "not-in-the-jwks"}),
        "expired": signed(claims, exp=now - 600, iat=now - 4200),
        "not yet valid": signed(claims, nbf=now + 600),
        "wrong issuer": signed(claims, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
        "wrong audience": signed(claims, aud="another-app-client"),
        "wrong token_use": signed(claims, token_use="refresh"),
        "flipped signature": f"{header}.{payload}.{flipped}",
        "payload not JSON": f"{header}.{not_json}.{signature}",
        "6 KB of garbage": "x" * 6144,  # (8 KB: the WebSocket server refuses the request line, 414)
    }


def moto_public_jwk() -> dict[str, Any]:
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-public.json.gz").read_bytes()
    (key,) = json.loads(gzip.decompress(packed))["keys"]
    return dict(key)


def test_no_token_is_401_and_connect_never_runs(stack):
    before = functions(stack)["ConnectFunction"]["invocations"]
    assert handshake(stack.url) == 401
    assert handshake(f"{stack.url}?clientId=alice") == 401  # a claimed clientId is no identity
    assert functions(stack)["ConnectFunction"]["invocations"] == before
    assert items(stack) == []


def test_every_bad_token_is_refused_written_nowhere_and_counted(stack):
    before = functions(stack)["ConnectFunction"]["invocations"]
    counted = metric_sum(stack, "ConnectUnauthorized")
    forged = bad_tokens(stack)
    refused = {case: handshake(f"{stack.url}?token={text}") for case, text in forged.items()}
    assert {case: status for case, status in refused.items() if status not in {401, 403}} == {}
    assert functions(stack)["ConnectFunction"]["invocations"] == before  # $connect never ran
    assert items(stack) == []
    wait_for(lambda: metric_sum(stack, "ConnectUnauthorized") >= counted + len(forged), timeout=30)
    assert metric_sum(stack, "ConnectUnauthorized") == counted + len(forged)


def test_the_token_names_the_client_whatever_it_claims(stack):
    alice = token(stack, "alice")
    sub = jwt.decode(alice, options={"verify_signature": False})["sub"]

    async def scenario() -> list[dict[str, Any]]:
        async with connect(f"{stack.url}?token={alice}&clientId=someone-else", ping_interval=None):
            wait_for(lambda: len(items(stack)) == 1, timeout=15)
            return items(stack)  # while the socket is open

    (item,) = asyncio.run(scenario())
    assert item["clientId"] == {"S": sub}
    assert item["authenticated"] == {"BOOL": True}
    wait_for(lambda: items(stack) == [], timeout=15)  # its $disconnect removed it


def test_a_user_closes_only_their_own_older_connection(stack):
    alice, bob = token(stack, "alice"), token(stack, "bob")
    subs = {
        name: jwt.decode(t, options={"verify_signature": False})["sub"]
        for name, t in (("alice", alice), ("bob", bob))
    }

    async def scenario() -> dict[str, Any]:
        older = await connect(f"{stack.url}?token={alice}", ping_interval=None)
        wait_for(lambda: len(items(stack)) == 1, timeout=15)
        stored = items(stack)[0]
        bobs = await connect(f"{stack.url}?token={bob}&clientId={subs['alice']}", ping_interval=None)
        newer = await connect(f"{stack.url}?token={alice}", ping_interval=None)
        # API Gateway closes alice's older socket (@connections DELETE from her second $connect)...
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(older.recv(), 15)
        # ...and only that one: bob's (who claimed alice's id) and alice's newer stay open
        for socket in (bobs, newer):
            await socket.send("ping")
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["message"] == "Forbidden"
        wait_for(lambda: len(items(stack)) == 2, timeout=15)
        owners = sorted(item["clientId"]["S"] for item in items(stack))
        await bobs.close()
        await newer.close()
        return {"first": stored, "owners": owners}

    seen = asyncio.run(scenario())
    assert seen["first"]["clientId"] == {"S": subs["alice"]}
    assert seen["first"]["authenticated"] == {"BOOL": True}
    assert seen["owners"] == sorted([subs["alice"], subs["bob"]])
    wait_for(lambda: items(stack) == [], timeout=15)


def test_no_token_text_anywhere(stack):
    presented = [token(stack, "carol"), *bad_tokens(stack).values()]
    for text in presented:
        handshake(f"{stack.url}?token={text}")
    wait_for(lambda: items(stack) == [], timeout=15)
    logs = aws.client("logs", stack.ready["awsEndpoint"])

    def logged() -> list[str]:
        """Every function's events, once the authorizer's refusals have reached CloudWatch Logs."""
        found = [
            event["message"]
            for group in logs.describe_log_groups()["logGroups"]
            for event in logs.filter_log_events(logGroupName=group["logGroupName"])["events"]
        ]
        return found if sum("token refused" in message for message in found) >= len(presented) - 1 else []

    events = wait_for(logged, timeout=30)  # the functions did log (the shipper sends once a second)
    written = stack.log_path.read_text(encoding="utf-8")
    # a token's signature part is unique to it: found nowhere
    marks = [text.rsplit(".", 1)[-1][:40] or text.split(".")[1][:40] for text in presented]
    marks = [mark for mark in marks if len(mark) >= 20]
    assert marks
    assert [mark for mark in marks if mark in written] == []
    assert [mark for mark in marks if any(mark in event for event in events)] == []
