"""The table is slow, rehearsed through the local stack's latency fault: each function answers
through its own failure path well inside its Timeout — never "Task timed out" — its failures are
counted where the alarms look, and the counts are exact once the table is fast again."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from websockets.sync.client import connect

from connection_tracker.catalogue import DIMENSION, NAMESPACE, SERVICE, MetricName
from local_stack.dashboard.terminal import MetricsReader
from tests.e2e.conftest import start_stack
from tests.e2e.test_gauge_end_to_end import gauge_count
from tests.e2e.test_local_stack import aws
from tests.e2e.test_rehearsal import Traffic, alarm_states, management, notifications
from tests.waiting import wait_for

if TYPE_CHECKING:
    from local_stack.harness.process import StackProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SLOW = 6_000  # ms: longer than every read timeout the budget gives, shorter than no Timeout


def slow(stack: StackProcess, function: str, operation: str) -> None:
    fault = {"function": function, "service": "dynamodb", "operation": operation, "latency_ms": SLOW}
    status, answer = management(stack, "POST", "/_local/faults", fault)
    assert status == 201, answer


def fast_again(stack: StackProcess) -> None:
    assert management(stack, "DELETE", "/_local/faults")[1] == {"faults": []}


def total(stack: StackProcess, name: MetricName, since: float) -> float:
    points = aws(stack, "cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=str(name),
        Dimensions=[{"Name": DIMENSION, "Value": SERVICE}],
        StartTime=datetime.fromtimestamp(since, tz=UTC) - timedelta(minutes=1),
        EndTime=datetime.now(tz=UTC) + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(point["Sum"] for point in points))


def functions_log(stack: StackProcess) -> str:
    return stack.log_path.read_text(encoding="utf-8")


def test_a_slow_put_item_refuses_clients_with_500_counts_each_and_fires_the_alarm_until_it_clears(tmp_path):
    # each refusal takes its budget (2 attempts of 2 s) on one of the function's 4 environments: ~6
    # refusals a 6-second (scaled) minute, too close to the default threshold of 5 for a steady test
    stack = start_stack(
        tmp_path, "--alarm-time-scale", "0.1", "--batch-window", "0.2",
        "--parameter-overrides", "ConnectFailureThreshold=2",
    )  # fmt: skip
    try:
        sqs, sns = aws(stack, "sqs"), aws(stack, "sns")
        pager = sqs.create_queue(QueueName="pager")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=pager, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=stack.ready["alarmTopicArn"], Protocol="sqs", Endpoint=arn)
        wait_for(lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "OK", timeout=30, interval=0.5)
        started = time.time()
        slow(stack, "ConnectFunction", "PutItem")

        attempts = Traffic(stack.url, workers=8, prefix="slow", open_timeout=60)
        try:
            wait_for(
                lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "ALARM", timeout=90, interval=0.5
            )
        finally:
            attempts.stop()
        # every client refused with the function's own 500, each refusal counted once
        assert attempts.statuses
        assert set(attempts.statuses) == {500}
        refused = len(attempts.statuses)
        wait_for(
            lambda: total(stack, MetricName.CONNECT_FAILED, started) == refused, timeout=30, interval=0.5
        )
        log = functions_log(stack)
        assert "Task timed out" not in log
        assert log.count('"errorCode":"ReadTimeoutError"') == refused
        fired = [n for n in notifications(stack, pager) if n["NewStateValue"] == "ALARM"]
        assert [n["AlarmName"] for n in fired] == ["ConnectFailureSpikeAlarm"]

        fast_again(stack)
        attempts = Traffic(stack.url, workers=4, prefix="slow", open_timeout=60)
        try:
            wait_for(
                lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "OK", timeout=90, interval=0.5
            )
        finally:
            attempts.stop()
        assert 200 in attempts.statuses  # connects go through again
        cleared = [n for n in notifications(stack, pager) if n["AlarmName"] == "ConnectFailureSpikeAlarm"]
        assert [(n["OldStateValue"], n["NewStateValue"]) for n in cleared] == [("ALARM", "OK")]
        assert "Task timed out" not in functions_log(stack)
    finally:
        stack.stop()


def test_a_slow_delete_item_is_a_counted_disconnect_failure_and_the_item_goes_by_its_ttl(stack):
    started = time.time()
    with contextlib.ExitStack() as sockets:
        for n in range(5):
            sockets.enter_context(connect(f"{stack.url}?clientId=leaving-{n}"))
        slow(stack, "DisconnectFunction", "DeleteItem")
    # closed: API Gateway sends each $disconnect
    wait_for(lambda: total(stack, MetricName.DISCONNECT_FAILED, started) == 5, timeout=60, interval=0.5)
    fast_again(stack)
    log = functions_log(stack)
    assert "Task timed out" not in log
    failed = [line for line in log.splitlines() if '"message":"disconnect failed"' in line]
    assert len(failed) == 5
    assert all('"errorCode":"ReadTimeoutError"' in line and "TTL" in line for line in failed)
    assert total(stack, MetricName.DISCONNECT_HANDLED, started) == 0
    # the table let them go later (a timed-out request may still be applied) or their TTL did
    reader = MetricsReader(aws(stack, "cloudwatch"), since=started)
    wait_for(
        lambda: reader.totals()["ConnectionsClosed"] + reader.totals()["ConnectionsExpired"] == 5,
        timeout=60,
        interval=0.5,
    )


def test_a_slow_gauge_transaction_hands_batches_back_and_the_counts_are_exact_once_it_is_fast(tmp_path):
    # the template's TTL: nothing expires here; a 2-second gauge window: only a window's final
    # invocation writes the gauge, so the slow transaction is met within seconds
    stack = start_stack(tmp_path, "--batch-window", "0.2", "--parameter-overrides", "GaugeWindowSeconds=2")
    try:
        exact_once_fast(stack)
    finally:
        stack.stop()


def exact_once_fast(stack: StackProcess) -> None:
    started = time.time()
    slow(stack, "StreamMetricsFunction", "TransactWriteItems")
    with contextlib.ExitStack() as sockets:
        for n in range(5):
            sockets.enter_context(connect(f"{stack.url}?clientId=counted-{n}"))
        wait_for(lambda: '"message":"gauge update failed"' in functions_log(stack), timeout=60, interval=0.5)
        fast_again(stack)
        reader = MetricsReader(aws(stack, "cloudwatch"), since=started)
        wait_for(lambda: reader.totals()["ConnectionsOpened"] == 5, timeout=60, interval=0.5)
        wait_for(lambda: gauge_count(stack) == 5, timeout=60, interval=0.5)
    wait_for(lambda: reader.totals()["ConnectionsClosed"] == 5, timeout=60, interval=0.5)
    wait_for(lambda: gauge_count(stack) == 0, timeout=60, interval=0.5)
    log = functions_log(stack)
    assert "Task timed out" not in log
    assert "ReadTimeoutError" in next(
        line for line in log.splitlines() if '"message":"gauge update failed"' in line
    )
    assert reader.totals()["ConnectionsOpened"] == 5  # once each, however often delivered
