"""Every alarm and dashboard widget checked against what AWS documents about the metric it reads
(``ops.aws_metrics``): the threshold's unit, the statistic, the dimensions, the period and the
treatment of missing data. Shape tests cannot catch an alarm that fires at 300 ms instead of 300 s.
"""

from __future__ import annotations

import ast
import json
import operator

import pytest

from connection_tracker.catalogue import CATALOGUE, DIMENSION, NAMESPACE, MetricName
from ops.aws_metrics import API_ROUTE_DIMENSIONS, AWS_METRICS
from tests.template.test_operability import alarms

_PERCENTILES = ("p50", "p90", "p95", "p99")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def parameter_default(template, value) -> float:
    """A number, or the default of the parameter it ``!Ref``s."""
    if isinstance(value, dict):
        return float(template.body["Parameters"][value["Ref"]]["Default"])
    return float(value)


def arithmetic(expression: str, values: dict[str, float]) -> float:
    """A metric-math expression made of metric ids, numbers and + - * / (what unit conversions use)."""

    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
        raise ValueError(f"not plain arithmetic: {ast.dump(node)}")

    return evaluate(ast.parse(expression, mode="eval"))


def breaches(template, alarm: dict, metric_name: str, value: float) -> bool:
    """Whether one data point of ``metric_name`` equal to ``value`` (in the metric's own unit)
    breaches the alarm, with its threshold at the parameter's default."""
    props = alarm["Properties"]
    threshold = parameter_default(template, props["Threshold"])
    if "MetricName" in props:
        assert props["MetricName"] == metric_name
        compared = value
    else:
        queries = props["Metrics"]
        ids = {
            q["Id"]: value
            for q in queries
            if q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric_name
        }
        (returned,) = [q for q in queries if q.get("ReturnData", True)]
        compared = ids[returned["Id"]] if returned["Id"] in ids else arithmetic(returned["Expression"], ids)
    return bool(_COMPARE[props["ComparisonOperator"]](compared, threshold))


