"""JSON Web Token verification for the authorizer (PyJWT with ``cryptography``).

Checks, in order, each refusal naming its :class:`~connection_tracker.identity.Reason`:

1. the token's shape (three base64url segments, at most ``MAX_TOKEN_LENGTH``) -> ``malformed``;
2. the header's ``alg``: RS256 or ES256 only (``none``, HS256 ...) -> ``algorithm``;
3. ``iss`` (read before any key is fetched: a foreign token never makes us fetch) -> ``issuer``;
4. the key with the header's ``kid`` in the issuer's JWKS -> ``unknownKey``; the JWKS is cached in
   the execution environment and fetched again for an unknown kid at most once a minute;
   the key's algorithm must be the header's -> ``algorithm``;
5. the signature -> ``signature``; ``exp`` (required), ``nbf``, ``iat`` with 60 s of skew ->
   ``expired``; OIDC ``aud`` -> ``audience``;
6. Cognito: ``token_use`` ``id`` (``aud`` = the app client) or ``access`` (``client_id`` = the app
   client) -> ``audience``;
7. the ClientIdClaim: a string that is a valid clientId -> ``malformed`` (a Deny: 403).

Keys come from ``{issuer}/.well-known/jwks.json`` for Cognito (from ``AWS_ENDPOINT_URL`` where it
is set: the emulated Cognito), and from the discovery document's ``jwks_uri`` for OpenID Connect
("OpenID Connect Discovery 1.0", section 4). Every fetch is bounded by the invocation's deadline
(``connection_tracker.budget``). Nothing here logs: refusals are raised with fixed phrases, and
the token's text never appears in one.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.request
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from pydantic import TypeAdapter, ValidationError

from connection_tracker import budget
from connection_tracker.identity import (
    ALGORITHMS,
    CLOCK_SKEW_SECONDS,
    MAX_TOKEN_LENGTH,
    AuthMode,
    Identity,
    KeysUnavailable,
    Reason,
    TokenRefused,
)
from connection_tracker.models import ClientId

if TYPE_CHECKING:
    from collections.abc import Callable

    from connection_tracker.identity import AuthSettings

# An unknown kid makes the JWKS be fetched again at most this often (seconds): a key rotated in
# is found within a minute, and a flood of made-up kids costs the issuer one request a minute.
REFETCH_INTERVAL_SECONDS = 60.0
# What one fetch may take at most: the issuers answer in milliseconds.
FETCH_TIMEOUT_SECONDS = 2.0
# A fetch is not started with less room than this before the invocation's margin.
MIN_FETCH_SECONDS = 0.1
MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or a discovery document larger than 1 MiB is refused
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")
_client_id = TypeAdapter(ClientId)
# Cognito's token_use claim: which of its tokens this is (not secrets: the names of kinds of token)
ID_TOKEN, ACCESS_TOKEN = "id", "access"


class FetchError(Exception):
    """A document could not be fetched (network, status, size)."""


class Fetch(Protocol):
    def __call__(self, url: str, timeout: float) -> bytes:
        """The body of ``url``; raise :class:`FetchError`."""


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """TLS verified as usual; with ``AWS_CA_BUNDLE`` (the SDKs' override, set by the local stack for
    its own endpoints) that bundle is trusted too."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def http_fetcher(ca_bundle: str | None = None) -> Fetch:
    """A :class:`Fetch` over HTTP(S) with the standard library (no dependency for one GET).

    ``timeout`` is what the whole fetch may take: each socket operation (connect, TLS handshake,
    each read) waits at most a quarter of it, and the body is read in chunks until half of it has
    passed, so a server that answers byte by byte cannot hold the authorizer past its deadline."""
    context = _ssl_context(ca_bundle)

    def fetch(url: str, timeout: float) -> bytes:
        if not url.startswith(("https://", "http://")):
            raise FetchError(f"not an http(s) URL: {url[:200]}")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - checked above
        stop = time.monotonic() + timeout / 2
        chunks: list[bytes] = []
        size = 0
        try:
            with urllib.request.urlopen(request, timeout=timeout / 4, context=context) as answer:  # noqa: S310
                while chunk := answer.read1(65_536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_DOCUMENT_BYTES:
                        raise FetchError(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
                    if time.monotonic() > stop:
                        raise FetchError(f"{url}: too slow, not read within {timeout / 2:.2f} s")
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, TLS are OSErrors
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        return b"".join(chunks)

    return fetch


def fetch_timeout() -> float:
    """What the next fetch may take in all: at most ``FETCH_TIMEOUT_SECONDS``, and half the time
    left before the invocation's margin (OIDC's first fetch is the discovery document, then the
    JWKS), so the authorizer answers before Lambda's deadline. Raises :class:`KeysUnavailable`
    without room."""
    left = budget.time_left()
    if left is None:  # outside an invocation (tools, tests calling the verifier directly)
        return FETCH_TIMEOUT_SECONDS
    room = left - budget.current().margin
    if room < MIN_FETCH_SECONDS:
        raise KeysUnavailable(f"no time left to fetch the issuer's keys ({max(room, 0):.2f} s)")
    return min(FETCH_TIMEOUT_SECONDS, room / 2)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise KeysUnavailable(f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise KeysUnavailable(f"the {what} is not a JSON object")
    return document


class KeySet:
    """The issuer's signing keys by kid, cached for the execution environment's life."""

    def __init__(
        self,
        settings: AuthSettings,
        fetch: Fetch,
        clock: Callable[[], float] = time.monotonic,
        timeout: Callable[[], float] = fetch_timeout,
    ) -> None:
        self._settings = settings
        self._fetch = fetch
        self._clock = clock
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_url = settings.jwks_url()
        self._last_fetch: float | None = None
        self.fetches = 0  # JWKS fetches attempted (discovery documents not counted)

    def key(self, kid: str) -> jwt.PyJWK:
        """The key with this kid; refetched once when unknown (at most once a minute)."""
        if kid in self._keys:
            return self._keys[kid]
        if self._last_fetch is None or self._clock() - self._last_fetch >= REFETCH_INTERVAL_SECONDS:
            self._refresh()
        if kid not in self._keys:
            raise TokenRefused(Reason.UNKNOWN_KEY, "no key of the issuer's JWKS has the token's kid")
        return self._keys[kid]

    def _refresh(self) -> None:
        # A failed fetch is tried again on the next token (without keys nothing can be verified);
        # a successful one starts the minute before the next.
        url = self._jwks_url or self._discover()
        try:
            body = self._fetch(url, self._timeout())
        except FetchError as exc:
            raise KeysUnavailable(f"JWKS: {exc}") from None
        finally:
            self.fetches += 1
        document = _json_object(body, "JWKS")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise KeysUnavailable("the JWKS has no keys list")
        found: dict[str, jwt.PyJWK] = {}
        for entry in keys:
            # keys for other uses ("enc") or algorithms we do not accept are left out
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
            if key.algorithm_name in ALGORITHMS:
                found[entry["kid"]] = key
        self._last_fetch = self._clock()
        self._keys = found  # keys removed at the issuer (rotated out) are forgotten here too

    def _discover(self) -> str:
        """The provider's ``jwks_uri`` from its discovery document (fetched once, then kept)."""
        try:
            body = self._fetch(self._settings.discovery_url(), self._timeout())
        except FetchError as exc:
            raise KeysUnavailable(f"discovery document: {exc}") from None
        document = _json_object(body, "discovery document")
        # "the issuer value returned MUST be identical to the Issuer URL" (OIDC Discovery 1.0, 4.3)
        if document.get("issuer") != self._settings.issuer:
            raise KeysUnavailable("the discovery document names another issuer")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise KeysUnavailable("the discovery document has no jwks_uri")
        self._jwks_url = uri
        return uri


def _segments_ok(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(part and _SEGMENT.match(part) for part in parts)


class TokenVerifier:
    """Verifies tokens of one issuer (:class:`AuthSettings`) against its keys (:class:`KeySet`)."""

    def __init__(self, settings: AuthSettings, keys: KeySet) -> None:
        self.settings = settings
        self.keys = keys

    def verify(self, token: object) -> Identity:
        """The identity a token proves; raise :class:`TokenRefused` (or :class:`KeysUnavailable`)."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _segments_ok(token):
            raise TokenRefused(Reason.MALFORMED, "not a signed JWT (three base64url segments)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused(Reason.MALFORMED, "the header is not a JSON object") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(Reason.ALGORITHM, "alg is not RS256 or ES256")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused(Reason.MALFORMED, "the payload is not a JSON object") from None
        if unverified.get("iss") != self.settings.issuer:
            raise TokenRefused(Reason.ISSUER, "iss is not the configured issuer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused(Reason.UNKNOWN_KEY, "the header has no kid")
        key = self.keys.key(kid)
        if key.algorithm_name != algorithm:
            raise TokenRefused(Reason.ALGORITHM, "alg is not the algorithm of the key with this kid")
        claims = self._decode(token, key, str(algorithm))
        token_use = self._cognito_audience(claims) if self.settings.mode is AuthMode.COGNITO else None
        client_id = claims.get(self.settings.client_id_claim)
        try:
            client_id = _client_id.validate_python(client_id)
        except ValidationError:
            raise TokenRefused(
                Reason.MALFORMED, "the ClientIdClaim is missing or not a valid clientId", deny=True
            ) from None
        return Identity(client_id=client_id, token_use=token_use)

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        oidc = self.settings.mode is AuthMode.OIDC
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.settings.issuer,
                audience=self.settings.audience if oidc else None,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss"], "verify_aud": oidc},
            )
        except jwt.InvalidSignatureError:
            raise TokenRefused(Reason.SIGNATURE, "the signature does not verify") from None
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise TokenRefused(Reason.EXPIRED, "outside its validity (exp, nbf, iat) beyond 60 s") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(Reason.ISSUER, "iss is not the configured issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(Reason.AUDIENCE, "aud is not the configured audience") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused(Reason.ALGORITHM, "alg is not allowed") from None
        except jwt.MissingRequiredClaimError as missing:
            if missing.claim == "aud":
                raise TokenRefused(Reason.AUDIENCE, "the token has no aud") from None
            raise TokenRefused(Reason.MALFORMED, "a required claim (exp, iss) is missing") from None
        except jwt.PyJWTError:
            raise TokenRefused(Reason.MALFORMED, "the token cannot be read") from None
        return claims

    def _cognito_audience(self, claims: dict[str, Any]) -> str:
        """Cognito's tokens: an ID token's ``aud`` or an access token's ``client_id`` is the app client
        ("Verifying a JSON Web Token", Amazon Cognito developer guide:
        https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html)."""
        token_use = claims.get("token_use")
        if token_use == ID_TOKEN:
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if self.settings.audience not in audiences:
                raise TokenRefused(Reason.AUDIENCE, "aud is not the app client")
        elif token_use == ACCESS_TOKEN:
            if claims.get("client_id") != self.settings.audience:
                raise TokenRefused(Reason.AUDIENCE, "client_id is not the app client")
        else:
            raise TokenRefused(Reason.AUDIENCE, "token_use is neither id nor access")
        return str(token_use)
