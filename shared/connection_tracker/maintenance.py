"""Keeping the table true to what API Gateway holds: the stale-connection sweep and per-client
de-duplication. Both only ever remove a connection by its own connectionId."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from connection_tracker.connections_api import ConnectionsApiError
from connection_tracker.observability import logger
from connection_tracker.settings import API_GATEWAY_MAX_CONNECTION_HOURS
from connection_tracker.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

    from connection_tracker.connections_api import ConnectionsApi
    from connection_tracker.store import ConnectionStore

MAX_AGE_MS = int(API_GATEWAY_MAX_CONNECTION_HOURS * 3600 * 1000)


@dataclass
class SweepResult:
    scanned: int = 0
    stale: int = 0
    gone: int = 0
    probe_errors: int = 0
    finished: bool = False
    cursor: str | None = None
    stopped_by: str | None = None  # the table's failure that ended the run early


def sweep(
    store: ConnectionStore,
    api: ConnectionsApi,
    *,
    now_ms: int,
    start_key: str | None,
    time_left_ms: Callable[[], int],
    reserve_ms: int = 5_000,
) -> SweepResult:
    """Remove items of connections API Gateway no longer holds, page by page, until the table ends,
    the time left falls under ``reserve_ms`` (checked before each page and each connection) or the
    table fails; the result's ``cursor`` (the last connection finished) continues next run.

    Older than 2 hours: stale by definition (API Gateway closes every connection by then).
    Younger: probed with ``@connections`` GET and removed on ``GoneException``.
    """
    result = SweepResult(cursor=start_key)
    while time_left_ms() > reserve_ms:
        try:
            page, next_key = store.scan_page(result.cursor)
        except StoreError as exc:
            result.stopped_by = f"{exc.operation}: {exc.code}"
            return result
        for connection_id, created_at in page:
            if time_left_ms() <= reserve_ms:
                return result
            try:
                _sweep_one(store, api, (connection_id, created_at), now_ms=now_ms, result=result)
            except StoreError as exc:  # DynamoDB failed or is too slow for the time left
                result.stopped_by = f"{exc.operation}: {exc.code}"
                return result
            result.cursor = connection_id  # finished: a scan may start after any key
        result.cursor = next_key
        if next_key is None:
            result.finished = True
            break
    return result


def _sweep_one(
    store: ConnectionStore,
    api: ConnectionsApi,
    connection: tuple[str, int | None],
    *,
    now_ms: int,
    result: SweepResult,
) -> None:
    connection_id, created_at = connection
    result.scanned += 1
    if created_at is not None and now_ms - created_at > MAX_AGE_MS:
        reason = "stale"
    else:
        try:
            if api.is_connected(connection_id):
                return
        except ConnectionsApiError as exc:
            result.probe_errors += 1
            logger.warning("probe failed", extra={"connectionId": connection_id, "error": str(exc)})
            return
        reason = "gone"
    if store.delete(connection_id) is not None:
        setattr(result, reason, getattr(result, reason) + 1)
        logger.info("connection swept", extra={"connectionId": connection_id, "reason": reason})


def close_oldest_beyond(
    store: ConnectionStore, api: ConnectionsApi, *, client_id: str, new_connection_id: str, limit: int
) -> list[str]:
    """Close the oldest connections of ``client_id`` so that it holds at most ``limit``, the new
    one included. Never another client's (the index is queried by this clientId), never the new
    connection (excluded by id, even where the index does not show it yet).

    Returns the connections closed: those ``@connections`` DELETE closed or found already gone
    (``GoneException``). Only their items are deleted. A DELETE that failed otherwise leaves the
    connection open, so its item stays (the table keeps saying what API Gateway holds): its own
    ``$disconnect`` or the sweeper removes it later."""
    others = [cid for cid, _ in store.client_connections(client_id) if cid != new_connection_id]
    excess = len(others) + 1 - limit
    closed = []
    for connection_id in others[: max(0, excess)]:
        try:
            api.close(connection_id)  # True: closed; False: already gone
        except ConnectionsApiError as exc:
            logger.warning(
                "closing a duplicate failed", extra={"connectionId": connection_id, "error": str(exc)}
            )
            continue
        store.delete(connection_id)  # $disconnect would too, but it is best-effort
        closed.append(connection_id)
    return closed
