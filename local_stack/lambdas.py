"""The functions of the template, run as Lambda runs them: in execution environments of their own.

Each invocation's stdout is captured, as Lambda hands it to CloudWatch Logs: EMF documents become
metrics in the emulated CloudWatch (shipped in the background, as CloudWatch Logs extracts them
after the fact), other lines go to the log file.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import queue
import threading
import time
import traceback
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from local_stack import emf
from local_stack.functions import LambdaContext, load_handler
from local_stack.template import load_template

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.template import Template

# PutMetricData takes at most 1,000 data per call.
_DATA_PER_CALL = 1000


class MetricShipper:
    """Moves EMF documents into the emulated CloudWatch from a background thread."""

    def __init__(self, cloudwatch: Any, period: float = 0.1) -> None:  # noqa: ANN401
        self._cloudwatch = cloudwatch
        self._period = period
        self._data: queue.Queue[tuple[str, list[dict[str, Any]]]] = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="emf-to-cloudwatch", daemon=True)
        self.shipped = 0

    def start(self) -> None:
        self._thread.start()

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None:
        self._idle.clear()
        self._data.put((namespace, data))

    def _drain(self) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        while True:
            try:
                namespace, data = self._data.get_nowait()
            except queue.Empty:
                break
            by_namespace[namespace].extend(data)
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), _DATA_PER_CALL):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[start : start + _DATA_PER_CALL]
                )
                self.shipped += len(data[start : start + _DATA_PER_CALL])
        if self._data.empty():
            self._idle.set()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._drain()
            except Exception as exc:  # noqa: BLE001 - keep shipping
                print(f"metrics shipping: {exc!r}")

    def flush(self, timeout: float = 10.0) -> None:
        self._idle.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()


class FunctionError(RuntimeError):
    """The handler raised: Lambda reports a function error (the traceback is in the log)."""


# ----- inside an execution environment (a worker process) -------------------------------------
_handler: Callable[[dict[str, Any], Any], Any] | None = None
_function_name = ""


def _cold_start(template_path: str, logical_id: str) -> None:
    global _handler, _function_name  # noqa: PLW0603 - one handler per execution environment
    _function_name = logical_id
    _handler = load_handler(load_template(Path(template_path)), logical_id)


def _run(event: dict[str, Any], timeout_ms: int) -> tuple[bool, Any, str]:
    """(succeeded, response, printed output) of one invocation in this environment."""
    assert _handler is not None
    captured = io.StringIO()
    context = LambdaContext(function_name=_function_name, remaining_ms=timeout_ms)
    try:
        with contextlib.redirect_stdout(captured):
            return True, _handler(event, context), captured.getvalue()
    except Exception:  # noqa: BLE001 - reported to the caller as a function error
        return False, None, captured.getvalue() + traceback.format_exc()


# ----- the Lambda service side -------------------------------------------------------------------
class LocalFunctions:
    """Each function gets its own pool of execution environments: worker processes that load its
    handler once (their cold start) and then run one invocation at a time, as on Lambda."""

    def __init__(self, template: Template, shipper: MetricShipper, log: TextIO) -> None:
        self._template = template
        self._shipper = shipper
        self._log = log
        self._log_lock = threading.Lock()
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self.invocations: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        # the last values of each distribution shipped (moto computes no percentiles)
        self.distributions: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=10_000))

    def load(self, concurrency: dict[str, int]) -> None:
        """Start the execution environments of each function (``{logical id: how many}``)."""
        spawn = multiprocessing.get_context("spawn")  # no fork: this process runs threads
        for logical_id, environments in concurrency.items():
            pool = ProcessPoolExecutor(
                max_workers=environments,
                mp_context=spawn,
                initializer=_cold_start,
                initargs=(str(self._template.path), logical_id),
            )
            self._pools[logical_id] = pool
            # every environment starts now, not on the first request
            list(pool.map(_noop, range(environments)))

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:  # noqa: ANN401
        """Invoke synchronously; a handler exception raises :class:`FunctionError`."""
        timeout_ms = self._template.function_timeout(logical_id) * 1000
        self.invocations[logical_id] += 1
        succeeded, response, output = self._pools[logical_id].submit(_run, event, timeout_ms).result()
        self._route(logical_id, output)
        if not succeeded:
            self.errors[logical_id] += 1
            raise FunctionError(f"{logical_id} raised; see the functions' log")
        return response

    def stop(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

    def _route(self, logical_id: str, output: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        logs = []
        for line in output.splitlines():
            document = emf.parse(line)
            if document is None:
                logs.append(f"{stamp} {logical_id} {line}\n")
                continue
            for namespace, data in emf.metric_data(document):
                for datum in data:
                    if datum["Unit"] == "Seconds":
                        self.distributions[datum["MetricName"]].extend(datum["Values"])
                self._shipper.put(namespace, data)
        with self._log_lock:
            self._log.writelines(logs)
            self._log.flush()


def _noop(_: int) -> None:
    time.sleep(0.2)  # long enough that each call lands in its own environment
