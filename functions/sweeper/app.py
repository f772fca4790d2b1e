"""Scheduled: remove items of connections API Gateway no longer holds.

Items older than 2 hours are stale by definition; younger ones are probed with ``@connections``
GET. Bounded by the invocation's remaining time (it stops while three calls at their worst and the
margin still fit); the next run continues where this one stopped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from connection_tracker import budget
from connection_tracker.catalogue import MetricName
from connection_tracker.connections_api import connections_api
from connection_tracker.maintenance import sweep
from connection_tracker.observability import emit, logger, metrics
from connection_tracker.runtime import runtime
from connection_tracker.settings import ConfigurationError
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@budget.budgeted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = runtime()
    settings = current.settings
    if not settings.connections_api_endpoint:
        raise ConfigurationError("bad configuration: CONNECTIONS_API_ENDPOINT: needed to probe connections")
    cursor = current.counters  # where the last run stopped, when there is a counters table
    result = sweep(
        current.store,
        connections_api(settings.connections_api_endpoint),
        now_ms=int(time.time() * 1000),
        start_key=cursor.load_cursor() if cursor else None,
        time_left_ms=context.get_remaining_time_in_millis,
        reserve_ms=budget.reserve_ms(calls=3),  # a probe, a removal and saving the cursor
    )
    if cursor:
        try:
            cursor.save_cursor(result.cursor)
        except StoreError as exc:  # the next run starts again from the cursor saved before
            logger.error("cursor not saved", extra={"operation": exc.operation, "errorCode": exc.code})
    emit(MetricName.STALE_CONNECTIONS_SWEPT, result.stale)
    emit(MetricName.GONE_CONNECTIONS_SWEPT, result.gone)
    summary = {
        "scanned": result.scanned,
        "stale": result.stale,
        "gone": result.gone,
        "probeErrors": result.probe_errors,
        "finished": result.finished,
    }
    if result.stopped_by:
        logger.error("sweep stopped early", extra={**summary, "error": result.stopped_by})
    else:
        logger.info("sweep done", extra=summary)
    return summary
