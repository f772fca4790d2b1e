"""The authorizer's token verification, one rule per test, each with a token built for the case
(keys generated here with cryptography; the issuer's JWKS served by a fake fetcher: no network)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from connection_tracker.identity import AuthMode, AuthSettings, KeysUnavailable, Reason, TokenRefused
from connection_tracker.tokens import REFETCH_INTERVAL_SECONDS, FetchError, KeySet, TokenVerifier

REGION = "eu-west-1"
POOL = "eu-west-1_AbCdEf123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
APP_CLIENT = "4ab8ivtenhhpmt0alv5vq1bc7o"
SUB = "0b5c2f1e-8a41-4e5f-9d4b-1f6f0c3e2a77"
OIDC_ISSUER = "https://login.example.com/tenant"
OIDC_JWKS = "https://login.example.com/tenant/keys"


class Keys:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self, *, rotated: bool = False) -> bytes:
        keys = [
            {
                **json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())),
                "kid": "rsa-1",
                "alg": "RS256",
                "use": "sig",
            },
            {
                **json.loads(ECAlgorithm.to_jwk(self.ec.public_key())),
                "kid": "ec-1",
                "alg": "ES256",
                "use": "sig",
            },
        ]
        if rotated:
            keys.append(
                {**json.loads(RSAAlgorithm.to_jwk(self.rotated.public_key())), "kid": "rsa-2", "alg": "RS256"}
            )
        return json.dumps({"keys": keys}).encode()


class FakeFetcher:
    """The issuer's documents by URL; every fetch recorded."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        self.documents = documents
        self.fetched: list[str] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.fetched.append(url)
        assert 0 < timeout <= 2.0
        if url not in self.documents:
            raise FetchError(f"{url}: 404")
        return self.documents[url]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def cognito_settings(**changes: str) -> AuthSettings:
    return AuthSettings.model_validate(
        {"AUTH_MODE": "cognito", "AUTH_ISSUER": ISSUER, "AUTH_AUDIENCE": APP_CLIENT, **changes}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetcher(keys: Keys) -> FakeFetcher:
    return FakeFetcher({f"{ISSUER}/.well-known/jwks.json": keys.jwks()})


@pytest.fixture
def verifier(fetcher: FakeFetcher, clock: Clock) -> TokenVerifier:
    settings = cognito_settings()
    return TokenVerifier(settings, KeySet(settings, fetcher, clock=clock))


def claims(token_use: str = "id", **changes: Any) -> dict[str, Any]:  # noqa: S107 - a kind of token
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": SUB,
        "iss": ISSUER,
        "token_use": token_use,
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "cognito:username": "ada",
    }
    base["aud" if token_use == "id" else "client_id"] = APP_CLIENT
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(
    keys: Keys, payload: dict[str, Any], *, kid: str = "rsa-1", key: Any = None, alg: str = "RS256"
) -> str:
    return jwt.encode(payload, key or keys.rsa, algorithm=alg, headers={"kid": kid})


def refused(verifier: TokenVerifier, token: object) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(token)
    return caught.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ----- accepted ------------------------------------------------------------------------------------
def test_a_valid_id_token_gives_its_sub(verifier, keys, fetcher):
    identity = verifier.verify(signed(keys, claims("id")))
    assert (identity.client_id, identity.token_use) == (SUB, "id")
    assert fetcher.fetched == [f"{ISSUER}/.well-known/jwks.json"]


def test_a_valid_access_token_gives_its_sub(verifier, keys):
    identity = verifier.verify(signed(keys, claims("access")))
    assert (identity.client_id, identity.token_use) == (SUB, "access")


def test_an_es256_token_is_accepted_and_the_keys_are_fetched_once(verifier, keys, fetcher):
    verifier.verify(signed(keys, claims(), kid="ec-1", key=keys.ec, alg="ES256"))
    verifier.verify(signed(keys, claims()))
    assert len(fetcher.fetched) == 1  # cached in the execution environment


def test_the_client_id_claim_is_configurable(keys, fetcher, clock):
    settings = cognito_settings(CLIENT_ID_CLAIM="cognito:username")
    verifier = TokenVerifier(settings, KeySet(settings, fetcher, clock=clock))
    assert verifier.verify(signed(keys, claims())).client_id == "ada"


