"""A CloudWatch dashboard body read as widgets and the GetMetricData queries the console sends."""

from __future__ import annotations

from local_stack.dashboard.widgets import widgets


def test_metrics_arrays_become_queries_with_the_widgets_defaults_and_their_overrides():
    body = {
        "widgets": [
            {
                "type": "metric",
                "x": 8,
                "y": 6,
                "width": 16,
                "height": 6,
                "properties": {
                    "title": "Duration",
                    "period": 60,
                    "stat": "Average",
                    "metrics": [
                        ["AWS/Lambda", "Duration", "FunctionName", "a", {"stat": "p99", "label": "a p99"}],
                        [".", ".", ".", "b", {"period": 300}],
                        [{"expression": "m0 / 1000", "label": "seconds", "id": "e1"}],
                    ],
                },
            }
        ]
    }
    (widget,) = widgets(body)
    first, second, expression = widget.queries
    dimensions = [{"Name": "FunctionName", "Value": "a"}]
    metric = {"Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dimensions}
    assert first["MetricStat"] == {"Metric": metric, "Period": 60, "Stat": "p99"}
    assert first["Label"] == "a p99"
    # "." repeats the array above; its own period overrides the widget's
    assert second["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": "b"}]
    assert (second["MetricStat"]["Period"], second["MetricStat"]["Stat"]) == (300, "Average")
    assert expression == {"Id": "e1", "Expression": "m0 / 1000", "Label": "seconds", "ReturnData": True}
    assert widget.describe()["x"] == 8
    assert widget.unsupported == []


def test_what_is_not_rendered_is_named_on_the_widget():
    body = {
        "widgets": [
            {"type": "log", "properties": {"query": "fields @message", "view": "bar"}},
            {"type": "metric", "properties": {"view": "pie", "sparkline": True, "metrics": []}},
            {"type": "text", "properties": {"markdown": "# Runbook"}},
            {"type": "explorer", "properties": {}},
        ]
    }
    log, pie, text, explorer = widgets(body)
    assert log.unsupported == ["view bar", "a query without SOURCE log groups"]
    assert explorer.unsupported == ["widget type explorer"]
    assert pie.unsupported == ["sparkline", "view pie"]
    assert text.unsupported == []
    assert text.describe()["markdown"] == "# Runbook"


def test_a_log_widget_is_a_logs_insights_query_over_its_source_log_groups():
    query = "SOURCE '/aws/lambda/a' | SOURCE '/aws/lambda/b' | fields @timestamp\n| limit 5"
    (log,) = widgets({"widgets": [{"type": "log", "properties": {"query": query, "view": "table"}}]})
    assert log.unsupported == []
    assert log.describe()["log"] == {
        "logGroupNames": ["/aws/lambda/a", "/aws/lambda/b"],
        "queryString": "fields @timestamp\n| limit 5",
    }
