"""The ActiveConnections gauge: exact, and unchanged by anything Lambda delivers twice."""

from __future__ import annotations

import copy
import time

import pytest

from connection_tracker.catalogue import MetricName
from connection_tracker.counters import KEY, CountersTable
from connection_tracker.gauge import TOMBSTONE_MARGIN_SECONDS, ActiveConnectionsGauge


@pytest.fixture
def gauge(dynamodb, counters):
    return ActiveConnectionsGauge(CountersTable(dynamodb, counters), max_record_age_seconds=3600)


@pytest.fixture
def consume(invoke, table, counters):
    def call(*batch):
        return invoke("StreamMetricsFunction", {"Records": [copy.deepcopy(r) for r in batch]})

    return call


def test_the_gauge_counts_live_connections(consume, records, gauge, output):
    a, b, c = (records("opened", name) for name in "abc")
    assert consume(a, b, c, records("closed", "b")) == {"batchItemFailures": []}
    assert gauge.count() == 2
    assert output().metric_values()[MetricName.ACTIVE_CONNECTIONS] == [2.0]
    consume(records("expired", "a"))
    assert gauge.count() == 1


def test_a_replayed_batch_changes_nothing(consume, records, gauge, output):
    batch = [records("opened", "a"), records("opened", "b"), records("closed", "a")]
    consume(*batch)
    output()
    consume(*batch)  # Lambda's retry after a timeout, or after a crash past the gauge's write
    assert gauge.count() == 1
    line = output().log("gauge updated")
    assert (line["applied"], line["replayed"]) == (0, 3)


def test_a_replayed_insert_of_a_closed_connection_is_not_counted_again(consume, records, gauge):
    opened = records("opened", "a")
    consume(opened, records("closed", "a"))
    consume(opened)  # the first half of a bisected batch, delivered after the whole of it
    assert gauge.count() == 0


def test_a_bisected_redelivery_changes_nothing(consume, records, gauge):
    batch = [records("opened", name) for name in "abcd"]
    consume(*batch)
    consume(*batch[:2])
    consume(*batch[2:])
    assert gauge.count() == 4


def test_a_malformed_record_is_set_aside_and_the_rest_of_the_batch_applied(consume, records, gauge):
    a, b, c = (records("opened", name) for name in "abc")
    poisoned = copy.deepcopy(b)
    poisoned["dynamodb"]["NewImage"]["createdAt"] = {"N": "soon"}

    assert consume(a, poisoned, c) == {"batchItemFailures": []}
    assert gauge.count() == 2  # b is on the dead-letter queue, never retried


