"""What the live view shows of any application the stack runs, from what is true of it whatever its
code: the sockets at the emulated API Gateway (connects, messages, disconnects) and each function's
``AWS/Lambda`` metrics (invocations, errors, throttles, duration), as the stack publishes them
into the emulated CloudWatch (its metric store). The tracker's own figures, from its metric
catalogue, are added only where that catalogue's metrics exist (``has_catalogue``)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from connection_tracker.catalogue import DIMENSION, NAMESPACE, SERVICE
from local_stack.cloudwatch.store import metric_key, percentiles
from sam_template.model import declared_variables

if TYPE_CHECKING:
    from local_stack.cloudwatch.store import MetricStore
    from sam_template.model import Template

# The window of the functions' duration percentiles (a long run's three hours of values would be
# sorted every second otherwise).
DURATION_WINDOW_SECONDS = 300.0


def gateway(stack: Any) -> dict[str, float]:  # noqa: ANN401 - a running LocalStack
    """The sockets at the gateway: open now; accepted and refused handshakes, disconnects (every
    accepted socket no longer open) and ``MessageCount`` (messages from and to the clients) since
    the stack started."""
    counts = stack.gateway.connections.counts
    accepted = counts["accepted"]
    open_now = len(stack.gateway.connections)
    api = stack.functions.metrics.api  # ApiId, Stage, DetailedMetricsEnabled
    messages = 0.0
    if api is not None:
        dimensions = [("ApiId", api[0]), ("Stage", api[1])]
        messages = stack.store.total(metric_key("AWS/ApiGateway", "MessageCount", dimensions))
    return {
        "socketsOpen": open_now,
        "connects": accepted,
        "refused": counts["refused"],
        "messages": messages,
        "disconnects": max(0, accepted - open_now),
    }


def functions(template: Template, store: MetricStore, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Each function's ``AWS/Lambda`` ``Invocations``, ``Errors`` and ``Throttles`` since the stack
    started, and its ``Duration`` p50 and p99 (ms) over the last ``DURATION_WINDOW_SECONDS``."""
    now = time.time() if now is None else now
    start = now - DURATION_WINDOW_SECONDS
    found = {}
    for name in template.of_type("AWS::Lambda::Function"):
        dimensions = [("FunctionName", name)]

        def total(metric: str, dimensions: list[tuple[str, str]] = dimensions) -> float:
            return store.total(metric_key("AWS/Lambda", metric, dimensions))

        durations = store.values_since(metric_key("AWS/Lambda", "Duration", dimensions), math.ceil(start))
        p50, p99 = percentiles(durations, (50, 99)) if durations else (None, None)
        found[name] = {
            "invocations": total("Invocations"),
            "errors": total("Errors"),
            "throttles": total("Throttles"),
            "durationMs": {"p50": p50, "p99": p99},
        }
    return found


def publishes_catalogue(template: Template) -> bool:
    """A function of the template publishes into the tracker's metric namespace."""
    return any(
        declared_variables(template, name).get("POWERTOOLS_METRICS_NAMESPACE") == NAMESPACE
        for name in template.of_type("AWS::Lambda::Function")
    )


def has_catalogue(template: Template, store: MetricStore) -> bool:
    """The tracker's metric catalogue exists here: the template's functions publish into its
    namespace, or the emulated CloudWatch holds one of its metrics (namespace and ``service``)."""
    return publishes_catalogue(template) or any(
        namespace == NAMESPACE and (DIMENSION, SERVICE) in dimensions
        for namespace, _, dimensions in store.metrics()
    )
