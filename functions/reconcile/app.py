"""Scheduled (or by hand): recount the live connections and correct the ActiveConnections gauge,
logging the drift it found. A drift is corrected only when a second count, one gauge window later,
shows it too (the gauge trails the table by the window: see ``ActiveConnectionsGauge.reconcile``).
Every call ends before the invocation's deadline: a slow table stops it with an error (logged,
``ReconcileErrorsAlarm``) well before Lambda's Timeout; the next run recounts from scratch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from connection_tracker.budget import budgeted
from connection_tracker.catalogue import MetricName
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.runtime import runtime
from connection_tracker.settings import ConfigurationError
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


SETTLE_MARGIN_SECONDS = 10  # the batching window (5 s) and a final invocation's time
RESERVE_SECONDS = 60  # the second count and the answer


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    current = runtime()
    if current.gauge is None:
        raise ConfigurationError("bad configuration: COUNTERS_TABLE: the gauge's table is not set")
    # one window and the batching window, plus an invocation's time: every change the first count
    # saw has reached the gauge by then
    settle_seconds = current.settings.gauge_window_seconds + SETTLE_MARGIN_SECONDS

    def settle() -> bool:
        if context.get_remaining_time_in_millis() < (settle_seconds + RESERVE_SECONDS) * 1000:
            logger.warning("no time left to count twice: nothing corrected", extra={"settle": settle_seconds})
            return False
        time.sleep(settle_seconds)
        return True

    try:
        found = current.gauge.reconcile(lambda: len(current.store.connection_ids()), settle)
    except StoreError as exc:  # a failing or slow table, or no time left: nothing is corrected late
        logger.error(
            "reconcile stopped", extra={"operation": exc.operation, "errorCode": exc.code, "error": str(exc)}
        )
        raise
    emit(MetricName.ACTIVE_CONNECTIONS_DRIFT, found["drift"])
    emit(MetricName.ACTIVE_CONNECTIONS, found["live"])
    (logger.warning if found["drift"] else logger.info)("gauge reconciled", extra=found)
    return found
