"""The local Logs Insights engine, command by command, on hand-made log events; the query examples
are the Logs Insights documentation's own where they use only these commands."""

from __future__ import annotations

import json

import pytest

from local_stack.logs.insights import (
    LogEvent,
    QueryError,
    ScanCounter,
    UnsupportedQuery,
    referenced_fields,
    run,
)

T0 = 1_730_212_320_000  # 2024-10-29 14:32:00.000 UTC
GROUP = "/aws/lambda/StreamMetricsFunction"


def event(offset_s: float, fields: dict | str, stream: str = "2024/10/29/[$LATEST]aaaa") -> LogEvent:
    message = fields if isinstance(fields, str) else json.dumps(fields)
    return LogEvent(int(T0 + offset_s * 1000), message, GROUP, stream, event_id=f"{offset_s}")


def rows(query: str, events: list[LogEvent], **kwargs) -> list[dict[str, str]]:
    result = run(query, events, counter=None, **kwargs)
    return [{cell["field"]: cell["value"] for cell in row if cell["field"] != "@ptr"} for row in result.rows]


LIFECYCLE = [
    event(0, {"message": "connection opened", "event": "opened", "connectionId": "A", "clientId": "alpha"}),
    event(1, {"message": "connection opened", "event": "opened", "connectionId": "B", "clientId": "beta"}),
    event(2, {"message": "connection opened", "event": "opened", "connectionId": "C", "clientId": "alpha"}),
    event(
        3,
        {
            "message": "connection closed",
            "event": "closed",
            "connectionId": "A",
            "clientId": "alpha",
            "lifetime": 3.0,
        },
    ),
    event(
        4,
        {
            "message": "connection expired",
            "event": "expired",
            "connectionId": "C",
            "clientId": "alpha",
            "lifetime": 2.5,
        },
    ),
    event(5, {"message": "connection opened", "event": "opened", "connectionId": "D", "clientId": "gamma"}),
    event(6, "START RequestId: 1234 Version: $LATEST"),
]


def test_without_commands_that_choose_fields_results_show_timestamp_and_message_newest_first():
    found = rows("limit 2", LIFECYCLE)
    assert found == [
        {"@timestamp": "2024-10-29 14:32:06.000", "@message": "START RequestId: 1234 Version: $LATEST"},
        {"@timestamp": "2024-10-29 14:32:05.000", "@message": LIFECYCLE[5].message},
    ]


def test_fields_shows_the_named_fields_and_makes_new_ones():
    found = rows('fields connectionId, concat(clientId, "/", connectionId) as key', LIFECYCLE)
    assert found[0] == {"key": "/"}  # the START line has neither field
    assert found[1] == {"connectionId": "D", "key": "gamma/D"}
    assert rows("stats count(*) | sort count(*) desc", LIFECYCLE) == [{"count(*)": "7"}]
    assert rows("fields lifetime * 2 as doubled | filter ispresent(lifetime)", LIFECYCLE) == [
        {"doubled": "5"},
        {"doubled": "6"},
    ]


def test_filter_comparisons_boolean_operators_in_like_and_regular_expressions():
    # documentation: fields @timestamp, @message | filter (range>3000 and accountId=123456789012)
    logs = [
        event(0, {"range": 4000, "accountId": 123456789012}),
        event(1, {"range": 2000, "accountId": 123456789012}),
    ]
    assert (
        len(rows("fields @timestamp, @message | filter (range>3000 and accountId=123456789012)", logs)) == 1
    )
    pick = lambda q: sorted(r["connectionId"] for r in rows(f"fields connectionId | {q}", LIFECYCLE))  # noqa: E731
    assert pick('filter event = "opened"') == ["A", "B", "C", "D"]
    assert pick('filter event != "opened" and ispresent(event)') == ["A", "C"]
    assert pick('filter event = "closed" or clientId = "beta"') == ["A", "B"]
    assert pick('filter not (event = "opened") and ispresent(connectionId)') == ["A", "C"]
    assert pick('filter clientId in ["beta", "gamma"]') == ["B", "D"]
    assert pick('filter ispresent(clientId) and clientId not in ["alpha"]') == ["B", "D"]
    assert pick('filter message like "clos"') == ["A"]
    assert pick("filter message like /ex(pi|pa)red$/") == ["C"]
    assert pick("filter message =~ /^connection (closed|expired)/") == ["A", "C"]
    assert pick('filter ispresent(connectionId) and message not like "opened"') == ["A", "C"]
    assert pick("filter lifetime >= 2.5 and lifetime < 3") == ["C"]
    # a missing field compares as nothing: neither equal nor unequal
    assert pick('filter lifetime != 0 and event = "opened"') == []


