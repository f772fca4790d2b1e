"""A slow table never times a function out: each one answers through its own failure path, before
its deadline less the margin. Time is a fake clock here, advanced by the slow table as it answers
(or as a hanging one makes botocore wait for its read timeout), so nothing sleeps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from connection_tracker import budget
from connection_tracker.catalogue import MetricName
from connection_tracker.consumer import GaugeUpdateFailed
from connection_tracker.store import StoreError
from sam_template.handlers import LambdaContext, load_handler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class SlowTable:
    """DynamoDB taking ``seconds`` to answer ``operation``. Longer than the client's read timeout,
    it hangs: botocore gives the attempt up after that timeout (``ReadTimeoutError``), as it would
    on a socket that never answers; shorter, the answer comes, that much later."""

    def __init__(self, clock: FakeClock, operation: str, seconds: float) -> None:
        self.clock, self.operation, self.seconds = clock, operation, seconds
        self.attempts = 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        if not event_name.endswith(f".{self.operation}"):
            return
        self.attempts += 1
        read_timeout = budget.current().read_timeout
        if self.seconds >= read_timeout:
            self.clock.now += read_timeout
            raise ReadTimeoutError(endpoint_url=request.url)
        self.clock.now += self.seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(budget, "clock", fake)
    return fake


@pytest.fixture
def slow(default_session, clock):
    def make(operation: str, seconds: float) -> SlowTable:
        table = SlowTable(clock, operation, seconds)
        default_session.register(f"before-send.dynamodb.{operation}", table)
        return table

    return make


def within(template, function: str, clock: FakeClock, started: float) -> bool:
    """Answered before the function's Timeout less the margin."""
    timeout = template.function_timeout(function)
    return clock.now - started <= timeout - budget.Budget.for_timeout(timeout).margin


def test_a_hanging_put_item_is_a_500_and_a_connect_failure_well_inside_the_timeout(
    invoke, event, table, slow, clock, output, template, dynamodb
):
    put = slow("PutItem", 6)
    started = clock.now

    assert invoke("ConnectFunction", event("connect")) == {"statusCode": 500, "body": "internal error"}

    assert within(template, "ConnectFunction", clock, started)
    assert put.attempts == 2  # what a 10 s Timeout has room for
    assert dynamodb.scan(TableName=table)["Items"] == []
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    line = printed.log("connect failed")
    assert (line["operation"], line["errorCode"]) == ("PutItem", "ReadTimeoutError")


def test_a_put_item_with_no_time_left_is_not_started(template, event, table, slow, clock, output):
    put = slow("PutItem", 0.01)
    payload = event("connect")
    context = LambdaContext(function_name="ConnectFunction", remaining_ms=10_000)
    handler = load_handler(template, "ConnectFunction")
    assert handler(payload, context)["statusCode"] == 200  # the client is made with a 10 s budget
    output()

    late = LambdaContext(function_name="ConnectFunction", remaining_ms=1_500)  # 1.5 s left already
    payload["requestContext"]["connectionId"] = "Lx1hHc7GoAMCIqB="
    assert handler(payload, late) == {"statusCode": 500, "body": "internal error"}
    assert put.attempts == 1  # the first connect's only
    line = output().log("connect failed")
    assert (line["operation"], line["errorCode"]) == ("PutItem", "DeadlineExceeded")
    assert "not started" in line["error"]


def test_a_hanging_delete_item_is_a_500_a_disconnect_failure_and_the_ttl_will_do(
    invoke, event, table, slow, clock, output, template
):
    delete = slow("DeleteItem", 6)
    started = clock.now

    assert invoke("DisconnectFunction", event("disconnect")) == {"statusCode": 500, "body": "internal error"}

    assert within(template, "DisconnectFunction", clock, started)
    assert delete.attempts == 2
    printed = output()
    assert printed.metric_values() == {MetricName.DISCONNECT_FAILED: [1.0]}
    line = printed.log("disconnect failed")
    assert (line["operation"], line["errorCode"]) == ("DeleteItem", "ReadTimeoutError")
    assert "TTL" in line["item"]


def final_window(event, *records: dict[str, Any]) -> dict[str, Any]:
    """The window's final invocation (tests/events/stream_window.json's shape): the only one that
    writes the gauge."""
    return {
        **event("stream_window"),
        "Records": [copy.deepcopy(r) for r in records],
        "state": {},
        "isFinalInvokeForWindow": True,
        "isWindowTerminatedEarly": False,
    }


