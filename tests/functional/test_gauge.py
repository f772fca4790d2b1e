"""The ActiveConnections gauge, one write per shard per tumbling window: exact, and unchanged by
anything Lambda delivers or invokes twice.

Each test drives the consumer as Lambda's tumbling windows do ("Implementing stateful DynamoDB
stream processing in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html):
every invocation gets the state the previous successful one of its window returned, and the
window's final invocation (``isFinalInvokeForWindow``) comes once the window has closed.
"""

from __future__ import annotations

import copy
import time

import pytest

from connection_tracker.catalogue import MetricName
from connection_tracker.counters import KEY, SHARD_PREFIX, CountersTable
from connection_tracker.gauge import MARKER_MARGIN_SECONDS, ActiveConnectionsGauge
from sam_template.handlers import LambdaContext, load_handler


@pytest.fixture
def gauge(dynamodb, counters):
    return ActiveConnectionsGauge(CountersTable(dynamodb, counters), max_record_age_seconds=3600)


@pytest.fixture
def window(event, invoke, table, counters):
    """Invoke the consumer with a tumbling-window event (tests/events/stream_window.json's shape):
    ``window(*records, state=..., final=..., early=..., shard=...)``; answers the response."""
    shape = event("stream_window")

    def call(*records, state=None, final=False, early=False, shard=None):
        payload = {
            **copy.deepcopy(shape),
            "Records": [copy.deepcopy(r) for r in records],
            "state": {} if state is None else state,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }
        if shard is not None:
            payload["shardId"] = shard
        return invoke("StreamMetricsFunction", payload)

    return call


def number(record) -> str:
    return record["dynamodb"]["SequenceNumber"]


def count_item(dynamodb, counters):
    return dynamodb.get_item(TableName=counters, Key={KEY: {"S": "activeConnections"}}).get("Item")


def test_the_real_shaped_event_hands_on_its_state(window, event, output):
    """The sample event is mid-window with a state of +3: an INSERT and a REMOVE leave it at +3,
    through the REMOVE's sequence number."""
    sample = event("stream_window")
    response = window(*sample["Records"], state=sample["state"])
    assert response == {
        "batchItemFailures": [],
        "state": {"change": 3, "sequenceNumber": number(sample["Records"][1])},
    }


def test_an_invocation_mid_window_returns_the_net_change_and_writes_nothing(
    window, records, dynamodb, counters, dynamodb_requests, output
):
    a, b, c = (records("opened", name) for name in "abc")
    closed, expired = records("closed", "a"), records("expired", "b")

    first = window(a, b, c)
    assert first["state"] == {"change": 3, "sequenceNumber": number(c)}
    second = window(closed, expired, state=first["state"])
    assert second["state"] == {"change": 1, "sequenceNumber": number(expired)}

    assert dynamodb_requests.count("TransactWriteItems") == 0
    assert count_item(dynamodb, counters) is None
    printed = output()  # each record's metrics are still published by the invocation that has it
    assert printed.metric_values()[MetricName.CONNECTIONS_OPENED] == [3.0]
    assert MetricName.ACTIVE_CONNECTIONS not in printed.metric_values()


def test_the_final_invocation_applies_the_window_once_and_emits_the_gauge(
    window, records, gauge, dynamodb_requests, output
):
    state = window(*(records("opened", name) for name in "abcd"))["state"]
    closing = records("closed", "a")
    response = window(closing, state=state, final=True)

    assert gauge.count() == 3
    assert response["state"] == {"change": 0, "sequenceNumber": number(closing)}  # nothing left
    assert dynamodb_requests.count("TransactWriteItems") == 1  # one write for the whole window
    printed = output()
    assert printed.metric_values()[MetricName.ACTIVE_CONNECTIONS] == [3.0]
    assert printed.log("gauge updated")["change"] == 3


def test_the_final_invocation_comes_with_or_without_records(window, records, gauge):
    state = window(records("opened", "a"), records("opened", "b"))["state"]
    window(state=state, final=True)  # the window closed with nothing new: only the state
    assert gauge.count() == 2