def test_ispresent_and_json_fields_discovered_with_dotted_names():
    logs = [
        event(0, {"message": "connection stored", "item": {"sourceIp": "203.0.113.24", "tags": ["a", "b"]}}),
        event(1, '2024-10-29T14:32:01Z INFO {"level": "ERROR", "@odd": 1}'),  # the first JSON fragment
    ]
    assert rows("fields item.sourceIp, item.tags.1 | filter ispresent(item.sourceIp)", logs) == [
        {"item.sourceIp": "203.0.113.24", "item.tags.1": "b"}
    ]
    assert rows('fields level, @@odd | filter level = "ERROR"', logs) == [{"level": "ERROR", "@@odd": "1"}]


def test_system_fields():
    (found,) = rows("fields @timestamp, @message, @logStream, @log | limit 1", LIFECYCLE[:1])
    assert found == {
        "@timestamp": "2024-10-29 14:32:00.000",
        "@message": LIFECYCLE[0].message,
        "@logStream": "2024/10/29/[$LATEST]aaaa",
        "@log": f"123456789012:{GROUP}",
    }


def test_stats_aggregations_by_fields():
    found = rows(
        "stats count(*) as events, count(lifetime) as ended, count_distinct(connectionId) as connections, "
        "sum(lifetime) as total, avg(lifetime) as mean, min(lifetime) as shortest, max(lifetime) as longest, "
        "earliest(event) as first, latest(event) as last by clientId | sort clientId",
        LIFECYCLE,
    )
    assert found[0] == {
        "clientId": "alpha",
        "events": "4",
        "ended": "2",
        "connections": "2",
        "total": "5.5",
        "mean": "2.75",
        "shortest": "2.5",
        "longest": "3",
        "first": "opened",
        "last": "expired",
    }
    assert {r.get("clientId") for r in found} == {"alpha", "beta", "gamma", None}


def test_stats_percentiles_and_bin():
    logs = [event(i * 20, {"duration": i + 1}) for i in range(10)]  # 14:32:00 ... 14:35:00
    (overall,) = rows(
        "stats pct(duration, 50) as p50, pct(duration, 90) as p90, percentile(duration, 100) as p100", logs
    )
    assert overall == {"p50": "5", "p90": "9", "p100": "10"}
    # documentation: stats count(*) by queryType, bin(1h) (here by minute)
    binned = rows("stats count(*) as n by bin(1m) | sort bin(1m) asc", logs)
    assert binned == [
        {"bin(1m)": "2024-10-29 14:32:00.000", "n": "3"},
        {"bin(1m)": "2024-10-29 14:33:00.000", "n": "3"},
        {"bin(1m)": "2024-10-29 14:34:00.000", "n": "3"},
        {"bin(1m)": "2024-10-29 14:35:00.000", "n": "1"},
    ]


def test_a_second_stats_and_a_filter_work_on_the_first_stats_results():
    # the saved "Connected now" query's shape: the latest event per connection is "opened"
    found = rows(
        "filter ispresent(event) | stats count_distinct(event) as events, latest(event) as state, "
        "latest(clientId) as client by connectionId "
        '| filter events = 1 and state = "opened" | sort connectionId',
        LIFECYCLE,
    )
    assert [(r["connectionId"], r["client"]) for r in found] == [("B", "beta"), ("D", "gamma")]
    assert rows("stats count(*) as n by clientId | stats sum(n) as total", LIFECYCLE) == [{"total": "7"}]


