"""The contract between the log lines the functions write and the queries that read them: every
saved query of the template and every log widget of its dashboard parses, and reads only fields
that a line of its log groups' functions writes (docs/architecture.md, "The connection log")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_stack.dashboard.widgets import log_query
from local_stack.logs.insights import discovered, parse, referenced_fields
from sam_template.intrinsics import resource_named
from sam_template.model import load_template
from sam_template.tables import create_table
from tests.conftest import TABLE_NAME


def _function_of_log_group(template: Any, logical_id: str) -> str:
    """The function whose log group this is (``/aws/lambda/${Function}``)."""
    name = template.properties(logical_id)["LogGroupName"]
    (function,) = re.findall(r"\$\{(\w+)\}", name["Fn::Sub"])
    return str(function)


@pytest.fixture
def written(invoke, event, aws, dynamodb, template, output) -> dict[str, set[str]]:
    """The fields of every line each function writes across a connection's life: a refused and
    a failed connect, an accepted one, its disconnect, and the consumer's events (of a claimed and
    of a verified client)."""
    fields: dict[str, set[str]] = {}

    def note(function: str) -> None:
        for line in output().lines:
            fields.setdefault(function, set()).update(discovered(json.dumps(line)))

    invoke("ConnectFunction", event("connect"))  # no table yet: "connect failed"
    note("ConnectFunction")
    create_table(dynamodb, template, "ConnectionsTable", TABLE_NAME)
    invoke("ConnectFunction", event("connect"))
    refused = event("connect")
    refused["queryStringParameters"] = {"clientId": "not valid!"}
    invoke("ConnectFunction", refused)
    note("ConnectFunction")
    invoke("DisconnectFunction", event("disconnect"))
    invoke("DisconnectFunction", event("disconnect"))  # already gone
    note("DisconnectFunction")
    invoke("StreamMetricsFunction", event("stream_batch"))  # opened, modified, closed, expired
    verified = event("stream_batch")  # a connection whose clientId is a verified token's claim
    verified["Records"] = verified["Records"][:1]
    verified["Records"][0]["dynamodb"]["NewImage"]["authenticated"] = {"BOOL": True}
    invoke("StreamMetricsFunction", verified)
    note("StreamMetricsFunction")
    return fields


def queries() -> list[tuple[str, str, list[str]]]:
    """(what, query string, the functions whose log groups it reads) for every saved query and
    every log widget of the template."""
    template = load_template()
    found = []
    for logical_id, definition in template.of_type("AWS::Logs::QueryDefinition").items():
        groups = [resource_named(group) for group in definition["Properties"]["LogGroupNames"]]
        functions = [_function_of_log_group(template, str(group)) for group in groups]
        found.append((logical_id, definition["Properties"]["QueryString"], functions))
    (dashboard,) = template.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    for widget in body["widgets"]:
        if widget["type"] == "log":
            query = log_query(widget["properties"]["query"])
            functions = [re.findall(r"\$\{(\w+)\}", group)[0] for group in query["logGroupNames"]]
            found.append((widget["properties"]["title"], query["queryString"], functions))
    return found


def test_the_template_has_the_saved_queries_and_log_widgets_the_operations_docs_name():
    names = {what for what, _, _ in queries()}
    assert {
        "ConnectedNowQuery",
        "ClientConnectionsQuery",
        "TopClientsQuery",
        "LongestConnectionsQuery",
        "WhyConnectionsEndedQuery",
        "ConnectFailuresQuery",
        "Connected now",
        "Recent connect failures",
    } <= names


@pytest.mark.parametrize(("what", "query", "functions"), queries(), ids=[q[0] for q in queries()])
def test_every_query_reads_only_fields_the_functions_write(what, query, functions, written):
    parse(query)  # raises on anything the engine (the documented language) does not accept
    offered = set().union(*(written[function] for function in functions))
    missing = referenced_fields(query) - offered
    assert not missing, f"{what} reads {sorted(missing)}, which no line of {functions} writes"


def test_a_query_reading_a_field_no_line_writes_is_caught(written):
    assert referenced_fields('filter event = "opened" | stats count(*) by clientIp') - written[
        "StreamMetricsFunction"
    ] == {"clientIp"}
