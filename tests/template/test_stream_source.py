"""The consumer's event source: its filters pass exactly what the consumer counts, and its
safety settings stay in place."""

from __future__ import annotations

import pytest

from local_stack.awslambda.filters import passes
from sam_template.model import load_template


@pytest.fixture
def stream_source():
    events = load_template().properties("StreamMetricsFunction")["Events"]
    (source,) = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
    return source


def test_filters_pass_insert_and_remove_and_drop_modify(stream_source, event):
    records = event("stream_batch")["Records"]
    passed = [record["eventName"] for record in records if passes(stream_source["FilterCriteria"], record)]
    assert passed == ["INSERT", "REMOVE", "REMOVE"]


def test_filters_pass_ttl_removes(stream_source, event):
    ttl_remove = event("stream_batch")["Records"][3]
    assert ttl_remove["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
    assert passes(stream_source["FilterCriteria"], ttl_remove)


def test_stream_source_keeps_its_safety_settings(stream_source):
    assert stream_source["Stream"] == {"Fn::GetAtt": ["ConnectionsTable", "StreamArn"]}
    assert stream_source["StartingPosition"] == "TRIM_HORIZON"
    assert stream_source["BisectBatchOnFunctionError"] is True
    assert stream_source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < stream_source["MaximumRetryAttempts"] <= 10
    max_age = stream_source["MaximumRecordAgeInSeconds"]
    assert 60 <= int(load_template().parameter_defaults()[max_age["Ref"]]) <= 6 * 3600
    assert 1 <= stream_source["BatchSize"] <= 10_000
    assert 0 <= stream_source["MaximumBatchingWindowInSeconds"] <= 300
    destination = stream_source["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]}


def test_dead_letter_queue_is_encrypted():
    queue = load_template().properties("StreamDeadLetterQueue")
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue


def test_the_gauge_keeps_its_markers_as_long_as_the_mapping_delivers_a_record():
    """One parameter sets how old a record the mapping still delivers and how long the consumer
    keeps its shards' markers (the gauge adds its margin): they cannot drift apart."""
    function = load_template().properties("StreamMetricsFunction")
    (source,) = [e["Properties"] for e in function["Events"].values() if e["Type"] == "DynamoDB"]
    variables = function["Environment"]["Variables"]
    assert source["MaximumRecordAgeInSeconds"] == {"Ref": "StreamMaxRecordAgeSeconds"}
    assert variables["STREAM_MAX_RECORD_AGE_SECONDS"] == {"Ref": "StreamMaxRecordAgeSeconds"}


def test_the_gauge_window_is_the_mappings_tumbling_window_and_reconciles_knowledge():
    """``GaugeWindowSeconds`` (default 60, Lambda's range 1-900 for a window that exists) sets the
    consumer's tumbling window and tells the reconciliation how long the gauge trails the table."""
    template = load_template()
    parameter = template.body["Parameters"]["GaugeWindowSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (60, 1, 900)
    function = template.properties("StreamMetricsFunction")
    (source,) = [e["Properties"] for e in function["Events"].values() if e["Type"] == "DynamoDB"]
    assert source["TumblingWindowInSeconds"] == {"Ref": "GaugeWindowSeconds"}
    reconcile = template.properties("ReconcileFunction")["Environment"]["Variables"]
    assert reconcile["GAUGE_WINDOW_SECONDS"] == {"Ref": "GaugeWindowSeconds"}
