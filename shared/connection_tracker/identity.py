"""Who a client is: the authorizer's configuration, its answers to API Gateway, and the reasons a
token is refused (docs/operations.md, "Security"; DESIGN "Identity").

Imports no JWT library: ``$connect`` and the tests read these names without paying for PyJWT; the
verification itself is ``connection_tracker.tokens`` (the authorizer's own dependency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connection_tracker.settings import validated

if TYPE_CHECKING:
    from collections.abc import Mapping

# The identity source of the template's authorizer (route.request.querystring.token).
TOKEN_PARAMETER = "token"  # noqa: S105 - the parameter's name, not a secret
# Clock skew allowed on exp / nbf / iat (seconds).
CLOCK_SKEW_SECONDS = 60
# The only signature algorithms accepted: asymmetric, what Cognito (RS256) and OIDC providers sign with.
ALGORITHMS = ("RS256", "ES256")
# A token longer than this is refused unread (Cognito's tokens are 1-4 KB; query strings are bounded).
MAX_TOKEN_LENGTH = 10_000
# Cognito's issuer: https://cognito-idp.{region}.amazonaws.com/{userPoolId}
_COGNITO_ISSUER = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/([\w-]+_[0-9A-Za-z]+)$")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class AuthMode(StrEnum):
    NONE = "none"
    COGNITO = "cognito"
    OIDC = "oidc"


class Reason(StrEnum):
    """Why a token was refused: the ``reason`` of the authorizer's one log line."""

    EXPIRED = "expired"  # exp passed, or nbf / iat in the future, beyond the skew
    SIGNATURE = "signature"  # the signature does not verify with the issuer's key
    ISSUER = "issuer"  # iss is not the configured issuer
    AUDIENCE = "audience"  # aud / Cognito client_id is another application's, or token_use is wrong
    ALGORITHM = "algorithm"  # alg is not RS256 / ES256 (none, HS256 ...) or not the key's
    MALFORMED = "malformed"  # not a JWT, not JSON, a claim missing (exp, iss, ClientIdClaim) or unusable
    UNKNOWN_KEY = "unknownKey"  # no key of the issuer's JWKS has the token's kid (after one refetch)


# Reasons answered with a Deny policy (403): the token is genuine and current, signed by the
# issuer, but not for this application (or without the identity it needs). Every other reason is
# API Gateway's 401 ("Unauthorized"): get a new token. See docs/operations.md, "Security".
DENIED_REASONS = frozenset({Reason.AUDIENCE})


class TokenRefused(Exception):
    """A token that is not accepted. ``detail`` is a fixed phrase (never text of the token);
    ``deny``: answer with a Deny policy (403) rather than 401."""

    def __init__(self, reason: Reason, detail: str, *, deny: bool | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.deny = reason in DENIED_REASONS if deny is None else deny


class KeysUnavailable(Exception):
    """The issuer's keys (discovery document or JWKS) could not be fetched in time: a server-side
    failure (API Gateway answers 500), not the client's."""


class AuthSettings(BaseModel):
    """The authorizer's environment, validated once per execution environment."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    mode: AuthMode = Field(alias="AUTH_MODE")
    issuer: str = Field(alias="AUTH_ISSUER", min_length=1, max_length=2048)
    # Cognito: the app client id (aud of ID tokens, client_id of access tokens); OIDC: the aud expected
    audience: str = Field(alias="AUTH_AUDIENCE", min_length=1, max_length=2048)
    client_id_claim: str = Field(default="sub", alias="CLIENT_ID_CLAIM", min_length=1, max_length=256)
    # the SDKs' endpoint override (the local stack sets it): Cognito's JWKS is fetched from there
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    ca_bundle: str | None = Field(default=None, alias="AWS_CA_BUNDLE")

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS  # a development provider
        if not (parts.scheme == "https" or local) or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r} is not an https URL of a token issuer")
        return value  # compared with the tokens' iss exactly: some providers end it with "/"

    @field_validator("endpoint_url", "ca_bundle", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _mode(self) -> AuthSettings:
        if self.mode is AuthMode.NONE:
            raise ValueError("AUTH_MODE is none: the authorizer is deployed only with cognito or oidc")
        if self.mode is AuthMode.COGNITO and not _COGNITO_ISSUER.match(self.issuer):
            raise ValueError(
                f"AUTH_ISSUER {self.issuer!r} is not a Cognito user pool's issuer "
                "(https://cognito-idp.{region}.amazonaws.com/{userPoolId})"
            )
        return self

    @property
    def user_pool_id(self) -> str | None:
        matched = _COGNITO_ISSUER.match(self.issuer) if self.mode is AuthMode.COGNITO else None
        return matched.group(1) if matched else None

    def jwks_url(self) -> str | None:
        """Where the keys are for Cognito (``None`` for OIDC: the discovery document says)."""
        pool = self.user_pool_id
        if pool is None:
            return None
        if self.endpoint_url:  # the emulated Cognito serves /{poolId}/.well-known/jwks.json
            return f"{self.endpoint_url.rstrip('/')}/{pool}/.well-known/jwks.json"
        return f"{self.issuer.rstrip('/')}/.well-known/jwks.json"

    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


def load_auth_settings(environ: Mapping[str, str]) -> AuthSettings:
    """Validate the authorizer's environment; raise :class:`ConfigurationError` naming each bad variable."""
    return validated(AuthSettings, environ, whole="AUTH_MODE")


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified token's holder: the ClientIdClaim's value and the kind of token."""

    client_id: str
    token_use: str | None = None  # Cognito's "id" / "access"; None for OIDC


def token_of(event: object) -> str | None:
    """The token of a REQUEST authorizer event (its ``token`` query parameter), or ``None``."""
    params = event.get("queryStringParameters") if isinstance(event, dict) else None
    token = params.get(TOKEN_PARAMETER) if isinstance(params, dict) else None
    return token if isinstance(token, str) and token else None


def method_arn(event: object) -> str | None:
    """The ``methodArn`` the policy is for (``arn:aws:execute-api:...:{api}/{stage}/$connect``)."""
    arn = event.get("methodArn") if isinstance(event, dict) else None
    return arn if isinstance(arn, str) and arn.startswith("arn:") else None


def policy(
    principal_id: str, effect: str, resource: str, context: Mapping[str, str] | None = None
) -> dict[str, object]:
    """A Lambda authorizer's answer: an IAM policy for ``execute-api:Invoke`` on the method ARN,
    with the principal and (Allow) the context API Gateway hands the integration
    (``requestContext.authorizer``; its values are strings, numbers or booleans: here strings).
    "Output from an API Gateway Lambda authorizer":
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
    """
    answer: dict[str, object] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = {key: str(value) for key, value in context.items()}
    return answer
