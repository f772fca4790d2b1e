"""Metric data into the emulated CloudWatch from a background thread: what functions publish as
EMF (CloudWatch Logs extracts it from the log after the fact) and what AWS services publish about
the stack (``ServiceMetrics``)."""

from __future__ import annotations

import collections
import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from local_stack.periodic import Shipper

if TYPE_CHECKING:
    from local_stack.cloudwatch.store import Dimensions, MetricStore, Value

# PutMetricData takes at most 1,000 data per call.
_DATA_PER_CALL = 1000
# How often the metric store drops what is older than its retention.
TRIM_SECONDS = 60.0


class MetricSink(Protocol):
    """Where metric data goes: ``PutMetricData``-shaped data (EMF documents), or single values
    that happened together (what AWS services publish about each invocation)."""

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None: ...

    def put_values(self, namespace: str, stamp: float, values: list[Value]) -> None: ...


class NoMetrics:
    """A sink that keeps nothing: for running functions without an emulated CloudWatch."""

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None:
        return

    def put_values(self, namespace: str, stamp: float, values: list[Value]) -> None:
        return


class MetricShipper(Shipper):
    """Moves metric data into the emulated CloudWatch from a background thread.

    Values are aggregated per metric and second into ``StatisticValues`` (sample count, sum,
    minimum, maximum) before ``PutMetricData``: one second is the finest resolution CloudWatch
    stores ("high-resolution metrics"), and moto keeps one object per value it is given, which
    made every status query slower as a long run went on. Percentiles come from the values
    themselves (``MetricStore``), which has them at once; the emulated CloudWatch gets them once a
    second (every tenth of a second, under load, it took ~30 ``PutMetricData`` requests a second
    from moto, which also serves every function's DynamoDB requests).

    :meth:`put` and :meth:`put_values` are called once per invocation or more, from the gateway's
    loop and the invocation threads: they record into the store and append to a queue that takes
    no lock (a ``deque``); the shipping thread takes everything queued once a round.
    """

    name = "emf-to-cloudwatch"

    def __init__(self, cloudwatch: Any, period: float = 1.0, store: MetricStore | None = None) -> None:  # noqa: ANN401
        super().__init__(period)
        self._cloudwatch = cloudwatch
        self.store = store  # every value, for percentiles and alarm evaluation
        self._trimmed = time.time()
        self._data: collections.deque[tuple[str, list[dict[str, Any]]]] = collections.deque()
        self._values: collections.deque[tuple[str, float, list[Value]]] = collections.deque()

    def put(self, namespace: str, data: list[dict[str, Any]]) -> None:
        if self.store is not None:
            self.store.record(namespace, data)
        self._data.append((namespace, data))

    def put_values(self, namespace: str, stamp: float, values: list[Value]) -> None:
        if self.store is not None:
            self.store.record_values(namespace, stamp, values)
        self._values.append((namespace, stamp, values))

    def _queued(self) -> bool:
        return bool(self._data or self._values)

    def _ship(self) -> None:
        now = time.time()
        if self.store is not None and now - self._trimmed >= TRIM_SECONDS:
            self.store.trim(now)  # older than the store's retention: dropped
            self._trimmed = now
        # per metric, unit, second and storage resolution: count, sum, minimum, maximum
        aggregated: dict[tuple[str, str, Dimensions, str, int, int], list[float]] = {}
        while self._data:
            namespace, data = self._data.popleft()
            for datum in data:
                dimensions = tuple((d["Name"], d["Value"]) for d in datum["Dimensions"])
                second = int(datum["Timestamp"].timestamp())
                # one-second points unless the datum says otherwise
                resolution = int(datum.get("StorageResolution", 1))
                key = (namespace, datum["MetricName"], dimensions, datum["Unit"], second, resolution)
                for value in datum["Values"]:
                    _fold(aggregated, key, value)
        while self._values:
            namespace, stamp, values = self._values.popleft()
            second = int(stamp)
            for name, dimensions, unit, value, resolution in values:
                _fold(aggregated, (namespace, name, dimensions, unit, second, resolution), value)
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
                    "Timestamp": datetime.fromtimestamp(second, tz=UTC),
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


def _fold(aggregated: dict[Any, list[float]], key: Any, value: float) -> None:  # noqa: ANN401 - a metric's key
    """One value into its metric's (sample count, sum, minimum, maximum) of one second."""
    stats = aggregated.setdefault(key, [0.0, 0.0, math.inf, -math.inf])
    stats[0] += 1
    stats[1] += value
    stats[2] = min(stats[2], value)
    stats[3] = max(stats[3], value)
