"""A CloudWatch dashboard body read as widgets, each with the ``GetMetricData`` queries the
console would send for it ("Dashboard body structure and syntax", CloudWatch API reference).

A metric widget's ``metrics`` is a list of arrays ``[Namespace, MetricName, DimensionName,
DimensionValue, ..., {rendering properties}]``; ``"."`` in a position repeats the value of the
array above, and an entry ``[{"expression": ..., "id": ..., "label": ...}]`` is metric math. A
rendering property ``stat``, ``period`` or ``label`` overrides the widget's. Widget types other
than ``metric``, ``text`` and ``alarm`` are kept as placeholders that name themselves, as are
properties a widget uses that are not rendered locally.

A ``log`` widget's ``query`` names its log groups first, ``SOURCE 'group' | SOURCE 'other' | ...``,
then the Logs Insights query; it is drawn as a table (``view: table``) from ``StartQuery`` and
``GetQueryResults`` over the page's time range, as the console runs it over the dashboard's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Properties of a metric widget the page renders; any other one is named on the widget.
RENDERED = {
    "title",
    "region",
    "view",
    "stacked",
    "period",
    "stat",
    "metrics",
    "yAxis",
    "annotations",
    "legend",
    "liveData",
    "setPeriodToTimeRange",
    "timezone",
}
VIEWS = ("timeSeries", "singleValue")
# Properties of a log widget the page renders ("view" only as a table)
LOG_RENDERED = {"title", "region", "view", "query"}
_SOURCE = re.compile(r"\s*SOURCE\s+'([^']+)'\s*\|")


def log_query(query: str) -> dict[str, Any]:
    """A log widget's ``query`` as StartQuery takes it: its SOURCE log groups and the rest."""
    groups = []
    rest = query
    while (found := _SOURCE.match(rest)) is not None:
        groups.append(found.group(1))
        rest = rest[found.end() :]
    return {"logGroupNames": groups, "queryString": rest.strip()}


@dataclass
class Widget:
    index: int
    type: str
    x: int
    y: int
    width: int
    height: int
    title: str
    properties: dict[str, Any]
    queries: list[dict[str, Any]] = field(default_factory=list)  # MetricDataQueries, API shape
    unsupported: list[str] = field(default_factory=list)
    log: dict[str, Any] | None = None  # a log widget's StartQuery (log groups, query string)

    def describe(self) -> dict[str, Any]:
        """What the page needs to draw the widget (its data comes from GetMetricData)."""
        return {
            "index": self.index,
            "type": self.type,
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "title": self.title,
            "view": self.properties.get("view", "timeSeries"),
            "stacked": bool(self.properties.get("stacked", False)),
            "yAxis": self.properties.get("yAxis", {}),
            "annotations": self.properties.get("annotations", {}),
            "markdown": self.properties.get("markdown"),
            "alarms": self.properties.get("alarms", []),
            "queries": self.queries,
            "log": self.log,
            "unsupported": self.unsupported,
        }


def metric_queries(properties: dict[str, Any], widget: int) -> list[dict[str, Any]]:
    """The widget's ``metrics`` as GetMetricData queries (ids ``w{widget}m{n}`` unless given)."""
    queries: list[dict[str, Any]] = []
    previous: list[Any] = []
    for n, entry in enumerate(properties.get("metrics", [])):
        options: dict[str, Any] = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        parts = [part for part in entry if not isinstance(part, dict)]
        query_id = str(options.get("id", f"w{widget}m{n}"))
        label = options.get("label")
        if "expression" in options:
            queries.append(
                {
                    "Id": query_id,
                    "Expression": options["expression"],
                    "Label": label or query_id,
                    "ReturnData": options.get("visible", True),
                }
            )
            continue
        parts = [previous[i] if part == "." and i < len(previous) else part for i, part in enumerate(parts)]
        previous = parts
        namespace, name, *pairs = parts
        dimensions = [{"Name": pairs[i], "Value": str(pairs[i + 1])} for i in range(0, len(pairs) - 1, 2)]
        stat = str(options.get("stat", properties.get("stat", "Average")))
        queries.append(
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                    "Period": int(options.get("period", properties.get("period", 300))),
                    "Stat": stat,
                },
                "Label": label or f"{name} {stat}",
                "ReturnData": options.get("visible", True),
            }
        )
    return queries


def widgets(body: dict[str, Any]) -> list[Widget]:
    """The dashboard body's widgets, in order."""
    found = []
    for index, raw in enumerate(body.get("widgets", [])):
        properties = dict(raw.get("properties", {}))
        kind = str(raw.get("type", "metric"))
        widget = Widget(
            index=index,
            type=kind,
            x=int(raw.get("x", 0)),
            y=int(raw.get("y", 0)),
            width=int(raw.get("width", 6)),
            height=int(raw.get("height", 6)),
            title=str(properties.get("title", "")),
            properties=properties,
        )
        if kind == "metric":
            widget.queries = metric_queries(properties, index)
            widget.unsupported = sorted(set(properties) - RENDERED)
            if properties.get("view", "timeSeries") not in VIEWS:
                widget.unsupported.append(f"view {properties['view']}")
        elif kind == "log":
            widget.log = log_query(str(properties.get("query", "")))
            widget.unsupported = sorted(set(properties) - LOG_RENDERED)
            if properties.get("view", "table") != "table":
                widget.unsupported.append(f"view {properties['view']}")
            if not widget.log["logGroupNames"]:
                widget.unsupported.append("a query without SOURCE log groups")
        elif kind not in ("text", "alarm"):
            widget.unsupported = [f"widget type {kind}"]
        found.append(widget)
    return found
