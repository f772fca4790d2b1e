"""The event source mapping across a stream's shards, one test per rule, on a Streams API held in
memory and a recording function in place of Lambda:

- "Lambda polls shards in your DynamoDB stream": shards in parallel, one batch per shard at a time
  (``ParallelizationFactor`` 1: "the number of batches to process concurrently from each shard");
- "an application must always process a parent shard before it processes a child shard" (DynamoDB
  Developer Guide, "Reading and processing a stream"): a child waits until its parent is drained;
- a tumbling window and its state per shard ("Your state can be a maximum of 1 MB per shard");
- a window on a shard that closes ends when the shard is drained (the guide is silent: the
  emulation's stated choice, docs/local-stack.md).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

import local_stack.awslambda.esm.poller as poller_module
from local_stack.awslambda.esm import StreamPoller
from tests.fake_streams import T0, Streams
from tests.fakes import source_settings

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-10-29T14:00:00.000"


class Function:
    """Records every event (the records' keys, per shard); answers as ``answer`` does."""

    def __init__(self, answer=None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or (
            lambda event: {"state": {"n": event.get("state", {}).get("n", 0) + len(event["Records"])}}
        )
        self.metrics = SimpleNamespace(iterator_age=lambda *_: None)
        self.errors: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def invoke(self, _name: str, event: dict[str, Any]) -> Any:
        with self._lock:
            self.events.append(event)
        return self.answer(event)

    def keys(self, shard_id: str | None = None) -> list[str]:
        return [
            record["dynamodb"]["Keys"]["k"]["S"]
            for event in self.events
            if shard_id is None or event.get("shardId") == shard_id
            for record in event["Records"]
        ]


def mapping(function: Function, streams: Streams, **settings: Any) -> StreamPoller:
    return StreamPoller(
        function,
        "Consumer",
        streams,
        ARN,
        source_settings(**{"tumbling_window": 60, **settings}),
        poll_interval=60,
    )


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The mapping's wall clock stands at T0 + 1 (a window of 60 s is open); no back-off waits."""
    fake = SimpleNamespace(
        time=lambda: T0 + 1, monotonic=time.monotonic, sleep=lambda _: None, time_ns=time.time_ns
    )
    monkeypatch.setattr(poller_module, "time", fake)
    return fake


def test_a_parent_is_drained_and_delivered_before_its_child_starts():
    streams = Streams()
    streams.shard("parent", closed=True)
    streams.shard("child", parent="parent")
    streams.write("parent", "a")
    streams.write("child", "a")
    function = Function()
    consumer = mapping(function, streams, tumbling_window=0)
    consumer.poll_once(wait_done=True)
    assert function.keys() == ["a"]  # the parent's record only: the child waits
    assert [event["Records"][0]["dynamodb"]["SequenceNumber"] for event in function.events] == ["1"]
    consumer.poll_once(wait_done=True)
    assert [r["dynamodb"]["SequenceNumber"] for e in function.events for r in e["Records"]] == ["1", "2"]
    assert (consumer.delivered["shards_open"], consumer.delivered["shards_closed"]) == (1, 1)


def test_a_child_waits_while_its_parent_is_still_open():
    streams = Streams()
    streams.shard("parent")
    streams.shard("child", parent="parent")
    streams.write("parent", "a")
    streams.write("child", "b")
    function = Function()
    consumer = mapping(function, streams, tumbling_window=0)
    for _ in range(3):
        consumer.poll_once(wait_done=True)
    assert function.keys() == ["a"]
    streams.shards["parent"]["closed"] = True  # the parent closes: read to its end, then the child
    consumer.poll_once(wait_done=True)
    consumer.poll_once(wait_done=True)
    assert function.keys() == ["a", "b"]


def test_shards_are_delivered_in_parallel():
    streams = Streams()
    for shard_id in ("one", "two", "three"):
        streams.shard(shard_id)
        streams.write(shard_id, shard_id)
    together = threading.Barrier(3, timeout=10)  # broken unless the three batches run at once

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        together.wait()
        return {"batchItemFailures": []}

    function = Function(answer)
    consumer = mapping(function, streams, tumbling_window=0)
    consumer.poll_once(wait_done=True)
    assert sorted(function.keys()) == ["one", "three", "two"]
    assert consumer.delivered["retries"] == 0


def test_one_batch_per_shard_at_a_time():
    streams = Streams()
    streams.shard("one")
    for n in range(3):
        streams.write("one", f"k{n}")
    release, in_flight, most = threading.Event(), [0], [0]
    lock = threading.Lock()

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        release.wait(10)
        with lock:
            in_flight[0] -= 1
        return {}

    function = Function(answer)
    consumer = mapping(function, streams, tumbling_window=0, batch_size=1)
    consumer.poll_once()  # the first batch is in flight, held by the function
    consumer.poll_once()  # a poll meanwhile starts no other batch of the shard
    consumer.poll_once()
    release.set()
    consumer.poll_once(wait_done=True)
    consumer.stop()
    assert function.keys() == ["k0", "k1", "k2"]  # in order, each once
    assert most[0] == 1


def test_each_shard_has_its_own_window_and_state():
    streams = Streams()
    streams.shard("one")
    streams.shard("two")
    streams.write("one", "a")
    streams.write("two", "b")
    function = Function()
    consumer = mapping(function, streams)
    consumer.poll_once(wait_done=True)
    streams.write("one", "c")
    streams.write("one", "d")
    consumer.poll_once(wait_done=True)
    by_shard = [(event["shardId"], event["state"], len(event["Records"])) for event in function.events]
    assert sorted(by_shard[:2]) == [("one", {}, 1), ("two", {}, 1)]  # each window starts fresh
    assert by_shard[2:] == [("one", {"n": 1}, 2)]  # one's state, not two's
    assert not any(event["isFinalInvokeForWindow"] for event in function.events)  # still open


def test_a_window_on_a_closing_shard_ends_when_the_shard_is_drained():
    streams = Streams()
    streams.shard("parent")
    streams.shard("child", parent="parent")
    streams.write("parent", "a")
    function = Function()
    consumer = mapping(function, streams)
    consumer.poll_once(wait_done=True)
    assert [event["isFinalInvokeForWindow"] for event in function.events] == [False]  # T0 + 1: open
    streams.write("parent", "b")
    streams.shards["parent"]["closed"] = True
    streams.write("child", "c")
    consumer.poll_once(wait_done=True)  # the parent's last record and its final invocation, at T0 + 1
    consumer.poll_once(wait_done=True)  # then the child, with its own window and a fresh state
    parent = [event for event in function.events if event["shardId"] == "parent"]
    assert [(e["isFinalInvokeForWindow"], e["state"], len(e["Records"])) for e in parent] == [
        (False, {}, 1),
        (True, {"n": 1}, 1),  # the window's last record comes in its final invocation
    ]
    assert parent[-1]["window"] == {"start": "2024-10-29T14:32:00Z", "end": "2024-10-29T14:33:00Z"}
    child = [event for event in function.events if event["shardId"] == "child"]
    assert [(e["isFinalInvokeForWindow"], e["state"]) for e in child] == [(False, {})]
    assert function.events.index(child[0]) > function.events.index(parent[-1])


def test_a_failed_final_invocation_on_a_drained_shard_holds_its_children_back_until_it_succeeds():
    streams = Streams()
    streams.shard("parent", closed=True)
    streams.shard("child", parent="parent")
    streams.write("parent", "a")
    streams.write("child", "b")
    failures = iter([True, False])

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        if event["isFinalInvokeForWindow"] and next(failures):
            raise RuntimeError("function error")
        return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}

    function = Function(answer)
    consumer = mapping(function, streams)
    consumer.poll_once(wait_done=True)  # the parent's final invocation fails
    assert function.keys("child") == []
    consumer.poll_once(wait_done=True)  # retried, it succeeds: the parent is finished
    consumer.poll_once(wait_done=True)
    assert function.keys("parent") == ["a", "a"]
    assert function.keys("child") == ["b"]


def test_a_stopping_stack_delivers_every_shard_children_after_parents():
    streams = Streams()
    streams.shard("parent", closed=True)
    streams.shard("child", parent="parent")
    streams.write("parent", "a")
    streams.write("child", "b")
    function = Function()
    consumer = mapping(function, streams)
    consumer.poll_once(flush=True)
    assert function.keys() == ["a", "b"]
    assert all(event["isFinalInvokeForWindow"] for event in function.events)


def test_a_finished_parent_is_let_go_before_shards_are_handed_out_and_its_child_starts_at_once():
    streams = Streams()
    streams.shard("parent", closed=True)
    streams.shard("child", parent="parent")
    streams.write("child", "b")
    function = Function()
    consumer = mapping(function, streams, tumbling_window=0)
    consumer._refresh()
    consumer._shards["parent"].drained = True  # read to its end by an earlier poll, nothing left
    consumer.poll_once(wait_done=True)  # one poll: the parent let go, the child delivered
    assert function.keys() == ["b"]
    assert consumer.delivered["shards_closed"] == 1