def read_metrics(alarm: dict) -> list[dict]:
    """(namespace, name, dimension names, statistic, period, unit) of every metric an alarm reads."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [
            {
                "namespace": props["Namespace"],
                "name": props["MetricName"],
                "dimensions": frozenset(d["Name"] for d in props.get("Dimensions", [])),
                "stat": props.get("Statistic") or props.get("ExtendedStatistic"),
                "period": int(props["Period"]),
                "unit": props.get("Unit"),
            }
        ]
    return [
        {
            "namespace": q["MetricStat"]["Metric"]["Namespace"],
            "name": q["MetricStat"]["Metric"]["MetricName"],
            "dimensions": frozenset(d["Name"] for d in q["MetricStat"]["Metric"].get("Dimensions", [])),
            "stat": q["MetricStat"]["Stat"],
            "period": int(q["MetricStat"]["Period"]),
            "unit": q["MetricStat"].get("Unit"),
        }
        for q in props["Metrics"]
        if "MetricStat" in q
    ]


def our_statistics(name: str) -> tuple[str, ...]:
    if name == MetricName.ACTIVE_CONNECTIONS:  # a gauge: its latest level, not a sum of levels
        return ("Maximum", "Average", "Minimum")
    if CATALOGUE[MetricName(name)].unit.value == "Seconds":  # distributions
        return ("Average", "Maximum", "Minimum", *_PERCENTILES)
    return ("Sum",)


# ----- the consumer-lag alarm, in the metric's own unit ------------------------------------------
def test_iterator_age_alarm_stays_quiet_at_the_batching_window_and_fires_above_its_parameter(template):
    (alarm,) = [
        a for a in alarms(template).values() if any(m["name"] == "IteratorAge" for m in read_metrics(a))
    ]
    events = template.properties("StreamMetricsFunction")["Events"]
    (source,) = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
    window_ms = float(source["MaximumBatchingWindowInSeconds"]) * 1000  # IteratorAge is in ms
    threshold_seconds = parameter_default(template, {"Ref": "IteratorAgeThresholdSeconds"})

    assert not breaches(template, alarm, "IteratorAge", window_ms), (
        "a healthy consumer waits the batching window: that age must not breach"
    )
    assert not breaches(template, alarm, "IteratorAge", threshold_seconds * 1000)
    assert breaches(template, alarm, "IteratorAge", (threshold_seconds + 1) * 1000), (
        "the alarm must fire above IteratorAgeThresholdSeconds, in seconds"
    )


# ----- every alarm against the documentation -----------------------------------------------------
def alarm_cases(template):
    return [(name, metric) for name, alarm in alarms(template).items() for metric in read_metrics(alarm)]


def test_every_alarm_reads_a_documented_metric_as_documented(template):
    cases = alarm_cases(template)
    assert {name for name, _ in cases} == set(alarms(template)), "an alarm reads no metric"
    for name, metric in cases:
        where = f"{name} reads {metric['namespace']}/{metric['name']}"
        if metric["namespace"] == NAMESPACE:
            assert metric["dimensions"] == {DIMENSION}, where
            assert metric["stat"] in our_statistics(metric["name"]), where
            assert metric["period"] % 60 == 0, where
            assert metric["unit"] in (None, CATALOGUE[MetricName(metric["name"])].unit.value), where
            continue
        facts = AWS_METRICS.get((metric["namespace"], metric["name"]))
        assert facts is not None, f"{where}: add its documented facts to ops/aws_metrics.py"
        assert metric["stat"] in facts.statistics, f"{where}: {metric['stat']} means nothing for it"
        assert metric["dimensions"] in facts.dimensions, (
            f"{where}: AWS publishes it with {[sorted(d) for d in facts.dimensions]} "
            f"(an alarm must not depend on a billed setting), not {sorted(metric['dimensions'])}"
        )
        assert metric["period"] >= facts.publish_seconds, (
            f"{where}: published every {facts.publish_seconds} s"
        )
        assert metric["period"] % facts.publish_seconds == 0, where
        # an alarm's Unit filters data points by unit and converts nothing: a wrong one sees no data
        assert metric["unit"] in (None, facts.unit), f"{where}: published in {facts.unit}"


def test_missing_data_is_read_as_aws_means_it(template):
    """Every metric our alarms read is absent only when nothing happens (no traffic, no invocations,
    an idle queue): missing data is healthy, so it must never breach."""
    cases = alarm_cases(template)
    assert {name for name, _ in cases} == set(alarms(template)), "an alarm reads no metric"
    for name, metric in cases:
        if metric["namespace"] != NAMESPACE:
            assert AWS_METRICS[(metric["namespace"], metric["name"])].absent_when
        assert alarms(template)[name]["Properties"]["TreatMissingData"] == "notBreaching", name


# ----- every dashboard metric --------------------------------------------------------------------
def dashboard_metrics(template):
    body = json.loads(template.properties("Dashboard")["DashboardBody"]["Fn::Sub"])
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            options = line[-1] if isinstance(line[-1], dict) else {}
            names = [part for part in line if not isinstance(part, dict)]
            yield (
                widget["properties"]["title"],
                names[0],
                names[1],
                frozenset(names[2::2]),
                options.get("stat", widget["properties"].get("stat", "Average")),
                int(options.get("period", widget["properties"].get("period", 300))),
            )


def test_every_dashboard_metric_is_read_as_documented(template):
    stage = template.properties("Stage")
    detailed = stage.get("DefaultRouteSettings", {}).get("DetailedMetricsEnabled") is True
    lines = list(dashboard_metrics(template))
    # ours, and the AWS services' the dashboard shows beside them
    assert {line[1] for line in lines} >= {NAMESPACE, "AWS/ApiGateway", "AWS/Lambda", "AWS/SQS"}
    for title, namespace, name, dimensions, stat, period in lines:
        where = f"widget {title!r}: {namespace}/{name}"
        if namespace == NAMESPACE:
            assert stat in our_statistics(name), where
            continue
        facts = AWS_METRICS[(namespace, name)]
        assert stat in facts.statistics, f"{where}: {stat}"
        if dimensions == API_ROUTE_DIMENSIONS:
            assert detailed, f"{where}: route-level metrics need the stage's DetailedMetricsEnabled"
        else:
            assert dimensions in facts.dimensions, where
        assert period >= facts.publish_seconds, f"{where}: published every {facts.publish_seconds} s"


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [("a / 1000", {"a": 5000}, 5.0), ("2 * (a - b)", {"a": 3, "b": 1}, 4.0), ("a", {"a": 1}, 1.0)],
)
def test_the_arithmetic_reader(expression, values, expected):
    assert arithmetic(expression, values) == expected


def test_the_arithmetic_reader_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="not plain arithmetic"):
        arithmetic("FILL(a, 0)", {"a": 1})
