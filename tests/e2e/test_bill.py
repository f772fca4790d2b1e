"""The cost meter after a load through the local stack: ``GET /_local/bill`` has every field of
its contract, and the capacity model, given the same load, is within 10 % of it service by
service (``ops.capacity`` and the meter share ``ops.prices``; the model's assumptions about the
product's behaviour are what this holds to the run)."""

from __future__ import annotations

import pytest

from bench.cost import measure, model_load
from ops import capacity, prices

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONNECTIONS, RATE, HOLD, TTL_SHARE, WINDOW = 150, 20.0, 3.0, 0.1, 1.0


@pytest.fixture(scope="module")
def bill(tmp_path_factory):
    return measure(
        connections=CONNECTIONS,
        rate=RATE,
        hold=HOLD,
        ttl_share=TTL_SHARE,
        batch_window=WINDOW,
        scratch=tmp_path_factory.mktemp("bill"),
    )


def test_the_bill_has_every_field(bill):
    assert set(bill) >= {"since", "connections", "units", "dollars", "perMillionConnections", "monthly"}
    assert bill["connections"] == CONNECTIONS
    units = bill["units"]
    assert set(units) >= {"dynamodb", "lambda", "apigateway", "cloudwatch", "sqs", "sns"}
    tables = {name.rsplit("-", 1)[-1]: table for name, table in units["dynamodb"].items()}
    # a table is billed once it is used: CountersTable only when a gauge window has closed
    assert "ConnectionsTable" in tables
    assert set(tables) <= {"ConnectionsTable", "CountersTable"}
    for table in tables.values():
        assert set(table) >= {"writeUnits", "readUnits", "indexes"}
    # a PutItem per connect, a DeleteItem per $disconnect; the TTL's deletes cost nothing; no index,
    # as MaxConnectionsPerClient is 0 by default
    lost = round(CONNECTIONS * TTL_SHARE)
    assert tables["ConnectionsTable"]["writeUnits"] == 2 * CONNECTIONS - lost
    assert tables["ConnectionsTable"]["indexes"] == {}
    # the gauge: one transaction (the shard's marker and the count item, 2 units each) per shard per
    # window, not per connection
    assert tables.get("CountersTable", {"writeUnits": 0})["writeUnits"] < CONNECTIONS / 4
    functions = units["lambda"]
    assert functions["ConnectFunction"]["requests"] == CONNECTIONS
    assert functions["DisconnectFunction"]["requests"] == CONNECTIONS - lost
    assert all(function["gbSeconds"] > 0 for function in functions.values())
    assert units["apigateway"]["messages"] == 2 * CONNECTIONS - lost  # $connect, and $disconnect unless lost
    assert units["apigateway"]["connectionMinutes"] >= CONNECTIONS * HOLD / 60
    assert set(units["cloudwatch"]["logBytes"]) >= {
        "ConnectFunction",
        "DisconnectFunction",
        "StreamMetricsFunction",
    }
    assert units["cloudwatch"]["metricsPublished"] > 0
    assert (units["sqs"]["requests"], units["sns"]["requests"]) == (0, 0)
    assert set(bill["dollars"]) == {*prices.SERVICES, "total"}
    # each figure is rounded to 9 decimals, so the sum may differ from the total in the last one
    assert bill["dollars"]["total"] == pytest.approx(
        sum(bill["dollars"][name] for name in prices.SERVICES), abs=1e-8
    )
    per = bill["perMillionConnections"]
    assert set(per) == {*prices.SERVICES, "total", "tracker"}
    assert per["tracker"] == pytest.approx(per["total"] - per["apigateway"])
    assert per["total"] == pytest.approx(bill["dollars"]["total"] / CONNECTIONS * 1e6)
    assert set(bill["monthly"]) >= {"customMetrics", "alarms", "dashboards", "dollars"}
    assert bill["monthly"]["dashboards"] == 1


def test_the_model_is_within_ten_percent_of_the_meter_service_by_service(bill):
    model = capacity.per_million_connections(model_load(bill, RATE, HOLD, TTL_SHARE, WINDOW))
    measured = bill["perMillionConnections"]
    assert set(model) == set(measured)
    for service in (*prices.SERVICES, "total", "tracker"):
        assert model[service] == pytest.approx(measured[service], rel=0.10, abs=1e-6), service