def test_a_hanging_gauge_write_fails_the_final_invocation_before_the_timeout(
    invoke, event, table, counters, records, slow, clock, output, template
):
    transact = slow("TransactWriteItems", 6)
    started = clock.now

    with pytest.raises(GaugeUpdateFailed, match="ReadTimeoutError"):
        invoke("StreamMetricsFunction", final_window(event, *(records("opened", f"c{n}") for n in range(3))))

    assert within(template, "StreamMetricsFunction", clock, started)
    assert transact.attempts == 3  # what the consumer's Timeout has room for
    printed = output()
    assert MetricName.CONNECTIONS_OPENED not in printed.metric_values()  # counted when invoked again
    assert "ReadTimeoutError" in printed.log("gauge update failed")["error"]


def test_a_gauge_write_with_no_time_left_is_not_started(
    template, event, table, counters, records, slow, output
):
    transact = slow("TransactWriteItems", 0.01)
    consumer = load_handler(template, "StreamMetricsFunction")
    late = LambdaContext(function_name="StreamMetricsFunction", remaining_ms=1_500)  # 1.5 s left

    with pytest.raises(GaugeUpdateFailed, match="DeadlineExceeded"):
        consumer(final_window(event, records("opened", "c1")), late)

    assert transact.attempts == 0
    assert MetricName.CONNECTIONS_OPENED not in output().metric_values()

    plenty = LambdaContext(function_name="StreamMetricsFunction", remaining_ms=60_000)
    response = consumer(final_window(event, records("opened", "c1")), plenty)
    assert response["batchItemFailures"] == []
    assert output().metric_values()[MetricName.CONNECTIONS_OPENED] == [1.0]


def test_a_hanging_delete_stops_the_sweep_and_keeps_its_cursor(
    invoke, dynamodb, table, counters, connections_api, slow, clock, output, template
):
    for n in range(3):
        dynamodb.put_item(
            TableName=table,
            Item={"connectionId": {"S": f"gone-{n}="}, "createdAt": {"N": "1"}, "ttl": {"N": "2"}},
        )
    delete = slow("DeleteItem", 6)
    started = clock.now

    summary = invoke("SweeperFunction", {})

    assert within(template, "SweeperFunction", clock, started)
    assert (summary["finished"], summary["stale"], delete.attempts) == (False, 0, 3)
    assert "DeleteItem: ReadTimeoutError" in output().log("sweep stopped early")["error"]

    delete.seconds = 0  # the table is fast again: the next run takes up from the saved cursor
    assert invoke("SweeperFunction", {})["stale"] == 3
    assert dynamodb.scan(TableName=table)["Items"] == []


def test_a_hanging_scan_stops_the_reconciliation_with_an_error_before_the_timeout(
    invoke, table, counters, slow, clock, output, template
):
    slow("Scan", 6)
    started = clock.now

    with pytest.raises(StoreError):
        invoke("ReconcileFunction", {})

    assert within(template, "ReconcileFunction", clock, started)
    line = output().log("reconcile stopped")
    assert (line["operation"], line["errorCode"]) == ("Scan", "ReadTimeoutError")


def test_a_retry_that_could_not_end_in_time_is_not_made(template, event, failing_dynamodb, clock, output):
    handler = load_handler(template, "ConnectFunction")
    failing_dynamodb.fail_with("ProvisionedThroughputExceededException")
    payload = event("connect")
    handler(payload, LambdaContext(function_name="ConnectFunction", remaining_ms=10_000))
    assert failing_dynamodb.attempts == ["PutItem"] * 2  # time enough: botocore retried once
    output()

    # 4.5 s left: room for an attempt (3 s) after the margin (1 s), not for a pause (up to 1 s) and another
    failing_dynamodb.attempts.clear()
    late = LambdaContext(function_name="ConnectFunction", remaining_ms=4_500)
    assert handler(payload, late) == {"statusCode": 500, "body": "internal error"}
    assert failing_dynamodb.attempts == ["PutItem"]
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    line = printed.log("connect failed")
    assert line["errorCode"] == "DeadlineExceeded"
    assert "ProvisionedThroughputExceededException on attempt 1, no time to retry" in line["error"]
