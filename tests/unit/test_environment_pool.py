"""One function's idle execution environments: the one freed last is taken next, and callers
waiting for one (threads or coroutines) are served in the order they came."""

from __future__ import annotations

import asyncio
import threading

from local_stack.awslambda.pool import Pool
from tests.waiting import wait_for


def test_the_environment_freed_last_is_taken_first():
    pool: Pool[str] = Pool()
    for name in ("a", "b", "c"):
        pool.put(name)
    assert [pool.get_nowait(), pool.get_nowait(), pool.get_nowait(), pool.get_nowait()] == [
        "c",
        "b",
        "a",
        None,
    ]


def test_take_all_gives_the_longest_idle_first():
    pool: Pool[str] = Pool()
    for name in ("a", "b"):
        pool.put(name)
    assert pool.take_all() == ["a", "b"]
    assert pool.get_nowait() is None


def test_a_waiting_thread_gets_the_next_environment_freed():
    pool: Pool[str] = Pool()
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(pool.get()))
    waiter.start()
    wait_for(lambda: pool._waiters, timeout=5, interval=0.01)
    pool.put("freed")
    waiter.join(5)
    assert got == ["freed"]
    assert pool.get_nowait() is None  # given to the waiter, not left idle


def test_coroutines_waiting_are_served_in_order_and_one_that_gave_up_is_skipped():
    pool: Pool[str] = Pool()

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(pool.get_async())
        gave_up = asyncio.ensure_future(pool.get_async())
        last = asyncio.ensure_future(pool.get_async())
        await asyncio.sleep(0)
        gave_up.cancel()
        await asyncio.sleep(0)
        pool.put("one")
        threading.Thread(target=pool.put, args=("two",)).start()  # freed by another thread
        return [await first, await last]

    assert asyncio.run(scenario()) == ["one", "two"]
    assert pool.get_nowait() is None


def test_an_environment_given_to_a_coroutine_that_gave_up_meanwhile_goes_back_to_the_pool():
    pool: Pool[str] = Pool()

    async def scenario() -> None:
        waiting = asyncio.ensure_future(pool.get_async())
        await asyncio.sleep(0)
        pool.put("freed")  # handed over: settled on the loop's next turn
        waiting.cancel()  # ... but the coroutine stopped waiting first
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert pool.get_nowait() == "freed"
