"""$connect: what API Gateway, the table and the operator see for every kind of request."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connection_tracker.catalogue import NAMESPACE, MetricName

FIXED_NOW = 1_730_212_321.789  # 2024-10-29T14:32:01.789Z


def stored(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    return dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]


@pytest.fixture
def connect(invoke, event):
    def call(**changes: Any) -> dict[str, Any]:
        payload = event("connect")
        for path, value in changes.items():
            target = payload
            *parents, leaf = path.split("__")
            for parent in parents:
                target = target.setdefault(parent, {})
            if value is None:
                target.pop(leaf, None)
            else:
                target[leaf] = value
        return invoke("ConnectFunction", payload)

    return call


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: FIXED_NOW)


def test_accepted_connection_is_stored_with_its_metadata(connect, dynamodb, table, frozen_clock, output):
    assert connect() == {"statusCode": 200, "body": "connected"}

    (item,) = stored(dynamodb, table)
    assert item == {
        "connectionId": {"S": "Lx1hHc7GoAMCIqA="},
        "createdAt": {"N": "1730212321789"},
        "ttl": {"N": str(1_730_212_321 + 24 * 3600)},
        "clientId": {"S": "dashboard-7.eu:ops@team_a"},
        "authenticated": {"BOOL": False},  # no authorizer: the clientId is only claimed
        "sourceIp": {"S": "203.0.113.24"},
        "userAgent": {"S": "Mozilla/5.0 (X11; Linux x86_64) incident-dashboard/4.2"},
        "stage": {"S": "prod"},
        "domainName": {"S": "abcdef123.execute-api.us-east-1.amazonaws.com"},
        "apiId": {"S": "abcdef123"},
        "region": {"S": "us-east-1"},
    }
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_ACCEPTED: [1.0]}
    # the connection log is the stream consumer's "connection opened": nothing logged here twice
    assert printed.logs == []


def test_the_stored_item_is_logged_at_debug(connect, table, debug_logs, output):
    assert connect()["statusCode"] == 200
    line = output().log("connection stored")
    assert line["item"]["connectionId"] == "Lx1hHc7GoAMCIqA="
    assert line["correlation_id"] == "Lx1hHFmXoAMFmBw="
    assert line["level"] == "DEBUG"


def test_created_at_is_milliseconds_and_ttl_is_seconds(connect, dynamodb, table):
    before = time.time()
    connect()
    after = time.time()
    (item,) = stored(dynamodb, table)
    created_ms, ttl = int(item["createdAt"]["N"]), int(item["ttl"]["N"])
    assert before * 1000 - 1 <= created_ms <= after * 1000
    assert int(before) + 86_400 <= ttl <= int(after) + 86_400
    # The popular bug: a ttl in milliseconds is a date tens of thousands of years away.
    assert ttl < 10**11


def test_client_id_defaults_to_unknown(connect, dynamodb, table):
    connect(queryStringParameters=None, multiValueQueryStringParameters=None)
    (item,) = stored(dynamodb, table)
    assert item["clientId"] == {"S": "unknown"}


def test_client_id_of_128_allowed_characters_is_accepted(connect, dynamodb, table):
    client_id = ("Az09._:@-" * 15)[:128]
    assert connect(queryStringParameters__clientId=client_id)["statusCode"] == 200
    (item,) = stored(dynamodb, table)
    assert item["clientId"] == {"S": client_id}


@pytest.mark.parametrize(
    "client_id",
    [
        "",
        "a" * 129,
        "<script>alert(1)</script>",
        "ops team",
        "x;DROP TABLE",
        "../../etc/passwd",
        "ünïcode",
        "line\nbreak",
        "null\x00byte",
        "{'S': 'injected'}",
    ],
)
def test_hostile_client_id_is_rejected_and_nothing_written(connect, dynamodb, table, output, client_id):
    response = connect(queryStringParameters__clientId=client_id)

    assert response["statusCode"] == 400
    assert stored(dynamodb, table) == []
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_REJECTED: [1.0]}
    assert "clientId" in printed.log("connect rejected")["reason"]


@pytest.mark.parametrize(
    "context_change", ["no_connection_id", "empty_connection_id", "huge_connection_id", "no_request_context"]
)
def test_missing_connection_id_is_rejected(connect, dynamodb, table, output, context_change):
    if context_change == "no_request_context":
        response = connect(requestContext=None)
    elif context_change == "empty_connection_id":
        response = connect(requestContext__connectionId="")
    elif context_change == "huge_connection_id":
        response = connect(requestContext__connectionId="x" * 129)
    else:
        response = connect(requestContext__connectionId=None)

    assert response["statusCode"] == 400
    assert stored(dynamodb, table) == []
    assert output().metric_values() == {MetricName.CONNECT_REJECTED: [1.0]}


@pytest.mark.parametrize("payload", [None, [], [{"requestContext": {"connectionId": "x"}}], "connect", 7])
def test_an_event_that_is_not_an_object_is_rejected(invoke, dynamodb, table, output, payload):
    response = invoke("ConnectFunction", payload)  # a direct invoke can send any JSON value

    assert response["statusCode"] == 400
    assert stored(dynamodb, table) == []
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_REJECTED: [1.0]}
    assert "JSON object" in printed.log("connect rejected")["reason"]


def test_default_connect_costs_one_dynamodb_request(connect, table, dynamodb_requests, output):
    connect()
    assert dynamodb_requests.sent == ["PutItem"]
    assert [line["message"] for line in output().logs if "read-back" in line["message"]] == []


def test_verify_write_reads_the_item_back_consistently(
    connect, table, dynamodb_requests, monkeypatch, output
):
    monkeypatch.setenv("VERIFY_WRITE", "true")
    connect()
    assert dynamodb_requests.sent == ["PutItem", "GetItem"]
    assert output().log("read-back")["item"]["clientId"] == "dashboard-7.eu:ops@team_a"


def test_existing_connection_is_never_overwritten(connect, dynamodb, table, output):
    connect(queryStringParameters__clientId="first")
    connect(queryStringParameters__clientId="second")
    (item,) = stored(dynamodb, table)
    assert item["clientId"] == {"S": "first"}
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_ACCEPTED: [1.0]}
    printed.log("connection already stored; left untouched")


def test_source_ip_can_be_kept_out_of_table_and_logs(connect, dynamodb, table, monkeypatch, capfd):
    monkeypatch.setenv("CAPTURE_SOURCE_IP", "false")
    assert connect()["statusCode"] == 200
    (item,) = stored(dynamodb, table)
    assert "sourceIp" not in item
    assert "203.0.113.24" not in capfd.readouterr().out


def test_fractional_ttl_hours_and_the_short_ttl_warning(
    connect, dynamodb, table, monkeypatch, frozen_clock, output
):
    monkeypatch.setenv("TTL_HOURS", "0.5")
    connect()
    (item,) = stored(dynamodb, table)
    assert item["ttl"] == {"N": str(int(FIXED_NOW + 1800))}
    warning = [line for line in output().logs if line["level"] == "WARNING"]
    assert "TTL_HOURS=0.5 is below 2" in warning[0]["message"]


@pytest.mark.parametrize("value", ["", "0", "-1", "abc", "nan", "inf", "24h"])
def test_bad_ttl_hours_fails_the_connect_and_names_the_variable(
    connect, dynamodb, table, monkeypatch, output, value
):
    monkeypatch.setenv("TTL_HOURS", value)
    response = connect()

    assert response["statusCode"] == 500
    assert stored(dynamodb, table) == []
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    assert "TTL_HOURS" in printed.log("configuration error, connection refused")["error"]


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.5, 0.999])  # the clock's fraction of a second
@pytest.mark.parametrize("value", ["0.0000001", "0.0001", "0.000277", str(0.999 / 3600), "1e9", "1e8"])
def test_a_ttl_no_item_could_have_is_a_configuration_error_on_every_try(
    connect, dynamodb, table, monkeypatch, output, value, fraction
):
    """Under one second the ttl could lie before createdAt, over 10^7 hours it reads as
    milliseconds: refused whatever the clock says, never a crash in the item model."""
    monkeypatch.setattr(time, "time", lambda: int(FIXED_NOW) + fraction)
    monkeypatch.setenv("TTL_HOURS", value)
    for attempt in ("Lx1hHc7GoAMCIqA=", "Lx1hHc7GoAMCIqB="):
        assert connect(requestContext__connectionId=attempt)["statusCode"] == 500
        printed = output()
        assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
        assert "TTL_HOURS" in printed.log("configuration error, connection refused")["error"]
    assert stored(dynamodb, table) == []


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.999])
@pytest.mark.parametrize("value", [str(1 / 3600), "10000000"])  # one second; ten million hours
def test_the_shortest_and_longest_ttl_make_valid_items(
    connect, dynamodb, table, monkeypatch, value, fraction
):
    monkeypatch.setattr(time, "time", lambda: int(FIXED_NOW) + fraction)
    monkeypatch.setenv("TTL_HOURS", value)
    assert connect()["statusCode"] == 200
    (item,) = stored(dynamodb, table)
    assert int(item["ttl"]["N"]) * 1000 >= int(item["createdAt"]["N"])
    assert int(item["ttl"]["N"]) < 10**11


def test_a_clock_before_1970_is_a_500_not_a_crash(connect, dynamodb, table, monkeypatch, output):
    monkeypatch.setattr(time, "time", lambda: -5.5)  # no item can be made: a negative createdAt
    assert connect()["statusCode"] == 500
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    assert printed.log("connect failed")["errorCode"] == "InvalidItem"
    assert stored(dynamodb, table) == []


@pytest.mark.parametrize("value", ["ftp://x", "not a url", "https://", "wss://api.example.com/prod"])
def test_a_malformed_connections_api_endpoint_fails_the_connect(
    connect, dynamodb, table, monkeypatch, output, value
):
    monkeypatch.setenv("CONNECTIONS_API_ENDPOINT", value)
    assert connect()["statusCode"] == 500
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    assert "CONNECTIONS_API_ENDPOINT" in printed.log("configuration error, connection refused")["error"]
    assert stored(dynamodb, table) == []


@pytest.mark.parametrize("variable", ["VERIFY_WRITE", "CAPTURE_SOURCE_IP"])
def test_bad_switch_fails_the_connect(connect, dynamodb, table, monkeypatch, output, variable):
    monkeypatch.setenv(variable, "maybe")
    assert connect()["statusCode"] == 500
    assert stored(dynamodb, table) == []
    assert variable in output().log("configuration error, connection refused")["error"]


def test_missing_table_name_fails_the_connect(connect, dynamodb, table, monkeypatch, output):
    monkeypatch.delenv("CONNECTIONS_TABLE")
    assert connect()["statusCode"] == 500
    assert stored(dynamodb, table) == []
    assert "CONNECTIONS_TABLE" in output().log("configuration error, connection refused")["error"]


def test_configuration_is_read_once_per_cold_start(connect, dynamodb, table, monkeypatch):
    assert connect(requestContext__connectionId="first=")["statusCode"] == 200
    monkeypatch.setenv("TTL_HOURS", "-1")  # too late: this environment has started already
    assert connect(requestContext__connectionId="second=")["statusCode"] == 200
    assert len(stored(dynamodb, table)) == 2


def test_throttling_is_retried_then_answered_with_500(connect, failing_dynamodb, output):
    failing_dynamodb.fail_with("ProvisionedThroughputExceededException")
    response = connect()

    assert response == {"statusCode": 500, "body": "internal error"}
    # botocore's standard mode, with the attempts a 10 s Timeout has room for (connection_tracker.budget)
    assert failing_dynamodb.attempts == ["PutItem"] * 2
    printed = output()
    assert printed.metric_values() == {MetricName.CONNECT_FAILED: [1.0]}
    line = printed.log("connect failed")
    assert line["errorCode"] == "ProvisionedThroughputExceededException"
    assert line["connectionId"] == "Lx1hHc7GoAMCIqA="
    assert line["level"] == "ERROR"


def test_missing_table_is_a_server_side_failure(connect, aws, output):
    assert connect()["statusCode"] == 500
    assert output().log("connect failed")["errorCode"] == "ResourceNotFoundException"


def test_emf_has_the_namespace_and_only_the_service_dimension(connect, table, output):
    connect()
    (document,) = output().emf
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert directive["Metrics"] == [{"Name": "ConnectAccepted", "Unit": "Count"}]
    assert document["service"] == "connection-tracker"
    assert "Lx1hHc7GoAMCIqA=" not in str(directive)
