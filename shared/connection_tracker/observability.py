"""The one place where a function gets its Logger and Metrics (powertools).

The service name and namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` with the product's defaults; the only metric dimension is
``service``. Tracer is not used: its import (aws-xray-sdk) costs more cold start than the
two DynamoDB calls it would trace are worth (see README, "Benchmarks").
"""

from __future__ import annotations

import os
import sys

from aws_lambda_powertools import Logger, Metrics

from connection_tracker.catalogue import CATALOGUE, NAMESPACE, SERVICE, MetricName


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


def count(name: MetricName, value: float = 1) -> None:
    """Add ``value`` to a metric of the catalogue, with the catalogue's unit."""
    metrics.add_metric(name=name, unit=CATALOGUE[name].unit, value=value)
