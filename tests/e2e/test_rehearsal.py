"""Incidents rehearsed through the local stack: faults injected, the template's own alarms evaluated
on the metrics AWS would publish, and their notifications delivered to a queue subscribed to the
alarm topic. Alarm periods are scaled (``--alarm-time-scale``) so that each case takes a minute."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import start_stack
from tests.e2e.test_local_stack import aws
from tests.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from local_stack.harness.process import StackProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Traffic:
    """Clients connecting and leaving in the background (a share of them with an invalid clientId),
    until stopped; each handshake's status is kept (``statuses``), and counted (``outcomes``)."""

    def __init__(
        self,
        url: str,
        *,
        workers: int = 6,
        invalid: float = 0.0,
        prefix: str = "rehearsal",
        open_timeout: float = 30,
    ) -> None:
        self._url, self._invalid, self._prefix, self._open_timeout = url, invalid, prefix, open_timeout
        self._stop = threading.Event()
        self.statuses: list[int] = []
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def outcomes(self) -> dict[str, int]:
        accepted = self.statuses.count(200)
        return {"accepted": accepted, "refused": len(self.statuses) - accepted}

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            bad = self._invalid and n % round(1 / self._invalid) == 0
            client = quote("bad client!") if bad else f"{self._prefix}-{worker}-{n}"
            try:
                with connect(f"{self._url}?clientId={client}", open_timeout=self._open_timeout):
                    self.statuses.append(200)
            except InvalidStatus as refused:
                self.statuses.append(refused.response.status_code)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)


