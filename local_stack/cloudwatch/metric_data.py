"""``GetMetricData`` as CloudWatch answers it, computed from the stack's metric store: what the
alarm evaluator and the dashboard both ask (one implementation of statistics, percentiles and
metric math for both).

A query is a ``MetricStat`` (a metric, a statistic or percentile, a period) or an ``Expression``
over other queries' ids. Each ``MetricStat`` is computed for every period of its own length that
starts in ``[start, end)``, aligned to multiples of the period as CloudWatch aligns them; a period
without data has no value. Expressions are evaluated on the periods of the queries they use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.cloudwatch.expressions import Series, UnsupportedExpression, evaluate, references
from local_stack.cloudwatch.store import metric_key

if TYPE_CHECKING:
    from local_stack.cloudwatch.store import MetricStore


@dataclass(frozen=True)
class Query:
    """One ``MetricDataQuery``."""

    id: str
    metric: tuple[str, str, tuple[tuple[str, str], ...]] | None  # namespace, name, dimensions
    stat: str | None
    period: int | None
    expression: str | None
    return_data: bool = True
    unit: str | None = None
    label: str | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Query:
        """From the API's (and CloudFormation's) shape: ``{"Id", "MetricStat": {...}}`` or
        ``{"Id", "Expression"}``, with ``ReturnData`` and ``Label``."""
        returned = bool(raw.get("ReturnData", True))
        if "Expression" in raw:
            return cls(raw["Id"], None, None, None, str(raw["Expression"]), returned, label=raw.get("Label"))
        stat = raw["MetricStat"]
        metric = stat["Metric"]
        dimensions = ((d["Name"], str(d["Value"])) for d in metric.get("Dimensions", []))
        key = metric_key(metric["Namespace"], metric["MetricName"], dimensions)
        return cls(
            raw["Id"],
            key,
            str(stat["Stat"]),
            int(stat["Period"]),
            None,
            returned,
            stat.get("Unit"),
            raw.get("Label"),
        )


def period_starts(start: float, end: float, seconds: float) -> list[float]:
    """The starts of the periods of ``seconds`` that begin in ``[start, end)``, aligned."""
    # in whole periods, so that a period of 60 * 0.1 s (6.000000000000001) still aligns
    first = math.ceil(round(start / seconds, 6))
    last = math.ceil(round(end / seconds, 6))
    return [index * seconds for index in range(first, last)]


def get_metric_data(
    store: MetricStore, queries: list[Query], start: float, end: float, *, time_scale: float = 1.0
) -> dict[str, Series]:
    """Every query's time series by id (``time_scale``: periods last ``Period * time_scale``
    seconds, as the alarms' scaled time has them)."""
    series: dict[str, Series] = {}
    grids: dict[str, list[float]] = {}
    for query in queries:
        if query.metric is not None and query.stat is not None and query.period is not None:
            seconds = query.period * time_scale
            grids[query.id] = period_starts(start, end, seconds)
            series[query.id] = store.series(
                query.metric, query.stat, seconds, grids[query.id], unit=query.unit
            )
    pending = [q for q in queries if q.expression is not None]
    while pending:  # expressions may name each other in any order: evaluate what can be, repeat
        progressed = False
        for query in list(pending):
            named = references(str(query.expression))
            grid = next((grids[q.id] for q in queries if q.id in grids and q.id in named), [])
            try:
                series[query.id] = evaluate(str(query.expression), series, grid)
            except UnsupportedExpression:
                continue  # names an expression not evaluated yet
            grids[query.id] = grid
            pending.remove(query)
            progressed = True
        if not progressed:
            names = ", ".join(q.id for q in pending)
            raise UnsupportedExpression(f"expressions {names} cannot be evaluated (a cycle or an unknown id)")
    return series


def api_results(queries: list[Query], series: dict[str, Series]) -> list[dict[str, Any]]:
    """``MetricDataResults`` of the queries with ``ReturnData``, newest first as CloudWatch
    returns them by default (``TimestampDescending``)."""
    results = []
    for query in queries:
        if not query.return_data:
            continue
        points = sorted(series.get(query.id, {}).items(), reverse=True)
        results.append(
            {
                "Id": query.id,
                "Label": query.label or query.id,
                "Timestamps": [datetime.fromtimestamp(stamp, tz=UTC).isoformat() for stamp, _ in points],
                "Values": [value for _, value in points],
                "StatusCode": "Complete",
            }
        )
    return results
