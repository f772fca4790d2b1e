"""One function's idle execution environments, and the invocations waiting for one.

The environment freed last is the one taken next (Lambda routes to warm environments: a few stay
busy, the others idle until shut down). An invocation that finds none idle waits for the next one
freed, in the order they came; it waits as a thread (:meth:`Pool.get`: the event source mappings,
the schedules, the controls) or as a coroutine on an event loop (:meth:`Pool.get_async`: the
gateway's invocations, so none of them takes a thread).
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class _Waiter(Generic[T]):
    """A thread waiting for an environment."""

    def __init__(self) -> None:
        self._given = threading.Event()
        self.environment: T | None = None

    def give(self, environment: T) -> bool:
        self.environment = environment
        self._given.set()
        return True

    def wait(self) -> T:
        self._given.wait()
        assert self.environment is not None
        return self.environment


class _AsyncWaiter(Generic[T]):
    """A coroutine waiting for an environment on its event loop."""

    def __init__(self, pool: Pool[T], loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self._loop = loop
        self.future: asyncio.Future[T] = loop.create_future()
        self.cancelled = False  # set on the loop when the coroutine stops waiting

    def give(self, environment: T) -> bool:
        if self.cancelled:
            return False
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:  # freed by an invocation on the same loop: no wake-up needed
            self._loop.call_soon(self._settle, environment)
        else:
            self._loop.call_soon_threadsafe(self._settle, environment)
        return True

    def _settle(self, environment: T) -> None:
        if self.future.done():  # the coroutine gave up meanwhile: the next waiter gets it
            self._pool.put(environment)
        else:
            self.future.set_result(environment)


class Pool(Generic[T]):
    """Thread-safe; :meth:`get_async` from an event loop, everything else from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[T] = []  # the last freed at the end
        self._waiters: collections.deque[_Waiter[T] | _AsyncWaiter[T]] = collections.deque()

    def put(self, environment: T) -> None:
        """An environment freed: to the first waiter, else idle."""
        with self._lock:
            while self._waiters:
                if self._waiters.popleft().give(environment):
                    return
            self._idle.append(environment)

    def get_nowait(self) -> T | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def get(self) -> T:
        """The environment freed last, waiting for one if none is idle."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter: _Waiter[T] = _Waiter()
            self._waiters.append(waiter)
        return waiter.wait()

    async def get_async(self) -> T:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter = _AsyncWaiter(self, asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            waiter.cancelled = True
            raise

    def take_all(self) -> list[T]:
        """Every idle environment, the longest idle first (put back what stays with :meth:`put`)."""
        with self._lock:
            taken, self._idle = self._idle, []
        return taken
