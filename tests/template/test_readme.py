"""The documentation's tables match template.yaml: every parameter (README, "Configuration at a
glance"), function and environment variable (docs/architecture.md, "Layout" and "Configuration")
and alarm (docs/operations.md, "Runbook" and "What each alarm reads", where each row cites the
documentation of what it reads) the template defines has its row, and the metric table
(docs/architecture.md, "Metrics table") is the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connection_tracker.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\|\s*(?P<first>[^|]*?)\s*\|(?P<rest>.*)\|\s*$")
_HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*$")

# where each kind of row lives: (file, heading of its section)
PARAMETERS = ("README.md", "Configuration at a glance")
FUNCTIONS = ("docs/architecture.md", "Layout")
VARIABLES = ("docs/architecture.md", "Configuration")
RUNBOOK = ("docs/operations.md", "Runbook")
ALARM_FACTS = ("docs/operations.md", "What each alarm reads")
METRICS = ("docs/architecture.md", "Metrics table")


def read_docs() -> dict[str, str]:
    files = {place[0] for place in (PARAMETERS, FUNCTIONS, VARIABLES, RUNBOOK, ALARM_FACTS, METRICS)}
    return {name: (ROOT / name).read_text(encoding="utf-8") for name in files}


def section(text: str, heading: str) -> list[str]:
    """The lines under ``heading`` (any level), up to the next heading of the same or a higher level
    (fenced code is not a heading)."""
    lines, body, level, fenced = text.splitlines(), [], 0, False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if level:
            if match and len(match["level"]) <= level:
                break
            body.append(line)
        elif match and match["text"] == heading:
            level = len(match["level"])
    assert level, f"no section {heading!r}"
    return body


def table_rows(text: str, heading: str) -> list[tuple[str, str]]:
    """(first cell, rest of the row) of every table row in the section under ``heading``."""
    rows = []
    for line in section(text, heading):
        row = _ROW.match(line)
        if row and not set(row["first"]) <= {"-", " ", ":"}:
            rows.append((row["first"], row["rest"]))
    return rows


def named(rows: list[tuple[str, str]]) -> set[str]:
    """The backticked names in the rows' first cells (``a``, ``b`` and ``c`` rows count each)."""
    return {name for first, _ in rows for name in re.findall(r"`([^`]+)`", first)}


def rows_at(docs: dict[str, str], place: tuple[str, str]) -> list[tuple[str, str]]:
    return table_rows(docs[place[0]], place[1])


def missing_rows(docs: dict[str, str], template) -> dict[str, set[str]]:
    functions = template.of_type("AWS::Serverless::Function")
    code = {f"{props['Properties']['CodeUri']}app.py" for props in functions.values()}
    variables = set(template.body["Globals"]["Function"]["Environment"]["Variables"])
    for function in functions.values():
        variables |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    alarms = set(template.of_type("AWS::CloudWatch::Alarm"))
    facts = [row for row in rows_at(docs, ALARM_FACTS) if "](https://docs.aws.amazon.com/" in row[1]]
    parameters = set(template.body["Parameters"])
    return {
        "parameter": parameters - named(rows_at(docs, PARAMETERS)),
        "function": code - named(rows_at(docs, FUNCTIONS)),
        "environment variable": variables - named(rows_at(docs, VARIABLES)),
        "alarm in the runbook": alarms - named(rows_at(docs, RUNBOOK)),
        "alarm citing its metric's documentation": alarms - named(facts),
    }


def test_every_function_alarm_parameter_and_variable_of_the_template_has_its_row(template):
    missing = {kind: names for kind, names in missing_rows(read_docs(), template).items() if names}
    assert not missing, f"the documentation lacks rows for {missing}"


@pytest.mark.parametrize(
    ("place", "row_start", "kind"),
    [
        (FUNCTIONS, "| `functions/sweeper/app.py`", "function"),
        (VARIABLES, "| `CONNECTIONS_TABLE`", "environment variable"),
        (PARAMETERS, "| `AccessLogging`", "parameter"),
        (RUNBOOK, "| `StreamIteratorAgeAlarm` |", "alarm in the runbook"),
        (ALARM_FACTS, "| `StreamIteratorAgeAlarm` |", "alarm citing its metric's documentation"),
    ],
)
def test_the_check_fails_when_a_row_is_removed(template, place, row_start, kind):
    docs = read_docs()
    body = section(docs[place[0]], place[1])
    assert any(line.startswith(row_start) for line in body), row_start
    # remove the row from that section only: the same alarm has a row in both of operations.md's tables
    without = [line for line in body if not line.startswith(row_start)]
    docs[place[0]] = docs[place[0]].replace("\n".join(body), "\n".join(without), 1)
    assert missing_rows(docs, template)[kind]


def test_a_section_ends_at_the_next_heading_of_its_level():
    text = "# Page\n## A\n| `a` | x |\n### A.1\n| `b` | x |\n## B\n| `c` | x |\n"
    assert named(table_rows(text, "A")) == {"a", "b"}
    assert named(table_rows(text, "A.1")) == {"b"}
    with pytest.raises(AssertionError):
        section(text, "C")


def test_the_metric_table_is_the_catalogue():
    rows = {
        first.strip("`"): [cell.strip() for cell in rest.split("|")]
        for first, rest in rows_at(read_docs(), METRICS)
    }
    rows.pop("metric")  # the header
    assert set(rows) == {str(name) for name in CATALOGUE}
    for name, spec in CATALOGUE.items():
        unit, emitter, meaning = rows[str(name)]
        assert (unit, emitter, meaning) == (spec.unit.value, f"`functions/{spec.emitter}`", spec.meaning), (
            name
        )
