"""The README's tables match template.yaml: every function, alarm and environment variable the
template defines has its row, and every alarm's row cites the documentation of what it reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connection_tracker.catalogue import CATALOGUE

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\|\s*(?P<first>[^|]*?)\s*\|(?P<rest>.*)\|\s*$")


def table_rows(readme: str, heading: str) -> list[tuple[str, str]]:
    """(first cell, rest of the row) of every table row in the section under ``heading``."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(?P<body>.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, f"README has no section {heading!r}"
    rows = []
    for line in match["body"].splitlines():
        row = _ROW.match(line)
        if row and not set(row["first"]) <= {"-", " ", ":"}:
            rows.append((row["first"], row["rest"]))
    return rows


def named(rows: list[tuple[str, str]]) -> set[str]:
    """The backticked names in the rows' first cells (``a``, ``b`` and ``c`` rows count each)."""
    return {name for first, _ in rows for name in re.findall(r"`([^`]+)`", first)}


def missing_rows(readme: str, template) -> dict[str, set[str]]:
    functions = template.of_type("AWS::Serverless::Function")
    code = {f"{props['Properties']['CodeUri']}app.py" for props in functions.values()}
    variables = set(template.body["Globals"]["Function"]["Environment"]["Variables"])
    for function in functions.values():
        variables |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    alarms = set(template.of_type("AWS::CloudWatch::Alarm"))
    alarm_rows = table_rows(readme, "Dashboard and alarms")
    runbook = [row for row in alarm_rows if "](https://docs.aws.amazon.com/" not in row[1]]
    facts = [row for row in alarm_rows if "](https://docs.aws.amazon.com/" in row[1]]
    parameters = set(template.body["Parameters"])
    return {
        "parameter": parameters - named(table_rows(readme, "Deploy")),
        "function": code - named(table_rows(readme, "Layout")),
        "environment variable": variables - named(table_rows(readme, "Configuration")),
        "alarm in the runbook": alarms - named(runbook),
        "alarm citing its metric's documentation": alarms - named(facts),
    }


def test_every_function_alarm_and_variable_of_the_template_has_its_readme_row(template):
    missing = {
        kind: names
        for kind, names in missing_rows(README.read_text(encoding="utf-8"), template).items()
        if names
    }
    assert not missing, f"README.md lacks rows for {missing}"


@pytest.mark.parametrize(
    ("row_start", "kind"),
    [
        ("| `functions/sweeper/app.py`", "function"),
        ("| `CONNECTIONS_TABLE`", "environment variable"),
        ("| `AccessLogging`", "parameter"),
        ("| `StreamIteratorAgeAlarm` | consumer", "alarm in the runbook"),
        ("| `StreamIteratorAgeAlarm` | `AWS/Lambda`", "alarm citing its metric's documentation"),
    ],
)
def test_the_check_fails_when_a_row_is_removed(template, row_start, kind):
    readme = README.read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert any(line.startswith(row_start) for line in lines), row_start
    without = "\n".join(line for line in lines if not line.startswith(row_start))
    assert missing_rows(without, template)[kind]


def test_the_metric_table_is_the_catalogue():
    rows = {
        first.strip("`"): [cell.strip() for cell in rest.split("|")]
        for first, rest in table_rows(README.read_text(encoding="utf-8"), "Metrics")
    }
    rows.pop("metric")  # the header
    assert set(rows) == {str(name) for name in CATALOGUE}
    for name, spec in CATALOGUE.items():
        unit, emitter, meaning = rows[str(name)]
        assert (unit, emitter, meaning) == (spec.unit.value, f"`functions/{spec.emitter}`", spec.meaning), (
            name
        )
