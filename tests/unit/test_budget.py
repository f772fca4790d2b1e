"""The time budget: what each Timeout configures, and that its worst case ends in time."""

from __future__ import annotations

import pytest
from botocore.retries.standard import (
    ExponentialBackoff,
    RetryContext,
    RetryEventAdapter,
    ThrottlingErrorDetector,
)

from connection_tracker import budget
from connection_tracker.budget import Budget, longest_pause
from sam_template.handlers import LambdaContext
from sam_template.model import load_template


def worst_case_of(config) -> float:
    """Every attempt the configuration allows, each timing out on connect and read, with botocore's
    longest pause between them."""
    attempts = config.retries["total_max_attempts"]
    attempt = config.connect_timeout + config.read_timeout
    return attempts * attempt + sum(longest_pause(n) for n in range(1, attempts))


@pytest.mark.parametrize("timeout", [3, 10, 30])
def test_the_worst_case_of_the_configured_attempts_ends_before_the_timeout_less_the_margin(timeout):
    chosen = Budget.for_timeout(timeout)
    config = chosen.config()
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] >= 1
    assert 0 < chosen.margin < timeout
    assert worst_case_of(config) <= timeout - chosen.margin


@pytest.mark.parametrize(
    ("timeout", "attempts"),
    [(3, 1), (10, 2), (30, 3)],  # a short Timeout buys fewer retries, never a longer wait
)
def test_a_longer_timeout_affords_more_attempts(timeout, attempts):
    assert Budget.for_timeout(timeout).max_attempts == attempts


def test_every_function_of_the_template_has_a_budget_that_fits():
    template = load_template()
    functions = template.of_type("AWS::Serverless::Function")
    assert functions
    for function in functions:
        timeout = template.function_timeout(function)
        chosen = Budget.for_timeout(timeout)
        assert worst_case_of(chosen.config()) <= timeout - chosen.margin, function


@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_the_longest_pause_is_botocores_longest(attempt):
    """botocore's own backoff, its random draw at its maximum, after a throttling error."""
    adapter = RetryEventAdapter()
    longest = ExponentialBackoff(
        service_name="dynamodb", throttling_detector=ThrottlingErrorDetector(adapter), random=lambda: 1.0
    )
    throttled = RetryContext(
        attempt_number=attempt,
        parsed_response={"Error": {"Code": "ProvisionedThroughputExceededException"}},
    )
    assert longest.delay_amount(throttled) <= longest_pause(attempt)


@pytest.mark.parametrize("timeout", [3, 10, 30])
def test_the_first_attempt_fits_when_the_invocation_has_just_begun(timeout):
    chosen = Budget.for_timeout(timeout)
    just_begun = timeout - 0.05  # the handler runs a few milliseconds after Lambda's clock started
    assert just_begun - chosen.margin >= chosen.attempt


def test_the_timeout_is_read_from_the_invocations_start():
    started = budget.start(LambdaContext(function_name="f", remaining_ms=9_987))  # a few ms in
    try:
        assert started == Budget.for_timeout(10)
        assert budget.current() == started
        assert 0 < budget.time_left() <= 9.987
    finally:
        budget.end()
    assert budget.time_left() is None  # outside an invocation nothing is gated
