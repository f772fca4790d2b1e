"""The sweeper and per-client de-duplication: they remove exactly the connections API Gateway no
longer holds or the client holds too many of — never another one."""

from __future__ import annotations

import itertools
import time

import pytest

from connection_tracker.catalogue import MetricName
from sam_template.handlers import LambdaContext, load_handler

NOW = 1_730_212_321.0


def put(dynamodb, table, connection_id: str, *, age_seconds: float, client_id: str = "svc") -> None:
    created = int((NOW - age_seconds) * 1000)
    dynamodb.put_item(
        TableName=table,
        Item={
            "connectionId": {"S": connection_id},
            "createdAt": {"N": str(created)},
            "ttl": {"N": str(int(NOW + 86_400))},
            "clientId": {"S": client_id},
        },
    )


def ids(dynamodb, table) -> set[str]:
    return {
        item["connectionId"]["S"] for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    }


@pytest.fixture
def clock(monkeypatch):
    ticks = itertools.count()
    monkeypatch.setattr(time, "time", lambda: NOW + next(ticks) * 0.01)


def test_sweeper_removes_stale_and_gone_and_keeps_the_live(
    invoke, dynamodb, table, counters, connections_api, clock, output
):
    put(dynamodb, table, "live-young=", age_seconds=60)
    put(dynamodb, table, "gone-young=", age_seconds=60)
    put(dynamodb, table, "stale-old=", age_seconds=3 * 3600)  # API Gateway closed it long ago
    put(dynamodb, table, "live-but-old=", age_seconds=2 * 3600 + 5)
    connections_api.live = {"live-young=", "live-but-old="}

    summary = invoke("SweeperFunction", {})

    assert ids(dynamodb, table) == {"live-young="}
    assert (summary["stale"], summary["gone"], summary["finished"]) == (2, 1, True)
    # only the young ones were probed, with GET
    assert sorted(connections_api.requests) == [("GET", "gone-young="), ("GET", "live-young=")]
    values = output().metric_values()
    assert values[MetricName.STALE_CONNECTIONS_SWEPT] == [2.0]
    assert values[MetricName.GONE_CONNECTIONS_SWEPT] == [1.0]


@pytest.mark.parametrize("probes", [200, 150])  # at a page's end, in a page's middle
def test_sweeper_stops_in_time_and_continues_next_run(
    template, dynamodb, table, counters, connections_api, clock, probes
):
    for n in range(250):
        put(dynamodb, table, f"gone-{n:03d}=", age_seconds=60)
    sweeper = load_handler(template, "SweeperFunction")
    timeout_ms = template.function_timeout("SweeperFunction") * 1000

    class Context(LambdaContext):
        """Time runs short once ``probes`` connections are probed (a slow @connections API)."""

        def get_remaining_time_in_millis(self) -> int:
            return timeout_ms if len(connections_api.requests) < probes else 1_000

    first = sweeper({}, Context(function_name="SweeperFunction"))
    assert (first["finished"], first["gone"]) == (False, probes)
    assert len(ids(dynamodb, table)) == 250 - probes
    connections_api.requests.clear()
    second = sweeper({}, LambdaContext(function_name="SweeperFunction", remaining_ms=timeout_ms))
    assert (second["finished"], second["gone"]) == (True, 250 - probes)  # on from where it stopped
    assert len(connections_api.requests) == 250 - probes  # nothing probed twice
    assert ids(dynamodb, table) == set()


@pytest.fixture
def table_parameters():
    """This module's tables are those of a deployment with MaxConnectionsPerClient=2, which the
    connects below run as: the connections table has its ByClient index (the sweeper reads none)."""
    return {"MaxConnectionsPerClient": "2"}


@pytest.fixture
def connect_as(invoke, event, table, connections_api, clock, monkeypatch):
    monkeypatch.setenv("MAX_CONNECTIONS_PER_CLIENT", "2")

    def call(connection_id: str, client_id: str) -> dict:
        payload = event("connect")
        payload["requestContext"]["connectionId"] = connection_id
        payload["queryStringParameters"] = {"clientId": client_id}
        connections_api.live.add(connection_id)
        return invoke("ConnectFunction", payload)

    return call


