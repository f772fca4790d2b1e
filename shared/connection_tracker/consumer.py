"""The stream consumer's writes, in the order that keeps every record published once: the set-aside
records first (one dead-letter message each; the queue may end the batch early), then, on a tumbling
window's final invocation, the window's change to the gauge (once, replay-safe). What the first
returns is the index of the first record not finished (``done``); only the records before it are
aggregated into the window's state and published (``tally``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from connection_tracker.catalogue import MetricName
from connection_tracker.dead_letter import DeadLetterError, dead_letter_queue
from connection_tracker.gauge import WindowState
from connection_tracker.observability import emit, logger
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent

    from connection_tracker.gauge import ActiveConnectionsGauge
    from connection_tracker.tally import BatchTally


class GaugeUpdateFailed(RuntimeError):
    """The final invocation could not apply the window's change (after botocore's retries): the
    invocation fails, and Lambda invokes it again with the state from before it."""


@dataclass(frozen=True, slots=True)
class Window:
    """The tumbling-window fields of an invocation ("Implementing stateful DynamoDB stream
    processing in Lambda": ``window``, ``state``, ``shardId``, ``isFinalInvokeForWindow``,
    ``isWindowTerminatedEarly``)."""

    shard_id: str
    state: WindowState
    final: bool  # the window's final invocation, or the end of a window terminated early
    start: str | None = None

    @classmethod
    def of(cls, event: DynamoDBStreamEvent) -> Window | None:
        """``None`` when the event has no tumbling window (a mapping without one)."""
        if event.window is None or event.shard_id is None:
            return None
        return cls(
            shard_id=event.shard_id,
            state=WindowState.model_validate(event.state),
            final=bool(event.is_final_invoke_for_window or event.is_window_terminated_early),
            start=event.window.start,
        )


@cache
def _warn_no_window() -> None:  # once per execution environment
    logger.warning(
        "the gauge is not kept: the event source mapping has no tumbling window "
        "(TumblingWindowInSeconds, template parameter GaugeWindowSeconds)"
    )


def update_gauge(
    gauge: ActiveConnectionsGauge | None, window: Window | None, tally: BatchTally, done: int
) -> WindowState | None:
    """The window's state after the records before ``done``; on the window's final invocation its
    change applied to the count first, and ``ActiveConnections`` emitted. ``None`` without a
    window. Raises :class:`GaugeUpdateFailed` when the change could not be applied."""
    if window is None:
        if gauge is not None:
            _warn_no_window()
        return None
    state = window.state.plus(tally.gauge_change(done), tally.last_sequence_number(done))
    if gauge is None or not window.final:
        return state
    try:
        applied = gauge.apply(window.shard_id, state)
    except StoreError as exc:
        logger.error("gauge update failed", extra={"error": str(exc), "shardId": window.shard_id})
        raise GaugeUpdateFailed(f"gauge update failed: {exc}") from exc
    try:
        active = gauge.count()
    except StoreError as exc:  # the change is applied: only this reading is lost
        logger.warning("gauge not read", extra={"error": str(exc)})
    else:
        emit(MetricName.ACTIVE_CONNECTIONS, active)
        logger.info(
            "gauge updated",
            extra={
                "activeConnections": active,
                "change": state.change,
                "replayed": bool(state.change) and not applied,
                "shardId": window.shard_id,
                "window": window.start,
            },
        )
    return state.applied()


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
