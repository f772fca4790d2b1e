"""The functions of the template, run as Lambda runs them: in execution environments of their own.

Each invocation's log events (stdout, stderr and the root logger's records, see ``worker``) and
Lambda's own lines (START, END, REPORT) pass the function's logging configuration
(``lambda_logs``) as CloudWatch Logs would receive them, into :meth:`LocalFunctions.log_event`:
EMF documents become metrics in the emulated CloudWatch (shipped in the background, as CloudWatch
Logs extracts them after the fact), every other event goes to the log file.

The gateway's invocations (:meth:`LocalFunctions.invoke_async`) run on its event loop: the loop
waits on the environment's pipe, so an invocation takes no thread and no hand-over between threads;
the other callers (event source mappings, schedules, controls) wait in their own threads
(:meth:`LocalFunctions.invoke`). Both run the same steps around the environment's answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from local_stack.awslambda import logging_config as lambda_logs
from local_stack.awslambda.execution_environment import EnvironmentLost, ExecutionEnvironment
from local_stack.awslambda.pool import Pool
from local_stack.awslambda.runtime import reserved_variables
from local_stack.cloudwatch import emf
from local_stack.cloudwatch.service_metrics import ServiceMetrics
from local_stack.cloudwatch.shipper import MetricSink, NoMetrics
from local_stack.cost.meter import Meter
from local_stack.ids import request_uuid
from local_stack.periodic import Periodic
from sam_template.handlers import function_arn
from sam_template.logging_config import LogSettings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sam_template.model import Template


class IdleShutdown(Periodic):
    """Shuts down execution environments nobody used for a while (``LocalFunctions.shut_down_idle``)."""

    name = "idle-environments"

    def __init__(self, functions: LocalFunctions, period: float = 30.0) -> None:
        super().__init__(period)
        self._functions = functions

    def round(self) -> None:
        self._functions.shut_down_idle()


class FunctionError(RuntimeError):
    """The invocation failed: the handler raised, the environment crashed or the function timed out
    (Lambda reports a function error; the details are in the function log). ``error_message``: the
    ``errorMessage`` of the handler's error response, when the handler raised."""

    def __init__(self, message: str, error_message: str | None = None) -> None:
        super().__init__(message)
        self.error_message = error_message


class FunctionThrottled(FunctionError):
    """Lambda refused the invocation (``TooManyRequestsException``): it never ran."""


# How long an execution environment is kept unused before it is shut down. Lambda keeps an
# environment "for some time in anticipation of another function invocation" and does not say how
# long ("Understanding the Lambda execution environment lifecycle", Shutdown phase); five minutes
# here, and each function keeps one warm environment (on Lambda a quiet function has none left).
IDLE_SHUTDOWN_SECONDS = 300.0


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A shielded invocation's outcome is taken even when its caller stopped waiting."""
    if not task.cancelled():
        task.exception()


