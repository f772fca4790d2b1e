"""The template's CloudWatch alarms and dashboards as CloudWatch bills them each month ("Amazon
CloudWatch Pricing", https://aws.amazon.com/cloudwatch/pricing/: a standard alarm per metric it
reads, a dashboard each). One reading for the local stack's meter and the capacity model; the
prices are ``ops.prices``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sam_template.model import Template


def alarm_metrics(template: Template) -> int:
    """Metrics the template's alarms read: one for an alarm on a metric, one per ``MetricStat``
    for an alarm on metric math (its expressions read those)."""
    found = 0
    for alarm in template.of_type("AWS::CloudWatch::Alarm").values():
        queries = alarm.get("Properties", {}).get("Metrics")
        found += sum(1 for query in queries if "MetricStat" in query) if queries else 1
    return found


def dashboards(template: Template) -> int:
    return len(template.of_type("AWS::CloudWatch::Dashboard"))