def test_sort_asc_desc_natural_order_and_limit():
    logs = [
        event(i, {"v": v})
        for i, v in enumerate(["a12345hfh", "A9876fghj", "0", "@_", "2345_", "111A", "5A", "0#", "#", "2"])
    ]
    ascending = [r["v"] for r in rows("fields v | sort v asc", logs)]
    # the order the sort documentation shows: non-numbers (chunk by chunk) before numbers
    assert ascending == ["#", "0#", "5A", "111A", "2345_", "@_", "A9876fghj", "a12345hfh", "0", "2"]
    assert [r["v"] for r in rows("fields v | sort v desc | limit 3", logs)] == ["2", "0", "a12345hfh"]
    assert len(rows("fields v", logs, limit=4)) == 4


def test_dedup_keeps_the_first_in_sort_order_and_every_null():
    found = rows("fields clientId, connectionId | sort @timestamp desc | dedup clientId", LIFECYCLE)
    assert [(r.get("clientId"), r.get("connectionId")) for r in found] == [
        (None, None),  # the START line: a null is never a duplicate
        ("gamma", "D"),
        ("alpha", "C"),
        ("beta", "B"),
    ]
    with pytest.raises(QueryError, match="only limit"):
        run("dedup clientId | sort clientId", LIFECYCLE)


def test_display_chooses_the_fields_shown():
    assert rows('filter event = "closed" | display connectionId, lifetime', LIFECYCLE) == [
        {"connectionId": "A", "lifetime": "3"}
    ]


def test_parse_with_a_glob_and_with_a_regular_expression():
    logs = [
        event(0, "user=alice, method:GET, latency := 12"),
        event(1, "user=bob, method:PUT, latency := 30"),
    ]
    # documentation: parse @message "user=*, method:*, latency := *" as @user, @method, @latency
    found = rows(
        'parse @message "user=*, method:*, latency := *" as @user, @method, @latency '
        "| stats avg(@latency) as latency by @method | sort @method",
        logs,
    )
    assert found == [{"@method": "GET", "latency": "12"}, {"@method": "PUT", "latency": "30"}]
    # documentation: parse @message /(?<NetworkInterface>eni-.*?) / | display NetworkInterface, @message
    flow = [event(0, "2 123456789010 eni-1235b8ca123456789 172.31.16.139 ACCEPT")]
    assert rows("parse @message /(?<NetworkInterface>eni-.*?) / | display NetworkInterface", flow) == [
        {"NetworkInterface": "eni-1235b8ca123456789"}
    ]


def test_unsupported_commands_and_functions_are_refused_by_name():
    for query, named in (
        ("fields @message | anomaly", "the command 'anomaly'"),
        ("unnest x into y", "the command 'unnest'"),
        ("fields jsonParse(@message) as j", "the function 'jsonParse'"),
        ("stats count(*) by bin(1mo)", "'mo'"),
    ):
        with pytest.raises(UnsupportedQuery, match=named):
            run(query, LIFECYCLE)
    with pytest.raises(QueryError, match="not an aggregation"):
        run("stats clientId", LIFECYCLE)


def test_bytes_scanned_are_counted():
    counter = ScanCounter()
    result = run("stats count(*)", LIFECYCLE, counter=counter)
    expected = sum(len(e.message.encode()) for e in LIFECYCLE)
    assert result.bytes_scanned == expected
    assert counter.snapshot() == {"bytesScanned": expected, "queries": 1}


def test_the_fields_a_query_reads():
    query = (
        "fields @timestamp, event | filter clientId = 'x' | stats latest(event) as state by connectionId "
        "| filter state = 'opened' | parse @message /(?<made>\\w+)/ | display made, state"
    )
    assert referenced_fields(query) == {"event", "clientId", "connectionId"}
