"""The ActiveConnections gauge: exact, and unchanged by anything Lambda delivers twice."""

from __future__ import annotations

import copy

import pytest

from connection_tracker.catalogue import MetricName
from connection_tracker.gauge import KEY, ActiveConnectionsGauge


@pytest.fixture
def gauge(dynamodb, counters):
    return ActiveConnectionsGauge(dynamodb, counters)


@pytest.fixture
def records(event):
    """Stream records of connections by name: opened(name), closed(name), expired(name)."""
    sample = event("stream_batch")["Records"]
    sequence = iter(range(10**20, 10**21))

    def make(kind: str, name: str) -> dict:
        record = copy.deepcopy({"opened": sample[0], "closed": sample[2], "expired": sample[3]}[kind])
        stream = record["dynamodb"]
        stream["SequenceNumber"] = str(next(sequence))
        stream["Keys"] = {"connectionId": {"S": name}}
        (stream.get("NewImage") or stream["OldImage"])["connectionId"] = {"S": name}
        return record

    return make


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


def test_a_partial_failure_applies_only_what_comes_before_it(consume, records, gauge):
    a, b, c = (records("opened", name) for name in "abc")
    poisoned = copy.deepcopy(b)
    poisoned["dynamodb"]["NewImage"]["createdAt"] = {"N": "soon"}

    response = consume(a, poisoned, c)

    assert response == {"batchItemFailures": [{"itemIdentifier": b["dynamodb"]["SequenceNumber"]}]}
    assert gauge.count() == 1  # c waits for its redelivery, after b
    consume(b, c)  # Lambda delivers again from the failed record
    assert gauge.count() == 3


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
    assert gauge.markers() == {"a", "b", "c"}
    assert (found["missingMarkers"], found["orphanedMarkers"], found["live"]) == (1, 1, 3)
    printed = output()
    assert printed.log("gauge reconciled")["level"] == "WARNING"
    assert printed.metric_values()[MetricName.ACTIVE_CONNECTIONS] == [3.0]
    # the gauge keeps counting exactly after the correction
    consume(records("closed", "b"))
    assert gauge.count() == 2
