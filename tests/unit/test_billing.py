"""The billing rules of ``ops.prices`` and the stack's meter (``local_stack.cost.meter``) on
hand-computed cases."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary

from local_stack.cost.meter import Meter
from ops import prices
from sam_template.conditions import deployed
from sam_template.expand import expand
from sam_template.logging_config import LogSettings
from sam_template.model import load_template


def test_an_items_size_is_its_names_and_values():
    item = {
        "connectionId": "AbCdEfGhIjKlMnO=",  # 12 + 16
        "createdAt": Decimal("1764150000.125"),  # 9 + 13 significant digits: 7 + 1
        "ttl": Decimal("1764236400"),  # 3 + "17642364": 4 + 1 (trailing zeros trimmed)
        "open": True,  # 4 + 1
        "gone": None,  # 4 + 1
        "tags": ["a", "bc"],  # 4 + 3 + (1 + 1) + (2 + 1)
        "meta": {"k": "vv"},  # 4 + 3 + (1 + 2 + 1)
        "raw": Binary(b"\x00\x01\x02"),  # 3 + 3
        "ids": {"x", "yz"},  # 3 + 1 + 2
        "name": "é",  # 4 + 2 (UTF-8)
    }
    assert prices.item_size(item) == 28 + 17 + 8 + 5 + 5 + 12 + 11 + 6 + 6 + 6


def test_an_item_in_dynamodb_json_is_sized_the_same():
    typed = {"counter": {"S": "activeConnections"}, "count": {"N": "12"}}
    assert prices.typed_item_size(typed) == (7 + 17) + (5 + 2)


@pytest.mark.parametrize(
    ("size", "standard", "transactional"),
    [(0, 1, 2), (1, 1, 2), (1024, 1, 2), (1025, 2, 4), (2500, 3, 6)],
)
def test_write_units_per_kilobyte_rounded_up(size, standard, transactional):
    assert prices.write_units(size) == standard
    assert prices.write_units(size, transactional=True) == transactional


def test_read_units_per_4_kilobytes_halved_when_eventually_consistent():
    assert prices.read_units(5_000, consistent=True) == 2
    assert prices.read_units(5_000, consistent=False) == 1
    assert prices.read_units(0, consistent=False) == 0.5  # a missing item: the minimum
    assert prices.read_units(100, consistent=True, transactional=True) == 2


def test_index_writes_follow_the_index_keys():
    keys, index_keys, projection = ["id", "client", "at"], ["client", "at"], {"ProjectionType": "KEYS_ONLY"}
    entry = {"id": "c1", "client": "me", "at": Decimal(1)}
    item = {**entry, "big": "x" * 2000}
    entry_size = prices.item_size(entry)
    writes = prices.index_write_sizes
    assert writes(index_keys, keys, projection, None, item) == [entry_size]  # put into the index
    assert writes(index_keys, keys, projection, item, None) == [entry_size]  # deleted from it
    assert writes(index_keys, keys, projection, None, {"id": "c2"}) == []  # never in it
    moved = {**item, "at": Decimal(2)}
    assert writes(index_keys, keys, projection, item, moved) == [entry_size, entry_size]  # key changed
    assert writes(index_keys, keys, projection, item, {**item, "big": "y"}) == []  # nothing projected changed
    assert writes(index_keys, keys, {"ProjectionType": "ALL"}, item, {**item, "big": "y"}) == [
        prices.item_size({**item, "big": "y"})
    ]


def test_gb_seconds_round_the_duration_up_to_the_millisecond():
    assert prices.gb_seconds(256, 12.3) == pytest.approx(0.25 * 0.013)
    assert prices.gb_seconds(512, 1.0) == pytest.approx(0.5 * 0.001)


def test_a_33_kb_message_is_two_messages():
    assert prices.api_messages(33 * 1024) == 2
    assert prices.api_messages(32 * 1024) == 1
    assert prices.api_messages(0) == 1  # $connect, $disconnect
    meter = Meter()
    meter.message(33 * 1024)
    meter.message()
    assert meter.bill({})["units"]["apigateway"]["messages"] == 3


def test_sqs_bills_each_64_kb_chunk():
    assert prices.chunked_requests(70 * 1024) == 2
    assert prices.chunked_requests(10) == 1


def test_a_log_line_is_its_bytes_and_the_event_overhead():
    line = json.dumps({"level": "INFO", "message": "connection opened", "connectionId": "AbC="})
    emf = json.dumps(
        {
            "_aws": {
                "Timestamp": 1764150000000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "ConnectionTracker",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": "A"}],
                    }
                ],
            },
            "service": "tracker",
            "A": [1, 2],
        }
    )
    meter = Meter()
    meter.logged("StreamMetricsFunction", [line, emf])
    bill = meter.bill({})
    assert bill["units"]["cloudwatch"]["logBytes"] == {
        "StreamMetricsFunction": len(line.encode()) + 26 + len(emf.encode()) + 26
    }
    assert bill["units"]["cloudwatch"]["metricsPublished"] == 2
    assert bill["monthly"]["customMetrics"] == 1


def writes_platform_lines(logging_config: dict | None) -> bool:
    return LogSettings.from_config(logging_config, "F").keeps_system()


def test_lambdas_platform_lines_go_unless_the_logging_config_drops_them():
    assert not writes_platform_lines({"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    assert writes_platform_lines({"LogFormat": "JSON", "SystemLogLevel": "INFO"})
    assert writes_platform_lines({"LogFormat": "JSON"})  # INFO by default
    assert writes_platform_lines(None)  # Text: no filtering
    # the lines themselves are the local runtime's (tests/unit/test_lambda_runtime_rules.py), and
    # the meter counts them as delivered


def test_the_templates_logging_config_keeps_the_invocations_to_what_the_functions_write():
    written = load_template()
    template = deployed(expand(written, written.parameter_defaults()), written.parameter_defaults())
    meter = Meter(template)
    meter.invoked("ConnectFunction", 12.3)
    meter.logged("ConnectFunction", ["x" * 74])
    bill = meter.bill({})
    assert bill["units"]["cloudwatch"]["logBytes"] == {"ConnectFunction": 100}  # no START/END/REPORT
    assert bill["units"]["lambda"] == {
        "ConnectFunction": {"requests": 1, "gbSeconds": 0.25 * 0.013, "meanDurationMs": 12.3}
    }


def test_dollars_per_million_connections_and_the_trackers_share():
    usage = prices.Usage(dynamodb_write_units=2_000_000, lambda_requests=2_000_000, api_messages=2_000_000)
    charges = prices.dollars(usage)
    assert charges["dynamodb"] == pytest.approx(1.25)
    assert charges["lambda"] == pytest.approx(0.40)
    assert charges["apigateway"] == pytest.approx(2.00)
    per = prices.per_million(charges, 1_000_000)
    assert per["total"] == pytest.approx(3.65)
    assert per["tracker"] == pytest.approx(1.65)


def test_logs_insights_bills_each_gigabyte_its_queries_scan():
    # "Amazon CloudWatch Pricing", Logs, Analyze (Logs Insights queries): $0.005 per GB scanned
    scanned = prices.dollars(prices.Usage(logs_bytes_scanned=3 * 1024**3))
    assert scanned["cloudwatch"] == pytest.approx(0.015)
    assert scanned["total"] == pytest.approx(0.015)


def test_a_log_events_size_is_its_utf8_bytes_and_26():
    assert prices.log_event_bytes("connected") == 9 + 26
    assert prices.log_event_bytes("연결됨") == 9 + 26  # three characters of three bytes each
    assert prices.log_event_bytes("") == 26
