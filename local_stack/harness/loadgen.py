"""Load generator against any WebSocket endpoint (the local stack's or a deployed stage's).

- burst: N clients, ``--concurrency`` of them connecting at once (``LoadPlan``);
- steady: ``--rate R --duration D --hold H`` opens R connections per second for D seconds, each
  held H seconds, and reports every ``--report-every`` seconds (``SteadyPlan``): for soaks.

Against an API whose ``$connect`` has an authorizer, ``--tokens-file F`` or ``--token-command CMD``
(run once; e.g. a loop over ``python -m local_stack token --user ...``) gives tokens, one a line:
client n sends token n modulo their number as ``?token=``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@dataclass(frozen=True)
class LoadPlan:
    url: str
    clients: int = 100
    concurrency: int = 100
    hold: float = 1.0
    client_prefix: str = "load"
    invalid: float = 0.0
    abrupt: float = 0.0
    together: bool = False  # hold every connection until all clients have connected
    tokens: tuple[str, ...] = ()  # sent as ?token=, client n the (n mod len)th


@dataclass
class Outcomes:
    """What happened to the clients of a run (or of one interval of it)."""

    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # by HTTP status
    errors: Counter[str] = field(default_factory=Counter)  # by exception type
    latencies: list[float] = field(default_factory=list)  # seconds to an accepted handshake


@dataclass
class LoadResult(Outcomes):
    first_connect: float = 0.0
    last_connect: float = 0.0
    elapsed: float = 0.0

    def summary(self) -> dict[str, object]:
        window = self.last_connect - self.first_connect
        return {
            "accepted": self.accepted,
            "refused": {str(status): n for status, n in sorted(self.refused.items())},
            "errors": dict(self.errors),
            "connectLatencyMs": _percentiles_ms(self.latencies),
            "connectsPerSecond": round(self.accepted / window, 1) if window > 0 else None,
            "elapsedSeconds": round(self.elapsed, 3),
        }


@functools.cache
def _proxy(base: str) -> str | None:
    """The proxy the system configuration names for the stack's URL (websockets' own rule), looked
    up once a run: websockets looks it up on every connect, reading the whole environment twice (a
    fifth of the load generator's CPU at 1,000 clients)."""
    return get_proxy(parse_uri(base))


def _url(base: str, client_id: str, tokens: tuple[str, ...] = (), index: int = 0) -> str:
    separator = "&" if "?" in base else "?"
    query = {"clientId": client_id}
    if tokens:
        query["token"] = tokens[index % len(tokens)]
    return f"{base}{separator}{urlencode(query)}"


def load_tokens(command: str | None = None, path: Path | None = None) -> tuple[str, ...]:
    """Tokens, one a line, from a file or from what a command prints (run once, no shell);
    none when neither is given. ValueError when the source gives none."""
    if command is None and path is None:
        return ()
    if command is not None:
        text = subprocess.run(  # noqa: S603 - the user's own command, as they typed it
            shlex.split(command), capture_output=True, text=True, check=True, timeout=300
        ).stdout
    else:
        assert path is not None
        text = path.read_text(encoding="utf-8")
    tokens = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not tokens:
        raise ValueError("the token source gave no token")
    return tokens


def _percentiles_ms(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p90": None, "p99": None}
    if len(latencies) == 1:
        only = round(latencies[0] * 1e3, 2)
        return {"p50": only, "p90": only, "p99": only}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": round(cuts[49] * 1e3, 2), "p90": round(cuts[89] * 1e3, 2), "p99": round(cuts[98] * 1e3, 2)}


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty():  # a pipe or a file gets the summary only
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _client(
    index: int, plan: LoadPlan, result: LoadResult, gate: asyncio.Semaphore, everyone: _Countdown
) -> None:
    invalid = index < round(plan.clients * plan.invalid)
    abrupt = not invalid and index % max(1, round(1 / plan.abrupt)) == 0 if plan.abrupt else False
    client_id = "bad id!" if invalid else f"{plan.client_prefix}-{index}"
    async with gate:
        start = time.perf_counter()
        try:
            socket = await connect(
                _url(plan.url, client_id, plan.tokens, index),
                open_timeout=60,
                ping_interval=None,
                proxy=_proxy(plan.url),
            )
        except InvalidStatus as exc:
            result.refused[exc.response.status_code] += 1
            everyone.done()
            return
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            result.errors[type(exc).__name__] += 1
            everyone.done()
            return
        now = time.perf_counter()
        result.latencies.append(now - start)
        result.accepted += 1
        result.first_connect = min(result.first_connect or start, start)
        result.last_connect = max(result.last_connect, now)
    everyone.done()
    if plan.together:
        await everyone.wait()
    await asyncio.sleep(plan.hold)
    if abrupt:
        socket.transport.abort()
    else:
        await socket.close()


class _Countdown:
    def __init__(self, count: int) -> None:
        self._left = count
        self._event = asyncio.Event()
        if count <= 0:
            self._event.set()

    def done(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


async def generate(plan: LoadPlan, *, progress: bool = True) -> LoadResult:
    result = LoadResult()
    gate = asyncio.Semaphore(plan.concurrency)
    everyone = _Countdown(plan.clients)
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(_client(index, plan, result, gate, everyone)) for index in range(plan.clients)
    ]
    for done, finished in enumerate(asyncio.as_completed(tasks), start=1):
        await finished
        if progress:
            _progress(done, plan.clients)
    result.elapsed = time.perf_counter() - started
    return result


def readable(summary: dict[str, object]) -> str:
    """A summary for people: one ``name: value`` line each, counts as ``400: 30``."""
    lines = []
    for key, value in summary.items():
        shown: object = value
        if isinstance(value, dict):
            shown = ", ".join(f"{name}: {count}" for name, count in value.items()) or "none"
        lines.append(f"{key:>20}: {'-' if shown is None else shown}")
    return "\n".join(lines)


def run_load(plan: LoadPlan, *, as_json: bool = False) -> int:
    result = asyncio.run(generate(plan, progress=not as_json))
    summary = result.summary()
    print(json.dumps(summary) if as_json else readable(summary))
    return 0 if not result.errors else 1


# ----- steady rate -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SteadyPlan:
    url: str
    rate: float  # new connections per second
    duration: float  # seconds of opening connections
    hold: float  # seconds each connection stays open
    client_prefix: str = "soak"
    report_every: float = 60.0  # seconds per report interval
    tokens: tuple[str, ...] = ()  # sent as ?token=, client n the (n mod len)th


@dataclass
class SteadyResult:
    plan: SteadyPlan
    intervals: dict[int, Outcomes] = field(default_factory=dict)
    open_at_end: dict[int, int] = field(default_factory=dict)  # interval -> sockets open at its end
    open: int = 0

    def interval(self, index: int) -> Outcomes:
        return self.intervals.setdefault(index, Outcomes())

    def report(self, index: int) -> dict[str, object]:
        interval = self.interval(index)
        return {
            "interval": index,
            "fromSecond": round(index * self.plan.report_every, 1),
            "accepted": interval.accepted,
            "refused": {str(status): n for status, n in sorted(interval.refused.items())},
            "errors": dict(interval.errors),
            "connectsPerSecond": round(interval.accepted / self.plan.report_every, 2),
            "connectLatencyMs": _percentiles_ms(interval.latencies),
            "open": self.open_at_end.get(index, self.open),
        }

    def summary(self) -> dict[str, object]:
        latencies = [value for interval in self.intervals.values() for value in interval.latencies]
        refused: Counter[int] = sum((i.refused for i in self.intervals.values()), Counter())
        errors: Counter[str] = sum((i.errors for i in self.intervals.values()), Counter())
        return {
            "accepted": sum(interval.accepted for interval in self.intervals.values()),
            "refused": {str(status): n for status, n in sorted(refused.items())},
            "errors": dict(errors),
            "connectLatencyMs": _percentiles_ms(latencies),
            "intervals": [self.report(index) for index in sorted(self.intervals)],
        }


async def _steady_client(index: int, plan: SteadyPlan, result: SteadyResult, started: float) -> None:
    begin = time.perf_counter()
    interval = result.interval(int((begin - started) // plan.report_every))
    try:
        socket = await connect(
            _url(plan.url, f"{plan.client_prefix}-{index}", plan.tokens, index),
            open_timeout=60,
            ping_interval=None,
            proxy=_proxy(plan.url),
        )
    except InvalidStatus as exc:
        interval.refused[exc.response.status_code] += 1
        return
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        interval.errors[type(exc).__name__] += 1
        return
    interval.accepted += 1
    interval.latencies.append(time.perf_counter() - begin)
    result.open += 1
    try:
        await asyncio.sleep(plan.hold)
        await socket.close()
    finally:
        result.open -= 1


async def steady(
    plan: SteadyPlan, on_report: Callable[[dict[str, object]], None] | None = None
) -> SteadyResult:
    """Open ``rate`` connections per second for ``duration`` seconds, each held ``hold`` seconds;
    ``on_report`` gets each interval's report as it ends (while connections still open and close)."""
    result = SteadyResult(plan)
    started = time.perf_counter()
    total = int(plan.rate * plan.duration)
    tasks: set[asyncio.Task[None]] = set()

    async def reporter() -> None:
        index = 0
        while True:
            await asyncio.sleep(max(0.0, started + (index + 1) * plan.report_every - time.perf_counter()))
            result.open_at_end[index] = result.open
            if on_report is not None:
                on_report(result.report(index))
            index += 1

    reports = asyncio.create_task(reporter())
    for index in range(total):
        await asyncio.sleep(max(0.0, started + index / plan.rate - time.perf_counter()))
        task = asyncio.create_task(_steady_client(index, plan, result, started))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    reports.cancel()
    return result


def run_steady(plan: SteadyPlan, *, as_json: bool = False) -> int:
    def show(report: dict[str, object]) -> None:
        if as_json:
            print(json.dumps({"event": "interval", **report}), flush=True)
        else:
            latency, refused = report["connectLatencyMs"], report["refused"]
            assert isinstance(latency, dict)
            assert isinstance(refused, dict)
            print(
                f"{report['fromSecond']:>7}s  accepted {report['accepted']:>6}  "
                f"refused {sum(refused.values()):>4}  "
                f"{report['connectsPerSecond']:>7}/s  p50 {latency['p50']} ms  p99 {latency['p99']} ms  "
                f"open {report['open']}",
                flush=True,
            )

    result = asyncio.run(steady(plan, show))
    summary = result.summary()
    summary.pop("intervals")
    print(json.dumps({"event": "summary", **summary}) if as_json else readable(summary))
    return 0 if not any(interval.errors for interval in result.intervals.values()) else 1
