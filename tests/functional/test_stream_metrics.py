"""The stream consumer: every kind of record, the metrics it adds up to, and poison records."""

from __future__ import annotations

import copy
import json

import pytest

from connection_tracker.catalogue import CATALOGUE, MetricName

OPENED, MODIFIED, CLOSED, EXPIRED = range(4)


@pytest.fixture
def batch(event):
    return event("stream_batch")


@pytest.fixture
def consume(invoke):
    def call(payload):
        return invoke("StreamMetricsFunction", payload)

    return call


def only(batch, *indexes):
    return {"Records": [copy.deepcopy(batch["Records"][i]) for i in indexes]}


def test_a_mixed_batch_becomes_one_set_of_metrics(consume, batch, output):
    assert consume(batch) == {"batchItemFailures": []}

    printed = output()
    assert printed.metric_values() == {
        MetricName.CONNECTIONS_OPENED: [1.0],
        MetricName.CONNECTIONS_CLOSED: [1.0],
        MetricName.CONNECTIONS_EXPIRED: [1.0],
        MetricName.CONNECTION_LIFETIME: [8231.5, 86494.75],
        MetricName.EXPIRY_LAG: [95.0],
    }
    summary = printed.log("batch processed")
    assert (summary["records"], summary["opened"], summary["closed"], summary["expired"]) == (4, 1, 1, 1)
    assert (summary["ignored"], summary["setAside"], summary["redelivered"]) == (1, 0, 0)


def test_units_namespace_and_the_only_dimension(consume, batch, output):
    consume(batch)
    documents = output().emf
    directives = [directive for document in documents for directive in document["_aws"]["CloudWatchMetrics"]]
    # the batch opens, closes and expires a connection: each of their metrics, in its catalogue unit
    emitted = {
        MetricName.CONNECTIONS_OPENED,
        MetricName.CONNECTIONS_CLOSED,
        MetricName.CONNECTIONS_EXPIRED,
        MetricName.CONNECTION_LIFETIME,
        MetricName.EXPIRY_LAG,
    }
    units = {(metric["Name"], metric["Unit"]) for directive in directives for metric in directive["Metrics"]}
    assert units == {(str(name), CATALOGUE[name].unit.value) for name in emitted}
    assert {directive["Namespace"] for directive in directives} == {"ConnectionTracker"}
    assert {json.dumps(directive["Dimensions"]) for directive in directives} == {'[["service"]]'}
    # connection and client ids are never metric properties (one search index entry per id)
    assert [document for document in documents if {"connectionId", "clientId"} & set(document)] == []


def test_one_log_line_per_connection_event(consume, batch, output):
    consume(batch)
    lines = {line["message"]: line for line in output().logs if line["message"].startswith("connection ")}
    assert set(lines) == {"connection opened", "connection closed", "connection expired"}
    expired = lines["connection expired"]
    assert expired["connectionId"] == "Lx3mNe9IoAMCKsC="
    assert expired["clientId"] == "unknown"
    assert expired["lifetime"] == 86494.75
    assert expired["expiryLag"] == 95.0
    assert expired["sequenceNumber"] == "111400000000000000004"
    # the Logger's shape: its keys and the Lambda context
    assert expired["level"] == "INFO"
    assert expired["service"] == "connection-tracker"
    assert expired["function_name"] == "StreamMetricsFunction"
    assert "timestamp" in expired


def test_remove_by_a_user_is_closed_not_expired(consume, batch, output):
    record = only(batch, EXPIRED)
    record["Records"][0]["userIdentity"] = {"type": "Service", "principalId": "someone.else.amazonaws.com"}
    consume(record)
    values = output().metric_values()
    assert values[MetricName.CONNECTIONS_CLOSED] == [1.0]
    assert MetricName.CONNECTIONS_EXPIRED not in values
    assert MetricName.EXPIRY_LAG not in values


