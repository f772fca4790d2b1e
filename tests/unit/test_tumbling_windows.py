"""The event source mapping's tumbling windows, one test per documented rule ("Implementing stateful
DynamoDB stream processing in Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html), on the emulated mapping
with a recording function in place of Lambda."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from local_stack.awslambda.esm import MAX_STATE_BYTES, Shard, StreamPoller
from local_stack.faults import Fault
from tests.fakes import source_settings

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-10-29T14:00:00.000"
WINDOW = 60
T0 = 1_730_212_320  # 2024-10-29T14:32:00Z, on a minute: a window starts here


def counting(event: dict[str, Any]) -> dict[str, Any]:
    """A function whose state counts the window's records."""
    return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}


class Function:
    """Answers each event with ``answer(event)``; records every event it was given."""

    def __init__(self, answer=None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or counting
        self.metrics = SimpleNamespace(iterator_age=lambda *_: None)
        self.errors: dict[str, int] = defaultdict(int)

    def invoke(self, _name: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.answer(event)

    def response_lost(self, name: str) -> None:
        self.errors[name] += 1


def record(sequence: int, created: int) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "dynamodb": {"SequenceNumber": str(sequence), "ApproximateCreationDateTime": created, "Keys": {}},
    }


def poller(function: Function, **settings: Any) -> StreamPoller:
    return StreamPoller(
        function,
        "Consumer",
        None,
        ARN,
        source_settings(**{"tumbling_window": WINDOW, **settings}),
        poll_interval=60,
    )


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    import local_stack.awslambda.esm.poller as module

    monkeypatch.setattr(module.time, "sleep", lambda _: None)


def deliver(mapping: StreamPoller, shard: Shard, now: float, *records: dict[str, Any]) -> None:
    shard.buffer.extend(records)
    shard.oldest = shard.oldest or 0.0
    mapping._deliver_windows(shard, now, flush=False)


def test_the_event_carries_the_window_fields():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 10, record(1, T0 + 5))
    (event,) = function.events
    assert event["window"] == {"start": "2024-10-29T14:32:00Z", "end": "2024-10-29T14:33:00Z"}
    assert event["state"] == {}  # the window's first invocation
    assert (event["shardId"], event["eventSourceARN"]) == ("shardId-1", ARN)
    assert (event["isFinalInvokeForWindow"], event["isWindowTerminatedEarly"]) == (False, False)


def test_windows_are_aligned_to_their_length_and_a_batch_never_spans_two():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 70, record(1, T0 + 5), record(2, T0 + 59), record(3, T0 + 61))
    first, second = function.events
    assert [r["dynamodb"]["SequenceNumber"] for r in first["Records"]] == ["1", "2"]
    assert first["isFinalInvokeForWindow"]  # closed already: its records come in its final invocation
    assert first["window"]["start"] == "2024-10-29T14:32:00Z"
    assert [r["dynamodb"]["SequenceNumber"] for r in second["Records"]] == ["3"]
    assert second["window"] == {"start": "2024-10-29T14:33:00Z", "end": "2024-10-29T14:34:00Z"}
    assert not second["isFinalInvokeForWindow"]  # still open
    assert second["state"] == {}  # a new window starts from a fresh state


def test_each_invocation_gets_the_state_the_previous_successful_one_returned():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0), record(2, T0))
    deliver(mapping, shard, T0 + 2, record(3, T0 + 1))
    assert [event["state"] for event in function.events] == [{}, {"n": 2}]


def test_state_is_kept_per_shard():
    function = Function()
    mapping, one, two = poller(function), Shard("shardId-1"), Shard("shardId-2")
    deliver(mapping, one, T0 + 1, record(1, T0), record(2, T0))
    deliver(mapping, two, T0 + 1, record(3, T0))
    deliver(mapping, two, T0 + 2, record(4, T0))
    assert [(e["shardId"], e["state"]) for e in function.events[2:]] == [("shardId-2", {"n": 1})]


def test_a_failed_invocation_keeps_the_state_from_before_it():
    failing = {"now": False}

    def answer(event):
        if failing["now"]:
            failing["now"] = False
            raise RuntimeError("function error")
        return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}

    function = Function(answer)
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0))
    failing["now"] = True
    deliver(mapping, shard, T0 + 2, record(2, T0 + 1))
    mapping._deliver_windows(shard, T0 + 3, flush=False)  # the retry
    assert [event["state"] for event in function.events] == [{}, {"n": 1}, {"n": 1}]
    assert [len(event["Records"]) for event in function.events] == [1, 1, 1]


