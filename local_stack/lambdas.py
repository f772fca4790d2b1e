"""The functions of the template run in this process, one invocation at a time, as Lambda runs them.

Each invocation's stdout is captured, as Lambda hands it to CloudWatch Logs: EMF documents become
metrics in the emulated CloudWatch, other lines go to the log file.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import traceback
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any, TextIO

from local_stack import emf
from local_stack.functions import LambdaContext, load_handler

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.template import Template


class LocalFunctions:
    """Loads every function of the template once and invokes them through their entry points."""

    def __init__(self, template: Template, cloudwatch: Any, log: TextIO) -> None:  # noqa: ANN401
        self._template = template
        self._cloudwatch = cloudwatch
        self._log = log
        self._lock = threading.Lock()  # powertools Metrics keeps one metric set per process
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self.invocations: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        # the last values of each distribution shipped (moto computes no percentiles)
        self.distributions: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=10_000))

    def load(self, *logical_ids: str) -> None:
        for logical_id in logical_ids:
            self._handlers[logical_id] = load_handler(self._template, logical_id)
            self.invocations[logical_id] = 0
            self.errors[logical_id] = 0

    def invoke(self, logical_id: str, event: dict[str, Any], timeout_ms: int = 30_000) -> Any:  # noqa: ANN401
        """Invoke synchronously; a handler exception propagates, as a Lambda function error does."""
        handler = self._handlers[logical_id]
        captured = io.StringIO()
        try:
            with self._lock:
                self.invocations[logical_id] += 1
                context = LambdaContext(function_name=logical_id, remaining_ms=timeout_ms)
                with contextlib.redirect_stdout(captured):
                    return handler(event, context)
        except Exception:
            self.errors[logical_id] += 1
            captured.write(traceback.format_exc())
            raise
        finally:
            self._ship(logical_id, captured.getvalue())

    def _ship(self, logical_id: str, output: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in output.splitlines():
            document = emf.parse(line)
            if document is None:
                self._log.write(f"{stamp} {logical_id} {line}\n")
                continue
            for namespace, data in emf.metric_data(document):
                for datum in data:
                    if len(datum["Values"]) > 1 or datum["Unit"] == "Seconds":
                        self.distributions[datum["MetricName"]].extend(datum["Values"])
                for start in range(0, len(data), 500):
                    self._cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=data[start : start + 500]
                    )
        self._log.flush()
