"""The stream consumer's writes, in the order that keeps every record published once: the gauge
first (replay-safe), then the set-aside records (one dead-letter message each). Each may end the
batch early; what it returns is the index of the first record not finished (``done``), and only
the records before it are published (``tally``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connection_tracker.catalogue import MetricName
from connection_tracker.dead_letter import DeadLetterError, dead_letter_queue
from connection_tracker.gauge import GaugeUpdateFailed
from connection_tracker.observability import emit, logger
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from connection_tracker.gauge import ActiveConnectionsGauge
    from connection_tracker.tally import BatchTally


def update_gauge(gauge: ActiveConnectionsGauge | None, tally: BatchTally, done: int) -> int:
    """Apply the gauge changes before ``done`` and emit the gauge; return where the batch now
    stops (the first record whose change could not be applied)."""
    if gauge is None:
        return done
    changes = tally.gauge_changes(done)
    try:
        applied = gauge.apply(changes)
    except GaugeUpdateFailed as exc:
        logger.error("gauge update failed", extra={"error": str(exc), "position": exc.position})
        return exc.position
    try:
        active = gauge.count()
    except StoreError as exc:  # every change is applied: only this reading is lost
        logger.warning("gauge not read", extra={"error": str(exc)})
    else:
        emit(MetricName.ACTIVE_CONNECTIONS, active)
        logger.info(
            "gauge updated",
            extra={"activeConnections": active, "applied": applied, "replayed": len(changes) - applied},
        )
    return done


def set_aside(queue_url: str | None, tally: BatchTally, done: int) -> int:
    """Log each malformed record before ``done`` and send it to the dead-letter queue (unset: log
    only); return where the batch now stops (the first record the queue did not take)."""
    for position, record in tally.set_aside(done):
        number = tally.sequence_numbers[position]
        message = None
        if queue_url is not None:
            try:
                message = dead_letter_queue(queue_url).send(
                    record.record, sequence_number=number, reason=record.reason
                )
            except DeadLetterError as exc:
                logger.error("dead-letter send failed", extra={"sequenceNumber": number, "error": str(exc)})
                return position
        logger.error(
            "stream record set aside",
            extra={
                "sequenceNumber": number,
                "reason": record.reason,
                "messageId": message,
                "record": record.record,
            },
        )
    return done