def test_a_client_over_its_limit_loses_its_oldest_connection_only(
    connect_as, dynamodb, table, connections_api, output
):
    for connection_id, client_id in [("a1=", "alice"), ("b1=", "bob"), ("a2=", "alice"), ("b2=", "bob")]:
        assert connect_as(connection_id, client_id)["statusCode"] == 200
    assert connections_api.requests == []  # nobody over the limit yet
    output()

    assert connect_as("a3=", "alice")["statusCode"] == 200

    assert connections_api.requests == [("DELETE", "a1=")]
    assert ids(dynamodb, table) == {"a2=", "a3=", "b1=", "b2="}
    printed = output()
    assert printed.metric_values()[MetricName.DUPLICATE_CONNECTIONS_CLOSED] == [1.0]
    assert printed.log("duplicates closed")["closed"] == ["a1="]


def test_the_new_connection_survives_even_when_it_is_not_the_newest_by_clock(
    connect_as, dynamodb, table, connections_api, monkeypatch
):
    connect_as("a1=", "alice")
    connect_as("a2=", "alice")
    monkeypatch.setattr(time, "time", lambda: NOW - 3600)  # a skewed clock: the new one looks oldest
    connect_as("a3=", "alice")
    assert "a3=" in ids(dynamodb, table)
    assert [request for request in connections_api.requests if request[1] == "a3="] == []
    assert len([i for i in ids(dynamodb, table) if i.startswith("a")]) == 2


def test_unknown_clients_are_never_de_duplicated(connect_as, invoke, event, dynamodb, table, connections_api):
    for n in range(4):
        payload = event("connect")
        payload["requestContext"]["connectionId"] = f"anon{n}="
        payload.pop("queryStringParameters")
        invoke("ConnectFunction", payload)
    assert connections_api.requests == []
    assert len(ids(dynamodb, table)) == 4


def test_a_gone_duplicate_is_still_removed(connect_as, dynamodb, table, connections_api):
    connect_as("a1=", "alice")
    connect_as("a2=", "alice")
    connections_api.live.discard("a1=")  # its socket died and its $disconnect was lost
    connect_as("a3=", "alice")
    assert ids(dynamodb, table) == {"a2=", "a3="}


def test_a_duplicate_the_gateway_refused_to_close_stays_and_is_not_counted(
    connect_as, dynamodb, table, connections_api, output
):
    connect_as("a1=", "alice")
    connect_as("a2=", "alice")
    connect_as("b1=", "bob")
    connect_as("b2=", "bob")
    output()
    connections_api.refused.add("a1=")  # DELETE answered 403: the socket stays open

    assert connect_as("a3=", "alice")["statusCode"] == 200  # the new connection is never refused
    assert connect_as("b3=", "bob")["statusCode"] == 200

    assert ("DELETE", "a1=") in connections_api.requests
    assert ids(dynamodb, table) == {"a1=", "a2=", "a3=", "b2=", "b3="}  # a1= is still open: kept
    printed = output()
    assert printed.log("closing a duplicate failed")["connectionId"] == "a1="
    # only bob's close happened: one count, one line naming it
    assert printed.metric_values()[MetricName.DUPLICATE_CONNECTIONS_CLOSED] == [1.0]
    assert printed.log("duplicates closed")["closed"] == ["b1="]


def indexes(dynamodb, table) -> list[str]:
    described = dynamodb.describe_table(TableName=table)["Table"]
    return [index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])]


def test_de_duplication_reads_the_index_its_deployment_has(connect_as, dynamodb, table, dynamodb_requests):
    assert indexes(dynamodb, table) == ["ByClient"]
    connect_as("a1=", "alice")
    assert dynamodb_requests.sent == ["PutItem", "Query"]


@pytest.mark.parametrize("table_parameters", [{}, {"MaxConnectionsPerClient": "0"}], ids=["default", "0"])
def test_without_a_limit_there_is_no_index_and_a_connect_is_one_put(
    invoke, event, dynamodb, table, dynamodb_requests, table_parameters
):
    assert indexes(dynamodb, table) == []  # nothing reads it: nothing pays for its writes
    assert invoke("ConnectFunction", event("connect"))["statusCode"] == 200  # a named client
    assert dynamodb_requests.sent == ["PutItem"]
    assert ids(dynamodb, table) == {"Lx1hHc7GoAMCIqA="}
