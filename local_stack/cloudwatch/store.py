"""Every data point the local stack puts into the emulated CloudWatch, kept with its values.

moto stores data points but computes no percentile (and every value kept as its own object makes
it slower the longer a run goes): this store keeps, per metric and second, the values themselves,
so any statistic CloudWatch offers — ``Sum``, ``Average``, ``Minimum``, ``Maximum``,
``SampleCount`` and percentiles ``pNN`` / ``pNN.N`` — can be computed for any period, as
CloudWatch computes them from the data points of that period ("CloudWatch statistics
definitions"). Data older than ``retention`` is dropped (alarms look back a few periods, the
dashboard three hours); each metric's sum since the store began is kept as a running total, so
the live view's totals cost the same at any point of a long run.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

STANDARD_STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")

Dimensions = tuple[tuple[str, str], ...]
# one value of a metric: name, dimensions (as published), unit, value, storage resolution (s)
Value = tuple[str, Dimensions, str, float, int]


def metric_key(
    namespace: str, name: str, dimensions: Iterable[tuple[str, str]]
) -> tuple[str, str, Dimensions]:
    """A metric's identity: namespace, name and its dimension set (order does not matter)."""
    return namespace, name, tuple(sorted(dimensions))


class UnsupportedStatistic(ValueError):
    """A statistic CloudWatch has that this store does not compute (``TM99``, ``IQM``, ...)."""


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank: the smallest value with at least p% of the values at or
    below it (a value that was observed, as CloudWatch's percentiles are of the data points)."""
    (found,) = percentiles(values, (p,))
    return found


def percentiles(values: Sequence[float], ps: Sequence[float]) -> list[float]:
    """:func:`percentile` for each of ``ps``, the values sorted once."""
    ordered = sorted(values)
    return [ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] for p in ps]


