"""A query run over log events: the commands applied in order, the results shaped as
GetQueryResults answers them, and the bytes scanned counted for the bill."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from local_stack.logs.insights.commands import Results
from local_stack.logs.insights.parser import Query, parse
from local_stack.logs.insights.values import Row, event_row, shown

if TYPE_CHECKING:
    from collections.abc import Iterable

    from local_stack.logs.insights.values import LogEvent


class ScanCounter:
    """Bytes scanned by queries (Logs Insights bills per GB scanned: "Amazon CloudWatch Pricing",
    Logs, Analyze (Logs Insights queries)); the cost meter reads a logs service's own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.queries = 0

    def add(self, scanned: int) -> None:
        with self._lock:
            self.bytes += scanned
            self.queries += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"bytesScanned": self.bytes, "queries": self.queries}


@dataclass
class Result:
    rows: list[list[dict[str, str]]]  # GetQueryResults' ``results``: [{field, value}] per row
    records_matched: int
    records_scanned: int
    bytes_scanned: int
    columns: list[str] = field(default_factory=list)


# StartQuery's ``limit``: "The default is 10,000." (CloudWatch Logs API reference, StartQuery)
DEFAULT_LIMIT = 10_000


def run(
    query: str | Query,
    events: Iterable[LogEvent],
    *,
    limit: int | None = None,
    counter: ScanCounter | None = None,
) -> Result:
    """Run a query over log events (already narrowed to the query's log groups and time range);
    the bytes it scans are added to ``counter`` when one is given."""
    parsed = parse(query) if isinstance(query, str) else query
    rows: list[Row] = []
    scanned = scanned_bytes = 0
    for event in events:
        scanned += 1
        scanned_bytes += len(event.message.encode("utf-8"))
        rows.append(event_row(event))
    if counter is not None:
        counter.add(scanned_bytes)
    # results come newest first when nothing sorts them (the dedup documentation's default order)
    rows.sort(key=lambda r: r["@timestamp"], reverse=True)
    results = Results(rows, limit or DEFAULT_LIMIT)
    for command in parsed.commands:
        command.apply(results)
    matched = results.matched if results.aggregated else len(results.rows)
    columns = results.display or results.fields or ["@timestamp", "@message"]
    if not results.aggregated and "@ptr" not in columns:
        columns = [*columns, "@ptr"]
    shaped = [
        [{"field": name, "value": shown(row[name])} for name in columns if row.get(name) is not None]
        for row in results.rows[: results.limit]
    ]
    return Result(shaped, matched, scanned, scanned_bytes, [c for c in columns if c != "@ptr"])
