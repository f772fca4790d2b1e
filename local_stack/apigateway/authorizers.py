"""Lambda REQUEST authorizers on ``$connect``, run as API Gateway runs them for WebSocket APIs.

API Gateway Developer Guide, "Control access to WebSocket APIs with AWS Lambda REQUEST
authorizers" (apigateway-websocket-api-lambda-auth): a Lambda authorizer runs on ``$connect`` only;
its event is ``type: REQUEST`` with ``methodArn``
``arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/$connect``, the handshake's ``headers``,
``multiValueHeaders``, ``queryStringParameters``, ``multiValueQueryStringParameters``,
``stageVariables`` and the WebSocket ``requestContext``. Its answer ("Output from an API Gateway
Lambda authorizer", api-gateway-lambda-authorizer-output) is a ``principalId``, a
``policyDocument`` evaluated against the method ARN, and an optional ``context`` map handed to the
integration with the ``principalId`` as ``requestContext.authorizer``.

Outcomes, as "Gateway response types for API Gateway" (supported-gateway-response-types) names
them: an identity source missing or empty → 401 ``UNAUTHORIZED`` without invoking the function; a
policy that does not allow the method → 403 ``ACCESS_DENIED``; the function failing, timing out or
answering something that is not an authorizer output → 500 (``AUTHORIZER_FAILURE`` /
``AUTHORIZER_CONFIGURATION_ERROR``).

Not emulated, because WebSocket APIs do not have it: result caching. ``AuthorizerResultTtlInSeconds``
is "Supported only for HTTP API Lambda authorizers" (ApiGatewayV2 ``Authorizer`` reference), so a
WebSocket authorizer runs on every ``$connect``.
"""

from __future__ import annotations

import copy
import functools
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local_stack.awslambda.environments import FunctionError
from sam_template.websocket import authorizer_function, connect_authorization

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sam_template.model import Template

    Invoke = Callable[[str, dict[str, Any]], Awaitable[Any]]


class MalformedResponse(ValueError):
    """The authorizer answered something that is not an authorizer output."""


@dataclass(frozen=True)
class Verdict:
    """What API Gateway does with the handshake: ``status`` None lets it through to ``$connect``
    with ``authorizer`` as ``requestContext.authorizer``; otherwise the handshake is refused."""

    status: int | None
    body: str = ""
    authorizer: dict[str, Any] = field(default_factory=dict)


UNAUTHORIZED = Verdict(401, '{"message":"Unauthorized"}')
FORBIDDEN = Verdict(403, '{"message":"Forbidden"}')
FAILED = Verdict(500, '{"message":"Internal server error"}')


# ----- identity sources ---------------------------------------------------------------------------
# AWS::ApiGatewayV2::Authorizer, IdentitySource: for WebSocket APIs "route.request.header.Auth,
# route.request.querystring.Name"; also stage variables ("stageVariables.Name") and context
# variables ("context.Name"), as the API Gateway V2 Authorizer reference lists them.
_SOURCE = re.compile(r"^(route\.request\.header|route\.request\.querystring|stageVariables|context)\.(.+)$")


def check_identity_sources(sources: list[str]) -> None:
    """Raise ValueError naming an identity source API Gateway would not accept."""
    for source in sources:
        if not _SOURCE.match(source):
            raise ValueError(
                f"identity source {source!r} is not one of route.request.header.X, "
                "route.request.querystring.X, stageVariables.X, context.X"
            )


def identity_value(source: str, event: dict[str, Any]) -> str | None:
    """The value an identity source selects in the authorizer's event; None when absent.
    Header names are matched case-insensitively (HTTP header names are), query string names and
    stage variables exactly; ``context.a.b`` walks ``requestContext``."""
    match = _SOURCE.match(source)
    if match is None:
        return None
    kind, name = match.groups()
    value: Any
    if kind == "route.request.header":
        headers = event.get("headers") or {}
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    elif kind == "route.request.querystring":
        value = (event.get("queryStringParameters") or {}).get(name)
    elif kind == "stageVariables":
        value = (event.get("stageVariables") or {}).get(name)
    else:
        value = event.get("requestContext") or {}
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return None if value is None else str(value)


