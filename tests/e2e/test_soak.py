"""A short soak (one minute, 900 connection lifecycles) through the local stack: its throughput
must not sag and its memory must not grow; every accepted connection is counted. This is the guard
`make test` keeps; the 30-minute version is ``python -m bench soak`` (docs/benchmarks.md).

It shares the machine with the rest of the suite (pytest-xdist), so its rate is one the stack
keeps with room to spare, and it runs alone in its xdist group."""

from __future__ import annotations

import pytest

from bench.soak import soak
from local_stack.harness.loadgen import SteadyPlan
from tests.e2e.conftest import start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("soak")]

RATE, SECONDS, HOLD, INTERVAL = 15.0, 60.0, 1.0, 15.0  # 900 lifecycles
# over the run, for the processes of the tree alive at its first and last report: environments that
# start on demand meanwhile (more of them when the machine is busy and invocations take longer) are
# new processes, not growth
MEMORY_GROWTH_MB = 150
# moto's own growth after the first interval, with stream records kept 10 s (so the stream is full
# by then): shard iterators (15 minutes) and the emulated CloudWatch Logs' events (bounded), a few MB;
# moto keeping every object it made grew it by ~20 MB over 90 s at 20/s
STREAM_RETENTION_SECONDS = 10
EMULATION_GROWTH_MB = 12


def test_a_minute_of_steady_load_neither_slows_down_nor_grows(tmp_path):
    stack = start_stack(tmp_path, "--stream-retention", str(STREAM_RETENTION_SECONDS))
    try:
        reports, summary = soak(
            stack, SteadyPlan(stack.url, RATE, SECONDS, HOLD, "soak", report_every=INTERVAL)
        )
    finally:
        stack.stop(timeout=60)

    assert len(reports) >= SECONDS / INTERVAL
    first, last = reports[0], reports[int(SECONDS / INTERVAL) - 1]
    assert last["connectsPerSecond"] >= 0.7 * first["connectsPerSecond"], reports
    assert first["connectsPerSecond"] >= 0.9 * RATE, "the stack did not even keep up at the start"
    before, after = first["residentByProcess"], last["residentByProcess"]
    kept = before.keys() & after.keys()  # the gateway, moto, the environments that were already there
    assert len(kept) >= 2
    grown = {process: after[process] - before[process] for process in kept}
    assert sum(grown.values()) < MEMORY_GROWTH_MB, grown
    assert last["emulationMB"] - first["emulationMB"] < EMULATION_GROWTH_MB, [
        r["emulationMB"] for r in reports
    ]
    assert max(r["iteratorAgeMaxSeconds"] or 0 for r in reports) < 10
    assert summary["accepted"] == RATE * SECONDS
    assert summary["connectionsOpenedCounted"] == summary["accepted"]