class TransactionsFail:
    """Lets ``allowed`` TransactWriteItems requests through, then answers every later attempt with a
    server error (botocore retries it, then gives up). moto has applied the request by then: the
    write landed but its answer was lost, the harder case for a replay."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed

    def __call__(self, request, **_):
        if self.allowed > 0:
            self.allowed -= 1
            return None
        from botocore.awsrequest import AWSResponse

        body = b'{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"}'

        class Raw:
            def stream(self, **_):
                yield body

        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


def test_a_gauge_failure_at_record_k_names_k_and_counts_nothing_from_it_on(
    consume, records, gauge, output, default_session
):
    batch = [records("opened", f"c{n:03}") for n in range(150)]  # two transactions: 99 + 51
    failing = TransactionsFail(allowed=1)
    default_session.register("before-send.dynamodb.TransactWriteItems", failing)

    response = consume(*batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": batch[99]["dynamodb"]["SequenceNumber"]}]}
    printed = output()
    assert printed.metric_values()[MetricName.CONNECTIONS_OPENED] == [99.0]
    assert len([line for line in printed.logs if line["message"] == "connection opened"]) == 99

    failing.allowed = 10**6  # the table answers again
    assert consume(*batch[99:]) == {"batchItemFailures": []}  # Lambda's redelivery from k
    assert output().metric_values()[MetricName.CONNECTIONS_OPENED] == [51.0]
    assert gauge.count() == 150


def test_replaying_a_batch_after_a_partial_failure_counts_each_record_exactly_once(
    consume, records, gauge, output, default_session, dead_letters
):
    batch = [records("opened", f"c{n:03}") for n in range(150)]
    batch[10]["dynamodb"]["NewImage"]["createdAt"] = {"N": "soon"}  # malformed: set aside once
    failing = TransactionsFail(allowed=1)
    default_session.register("before-send.dynamodb.TransactWriteItems", failing)

    deliveries = 0
    pending = batch
    opened = 0.0
    while pending:  # what Lambda does: deliver again from the lowest named sequence number
        deliveries += 1
        response = consume(*pending)
        failing.allowed = 10**6  # the table is back after the first delivery
        opened += sum(output().metric_values().get(MetricName.CONNECTIONS_OPENED, []))
        named = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        numbers = [record["dynamodb"]["SequenceNumber"] for record in pending]
        pending = pending[numbers.index(min(named)) :] if named else []

    assert deliveries == 2
    assert opened == 149
    assert gauge.count() == 149
    assert len(dead_letters.messages()) == 1


def test_a_remove_is_never_applied_before_its_insert(consume, records, gauge):
    opened, closed = records("opened", "a"), records("closed", "a")
    poisoned = copy.deepcopy(opened)
    poisoned["dynamodb"]["NewImage"].pop("connectionId")
    consume(poisoned, closed)
    assert gauge.count() == 0
    consume(opened, closed)
    assert gauge.count() == 0


def test_a_failing_gauge_write_hands_the_batch_back(consume, records, dynamodb, counters, monkeypatch):
    dynamodb.delete_table(TableName=counters)
    batch = [records("opened", "a"), records("opened", "b")]
    response = consume(*batch)
    assert response == {"batchItemFailures": [{"itemIdentifier": batch[0]["dynamodb"]["SequenceNumber"]}]}


def test_without_a_counters_table_there_is_no_gauge(invoke, table, records, output, monkeypatch):
    monkeypatch.delenv("COUNTERS_TABLE", raising=False)
    invoke("StreamMetricsFunction", {"Records": [records("opened", "a")]})
    assert MetricName.ACTIVE_CONNECTIONS not in output().metric_values()


def test_reconcile_corrects_injected_drift(
    invoke, consume, records, gauge, dynamodb, table, counters, output
):
    consume(*(records("opened", name) for name in "abc"))
    for name in "abc":
        dynamodb.put_item(
            TableName=table, Item={"connectionId": {"S": name}, "createdAt": {"N": "1"}, "ttl": {"N": "1"}}
        )
    # drift: a lost marker, an orphaned marker and a wrong count
    dynamodb.delete_item(TableName=counters, Key={KEY: {"S": "conn#a"}})
    dynamodb.put_item(TableName=counters, Item={KEY: {"S": "conn#ghost"}, "open": {"BOOL": True}})
    dynamodb.update_item(
        TableName=counters,
        Key={KEY: {"S": "activeConnections"}},
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":c": {"N": "42"}},
    )
    output()

    found = invoke("ReconcileFunction", {})

    assert gauge.count() == 3
    assert gauge.counters.open_markers() == {"a", "b", "c"}
    assert (found["missingMarkers"], found["orphanedMarkers"], found["live"]) == (1, 1, 3)
    printed = output()
    assert printed.log("gauge reconciled")["level"] == "WARNING"
    assert printed.metric_values()[MetricName.ACTIVE_CONNECTIONS] == [3.0]
    # the gauge keeps counting exactly after the correction
    consume(records("closed", "b"))
    assert gauge.count() == 2


def test_a_closed_marker_lives_as_long_as_its_records_can_be_delivered_again(
    consume, records, dynamodb, counters, template, monkeypatch
):
    max_age = int(template.parameter_defaults()["StreamMaxRecordAgeSeconds"])
    monkeypatch.setenv("STREAM_MAX_RECORD_AGE_SECONDS", str(max_age))
    consume(records("opened", "a"), records("closed", "a"))
    marker = dynamodb.get_item(TableName=counters, Key={KEY: {"S": "conn#a"}})["Item"]
    lives = int(marker["expiresAt"]["N"]) - time.time()
    assert max_age < lives <= max_age + TOMBSTONE_MARGIN_SECONDS  # not a day: the table stays small
    assert lives < 86_400