def test_durations_are_never_negative(consume, batch, output):
    record = only(batch, EXPIRED)
    # Removal time has one-second resolution: it can read earlier than createdAt and ttl.
    record["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] = 1730118000
    record["Records"][0]["dynamodb"]["OldImage"]["ttl"] = {"N": "1730118001"}
    consume(record)
    values = output().metric_values()
    assert values[MetricName.CONNECTION_LIFETIME] == [0.0]
    assert values[MetricName.EXPIRY_LAG] == [0.0]


def test_modify_records_are_ignored_not_failed(consume, batch, output):
    assert consume(only(batch, MODIFIED)) == {"batchItemFailures": []}
    printed = output()
    assert printed.metric_values() == {}
    assert printed.log("batch processed")["ignored"] == 1


POISONS = [
    pytest.param(lambda r: r["dynamodb"].pop("OldImage"), id="missing-image"),
    pytest.param(
        lambda r: r["dynamodb"]["OldImage"].update(createdAt={"N": "soon"}), id="non-numeric-createdAt"
    ),
    pytest.param(
        lambda r: r["dynamodb"]["OldImage"].update(createdAt={"S": "1730205000500"}), id="string-createdAt"
    ),
    pytest.param(lambda r: r["dynamodb"]["OldImage"].update(ttl={"N": "NaN"}), id="nan-ttl"),
    pytest.param(lambda r: r["dynamodb"]["OldImage"].update(connectionId={"Q": "?"}), id="unknown-type"),
    pytest.param(lambda r: r["dynamodb"]["OldImage"].pop("connectionId"), id="no-connectionId"),
    pytest.param(lambda r: r["dynamodb"].pop("ApproximateCreationDateTime"), id="no-removal-time"),
]


@pytest.mark.parametrize("poison", POISONS)
def test_a_malformed_record_is_set_aside_not_retried(consume, batch, output, dead_letters, poison):
    poisoned = copy.deepcopy(batch)
    poison(poisoned["Records"][EXPIRED])

    assert consume(poisoned) == {"batchItemFailures": []}

    printed = output()
    values = printed.metric_values()
    assert values[MetricName.STREAM_RECORDS_FAILED] == [1.0]
    assert values[MetricName.CONNECTIONS_OPENED] == [1.0]
    assert values[MetricName.CONNECTIONS_CLOSED] == [1.0]
    assert MetricName.CONNECTIONS_EXPIRED not in values
    line = printed.log("stream record set aside")
    assert (line["level"], line["sequenceNumber"]) == ("ERROR", "111400000000000000004")
    assert line["reason"]
    assert line["record"] == poisoned["Records"][EXPIRED]  # logged whole
    (message,) = dead_letters.messages()
    assert json.loads(message["Body"]) == poisoned["Records"][EXPIRED]  # kept whole, replayable
    assert message["MessageAttributes"]["sequenceNumber"]["StringValue"] == "111400000000000000004"
    assert message["MessageAttributes"]["reason"]["StringValue"] == line["reason"]
    assert message["MessageId"] == line["messageId"]


def test_a_malformed_record_in_the_middle_of_a_batch(consume, batch, output, dead_letters):
    records = only(batch, OPENED, CLOSED, EXPIRED)
    records["Records"][1]["dynamodb"]["OldImage"]["createdAt"] = {"N": "yesterday"}

    assert consume(records) == {"batchItemFailures": []}

    values = output().metric_values()
    assert values[MetricName.CONNECTIONS_OPENED] == [1.0]
    assert values[MetricName.CONNECTIONS_EXPIRED] == [1.0]
    assert values[MetricName.STREAM_RECORDS_FAILED] == [1.0]
    assert MetricName.CONNECTIONS_CLOSED not in values
    assert [json.loads(m["Body"]) for m in dead_letters.messages()] == [records["Records"][1]]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda r: r.pop("dynamodb"), id="no-dynamodb-block"),
        pytest.param(lambda r: r.update(dynamodb="broken"), id="dynamodb-not-an-object"),
        pytest.param(lambda r: r["dynamodb"].pop("SequenceNumber"), id="no-sequence-number"),
    ],
)
def test_a_record_that_cannot_be_named_is_set_aside_without_raising(
    consume, batch, output, dead_letters, damage
):
    records = only(batch, OPENED, CLOSED)
    damage(records["Records"][0])

    assert consume(records) == {"batchItemFailures": []}

    values = output().metric_values()
    assert values[MetricName.STREAM_RECORDS_FAILED] == [1.0]
    assert values[MetricName.CONNECTIONS_CLOSED] == [1.0]
    assert len(dead_letters.messages()) == 1


