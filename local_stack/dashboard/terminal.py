"""The live view: what a dashboard of the stack would show, from the data points the stack puts
into the emulated CloudWatch (its metric store; ``MetricsReader`` reads the same from the emulated
endpoint, for tests that check what CloudWatch holds)."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connection_tracker.catalogue import DIMENSION, NAMESPACE, SERVICE, MetricName
from local_stack.cloudwatch.store import metric_key
from local_stack.cloudwatch.store import percentiles as store_percentiles
from local_stack.dashboard import figures

if TYPE_CHECKING:
    from collections.abc import Sequence

    from local_stack.cloudwatch.store import MetricStore

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0}

COUNTS = (
    MetricName.CONNECT_ACCEPTED,
    MetricName.CONNECT_REJECTED,
    MetricName.CONNECT_FAILED,
    MetricName.DISCONNECT_HANDLED,
    MetricName.CONNECTIONS_OPENED,
    MetricName.CONNECTIONS_CLOSED,
    MetricName.CONNECTIONS_EXPIRED,
    MetricName.STREAM_RECORDS_FAILED,
)


class MetricsReader:
    def __init__(self, cloudwatch: Any, since: float) -> None:  # noqa: ANN401
        self._cloudwatch = cloudwatch
        self._since = datetime.fromtimestamp(since, tz=UTC) - timedelta(minutes=1)

    def _sum(self, name: MetricName, start: datetime, end: datetime) -> float:
        period = max(60, int((end - start).total_seconds()) // 60 * 60 + 60)
        points = self._cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=str(name),
            Dimensions=[{"Name": DIMENSION, "Value": SERVICE}],
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=["Sum"],
        )["Datapoints"]
        return float(sum(point["Sum"] for point in points))

    def totals(self) -> dict[str, float]:
        end = datetime.now(tz=UTC) + timedelta(minutes=1)
        return {str(name): self._sum(name, self._since, end) for name in COUNTS}

    def last_minute(self) -> dict[str, float]:
        end = datetime.now(tz=UTC)
        return {
            str(name): self._sum(name, end - timedelta(seconds=60), end + timedelta(seconds=1))
            for name in COUNTS
        }

    def latest(self, name: MetricName) -> float | None:
        """The gauge's last value: the newest one-second datapoint (CloudWatch keeps one-second
        resolution for three hours; a dashboard's one-minute Maximum lags a falling gauge)."""
        end = datetime.now(tz=UTC) + timedelta(seconds=1)
        points = self._cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=str(name),
            Dimensions=[{"Name": DIMENSION, "Value": SERVICE}],
            StartTime=max(self._since, end - timedelta(hours=3)),
            EndTime=end,
            Period=1,
            Statistics=["Maximum"],
        )["Datapoints"]
        return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None


class StoreReader:
    """The live view's figures from the stack's metric store (the data points it put into the
    emulated CloudWatch), not by querying moto every second: :class:`MetricsReader`'s answers,
    without its load on the emulated endpoint. Totals are since the stack started (the store's
    running totals: the same cost at any point of a long run)."""

    def __init__(self, store: MetricStore) -> None:
        self._store = store

    @staticmethod
    def _key(name: MetricName) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return metric_key(NAMESPACE, str(name), [(DIMENSION, SERVICE)])

    def _sum(self, name: MetricName, start: float, end: float) -> float:
        return sum(self._store.series(self._key(name), "Sum", end - start, [start]).values())

    def totals(self) -> dict[str, float]:
        return {str(name): self._store.total(self._key(name)) for name in COUNTS}

    def last_minute(self) -> dict[str, float]:
        end = time.time()
        return {str(name): self._sum(name, end - 60, end + 1) for name in COUNTS}

    def latest(self, name: MetricName) -> float | None:
        return self._store.latest_maximum(self._key(name))


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p90 and p99 as CloudWatch (and the dashboard and the alarms) compute them."""
    if not values:
        return dict.fromkeys(PERCENTILES)
    return dict(zip(PERCENTILES, store_percentiles(values, list(PERCENTILES.values())), strict=True))


def status(stack: Any) -> dict[str, Any]:  # noqa: ANN401 - a running LocalStack
    """What is true of the running application: its sockets at the gateway, its functions, its
    stream deliveries (with a stream), its alarms and the bill; with the tracker's metric
    catalogue, the tracker's own figures too (active connections, connects by outcome, ...)."""
    sockets = figures.gateway(stack)
    state: dict[str, Any] = {
        "time": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "socketsOpen": sockets.pop("socketsOpen"),
        "gateway": sockets,
        "functions": figures.functions(stack.template, stack.store),
    }
    if figures.has_catalogue(stack.template, stack.store):
        state.update(_tracker(stack))
    if stack.pollers:
        state.update(
            {
                "streamIteratorAgeSeconds": round(max(p.iterator_age for p in stack.pollers), 3),
                "streamRecordsDelivered": sum(p.delivered["records"] for p in stack.pollers),
                # per event source mapping: records, batches, filtered, retries, dead_lettered
                "streamDelivery": {p.function: dict(p.delivered) for p in stack.pollers},
                # the shards all mappings read: still open, and closed and drained
                "streamShards": {
                    "open": sum(p.delivered["shards_open"] for p in stack.pollers),
                    "closed": sum(p.delivered["shards_closed"] for p in stack.pollers),
                },
            }
        )
    state["alarms"] = stack.alarms.states()  # the template's alarms, as the emulated CloudWatch has them
    # $connect's authorizer: handshakes allowed, unauthorized (401), denied (403), failed (500)
    authorizer = stack.gateway.authorizer
    state["authorizer"] = dict(authorizer.counts) if authorizer is not None else None
    state["cost"] = cost(stack.meter.bill())
    return state


