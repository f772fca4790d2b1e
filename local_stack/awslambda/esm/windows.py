"""Tumbling windows, per shard ("Implementing stateful DynamoDB stream processing in Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html).

Documented: each invocation of a window gets the state the previous one returned; "when using
tumbling windows, your Lambda function response must contain a state property" (else a failed
invocation); "At the end of the window, the flag isFinalInvokeForWindow is set to true ... After
processing, the window completes ... and then the state is dropped"; "If invocation is
unsuccessful, your Lambda function suspends further processing until a successful invocation";
"Your state can be a maximum of 1 MB per shard. If it exceeds that size, Lambda terminates the
window early"; "Tumbling windows fully support the existing retry policies maxRetryAttempts and
maxRecordAge". The state is a shard's: each shard has its own window and state.

Not documented, chosen here (said at start and in docs/local-stack.md): a window on a shard that
closes ends as soon as the shard is drained. Its final invocation (``isFinalInvokeForWindow``) comes
once the shard's last record has been delivered, without waiting for the window's end: no record
can join it any more, and the shard's children start only after it (a parent before its children).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_STATE_BYTES = 1024 * 1024

CLOSING_SHARD_NOTICE = (
    "a tumbling window on a shard that closes ends when the shard is drained: its final invocation "
    "comes after the shard's last record, before its window's end (Lambda's guide is silent on it)"
)


@dataclass
class Shard:
    """What the mapping holds for one shard: records read and not yet done, retry attempts, and
    its tumbling window: the open window's start (epoch seconds), its state, whether it must end
    early (its state grew past 1 MB), and the end of the last window finished."""

    shard_id: str
    parent_id: str | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    oldest: float | None = None
    attempts: int = 0
    window: int | None = None
    state: dict[str, Any] = field(default_factory=dict)
    ended_early: bool = False
    finished_through: int = 0
    drained: bool = False  # closed, and every record of it read
    busy: bool = False  # a delivery of this shard is in flight (one batch per shard at a time)

    def take(self, count: int) -> None:
        """The first ``count`` records are done (or given up): they leave the buffer."""
        del self.buffer[:count]
        self.oldest = time.monotonic() if self.buffer else None

    @property
    def finished(self) -> bool:
        """Drained, and nothing of it left to deliver: its children may start."""
        return self.drained and not self.buffer and self.window is None and not self.ended_early


def window_start(record: dict[str, Any], length: int, finished_through: int = 0) -> int:
    """The start of the window a record belongs to.

    "Lambda determines tumbling window boundaries based on the time when records were inserted
    into the stream. All records have an approximate timestamp available that Lambda uses in
    boundary determinations." (Configuration.) Windows are aligned to their length (a 60 s window
    starts on the minute). Not documented: a record that arrives after its window's final
    invocation (its timestamp is the second it was written, and the poll that reads it may come
    later) joins the window open then, never a finished one.
    """
    created = int(record["dynamodb"].get("ApproximateCreationDateTime") or time.time())
    return max(created - created % length, finished_through)


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_event(
    shard: Shard, batch: list[dict[str, Any]], length: int, stream_arn: str, *, final: bool, early: bool
) -> dict[str, Any]:
    """The event of one invocation of the shard's open window (DynamodbTimeWindowEvent)."""
    start = shard.window if shard.window is not None else 0
    return {
        "Records": batch,
        "window": {"start": iso(start), "end": iso(start + length)},
        "state": shard.state,
        "shardId": shard.shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": early,
    }
