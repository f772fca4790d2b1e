"""The event source mapping without a tumbling window (a template's stream source as outside
applications have it), one test per documented rule of "Using AWS Lambda with Amazon DynamoDB"
(Error handling, "Configuring partial batch response", Polling and batching streams), on the same
decision (``esm.outcome``) and retry policy as the windowed path (tests/unit/test_tumbling_windows.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from local_stack.awslambda.esm import Shard, StreamPoller, outcome
from local_stack.awslambda.esm.outcome import FAILED
from local_stack.faults import Fault
from tests.fake_streams import Streams
from tests.fakes import source_settings

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-10-29T14:00:00.000"


class Function:
    def __init__(self, answer=None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or (lambda _event: {"batchItemFailures": []})
        self.metrics = SimpleNamespace(iterator_age=lambda *_: None)
        self.errors: dict[str, int] = defaultdict(int)

    def invoke(self, _name: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.answer(event)

    def numbers(self) -> list[list[str]]:
        return [[r["dynamodb"]["SequenceNumber"] for r in event["Records"]] for event in self.events]

    def response_lost(self, name: str) -> None:
        self.errors[name] += 1


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803 - boto3's names
        self.sent.append(json.loads(MessageBody))


def record(sequence: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(sequence), "Keys": {}}}


def mapping(
    function: Function, queue: Queue | None = None, streams: Streams | None = None, **settings: Any
) -> StreamPoller:
    return StreamPoller(
        function,
        "Consumer",
        streams,
        ARN,
        source_settings(**settings),
        sqs=queue,
        dead_letter_url="q",
        poll_interval=60,
    )


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    import local_stack.awslambda.esm.poller as module

    monkeypatch.setattr(module.time, "sleep", lambda _: None)


def holding(*sequences: int) -> Shard:
    shard = Shard("shardId-1")
    shard.buffer.extend(record(n) for n in sequences)
    shard.oldest = 0.0
    return shard


def test_the_event_carries_the_records_only():
    function = Function()
    mapping(function)._deliver(holding(1, 2))
    assert function.events == [{"Records": [record(1) | {}, record(2)]}]


def test_a_partial_failure_delivers_the_failed_record_and_the_rest_again_never_those_before():
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "2"}]}, {"batchItemFailures": []}])
    function = Function(lambda _event: next(answers))
    consumer, shard = mapping(function), holding(1, 2, 3)
    assert not consumer._deliver(shard)
    assert consumer._deliver(shard)
    assert function.numbers() == [["1", "2", "3"], ["2", "3"]]
    assert not shard.buffer
    assert (consumer.delivered["records"], consumer.delivered["retries"]) == (3, 1)


def test_without_report_batch_item_failures_a_named_record_does_not_fail_the_batch():
    function = Function(lambda _event: {"batchItemFailures": [{"itemIdentifier": "1"}]})
    consumer, shard = mapping(function, report_item_failures=False), holding(1, 2)
    assert consumer._deliver(shard)
    assert function.numbers() == [["1", "2"]]


def test_an_identifier_in_no_record_fails_the_whole_batch():
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "99"}]}, {}])
    function = Function(lambda _event: next(answers))
    consumer, shard = mapping(function), holding(1, 2)
    consumer._deliver(shard)
    consumer._deliver(shard)
    assert function.numbers() == [["1", "2"], ["1", "2"]]


def test_a_function_error_retries_the_whole_batch():
    answers = iter([RuntimeError("function error"), {}])

    def answer(_event):
        given = next(answers)
        if isinstance(given, Exception):
            raise given
        return given

    function = Function(answer)
    consumer, shard = mapping(function), holding(1, 2, 3, 4)
    consumer._deliver(shard)
    consumer._deliver(shard)
    assert function.numbers() == [["1", "2", "3", "4"], ["1", "2", "3", "4"]]
    assert not shard.buffer


def test_a_function_error_is_bisected_with_bisect_batch_on_function_error():
    def answer(event):
        if len(event["Records"]) > 1:
            raise RuntimeError("function error")
        return {}

    function = Function(answer)
    consumer, shard = mapping(function, bisect=True), holding(1, 2, 3, 4)
    consumer._deliver(shard)
    assert function.numbers() == [["1", "2", "3", "4"], ["1", "2"], ["1"]]  # halves, down to one
    assert [r["dynamodb"]["SequenceNumber"] for r in shard.buffer] == ["2", "3", "4"]  # the rest again


def test_after_the_retries_the_batch_goes_to_the_on_failure_destination_and_the_shard_moves_on():
    def answer(_event):
        raise RuntimeError("function error")

    function, queue = Function(answer), Queue()
    consumer, shard = mapping(function, queue, max_retries=2), holding(1, 2)
    shard.buffer.append(record(3))
    outcomes = [consumer._deliver(shard) for _ in range(3)]
    assert outcomes == [False, False, True]  # the first attempt, two retries, then given up
    assert not shard.buffer
    (sent,) = queue.sent
    info = sent["DDBStreamBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        "shardId-1",
        "1",
        "3",
    )
    assert sent["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert consumer.delivered["dead_lettered"] == 3


def test_a_lost_response_is_a_function_error_retried():
    function = Function()
    consumer, shard = mapping(function), holding(1)
    fault = Fault(function="Consumer", lose_response="any", times=1)
    consumer.faults = lambda: [fault]
    assert not consumer._deliver(shard)  # ran, its answer lost
    assert consumer._deliver(shard)
    assert function.numbers() == [["1"], ["1"]]
    assert (consumer.delivered["responses_lost"], function.errors["Consumer"]) == (1, 1)


def test_a_batch_is_delivered_when_full_or_once_its_oldest_record_waited_the_batching_window():
    streams, function = Streams(), Function()
    streams.shard("shardId-1")
    consumer = mapping(function, batch_size=3, batching_window=300.0, streams=streams)
    for key in ("a", "b"):
        streams.write("shardId-1", key)
    consumer.poll_once(wait_done=True)
    assert function.events == []  # two records, read just now: they wait
    streams.write("shardId-1", "c")
    consumer.poll_once(wait_done=True)
    assert function.numbers() == [["1", "2", "3"]]  # full
    streams.write("shardId-1", "d")
    consumer.poll_once(wait_done=True)
    assert function.numbers() == [["1", "2", "3"]]
    consumer._shards["shardId-1"].oldest -= 300.0  # its oldest record has waited the window
    consumer.poll_once(wait_done=True)
    assert function.numbers()[-1] == ["4"]


def test_one_decision_for_both_paths_a_window_without_state_is_a_failure():
    batch = [record(1), record(2)]
    named = {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert outcome(batch, named, report_item_failures=True, windowed=False).done == 1
    assert outcome(batch, {**named, "state": {}}, report_item_failures=True, windowed=True).done == 1
    assert outcome(batch, named, report_item_failures=True, windowed=True).failed  # no state
    assert outcome(batch, None, report_item_failures=True, windowed=False).done == 2  # nothing to report
    assert outcome(batch, FAILED, report_item_failures=True, windowed=False).failed
