"""The one place where a function gets its Logger and Metrics (powertools).

The service name and namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` with the product's defaults; the only metric dimension is
``service``. Tracer is not used: its import (aws-xray-sdk) costs more cold start than the
two DynamoDB calls it would trace are worth (see docs/benchmarks.md, "Cold start").
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from pydantic_core import to_json

from connection_tracker.catalogue import CATALOGUE, NAMESPACE, SERVICE, MetricName

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class _Stdout:
    """``sys.stdout`` as it is at each write: log lines and EMF documents (``print``) share one
    stream even where a host redirects it (the local stack, the tests); on Lambda it never moves."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE, stream=_Stdout())  # type: ignore[arg-type]
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE,
)


def emit(name: MetricName, value: float = 1) -> None:
    """Add a value of a metric of the catalogue to this invocation's metrics, with the catalogue's
    unit: a count (summed with the invocation's other values) or a level (the gauge)."""
    metrics.add_metric(name=name, unit=CATALOGUE[name].unit, value=value)


# CloudWatch takes at most 100 values per metric in one EMF document.
EMF_MAX_VALUES = 100


def publish_distributions(values: Mapping[MetricName, Sequence[float]]) -> int:
    """Emit value distributions as EMF documents of at most 100 values per metric.

    The i-th document carries the i-th hundred values of every metric, so a batch costs
    ``ceil(largest / 100)`` documents. Serialised by powertools (``serialize_metric_set``):
    ``add_metric`` per value would cost O(values) per call here, 10,000 values at a time.
    Returns the number of documents printed.
    """
    largest = max((len(series) for series in values.values()), default=0)
    documents = 0
    for start in range(0, largest, EMF_MAX_VALUES):
        chunk = {
            str(name): {
                "Unit": CATALOGUE[name].unit.value,
                "StorageResolution": 60,
                "Value": list(series[start : start + EMF_MAX_VALUES]),
            }
            for name, series in values.items()
            if len(series) > start
        }
        document = metrics.serialize_metric_set(
            metrics=chunk, dimensions=metrics.dimension_set, metadata=metrics.metadata_set
        )
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")  # where powertools prints
        documents += 1
    return documents


def _dumps(value: object) -> str:
    # pydantic-core's encoder: compact JSON, as the Logger writes it, ~5x faster than json.dumps here
    return to_json(value, fallback=str).decode()


# Lambda-context keys the Logger adds that the line's log group and stream already say (the
# function, its version and memory) or that no query reads: ~150 bytes a connection event.
REPEATED_BY_CLOUDWATCH = frozenset({"function_arn", "function_memory_size", "cold_start"})


class EventLog:
    """One structured line per connection event, in the powertools Logger's JSON shape.

    Measured on the 10,000-record benchmark, ``logger.info`` costs ~90 us a line, more than the
    whole per-record budget; these lines are built from the Logger's own keys (service, Lambda
    context, correlation id) and written in one write per batch. See docs/benchmarks.md, "Stream consumer".
    """

    def __init__(self, location: str) -> None:
        self._location = location
        self._lines: list[str] = []
        self._encoded_keys: str | None = None

    def add(self, message: str, fields: Mapping[str, object]) -> None:
        if logger.log_level > logging.INFO:
            return
        # The Logger's keys are encoded once per batch; each line encodes only its own fields.
        self._lines.append(f"{self._prefix()}{_dumps({'message': message, **fields})[1:]}")

    def _prefix(self) -> str:
        if self._encoded_keys is None:  # the Logger's keys as they are once the batch has started
            keys = logger.get_current_keys()
            base = {
                **{
                    name: value
                    for name, value in keys.items()
                    if value is not None and name != "message" and name not in REPEATED_BY_CLOUDWATCH
                },
                "level": "INFO",
                "location": self._location,
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3] + "+0000",
            }
            self._encoded_keys = _dumps(base)[:-1] + ","
        return self._encoded_keys

    def flush(self) -> int:
        """Write the lines gathered so far; return how many."""
        written = len(self._lines)
        if written:
            sys.stdout.write("\n".join(self._lines) + "\n")
            self._lines.clear()
        return written
