"""The local stack runs another SAM WebSocket application than ours (tests/e2e/apps/chat): routes
chosen by the selection expression, $default with its route response, a handler answering through
@connections at the endpoint it builds from its event, and variables no other function sees."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local_stack.harness.process import StackProcess
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

CHAT = Path(__file__).parent / "apps" / "chat" / "template.yaml"


@pytest.fixture
def chat(tmp_path):
    stack = start_stack(tmp_path, "--template", str(CHAT))
    yield stack
    stack.stop()


def test_clients_exchange_messages_through_another_application(chat):
    assert chat.url.endswith("/dev")  # the stage of the application's own template
    # nothing of it goes unemulated but IAM (the roles SAM made for its functions are not
    # enforced); CloudWatch Logs says its memory bound
    assert [n for n in chat.ready["notices"] if not n.startswith("CloudWatch Logs keeps at most")] == [
        "IAM is not enforced: functions may call anything the local AWS endpoint serves "
        "(EchoFunctionRole, SendFunctionRole)"
    ]

    async def scenario() -> None:
        async with (
            connect(chat.url, ping_interval=None, open_timeout=30) as alice,
            connect(chat.url, ping_interval=None, open_timeout=30) as bob,
        ):
            # no route matches plain text: $default, two-way, answers back
            await alice.send("hello")
            echo = json.loads(await asyncio.wait_for(alice.recv(), 30))
            assert (echo["echo"], echo["route"], echo["eventType"]) == ("hello", "$default", "MESSAGE")
            assert echo["hasMessageId"]
            assert echo["room"] == "lobby"  # Globals, from a parameter's default
            assert echo["secretSeen"] is None  # SendFunction's own variable: not the echo's

            await bob.send(json.dumps({"action": "whoami"}))  # an action no route has: $default
            bob_id = json.loads(await asyncio.wait_for(bob.recv(), 30))["connectionId"]

            # the custom route, chosen by $request.body.action; it answers through @connections
            await alice.send(json.dumps({"action": "sendmessage", "text": "hi bob", "to": bob_id}))
            received = json.loads(await asyncio.wait_for(bob.recv(), 30))
            assert received == {
                "from": echo["connectionId"],
                "text": "hi bob",
                "secret": "only-the-sender-has-it",
            }

    asyncio.run(scenario())


UNSUPPORTED_ALARM = """
  BandAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      ComparisonOperator: GreaterThanUpperThreshold
      EvaluationPeriods: 1
      ThresholdMetricId: band
      Metrics:
        - Id: band
          Expression: ANOMALY_DETECTION_BAND(m, 2)
        - Id: m
          ReturnData: false
          MetricStat:
            Metric: {Namespace: AWS/Lambda, MetricName: Duration}
            Period: 60
            Stat: p99
"""


def test_an_alarm_it_cannot_evaluate_stops_the_start_and_is_named(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(CHAT.parent, app)
    template = app / "template.yaml"
    template.write_text(template.read_text() + UNSUPPORTED_ALARM)
    stack = StackProcess(tmp_path / "functions.log", "--template", str(template))
    with pytest.raises(RuntimeError, match="cannot start: BandAlarm: ANOMALY_DETECTION_BAND"):
        stack.wait_ready()
    assert stack.process.wait(timeout=30) == 2


MULTIMODULE = Path(__file__).parent / "apps" / "multimodule" / "template.yaml"


def test_an_application_split_over_modules_runs_unmodified(tmp_path, monkeypatch):
    """A handler importing the package beside it, a dotted handler with a requirements.txt, plain
    ``logging``: as on Lambda. What the shell that started the stack had reaches no function."""
    monkeypatch.setenv("LEAK_CANARY", "from-the-shell")
    stack = start_stack(tmp_path, "--template", str(MULTIMODULE))
    try:

        async def scenario() -> dict:
            refused = f"{stack.url}?name=not%20valid"
            with pytest.raises(InvalidStatus) as refusal:  # $connect from handler.py + libs/
                async with connect(refused, ping_interval=None, open_timeout=30):
                    pass
            assert refusal.value.response.status_code == 403
            async with connect(f"{stack.url}?name=alice", ping_interval=None, open_timeout=30) as client:
                await client.send("crème brûlée")
                return json.loads(await asyncio.wait_for(client.recv(), 30))

        answer = asyncio.run(scenario())
    finally:
        stack.stop()
    assert answer["echo"] == "creme brulee"  # text-unidecode, installed from requirements.txt
    assert answer["module"] == "chat.handlers.echo"
    assert answer["dependencyFrom"].startswith(str(tmp_path / "dependencies"))
    assert answer["leaked"] == {"LEAK_CANARY": None, "AWS_PROFILE": None, "HTTPS_PROXY": None}
    log = stack.log_path.read_text(encoding="utf-8")
    assert f"\t{answer['requestId']}\techoing crème brûlée" in log  # the root logger, [INFO] line
    assert f"START RequestId: {answer['requestId']} Version: $LATEST" in log
