"""``$connect``: store the new connection with one conditional PutItem, then answer API Gateway.

Any non-2xx answer makes API Gateway refuse the WebSocket handshake.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from connection_tracker.budget import budgeted
from connection_tracker.catalogue import MetricName
from connection_tracker.models import UNKNOWN_CLIENT
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.runtime import response, runtime
from connection_tracker.settings import ConfigurationError
from connection_tracker.store import ConnectionExists, StoreError
from connection_tracker.websocket import ConnectRequest, InvalidRequest, claimed_client_ignored

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from connection_tracker.settings import Settings
    from connection_tracker.store import ConnectionStore


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    try:
        current = runtime()
        settings, store = current.settings, current.store
    except ConfigurationError as exc:
        logger.error("configuration error, connection refused", extra={"error": str(exc)})
        emit(MetricName.CONNECT_FAILED)
        return response(500, "internal error")

    try:
        request = ConnectRequest.from_event(
            event, capture_source_ip=settings.capture_source_ip, region=settings.region
        )
    except InvalidRequest as exc:
        logger.warning("connect rejected", extra={"reason": str(exc)})
        emit(MetricName.CONNECT_REJECTED)
        return response(400, f"bad request: {exc}")

    logger.append_keys(connectionId=request.connection_id, clientId=request.client_id)
    if request.authenticated and claimed_client_ignored(event):
        logger.debug("clientId query parameter ignored: the token's identity is used")
    try:
        item = request.item(now=time.time(), ttl_seconds=settings.ttl_seconds)
    except ValueError as exc:  # the settings refuse what would make it invalid: never expected
        logger.error(
            "connect failed", extra={"operation": "item", "errorCode": "InvalidItem", "error": str(exc)}
        )
        emit(MetricName.CONNECT_FAILED)
        return response(500, "internal error")
    try:
        store.put_new(item)
    except ConnectionExists:
        logger.warning("connection already stored; left untouched")
        return response(200, "connected")
    except StoreError as exc:
        logger.error(
            "connect failed", extra={"operation": exc.operation, "errorCode": exc.code, "error": str(exc)}
        )
        emit(MetricName.CONNECT_FAILED)
        return response(500, "internal error")

    # DEBUG: the stream consumer's "connection opened" line is the connection log (no line twice)
    logger.debug("connection stored", extra={"item": item.attributes()})
    emit(MetricName.CONNECT_ACCEPTED)
    if settings.verify_write:
        _verify(store, request.connection_id)
    if settings.max_connections_per_client and request.client_id != UNKNOWN_CLIENT:
        _close_duplicates(store, settings, request)
    return response(200, "connected")


def _close_duplicates(store: ConnectionStore, settings: Settings, request: ConnectRequest) -> None:
    """Per-client de-duplication: the client's oldest connections beyond the limit are closed.
    A failure here never refuses the new connection."""
    # imported here: only deployments with MAX_CONNECTIONS_PER_CLIENT use them (a cheaper cold start)
    from connection_tracker.connections_api import connections_api  # noqa: PLC0415
    from connection_tracker.connections_api import endpoint as connections_endpoint  # noqa: PLC0415
    from connection_tracker.maintenance import close_oldest_beyond  # noqa: PLC0415

    endpoint = connections_endpoint(
        settings.connections_api_endpoint, request.metadata.get("domainName"), request.metadata.get("stage")
    )
    if endpoint is None:
        logger.warning("no @connections endpoint: duplicates not closed")
        return
    try:
        closed = close_oldest_beyond(
            store,
            connections_api(endpoint),
            client_id=request.client_id,
            new_connection_id=request.connection_id,
            limit=settings.max_connections_per_client,
        )
    except StoreError as exc:
        logger.error("closing duplicates failed", extra={"operation": exc.operation, "errorCode": exc.code})
        return
    if closed:
        emit(MetricName.DUPLICATE_CONNECTIONS_CLOSED, len(closed))
        logger.info(
            "duplicates closed", extra={"closed": closed, "limit": settings.max_connections_per_client}
        )


def _verify(store: ConnectionStore, connection_id: str) -> None:
    """``VerifyWrite``'s read-back: a strongly consistent GetItem of the item just written, logged
    (a diagnostic only: it costs a second request per connect)."""
    try:
        stored = store.get(connection_id)
    except StoreError as exc:
        logger.error("read-back failed", extra={"operation": exc.operation, "errorCode": exc.code})
        return
    except ValueError as exc:  # an item the model refuses (written by someone else)
        logger.error("read-back found a malformed item", extra={"error": str(exc)})
        return
    if stored is None:
        logger.error("read-back found no item")
    else:
        logger.info("read-back", extra={"item": stored.attributes()})