def management(stack: StackProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the stack on loopback
        stack.ready["managementUrl"].rsplit("/", 1)[0] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def alarm_states(stack: StackProcess) -> dict[str, str]:
    """Every alarm's state, as the emulated CloudWatch has it (DescribeAlarms)."""
    alarms = aws(stack, "cloudwatch").describe_alarms()["MetricAlarms"]
    return {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}


def notifications(stack: StackProcess, queue_url: str) -> list[dict[str, Any]]:
    sqs = aws(stack, "sqs")
    found = []
    while page := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in page:
            found.append(json.loads(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.fixture
def rehearsal(tmp_path) -> Iterator[tuple[StackProcess, str]]:
    """A stack with alarm periods scaled by 0.1 (a minute lasts 6 s), and a queue subscribed to
    the alarm topic, as an operator's pager would be."""
    stack = start_stack(tmp_path, "--alarm-time-scale", "0.1", "--batch-window", "0.2")
    sqs, sns = aws(stack, "sqs"), aws(stack, "sns")
    queue_url = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=stack.ready["alarmTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    yield stack, queue_url
    stack.stop()


def test_healthy_traffic_with_rejected_clients_leaves_every_alarm_ok(rehearsal):
    stack, queue_url = rehearsal
    traffic = Traffic(stack.url, invalid=0.2)
    try:
        wait_for(lambda: set(alarm_states(stack).values()) == {"OK"}, timeout=30, interval=0.5)
        time.sleep(20)  # three scaled minutes of traffic: nothing may fire
    finally:
        traffic.stop()
    assert traffic.outcomes["accepted"] > 50
    assert traffic.outcomes["refused"] > 10  # rejected clientIds: 400s, not failures
    assert set(alarm_states(stack).values()) == {"OK"}
    sent = notifications(stack, queue_url)
    assert {(n["OldStateValue"], n["NewStateValue"]) for n in sent} <= {("INSUFFICIENT_DATA", "OK")}


def test_throttled_writes_fire_the_connect_failure_alarm_and_it_clears(rehearsal):
    stack, queue_url = rehearsal
    wait_for(lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "OK", timeout=30, interval=0.5)
    notifications(stack, queue_url)  # the INSUFFICIENT_DATA -> OK ones
    status, listed = management(
        stack,
        "POST",
        "/_local/faults",
        {
            "function": "ConnectFunction",
            "service": "dynamodb",
            "operation": "PutItem",
            "error": "ProvisionedThroughputExceededException",
            "rate": 1.0,
        },
    )
    assert status == 201, listed
    traffic = Traffic(stack.url, workers=8)
    try:
        wait_for(lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "ALARM", timeout=60, interval=0.5)
        assert traffic.outcomes["refused"] > 0
        assert traffic.outcomes["accepted"] == 0  # every connect failed
        (fired,) = [n for n in notifications(stack, queue_url) if n["NewStateValue"] == "ALARM"]
        assert fired["AlarmName"] == "ConnectFailureSpikeAlarm"
        assert fired["OldStateValue"] == "OK"
        assert fired["NewStateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints [1.0")
        assert fired["Trigger"]["Metrics"][-1]["Id"] == "spike"
        described = aws(stack, "cloudwatch").describe_alarms(AlarmNames=["ConnectFailureSpikeAlarm"])
        reason_data = json.loads(described["MetricAlarms"][0]["StateReasonData"])
        assert reason_data["recentDatapoints"] == [1.0, 1.0]

        assert management(stack, "DELETE", "/_local/faults")[1] == {"faults": []}
        wait_for(lambda: alarm_states(stack)["ConnectFailureSpikeAlarm"] == "OK", timeout=60, interval=0.5)
    finally:
        traffic.stop()
    assert traffic.outcomes["accepted"] > 0  # connects went through again
    cleared = [n for n in notifications(stack, queue_url) if n["AlarmName"] == "ConnectFailureSpikeAlarm"]
    assert [(n["OldStateValue"], n["NewStateValue"]) for n in cleared] == [("ALARM", "OK")]


def test_a_throttled_connect_function_fires_the_integration_error_alarm(rehearsal):
    stack, _ = rehearsal
    assert (
        management(stack, "POST", "/_local/faults", {"function": "ConnectFunction", "throttle": True})[0]
        == 201
    )
    traffic = Traffic(stack.url, workers=3)
    try:
        wait_for(
            lambda: alarm_states(stack)["ConnectIntegrationErrorAlarm"] == "ALARM", timeout=60, interval=0.5
        )
    finally:
        traffic.stop()
    assert traffic.outcomes["accepted"] == 0
    # the function never ran: nothing of ours counted a failure
    assert alarm_states(stack)["ConnectFailureSpikeAlarm"] == "OK"


def test_a_malformed_item_is_set_aside_and_fires_the_dead_letter_alarm(rehearsal):
    stack, queue_url = rehearsal
    aws(stack, "dynamodb").put_item(
        TableName=stack.ready["table"],
        Item={"connectionId": {"S": "poison"}, "createdAt": {"S": "yesterday"}},
    )
    wait_for(lambda: alarm_states(stack)["StreamDeadLetterAlarm"] == "ALARM", timeout=60, interval=0.5)
    set_aside = aws(stack, "sqs").get_queue_attributes(
        QueueUrl=stack.ready["deadLetterQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(set_aside["ApproximateNumberOfMessages"]) >= 1
    assert any(n["AlarmName"] == "StreamDeadLetterAlarm" for n in notifications(stack, queue_url))


def test_a_crashing_consumer_fires_its_errors_alarm_and_falls_behind(rehearsal):
    stack, _ = rehearsal
    traffic = Traffic(stack.url, workers=2)
    try:
        wait_for(lambda: iterator_age(stack) > 0, timeout=30)
        healthy = iterator_age(stack)  # about the batching window
        crash = {"function": "StreamMetricsFunction", "crash": True}
        assert management(stack, "POST", "/_local/faults", crash)[0] == 201
        assert management(stack, "GET", "/_local/faults") == (200, {"faults": [{**crash, "rate": 1.0}]})
        wait_for(lambda: alarm_states(stack)["StreamMetricsErrorsAlarm"] == "ALARM", timeout=60, interval=0.5)
        # records wait through every retry before they are set aside: the consumer falls behind
        wait_for(lambda: iterator_age(stack) > max(2 * healthy, 1000), timeout=30, interval=0.5)
    finally:
        traffic.stop()


def iterator_age(stack: StackProcess) -> float:
    """The largest IteratorAge (ms) the consumer's mapping has published so far."""
    statistics = aws(stack, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": "StreamMetricsFunction"}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Maximum"],
    )
    return max((point["Maximum"] for point in statistics["Datapoints"]), default=0.0)


REFUSED = [
    ({"function": "Nope", "crash": True}, "not one of the template's"),
    ({"function": "ConnectFunction"}, "exactly one of"),
    ({"function": "ConnectFunction", "error": "ThrottlingException"}, "needs service and operation"),
    ({"function": "ConnectFunction", "crash": True, "rate": 2}, "rate"),
    ("not an object", "not a fault"),
]


def test_a_fault_that_makes_no_sense_is_refused_with_a_reason(rehearsal):
    stack, _ = rehearsal
    for fault, problem in REFUSED:
        status, answer = management(stack, "POST", "/_local/faults", fault)
        assert (status, problem in answer["message"]) == (400, True), (fault, answer)
    assert management(stack, "GET", "/_local/faults") == (200, {"faults": []})
