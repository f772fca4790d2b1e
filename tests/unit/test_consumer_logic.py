"""The stream consumer's logic on its own, no AWS: classification, the per-record outcomes and the
prefix rule that decides what an invocation publishes, and the gauge's transaction chunks."""

from __future__ import annotations

import copy
import json

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from connection_tracker.connections_api import endpoint
from connection_tracker.dead_letter import MAX_BODY_BYTES, message_body
from connection_tracker.gauge import WindowState
from connection_tracker.streams import EventKind, MalformedRecord, classify, sequence_number
from connection_tracker.tally import BatchTally, Failed, SetAside, UnnamedFailure

OPENED, MODIFIED, CLOSED, EXPIRED = range(4)


@pytest.fixture
def sample(event):
    return event("stream_batch")["Records"]


def tally_of(*raw_records) -> BatchTally:
    tally = BatchTally()
    for raw in raw_records:
        tally.add(DynamoDBRecord(raw))
    return tally


# ----- classification ------------------------------------------------------------------------------
def test_each_kind_of_record_is_classified(sample):
    kinds = [classify(DynamoDBRecord(raw)) for raw in sample]
    assert [k.kind if k else None for k in kinds] == [
        EventKind.OPENED,
        None,
        EventKind.CLOSED,
        EventKind.EXPIRED,
    ]
    expired = kinds[EXPIRED]
    assert expired is not None
    assert (expired.lifetime, expired.expiry_lag) == (86494.75, 95.0)


@pytest.mark.parametrize(
    "raw", [None, [], "record", {"eventName": "INSERT"}, {"eventName": "REMOVE", "dynamodb": 7}]
)
def test_a_record_that_is_not_one_is_malformed(raw):
    with pytest.raises(MalformedRecord):
        classify(DynamoDBRecord(raw))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"dynamodb": {"SequenceNumber": "12"}}, "12"),
        ({"dynamodb": {"SequenceNumber": ""}}, None),
        ({"dynamodb": {}}, None),
        ({"dynamodb": "broken"}, None),
        ([], None),
        (None, None),
    ],
)
def test_sequence_numbers_are_read_without_raising(raw, expected):
    assert sequence_number(raw) == expected


# ----- outcomes and the prefix rule ---------------------------------------------------------------
def test_outcomes_keep_the_stream_order_and_set_malformed_records_aside(sample):
    poisoned = copy.deepcopy(sample[CLOSED])
    poisoned["dynamodb"]["OldImage"]["createdAt"] = {"N": "soon"}
    tally = tally_of(sample[OPENED], sample[MODIFIED], poisoned, sample[EXPIRED])

    assert tally.first_failure() == 4  # nothing failed: set aside is not a failure
    assert [type(o).__name__ for o in tally.outcomes] == [
        "ConnectionEvent",
        "NoneType",
        "SetAside",
        "ConnectionEvent",
    ]
    assert [position for position, _ in tally.set_aside(4)] == [2]
    assert tally.response(4) == {"batchItemFailures": []}
    assert tally.summary(4) == {
        "records": 4,
        "opened": 1,
        "closed": 0,
        "expired": 1,
        "ignored": 1,
        "setAside": 1,
        "redelivered": 0,
    }


def test_only_the_records_before_done_are_published_and_the_response_names_done(sample):
    tally = tally_of(sample[OPENED], sample[CLOSED], sample[EXPIRED])

    assert tally.response(1) == {"batchItemFailures": [{"itemIdentifier": "111300000000000000003"}]}
    assert tally.gauge_change(1) == +1
    assert tally.last_sequence_number(1) == sample[OPENED]["dynamodb"]["SequenceNumber"]
    assert tally.summary(1)["opened"] == 1
    assert tally.summary(1)["closed"] == 0
    assert tally.summary(1)["redelivered"] == 2


def test_the_gauge_change_is_the_net_of_the_connection_events_before_done(sample):
    tally = tally_of(sample[OPENED], sample[MODIFIED], sample[CLOSED], sample[EXPIRED])
    assert [tally.gauge_change(done) for done in range(5)] == [0, 1, 1, 0, -1]
    assert tally.last_sequence_number(0) is None
    assert tally.last_sequence_number(4) == sample[EXPIRED]["dynamodb"]["SequenceNumber"]


def test_an_unexpected_error_fails_its_record_or_sets_it_aside_when_it_cannot_be_named(sample, monkeypatch):
    from connection_tracker import tally as module

    def explode(_record):
        raise RuntimeError("bug")

    monkeypatch.setattr(module, "classify", explode)
    unnamed = copy.deepcopy(sample[CLOSED])
    del unnamed["dynamodb"]["SequenceNumber"]
    tally = tally_of(sample[OPENED], unnamed)

    assert isinstance(tally.outcomes[0], Failed)
    assert isinstance(tally.outcomes[1], SetAside)
    assert tally.first_failure() == 0


def test_a_failure_that_cannot_be_named_fails_the_invocation_instead(sample):
    unnamed = copy.deepcopy(sample[OPENED])
    del unnamed["dynamodb"]["SequenceNumber"]
    tally = tally_of(sample[CLOSED], unnamed)
    with pytest.raises(UnnamedFailure):
        tally.response(1)


# ----- the window's state -----------------------------------------------------------------------
def test_a_window_state_adds_up_and_starts_over_once_applied():
    state = WindowState.model_validate({})  # the first invocation of a window gets {}
    state = state.plus(+3, "120").plus(-1, None)
    assert state.dump() == {"change": 2, "sequenceNumber": "120"}
    assert state.applied().dump() == {"change": 0, "sequenceNumber": "120"}
    assert WindowState.model_validate(state.dump()) == state  # what Lambda hands back


def test_sequence_numbers_compare_as_numbers_not_as_text(sample):
    short, long = copy.deepcopy(sample[OPENED]), copy.deepcopy(sample[CLOSED])
    short["dynamodb"]["SequenceNumber"] = "900000000000000000000"  # 21 digits
    long["dynamodb"]["SequenceNumber"] = "1000000000000000000000"  # 22: higher
    assert tally_of(long, short).last_sequence_number(2) == "1000000000000000000000"


# ----- small rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("configured", "domain", "stage", "expected"),
    [
        ("https://x.test/prod", "abc.execute-api.test", "dev", "https://x.test/prod"),
        (None, "abc.execute-api.test", "dev", "https://abc.execute-api.test/dev"),
        (None, None, "dev", None),
        (None, "abc.execute-api.test", None, None),
    ],
)
def test_the_connections_endpoint(configured, domain, stage, expected):
    assert endpoint(configured, domain, stage) == expected


def test_a_record_too_large_for_one_message_keeps_its_keys_and_loses_its_images(sample):
    huge = copy.deepcopy(sample[CLOSED])
    huge["dynamodb"]["OldImage"]["userAgent"] = {"S": "x" * (MAX_BODY_BYTES + 1)}
    body = json.loads(message_body(huge))
    assert body["dynamodb"]["Keys"] == sample[CLOSED]["dynamodb"]["Keys"]
    assert "OldImage" not in body["dynamodb"]
    assert body["imagesOmitted"]
    assert json.loads(message_body(sample[CLOSED])) == sample[CLOSED]  # a normal one is kept whole
