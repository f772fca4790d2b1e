"""The capacity model's formulas on hand-computed cases, and its refusal of nonsense."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

import sam_template.model
from connection_tracker.catalogue import MetricName
from local_stack.cost.meter import Meter
from ops import capacity
from ops.capacity import CapacityError, Load, estimate
from sam_template.model import Template, load_template

# the sweeper's cursor in the counters table: a GetItem and a PutItem each sweep, rate(5 minutes)
CURSOR = 1 / 300


def test_a_small_load_by_hand():
    # 10 connects/s, 60 s each, no TTL share: 600 open; 10 puts + 10 deletes per second
    found = estimate(Load(10, 60))
    assert found.open_connections == 600
    assert found.connections_write_units == 20
    assert found.stream_records_per_second == 20
    assert found.stream_shards == 1
    # a batch every 5 s holds 100 records (0.2 invocations/s), and the gauge's window (60 s) ends
    # in one final invocation per shard, which writes the gauge once: 1 transaction a minute
    assert found.consumer_invocations_per_second == pytest.approx(0.2 + 1 / 60)
    assert found.gauge_transactions_per_second == pytest.approx(1 / 60)
    # the shard's marker and the count item, 2 units each; one read of the count after it, and
    # reconcile's, rate(1 hour); the sweeper's cursor
    assert found.counters_write_units == pytest.approx(4 / 60 + CURSOR)
    assert found.counters_read_units == pytest.approx(1 / 60 + 1 / 3600 + CURSOR)
    assert found.concurrency["ConnectFunction"] == pytest.approx(10 * capacity.CONNECT_SECONDS)
    assert found.binding == []


def test_ttl_deletes_cost_no_writes_and_no_disconnects():
    found = estimate(Load(10, 60, ttl_share=0.5))
    assert found.connections_write_units == 10 + 5
    assert found.concurrency["DisconnectFunction"] == pytest.approx(5 * capacity.DISCONNECT_SECONDS)


def test_without_the_gauge_the_counters_table_holds_only_the_sweepers_cursor():
    found = estimate(Load(10, 60, gauge=False))
    assert (found.counters_write_units, found.counters_read_units, found.gauge_transactions_per_second) == (
        CURSOR,
        CURSOR,
        0,
    )


def test_the_per_client_limit_adds_half_a_read_unit_per_connect():
    assert estimate(Load(10, 60, max_per_client=2)).connections_read_units == pytest.approx(
        estimate(Load(10, 60)).connections_read_units + 5
    )


def test_monthly_cost_of_api_gateway_by_hand():
    # 1 connect/s for 30 days, held 60 s: 2 messages/s; 60 open connections all month
    found = estimate(Load(1, 60))
    seconds = 30 * 86_400
    messages = 2 * seconds * 1.00 / 1e6
    minutes = 60 * seconds / 60 * 0.25 / 1e6
    assert found.monthly_cost["API Gateway"] == pytest.approx(messages + minutes, abs=0.01)
    assert found.monthly_cost["total"] == pytest.approx(
        sum(value for name, value in found.monthly_cost.items() if name != "total"), abs=0.05
    )


def test_what_binds_first_at_scale():
    assert any("500/s quota" in reason for reason in estimate(Load(1_000, 60)).binding)
    assert any("keepalives" in reason for reason in estimate(Load(1, 900)).binding)
    assert any("2 hours" in reason for reason in estimate(Load(1, 3 * 3600)).binding)
    # the gauge writes its count item once per shard per window, whatever the rate: it never binds
    hot = estimate(Load(30_000, 60))
    assert hot.count_item_write_units == pytest.approx(2 * hot.stream_shards / 60)
    assert not any("count item" in reason for reason in hot.binding)


def test_the_gauge_costs_the_same_at_any_connection_rate_and_falls_with_a_longer_window():
    slow, fast = estimate(Load(10, 60)), estimate(Load(400, 60))
    assert slow.stream_shards == fast.stream_shards == 1
    assert slow.counters_write_units == fast.counters_write_units
    assert estimate(Load(10, 60, gauge_window_seconds=600)).counters_write_units - CURSOR == pytest.approx(
        (slow.counters_write_units - CURSOR) / 10
    )


def test_a_lifetime_beyond_two_hours_is_cut_at_two_hours():
    assert estimate(Load(1, 5 * 3600)).open_connections == 7_200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"connects_per_second": 0, "mean_lifetime_seconds": 60}, "above 0"),
        ({"connects_per_second": -5, "mean_lifetime_seconds": 60}, "above 0"),
        ({"connects_per_second": float("nan"), "mean_lifetime_seconds": 60}, "above 0"),
        ({"connects_per_second": 1, "mean_lifetime_seconds": 0}, "seconds above 0"),
        ({"connects_per_second": 1, "mean_lifetime_seconds": 60, "ttl_share": 1.5}, "from 0 to 1"),
        ({"connects_per_second": 1, "mean_lifetime_seconds": 60, "ttl_share": -0.1}, "from 0 to 1"),
        ({"connects_per_second": 1, "mean_lifetime_seconds": 60, "max_per_client": -1}, "0 \\(unlimited\\)"),
    ],
)
def test_nonsense_is_refused_with_a_clear_message(arguments, message):
    with pytest.raises(CapacityError, match=message):
        Load(**arguments)


def test_the_command_line(capfd):
    assert capacity.main(["--connects-per-second", "100", "--mean-lifetime", "900", "--json"]) == 0
    printed = json.loads(capfd.readouterr().out)
    assert printed["open_connections"] == 90_000
    with pytest.raises(SystemExit) as refused:
        capacity.main(["--connects-per-second", "100", "--mean-lifetime", "900", "--ttl-share", "2"])
    assert refused.value.code == 2
    assert "from 0 to 1" in capfd.readouterr().err


@pytest.mark.parametrize(
    "load",
    [Load(10, 60), Load(100, 900, 0.05), Load(1_000, 900, 0.05, max_per_client=2), Load(10, 60, gauge=False)],
)
def test_the_capacity_figures_are_the_units_the_bill_counts(load):
    found = estimate(load)
    usage = capacity.usage_per_second(load)
    assert (
        found.connections_write_units + found.index_write_units + found.counters_write_units
        == pytest.approx(usage.dynamodb_write_units)
    )
    assert found.connections_read_units + found.counters_read_units == pytest.approx(
        usage.dynamodb_read_units
    )


@pytest.fixture
def template_with(monkeypatch):
    """The model on template.yaml changed by a function of its body."""

    def use(change):
        body = copy.deepcopy(load_template().body)
        change(body)
        monkeypatch.setattr(sam_template.model, "load_template", lambda: Template(body, load_template().path))
        capacity._facts.cache_clear()

    yield use
    capacity._facts.cache_clear()


def test_the_scans_and_the_cursor_follow_the_templates_schedules(template_with):
    load = Load(10, 60)
    before, invocations = estimate(load), capacity.usage_per_second(load).lambda_requests

    def slower(body):
        for name, every in (("SweeperFunction", "rate(10 minutes)"), ("ReconcileFunction", "rate(2 hours)")):
            (event,) = body["Resources"][name]["Properties"]["Events"].values()
            event["Properties"]["Schedule"] = every

    template_with(slower)
    after = estimate(load)
    assert after.connections_read_units == pytest.approx(before.connections_read_units / 2)
    assert after.counters_write_units == pytest.approx(before.counters_write_units - CURSOR / 2)
    assert capacity.usage_per_second(load).lambda_requests == pytest.approx(invocations - 1 / 600 - 1 / 7200)


def test_platform_lines_are_billed_for_each_function_its_logging_config_keeps_them(template_with):
    load = Load(10, 60)
    quiet = capacity.usage_per_second(load)

    def reconcile_keeps_them(body):
        body["Resources"]["ReconcileFunction"]["Properties"]["LoggingConfig"] = {"SystemLogLevel": "INFO"}

    template_with(reconcile_keeps_them)
    facts = capacity.template_facts(0)
    assert {name for name, kept in facts.platform_lines.items() if kept} == {"ReconcileFunction"}
    louder = capacity.usage_per_second(load)
    assert louder.log_bytes - quiet.log_bytes == pytest.approx(capacity.PLATFORM_LOG_BYTES / 3600)
    assert dataclasses.replace(louder, log_bytes=quiet.log_bytes) == quiet


def test_the_monthly_charge_counts_every_metric_of_the_catalogue():
    assert len(MetricName) == capacity.CUSTOM_METRICS


def test_the_model_bills_the_alarm_metrics_and_dashboards_the_meter_bills():
    monthly = Meter(load_template()).bill({})["monthly"]
    facts = capacity.template_facts(0)
    assert (facts.alarm_metrics, facts.dashboards) == (monthly["alarms"], monthly["dashboards"])
    assert monthly["alarms"] >= len(load_template().of_type("AWS::CloudWatch::Alarm")) > 0


def test_an_authorizer_adds_one_short_invocation_per_connect_and_nothing_else():
    plain, authorized = Load(10, 60), Load(10, 60, auth_mode="cognito")
    plain_usage, authorized_usage = capacity.usage_per_second(plain), capacity.usage_per_second(authorized)
    assert authorized_usage.lambda_requests == pytest.approx(plain_usage.lambda_requests + 10)
    assert authorized_usage.lambda_gb_seconds > plain_usage.lambda_gb_seconds
    assert authorized_usage.dynamodb_write_units == plain_usage.dynamodb_write_units
    assert authorized_usage.api_messages == plain_usage.api_messages  # API Gateway bills no authorizer call
    # the opened line's "authenticated": true, one of a connection's two records
    assert authorized_usage.log_bytes == pytest.approx(plain_usage.log_bytes + 20 * 21 / 2)
    assert estimate(authorized).concurrency["AuthorizerFunction"] == pytest.approx(
        10 * capacity.AUTHORIZER_SECONDS
    )
    assert estimate(plain).concurrency["AuthorizerFunction"] == 0


def test_the_tracker_with_an_authorizer_stays_within_its_goal_at_the_reference_mix():
    reference = {"connects_per_second": 100, "mean_lifetime_seconds": 900, "ttl_share": 0.05}
    plain = capacity.per_million_connections(Load(**reference))["tracker"]
    authorized = capacity.per_million_connections(Load(**reference, auth_mode="cognito"))["tracker"]
    assert plain <= 2.50
    assert plain < authorized <= 2.75


def test_an_unknown_auth_mode_is_refused():
    with pytest.raises(CapacityError, match="auth-mode"):
        Load(10, 60, auth_mode="iam")
