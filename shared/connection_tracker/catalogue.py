"""The metric catalogue: every metric the product emits, its unit and its emitter.

Code, the template checks and the tests all use these names; nothing spells a metric name twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "ConnectionTracker"
SERVICE = "connection-tracker"
DIMENSION = "service"


class MetricName(StrEnum):
    CONNECT_ACCEPTED = "ConnectAccepted"
    CONNECT_REJECTED = "ConnectRejected"
    CONNECT_FAILED = "ConnectFailed"
    DISCONNECT_HANDLED = "DisconnectHandled"
    DISCONNECT_FAILED = "DisconnectFailed"
    CONNECTIONS_OPENED = "ConnectionsOpened"
    CONNECTIONS_EXPIRED = "ConnectionsExpired"
    CONNECTIONS_CLOSED = "ConnectionsClosed"
    CONNECTION_LIFETIME = "ConnectionLifetime"
    EXPIRY_LAG = "ExpiryLag"
    ACTIVE_CONNECTIONS = "ActiveConnections"
    STREAM_RECORDS_FAILED = "StreamRecordsFailed"
    # maintenance: the gauge's reconciliation, the sweeper's removals, the per-client limit's closes
    ACTIVE_CONNECTIONS_DRIFT = "ActiveConnectionsDrift"
    STALE_CONNECTIONS_SWEPT = "StaleConnectionsSwept"
    GONE_CONNECTIONS_SWEPT = "GoneConnectionsSwept"
    DUPLICATE_CONNECTIONS_CLOSED = "DuplicateConnectionsClosed"
    # identity: tokens the $connect authorizer refused (the reason is in its log line)
    CONNECT_UNAUTHORIZED = "ConnectUnauthorized"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: MetricName
    unit: MetricUnit
    emitter: str
    meaning: str


CATALOGUE: dict[MetricName, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(MetricName.CONNECT_ACCEPTED, MetricUnit.Count, "connect", "item written, 200"),
        MetricSpec(MetricName.CONNECT_REJECTED, MetricUnit.Count, "connect", "bad input, 400"),
        MetricSpec(MetricName.CONNECT_FAILED, MetricUnit.Count, "connect", "server-side failure, 500"),
        MetricSpec(
            MetricName.DISCONNECT_HANDLED, MetricUnit.Count, "disconnect", "item removed on $disconnect"
        ),
        MetricSpec(
            MetricName.DISCONNECT_FAILED,
            MetricUnit.Count,
            "disconnect",
            "server-side failure removing the item (it expires by TTL)",
        ),
        MetricSpec(MetricName.CONNECTIONS_OPENED, MetricUnit.Count, "stream_metrics", "INSERT records"),
        MetricSpec(
            MetricName.CONNECTIONS_EXPIRED, MetricUnit.Count, "stream_metrics", "REMOVE by the TTL service"
        ),
        MetricSpec(MetricName.CONNECTIONS_CLOSED, MetricUnit.Count, "stream_metrics", "any other REMOVE"),
        MetricSpec(
            MetricName.CONNECTION_LIFETIME, MetricUnit.Seconds, "stream_metrics", "removal time - createdAt"
        ),
        MetricSpec(MetricName.EXPIRY_LAG, MetricUnit.Seconds, "stream_metrics", "TTL removal time - ttl"),
        MetricSpec(MetricName.ACTIVE_CONNECTIONS, MetricUnit.Count, "stream_metrics", "live items (gauge)"),
        MetricSpec(
            MetricName.STREAM_RECORDS_FAILED,
            MetricUnit.Count,
            "stream_metrics",
            "malformed records set aside",
        ),
        MetricSpec(
            MetricName.ACTIVE_CONNECTIONS_DRIFT,
            MetricUnit.Count,
            "reconcile",
            "live items - gauge, corrected",
        ),
        MetricSpec(
            MetricName.STALE_CONNECTIONS_SWEPT, MetricUnit.Count, "sweeper", "items older than 2 h removed"
        ),
        MetricSpec(
            MetricName.GONE_CONNECTIONS_SWEPT,
            MetricUnit.Count,
            "sweeper",
            "items of gone connections removed",
        ),
        MetricSpec(
            MetricName.DUPLICATE_CONNECTIONS_CLOSED,
            MetricUnit.Count,
            "connect",
            "oldest over the per-client limit, closed (or found gone) by `@connections` DELETE",
        ),
        MetricSpec(
            MetricName.CONNECT_UNAUTHORIZED,
            MetricUnit.Count,
            "authorizer",
            "token refused, 401 or 403 (reason in the log line)",
        ),
    )
}