class LocalFunctions:
    """Each function gets its own execution environments: worker processes that load its handler
    once (their cold start) and then run one invocation at a time, as on Lambda.

    A crash or a timeout during an invocation is a function error, and the environment is replaced:
    "Understanding the Lambda execution environment lifecycle", Failures during the Invoke phase
    (Lambda resets the environment; the next invocation runs Init again). The function's
    ``Timeout`` from the template is enforced by stopping the environment.

    The environment freed last is the one used next (a few stay busy and the others idle, as
    Lambda routes to warm environments), and one unused for ``IDLE_SHUTDOWN_SECONDS`` is shut down
    (:meth:`shut_down_idle`, run by :class:`IdleShutdown`): a burst's environments do not stay.

    ``metrics``: where the EMF documents of the functions and what Lambda and API Gateway publish
    about them go (the stack's ``MetricShipper``; none kept without one). The counters
    (``invocations``, ``errors``, ``replaced``) are changed only here, under the lock; others read them.
    """

    def __init__(
        self,
        template: Template,
        log: TextIO,
        metrics: MetricSink | None = None,
        *,
        meter: Meter | None = None,
        log_sink: Callable[[str, str, list[str]], None] | None = None,
        api: tuple[str, str, bool] | None = None,
    ) -> None:
        """``meter``: what Lambda bills (none: a meter of its own); ``log_sink``: where every line a
        function writes also goes, the emulated CloudWatch Logs (``LogShipper.deliver``: log group,
        log stream, events); ``api``: the WebSocket API whose metrics API Gateway publishes
        (``ServiceMetrics.api``)."""
        self._template = template
        self._sink: MetricSink = metrics if metrics is not None else NoMetrics()
        # what Lambda (and API Gateway) publish about the invocations
        self.metrics = ServiceMetrics(self._sink, api=api)
        self.meter = meter or Meter()
        self.log_sink = log_sink
        # injected faults (``/_local/faults``): logical id -> "throttle" or "crash"
        self.faults: dict[str, str] = {}
        self._busy: dict[str, int] = defaultdict(int)
        self._starting: dict[str, int] = defaultdict(int)  # environments being made, not listed yet
        self._log = log
        self._log_lock = threading.Lock()
        self._idle: dict[str, Pool[ExecutionEnvironment]] = {}
        self._environments: dict[str, list[ExecutionEnvironment]] = {}
        self._limits: dict[str, int] = {}
        self._timeouts: dict[str, float] = {}
        self._variables: dict[str, dict[str, str]] = {}  # each function's own environment
        self._dependencies: dict[str, Path] = {}  # where a function's requirements.txt is installed
        self.settings: dict[str, LogSettings] = {}  # each function's logging configuration
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.replaced: dict[str, int] = defaultdict(int)

    def load(
        self,
        concurrency: dict[str, int],
        environments: dict[str, dict[str, str]] | None = None,
        dependencies: dict[str, Path] | None = None,
        resolve: Callable[[Any], Any] | None = None,
    ) -> None:
        """Each function may run up to ``concurrency[logical id]`` execution environments. One is
        started now and waited for (warm, as after a first invocation); more start on demand,
        each with its own cold start, while every one is busy: Lambda scales out the same way.
        An environment's variables are the function's own (``environments``) and those Lambda
        defines; ``dependencies``: where a function's ``requirements.txt`` was installed;
        ``resolve``: what the template's intrinsic functions resolve to here (``LoggingConfig``)."""
        for logical_id, limit in concurrency.items():
            self.settings[logical_id] = LogSettings.of(self._template, logical_id, resolve)
            self._variables[logical_id] = {
                **(environments or {}).get(logical_id, {}),
                **reserved_variables(self._template, logical_id, self.settings[logical_id]),
            }
            if dependencies and logical_id in dependencies:
                self._dependencies[logical_id] = dependencies[logical_id]
            self._idle[logical_id] = Pool()
            self._environments[logical_id] = [self._new_environment(logical_id)]
            self._limits[logical_id] = limit
            self._timeouts[logical_id] = float(self._template.function_timeout(logical_id))
        for logical_id, (environment,) in self._environments.items():
            environment.initialise()
            self._route_init(logical_id, environment)
            self._idle[logical_id].put(environment)

    def _new_environment(self, logical_id: str) -> ExecutionEnvironment:
        return ExecutionEnvironment(
            self._template, logical_id, self._variables[logical_id], self._dependencies.get(logical_id)
        )

    def _scale_out(self, logical_id: str) -> ExecutionEnvironment | None:
        """A new environment while the function's limit allows one (its Init not waited for). Its
        place is taken under the lock, its process started outside it: the gateway's loop takes the
        lock on every invocation."""
        with self._lock:
            if len(self._environments[logical_id]) + self._starting[logical_id] >= self._limits[logical_id]:
                return None
            self._starting[logical_id] += 1
        try:
            environment = self._new_environment(logical_id)
            with self._lock:
                self._environments[logical_id].append(environment)
        finally:
            with self._lock:
                self._starting[logical_id] -= 1
        return environment

    def _take(self, logical_id: str) -> ExecutionEnvironment:
        """An idle environment; else a new one while the limit allows; else the next one freed."""
        idle = self._idle[logical_id]
        environment = idle.get_nowait() or self._scale_out(logical_id) or idle.get()
        while not environment.process.is_alive():  # died while idle (killed): Lambda uses a fresh one
            self._replace(logical_id, environment, "environment exited while idle")
            environment = idle.get_nowait() or self._scale_out(logical_id) or idle.get()
        return environment

    async def _take_async(self, logical_id: str) -> ExecutionEnvironment:
        """:meth:`_take` on the event loop: a new environment's process starts in a thread, a wait for
        the next one freed takes none."""
        idle = self._idle[logical_id]
        while True:
            environment = idle.get_nowait()
            if environment is None and len(self._environments[logical_id]) < self._limits[logical_id]:
                environment = await asyncio.to_thread(self._scale_out, logical_id)
            if environment is None:
                environment = await idle.get_async()
            if environment.process.is_alive():
                return environment
            # died while idle (killed): Lambda uses a fresh one
            self._replace(logical_id, environment, "environment exited while idle")

    def environments(self) -> dict[str, list[int]]:
        """The process ids of each function's execution environments."""
        with self._lock:
            return {name: [env.pid for env in envs] for name, envs in self._environments.items()}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:  # noqa: ANN401
        """Invoke synchronously (waiting for a free environment); a handler exception, a crash or a
        timeout raises :class:`FunctionError`, a throttle :class:`FunctionThrottled`."""
        concurrent = self._admit(logical_id)
        try:
            environment = self._take(logical_id)
            request_id, timeout = self._started(logical_id)
            try:
                outcome = environment.invoke(event, timeout, request_id, self._arn(logical_id))
            except (TimeoutError, EnvironmentLost) as exc:
                self._lost(logical_id, environment, request_id, concurrent, exc)
            return self._answered(logical_id, environment, request_id, concurrent, outcome)
        finally:
            self._leave(logical_id)

    async def invoke_async(self, logical_id: str, event: dict[str, Any]) -> Any:  # noqa: ANN401
        """:meth:`invoke` awaited on the caller's event loop: waiting for a free environment and for
        its answer takes no thread (a new environment's start and Init are waited for in one).
        Shielded: a caller that stops waiting (a client gone mid-handshake) leaves the invocation
        to finish, as on Lambda, and its environment ready for the next one."""
        concurrent = self._admit(logical_id)
        running = asyncio.ensure_future(self._invoke_async(logical_id, event, concurrent))
        running.add_done_callback(_retrieved)
        return await asyncio.shield(running)

    async def _invoke_async(self, logical_id: str, event: dict[str, Any], concurrent: int) -> Any:  # noqa: ANN401
        try:
            environment = await self._take_async(logical_id)
            request_id, timeout = self._started(logical_id)
            try:
                if not environment.initialised:  # its cold start: the Init phase, waited for in a thread
                    await asyncio.to_thread(environment.initialise)
                outcome = await environment.invoke_async(event, timeout, request_id, self._arn(logical_id))
            except (TimeoutError, EnvironmentLost) as exc:
                self._lost(logical_id, environment, request_id, concurrent, exc)
            return self._answered(logical_id, environment, request_id, concurrent, outcome)
        finally:
            self._leave(logical_id)

    # ----- the steps around an invocation ----------------------------------------------------------
    def _admit(self, logical_id: str) -> int:
        """A throttle fault refuses the invocation; else it counts as running: how many are now."""
        fault = self.faults.get(logical_id)
        if fault == "throttle":
            self.metrics.throttle(logical_id)
            raise FunctionThrottled(f"{logical_id}: Rate Exceeded (TooManyRequestsException, injected)")
        with self._lock:
            self._busy[logical_id] += 1
            concurrent = self._busy[logical_id]
        if fault == "crash":
            with self._lock:
                self.invocations[logical_id] += 1
                self.errors[logical_id] += 1
                self._busy[logical_id] -= 1
            self.metrics.invocation(logical_id, 0.0, failed=True, concurrent=concurrent)
            self.meter.invoked(logical_id, 0.0)
            self._write([f"{time.strftime('%H:%M:%S')} {logical_id} RuntimeError: crash injected\n"])
            raise FunctionError(f"{logical_id} raised (crash injected)")
        return concurrent

    def _leave(self, logical_id: str) -> None:
        with self._lock:
            self._busy[logical_id] -= 1

    def _started(self, logical_id: str) -> tuple[str, float]:
        """An invocation given to an environment: counted; its request id (Lambda's, fresh for every
        invocation) and the function's timeout."""
        with self._lock:
            self.invocations[logical_id] += 1
        return request_uuid(), self._timeouts[logical_id]

    @staticmethod
    def _arn(logical_id: str) -> str:
        return function_arn(logical_id)

    def response_lost(self, logical_id: str) -> None:
        """An invocation that ran but whose response never reached its caller (an injected
        ``lose_response`` fault): a function error, as Lambda counts it."""
        with self._lock:
            self.errors[logical_id] += 1

    def _lost(
        self,
        logical_id: str,
        environment: ExecutionEnvironment,
        request_id: str,
        concurrent: int,
        exc: TimeoutError | EnvironmentLost,
    ) -> NoReturn:
        """The environment timed out or crashed: a function error, and the environment replaced."""
        timeout = self._timeouts[logical_id]
        self.metrics.invocation(logical_id, environment.duration_ms, failed=True, concurrent=concurrent)
        timed_out = isinstance(exc, TimeoutError)
        self.meter.invoked(logical_id, environment.duration_ms)
        reason = (
            f"Task timed out after {timeout:.2f} seconds"
            if timed_out
            else f"Runtime exited with error: {exc} (Runtime.ExitError)"
        )
        self._route_init(logical_id, environment)
        status = "timeout" if timed_out else "error"
        self._route(logical_id, environment, request_id=request_id, events=[], max_memory_mb=0, status=status)
        self._replace(logical_id, environment, reason)
        with self._lock:
            self.errors[logical_id] += 1
        raise FunctionError(f"{logical_id}: {reason}") from None

    def _answered(
        self,
        logical_id: str,
        environment: ExecutionEnvironment,
        request_id: str,
        concurrent: int,
        outcome: tuple[bool, Any, list[str], int],
    ) -> Any:  # noqa: ANN401
        """The environment answered: its log routed, metered, the environment free again; the
        response, or :class:`FunctionError` when the handler failed."""
        succeeded, response, events, max_memory_mb = outcome
        self.metrics.invocation(
            logical_id, environment.duration_ms, failed=not succeeded, concurrent=concurrent
        )
        self._route_init(logical_id, environment)
        self._route(
            logical_id, environment, request_id=request_id, events=events, max_memory_mb=max_memory_mb
        )
        self.meter.invoked(logical_id, environment.duration_ms)
        environment.idle_since = time.monotonic()
        self._idle[logical_id].put(environment)
        if not succeeded:
            with self._lock:
                self.errors[logical_id] += 1
            error = response if isinstance(response, dict) else {}
            raise FunctionError(
                f"{logical_id} raised {error.get('errorType', 'an error')}; see the functions' log",
                error_message=str(error["errorMessage"]) if "errorMessage" in error else None,
            )
        return response

    def _replace(self, logical_id: str, environment: ExecutionEnvironment, reason: str) -> None:
        environment.stop()
        with self._lock:
            self._environments[logical_id].remove(environment)
            self.replaced[logical_id] += 1
        # the next invocation starts a new environment (its Init runs again), as on Lambda
        self._write(
            [f"{time.strftime('%H:%M:%S')} {logical_id} {reason}; environment {environment.pid} replaced\n"]
        )

    def shut_down_idle(self, now: float | None = None, idle_seconds: float = IDLE_SHUTDOWN_SECONDS) -> int:
        """Shut down the environments unused for ``idle_seconds``, keeping one per function;
        return how many were shut down."""
        now = time.monotonic() if now is None else now
        stopped = []
        with self._lock:  # no environment is started meanwhile (``_scale_out``)
            for logical_id, idle in self._idle.items():
                environments = self._environments[logical_id]
                for environment in idle.take_all():  # the longest idle first
                    if now - environment.idle_since >= idle_seconds and len(environments) > 1:
                        environments.remove(environment)
                        stopped.append((logical_id, environment))
                    else:
                        idle.put(environment)
        for logical_id, environment in stopped:
            environment.stop()
            self._write(
                [
                    f"{time.strftime('%H:%M:%S')} {logical_id} environment {environment.pid} shut down "
                    f"(unused for {idle_seconds:g} s)\n"
                ]
            )
        return len(stopped)

    def stop(self) -> None:
        with self._lock:
            environments = [env for envs in self._environments.values() for env in envs]
        for environment in environments:
            environment.stop()

    # ----- the function's log ---------------------------------------------------------------------
    def _route_init(self, logical_id: str, environment: ExecutionEnvironment) -> None:
        """What an environment's Init phase wrote (once): Lambda's INIT_START, then the events."""
        if environment.init_routed or not environment.initialised:
            return
        environment.init_routed = True
        settings = self.settings[logical_id]
        events = [lambda_logs.init_start(settings, logical_id)] if settings.keeps_system() else []
        events += [event for event in environment.init_events if settings.keeps(event)]
        environment.init_events = []
        self._deliver(logical_id, environment.log_stream, events)

    def _route(
        self,
        logical_id: str,
        environment: ExecutionEnvironment,
        *,
        request_id: str,
        events: list[str],
        max_memory_mb: int,
        status: str = "success",
    ) -> None:
        """One invocation's log events as CloudWatch Logs receives them: Lambda's START, the
        function's events, END and REPORT, each kept or dropped by the logging configuration."""
        settings = self.settings[logical_id]
        system = settings.keeps_system()
        delivered = [lambda_logs.start(settings, request_id)] if system else []
        delivered += [event for event in events if settings.keeps(event)]
        if system:
            end = lambda_logs.end(settings, request_id)
            delivered += [end] if end is not None else []
            memory = int(self._variables[logical_id]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
            delivered.append(
                lambda_logs.report(
                    settings,
                    request_id,
                    duration_ms=environment.duration_ms,
                    memory_mb=memory,
                    max_memory_mb=max_memory_mb,
                    init_ms=environment.init_ms,
                    status=status,
                )
            )
        environment.init_ms = None  # reported once: the cold start's invocation
        self._deliver(logical_id, environment.log_stream, delivered)

    def _deliver(self, logical_id: str, stream: str, events: list[str]) -> None:
        documents = [emf.parse(event) for event in events]  # each event read once for EMF
        # what CloudWatch Logs bills: every event delivered, the EMF documents' metrics
        self.meter.logged(logical_id, events, documents)
        if self.log_sink is not None:  # CloudWatch Logs: the function's group, this environment's stream
            self.log_sink(self.settings[logical_id].log_group, stream, events)
        stamp = time.strftime("%H:%M:%S")
        lines: list[str] = []
        for event, document in zip(events, documents, strict=True):
            lines += self.log_event(logical_id, stream, event, stamp, document)
        self._write(lines)

    def log_event(
        self, logical_id: str, stream: str, message: str, stamp: str, document: dict[str, Any] | None
    ) -> list[str]:
        """Where one log event of a function is handled, as CloudWatch Logs receives it: in the
        function's log group (``self.settings[logical_id].log_group``) and the environment's log
        ``stream``, after its logging configuration let it through; ``document``: the EMF document
        the event is (``emf.parse``), if it is one. An EMF document becomes metrics; any other event
        becomes lines of the functions' log file (returned, written by the caller with the
        invocation's other lines). What else receives a function's logs hooks in here."""
        if document is not None:
            for namespace, data in emf.metric_data(document):
                self._sink.put(namespace, data)
            return []
        return [f"{stamp} {logical_id} {line}\n" for line in message.split("\n")]

    def _write(self, lines: list[str]) -> None:
        with self._log_lock:
            self._log.writelines(lines)
            self._log.flush()
