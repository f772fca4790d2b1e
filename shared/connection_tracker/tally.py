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
    by_sequence: dict[str, ConnectionEvent] = field(default_factory=dict)
    events: Counter[EventKind] = field(default_factory=Counter)
    lifetimes: list[float] = field(default_factory=list)
    expiry_lags: list[float] = field(default_factory=list)
    ignored: int = 0

    def add(self, event: ConnectionEvent) -> None:
        self.by_sequence[event.sequence_number] = event
        self.events[event.kind] += 1
        if event.lifetime is not None:
            self.lifetimes.append(event.lifetime)
        if event.expiry_lag is not None:
            self.expiry_lags.append(event.expiry_lag)

    def publish(self, failed: int) -> int:
        """Add the counts to this invocation's metrics and print the distributions.

        Returns how many distribution documents were printed (the counts go out with the
        handler's final flush).
        """
        for kind, metric in _COUNTERS.items():
            if self.events[kind]:
                count(metric, self.events[kind])
        if failed:
            count(MetricName.STREAM_RECORDS_FAILED, failed)
        return publish_distributions(
            {MetricName.CONNECTION_LIFETIME: self.lifetimes, MetricName.EXPIRY_LAG: self.expiry_lags}
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
        return {
            "records": records,
            "opened": self.events[EventKind.OPENED],
            "closed": self.events[EventKind.CLOSED],
            "expired": self.events[EventKind.EXPIRED],
            "ignored": self.ignored,
            "failed": failed,
        }