def statistic(stat: str, values: list[float]) -> float:
    """One statistic of the values of one period (never called with no values)."""
    if stat == "Sum":
        return math.fsum(values)
    if stat == "Average":
        return math.fsum(values) / len(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Maximum":
        return max(values)
    if stat == "SampleCount":
        return float(len(values))
    matched = _PERCENTILE.match(stat)
    if matched:
        return percentile(values, float(matched.group(1)))
    raise UnsupportedStatistic(f"statistic {stat!r} is not computed locally")


@dataclass(slots=True)
class _Second:
    # as C doubles (8 bytes a value, where a float object and its list slot take 32): a three-hour
    # store of every value of a busy stack would otherwise be most of its process's memory
    values: array[float] = field(default_factory=lambda: array("d"))
    # aggregated points (StatisticValues) carry no values: count, sum, min, max only
    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf


class MetricStore:
    """Data points by metric and second; thread-safe (the shipper writes, evaluators read)."""

    def __init__(self, retention: float = 3 * 3600 + 600) -> None:
        self._retention = retention
        self._lock = threading.Lock()
        self._points: dict[tuple[str, str, Dimensions], dict[int, _Second]] = defaultdict(dict)
        self._units: dict[tuple[str, str, Dimensions], str] = {}
        self._totals: dict[tuple[str, str, Dimensions], float] = defaultdict(float)
        # a metric's key by its dimensions as published (``record_values``): sorted once
        self._keys: dict[tuple[str, str, Dimensions], tuple[str, str, Dimensions]] = {}

    def record(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """Keep ``PutMetricData``-shaped data (``Values``/``Counts``, ``Value`` or ``StatisticValues``)."""
        with self._lock:
            for datum in data:
                key = metric_key(
                    namespace,
                    datum["MetricName"],
                    ((d["Name"], d["Value"]) for d in datum.get("Dimensions", [])),
                )
                self._units.setdefault(key, datum.get("Unit", "None"))
                second = self._points[key].setdefault(int(datum["Timestamp"].timestamp()), _Second())
                if "StatisticValues" in datum:
                    stats = datum["StatisticValues"]
                    second.count += stats["SampleCount"]
                    second.total += stats["Sum"]
                    second.low = min(second.low, stats["Minimum"])
                    second.high = max(second.high, stats["Maximum"])
                    self._totals[key] += stats["Sum"]
                    continue
                values = datum.get("Values", [datum["Value"]] if "Value" in datum else [])
                counts = datum.get("Counts", [1] * len(values))
                for value, count in zip(values, counts, strict=True):
                    second.values.extend(array("d", [float(value)]) * int(count))
                    self._totals[key] += float(value) * int(count)

    def record_values(self, namespace: str, stamp: float, values: list[Value]) -> None:
        """Keep single values (name, dimensions, unit, value) that happened at ``stamp``: what
        ``record`` keeps of a ``Value`` datum, without building one."""
        second_stamp = int(stamp)
        with self._lock:
            for name, dimensions, unit, value, _ in values:
                key = self._keys.get((namespace, name, dimensions))
                if key is None:
                    key = self._keys[namespace, name, dimensions] = metric_key(namespace, name, dimensions)
                    self._units.setdefault(key, unit)
                by_second = self._points[key]
                second = by_second.get(second_stamp)
                if second is None:
                    second = by_second[second_stamp] = _Second()
                second.values.append(value)
                self._totals[key] += value

    def total(self, key: tuple[str, str, Dimensions]) -> float:
        """The metric's ``Sum`` over every data point since the store began (trimmed ones too)."""
        with self._lock:
            return self._totals.get(key, 0.0)

    def trim(self, now: float) -> None:
        oldest = int(now - self._retention)
        with self._lock:
            for seconds in self._points.values():
                for stamp in [s for s in seconds if s < oldest]:
                    del seconds[stamp]

    def latest_maximum(self, key: tuple[str, str, Dimensions]) -> float | None:
        """The Maximum of the metric's newest second (a gauge's current value), or ``None``."""
        with self._lock:
            seconds = self._points.get(key)
            if not seconds:
                return None
            second = seconds[max(seconds)]
            return max([*second.values, *([second.high] if second.count else [])], default=None)

    def values_since(self, key: tuple[str, str, Dimensions], since: float) -> list[float]:
        """The metric's values of the seconds from ``since`` on (aggregated points have none)."""
        with self._lock:
            by_second = self._points.get(key, {})
            return [value for stamp, second in by_second.items() if stamp >= since for value in second.values]

    def recent_values(self, name: str, limit: int = 10_000) -> list[float]:
        """The last ``limit`` values of every metric called ``name`` (any namespace, dimensions),
        oldest first; only the newest seconds that hold them are read."""
        with self._lock:
            seconds = sorted(
                ((stamp, second.values) for key, by_second in self._points.items() if key[1] == name
                 for stamp, second in by_second.items() if second.values),
                key=lambda pair: pair[0],
                reverse=True,
            )  # fmt: skip
            newest: list[array[float]] = []
            held = 0
            for _, values in seconds:
                if held >= limit:
                    break
                newest.append(values[:])
                held += len(values)
        return [value for values in reversed(newest) for value in values][-limit:]

    def metrics(self) -> list[tuple[str, str, Dimensions]]:
        with self._lock:
            return list(self._points)

    def series(
        self,
        key: tuple[str, str, Dimensions],
        stat: str,
        period: float,
        starts: list[float],
        unit: str | None = None,
    ) -> dict[float, float]:
        """``stat`` of the metric for each period starting at one of ``starts`` (``period`` seconds
        long); a period without data points has no value (missing, as in CloudWatch). ``unit``,
        when given, filters: data points published in another unit are not the query's."""
        ordered = sorted(starts)
        if not ordered or (unit is not None and self._units.get(key, unit) != unit):
            return {}
        low_stamp, high_stamp = ordered[0], ordered[-1] + period
        with self._lock:
            by_second = self._points.get(key, {})
            if high_stamp - low_stamp < len(by_second):  # a short window of a long run: look it up
                stamps = range(math.ceil(low_stamp), math.ceil(high_stamp))
                seconds = [(stamp, by_second[stamp]) for stamp in stamps if stamp in by_second]
            else:
                seconds = [(stamp, s) for stamp, s in by_second.items() if low_stamp <= stamp < high_stamp]
        buckets: dict[float, list[_Second]] = defaultdict(list)
        for stamp, second in seconds:
            index = bisect.bisect_right(ordered, stamp) - 1
            if index >= 0 and stamp < ordered[index] + period:
                buckets[ordered[index]].append(second)
        found: dict[float, float] = {}
        for start, inside in sorted(buckets.items()):
            values = [v for s in inside for v in s.values]
            aggregated = [s for s in inside if s.count]
            if not values and not aggregated:
                continue
            if not aggregated:
                found[start] = statistic(stat, values)
                continue
            # aggregated points: the standard statistics combine; percentiles need the values
            count = len(values) + sum(s.count for s in aggregated)
            total = math.fsum(values) + sum(s.total for s in aggregated)
            low = min([*values, *(s.low for s in aggregated)])
            high = max([*values, *(s.high for s in aggregated)])
            combined = {"Sum": total, "SampleCount": count, "Minimum": low, "Maximum": high}
            if stat == "Average":
                found[start] = total / count
            elif stat in combined:
                found[start] = float(combined[stat])
            else:
                raise UnsupportedStatistic(
                    f"{stat} of {key[1]}: data points sent as StatisticValues have no values"
                )
        return found
