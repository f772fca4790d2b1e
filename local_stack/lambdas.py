"""The functions of the template, run as Lambda runs them: in execution environments of their own.

Each invocation's stdout is captured, as Lambda hands it to CloudWatch Logs: EMF documents become
metrics in the emulated CloudWatch (shipped in the background, as CloudWatch Logs extracts them
after the fact), other lines go to the log file.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, TextIO

from local_stack import emf
from local_stack.billing import Meter
from local_stack.periodic import Periodic
from local_stack.service_metrics import ServiceMetrics
from local_stack.worker import serve
from sam_template.handlers import HandlerCode

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from local_stack.cloudwatch.store import MetricStore
    from sam_template.model import Template

# PutMetricData takes at most 1,000 data per call.
_DATA_PER_CALL = 1000
# How often the metric store drops what is older than its retention.
TRIM_SECONDS = 60.0


class MetricShipper(Periodic):
    """Moves EMF documents into the emulated CloudWatch from a background thread, as CloudWatch
    Logs extracts them from the log after the fact.

    Values are aggregated per metric and second into ``StatisticValues`` (sample count, sum,
    minimum, maximum) before ``PutMetricData``: one second is the finest resolution CloudWatch
    stores ("high-resolution metrics"), and moto keeps one object per value it is given, which
    made every status query slower as a long run went on. Percentiles come from the values
    themselves (``MetricStore``), which has them at once; the emulated CloudWatch gets them once a
    second (every tenth of a second, under load, it took ~30 ``PutMetricData`` requests a second
    from moto, which also serves every function's DynamoDB requests).
    """

    name = "emf-to-cloudwatch"

    def __init__(self, cloudwatch: Any, period: float = 1.0, store: MetricStore | None = None) -> None:  # noqa: ANN401
        super().__init__(period)
        self._cloudwatch = cloudwatch
        self.store = store  # every value, for percentiles and alarm evaluation
        self._trimmed = time.time()
        self._data: queue.Queue[tuple[str, list[dict[str, Any]]]] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None:
        if self.store is not None:
            self.store.record(namespace, data)
        self._idle.clear()
        self._data.put((namespace, data))

    def round(self) -> None:
        now = time.time()
        if self.store is not None and now - self._trimmed >= TRIM_SECONDS:
            self.store.trim(now)  # older than the store's retention: dropped
            self._trimmed = now
        aggregated: dict[tuple[str, str, tuple[tuple[str, str], ...], str, datetime, int], list[float]] = {}
        while True:
            try:
                namespace, data = self._data.get_nowait()
            except queue.Empty:
                break
            for datum in data:
                dimensions = tuple((d["Name"], d["Value"]) for d in datum["Dimensions"])
                second = datum["Timestamp"].replace(microsecond=0)
                # one-second points (as EMF metrics were always shipped here) unless the datum says
                # otherwise: AWS service metrics are one-minute data (see ServiceMetrics)
                resolution = int(datum.get("StorageResolution", 1))
                key = (namespace, datum["MetricName"], dimensions, datum["Unit"], second, resolution)
                stats = aggregated.setdefault(key, [0.0, 0.0, math.inf, -math.inf])
                for value in datum["Values"]:
                    stats[0] += 1
                    stats[1] += value
                    stats[2] = min(stats[2], value)
                    stats[3] = max(stats[3], value)
        by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (namespace, name, dimensions, unit, second, resolution), (
            count,
            total,
            low,
            high,
        ) in aggregated.items():
            by_namespace[namespace].append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions],
                    "Timestamp": second,
                    "StatisticValues": {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high},
                    "Unit": unit,
                    "StorageResolution": resolution,
                }
            )
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), _DATA_PER_CALL):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[start : start + _DATA_PER_CALL]
                )
        if self._data.empty():
            self._idle.set()

    def flush(self, timeout: float = 10.0) -> None:
        self._idle.wait(timeout)

    def stop(self) -> None:
        super().stop()
        self.round()


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
    (Lambda reports a function error; the details are in the function log)."""


class FunctionThrottled(FunctionError):
    """Lambda refused the invocation (``TooManyRequestsException``): it never ran."""


# How long an execution environment is kept unused before it is shut down. Lambda keeps an
# environment "for some time in anticipation of another function invocation" and does not say how
# long ("Understanding the Lambda execution environment lifecycle", Shutdown phase); five minutes
# here, and each function keeps one warm environment (on Lambda a quiet function has none left).
IDLE_SHUTDOWN_SECONDS = 300.0


# How long Lambda lets an execution environment's Init phase run ("Understanding the Lambda
# execution environment lifecycle", Init phase: 10 seconds, not part of the invocation's timeout).
INIT_SECONDS = 10.0


# ----- the Lambda service side -------------------------------------------------------------------
class EnvironmentLost(RuntimeError):
    """The environment is gone: it crashed, or was stopped because the invocation timed out."""


class ExecutionEnvironment:
    """One worker process running one function's handler, one invocation at a time."""

    def __init__(self, template: Template, logical_id: str, environment: dict[str, str]) -> None:
        spawn = multiprocessing.get_context("spawn")  # no fork: the stack's process runs threads
        self._connection, child = spawn.Pipe()
        self.process = spawn.Process(
            target=serve,
            args=(child, HandlerCode.of(template, logical_id), logical_id, environment),
            name=f"lambda-{logical_id}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._initialised = False
        self.duration_ms = 0.0  # of its last invocation
        self.idle_since = time.monotonic()

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
                self._receive(INIT_SECONDS * 3)  # spawning an interpreter locally costs more than on Lambda
            except TimeoutError:
                raise EnvironmentLost("Init phase timed out") from None
            self._initialised = True

    def invoke(self, event: dict[str, Any], timeout: float) -> tuple[bool, Any, str]:
        """Run one invocation; raises :class:`EnvironmentLost` (crash) or ``TimeoutError``."""
        self.initialise()
        started = time.monotonic()  # Duration: the Invoke phase only, not Init
        try:
            self._connection.send((event, int(timeout * 1000)))
            outcome: tuple[bool, Any, str] = self._receive(timeout)
        except TimeoutError:  # an OSError too: not a lost environment but a timed-out invocation
            raise
        except (BrokenPipeError, OSError) as exc:
            raise EnvironmentLost(f"exit code {self.process.exitcode}") from exc
        finally:
            self.duration_ms = (time.monotonic() - started) * 1000
        return outcome

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self._connection.close()


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
    """

    # where every line a function writes also goes: the emulated CloudWatch Logs
    # (``local_stack.logs.delivery.LogShipper.deliver``: function, environment, output)
    log_sink: Callable[[str, object | None, str], None] | None = None

    def __init__(self, template: Template, shipper: MetricShipper, log: TextIO) -> None:
        self._template = template
        self._shipper = shipper
        self.metrics = ServiceMetrics(shipper.put)  # what Lambda publishes about the invocations
        self.meter = Meter()  # what Lambda bills (the stack's cost meter replaces it)
        # injected faults (``/_local/faults``): logical id -> "throttle" or "crash"
        self.faults: dict[str, str] = {}
        self._busy: dict[str, int] = defaultdict(int)
        self._log = log
        self._log_lock = threading.Lock()
        self._idle: dict[str, queue.LifoQueue[ExecutionEnvironment]] = {}
        self._environments: dict[str, list[ExecutionEnvironment]] = {}
        self._limits: dict[str, int] = {}
        self._variables: dict[str, dict[str, str]] = {}  # each function's own environment
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.replaced: dict[str, int] = defaultdict(int)

    def load(
        self, concurrency: dict[str, int], environments: dict[str, dict[str, str]] | None = None
    ) -> None:
        """Each function may run up to ``concurrency[logical id]`` execution environments. One is
        started now and waited for (warm, as after a first invocation); more start on demand,
        each with its own cold start, while every one is busy: Lambda scales out the same way."""
        for logical_id, limit in concurrency.items():
            self._variables[logical_id] = (environments or {}).get(logical_id, {})
            self._idle[logical_id] = queue.LifoQueue()
            self._environments[logical_id] = [self._new_environment(logical_id)]
            self._limits[logical_id] = limit
        for logical_id, (environment,) in self._environments.items():
            environment.initialise()
            self._idle[logical_id].put(environment)

    def _new_environment(self, logical_id: str) -> ExecutionEnvironment:
        return ExecutionEnvironment(self._template, logical_id, self._variables[logical_id])

    def _take(self, logical_id: str) -> ExecutionEnvironment:
        """An idle environment; else a new one while the limit allows; else the next one freed."""
        idle = self._idle[logical_id]
        try:
            return idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._environments[logical_id]) < self._limits[logical_id]:
                environment = self._new_environment(logical_id)
                self._environments[logical_id].append(environment)
                return environment
        return idle.get()

    def environments(self) -> dict[str, list[int]]:
        """The process ids of each function's execution environments."""
        with self._lock:
            return {name: [env.pid for env in envs] for name, envs in self._environments.items()}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:  # noqa: ANN401
        """Invoke synchronously (waiting for a free environment); a handler exception, a crash or a
        timeout raises :class:`FunctionError`, a throttle :class:`FunctionThrottled`."""
        fault = self.faults.get(logical_id)
        if fault == "throttle":
            self.metrics.throttle(logical_id)
            raise FunctionThrottled(f"{logical_id}: Rate Exceeded (TooManyRequestsException, injected)")
        with self._lock:
            self._busy[logical_id] += 1
            concurrent = self._busy[logical_id]
        try:
            if fault == "crash":
                self.invocations[logical_id] += 1
                self.errors[logical_id] += 1
                self.metrics.invocation(logical_id, 0.0, failed=True, concurrent=concurrent)
                self.meter.invoked(logical_id, 0.0)
                self._write([f"{time.strftime('%H:%M:%S')} {logical_id} RuntimeError: crash injected\n"])
                raise FunctionError(f"{logical_id} raised (crash injected)")
            return self._invoke(logical_id, event, concurrent)
        finally:
            with self._lock:
                self._busy[logical_id] -= 1

    def _invoke(self, logical_id: str, event: dict[str, Any], concurrent: int) -> Any:  # noqa: ANN401
        timeout = float(self._template.function_timeout(logical_id))
        environment = self._take(logical_id)
        while not environment.process.is_alive():  # died while idle (killed): Lambda uses a fresh one
            self._replace(logical_id, environment, "environment exited while idle")
            environment = self._take(logical_id)
        self.invocations[logical_id] += 1
        try:
            succeeded, response, output = environment.invoke(event, timeout)
        except (TimeoutError, EnvironmentLost) as exc:
            self.metrics.invocation(logical_id, environment.duration_ms, failed=True, concurrent=concurrent)
            self.meter.invoked(logical_id, environment.duration_ms)
            reason = (
                f"Task timed out after {timeout:.2f} seconds"
                if isinstance(exc, TimeoutError)
                else f"Runtime exited with error: {exc} (Runtime.ExitError)"
            )
            self._replace(logical_id, environment, reason)
            self.errors[logical_id] += 1
            raise FunctionError(f"{logical_id}: {reason}") from None
        self.metrics.invocation(
            logical_id, environment.duration_ms, failed=not succeeded, concurrent=concurrent
        )
        self.meter.invoked(logical_id, environment.duration_ms)
        environment.idle_since = time.monotonic()
        self._idle[logical_id].put(environment)
        self._route(logical_id, output, environment)
        if not succeeded:
            self.errors[logical_id] += 1
            raise FunctionError(f"{logical_id} raised; see the functions' log")
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
        with self._lock:  # no environment is started meanwhile (``_take``)
            for logical_id, idle in self._idle.items():
                waiting = []
                while True:
                    try:
                        waiting.append(idle.get_nowait())
                    except queue.Empty:
                        break
                waiting.reverse()  # as they were queued: the longest idle first
                environments = self._environments[logical_id]
                for environment in waiting:
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

    def _route(self, logical_id: str, output: str, environment: ExecutionEnvironment | None = None) -> None:
        if self.log_sink is not None:
            self.log_sink(logical_id, environment, output)
        stamp = time.strftime("%H:%M:%S")
        logs = []
        for line in output.splitlines():
            document = emf.parse(line)
            if document is None:
                logs.append(f"{stamp} {logical_id} {line}\n")
                continue
            for namespace, data in emf.metric_data(document):
                self._shipper.put(namespace, data)
        self._write(logs)

    def _write(self, lines: list[str]) -> None:
        with self._log_lock:
            self._log.writelines(lines)
            self._log.flush()