def test_a_token_within_the_skew_is_accepted(verifier, keys):
    now = int(time.time())
    assert verifier.verify(signed(keys, claims(exp=now - 30, nbf=now + 30))).client_id == SUB


# ----- algorithm -----------------------------------------------------------------------------------
def test_alg_none_is_refused(verifier, keys, fetcher):
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}.{b64(b'x')}"
    assert refused(verifier, token).reason is Reason.ALGORITHM
    unsigned = f"{header}.{b64(json.dumps(claims()).encode())}."
    assert refused(verifier, unsigned).reason is Reason.MALFORMED  # no signature segment at all
    assert fetcher.fetched == []


def test_hs256_signed_with_the_public_key_as_secret_is_refused(verifier, keys, fetcher):
    public_pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    signature = b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    assert refused(verifier, f"{header}.{body}.{signature}").reason is Reason.ALGORITHM
    assert fetcher.fetched == []


def test_a_token_claiming_another_algorithm_than_its_key_is_refused(verifier, keys):
    # signed with the EC key but naming the RSA key's kid
    token = signed(keys, claims(), kid="rsa-1", key=keys.ec, alg="ES256")
    assert refused(verifier, token).reason is Reason.ALGORITHM


# ----- keys ----------------------------------------------------------------------------------------
def test_an_unknown_kid_refetches_once_then_is_refused_and_a_second_within_the_minute_fetches_nothing(
    verifier, keys, fetcher, clock
):
    verifier.verify(signed(keys, claims()))  # the keys are cached
    assert len(fetcher.fetched) == 1
    clock.now += REFETCH_INTERVAL_SECONDS  # a minute on: an unknown kid may fetch once
    assert refused(verifier, signed(keys, claims(), kid="nobody-1")).reason is Reason.UNKNOWN_KEY
    assert len(fetcher.fetched) == 2
    clock.now += 10
    assert refused(verifier, signed(keys, claims(), kid="nobody-2")).reason is Reason.UNKNOWN_KEY
    assert len(fetcher.fetched) == 2  # refused without a fetch


def test_a_key_rotated_in_is_found_by_the_refetch(verifier, keys, fetcher, clock):
    verifier.verify(signed(keys, claims()))
    fetcher.documents[f"{ISSUER}/.well-known/jwks.json"] = keys.jwks(rotated=True)
    clock.now += REFETCH_INTERVAL_SECONDS
    assert verifier.verify(signed(keys, claims(), kid="rsa-2", key=keys.rotated)).client_id == SUB


def test_the_jwks_out_of_reach_is_a_server_failure_not_a_refusal(keys, clock):
    settings = cognito_settings()
    down = TokenVerifier(settings, KeySet(settings, FakeFetcher({}), clock=clock))
    with pytest.raises(KeysUnavailable):
        down.verify(signed(keys, claims()))


def test_the_emulated_cognito_serves_the_jwks_where_aws_endpoint_url_points(keys, clock):
    settings = cognito_settings(AWS_ENDPOINT_URL="http://127.0.0.1:4566/")
    local = FakeFetcher({f"http://127.0.0.1:4566/{POOL}/.well-known/jwks.json": keys.jwks()})
    verifier = TokenVerifier(settings, KeySet(settings, local, clock=clock))
    assert verifier.verify(signed(keys, claims())).client_id == SUB
    assert local.fetched == [f"http://127.0.0.1:4566/{POOL}/.well-known/jwks.json"]


def test_oidc_keys_come_from_the_discovery_document(keys, clock):
    settings = AuthSettings.model_validate(
        {"AUTH_MODE": "oidc", "AUTH_ISSUER": OIDC_ISSUER, "AUTH_AUDIENCE": "api://tracker"}
    )
    discovery = json.dumps({"issuer": OIDC_ISSUER, "jwks_uri": OIDC_JWKS}).encode()
    fetcher = FakeFetcher(
        {f"{OIDC_ISSUER}/.well-known/openid-configuration": discovery, OIDC_JWKS: keys.jwks()}
    )
    verifier = TokenVerifier(settings, KeySet(settings, fetcher, clock=clock))
    payload = {"sub": "user-7", "iss": OIDC_ISSUER, "aud": "api://tracker", "exp": int(time.time()) + 60}
    assert verifier.verify(signed(keys, payload)).client_id == "user-7"
    assert refused(verifier, signed(keys, {**payload, "aud": "api://other"})).reason is Reason.AUDIENCE
    assert fetcher.fetched == [f"{OIDC_ISSUER}/.well-known/openid-configuration", OIDC_JWKS]


