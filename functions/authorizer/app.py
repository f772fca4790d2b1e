"""``$connect`` REQUEST authorizer: verify the ``token`` query parameter, answer API Gateway.

Allow -> a policy for the event's method ARN with ``context.clientId`` (the token's ClientIdClaim);
refused -> 401 (``Unauthorized``) or a Deny policy (403), ``ConnectUnauthorized`` and one log line
with the reason; the issuer's keys out of reach -> 500 (``connection_tracker.authorizer``).
The token is never logged: not the event (``log_event=False``), not a claim, not an error's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from connection_tracker.authorizer import (
    AuthorizerFailure,
    Unauthorized,
    authorize,
    deny,
    resource_of,
    verifier,
)
from connection_tracker.budget import budgeted
from connection_tracker.catalogue import MetricName
from connection_tracker.identity import KeysUnavailable, TokenRefused
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.settings import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
)
@budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    try:
        current = verifier()
    except ConfigurationError as exc:
        logger.error("configuration error, connection refused", extra={"error": str(exc)})
        raise AuthorizerFailure("configuration error") from None

    try:
        allowed = authorize(event, current)
    except TokenRefused as refused:
        emit(MetricName.CONNECT_UNAUTHORIZED)
        status = 403 if refused.deny else 401
        logger.warning(
            "token refused",
            extra={"reason": refused.reason.value, "detail": refused.detail, "status": status},
        )
        if refused.deny:
            return deny(resource_of(event))
        raise Unauthorized from None
    except KeysUnavailable as exc:
        logger.error("issuer keys unavailable, connection refused", extra={"error": str(exc)})
        raise AuthorizerFailure("issuer keys unavailable") from None

    logger.debug("token accepted", extra={"clientId": allowed.identity.client_id})
    return allowed.answer
