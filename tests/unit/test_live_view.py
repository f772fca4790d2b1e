"""The live view shows what is true of the application the stack runs: for any application, its
sockets at the gateway and each function's invocations, errors and duration, with its alarms; the
tracker's own figures only where the tracker's metric catalogue exists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connection_tracker.catalogue import DIMENSION, NAMESPACE, SERVICE
from local_stack.apigateway.connections import ConnectionRegistry
from local_stack.cloudwatch.service_metrics import ServiceMetrics
from local_stack.cloudwatch.store import MetricStore
from local_stack.dashboard.terminal import StoreReader, render, status
from sam_template.model import Template


def function(variables: dict[str, str] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"Handler": "app.handler", "Code": "f/"}
    if variables:
        properties["Environment"] = {"Variables": variables}
    return {"Type": "AWS::Lambda::Function", "Properties": properties}


def ignore(_: str) -> None:
    return


def registry(*, open_sockets: int, accepted: int, refused: int) -> ConnectionRegistry:
    """The gateway's connections: ``accepted`` handshakes, of which ``open_sockets`` still open."""
    connections = ConnectionRegistry(SimpleNamespace(opened=ignore, closed=ignore), on_message=lambda: None)
    for number in range(accepted):
        connections.opened(SimpleNamespace(connection_id=f"c{number}"))
    for number in range(accepted - open_sockets):
        connections.closed(f"c{number}")
    for _ in range(refused):
        connections.count("refused")
    return connections


def running(resources: dict[str, Any], store: MetricStore, *, open_sockets: int, accepted: int) -> Any:
    """A running stack, as the live view reads it: the metric store, the gateway's sockets, the
    template's functions and alarms, the meter."""
    metrics = ServiceMetrics(SimpleNamespace(put=store.record, put_values=store.record_values))
    metrics.api = ("abc123", "prod", False)
    meter = SimpleNamespace(
        bill=lambda: {"dollars": {"total": 0.0}, "perMillionConnections": {"total": 0.0, "tracker": 0.0}}
    )
    return SimpleNamespace(
        template=Template(body={"Resources": resources}, path=Path("/app/template.yaml")),
        store=store,
        reader=StoreReader(store),
        distribution=store.recent_values,
        gateway=SimpleNamespace(
            authorizer=None, connections=registry(open_sockets=open_sockets, accepted=accepted, refused=1)
        ),
        functions=SimpleNamespace(metrics=metrics),
        pollers=[],
        alarms=SimpleNamespace(states=lambda: {"onesocket-connect-errors": "OK"}),
        meter=meter,
    )


DESCRIBED = {
    "template": "/app/template.yaml",
    "url": "ws://127.0.0.1:8080/prod",
    "managementUrl": "http://127.0.0.1:1/prod",
    "connectionsUrl": "https://127.0.0.1:2/prod",
    "awsEndpoint": "http://127.0.0.1:3",
    "dashboardUrl": None,
    "log": "/app/.local-stack/functions.log",
    "notices": [],
    "alarmTimeScale": 1.0,
    "alarmTopicArn": None,
}


@pytest.fixture
def store():
    store = MetricStore()
    metrics = ServiceMetrics(SimpleNamespace(put=store.record, put_values=store.record_values))
    metrics.api = ("abc123", "prod", False)
    for milliseconds in (10.0, 20.0, 30.0):
        metrics.invocation("ConnectFunction", milliseconds, failed=False, concurrent=1)
    metrics.invocation("MessageFunction", 400.0, failed=True, concurrent=1)
    for _ in range(5):
        metrics.gateway("MessageCount")
    return store


def test_another_application_shows_its_gateway_and_functions_and_no_tracker_figures(store):
    stack = running(
        {"ConnectFunction": function(), "MessageFunction": function()}, store, open_sockets=2, accepted=3
    )

    state = status(stack)

    assert state["socketsOpen"] == 2
    assert state["gateway"] == {"connects": 3, "refused": 1, "messages": 5.0, "disconnects": 1}
    assert state["functions"]["ConnectFunction"] == {
        "invocations": 3.0,
        "errors": 0.0,
        "throttles": 0.0,
        "durationMs": {"p50": 20.0, "p99": 30.0},
    }
    assert state["functions"]["MessageFunction"]["errors"] == 1.0
    assert state["alarms"] == {"onesocket-connect-errors": "OK"}
    for tracker_only in ("active", "totals", "connect", "lifetimeSeconds", "streamDelivery"):
        assert tracker_only not in state
    shown = render(state, DESCRIBED)
    assert "active connections" not in shown
    assert "sockets open 2   connects 3 (refused 1)   messages 5   disconnects 1" in shown
    assert "ConnectFunction" in shown
    assert "20.0 / 30.0" in shown
    assert "OK                onesocket-connect-errors" in shown


def test_the_tracker_figures_show_where_its_functions_publish_its_catalogue(store):
    tracker = function({"POWERTOOLS_METRICS_NAMESPACE": NAMESPACE})
    stack = running({"ConnectFunction": tracker}, store, open_sockets=0, accepted=0)

    state = status(stack)

    assert state["active"] == 0
    assert state["totals"]["ConnectAccepted"] == 0
    assert "active connections" in render(state, DESCRIBED)


def test_the_tracker_figures_show_once_its_catalogue_metrics_exist(store):
    stack = running({"ConnectFunction": function()}, store, open_sockets=1, accepted=1)
    assert "active" not in status(stack)

    store.record(
        NAMESPACE,
        [
            {
                "MetricName": "ConnectionsOpened",
                "Dimensions": [{"Name": DIMENSION, "Value": SERVICE}],
                "Timestamp": datetime.now(tz=UTC),
                "Values": [1.0],
                "Unit": "Count",
            }
        ],
    )

    state = status(stack)
    assert state["active"] == 1
    assert state["totals"]["ConnectionsOpened"] == 1