def test_without_a_dead_letter_queue_a_malformed_record_is_logged_and_counted(consume, batch, output):
    records = only(batch, OPENED, CLOSED)
    records["Records"][0]["dynamodb"].pop("NewImage")
    assert consume(records) == {"batchItemFailures": []}
    printed = output()
    assert printed.metric_values()[MetricName.STREAM_RECORDS_FAILED] == [1.0]
    assert "messageId" not in printed.log("stream record set aside")


def test_a_failed_dead_letter_send_is_retried_from_that_record(
    consume, batch, output, dead_letters, monkeypatch
):
    records = only(batch, OPENED, CLOSED, EXPIRED)
    records["Records"][1]["dynamodb"]["OldImage"]["createdAt"] = {"N": "yesterday"}
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letters.url + "-gone")

    assert consume(records) == {"batchItemFailures": [{"itemIdentifier": "111300000000000000003"}]}

    printed = output()
    assert printed.metric_values() == {MetricName.CONNECTIONS_OPENED: [1.0]}  # only what comes before it
    assert printed.log("dead-letter send failed")["sequenceNumber"] == "111300000000000000003"
    assert printed.log("batch processed")["redelivered"] == 2


def test_an_all_malformed_batch_is_set_aside_whole(consume, batch, output, dead_letters):
    records = only(batch, OPENED, CLOSED)
    for record in records["Records"]:
        record["dynamodb"].pop("NewImage", None)
        record["dynamodb"].pop("OldImage", None)
    assert consume(records) == {"batchItemFailures": []}
    assert output().metric_values() == {MetricName.STREAM_RECORDS_FAILED: [2.0]}
    assert len(dead_letters.messages()) == 2


@pytest.mark.parametrize("payload", [None, [], "records", {"Records": None}, {"Records": "x"}])
def test_an_event_without_records_is_an_empty_batch(consume, output, payload):
    assert consume(payload) == {"batchItemFailures": []}
    assert output().metric_values() == {}


def test_an_empty_batch(consume, output):
    assert consume({"Records": []}) == {"batchItemFailures": []}
    assert output().metric_values() == {}


def test_distributions_respect_the_100_value_limit(consume, batch, output):
    closed = batch["Records"][CLOSED]
    records = []
    for index in range(250):
        record = copy.deepcopy(closed)
        record["dynamodb"]["SequenceNumber"] = f"2{index:020d}"
        record["dynamodb"]["ApproximateCreationDateTime"] = 1730205000 + index
        records.append(record)
    consume({"Records": records})
    printed = output()
    for document in printed.emf:
        for name, value in document.items():
            if isinstance(value, list):
                assert len(value) <= 100, name
    # 250 lifetimes: 3 distribution documents plus one for the counts
    assert len(printed.emf) == 1 + 3
    assert len(printed.metric_values()[MetricName.CONNECTION_LIFETIME]) == 250
    assert printed.metric_values()[MetricName.CONNECTIONS_CLOSED] == [250.0]


def test_at_debug_level_an_ignored_record_has_its_line(consume, batch, output):
    from connection_tracker.observability import logger

    logger.setLevel("DEBUG")  # what POWERTOOLS_LOG_LEVEL=DEBUG sets
    try:
        consume(only(batch, MODIFIED))
        line = output().log("record ignored")
    finally:
        logger.setLevel("INFO")
    assert (line["eventName"], line["sequenceNumber"]) == (
        "MODIFY",
        batch["Records"][MODIFIED]["dynamodb"]["SequenceNumber"],
    )
