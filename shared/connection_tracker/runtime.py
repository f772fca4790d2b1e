"""What a function builds once per execution environment: validated settings and its table client.

Built on the first invocation rather than at import, so a bad configuration is answered (500,
logged, counted) instead of crashing the init phase, and importing a handler stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from connection_tracker.counters import CountersTable
from connection_tracker.gauge import ActiveConnectionsGauge
from connection_tracker.observability import logger
from connection_tracker.settings import Settings, load_settings
from connection_tracker.store import ConnectionStore, dynamodb_client


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    store: ConnectionStore
    counters: CountersTable | None  # with COUNTERS_TABLE only
    gauge: ActiveConnectionsGauge | None  # with COUNTERS_TABLE only


@cache
def runtime() -> Runtime:
    """Settings and store of this cold start; raises ``ConfigurationError`` (not cached) when bad."""
    settings = load_settings(os.environ)
    for warning in settings.warnings():
        logger.warning(warning, extra={"configuration": "TTL_HOURS"})
    client = dynamodb_client()
    counters = CountersTable(client, settings.counters_table) if settings.counters_table else None
    return Runtime(
        settings=settings,
        store=ConnectionStore(client, settings.connections_table),
        counters=counters,
        gauge=ActiveConnectionsGauge(counters, settings.stream_max_record_age_seconds) if counters else None,
    )


def response(status_code: int, body: str) -> dict[str, object]:
    """A Lambda proxy response as API Gateway expects it."""
    return {"statusCode": status_code, "body": body}
