"""Per-client de-duplication decides on what ``@connections`` DELETE answered: a connection it closed
or found gone is counted and its item deleted; one it failed to close stays open, so its item stays
and it is not counted."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from connection_tracker.connections_api import ConnectionsApi
from connection_tracker.maintenance import close_oldest_beyond


class Table:
    """The connections table as de-duplication reads and writes it: a client's connections, oldest
    first (the ByClient index), and deletes by connectionId."""

    def __init__(self, connections: dict[str, str]) -> None:
        self.items = dict(connections)  # connectionId -> clientId, in the order they connected
        self.deleted: list[str] = []

    def client_connections(self, client_id: str) -> list[tuple[str, int]]:
        return [(cid, n) for n, (cid, owner) in enumerate(self.items.items()) if owner == client_id]

    def delete(self, connection_id: str) -> dict[str, str] | None:
        self.deleted.append(connection_id)
        owner = self.items.pop(connection_id, None)
        return {"clientId": owner} if owner is not None else None


@pytest.fixture
def gateway():
    """The management API client, its answers stubbed per request (``Stubber``)."""
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc123.execute-api.us-east-1.amazonaws.com/prod",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def close(table: Table, client) -> list[str]:
    return close_oldest_beyond(
        table, ConnectionsApi(client), client_id="alice", new_connection_id="a3=", limit=2
    )


def test_a_duplicate_closed_by_the_gateway_is_counted_and_its_item_deleted(gateway):
    client, stubber = gateway
    table = Table({"a1=": "alice", "b1=": "bob", "a2=": "alice", "a3=": "alice"})
    stubber.add_response("delete_connection", {}, {"ConnectionId": "a1="})

    assert close(table, client) == ["a1="]
    assert table.deleted == ["a1="]
    assert list(table.items) == ["b1=", "a2=", "a3="]


def test_a_duplicate_already_gone_is_counted_and_its_item_deleted(gateway):
    client, stubber = gateway
    table = Table({"a1=": "alice", "a2=": "alice", "a3=": "alice"})
    stubber.add_client_error(
        "delete_connection",
        service_error_code="GoneException",
        http_status_code=410,
        expected_params={"ConnectionId": "a1="},
    )

    assert close(table, client) == ["a1="]
    assert table.deleted == ["a1="]


@pytest.mark.parametrize(
    ("code", "status"),
    [("ForbiddenException", 403), ("LimitExceededException", 429), ("InternalServerError", 500)],
)
def test_a_duplicate_the_gateway_failed_to_close_keeps_its_item_and_is_not_counted(gateway, code, status):
    client, stubber = gateway
    table = Table({"a1=": "alice", "a2=": "alice", "a3=": "alice"})
    stubber.add_client_error(
        "delete_connection",
        service_error_code=code,
        http_status_code=status,
        expected_params={"ConnectionId": "a1="},
    )

    assert close(table, client) == []
    assert table.deleted == []  # still open: its own $disconnect or the sweeper removes it
    assert list(table.items) == ["a1=", "a2=", "a3="]


def test_only_the_closes_that_happened_are_counted(gateway):
    client, stubber = gateway
    table = Table({"a1=": "alice", "a2=": "alice", "a3=": "alice", "a4=": "alice"})
    stubber.add_client_error(
        "delete_connection",
        service_error_code="ForbiddenException",
        http_status_code=403,
        expected_params={"ConnectionId": "a1="},
    )
    stubber.add_response("delete_connection", {}, {"ConnectionId": "a2="})

    assert close_oldest_beyond(
        table, ConnectionsApi(client), client_id="alice", new_connection_id="a4=", limit=2
    ) == ["a2="]
    assert list(table.items) == ["a1=", "a3=", "a4="]
