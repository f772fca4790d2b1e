"""One delivery of the stream, record by record, and what of it may be published.

Lambda's checkpoint rule decides what is published: when the response names a record, Lambda
delivers again every record from the lowest named sequence number on. So an invocation publishes
the records *before* the first one it could not finish (``done``), and only those: their counts,
distributions, log lines, their change to the gauge's window and set-aside records. Everything
from ``done`` on is published by the delivery that finishes it. One rule, applied here for all of them.

Each record has one outcome: a connection event, ignored (MODIFY and the like), set aside
(malformed: it will never parse, so it is not retried) or failed (an unexpected error: retried).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connection_tracker.catalogue import MetricName
from connection_tracker.observability import emit, logger, publish_distributions
from connection_tracker.streams import ConnectionEvent, EventKind, MalformedRecord, classify, sequence_number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from connection_tracker.observability import EventLog

_COUNTERS = {
    EventKind.OPENED: MetricName.CONNECTIONS_OPENED,
    EventKind.CLOSED: MetricName.CONNECTIONS_CLOSED,
    EventKind.EXPIRED: MetricName.CONNECTIONS_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class SetAside:
    """A record that cannot be read: kept whole on the dead-letter queue, never retried."""

    record: Mapping[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A record whose processing raised unexpectedly: Lambda delivers it again."""

    error: str


Outcome = ConnectionEvent | SetAside | Failed | None  # None: ignored


class UnnamedFailure(RuntimeError):
    """The first record not finished has no sequence number, so no response can name it: the
    invocation fails instead, and Lambda delivers the whole batch again."""


@dataclass
class BatchTally:
    outcomes: list[Outcome] = field(default_factory=list)
    sequence_numbers: list[str | None] = field(default_factory=list)

    def add(self, record: DynamoDBRecord) -> Outcome:
        """Classify the next record of the batch (records come in their stream order). Never
        raises: an unexpected error is that record's failure, or, where no response could name
        the record (no sequence number), a reason to set it aside."""
        raw = record.raw_event
        number = sequence_number(raw)
        outcome: Outcome
        try:
            outcome = classify(record)
        except MalformedRecord as exc:
            outcome = SetAside(raw, str(exc))
        except Exception as exc:  # noqa: BLE001 - one record's error is that record's failure
            logger.exception("stream record raised", extra={"sequenceNumber": number})
            failure = f"{type(exc).__name__}: {exc}"
            outcome = Failed(failure) if number else SetAside(raw, failure)
        if outcome is None:
            logger.debug(
                "record ignored", extra={"eventName": record.get("eventName"), "sequenceNumber": number}
            )
        self.sequence_numbers.append(number)
        self.outcomes.append(outcome)
        return outcome

    # ----- what the batch's side effects need ----------------------------------------------------
    def first_failure(self) -> int:
        """Index of the first failed record (the batch's length when none failed)."""
        return next((i for i, o in enumerate(self.outcomes) if isinstance(o, Failed)), len(self.outcomes))

    def gauge_change(self, done: int) -> int:
        """The net change of the live connections over the records before ``done``."""
        return sum(
            +1 if o.kind is EventKind.OPENED else -1
            for o in self.outcomes[:done]
            if isinstance(o, ConnectionEvent)
        )

    def last_sequence_number(self, done: int) -> str | None:
        """The highest sequence number of the records before ``done`` (``None``: none has one; a
        malformed one, not all digits, does not count)."""
        numbers = [n.lstrip("0") or "0" for n in self.sequence_numbers[:done] if n and n.isdigit()]
        return max(numbers, key=lambda n: (len(n), n)) if numbers else None

    def set_aside(self, done: int) -> list[tuple[int, SetAside]]:
        """The malformed records before ``done``, with their positions."""
        return [(i, o) for i, o in enumerate(self.outcomes[:done]) if isinstance(o, SetAside)]

    # ----- the answer and what is published --------------------------------------------------------
    def response(self, done: int) -> PartialItemFailureResponse:
        """The partial batch response: nothing, or the record Lambda must deliver again from.

        Raises :class:`UnnamedFailure` when that record has no sequence number.
        """
        if done >= len(self.outcomes):
            return {"batchItemFailures": []}
        identifier = self.sequence_numbers[done]
        if not identifier:
            raise UnnamedFailure(f"record {done} cannot be retried alone: it has no sequence number")
        return {"batchItemFailures": [{"itemIdentifier": identifier}]}

    def publish(self, done: int, lines: EventLog) -> int:
        """Add the counts of the records before ``done`` to this invocation's metrics, write their
        log lines and print their distributions; return how many distribution documents."""
        events = [o for o in self.outcomes[:done] if isinstance(o, ConnectionEvent)]
        kinds = Counter(event.kind for event in events)
        for kind, metric in _COUNTERS.items():
            if kinds[kind]:
                emit(metric, kinds[kind])
        set_aside = len(self.set_aside(done))
        if set_aside:
            emit(MetricName.STREAM_RECORDS_FAILED, set_aside)
        for event in events:
            lines.add(f"connection {event.kind.value}", event.log_fields())
        lines.flush()
        return publish_distributions(
            {
                MetricName.CONNECTION_LIFETIME: [e.lifetime for e in events if e.lifetime is not None],
                MetricName.EXPIRY_LAG: [e.expiry_lag for e in events if e.expiry_lag is not None],
            }
        )

    def summary(self, done: int) -> dict[str, int]:
        published = self.outcomes[:done]
        kinds = Counter(o.kind for o in published if isinstance(o, ConnectionEvent))
        return {
            "records": len(self.outcomes),
            "opened": kinds[EventKind.OPENED],
            "closed": kinds[EventKind.CLOSED],
            "expired": kinds[EventKind.EXPIRED],
            "ignored": sum(o is None for o in published),
            "setAside": sum(isinstance(o, SetAside) for o in published),
            "redelivered": len(self.outcomes) - done,  # from the first record not finished on
        }
