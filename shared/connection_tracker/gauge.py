"""The exact ``ActiveConnections`` gauge: one write per stream shard per tumbling window.

The consumer's event source mapping has a tumbling window (``TumblingWindowInSeconds``, template
parameter ``GaugeWindowSeconds``). Lambda hands each invocation the state the previous one of the
window returned; the state here is the window's net change so far (+1 per INSERT, -1 per REMOVE)
over exactly the records the invocations published (those before each one's first unfinished
record), and the highest sequence number aggregated (:class:`WindowState`).

The window's final invocation (``isFinalInvokeForWindow``; or ``isWindowTerminatedEarly``, a
segment of its own) applies the net change to the count item, in one transaction together with the
shard's idempotency marker (``shard#<shardId>``, holding the highest sequence number applied): the
transaction goes through only when the segment's highest sequence number is above the marker's.
A retried final invocation (a crash after the write, a lost response; whole or bisected) carries a
sequence number at or below it: the transaction is cancelled and nothing changes. Segments of a
shard come in stream order, so a new one is always above the last applied.

The marker lives while a retry is possible: as long as the mapping still delivers a record
(``MaximumRecordAgeInSeconds``; then Lambda gives the records up) plus a margin for an invocation
in flight; every application renews it, and one of a closed shard (DynamoDB Streams rolls its
shards over) expires by TTL: the counters table holds the count and one item per open shard.

Reconcile corrects drift that comes from outside the event flow (records given up after the
retries, a state Lambda dropped, an edited count, Lambda's rare duplicate processing).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connection_tracker.counters import TransactionCancelled

if TYPE_CHECKING:
    from collections.abc import Callable

    from connection_tracker.counters import CountersTable

# A marker is kept while a final invocation can be retried: as long as the event source mapping
# delivers a record (MaximumRecordAgeInSeconds), plus this margin for an invocation in flight (the
# consumer's timeout, retries' back-off).
MARKER_MARGIN_SECONDS = 900


class WindowState(BaseModel):
    """What one invocation hands the next of its window (the response's ``state``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    change: int = 0  # net change of the live connections over the records aggregated and not applied
    sequence_number: str | None = Field(default=None, alias="sequenceNumber")  # highest aggregated

    def plus(self, change: int, sequence_number: str | None) -> WindowState:
        """This state with an invocation's records (their net change, their highest number)."""
        number = sequence_number or self.sequence_number
        return self.model_copy(update={"change": self.change + change, "sequence_number": number})

    def applied(self) -> WindowState:
        """The state once its change is in the count: a next segment starts from nothing."""
        return self.model_copy(update={"change": 0})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ActiveConnectionsGauge:
    def __init__(self, counters: CountersTable, max_record_age_seconds: int) -> None:
        self.counters = counters
        self.marker_seconds = max_record_age_seconds + MARKER_MARGIN_SECONDS

    def apply(self, shard_id: str, state: WindowState) -> bool:
        """Add the segment's change to the count once; ``False`` when there was nothing to apply or
        it was applied before (a retried final invocation). Raises ``StoreError`` otherwise."""
        if not state.change or state.sequence_number is None:
            return False
        expires_at = int(time.time()) + self.marker_seconds
        try:
            self.counters.transact(
                [
                    self.counters.applied_marker_action(shard_id, state.sequence_number, expires_at),
                    self.counters.count_action(state.change),
                ]
            )
        except TransactionCancelled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:  # the marker is at or above it: applied
                return False
            raise
        return True

    def count(self) -> int:
        return self.counters.count()

    # ----- reconcile ---------------------------------------------------------------------------
    def reconcile(self, live: Callable[[], int], settle: Callable[[], bool]) -> dict[str, int]:
        """Correct the drift that persists across a window; return what was found.

        The count trails the table by the windows not yet closed (their changes wait in Lambda's
        state), so one reading cannot tell a lag from a drift. A drift is measured twice, ``settle``
        (a wait of one window and the batching window) apart; only what both readings show, in the
        same direction, is corrected: a lag changes between them, a drift from outside stays.
        """
        first_live, first_count = live(), self.count()
        first = first_live - first_count
        found = {"live": first_live, "countBefore": first_count, "firstReading": first, "drift": 0}
        if first and settle():
            second_live, second_count = live(), self.count()
            second = second_live - second_count
            found.update(live=second_live, countBefore=second_count, secondReading=second)
            if first * second > 0:
                drift = min(first, second, key=abs)
                self.counters.add_to_count(drift)
                found["drift"] = drift
        return found
