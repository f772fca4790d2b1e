"""The local stack against the fastest peer, serverless-offline: one trivial WebSocket application
(``bench/peer_app``: ``$connect`` and ``$disconnect`` handlers returning 200) run by both, the same
``websockets`` client opening and closing ``CONNECTIONS`` connections ``AT_ONCE`` at a time.

serverless 3.38 and serverless-offline 13.9 are installed with npm into a cache folder outside the
repository (``$XDG_CACHE_HOME/connection-tracker/bench-peer``, reused across runs). Both emulators
run side by side; after a warm-up each (``WARM_UP`` connections), ``ROUNDS`` rounds alternate
between them (the one measured first alternates too: this machine's speed drifts within a minute),
and the medians of their rates are compared. Then the local stack's design with nothing emulated
(``bench.peer_floor``) alternates with the local stack for as many rounds: the emulation's share of
the difference, apart from the design's. Skipped, saying why, where ``node`` or ``npm`` is missing
or the install fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

from bench.common import ROOT, descendants, print_table
from local_stack.harness.process import StackProcess
from local_stack.provisioning.emulator import free_port

APP = Path(ROOT, "bench", "peer_app")
PACKAGES = {"serverless": "3.38", "serverless-offline": "13.9"}
CONNECTIONS = 1_000
AT_ONCE = 20
# serverless-offline's rate still climbs for its first ~3,000 connections (Node's JIT, its Python
# runners): 554, 1,277, 1,753, 1,911, 1,911 connects/s over its first five rounds of 1,000
WARM_UP = 3 * CONNECTIONS
ROUNDS = 3
PEER, LOCAL = "serverless-offline", "local stack"
# the local stack's design with nothing emulated (``bench.peer_floor``): what the emulation costs
DESIGN = "design alone"
BESIDE = f"{LOCAL}, beside the design alone"  # the local stack's rounds alternating with it


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "connection-tracker", "bench-peer")


def _installed_version(folder: Path, package: str) -> str:
    manifest = folder / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return ""
    return str(json.loads(manifest.read_text(encoding="utf-8")).get("version", ""))


def install(folder: Path) -> str | None:
    """serverless and serverless-offline in ``folder`` (npm); None when done, else why not."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH"
    wanted = [f"{name}@{version}" for name, version in PACKAGES.items()]
    if all(_installed_version(folder, name).startswith(f"{v}.") for name, v in PACKAGES.items()):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").is_file():
        (folder / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    print(f"installing {', '.join(wanted)} into {folder} (once)...", flush=True)
    done = subprocess.run(
        [shutil.which("npm") or "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *wanted],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        return f"npm install failed: {(done.stderr or done.stdout).strip()[-500:]}"
    return None


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and its live descendants, from ``/proc`` (0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for pid in descendants(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class ServerlessOffline:
    """``serverless offline start`` on the application (copied beside the installed packages, so
    the plugin resolves and nothing is written into the repository), on free ports."""

    def __init__(self, folder: Path, log: Path) -> None:
        for name in ("handler.py", "serverless.yml"):
            shutil.copyfile(APP / name, folder / name)
        http, self.port, lambda_port = free_port(), free_port(), free_port()
        environment = {
            **os.environ,
            # serverless 3 is CommonJS loading ES modules: Node 20's require(esm) breaks it
            "NODE_OPTIONS": "--no-experimental-require-module",
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DEPRECATION_DISABLE": "*",
            # its Python runner takes `python3` from this virtual environment: the local stack's interpreter
            "VIRTUAL_ENV": sys.prefix,
        }
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                shutil.which("node") or "node", str(folder / "node_modules/serverless/bin/serverless.js"),
                "offline", "start", "--httpPort", str(http), "--websocketPort", str(self.port),
                "--lambdaPort", str(lambda_port),
            ],
            cwd=folder,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.url = f"ws://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                asyncio.run(_open_close(self.url))
            except (OSError, InvalidHandshake, TimeoutError):
                time.sleep(0.5)
                continue
            return
        self.stop()
        raise RuntimeError("serverless-offline did not come up; see its log")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # serverless and the Python runners it spawned
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


class DesignAlone:
    """``bench.peer_floor``: the local stack's design with nothing emulated, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.peer_floor", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = f"ws://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("bench.peer_floor did not come up")

    def stop(self) -> None:
        self.process.terminate()  # its workers are daemons: they go with it
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


async def _open_close(url: str) -> None:
    client = await connect(url, open_timeout=60, ping_interval=None, proxy=None)
    await client.close()


@dataclass(frozen=True)
class Rate:
    opened: int
    failed: int
    seconds: float
    cpu_seconds: float = 0.0  # of the emulator's processes, while they served the round

    @property
    def per_second(self) -> float:
        return self.opened / self.seconds

    @property
    def cpu_ms(self) -> float:
        """The emulator's CPU time per connection (opened and closed), in milliseconds."""
        return self.cpu_seconds * 1000 / max(self.opened, 1)


async def _round(url: str, connections: int) -> Rate:
    """``connections`` connections opened and closed, ``AT_ONCE`` clients at a time, each opening
    its next one when it has closed the last."""
    left = connections
    failed = 0

    async def client() -> None:
        nonlocal left, failed
        while left > 0:
            left -= 1
            try:
                await _open_close(url)
            except (OSError, InvalidHandshake, TimeoutError):
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(AT_ONCE)))
    return Rate(connections - failed, failed, time.perf_counter() - started)


def measure(url: str, connections: int = CONNECTIONS, pid: int | None = None) -> Rate:
    """A round against ``url``; with ``pid``, the CPU time its process tree spent meanwhile."""
    before = tree_cpu_seconds(pid) if pid is not None else 0.0
    rate = asyncio.run(_round(url, connections))
    if pid is None:
        return rate
    return replace(rate, cpu_seconds=tree_cpu_seconds(pid) - before)


def run() -> dict[str, float]:
    folder = cache_folder()
    why_not = install(folder)
    if why_not is not None:
        print(f"\npeer benchmark skipped: {why_not} (it needs Node.js and npm to run serverless-offline)")
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        peer = ServerlessOffline(folder, Path(scratch, "serverless-offline.log"))
        stack = StackProcess(Path(scratch) / "functions.log", "--template", str(APP / "template.yaml"))
        alone = DesignAlone()
        try:
            peer.wait_ready()
            local_url = stack.wait_ready()["url"]
            alone.wait_ready()
            urls = {PEER: peer.url, LOCAL: local_url, DESIGN: alone.url}
            pids = {PEER: peer.process.pid, LOCAL: stack.process.pid, DESIGN: alone.process.pid}
            # warm: every environment started, the JIT compiled; serverless-offline last, so that
            # it does not idle before its first round
            for name in (DESIGN, LOCAL, PEER):
                measure(urls[name], WARM_UP)
            rates: dict[str, list[Rate]] = {name: [] for name in (*urls, BESIDE)}
            for number in range(ROUNDS):
                # the one measured first alternates: this machine's speed drifts within a minute
                order = [PEER, LOCAL] if number % 2 == 0 else [LOCAL, PEER]
                for name in order:
                    rates[name].append(measure(urls[name], pid=pids[name]))
            # then the design alone, beside the local stack again: serverless-offline, which slows
            # down after a few seconds idle, waits for nothing but the local stack's rounds above
            for number in range(ROUNDS):
                for name in [DESIGN, LOCAL] if number % 2 == 0 else [LOCAL, DESIGN]:
                    rates[DESIGN if name == DESIGN else BESIDE].append(measure(urls[name], pid=pids[name]))
        finally:
            peer.stop()
            stack.stop(timeout=60)
            alone.stop()
    medians = {
        name: statistics.median(rate.per_second for rate in measured) for name, measured in rates.items()
    }
    cpu = {name: statistics.median(rate.cpu_ms for rate in measured) for name, measured in rates.items()}
    ratio = medians[LOCAL] / medians[PEER]
    rows = [
        (
            f"{name}: connects/s by round (failed)",
            ", ".join(f"{rate.per_second:,.0f} ({rate.failed})" for rate in measured),
        )
        for name, measured in rates.items()
    ]
    rows += [
        (
            f"{name}: CPU ms per connection by round",
            ", ".join(f"{rate.cpu_ms:.2f}" for rate in measured),
        )
        for name, measured in rates.items()
    ]
    rows += [(f"{name}: median connects/s", f"{median:,.0f}") for name, median in medians.items()]
    rows.append((f"{LOCAL} / {PEER}", f"{ratio:.2f}x"))
    rows.append((f"CPU per connection, {LOCAL} / {PEER}", f"{cpu[LOCAL] / cpu[PEER]:.2f}x"))
    rows.append(
        (
            f"{LOCAL} / its design alone, beside it (the emulation's share)",
            f"{medians[BESIDE] / medians[DESIGN]:.2f}x",
        )
    )

    print_table(
        f"peer: {CONNECTIONS:,} connections opened and closed {AT_ONCE} at a time, the trivial app "
        f"(bench/peer_app), {ROUNDS} interleaved rounds after a warm-up of {WARM_UP:,}",
        rows,
    )
    return {
        **{f"{name} connects/s": median for name, median in medians.items()},
        **{f"{name} cpu ms": value for name, value in cpu.items()},
        "ratio": ratio,
    }
