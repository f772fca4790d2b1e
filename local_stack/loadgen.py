"""Load generator: N concurrent WebSocket clients against any endpoint (local or deployed)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus


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


@dataclass
class LoadResult:
    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    first_connect: float = 0.0
    last_connect: float = 0.0
    elapsed: float = 0.0

    def summary(self) -> dict[str, object]:
        cuts = (
            statistics.quantiles(self.latencies, n=100, method="inclusive")
            if len(self.latencies) > 1
            else None
        )
        window = self.last_connect - self.first_connect
        return {
            "accepted": self.accepted,
            "refused": dict(self.refused),
            "errors": dict(self.errors),
            "connectLatencyMs": {
                "p50": round(cuts[49] * 1e3, 2) if cuts else None,
                "p90": round(cuts[89] * 1e3, 2) if cuts else None,
                "p99": round(cuts[98] * 1e3, 2) if cuts else None,
            },
            "connectsPerSecond": round(self.accepted / window, 1) if window > 0 else None,
            "elapsedSeconds": round(self.elapsed, 3),
        }


def _url(base: str, client_id: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'clientId': client_id})}"


def _progress(done: int, total: int) -> None:
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
            socket = await connect(_url(plan.url, client_id), open_timeout=60, ping_interval=None)
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


def run_load(plan: LoadPlan, *, as_json: bool = False) -> int:
    result = asyncio.run(generate(plan, progress=not as_json))
    summary = result.summary()
    if as_json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>20}: {value}")
    return 0 if not result.errors else 1