def _tracker(stack: Any) -> dict[str, Any]:  # noqa: ANN401 - a running LocalStack
    """The tracker's own figures, from its metric catalogue."""
    totals = stack.reader.totals()
    minute = stack.reader.last_minute()
    opened = totals[MetricName.CONNECTIONS_OPENED]
    gone = totals[MetricName.CONNECTIONS_CLOSED] + totals[MetricName.CONNECTIONS_EXPIRED]
    gauge = stack.reader.latest(MetricName.ACTIVE_CONNECTIONS)
    return {
        "active": gauge if gauge is not None else opened - gone,
        "perMinute": {
            "opened": minute[MetricName.CONNECTIONS_OPENED],
            "closed": minute[MetricName.CONNECTIONS_CLOSED],
            "expired": minute[MetricName.CONNECTIONS_EXPIRED],
        },
        "connect": {
            "accepted": totals[MetricName.CONNECT_ACCEPTED],
            "rejected": totals[MetricName.CONNECT_REJECTED],
            "failed": totals[MetricName.CONNECT_FAILED],
        },
        "totals": totals,
        "lifetimeSeconds": percentiles(stack.distribution(MetricName.CONNECTION_LIFETIME)),
        "expiryLagSeconds": percentiles(stack.distribution(MetricName.EXPIRY_LAG)),
    }


def cost(bill: dict[str, Any]) -> dict[str, float]:
    """The bill so far, in the status line: dollars and per million connections (all services;
    the tracker's own, without API Gateway, beside)."""
    per = bill["perMillionConnections"]
    return {
        "dollars": bill["dollars"]["total"],
        "perMillionConnections": per["total"],
        "trackerPerMillionConnections": per["tracker"],
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _tracker_lines(state: dict[str, Any]) -> list[str]:
    if "active" not in state:
        return []
    life, lag = state["lifetimeSeconds"], state["expiryLagSeconds"]
    return [
        f"active connections      {state['active']:>10,.0f}   (sockets open {state['socketsOpen']:,})",
        "per minute              opened {opened:>6,.0f}   closed {closed:>6,.0f}   "
        "expired {expired:>6,.0f}".format(**state["perMinute"]),
        "connects (total)        accepted {accepted:>6,.0f}   rejected {rejected:>6,.0f}   "
        "failed {failed:>6,.0f}".format(**state["connect"]),
        f"lifetime (s)            p50 {_fmt(life['p50'])}   p90 {_fmt(life['p90'])}   "
        f"p99 {_fmt(life['p99'])}",
        f"expiry lag (s)          p50 {_fmt(lag['p50'])}   p99 {_fmt(lag['p99'])}",
    ]


def _application_lines(state: dict[str, Any]) -> list[str]:
    """The gateway's and the functions' figures: true of any application."""
    sockets = state["gateway"]
    lines = [
        f"gateway (total)         sockets open {state['socketsOpen']:,}   connects {sockets['connects']:,} "
        f"(refused {sockets['refused']:,})   messages {sockets['messages']:,.0f}   "
        f"disconnects {sockets['disconnects']:,}",
        f"{'function':<36}{'invocations':>12}{'errors':>8}{'throttles':>10}   duration p50 / p99 (ms, 5 min)",
    ]
    for name, function in sorted(state["functions"].items()):
        duration = function["durationMs"]
        lines.append(
            f"  {name:<34}{function['invocations']:>12,.0f}{function['errors']:>8,.0f}"
            f"{function['throttles']:>10,.0f}   {_fmt(duration['p50'])} / {_fmt(duration['p99'])}"
        )
    if "streamIteratorAgeSeconds" in state:
        lines.append(
            f"stream                  iterator age {state['streamIteratorAgeSeconds']:.1f} s, "
            f"{state['streamRecordsDelivered']:,} records delivered"
        )
        lines.append(
            "stream shards           open {open}   closed {closed}".format_map(state["streamShards"])
        )
    return lines


def render(state: dict[str, Any], described: dict[str, Any]) -> str:
    tracker = "active" in state
    own = "the tracker's own" if tracker else "without API Gateway"
    lines = [
        f"local stack    {state['time']}",
        f"template           {described['template']}",
        f"WebSocket URL      {described['url']}",
        f"@connections       {described['managementUrl']}  (handlers: {described['connectionsUrl']})",
        f"AWS endpoint       {described['awsEndpoint']}  (any boto3 client: endpoint_url=...)",
        f"dashboard          {described['dashboardUrl'] or '(the template has none)'}",
        f"functions' log     {described['log']}",
        *(f"notice             {notice}" for notice in described["notices"]),
        "",
        *_tracker_lines(state),
        *_application_lines(state),
        f"cost so far             ${state['cost']['dollars']:.6f}   "
        f"${state['cost']['perMillionConnections']:,.2f} per million connections "
        f"({own} ${state['cost']['trackerPerMillionConnections']:,.2f})",
        "",
        f"alarms                  periods x {described['alarmTimeScale']:g}, "
        f"notifying {described['alarmTopicArn'] or '(no alarm action)'}",
        *(f"  {alarm_state:<17} {name}" for name, alarm_state in sorted(state["alarms"].items())),
        *([] if state["alarms"] else ["  (the template has none)"]),
        "",
        "Ctrl-C stops the stack.",
    ]
    return "\n".join(lines)


def show(state: dict[str, Any], described: dict[str, Any], *, headless: bool) -> None:
    out = sys.__stdout__ or sys.stdout  # handlers' output is redirected; the view is not
    if headless:
        out.write(json.dumps({"event": "status", **state}, default=str) + "\n")
    else:
        clear = "\x1b[H\x1b[2J" if out.isatty() else "\n"
        out.write(clear + render(state, described) + "\n")
    out.flush()
