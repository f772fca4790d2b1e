"""The ``$connect`` authorizer's decision: a REQUEST event's token verified into an Allow policy.

Control access to WebSocket APIs with Lambda REQUEST authorizers:
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
The event carries ``methodArn`` (``arn:aws:execute-api:{region}:{account}:{api}/{stage}/$connect``)
and the identity source, the ``token`` query parameter. The answer is an IAM policy for that
method ARN, ``principalId`` and ``context`` (strings only), which API Gateway hands the ``$connect``
integration as ``requestContext.authorizer``.

How a refusal is answered (API Gateway's semantics for Lambda authorizers):
- a token that is no credential of this issuer (malformed, algorithm, issuer, unknownKey, signature,
  expired) -> the error ``Unauthorized``: 401, the client should get a new token;
- a genuine, current token of the issuer that is not for this application (audience, token_use)
  or lacks the ClientIdClaim -> a Deny policy: 403, a new token of the same kind will not help;
- the issuer's keys cannot be fetched, or the configuration is bad -> any other error: 500.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from connection_tracker.identity import (
    Identity,
    load_auth_settings,
    method_arn,
    policy,
    token_of,
)
from connection_tracker.models import CLIENT_ID_CONTEXT_KEY
from connection_tracker.tokens import KeySet, TokenVerifier, http_fetcher

# API Gateway answers 401 for a Lambda authorizer that fails with exactly this message.
UNAUTHORIZED = "Unauthorized"
# The principal of a Deny policy (nothing of the refused token is repeated back).
REFUSED_PRINCIPAL = "unauthorized"


class Unauthorized(Exception):
    """Raised out of the handler: API Gateway answers 401."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


class AuthorizerFailure(RuntimeError):
    """Raised out of the handler for a server-side failure: API Gateway answers 500."""


@dataclass(frozen=True, slots=True)
class Allowed:
    identity: Identity
    answer: dict[str, object]


@cache
def verifier() -> TokenVerifier:
    """This execution environment's verifier: settings validated once, JWKS cached with it.
    Raises ``ConfigurationError`` (not cached) when the environment is bad."""
    settings = load_auth_settings(os.environ)
    return TokenVerifier(settings, KeySet(settings, http_fetcher(settings.ca_bundle)))


def resource_of(event: object) -> str:
    """The method ARN to answer for; an event without one is not API Gateway's (500)."""
    arn = method_arn(event)
    if arn is None:
        raise AuthorizerFailure("the event has no methodArn: not an API Gateway REQUEST authorizer event")
    return arn


def allow(identity: Identity, resource: str) -> dict[str, object]:
    """The Allow answer: the method ARN only, the client id as principal and as context."""
    return policy(identity.client_id, "Allow", resource, {CLIENT_ID_CONTEXT_KEY: identity.client_id})


def deny(resource: str) -> dict[str, object]:
    return policy(REFUSED_PRINCIPAL, "Deny", resource)


def authorize(event: object, current: TokenVerifier) -> Allowed:
    """Verify the event's token; raise ``TokenRefused`` / ``KeysUnavailable`` / ``AuthorizerFailure``."""
    resource = resource_of(event)
    identity = current.verify(token_of(event))
    return Allowed(identity, allow(identity, resource))
