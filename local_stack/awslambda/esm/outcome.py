"""What an invocation of a batch leaves done: one decision for the plain and the windowed path.

"Using AWS Lambda with Amazon DynamoDB", Error handling and "Configuring partial batch response":
a function error fails the whole batch; a response naming ``batchItemFailures`` leaves everything
before the lowest failed sequence number done ("Lambda treats a batch as a complete success if
... you return an empty batchItemFailures list"; an identifier that is in no record of the batch,
or an empty/null one, fails the whole batch). With tumbling windows ("Implementing stateful
DynamoDB stream processing in Lambda"): "If the response does not contain a state property,
Lambda considers this a failed invocation".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAILED = object()  # what an invocation that raised, crashed or lost its response answers


@dataclass(frozen=True, slots=True)
class Outcome:
    """``done``: how many leading records of the batch are done (``None``: the invocation failed,
    nothing of it is done); ``state``: the window's state the response returned (windowed only)."""

    done: int | None
    state: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.done is None


def outcome(
    batch: list[dict[str, Any]],
    response: Any,  # noqa: ANN401 - what the function answered
    *,
    report_item_failures: bool,
    windowed: bool,
) -> Outcome:
    """The outcome of one invocation of ``batch`` that answered ``response`` (``FAILED``: a
    function error). ``batchItemFailures`` is read only when the mapping reports them
    (``FunctionResponseTypes: ReportBatchItemFailures``); otherwise a success is the whole batch."""
    if response is FAILED:
        return Outcome(None)
    state = response.get("state") if isinstance(response, dict) else None
    if windowed and not isinstance(state, dict):
        return Outcome(None)
    failures = (
        response.get("batchItemFailures") if report_item_failures and isinstance(response, dict) else None
    )
    if not failures:
        return Outcome(len(batch), state)
    failed = {str(item.get("itemIdentifier")) for item in failures if isinstance(item, dict)}
    for index, record in enumerate(batch):
        if record["dynamodb"]["SequenceNumber"] in failed:
            return Outcome(index, state)
    return Outcome(0, state)  # an identifier that is in no record fails the whole batch
