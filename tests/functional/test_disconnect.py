"""$disconnect: the item goes, the reason is logged, and a second disconnect is harmless."""

from __future__ import annotations

import pytest

from connection_tracker.catalogue import MetricName


def test_disconnect_removes_the_item_and_logs_only_why_the_connection_ended(
    invoke, event, dynamodb, table, output
):
    invoke("ConnectFunction", event("connect"))
    output()

    response = invoke("DisconnectFunction", event("disconnect"))

    assert response == {"statusCode": 200, "body": "disconnected"}
    assert dynamodb.scan(TableName=table)["Items"] == []
    printed = output()
    assert printed.metric_values() == {MetricName.DISCONNECT_HANDLED: [1.0]}
    # the stream consumer's "connection closed" is the connection log: $disconnect adds only what
    # the consumer cannot know, the close code and reason, on its metric document (no line of its own)
    assert printed.logs == []
    [document] = printed.emf
    assert document["disconnectStatusCode"] == 1001
    assert document["disconnectReason"] == "Going away"
    assert document["connectionId"] == event("disconnect")["requestContext"]["connectionId"]
    assert "clientId" not in document


def test_disconnect_of_an_unknown_connection_is_not_an_error(invoke, event, table, debug_logs, output):
    response = invoke("DisconnectFunction", event("disconnect"))

    assert response["statusCode"] == 200
    printed = output()
    assert printed.metric_values() == {}
    assert printed.log("connection already gone")["level"] == "DEBUG"


def test_disconnect_leaves_other_connections_alone(invoke, event, dynamodb, table):
    other = event("connect")
    other["requestContext"]["connectionId"] = "OtHeRcOnNeCt="
    invoke("ConnectFunction", event("connect"))
    invoke("ConnectFunction", other)

    invoke("DisconnectFunction", event("disconnect"))

    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert item["connectionId"] == {"S": "OtHeRcOnNeCt="}


def test_disconnect_without_connection_id_touches_nothing(invoke, event, dynamodb, table, output):
    invoke("ConnectFunction", event("connect"))
    broken = event("disconnect")
    del broken["requestContext"]["connectionId"]

    assert invoke("DisconnectFunction", broken)["statusCode"] == 400
    assert len(dynamodb.scan(TableName=table)["Items"]) == 1


@pytest.mark.parametrize("payload", [None, [], "disconnect", 7])
def test_disconnect_of_an_event_that_is_not_an_object_touches_nothing(
    invoke, event, dynamodb, table, output, payload
):
    invoke("ConnectFunction", event("connect"))
    output()

    assert invoke("DisconnectFunction", payload)["statusCode"] == 400

    assert len(dynamodb.scan(TableName=table)["Items"]) == 1
    assert "JSON object" in output().log("disconnect ignored")["reason"]


def test_disconnect_failure_is_a_500_and_logged(invoke, event, failing_dynamodb, output):
    failing_dynamodb.fail_with("InternalServerError", status=500)

    assert invoke("DisconnectFunction", event("disconnect"))["statusCode"] == 500
    line = output().log("disconnect failed")
    assert line["errorCode"] == "InternalServerError"
    assert line["connectionId"] == "Lx1hHc7GoAMCIqA="
