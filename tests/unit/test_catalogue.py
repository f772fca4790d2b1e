"""The metric catalogue is the contract's, and the code spells metric names only through it."""

from __future__ import annotations

import ast
from pathlib import Path

from connection_tracker.catalogue import CATALOGUE, NAMESPACE, MetricName

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = {  # docs/architecture.md, "Metric catalogue"
    "ConnectAccepted": "Count",
    "ConnectRejected": "Count",
    "ConnectFailed": "Count",
    "DisconnectHandled": "Count",
    "DisconnectFailed": "Count",
    "ConnectionsOpened": "Count",
    "ConnectionsExpired": "Count",
    "ConnectionsClosed": "Count",
    "ConnectionLifetime": "Seconds",
    "ExpiryLag": "Seconds",
    "ActiveConnections": "Count",
    "StreamRecordsFailed": "Count",
    # added with the gauge, the sweeper and per-client de-duplication
    "ActiveConnectionsDrift": "Count",
    "StaleConnectionsSwept": "Count",
    "GoneConnectionsSwept": "Count",
    "DuplicateConnectionsClosed": "Count",
    # added with identity (DESIGN, "Identity"): tokens the $connect authorizer refused
    "ConnectUnauthorized": "Count",
}


def test_catalogue_is_the_contract():
    assert NAMESPACE == "ConnectionTracker"
    assert {str(name): spec.unit.value for name, spec in CATALOGUE.items()} == CONTRACT
    assert set(CATALOGUE) == set(MetricName)


def test_functions_never_spell_a_metric_name():
    names = set(CONTRACT)
    offenders = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
            if isinstance(node, ast.Attribute) and node.attr == "add_metric":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} add_metric outside the catalogue")
    assert offenders == []
