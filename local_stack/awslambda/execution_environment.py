"""One execution environment: a worker process (``worker``) that loads one function's handler once
(its Init phase) and then runs one invocation at a time, answering on its pipe
("Understanding the Lambda execution environment lifecycle")."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import time
from typing import TYPE_CHECKING, Any

from local_stack.awslambda import logging_config as lambda_logs
from local_stack.awslambda.runtime import relative_paths
from local_stack.awslambda.worker import serve
from sam_template.handlers import HandlerCode

if TYPE_CHECKING:
    from pathlib import Path

    from sam_template.model import Template


# How long Lambda lets an execution environment's Init phase run ("Understanding the Lambda
# execution environment lifecycle", Init phase: 10 seconds, not part of the invocation's timeout).
INIT_SECONDS = 10.0


# ----- the Lambda service side -------------------------------------------------------------------
class EnvironmentLost(RuntimeError):
    """The environment is gone: it crashed, or was stopped because the invocation timed out."""


class ExecutionEnvironment:
    """One worker process running one function's handler, one invocation at a time, with a log
    stream of its own (``AWS_LAMBDA_LOG_STREAM_NAME``)."""

    def __init__(
        self,
        template: Template,
        logical_id: str,
        environment: dict[str, str],
        dependencies: Path | None = None,
    ) -> None:
        code = HandlerCode.of(template, logical_id, dependencies)
        relative = relative_paths(code, environment)
        if relative:
            raise ValueError(f"{logical_id}: paths handed to its environment must be absolute: {relative}")
        spawn = multiprocessing.get_context("spawn")  # no fork: the stack's process runs threads
        self._connection, child = spawn.Pipe()
        self.log_stream = lambda_logs.log_stream_name()
        environment = {**environment, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        self.process = spawn.Process(
            target=serve,
            args=(child, code, logical_id, environment),
            name=f"lambda-{logical_id}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._initialised = False
        self.init_events: list[str] = []  # what its Init phase wrote
        self.init_routed = False  # into the function's log
        self.init_ms: float | None = None  # its Init duration, until its first invocation reports it
        self.duration_ms = 0.0  # of its last invocation
        self.idle_since = time.monotonic()
        self._watched_by: asyncio.AbstractEventLoop | None = None  # the loop watching the pipe
        self._answered: asyncio.Future[None] | None = None  # the awaited invocation's answer

    @property
    def initialised(self) -> bool:
        return self._initialised

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def _receive(self, seconds: float) -> Any:  # noqa: ANN401
        if not self._connection.poll(seconds):
            self.stop()
            raise TimeoutError
        try:
            return self._connection.recv()
        except (EOFError, OSError) as exc:
            self.process.join(1)
            raise EnvironmentLost(f"exit code {self.process.exitcode}") from exc

    def initialise(self) -> None:
        """Wait for the Init phase (the handler's import)."""
        if not self._initialised:
            try:
                # spawning an interpreter locally costs more than on Lambda
                _, _, self.init_events, self.init_ms = self._receive(INIT_SECONDS * 3)
            except TimeoutError:
                raise EnvironmentLost("Init phase timed out") from None
            self._initialised = True

    def invoke(
        self, event: dict[str, Any], timeout: float, request_id: str, arn: str
    ) -> tuple[bool, Any, list[str], int]:
        """Run one invocation: (succeeded, response or error document, log events, max memory used
        in MB); raises :class:`EnvironmentLost` (crash) or ``TimeoutError``."""
        self.initialise()
        started = time.monotonic()  # Duration: the Invoke phase only, not Init
        deadline_ms = time.time() * 1000 + timeout * 1000  # the context counts down to it
        try:
            self._connection.send_bytes(_pickled(event, request_id, deadline_ms, arn))
            outcome: tuple[bool, Any, list[str], int] = self._receive(timeout)
        except TimeoutError:  # an OSError too: not a lost environment but a timed-out invocation
            raise
        except (BrokenPipeError, OSError) as exc:
            raise EnvironmentLost(f"exit code {self.process.exitcode}") from exc
        finally:
            self.duration_ms = (time.monotonic() - started) * 1000
        return outcome

    async def invoke_async(
        self, event: dict[str, Any], timeout: float, request_id: str, arn: str
    ) -> tuple[bool, Any, list[str], int]:
        """:meth:`invoke` of an initialised environment, awaited on the running event loop: the
        loop watches the environment's pipe for its answer (:meth:`_watch`)."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline_ms = time.time() * 1000 + timeout * 1000
        answered: asyncio.Future[None] = loop.create_future()
        self._answered = answered
        self._watch(loop)
        timer = loop.call_later(timeout, _expire, answered)
        try:
            try:
                self._connection.send_bytes(_pickled(event, request_id, deadline_ms, arn))
            except OSError as exc:
                raise EnvironmentLost(f"exit code {self.process.exitcode}") from exc
            try:
                await answered
            except TimeoutError:
                self.stop()
                raise
            try:
                outcome: tuple[bool, Any, list[str], int] = self._connection.recv()
            except (EOFError, OSError) as exc:
                self._unwatch()
                self.process.join(1)
                raise EnvironmentLost(f"exit code {self.process.exitcode}") from exc
        finally:
            self._answered = None
            timer.cancel()
            self.duration_ms = (time.monotonic() - started) * 1000
        return outcome

    # ----- the pipe watched by the gateway's loop ------------------------------------------------
    # Registering a descriptor with the loop and removing it again cost three system calls an
    # invocation (the descriptor made non-blocking, added to and deleted from epoll): the pipe stays
    # watched from an environment's first awaited invocation until it stops, or until it is
    # readable with no awaited invocation running (a thread's invocation answered, or the process
    # ended while idle), when the watch ends until the next awaited invocation.
    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._watched_by is not loop:
            descriptor = self._connection.fileno()
            loop.add_reader(descriptor, self._readable, loop)
            # uvloop makes a watched descriptor non-blocking; the pipe's reads (an answer longer
            # than the pipe holds comes in pieces) and the threads' invocations expect it blocking
            os.set_blocking(descriptor, True)
            self._watched_by = loop

    def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """The pipe has something to read: the awaited invocation's answer, or the end of a
        crashed process; with no awaited invocation running, the watch ends."""
        answered = self._answered
        if loop is not self._watched_by or answered is None:
            loop.remove_reader(self._connection.fileno())
            if loop is self._watched_by:
                self._watched_by = None
        elif not answered.done():
            answered.set_result(None)

    def _unwatch(self) -> None:
        """On the watching loop: the pipe no longer watched."""
        if self._watched_by is not None:
            self._watched_by.remove_reader(self._connection.fileno())
            self._watched_by = None

    def stop(self) -> None:
        """Stop the process; its pipe is closed once no loop watches it (a descriptor closed while
        watched could be reused by a socket the loop would then confuse with it)."""
        self.process.kill()
        self.process.join(5)
        watching = self._watched_by
        if watching is None:
            self._connection.close()
            return
        try:
            on_its_loop = asyncio.get_running_loop() is watching
        except RuntimeError:
            on_its_loop = False
        if on_its_loop:
            self._close_watched()
            return
        try:
            watching.call_soon_threadsafe(self._close_watched)
        except RuntimeError:  # that loop is closed: nothing watches the pipe any more
            self._watched_by = None
            self._connection.close()

    def _close_watched(self) -> None:
        if not self._connection.closed:
            self._unwatch()
            self._connection.close()


def _pickled(event: dict[str, Any], request_id: str, deadline_ms: float, arn: str) -> bytes:
    """An invocation as the worker's ``Connection.recv`` reads it: pickled once, with the plain
    pickler (``Connection.send`` builds a ``ForkingPickler`` for every message)."""
    return pickle.dumps((event, request_id, deadline_ms, arn), pickle.HIGHEST_PROTOCOL)


def _expire(future: asyncio.Future[None]) -> None:
    """The function's timeout passed without an answer."""
    if not future.done():
        future.set_exception(TimeoutError())
