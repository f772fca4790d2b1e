"""The local Lambda's context object and logging rules, each as Lambda documents it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from local_stack.awslambda import logging_config as lambda_logs
from ops import capacity
from sam_template.conditions import deployed
from sam_template.expand import expand
from sam_template.handlers import LambdaContext
from sam_template.logging_config import LogSettings
from sam_template.model import load_template

LOGGING_APP = Path(__file__).parent.parent / "integration" / "apps" / "logging" / "template.yaml"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_context_counts_down_in_real_time_from_the_timeout(monkeypatch):
    clock = Clock(1_700_000_000.0)
    monkeypatch.setattr(time, "time", clock)
    context = LambdaContext(function_name="F", remaining_ms=10_000)
    assert context.get_remaining_time_in_millis() == 10_000
    clock.now += 2.5
    assert context.get_remaining_time_in_millis() == 7_500
    clock.now += 60
    assert context.get_remaining_time_in_millis() == 0  # past the deadline: nothing left, never negative


def test_the_context_names_what_lambda_names():
    context = LambdaContext(function_name="Connect", memory_limit_in_mb=256)
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:Connect"
    assert context.log_group_name == "/aws/lambda/Connect"
    assert context.function_version == "$LATEST"
    assert LambdaContext(function_name="Connect").aws_request_id != context.aws_request_id


def test_a_log_stream_is_named_as_lambda_names_one():
    name = lambda_logs.log_stream_name(now=1_700_000_000.0)
    assert re.fullmatch(r"2023/11/14/\[\$LATEST\][0-9a-f]{32}", name)
    assert lambda_logs.log_stream_name() != lambda_logs.log_stream_name()


@pytest.mark.parametrize("path", [LOGGING_APP, None], ids=["logging app", "template.yaml"])
def test_the_stack_and_the_capacity_model_read_one_logging_config(path):
    # the local stack reads the expanded template (SAM merged Globals into each function), the
    # capacity model the template as written: the same rule gives both the same settings
    written = load_template(path) if path else load_template()
    # every function deployed (the tracker's authorizer only with an AuthMode)
    parameters = {**written.parameter_defaults(), **({} if path else {"AuthMode": "cognito"})}
    expanded = deployed(expand(written, parameters), parameters)
    functions = list(written.of_type("AWS::Serverless::Function"))
    assert functions
    for name in functions:
        assert LogSettings.of(written, name) == LogSettings.of(expanded, name)
    if path is None:
        assert capacity.template_facts(0).platform_lines == {
            name: LogSettings.of(expanded, name).keeps_system() for name in capacity.FUNCTIONS
        }


def test_logging_config_from_globals_and_the_functions_own():
    template = load_template(LOGGING_APP)
    assert LogSettings.of(template, "QuietFunction") == LogSettings(
        "JSON", "WARN", "WARN", "/aws/lambda/QuietFunction"
    )
    assert LogSettings.of(template, "VerboseFunction") == LogSettings(
        "JSON", "DEBUG", "INFO", "/custom/verbose"
    )
    text = LogSettings.of(template, "TextFunction")
    assert text == LogSettings("Text", None, None, "/aws/lambda/TextFunction")  # levels need JSON
    assert text.variables() == {
        "AWS_LAMBDA_LOG_FORMAT": "Text",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/TextFunction",
    }
    assert LogSettings.of(template, "QuietFunction").variables()["AWS_LAMBDA_LOG_LEVEL"] == "WARN"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ('{"level": "ERROR", "message": "x"}', True),
        ('{"level": "WARNING", "message": "x"}', True),  # Python's name for WARN
        ('{"level": "INFO", "message": "x"}', False),
        ('{"level": "debug", "msg": "x"}', False),
        ('{"level": "nonsense", "message": "x"}', False),  # an invalid level counts as INFO
        ('{"message": "no level"}', False),  # a missing one too
        ("plain text", False),
        ('{"_aws": {"CloudWatchMetrics": []}, "M": 1}', True),  # EMF: its metrics are extracted
    ],
)
def test_application_lines_are_filtered_by_their_level(line, kept):
    assert LogSettings("JSON", "WARN", "INFO", "/g").keeps(line) is kept


def test_text_format_filters_nothing_and_system_warn_drops_the_platform_lines():
    assert LogSettings("Text", None, None, "/g").keeps('{"level": "DEBUG"}')
    assert LogSettings("Text", None, None, "/g").keeps_system()
    assert not LogSettings("JSON", "INFO", "WARN", "/g").keeps_system()
    assert LogSettings("JSON", "INFO", "DEBUG", "/g").keeps_system()


def test_the_report_bills_each_started_millisecond():
    text = LogSettings()
    line = lambda_logs.report(text, "r-1", duration_ms=12.3, memory_mb=256, max_memory_mb=70, init_ms=None)
    assert line == (
        "REPORT RequestId: r-1\tDuration: 12.30 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 70 MB"
    )
    record = json.loads(
        lambda_logs.report(
            LogSettings("JSON", "INFO", "INFO", "/g"),
            "r-2",
            duration_ms=0.4,
            memory_mb=128,
            max_memory_mb=40,
            init_ms=150.0,
        )
    )
    assert record["type"] == "platform.report"
    assert record["record"]["metrics"]["billedDurationMs"] == 1
    assert record["record"]["metrics"]["initDurationMs"] == 150.0
