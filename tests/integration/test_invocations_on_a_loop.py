"""The gateway's invocations (``LocalFunctions.invoke_async``, awaited on its event loop) behave as
the threads' (``invoke``): Lambda's timeout, a crash replacing the environment, the environment
freed last serving next, invocations waiting for a busy environment, exact counters; and a caller
that stops waiting leaves its invocation to finish. Each on asyncio's loop and on uvloop's, the one
the stack runs on where it is installed."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import pytest

from local_stack.awslambda.environments import FunctionError, LocalFunctions
from sam_template.model import load_template

APP = Path(__file__).parent / "apps" / "faulty" / "template.yaml"


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """``asyncio.run`` on the loop the test is parametrised with."""
    factory = None
    if request.param == "uvloop":
        factory = pytest.importorskip("uvloop").new_event_loop

    def on_the_loop(main):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)

    return on_the_loop


@pytest.fixture
def functions():
    local = LocalFunctions(load_template(APP), io.StringIO())
    local.load({"FaultFunction": 2})
    yield local
    local.stop()


def test_the_timeout_ends_an_awaited_invocation_and_the_environment_is_replaced(functions, run):
    before = functions.invoke("FaultFunction", {})["pid"]

    async def scenario() -> None:
        with pytest.raises(FunctionError, match=r"Task timed out after 1\.00 seconds"):
            await functions.invoke_async("FaultFunction", {"hang": True})

    run(scenario())
    assert before not in functions.environments()["FaultFunction"]
    assert (functions.errors["FaultFunction"], functions.replaced["FaultFunction"]) == (1, 1)
    assert "Task timed out after 1.00 seconds" in functions._log.getvalue()


def test_a_crash_during_an_awaited_invocation_is_a_function_error_and_replaces_the_environment(
    functions, run
):
    async def scenario() -> tuple[int, int]:
        before = (await functions.invoke_async("FaultFunction", {}))["pid"]
        with pytest.raises(FunctionError, match="Runtime exited"):
            await functions.invoke_async("FaultFunction", {"crash": True})
        return before, (await functions.invoke_async("FaultFunction", {}))["pid"]

    before, after = run(scenario())
    assert after != before
    assert (functions.invocations["FaultFunction"], functions.errors["FaultFunction"]) == (3, 1)


def test_awaited_invocations_wait_for_a_busy_environment_and_the_one_freed_last_serves_next(functions, run):
    async def scenario() -> tuple[set[int], set[int]]:
        # five at once on two environments: three wait for one to be freed
        burst = await asyncio.gather(
            *(functions.invoke_async("FaultFunction", {"sleep": 0.2}) for _ in range(5))
        )
        after = [(await functions.invoke_async("FaultFunction", {}))["pid"] for _ in range(3)]
        return {answer["pid"] for answer in burst}, set(after)

    burst, after = run(scenario())
    assert len(burst) == 2
    assert len(after) == 1  # one after another: the environment freed last each time
    assert functions.invocations["FaultFunction"] == 8


def test_counters_are_exact_with_threads_and_the_loop_invoking_together(functions, run):
    def threads() -> None:
        for _ in range(20):
            functions.invoke("FaultFunction", {})

    async def loop() -> None:
        for _ in range(20):
            with pytest.raises(FunctionError):
                await functions.invoke_async("FaultFunction", {"raise": True})

    others = [threading.Thread(target=threads) for _ in range(2)]
    for thread in others:
        thread.start()
    run(loop())
    for thread in others:
        thread.join()
    assert (functions.invocations["FaultFunction"], functions.errors["FaultFunction"]) == (60, 20)


def test_a_caller_that_stops_waiting_leaves_its_invocation_to_finish(functions, run):
    def served() -> int:
        return functions._log.getvalue().count("served")

    async def scenario() -> int:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await functions.invoke_async("FaultFunction", {"sleep": 0.5})
        # each answer is its own: no caller is given the abandoned invocation's
        answers = await asyncio.gather(*(functions.invoke_async("FaultFunction", {}) for _ in range(4)))
        assert all(answer["remainingMs"] > 0 for answer in answers)
        for _ in range(100):  # the abandoned one runs to its end (polled on the loop it runs on)
            if served() == 5:
                break
            await asyncio.sleep(0.05)
        return len(answers)

    assert run(scenario()) == 4
    assert served() == 5
    assert (functions.invocations["FaultFunction"], functions.errors["FaultFunction"]) == (5, 0)


def test_answers_longer_than_a_pipe_holds_reach_the_loop_and_the_threads_alike(functions, run):
    """An answer of a megabyte comes through the environment's pipe in pieces; the loop watching
    that pipe between its invocations leaves the threads' invocations of the same environment whole."""
    payload = "x" * 1_000_000

    async def scenario() -> list[int]:
        pids = []
        for _ in range(3):
            answer = await functions.invoke_async("FaultFunction", {"echo": payload})
            assert answer["echo"] == payload
            pids.append(answer["pid"])
            threaded = await asyncio.to_thread(functions.invoke, "FaultFunction", {"echo": payload})
            assert threaded["echo"] == payload
            pids.append(threaded["pid"])
        return pids

    assert len(set(run(scenario()))) == 1  # one environment served them all, in turn
    assert (functions.invocations["FaultFunction"], functions.errors["FaultFunction"]) == (6, 0)


def test_environments_watched_by_the_loop_can_be_shut_down_from_another_thread(functions, run):
    """Idle shutdown runs on its own thread: an environment the loop watches is stopped there and
    its pipe closed on the loop's thread, and the next invocation is served as usual."""

    async def scenario() -> tuple[int, dict]:
        # two at once: both environments serve an awaited invocation, so the loop watches both
        await asyncio.gather(*(functions.invoke_async("FaultFunction", {"sleep": 0.2}) for _ in range(2)))
        stopped = await asyncio.to_thread(functions.shut_down_idle, None, 0)
        return stopped, await functions.invoke_async("FaultFunction", {})

    stopped, answer = run(scenario())
    assert stopped == 1  # one stays warm
    assert functions.environments()["FaultFunction"] == [answer["pid"]]
    assert (functions.invocations["FaultFunction"], functions.errors["FaultFunction"]) == (3, 0)
