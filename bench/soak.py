"""Soak: the local stack under a steady load for a long time (``python -m bench soak``, 30 minutes;
not part of ``make test``, which runs a two-minute one).

Connections are opened at a steady rate and each held a moment (``local_stack.loadgen.steady``);
every interval reports connects per second, connect latency, the stream consumer's iterator age
(from the stack's status lines) and the resident memory of every process of the stack. At the
end, every accepted connection must be counted in ``ConnectionsOpened``.

``python -m bench soak [--minutes 30] [--rate R] [--json]``: without ``--rate``, the rate is 70% of
what this machine sustains in a one-minute probe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import print_table
from local_stack import aws
from local_stack.loadgen import SteadyPlan, steady
from local_stack.process import StackProcess
from local_stack.view import MetricsReader

PROBE_RATE = 100.0  # connections per second offered in the probe: more than this machine takes
HOLD_SECONDS = 2.0


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def resident_mb(pid: int) -> dict[str, float]:
    """Resident memory (MB) of the stack's process tree, by process (``pid name``)."""
    sizes = {}
    for process in _descendants(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss_kb = int(fields.get("VmRSS", "0 kB").split()[0])
        sizes[f"{process} {fields.get('Name', '?').strip()}"] = round(rss_kb / 1024, 1)
    return sizes


def _status_lines(stack: StackProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stack.printed() if line.startswith('{"event": "status"')]


def soak(stack: StackProcess, plan: SteadyPlan) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the steady load against a running stack; return the interval reports (with iterator age
    and memory) and the summary (with the ConnectionsOpened the stack counted)."""
    reports: list[dict[str, Any]] = []
    started = time.time()

    def on_report(report: dict[str, object]) -> None:
        statuses = _status_lines(stack)
        ages = [float(s["streamIteratorAgeSeconds"]) for s in statuses]
        memory = resident_mb(stack.process.pid)
        reports.append(
            {
                **report,
                "iteratorAgeMaxSeconds": max(ages, default=None),
                "residentMB": round(sum(memory.values()), 1),
                "residentByProcess": memory,
            }
        )

    result = asyncio.run(steady(plan, on_report))
    summary = result.summary()
    accepted = int(summary["accepted"])  # type: ignore[call-overload]
    reader = MetricsReader(aws.client("cloudwatch", stack.ready["awsEndpoint"]), since=started)
    deadline = time.monotonic() + 120
    opened = 0.0
    while time.monotonic() < deadline:
        opened = reader.totals()["ConnectionsOpened"]
        if opened >= accepted:
            break
        time.sleep(1)
    summary["connectionsOpenedCounted"] = opened
    summary["residentMBAtEnd"] = round(sum(resident_mb(stack.process.pid).values()), 1)
    return reports, summary


def start_stack(scratch: Path) -> StackProcess:
    # records live 10 minutes, not 24 h: the consumer is seconds behind, and anything trimmed before
    # delivery would be reported (streamDelivery.trimmed); 24 h of records would be the soak's memory
    stack = StackProcess(scratch / "functions.log", "--interval", "2", "--stream-retention", "600")
    stack.wait_ready()
    return stack


def probe_rate(stack: StackProcess, seconds: float = 60.0) -> float:
    """Connections per second this machine sustains through the stack (offered more than it takes)."""
    plan = SteadyPlan(stack.url, PROBE_RATE, seconds, HOLD_SECONDS, "probe", report_every=seconds)
    result = asyncio.run(steady(plan))
    return float(result.summary()["accepted"]) / seconds  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, help="connections per second (default: 70%% of a probe)")
    parser.add_argument("--json", action="store_true", help="one JSON line per interval and a summary")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        stack = start_stack(Path(scratch))
        try:
            rate = args.rate or round(0.7 * probe_rate(stack), 1)
            print(
                f"soak: {rate} connections/s for {args.minutes:g} minutes, each held {HOLD_SECONDS:g} s",
                flush=True,
            )
            plan = SteadyPlan(stack.url, rate, args.minutes * 60, HOLD_SECONDS, "soak", report_every=60.0)
            reports, summary = soak(stack, plan)
        finally:
            stack.stop(timeout=120)
    if args.json:
        for report in reports:
            print(json.dumps({"event": "interval", **report}))
        print(
            json.dumps(
                {"event": "summary", "rate": rate, **{k: v for k, v in summary.items() if k != "intervals"}}
            )
        )
        return 0
    print_table(
        f"soak: {rate} connections/s, {args.minutes:g} minutes",
        [
            (
                f"minute {index + 1}",
                f"{r['connectsPerSecond']}/s, p99 {r['connectLatencyMs']['p99']} ms, "
                f"iterator age max {r['iteratorAgeMaxSeconds']} s, {r['residentMB']} MB",
            )
            for index, r in enumerate(reports)
        ]
        + [
            (
                "accepted / ConnectionsOpened counted",
                f"{summary['accepted']} / {summary['connectionsOpenedCounted']:.0f}",
            ),
            ("resident memory at the end", f"{summary['residentMBAtEnd']} MB"),
        ],
    )
    return 0