# ----- time ----------------------------------------------------------------------------------------
def test_an_expired_token_is_refused(verifier, keys):
    token = signed(keys, claims(exp=int(time.time()) - 3600))
    assert refused(verifier, token).reason is Reason.EXPIRED


def test_a_token_not_yet_valid_is_refused(verifier, keys):
    token = signed(keys, claims(nbf=int(time.time()) + 3600))
    assert refused(verifier, token).reason is Reason.EXPIRED


def test_a_token_expired_just_beyond_the_skew_is_refused(verifier, keys):
    token = signed(keys, claims(exp=int(time.time()) - 61))
    assert refused(verifier, token).reason is Reason.EXPIRED


def test_a_token_without_exp_is_refused(verifier, keys):
    assert refused(verifier, signed(keys, claims(exp=None))).reason is Reason.MALFORMED


# ----- issuer, audience ----------------------------------------------------------------------------
def test_another_issuer_is_refused_before_any_key_is_fetched(verifier, keys, fetcher):
    token = signed(keys, claims(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other999"))
    assert refused(verifier, token).reason is Reason.ISSUER
    assert fetcher.fetched == []


def test_an_id_token_for_another_app_client_is_denied(verifier, keys):
    answer = refused(verifier, signed(keys, claims("id", aud="another-client")))
    assert (answer.reason, answer.deny) == (Reason.AUDIENCE, True)


def test_an_access_token_for_another_app_client_is_denied(verifier, keys):
    answer = refused(verifier, signed(keys, claims("access", client_id="another-client")))
    assert (answer.reason, answer.deny) == (Reason.AUDIENCE, True)


@pytest.mark.parametrize("token_use", ["refresh", None])
def test_a_wrong_token_use_is_refused(verifier, keys, token_use):
    payload = claims("id")
    payload.pop("token_use")
    if token_use:
        payload["token_use"] = token_use
    assert refused(verifier, signed(keys, payload)).reason is Reason.AUDIENCE


# ----- signature and shape -------------------------------------------------------------------------
def test_a_flipped_signature_byte_is_refused(verifier, keys):
    header, body, signature = signed(keys, claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    assert refused(verifier, f"{header}.{body}.{b64(bytes(raw))}").reason is Reason.SIGNATURE


def test_a_payload_that_is_not_json_is_refused(verifier, keys):
    header = b64(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode())
    body = b64(b"this is not json")
    signature = b64(b"\0" * 256)
    assert refused(verifier, f"{header}.{body}.{signature}").reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "token",
    [
        "A" * 8192,  # 8 KB of garbage
        "x.y",
        "",
        None,
        "a.b.c.d",
        "aGVsbG8.d29ybGQ.!!!",
        "Bearer " + "a.b.c",
    ],
)
def test_garbage_is_malformed(verifier, token, fetcher):
    assert refused(verifier, token).reason is Reason.MALFORMED
    assert fetcher.fetched == []


def test_a_token_over_the_length_limit_is_refused_unread(verifier, keys, fetcher):
    token = signed(keys, claims(padding="p" * 12_000))
    assert refused(verifier, token).reason is Reason.MALFORMED
    assert fetcher.fetched == []


# ----- the identity ---------------------------------------------------------------------------------
def test_a_missing_client_id_claim_is_denied(verifier, keys):
    answer = refused(verifier, signed(keys, claims(sub=None)))
    assert (answer.reason, answer.deny) == (Reason.MALFORMED, True)


def test_a_claim_that_is_no_valid_client_id_is_denied(verifier, keys):
    answer = refused(verifier, signed(keys, claims(sub="auth0|has a space")))
    assert (answer.reason, answer.deny) == (Reason.MALFORMED, True)


def test_the_refusal_never_repeats_the_token(verifier, keys):
    token = signed(keys, claims(exp=int(time.time()) - 3600))
    answer = refused(verifier, token)
    for part in token.split("."):
        assert part not in str(answer)
        assert part not in answer.detail


# ----- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"AUTH_MODE": "cognito", "AUTH_ISSUER": "https://idp.example.com", "AUTH_AUDIENCE": "x"}, "Cognito"),
        ({"AUTH_MODE": "oidc", "AUTH_ISSUER": "http://idp.example.com", "AUTH_AUDIENCE": "x"}, "https"),
        (
            {"AUTH_MODE": "oidc", "AUTH_ISSUER": "https://idp.example.com", "AUTH_AUDIENCE": ""},
            "AUTH_AUDIENCE",
        ),
        ({"AUTH_MODE": "none", "AUTH_ISSUER": "https://idp.example.com", "AUTH_AUDIENCE": "x"}, "none"),
        ({"AUTH_ISSUER": "https://idp.example.com", "AUTH_AUDIENCE": "x"}, "AUTH_MODE"),
    ],
)
def test_bad_settings_name_the_variable(environment, named):
    from connection_tracker.identity import load_auth_settings
    from connection_tracker.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match=named):
        load_auth_settings(environment)


