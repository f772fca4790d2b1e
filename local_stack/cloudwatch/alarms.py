"""The template's ``AWS::CloudWatch::Alarm`` resources, created in the emulated CloudWatch and
evaluated there as CloudWatch evaluates them.

Each alarm is resolved as CloudFormation would resolve it (``!Ref``, ``!Sub``, ``!GetAtt``,
parameters), created with ``PutMetricAlarm`` and set to ``INSUFFICIENT_DATA`` (a new alarm's
state on AWS). Then, as CloudWatch does once a minute, each is evaluated on the last periods of its
metric (a statistic or a percentile of the stored values, or metric math over several metrics):
a state change is written with ``SetAlarmState`` (reason and reason data) and the alarm's
``AlarmActions`` / ``OKActions`` / ``InsufficientDataActions`` topics get CloudWatch's
notification message ("Amazon SNS message formats for alarm notifications"... the JSON CloudWatch
publishes, with its ``Trigger``).

``time_scale`` F evaluates an alarm as if its ``Period`` were ``Period * F`` seconds (0.1: a
60-second period lasts 6 seconds), so a two-minute alarm can be watched in seconds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.cloudwatch.evaluation import INSUFFICIENT_DATA, Rule, decide, reason
from local_stack.cloudwatch.expressions import Series, UnsupportedExpression, evaluate
from local_stack.cloudwatch.metric_data import Query, get_metric_data, period_starts
from local_stack.cloudwatch.store import STANDARD_STATISTICS, metric_key, statistic
from local_stack.periodic import Periodic
from sam_template.handlers import ACCOUNT, REGION

if TYPE_CHECKING:
    from local_stack.cloudwatch.store import MetricStore
    from sam_template.intrinsics import Deployment
    from sam_template.model import Template

REGION_NAME = "US East (N. Virginia)"  # how CloudWatch names us-east-1 in notifications


class UnsupportedAlarm(ValueError):
    """An alarm the local evaluator cannot evaluate faithfully; the message names it."""


@dataclass
class Alarm:
    name: str
    logical_id: str
    properties: dict[str, Any]  # resolved, as PutMetricAlarm takes them
    rule: Rule
    period: int
    queries: list[Query]
    actions: dict[str, list[str]]  # state -> topic ARNs
    state: str = INSUFFICIENT_DATA
    evaluated_at: float = field(default=0.0)


def _query(raw: dict[str, Any], alarm: str) -> Query:
    query = Query.from_api(raw)
    if query.stat is not None:
        _check_statistic(query.stat, alarm)
    return query


def _check_statistic(stat: str, alarm: str) -> None:
    try:
        statistic(stat, [1.0])
    except ValueError:
        raise UnsupportedAlarm(f"{alarm}: statistic {stat} is not evaluated locally") from None


def load_alarms(template: Template, deployment: Deployment) -> list[Alarm]:
    """Every alarm of the template, resolved for the local deployment."""
    alarms = []
    for logical_id, resource in template.of_type("AWS::CloudWatch::Alarm").items():
        properties = deployment.resolve(resource["Properties"])
        name = str(properties.get("AlarmName", logical_id))
        if "Metrics" in properties:
            queries = [_query(raw, name) for raw in properties["Metrics"]]
            returned = [q for q in queries if q.return_data]
            if len(returned) != 1:
                raise UnsupportedAlarm(f"{name}: exactly one of Metrics must have ReturnData true")
            periods = {q.period for q in queries if q.period is not None}
            if len(periods) != 1:
                raise UnsupportedAlarm(f"{name}: every MetricStat of an alarm must have the same Period")
            period = periods.pop()
        else:
            stat = properties.get("Statistic") or properties.get("ExtendedStatistic")
            if stat is None:
                raise UnsupportedAlarm(f"{name}: neither Statistic nor ExtendedStatistic")
            _check_statistic(str(stat), name)
            dimensions = ((d["Name"], str(d["Value"])) for d in properties.get("Dimensions", []))
            key = metric_key(properties["Namespace"], properties["MetricName"], dimensions)
            period = int(properties["Period"])
            queries = [Query("m1", key, str(stat), period, None, unit=properties.get("Unit"))]
        for query in queries:
            if query.expression is not None:
                try:  # an unsupported function or syntax is refused at PutMetricAlarm, by the alarm's name
                    evaluate(query.expression, {q.id: {} for q in queries}, [0.0])
                except UnsupportedExpression as exc:
                    raise UnsupportedAlarm(f"{name}: {exc}") from None
        evaluation_periods = int(properties["EvaluationPeriods"])
        try:
            rule = Rule(
                comparison=str(properties["ComparisonOperator"]),
                threshold=float(properties["Threshold"]),
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=int(properties.get("DatapointsToAlarm", evaluation_periods)),
                treat_missing_data=str(properties.get("TreatMissingData", "missing")),
            )
        except ValueError as exc:
            raise UnsupportedAlarm(f"{name}: {exc}") from None
        actions = {
            "ALARM": list(properties.get("AlarmActions", [])),
            "OK": list(properties.get("OKActions", [])),
            INSUFFICIENT_DATA: list(properties.get("InsufficientDataActions", [])),
        }
        alarms.append(Alarm(name, logical_id, properties, rule, period, queries, actions))
    return alarms


def datapoints(alarm: Alarm, store: MetricStore, start: float, end: float, time_scale: float) -> Series:
    """The alarm's data points for the periods in ``[start, end)``: its returned query's series."""
    series = get_metric_data(store, alarm.queries, start, end, time_scale=time_scale)
    (returned,) = (q for q in alarm.queries if q.return_data)
    return series[returned.id]


class AlarmEvaluator(Periodic):
    """Creates the alarms in the emulated CloudWatch and evaluates each once per (scaled) minute,
    or per period when that is shorter, as CloudWatch does."""

    name = "alarm-evaluation"

    def __init__(
        self,
        alarms: list[Alarm],
        store: MetricStore,
        cloudwatch: Any,  # noqa: ANN401 - boto3 clients of the emulated services
        sns: Any,  # noqa: ANN401
        *,
        time_scale: float = 1.0,
        clock: Any = time.time,  # noqa: ANN401
    ) -> None:
        super().__init__(0.25)
        self.alarms = alarms
        self._store = store
        self._cloudwatch = cloudwatch
        self._sns = sns
        self.time_scale = time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self.notifications = 0

    def create(self) -> None:
        """``PutMetricAlarm`` for every alarm; each starts in ``INSUFFICIENT_DATA`` and is first
        evaluated one evaluation interval later."""
        for alarm in self.alarms:
            alarm.evaluated_at = self._clock()
            self._cloudwatch.put_metric_alarm(**api_arguments(alarm))
            self._cloudwatch.set_alarm_state(
                AlarmName=alarm.name,
                StateValue=INSUFFICIENT_DATA,
                StateReason="Unchecked: Initial alarm creation",
            )

    def states(self) -> dict[str, str]:
        with self._lock:
            return {alarm.name: alarm.state for alarm in self.alarms}

    def round(self) -> None:
        now = self._clock()
        for alarm in self.alarms:
            every = min(alarm.period, 60) * self.time_scale
            if now - alarm.evaluated_at >= every:
                alarm.evaluated_at = now
                self.evaluate(alarm, now)

    def evaluate(self, alarm: Alarm, now: float) -> None:
        seconds = alarm.period * self.time_scale
        end = (now // seconds) * seconds  # the last complete period ends here
        # the evaluation range: the same grid GetMetricData computes (keys must match exactly)
        starts = period_starts(end - seconds * alarm.rule.range_size, end, seconds)
        values = datapoints(alarm, self._store, starts[0], end, self.time_scale)
        points = [values.get(start) for start in starts]
        decision = decide(points, alarm.rule, alarm.state)
        if decision.state == alarm.state:
            return
        stamps = [_stamp(start) for start in starts]
        text = reason(decision, alarm.rule, stamps)
        data = {
            "version": "1.0",
            "queryDate": _stamp(now),
            "startDate": stamps[0],
            "period": alarm.period,
            "recentDatapoints": [value for _, value in decision.evaluated],
            "threshold": alarm.rule.threshold,
            "evaluatedDatapoints": [
                {"timestamp": stamps[index], "value": value} for index, value in decision.evaluated
            ],
        }
        old = alarm.state
        self._cloudwatch.set_alarm_state(
            AlarmName=alarm.name,
            StateValue=decision.state,
            StateReason=text,
            StateReasonData=json.dumps(data),
        )
        with self._lock:
            alarm.state = decision.state
        for topic in alarm.actions[decision.state]:
            self._notify(topic, alarm, old, text, now)

    def _notify(self, topic: str, alarm: Alarm, old: str, text: str, now: float) -> None:
        message = notification(alarm, old, text, now)
        subject = f'{alarm.state}: "{alarm.name}" in {REGION_NAME}'
        self._sns.publish(TopicArn=topic, Subject=subject[:100], Message=json.dumps(message))
        self.notifications += 1


def api_arguments(alarm: Alarm) -> dict[str, Any]:
    """``PutMetricAlarm`` arguments from the resolved properties (numbers as the API types them:
    a ``!Ref`` of a parameter resolves to a string)."""
    arguments = {**alarm.properties, "AlarmName": alarm.name}
    for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
        if key in arguments:
            arguments[key] = int(arguments[key])
    arguments["Threshold"] = float(arguments["Threshold"])
    if "Metrics" in arguments:
        arguments["Metrics"] = [
            {**query, "MetricStat": {**query["MetricStat"], "Period": int(query["MetricStat"]["Period"])}}
            if "MetricStat" in query
            else query
            for query in arguments["Metrics"]
        ]
    return arguments


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def notification(alarm: Alarm, old: str, text: str, now: float) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's topics on a state change."""
    properties = alarm.properties
    trigger: dict[str, Any] = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.rule.evaluation_periods,
        "DatapointsToAlarm": alarm.rule.datapoints_to_alarm,
        "ComparisonOperator": alarm.rule.comparison,
        "Threshold": alarm.rule.threshold,
        "TreatMissingData": alarm.rule.treat_missing_data,
        "EvaluateLowSampleCountPercentile": "",
    }
    if "Metrics" in properties:
        trigger["Metrics"] = properties["Metrics"]
    else:
        stat = str(properties.get("Statistic") or properties.get("ExtendedStatistic"))
        trigger.update(
            {
                "MetricName": properties["MetricName"],
                "Namespace": properties["Namespace"],
                "StatisticType": "Statistic" if stat in STANDARD_STATISTICS else "ExtendedStatistic",
                "Statistic": stat.upper() if stat in STANDARD_STATISTICS else stat,
                "Unit": properties.get("Unit"),
                "Dimensions": [
                    {"value": d["Value"], "name": d["Name"]} for d in properties.get("Dimensions", [])
                ],
            }
        )
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": properties.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": _stamp(now),
        "NewStateValue": alarm.state,
        "NewStateReason": text,
        "StateChangeTime": _stamp(now),
        "Region": REGION_NAME,
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.name}",
        "OldStateValue": old,
        "OKActions": alarm.actions["OK"],
        "AlarmActions": alarm.actions["ALARM"],
        "InsufficientDataActions": alarm.actions[INSUFFICIENT_DATA],
        "Trigger": trigger,
    }
