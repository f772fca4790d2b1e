"""``--parameter-overrides`` as the SAM CLI takes it, checked as CloudFormation checks a value."""

from __future__ import annotations

import pytest

from local_stack import cli
from sam_template.model import load_template
from sam_template.parameters import check_overrides, parse_overrides


def test_both_of_the_sam_clis_forms_and_several_pairs():
    assert parse_overrides(["GaugeWindowSeconds=5 TtlHours=0.5", "ServiceName=a=b"]) == {
        "GaugeWindowSeconds": "5",
        "TtlHours": "0.5",
        "ServiceName": "a=b",
    }
    long_form = parse_overrides(["ParameterKey=GaugeWindowSeconds,ParameterValue=5"])
    assert long_form == {"GaugeWindowSeconds": "5"}
    assert parse_overrides(["AlarmEmail='ops team@example.com'"]) == {"AlarmEmail": "ops team@example.com"}


@pytest.mark.parametrize("bad", ["GaugeWindowSeconds", "=5", "GaugeWindowSeconds:5"])
def test_a_pair_that_is_not_key_value_is_refused(bad):
    with pytest.raises(ValueError, match="is not Key=Value"):
        parse_overrides([bad])


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"GaugeWindowSecs": "5"}, "not a parameter of the template"),
        ({"GaugeWindowSeconds": "0"}, "must be at least 1"),
        ({"GaugeWindowSeconds": "901"}, "must be at most 900"),
        ({"GaugeWindowSeconds": "soon"}, "must be a number"),
        ({"VerifyWrite": "yes"}, "must be one of true, false"),
        ({"StageName": "no spaces"}, "must match"),
    ],
)
def test_what_cloudformation_would_refuse_is_refused_by_name(override, says):
    with pytest.raises(ValueError, match=says) as refused:
        check_overrides(load_template(), override)
    assert next(iter(override)) in str(refused.value)


def refusal(overrides: dict[str, str]) -> str | None:
    try:
        check_overrides(load_template(), overrides)
    except ValueError as refused:
        return str(refused)
    return None


def test_allowed_values_pass():
    assert refusal({"GaugeWindowSeconds": "900", "TtlHours": "0.5", "VerifyWrite": "true"}) is None


def test_every_value_the_template_declares_valid_passes():
    """CloudFormation takes each parameter's Default, MinValue, MaxValue and AllowedValues."""
    declared = load_template().body["Parameters"]
    bounds = ("MinValue", "MaxValue")
    valid = {
        (name, str(value))
        for name, spec in declared.items()
        for value in (
            spec["Default"],
            *spec.get("AllowedValues", ()),
            *(spec[b] for b in bounds if b in spec),
        )
    }
    assert {name for name, _ in valid} == set(declared)
    refused = {(name, value): refusal({name: value}) for name, value in valid}
    assert {pair: why for pair, why in refused.items() if why is not None} == {}


def test_the_stack_does_not_start_on_a_bad_override(capfd):
    assert cli.main(["up", "--parameter-overrides", "GaugeWindowSeconds=0"]) == 2
    assert "GaugeWindowSeconds='0': must be at least 1" in capfd.readouterr().err
    assert cli.main(["up", "--parameter-overrides", "GaugeWindowSeconds"]) == 2
    assert "is not Key=Value" in capfd.readouterr().err