def missing_identity(sources: list[str], event: dict[str, Any]) -> bool:
    """True when any identity source is absent or empty: API Gateway answers 401 without invoking
    the authorizer ("For Lambda authorizers based on request parameters, 401 Unauthorized errors
    usually occur when the configured identity sources are missing, null, empty, or not valid":
    AWS Knowledge Center, api-gateway-401-error-lambda-authorizer)."""
    return any(not identity_value(source, event) for source in sources)


# ----- the event ----------------------------------------------------------------------------------
def method_arn(region: str, account: str, api_id: str, stage: str) -> str:
    """``arn:aws:execute-api:{region}:{account-id}:{api-id}/{stage-name}/$connect``
    (apigateway-websocket-api-lambda-auth: the methodArn of ``$connect`` has no HTTP method)."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/$connect"


def authorizer_event(
    connect_event: dict[str, Any], arn: str, stage_variables: dict[str, str]
) -> dict[str, Any]:
    """The REQUEST authorizer's input for a handshake, from the ``$connect`` event API Gateway
    would send the integration (the guide's example: type, methodArn, headers, multiValueHeaders,
    queryStringParameters, multiValueQueryStringParameters, stageVariables, requestContext)."""
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": arn,
        "headers": dict(connect_event.get("headers") or {}),
        "multiValueHeaders": copy.deepcopy(connect_event.get("multiValueHeaders") or {}),
    }
    if "queryStringParameters" in connect_event:
        event["queryStringParameters"] = dict(connect_event["queryStringParameters"])
        event["multiValueQueryStringParameters"] = copy.deepcopy(
            connect_event["multiValueQueryStringParameters"]
        )
    event["stageVariables"] = dict(stage_variables)
    event["requestContext"] = copy.deepcopy(connect_event["requestContext"])
    return event


# ----- the policy ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _pattern(expression: str) -> re.Pattern[str]:
    """An IAM resource pattern as a regular expression ("IAM JSON policy elements: Resource",
    Using wildcards in resource ARNs): within each colon-separated segment ``*`` is any run of
    characters and ``?`` any single one; a ``*`` ending a segment may match past colons."""
    segments = expression.split(":", 5)
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        out = []
        for position, char in enumerate(segment):
            if char == "*":
                out.append(".*" if last or position == len(segment) - 1 else "[^:]*")
            elif char == "?":
                out.append("." if last else "[^:]")
            else:
                out.append(re.escape(char))
        parts.append("".join(out))
    return re.compile(":".join(parts), re.DOTALL)


def matches(expression: str, value: str) -> bool:
    """Whether an IAM ``Resource`` or ``Action`` expression (wildcards ``*`` and ``?``) covers
    ``value``. Action names are case-insensitive in IAM; ARNs are case-sensitive."""
    return _pattern(expression).fullmatch(value) is not None


def _listed(value: Any, name: str) -> list[str]:  # noqa: ANN401 - any JSON
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise MalformedResponse(f"policy statement {name} must be a string or a list of strings")
    return values


def allows(policy: Any, arn: str) -> bool:  # noqa: ANN401 - any JSON
    """Whether the policy lets ``execute-api:Invoke`` on ``arn``: an Allow statement covers it and
    no Deny statement does (IAM policy evaluation logic: an explicit deny overrides any allow;
    without an allow the request is implicitly denied). Raises MalformedResponse when the document
    is not a policy."""
    if not isinstance(policy, dict):
        raise MalformedResponse("policyDocument is not an object")
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        raise MalformedResponse("policyDocument has no Statement")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedResponse("a policy statement needs Effect Allow or Deny")
        if "Action" not in statement or "Resource" not in statement:
            raise MalformedResponse("a policy statement needs Action and Resource")
        actions = _listed(statement["Action"], "Action")
        resources = _listed(statement["Resource"], "Resource")
        if not any(matches(action.lower(), "execute-api:invoke") for action in actions):
            continue
        if any(matches(resource, arn) for resource in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def integration_context(response: Any, latency_ms: int) -> dict[str, Any]:  # noqa: ANN401
    """``requestContext.authorizer`` for the integration; raises
    MalformedResponse for an output API Gateway cannot use.

    "Output from an API Gateway Lambda authorizer": the output must include ``principalId`` and
    ``policyDocument``; ``context`` values are strings, numbers or booleans ("you cannot set a
    JSON object or array as a valid value of any key in the context map"); the integration
    receives ``principalId`` and each context key (values as strings), with
    ``integrationLatency``, the authorizer's latency in milliseconds."""
    if not isinstance(response, dict):
        raise MalformedResponse("the authorizer's output is not an object")
    principal = response.get("principalId")
    if not isinstance(principal, str) or not principal:
        raise MalformedResponse("the authorizer's output has no principalId")
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedResponse("context is not a map")
    authorizer: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            authorizer[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            authorizer[key] = str(value)
        else:
            raise MalformedResponse(f"context value of {key!r} is not a string, number or boolean")
    authorizer["principalId"] = principal
    authorizer["integrationLatency"] = latency_ms
    return authorizer


@dataclass
class ConnectAuthorizer:
    """The ``$connect`` route's Lambda REQUEST authorizer (``AuthorizationType: CUSTOM``)."""

    function: str  # the function it invokes
    identity_sources: list[str]
    method_arn: str
    stage_variables: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"allowed": 0, "unauthorized": 0, "denied": 0, "failed": 0}
    )

    async def check(self, connect_event: dict[str, Any], invoke: Invoke) -> Verdict:
        """What API Gateway decides for this handshake; ``invoke(function, event)`` runs the
        authorizer function (raising when it fails or times out)."""
        event = authorizer_event(connect_event, self.method_arn, self.stage_variables)
        if missing_identity(self.identity_sources, event):
            self.counts["unauthorized"] += 1
            return UNAUTHORIZED
        started = time.monotonic()
        try:
            response = await invoke(self.function, event)
        except Exception as exc:  # noqa: BLE001 - any failure to run it is answered (_failed)
            return self._failed(exc)
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            authorizer = integration_context(response, latency_ms)
            allowed = allows(response.get("policyDocument"), self.method_arn)
        except MalformedResponse:
            self.counts["failed"] += 1
            return FAILED
        if not allowed:
            self.counts["denied"] += 1
            return FORBIDDEN
        self.counts["allowed"] += 1
        return Verdict(None, authorizer=authorizer)

    def _failed(self, error: Exception) -> Verdict:
        """An authorizer that did not answer: 500, but for the error message "Unauthorized", which
        API Gateway answers 401 Unauthorized ("Use API Gateway Lambda authorizers", the example
        authorizer functions: ``raise Exception("Unauthorized")``)."""
        if isinstance(error, FunctionError) and error.error_message == "Unauthorized":
            self.counts["unauthorized"] += 1
            return UNAUTHORIZED
        self.counts["failed"] += 1
        return FAILED


