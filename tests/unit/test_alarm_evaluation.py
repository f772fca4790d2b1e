"""CloudWatch alarm evaluation, metric math and percentiles, as the local stack computes them.

The missing-data cases are the table of "Configuring how CloudWatch alarms treat missing data"
(alarms-and-missing-data.html): an alarm with 3 evaluation periods and 3 datapoints to alarm,
evaluation range of 5; 0 = good, X = breaching, - = missing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from local_stack.cloudwatch.evaluation import ALARM, INSUFFICIENT_DATA, OK, Rule, decide, reason
from local_stack.cloudwatch.expressions import UnsupportedExpression, evaluate
from local_stack.cloudwatch.store import MetricStore, metric_key, percentile

RETAIN = "retain"
DOCUMENTED = [
    # data points, MISSING, IGNORE, BREACHING, NOT BREACHING
    ("0-X-X", OK, OK, OK, OK),
    ("----0", OK, OK, OK, OK),
    ("-----", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0XX-X", ALARM, ALARM, ALARM, ALARM),
    ("--X--", ALARM, RETAIN, ALARM, OK),
]


def points(pattern: str) -> list[float | None]:
    return [{"0": 0.0, "X": 5.0, "-": None}[c] for c in pattern]


@pytest.mark.parametrize(("pattern", "missing", "ignore", "breaching", "not_breaching"), DOCUMENTED)
@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT_DATA])
def test_the_documented_missing_data_table(pattern, missing, ignore, breaching, not_breaching, current):
    expected = {"missing": missing, "ignore": ignore, "breaching": breaching, "notBreaching": not_breaching}
    for treatment, state in expected.items():
        rule = Rule("GreaterThanOrEqualToThreshold", 1.0, 3, 3, treatment)
        assert rule.range_size == len(pattern)
        wanted = current if state == RETAIN else state
        assert decide(points(pattern), rule, current).state == wanted, (pattern, treatment)


@pytest.mark.parametrize(
    ("pattern", "state"),
    [("00XX0", ALARM), ("0X0X0", OK), ("00X0X", ALARM), ("XX000", OK), ("0XX0X", ALARM)],
)
def test_m_of_n_counts_the_most_recent_n_points(pattern, state):
    # 2 of 3: the last three real points decide
    rule = Rule("GreaterThanThreshold", 1.0, 3, 2, "notBreaching")
    assert decide(points(pattern), rule, OK).state == state


def test_with_enough_real_points_missing_ones_do_not_matter():
    # 2 of 2, four real points in the range: the most recent two (both breaching) decide
    rule = Rule("GreaterThanOrEqualToThreshold", 1.0, 2, 2, "breaching")
    decision = decide([0.0, None, 0.0, 5.0, 5.0], rule, OK)
    assert (decision.state, decision.filled) == (ALARM, 0)
    assert [value for _, value in decision.evaluated] == [5.0, 5.0]


def test_the_reason_names_the_data_and_the_threshold():
    rule = Rule("GreaterThanOrEqualToThreshold", 1.0, 2, 2, "notBreaching")
    stamps = [f"t{i}" for i in range(4)]
    decision = decide([None, None, 3.0, 2.0], rule, OK)
    text = reason(decision, rule, stamps)
    assert text.startswith("Threshold Crossed: 2 out of the last 2 datapoints [2.0 (t3), 3.0 (t2)] were")
    assert "greater than or equal to the threshold (1.0)" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"comparison": "Bigger"},
        {"treat_missing_data": "sometimes"},
        {"datapoints_to_alarm": 4},
    ],
)
def test_rules_cloudwatch_would_refuse_are_refused(bad):
    arguments = {
        "comparison": "GreaterThanThreshold",
        "threshold": 1.0,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
        "treat_missing_data": "missing",
    }
    with pytest.raises(ValueError):  # noqa: PT011 - each names its own problem
        Rule(**{**arguments, **bad})


# ----- metric math ---------------------------------------------------------------------------------
PERIODS = [0.0, 60.0, 120.0, 180.0]
SPIKE = "IF(FILL(failed, 0) >= 5 AND rate >= 10, 1, 0)"
RATE = "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(accepted, 0) + FILL(rejected, 0))"


def test_our_connect_failure_expressions():
    variables = {
        "failed": {60.0: 6.0, 120.0: 2.0, 180.0: 6.0},
        "accepted": {0.0: 10.0, 60.0: 4.0, 120.0: 100.0, 180.0: 600.0},
        "rejected": {},  # no rejections at all: an empty series
    }
    rate = evaluate(RATE, variables, PERIODS)
    assert rate == {
        0.0: 0.0,
        60.0: 60.0,
        120.0: pytest.approx(100 * 2 / 102),
        180.0: pytest.approx(100 * 6 / 606),
    }
    spike = evaluate(SPIKE, {**variables, "rate": rate}, PERIODS)
    # 6 failures at 60% breach; 2 failures are too few; 6 failures at 1% are too rare
    assert spike == {0.0: 0.0, 60.0: 1.0, 120.0: 0.0, 180.0: 0.0}


def test_arithmetic_aligns_series_on_common_periods_and_division_by_zero_gives_no_value():
    variables = {"a": {0.0: 4.0, 60.0: 6.0, 120.0: 1.0}, "b": {0.0: 2.0, 60.0: 0.0}}
    assert evaluate("a / b", variables, PERIODS) == {0.0: 2.0}
    assert evaluate("a - b * 2 ^ 2", variables, PERIODS) == {0.0: -4.0, 60.0: 6.0}
    assert evaluate("-a + 1", variables, PERIODS) == {0.0: -3.0, 60.0: -5.0, 120.0: 0.0}
    assert evaluate("a / 1000", variables, PERIODS) == {0.0: 0.004, 60.0: 0.006, 120.0: 0.001}
    assert evaluate("a > 3 OR b == 0", variables, PERIODS) == {0.0: 1.0, 60.0: 1.0}


def test_empty_series_and_constants():
    assert evaluate("m", {"m": {}}, PERIODS) == {}
    assert evaluate("FILL(m, 7)", {"m": {}}, PERIODS) == dict.fromkeys(PERIODS, 7.0)
    assert evaluate("m / 0", {"m": {0.0: 1.0}}, PERIODS) == {}
    assert evaluate("IF(m > 1, m)", {"m": {0.0: 1.0, 60.0: 3.0}}, PERIODS) == {60.0: 3.0}
    assert evaluate("2 * 3", {}, PERIODS) == dict.fromkeys(PERIODS, 6.0)


@pytest.mark.parametrize(
    ("expression", "named"),
    [("ANOMALY_DETECTION_BAND(m)", "ANOMALY_DETECTION_BAND"), ("m +", "more"), ("n * 2", "'n'")],
)
def test_what_is_not_evaluated_is_refused_by_name(expression, named):
    with pytest.raises(UnsupportedExpression, match=named):
        evaluate(expression, {"m": {}}, PERIODS)


# ----- statistics from the stored values ------------------------------------------------------------
def at(second: int) -> datetime:
    return datetime.fromtimestamp(second, tz=UTC)


def test_p99_and_the_standard_statistics_from_stored_values():
    store = MetricStore()
    key = metric_key("AWS/Lambda", "Duration", [("FunctionName", "f")])
    values = [float(v) for v in range(1, 201)]  # 1..200 ms over two periods
    store.record(
        "AWS/Lambda",
        [
            {
                "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                "Timestamp": at(1000 + i % 120),
                "Values": [value],
                "Unit": "Milliseconds",
            }
            for i, value in enumerate(values)
        ],
    )
    starts = [960.0, 1020.0, 1080.0, 1140.0]
    first = [v for i, v in enumerate(values) if 1000 + i % 120 < 1020]
    assert store.series(key, "p99", 60, starts)[960.0] == first[math.ceil(0.99 * len(first)) - 1]
    # seconds 1000-1119 hold values 1-120, seconds 1000-1079 values 121-200
    assert store.series(key, "SampleCount", 60, starts) == {960.0: 40.0, 1020.0: 120.0, 1080.0: 40.0}
    assert store.series(key, "Maximum", 60, starts)[1080.0] == 120.0
    assert store.series(key, "p50", 60, starts, unit="Seconds") == {}  # another unit: not this query's
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([7.0], 99) == 7.0


def test_aggregated_points_give_the_standard_statistics():
    store = MetricStore()
    key = metric_key("App", "Opened", [])
    stats = {"SampleCount": 4, "Sum": 10.0, "Minimum": 1.0, "Maximum": 4.0}
    store.record(
        "App", [{"MetricName": "Opened", "Timestamp": at(60), "StatisticValues": stats, "Unit": "Count"}]
    )
    store.record("App", [{"MetricName": "Opened", "Timestamp": at(61), "Value": 6.0, "Unit": "Count"}])
    assert store.series(key, "Sum", 60, [60.0]) == {60.0: 16.0}
    assert store.series(key, "Average", 60, [60.0]) == {60.0: 16.0 / 5}


# ----- alarms read from a template ------------------------------------------------------------------
def test_an_alarm_the_evaluator_cannot_evaluate_is_refused_by_its_name():
    from local_stack.cloudwatch.alarms import UnsupportedAlarm, load_alarms
    from sam_template.intrinsics import Deployment
    from sam_template.model import Template, load_template

    alarm = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": "LatencyBandAlarm",
            "ComparisonOperator": "GreaterThanUpperThreshold",
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "Metrics": [
                {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m, 2)", "ReturnData": True},
                {
                    "Id": "m",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration"},
                        "Period": 60,
                        "Stat": "p99",
                    },
                },
            ],
        },
    }
    template = Template(body={"Resources": {"Band": alarm}}, path=load_template().path)
    with pytest.raises(UnsupportedAlarm, match="LatencyBandAlarm: ANOMALY_DETECTION_BAND"):
        load_alarms(template, Deployment(parameters={}, refs={}))


def test_our_alarms_resolve_as_cloudformation_would():
    from local_stack.cloudwatch.alarms import load_alarms
    from sam_template.intrinsics import Deployment
    from sam_template.model import load_template

    template = load_template()
    functions = template.of_type("AWS::Serverless::Function")
    deployment = Deployment(
        parameters=template.parameter_defaults(),
        refs={**{name: name for name in functions}, "WebSocketApi": "api1", "AlarmTopic": "arn:topic"},
        attributes={("StreamDeadLetterQueue", "QueueName"): "dlq"},
    )
    alarms = {alarm.name: alarm for alarm in load_alarms(template, deployment)}
    assert set(alarms) == set(template.of_type("AWS::CloudWatch::Alarm"))  # no AlarmName: logical ids
    spike = alarms["ConnectFailureSpikeAlarm"]
    (returned,) = [q for q in spike.queries if q.return_data]
    assert returned.expression == "IF(FILL(failed, 0) >= 5 AND rate >= 10, 1, 0)"  # !Sub of parameters
    assert alarms["StreamDeadLetterAlarm"].queries[0].metric == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        (("QueueName", "dlq"),),
    )
    assert alarms["StreamIteratorAgeAlarm"].rule.threshold == 300.0  # !Ref of a Number parameter
    assert spike.actions["ALARM"] == ["arn:topic"]


def test_the_store_drops_what_is_older_than_its_retention():
    store = MetricStore(retention=600)
    key = metric_key("App", "Opened", [])
    for second in (1000, 1500, 1700):
        store.record(
            "App", [{"MetricName": "Opened", "Timestamp": at(second), "Value": 1.0, "Unit": "Count"}]
        )
    store.trim(now=2150)  # keeps 1550 and later
    assert store.series(key, "SampleCount", 60, [960.0, 1500.0, 1680.0]) == {1680.0: 1.0}


def test_totals_run_since_the_start_and_outlive_the_retention():
    store = MetricStore(retention=600)
    key = metric_key("App", "Opened", [])
    stats = {"SampleCount": 2, "Sum": 5.0, "Minimum": 2.0, "Maximum": 3.0}
    store.record("App", [{"MetricName": "Opened", "Timestamp": at(1000), "Value": 1.0, "Unit": "Count"}])
    store.record("App", [{"MetricName": "Opened", "Timestamp": at(1700), "StatisticValues": stats}])
    store.record("App", [{"MetricName": "Opened", "Timestamp": at(1701), "Values": [2.0], "Counts": [3]}])
    store.trim(now=2150)  # the first point is gone from the series, not from the total
    assert store.total(key) == 1.0 + 5.0 + 6.0
    assert store.total(metric_key("App", "Closed", [])) == 0.0


def test_a_short_window_of_a_long_run_reads_what_the_whole_run_holds():
    store = MetricStore()
    key = metric_key("App", "Opened", [])
    store.record(
        "App",
        [
            {"MetricName": "Opened", "Timestamp": at(second), "Value": float(second)}
            for second in range(1000, 1300)
        ],
    )
    assert store.series(key, "Sum", 1, [1019.5]) == {1019.5: 1020.0}  # second 1020 only
    assert store.series(key, "SampleCount", 60, [1020.0, 1260.0]) == {1020.0: 60.0, 1260.0: 40.0}
    everything = store.series(key, "SampleCount", 400, [950.0])  # longer than the run: every second
    assert everything == {950.0: 300.0}


def test_recent_values_are_the_newest_in_the_order_they_came():
    store = MetricStore()
    for second in range(100, 400):
        store.record(
            "App",
            [
                {"MetricName": "Lifetime", "Timestamp": at(second), "Values": [second, second + 0.5]},
                {"MetricName": "Other", "Timestamp": at(second), "Value": -1.0},
            ],
        )
    assert store.recent_values("Lifetime", limit=5) == [397.5, 398.0, 398.5, 399.0, 399.5]
    assert len(store.recent_values("Lifetime")) == 600
    assert store.recent_values("Missing") == []


def test_scaled_periods_align_whatever_the_float_rounding():
    from local_stack.cloudwatch.metric_data import period_starts

    seconds = 60 * 0.1  # 6.000000000000001
    end = (1_795_700_000.3 // seconds) * seconds
    starts = period_starts(end - seconds * 7, end, seconds)
    assert len(starts) == 7
    assert starts[-1] + seconds == pytest.approx(end)
