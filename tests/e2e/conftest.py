"""The local stack in a subprocess, on free ports, with no AWS credentials and no network."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class RunningStack:
    def __init__(
        self, process: subprocess.Popen[str], ready: dict[str, Any], lines: queue.Queue[str], log_path: Path
    ) -> None:
        self.log_path = log_path
        self.process = process
        self.ready = ready
        self.lines = lines

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def children(self) -> list[int]:
        found = subprocess.run(
            ["/usr/bin/pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_stack(tmp_path: Path, *extra: str) -> RunningStack:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_")) and name != "CONNECTIONS_TABLE"
    }
    environment["HOME"] = str(tmp_path)  # no ~/.aws either
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_stack",
            "up",
            "--headless",
            "--port",
            "0",
            "--interval",
            "0.5",
            "--log",
            str(tmp_path / "functions.log"),
            *extra,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith('{"event": "ready"'):
            return RunningStack(process, json.loads(line), lines, tmp_path / "functions.log")
    process.kill()
    pytest.fail("the stack did not come up:\n" + "".join(seen))


@pytest.fixture
def stack(tmp_path):
    running = start_stack(tmp_path, "--ttl-seconds", "4", "--ttl-period", "0.3", "--batch-window", "0.2")
    yield running
    running.stop()