def test_a_response_without_state_is_a_failed_invocation():
    answers = iter([{"batchItemFailures": []}, {"state": {"ok": True}}])
    function = Function(lambda _event: next(answers))
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0))
    assert shard.buffer  # not done: retried
    mapping._deliver_windows(shard, T0 + 2, flush=False)
    assert function.events[0]["Records"] == function.events[1]["Records"]
    assert function.events[1]["state"] == {}
    assert not shard.buffer
    assert shard.state == {"ok": True}


def test_the_final_invocation_comes_once_the_window_has_closed_with_or_without_records():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 30, record(1, T0 + 10))
    mapping._deliver_windows(shard, T0 + 59, flush=False)  # still open: nothing more
    assert len(function.events) == 1
    mapping._deliver_windows(shard, T0 + 60, flush=False)
    final = function.events[-1]
    assert (final["isFinalInvokeForWindow"], final["Records"], final["state"]) == (True, [], {"n": 1})
    mapping._deliver_windows(shard, T0 + 61, flush=False)
    assert len(function.events) == 2  # once; the state is dropped with the window
    assert shard.state == {}


def test_a_window_without_records_has_no_invocation():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    mapping._deliver_windows(shard, T0 + 600, flush=False)
    assert function.events == []


def test_a_state_over_1_mb_ends_the_window_early_and_it_goes_on_with_a_fresh_state():
    big = {"blob": "x" * MAX_STATE_BYTES}
    answers = iter([{"state": big}, {"state": {"after": "early"}}, {"state": {"n": 1}}, {"state": {}}])
    function = Function(lambda _event: next(answers))
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0))
    deliver(mapping, shard, T0 + 2, record(2, T0 + 1))
    ended, after = function.events[1], function.events[2]
    assert (ended["isWindowTerminatedEarly"], ended["isFinalInvokeForWindow"]) == (True, False)
    assert (ended["Records"], ended["state"]) == ([], big)
    assert after["window"] == ended["window"]  # the same window
    assert after["state"] == {}  # with a fresh state
    assert after["Records"][0]["dynamodb"]["SequenceNumber"] == "2"


def test_a_partial_failure_delivers_the_rest_again_with_the_state_returned():
    answers = iter(
        [
            {"state": {"through": "1"}, "batchItemFailures": [{"itemIdentifier": "2"}]},
            {"state": {"through": "3"}, "batchItemFailures": []},
        ]
    )
    function = Function(lambda _event: next(answers))
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0), record(2, T0), record(3, T0))
    mapping._deliver_windows(shard, T0 + 2, flush=False)
    retry = function.events[1]
    assert [r["dynamodb"]["SequenceNumber"] for r in retry["Records"]] == ["2", "3"]
    assert retry["state"] == {"through": "1"}


def test_after_the_retries_a_final_invocation_gives_up_and_the_window_ends():
    def answer(event):
        if event["isFinalInvokeForWindow"]:
            raise RuntimeError("function error")
        return {"state": {"n": 1}}

    function = Function(answer)
    mapping, shard = poller(function, max_retries=2), Shard("shardId-1")
    deliver(mapping, shard, T0 + 1, record(1, T0))
    for now in range(4):
        mapping._deliver_windows(shard, T0 + 60 + now, flush=False)
    finals = [event for event in function.events if event["isFinalInvokeForWindow"]]
    assert len(finals) == 3  # the first attempt and MaximumRetryAttempts retries
    assert (shard.window, shard.state) == (None, {})


def test_a_record_arriving_after_its_window_finished_joins_the_open_one():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    deliver(mapping, shard, T0 + 61, record(1, T0 + 5))  # delivered and finished
    deliver(mapping, shard, T0 + 62, record(2, T0 + 59))  # written at :59, read at :02
    assert function.events[-1]["window"]["start"] == "2024-10-29T14:33:00Z"


def test_a_lost_response_of_a_final_invocation_is_a_failure_retried_with_the_state_from_before():
    function = Function()
    mapping, shard = poller(function), Shard("shardId-1")
    fault = Fault(function="Consumer", lose_response="final", times=1)  # one fault, as the stack holds it
    mapping.faults = lambda: [fault]
    deliver(mapping, shard, T0 + 1, record(1, T0))
    mapping._deliver_windows(shard, T0 + 60, flush=False)  # ran, its answer lost
    mapping._deliver_windows(shard, T0 + 61, flush=False)  # retried, answered
    finals = [event for event in function.events if event["isFinalInvokeForWindow"]]
    assert [event["state"] for event in finals] == [{"n": 1}, {"n": 1}]
    assert mapping.delivered["responses_lost"] == 1
    assert function.errors["Consumer"] == 1
    assert shard.window is None