def test_settings_modes():
    assert cognito_settings().mode is AuthMode.COGNITO
    assert cognito_settings().jwks_url() == f"{ISSUER}/.well-known/jwks.json"


# ----- the time budget ---------------------------------------------------------------------------------
class HangingIssuer:
    """An issuer that never answers: each fetch uses all the time it is given (on a fake clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.given: list[float] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.given.append(timeout)
        self.clock.now += timeout
        raise FetchError(f"{url}: timed out")


def test_fetches_end_before_the_invocations_deadline_less_the_margin(keys, monkeypatch):
    from connection_tracker import budget
    from sam_template.handlers import LambdaContext

    clock = Clock()
    monkeypatch.setattr(budget, "clock", clock)
    settings = AuthSettings.model_validate(
        {"AUTH_MODE": "oidc", "AUTH_ISSUER": OIDC_ISSUER, "AUTH_AUDIENCE": "api://tracker"}
    )
    hanging = HangingIssuer(clock)
    verifier = TokenVerifier(settings, KeySet(settings, hanging, clock=clock))
    payload = {"sub": "u", "iss": OIDC_ISSUER, "aud": "api://tracker", "exp": int(time.time()) + 60}
    budget.start(LambdaContext(function_name="AuthorizerFunction", remaining_ms=5_000))
    deadline = clock.now + 5.0
    try:
        for _ in range(3):  # the discovery document hangs on every connect: each is answered in time
            with pytest.raises(KeysUnavailable):
                verifier.verify(signed(keys, payload))
        assert clock.now <= deadline - budget.current().margin
        assert all(0 < given <= 2.0 for given in hanging.given)
        clock.now = deadline - budget.current().margin  # no time left: no fetch is started
        started = len(hanging.given)
        with pytest.raises(KeysUnavailable, match="no time left"):
            verifier.verify(signed(keys, payload))
        assert len(hanging.given) == started
    finally:
        budget.end()


def test_an_issuer_ending_with_a_slash_is_matched_exactly(keys, clock):
    issuer = "https://tenant.eu.auth0.example.com/"  # as Auth0 writes its tokens' iss
    settings = AuthSettings.model_validate(
        {"AUTH_MODE": "oidc", "AUTH_ISSUER": issuer, "AUTH_AUDIENCE": "api"}
    )
    discovery = json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}.well-known/jwks.json"}).encode()
    fetcher = FakeFetcher(
        {
            f"{issuer}.well-known/openid-configuration": discovery,
            f"{issuer}.well-known/jwks.json": keys.jwks(),
        }
    )
    verifier = TokenVerifier(settings, KeySet(settings, fetcher, clock=clock))
    payload = {"sub": "user-7", "iss": issuer, "aud": "api", "exp": int(time.time()) + 60}
    assert verifier.verify(signed(keys, payload)).client_id == "user-7"
    without_slash = {**payload, "iss": issuer.rstrip("/")}
    assert refused(verifier, signed(keys, without_slash)).reason is Reason.ISSUER
