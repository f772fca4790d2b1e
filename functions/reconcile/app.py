"""Scheduled (or by hand): recount the live connections and correct the ActiveConnections gauge,
logging the drift it found. Every call ends before the invocation's deadline: a slow table stops
it with an error (logged, ``ReconcileErrorsAlarm``) well before Lambda's Timeout; the next run
recounts from scratch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connection_tracker.budget import budgeted
from connection_tracker.catalogue import MetricName
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.runtime import runtime
from connection_tracker.settings import ConfigurationError
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    current = runtime()
    if current.gauge is None:
        raise ConfigurationError("bad configuration: COUNTERS_TABLE: the gauge's table is not set")
    try:
        found = current.gauge.reconcile(current.store.connection_ids())
    except StoreError as exc:  # a failing or slow table, or no time left: nothing is corrected late
        logger.error(
            "reconcile stopped", extra={"operation": exc.operation, "errorCode": exc.code, "error": str(exc)}
        )
        raise
    emit(MetricName.ACTIVE_CONNECTIONS_DRIFT, found["drift"])
    emit(MetricName.ACTIVE_CONNECTIONS, found["live"])
    log = (
        logger.warning
        if found["drift"] or found["missingMarkers"] or found["orphanedMarkers"]
        else logger.info
    )
    log("gauge reconciled", extra=found)
    return found
