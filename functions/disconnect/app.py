"""``$disconnect``: remove the connection's item (idempotent); why it closed rides on the
invocation's metric document (EMF metadata), not a log line of its own.

API Gateway sends ``$disconnect`` on a best-effort basis and ignores the answer; items it never
removes expire by TTL, and so does an item whose removal failed (logged, ``DisconnectFailed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from connection_tracker.budget import budgeted
from connection_tracker.catalogue import MetricName
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.runtime import response, runtime
from connection_tracker.settings import ConfigurationError
from connection_tracker.store import StoreError
from connection_tracker.websocket import DisconnectRequest, InvalidRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

TTL_REMOVES = "not removed: it expires by its TTL"


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    try:
        store = runtime().store
    except ConfigurationError as exc:
        logger.error("configuration error, item not removed", extra={"error": str(exc), "item": TTL_REMOVES})
        emit(MetricName.DISCONNECT_FAILED)
        return response(500, "internal error")

    try:
        request = DisconnectRequest.from_event(event)
    except InvalidRequest as exc:
        logger.warning("disconnect ignored", extra={"reason": str(exc)})
        return response(400, f"bad request: {exc}")

    logger.append_keys(
        connectionId=request.connection_id,
        disconnectStatusCode=request.status_code,
        disconnectReason=request.reason,
    )
    try:
        removed = store.delete(request.connection_id)
    except StoreError as exc:
        logger.error(
            "disconnect failed",
            extra={"operation": exc.operation, "errorCode": exc.code, "error": str(exc), "item": TTL_REMOVES},
        )
        emit(MetricName.DISCONNECT_FAILED)
        return response(500, "internal error")

    # The stream consumer's "connection closed" line is the connection log; $disconnect adds only
    # what the consumer cannot know, the close code and reason, as metadata of the metric document
    # it writes anyway (powertools Metrics add_metadata: top-level keys of the EMF document, read by
    # the "Why connections ended" query): ~90 bytes instead of a ~540-byte line per connection.
    metrics.add_metadata(key="connectionId", value=request.connection_id)
    metrics.add_metadata(key="disconnectStatusCode", value=request.status_code)
    metrics.add_metadata(key="disconnectReason", value=request.reason)
    if removed is None:
        logger.debug("connection already gone")
    else:
        logger.debug("connection removed")
        emit(MetricName.DISCONNECT_HANDLED)
    return response(200, "disconnected")