def connect_authorizer(
    template: Template,
    api: str,
    *,
    arn: str,
    stage_variables: dict[str, str] | None = None,
) -> ConnectAuthorizer | None:
    """The ``$connect`` route's REQUEST authorizer, or None when the route has none (or one the
    local stack does not run: ``notices`` names those). Raises ValueError for an authorizer API
    Gateway would refuse to create."""
    kind, authorizer = connect_authorization(template, api)
    if kind != "CUSTOM" or authorizer is None:
        return None
    properties = template.properties(authorizer)
    if properties.get("AuthorizerType") != "REQUEST":
        return None
    function = authorizer_function(template, authorizer)
    if function is None:
        raise ValueError(f"{authorizer}: its AuthorizerUri names no function of the template")
    sources = [str(source) for source in properties.get("IdentitySource") or []]
    check_identity_sources(sources)
    return ConnectAuthorizer(
        function=function,
        identity_sources=sources,
        method_arn=arn,
        stage_variables=dict(stage_variables or {}),
    )


def authorization_notices(template: Template, api: str) -> list[str]:
    """What of the ``$connect`` route's authorization the local stack does not run."""
    kind, authorizer = connect_authorization(template, api)
    if kind == "AWS_IAM":
        return ["AWS_IAM authorization of $connect is not emulated: every handshake is let through"]
    if kind == "CUSTOM" and authorizer is not None:
        authorizer_type = template.properties(authorizer).get("AuthorizerType")
        if authorizer_type != "REQUEST":
            return [f"{authorizer} ({authorizer_type}) is not run: only REQUEST authorizers are"]
    return []
