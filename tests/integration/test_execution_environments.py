"""The local stack's Lambda: a crashed or timed-out execution environment is replaced by a new one,
as Lambda resets an environment after a failure during the Invoke phase; the template's Timeout is
enforced; a handler's exception leaves its environment in service."""

from __future__ import annotations

import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_stack.awslambda.environments import FunctionError, LocalFunctions
from sam_template.model import load_template
from tests.waiting import wait_for

APP = Path(__file__).parent / "apps" / "faulty" / "template.yaml"


@pytest.fixture
def functions():
    log = io.StringIO()
    local = LocalFunctions(load_template(APP), log)
    local.load(
        {"FaultFunction": 1},
        {"FaultFunction": {"ONLY_MINE": "yes", "AWS_LAMBDA_FUNCTION_NAME": "FaultFunction"}},
    )
    local.log = log
    yield local
    local.stop()


def dead(pid: int) -> bool:
    """The process is gone or a zombie (killed, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def served_by(functions) -> int:
    return functions.invoke("FaultFunction", {})["pid"]


def test_environments_a_burst_started_are_shut_down_when_unused_and_one_stays_warm():
    local = LocalFunctions(load_template(APP), io.StringIO())
    local.load({"FaultFunction": 3})
    try:
        with ThreadPoolExecutor(3) as pool:  # three at once: three environments
            burst = {
                r["pid"] for r in pool.map(lambda _: local.invoke("FaultFunction", {"sleep": 0.5}), range(3))
            }
        assert len(burst) == 3
        after = {served_by(local) for _ in range(5)}
        assert len(after) == 1  # the environment freed last serves the next: the others stay unused
        (warm,) = after

        assert local.shut_down_idle(time.monotonic() + 60, idle_seconds=300) == 0  # not idle long enough
        assert local.shut_down_idle(time.monotonic() + 301, idle_seconds=300) == 2
        assert local.environments() == {"FaultFunction": [warm]}
        assert all(dead(pid) for pid in burst - {warm})
        assert served_by(local) == warm
        assert local.shut_down_idle(time.monotonic() + 10_000, idle_seconds=300) == 0  # one stays warm
    finally:
        local.stop()


def test_a_healthy_environment_serves_one_invocation_after_another(functions):
    first = served_by(functions)
    assert served_by(functions) == first
    # counting down from the template's Timeout (1 s) since the invocation started
    assert 0 < functions.invoke("FaultFunction", {})["remainingMs"] <= 1000
    assert "served" in functions.log.getvalue()


def test_a_crash_is_a_function_error_and_the_next_invocation_gets_a_new_environment(functions):
    before = served_by(functions)
    with pytest.raises(FunctionError, match="Runtime exited"):
        functions.invoke("FaultFunction", {"crash": True})
    after = served_by(functions)
    assert after != before
    assert (functions.errors["FaultFunction"], functions.replaced["FaultFunction"]) == (1, 1)
    assert f"environment {before} replaced" in functions.log.getvalue()


def test_the_templates_timeout_is_enforced_and_the_environment_replaced(functions):
    before = served_by(functions)
    with pytest.raises(FunctionError, match=r"Task timed out after 1\.00 seconds"):
        functions.invoke("FaultFunction", {"hang": True})
    assert served_by(functions) != before
    assert "Task timed out after 1.00 seconds" in functions.log.getvalue()


def test_an_environment_killed_while_idle_is_replaced_without_failing_an_invocation(functions):
    before = served_by(functions)
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: dead(before), timeout=5, interval=0.01)
    assert served_by(functions) != before
    assert functions.errors["FaultFunction"] == 0


def test_a_handler_exception_keeps_its_environment(functions):
    before = served_by(functions)
    with pytest.raises(FunctionError, match="raised"):
        functions.invoke("FaultFunction", {"raise": True})
    assert served_by(functions) == before
    assert "RuntimeError: asked to raise" in functions.log.getvalue()


def test_an_environment_has_its_functions_variables(functions):
    assert functions.invoke("FaultFunction", {})["variables"] == {
        "ONLY_MINE": "yes",
        "AWS_LAMBDA_FUNCTION_NAME": "FaultFunction",
    }


def test_each_function_of_our_template_sees_exactly_its_own_variables(tmp_path):
    from local_stack.provisioning.emulator import Provisioned
    from local_stack.stack import LocalStack, Options
    from sam_template.intrinsics import Deployment

    stack = LocalStack(Options(log_path=tmp_path / "functions.log"))
    provisioned = Provisioned(
        tables={"ConnectionsTable": "local-c", "CountersTable": "local-k"},
        streams={},
        queues={"StreamDeadLetterQueue": "http://queue/dlq", "OperationsDeadLetterQueue": "http://queue/ops"},
    )
    deployment = Deployment(parameters=stack._parameters(), refs=provisioned.physical)
    environments = stack._environments(
        deployment, {"CONNECTIONS_API_ENDPOINT": "http://local/prod"}, tmp_path / "ca.pem"
    )

    connect, disconnect, consumer = (
        environments[name] for name in ("ConnectFunction", "DisconnectFunction", "StreamMetricsFunction")
    )
    assert connect["TTL_HOURS"] == "24"  # its own (the parameter's default)
    assert "TTL_HOURS" not in disconnect  # another function's: not there, as on Lambda
    assert "DEAD_LETTER_QUEUE_URL" not in connect
    assert consumer["DEAD_LETTER_QUEUE_URL"] == "http://queue/dlq"  # !Ref of a queue: its URL
    assert disconnect["CONNECTIONS_TABLE"] == "local-c"  # Globals, !Ref of a table: its name
    assert disconnect["AWS_LAMBDA_FUNCTION_NAME"] == "DisconnectFunction"
    assert consumer["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert connect["AWS_CA_BUNDLE"] == str(tmp_path / "ca.pem")  # trusts https://{domainName}/{stage}
