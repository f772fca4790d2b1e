"""Per-invocation aggregation of connection events into the catalogue's metrics.

Counts are summed into one value each; lifetimes and expiry lags are kept as distributions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connection_tracker.catalogue import MetricName
from connection_tracker.gauge import Change
from connection_tracker.observability import count, publish_distributions
from connection_tracker.streams import EventKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connection_tracker.streams import ConnectionEvent

_COUNTERS = {
    EventKind.OPENED: MetricName.CONNECTIONS_OPENED,
    EventKind.CLOSED: MetricName.CONNECTIONS_CLOSED,
    EventKind.EXPIRED: MetricName.CONNECTIONS_EXPIRED,
}


@dataclass
class BatchTally:
    by_sequence: dict[str, ConnectionEvent] = field(default_factory=dict)  # in processing order
    ignored: int = 0

    def add(self, event: ConnectionEvent) -> None:
        self.by_sequence[event.sequence_number] = event

    @property
    def events(self) -> Counter[EventKind]:
        return Counter(event.kind for event in self.by_sequence.values())

    def publish(self, failed: int) -> int:
        """Add the counts to this invocation's metrics and print the distributions.

        Returns how many distribution documents were printed (the counts go out with the
        handler's final flush).
        """
        events = self.events
        for kind, metric in _COUNTERS.items():
            if events[kind]:
                count(metric, events[kind])
        if failed:
            count(MetricName.STREAM_RECORDS_FAILED, failed)
        happened = self.by_sequence.values()
        return publish_distributions(
            {
                MetricName.CONNECTION_LIFETIME: [e.lifetime for e in happened if e.lifetime is not None],
                MetricName.EXPIRY_LAG: [e.expiry_lag for e in happened if e.expiry_lag is not None],
            }
        )

    def gauge_changes(self, sequence_numbers: Sequence[str], failed: set[str]) -> list[Change]:
        """The gauge changes of the records before the batch's first failure, in order (Lambda
        delivers that record and all after it again)."""
        changes = []
        for sequence_number in sequence_numbers:
            if sequence_number in failed:
                break
            event = self.by_sequence.get(sequence_number)
            if event is not None:
                changes.append(Change(event.connection_id, +1 if event.kind is EventKind.OPENED else -1))
        return changes

    def summary(self, records: int, failed: int) -> dict[str, int]:
        events = self.events
        return {
            "records": records,
            "opened": events[EventKind.OPENED],
            "closed": events[EventKind.CLOSED],
            "expired": events[EventKind.EXPIRED],
            "ignored": self.ignored,
            "failed": failed,
        }