def test_a_retried_final_invocation_changes_nothing(window, records, gauge, output, dynamodb_requests):
    """A crash right after the write (or a lost response): Lambda invokes the final invocation
    again, with the state from before it."""
    state = window(records("opened", "a"), records("opened", "b"))["state"]
    final = [records("opened", "c"), records("closed", "a")]
    window(*final, state=state, final=True)
    output()

    window(*final, state=state, final=True)

    assert gauge.count() == 2
    line = output().log("gauge updated")
    assert (line["replayed"], line["activeConnections"]) == (True, 2)


def test_a_bisected_retry_of_a_final_invocation_changes_nothing(window, records, gauge):
    state = window(records("opened", "a"))["state"]
    final = [records("opened", name) for name in "bcde"]
    window(*final, state=state, final=True)

    halved = window(*final[:2], state=state, final=True)  # the first half of the batch, retried
    window(*final[2:], state=halved["state"], final=True)  # then the rest, from the returned state

    assert gauge.count() == 5


def test_a_window_terminated_early_is_applied_as_a_segment_of_its_own(window, records, gauge):
    state = window(records("opened", "a"), records("opened", "b"))["state"]
    ended = window(state=state, early=True)  # the state grew past 1 MB: Lambda ends the window
    assert gauge.count() == 2
    assert ended["state"]["change"] == 0

    # the same window goes on with a fresh state; its final invocation applies the rest once
    rest = window(records("closed", "a"), records("opened", "c"))["state"]
    window(state=rest, final=True)
    window(state=rest, final=True)  # retried
    assert gauge.count() == 2  # the rest of the window: one closed, one opened


def test_each_shard_keeps_its_own_marker(window, records, gauge, dynamodb, counters):
    window(records("opened", "a"), final=True, shard="shardId-1")
    window(records("opened", "b"), records("opened", "c"), final=True, shard="shardId-2")
    assert gauge.count() == 3
    for shard in ("shardId-1", "shardId-2"):
        assert dynamodb.get_item(TableName=counters, Key={KEY: {"S": f"{SHARD_PREFIX}{shard}"}}).get("Item")


