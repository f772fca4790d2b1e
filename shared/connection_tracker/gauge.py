"""The exact ``ActiveConnections`` gauge, kept in the counters table and replay-safe.

The counters table holds one count item and one marker item per connection (``conn#<id>``).
Applying a connection event writes, in one transaction, the marker change and the count change:
INSERT creates the marker, open, if there is none; REMOVE closes an open marker and gives it a TTL
(the stream's ``MaximumRecordAgeInSeconds`` plus a margin: as long as a record can be delivered
again), so a replayed INSERT of a closed connection still finds it, and the table stays
proportional to the open connections. A record Lambda delivers again (a retried batch, a
re-batched bisection, a crash after the write but before the response) finds its marker already
in that state: the transaction names it, and it is applied without it. Every change is atomic,
so no crash can leave count and markers apart.

Only the records before a batch's first failure are applied: Lambda delivers that record and
everything after it again, in order, so a REMOVE is never applied before its INSERT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connection_tracker.counters import TransactionCancelled
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from connection_tracker.counters import CountersTable

# A closed marker (a tombstone) is kept while its INSERT can still be delivered again: as long as
# the event source mapping delivers a record (MaximumRecordAgeInSeconds), plus this margin for a
# batch in flight (a retried invocation, a consumer timeout).
TOMBSTONE_MARGIN_SECONDS = 900
# TransactWriteItems takes 100 actions: 99 markers and the count.
_CHUNK = 99


@dataclass(frozen=True, slots=True)
class Change:
    connection_id: str
    delta: int  # +1 opened, -1 closed or expired
    position: int = 0  # index of the record in its batch


class GaugeUpdateFailed(RuntimeError):
    """A transaction failed (after botocore's retries) for a reason other than a replay.

    ``position`` is the batch index of the first change not applied; every change before it is.
    """

    def __init__(self, position: int, cause: str) -> None:
        super().__init__(f"gauge update failed at record {position}: {cause}")
        self.position = position


class ActiveConnectionsGauge:
    def __init__(self, counters: CountersTable, max_record_age_seconds: int) -> None:
        self.counters = counters
        self.tombstone_seconds = max_record_age_seconds + TOMBSTONE_MARGIN_SECONDS

    def _action(self, change: Change) -> dict[str, Any]:
        if change.delta > 0:
            return self.counters.open_marker_action(change.connection_id)
        expires_at = int(time.time()) + self.tombstone_seconds
        return self.counters.close_marker_action(change.connection_id, expires_at)

    def apply(self, changes: Sequence[Change]) -> int:
        """Apply the changes that are not applied yet, in order; return how many were.

        Raises :class:`GaugeUpdateFailed` at the first chunk that fails: the chunks before it are
        applied, and applying them again later (a redelivery) changes nothing.
        """
        applied = 0
        for chunk in _chunks(changes):
            try:
                applied += self._apply_chunk(chunk)
            except StoreError as exc:
                raise GaugeUpdateFailed(chunk[0].position, str(exc)) from exc
        return applied

    def _apply_chunk(self, changes: list[Change]) -> int:
        while changes:
            delta = sum(change.delta for change in changes)
            actions = [self._action(change) for change in changes]
            if delta:
                actions.append(self.counters.count_action(delta))
            try:
                self.counters.transact(actions)
            except TransactionCancelled as exc:
                replayed = {i for i, code in enumerate(exc.reasons) if code == "ConditionalCheckFailed"}
                if not replayed:  # cancelled for another reason (a conflict): let Lambda retry
                    raise
                changes = [change for index, change in enumerate(changes) if index not in replayed]
                continue
            return len(changes)
        return 0

    def count(self) -> int:
        return self.counters.count()

    # ----- reconcile ---------------------------------------------------------------------------
    def reconcile(self, live: Iterable[str]) -> dict[str, int]:
        """Make markers and count agree with the live connections; return the drift found."""
        live_ids = set(live)
        marked = self.counters.open_markers()
        missing = sorted(live_ids - marked)
        orphaned = sorted(marked - live_ids)
        for connection_id in missing:  # open, even over a tombstone: the item is there
            self.counters.mark_open(connection_id)
        self.apply([Change(connection_id, -1) for connection_id in orphaned])
        before = self.count()
        drift = len(live_ids) - before
        if drift:
            self.counters.add_to_count(drift)
        return {
            "live": len(live_ids),
            "countBefore": before,
            "drift": drift,
            "missingMarkers": len(missing),
            "orphanedMarkers": len(orphaned),
        }


def _chunks(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive groups of at most 99 changes in which no connection appears twice (a
    transaction may touch an item once), in their order."""
    chunks: list[list[Change]] = [[]]
    seen: set[str] = set()
    for change in changes:
        if len(chunks[-1]) == _CHUNK or change.connection_id in seen:
            chunks.append([])
            seen = set()
        chunks[-1].append(change)
        seen.add(change.connection_id)
    return [chunk for chunk in chunks if chunk]
