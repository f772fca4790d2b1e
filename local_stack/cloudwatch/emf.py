"""Embedded Metric Format documents, as CloudWatch Logs would extract them: into PutMetricData."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# PutMetricData takes at most 150 values per datum and 1,000 data per call.
_VALUES_PER_DATUM = 150


def parse(line: str) -> dict[str, Any] | None:
    """The EMF document on this output line, if it is one."""
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except json.JSONDecodeError:
        return None
    return (
        document if isinstance(document, dict) and "CloudWatchMetrics" in document.get("_aws", {}) else None
    )


def metric_data(document: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(namespace, MetricData) pairs for PutMetricData, one datum per metric and dimension set."""
    timestamp = datetime.fromtimestamp(document["_aws"].get("Timestamp", 0) / 1000, tz=UTC)
    calls = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        data = []
        for dimension_set in directive.get("Dimensions") or [[]]:
            dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
            for metric in directive["Metrics"]:
                raw = document.get(metric["Name"])
                values = [float(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
                for start in range(0, len(values), _VALUES_PER_DATUM):
                    data.append(
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": dimensions,
                            "Timestamp": timestamp,
                            "Values": values[start : start + _VALUES_PER_DATUM],
                            "Unit": metric.get("Unit", "None"),
                        }
                    )
        calls.append((directive["Namespace"], data))
    return calls