class Fails:
    """Answers every attempt of the request it is registered for with a server error (botocore
    retries it, then gives up) while ``failing``. moto has applied each attempt by then: the
    request landed but its answer was lost, the harder case for a retry."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self, request, **_):
        if not self.failing:
            return None
        from botocore.awsrequest import AWSResponse

        body = b'{"__type": "InternalServerError", "message": "injected"}'

        class Raw:
            def stream(self, **_):
                yield body

        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


def test_the_state_covers_only_the_records_before_the_first_unfinished_one(
    window, records, gauge, output, default_session, dead_letters
):
    """A record the dead-letter queue did not take is named; the state leaves it and everything
    after it to the delivery that finishes it."""
    a, b = records("opened", "a"), records("opened", "b")
    poisoned = copy.deepcopy(records("opened", "p"))
    poisoned["dynamodb"]["NewImage"]["createdAt"] = {"N": "soon"}
    c = records("opened", "c")
    queue = Fails()
    default_session.register("before-send.sqs.SendMessage", queue)

    response = window(a, b, poisoned, c)

    assert response["batchItemFailures"] == [{"itemIdentifier": number(poisoned)}]
    assert response["state"] == {"change": 2, "sequenceNumber": number(b)}
    assert output().metric_values()[MetricName.CONNECTIONS_OPENED] == [2.0]

    queue.failing = False
    again = window(poisoned, c, state=response["state"], final=True)  # Lambda's redelivery from k
    assert again["batchItemFailures"] == []
    assert gauge.count() == 3
    # the queue holds the poisoned record only (the failed attempts landed, their answers lost)
    bodies = {message["Body"] for message in dead_letters.messages()}
    assert len(bodies) == 1
    assert number(poisoned) in bodies.pop()


def test_a_partial_failure_in_a_final_invocation_applies_what_is_before_it_once(
    window, records, gauge, default_session, dead_letters
):
    a = records("opened", "a")
    poisoned = copy.deepcopy(records("opened", "p"))
    poisoned["dynamodb"].pop("NewImage")
    b = records("opened", "b")
    queue = Fails()
    default_session.register("before-send.sqs.SendMessage", queue)
    first = window(a, poisoned, b, final=True)
    assert gauge.count() == 1

    queue.failing = False
    window(poisoned, b, state=first["state"], final=True)  # the rest, with the state returned
    assert gauge.count() == 2


def test_a_malformed_record_is_set_aside_and_moves_the_window_on(window, records, gauge, dead_letters):
    opened = records("opened", "a")
    poisoned = copy.deepcopy(records("opened", "p"))
    poisoned["dynamodb"]["NewImage"]["ttl"] = {"N": "never"}
    response = window(opened, poisoned, final=True)
    assert response["batchItemFailures"] == []
    assert response["state"]["sequenceNumber"] == number(poisoned)
    assert gauge.count() == 1
    assert len(dead_letters.messages()) == 1


def test_a_final_invocation_whose_write_fails_fails_and_publishes_nothing(
    window, records, gauge, output, default_session
):
    failing = Fails()  # registered before the functions' clients are made
    failing.failing = False
    default_session.register("before-send.dynamodb.TransactWriteItems", failing)
    state = window(records("opened", "a"))["state"]
    output()
    failing.failing = True
    final = [records("opened", "b"), records("opened", "c")]

    with pytest.raises(RuntimeError, match="gauge"):  # a function error: Lambda invokes it again
        window(*final, state=state, final=True)
    printed = output()
    assert MetricName.CONNECTIONS_OPENED not in printed.metric_values()
    assert printed.log("gauge update failed")["level"] == "ERROR"

    failing.failing = False
    window(*final, state=state, final=True)  # the retry, with the state from before the failure
    assert gauge.count() == 3
    assert output().metric_values()[MetricName.CONNECTIONS_OPENED] == [2.0]


def test_without_a_tumbling_window_the_gauge_is_not_kept_and_says_so(
    invoke, table, counters, records, gauge, output
):
    from connection_tracker import consumer

    consumer._warn_no_window.cache_clear()  # a new execution environment
    for name in "ab":
        response = invoke("StreamMetricsFunction", {"Records": [records("opened", name)]})
        assert response == {"batchItemFailures": []}  # a plain stream response: no state
    assert gauge.count() == 0
    warnings = [line for line in output().logs if line.get("level") == "WARNING"]
    assert len(warnings) == 1  # once per execution environment
    assert "TumblingWindowInSeconds" in warnings[0]["message"]


def test_without_a_counters_table_there_is_no_gauge(window, records, output, monkeypatch):
    monkeypatch.delenv("COUNTERS_TABLE", raising=False)
    response = window(records("opened", "a"), final=True)
    assert response["state"]["change"] == 1
    assert MetricName.ACTIVE_CONNECTIONS not in output().metric_values()


def test_a_marker_lives_as_long_as_a_final_invocation_can_be_retried(
    window, records, dynamodb, counters, template, monkeypatch
):
    max_age = int(template.parameter_defaults()["StreamMaxRecordAgeSeconds"])
    monkeypatch.setenv("STREAM_MAX_RECORD_AGE_SECONDS", str(max_age))
    window(records("opened", "a"), final=True, shard="shardId-ttl")
    marker = dynamodb.get_item(TableName=counters, Key={KEY: {"S": f"{SHARD_PREFIX}shardId-ttl"}})["Item"]
    lives = int(marker["expiresAt"]["N"]) - time.time()
    assert max_age < lives <= max_age + MARKER_MARGIN_SECONDS  # not a day: the table stays small


def test_across_a_rollover_each_shard_applies_once_and_closed_shards_markers_expire_by_ttl(
    window, records, gauge, dynamodb, counters
):
    """A parent shard's last window and its children's: each applied once (a retried final
    invocation of the parent changes nothing after its child's), then DynamoDB's TTL process (the
    local stack's, scanning a table whose stream nobody reads) removes the markers of the closed
    shards once their lifetime has passed: the count and the live shards' markers stay."""
    from local_stack.dynamodb.ttl import TtlEmulator

    last = [records("opened", "a"), records("opened", "b")]  # the parent's last window
    assert window(*last, final=True, shard="shardId-parent")["state"]["change"] == 0  # applied
    for child, name in (("shardId-child-1", "c"), ("shardId-child-2", "d")):
        window(records("opened", name), final=True, shard=child)
    window(*last, final=True, shard="shardId-parent")  # its response was lost: retried after them
    assert gauge.count() == 4

    def markers() -> dict[str, int]:
        items = dynamodb.scan(TableName=counters, ConsistentRead=True)["Items"]
        return {i[KEY]["S"]: int(i["expiresAt"]["N"]) for i in items if i[KEY]["S"].startswith(SHARD_PREFIX)}

    written = markers()
    children = {f"{SHARD_PREFIX}shardId-child-{n}" for n in (1, 2)}
    assert set(written) == {f"{SHARD_PREFIX}shardId-parent", *children}
    # the children go on: their markers are renewed by their later windows, the parent's is not
    later = max(written.values()) + 10
    ttl = TtlEmulator(dynamodb, table_name=counters, ttl_attribute="expiresAt", scan=True)
    assert ttl.sweep(now=min(written.values()) - 1) == 0  # not yet
    dynamodb.update_item(
        TableName=counters,
        Key={KEY: {"S": f"{SHARD_PREFIX}shardId-child-1"}},
        UpdateExpression="SET expiresAt = :later",
        ExpressionAttributeValues={":later": {"N": str(later + 900)}},
    )
    dynamodb.update_item(
        TableName=counters,
        Key={KEY: {"S": f"{SHARD_PREFIX}shardId-child-2"}},
        UpdateExpression="SET expiresAt = :later",
        ExpressionAttributeValues={":later": {"N": str(later + 900)}},
    )
    assert ttl.sweep(now=later) == 1
    assert set(markers()) == {f"{SHARD_PREFIX}shardId-child-1", f"{SHARD_PREFIX}shardId-child-2"}
    assert gauge.count() == 4  # the count item has no TTL: it stays


# ----- reconcile -----------------------------------------------------------------------------------
@pytest.fixture
def reconcile(template, monkeypatch):
    """The reconciliation, its wait for the window replaced by ``during_wait`` (what happens in
    the stack meanwhile)."""
    import time as clock

    waits: list[float] = []
    happenings: list = []

    def sleep(seconds):
        waits.append(seconds)
        for happening in happenings:
            happening()

    monkeypatch.setattr(clock, "sleep", sleep)
    handler = load_handler(template, "ReconcileFunction")

    def call(*during_wait):
        happenings[:] = during_wait
        return handler({}, LambdaContext(function_name="ReconcileFunction", remaining_ms=300_000)), waits

    return call


def put_items(dynamodb, table, *names):
    for name in names:
        dynamodb.put_item(
            TableName=table, Item={"connectionId": {"S": name}, "createdAt": {"N": "1"}, "ttl": {"N": "1"}}
        )


def test_reconcile_corrects_a_drift_that_persists_across_a_window(
    window, records, gauge, dynamodb, table, reconcile, output, monkeypatch
):
    monkeypatch.setenv("GAUGE_WINDOW_SECONDS", "30")
    window(*(records("opened", name) for name in "abc"), final=True)
    put_items(dynamodb, table, "a", "b", "c")
    gauge.counters.add_to_count(39)  # drift from outside the event flow: a count edited by hand
    output()

    found, waits = reconcile()

    assert (found["drift"], found["live"]) == (-39, 3)
    assert gauge.count() == 3
    assert waits == [30 + 10]  # counted again one window (and the batching window) later
    printed = output()
    assert printed.log("gauge reconciled")["level"] == "WARNING"
    assert printed.metric_values()[MetricName.ACTIVE_CONNECTIONS] == [3.0]
    assert printed.metric_values()[MetricName.ACTIVE_CONNECTIONS_DRIFT] == [-39.0]
    window(records("closed", "b"), final=True)  # the gauge keeps counting exactly after it
    assert gauge.count() == 2


def test_reconcile_does_not_mistake_the_window_lag_for_drift(
    window, records, gauge, dynamodb, table, reconcile
):
    state = window(records("opened", "a"), records("opened", "b"))["state"]  # its window is open
    put_items(dynamodb, table, "a", "b")

    # the table has two items the gauge does not count yet; while reconcile waits, the window
    # closes and its final invocation applies them
    found, _ = reconcile(lambda: window(state=state, final=True))

    assert (found["firstReading"], found["secondReading"], found["drift"]) == (2, 0, 0)
    assert gauge.count() == 2


def test_reconcile_without_drift_answers_at_once(window, records, gauge, dynamodb, table, reconcile):
    window(records("opened", "a"), final=True)
    put_items(dynamodb, table, "a")
    found, waits = reconcile()
    assert (found["drift"], found["live"], waits) == (0, 1, [])
