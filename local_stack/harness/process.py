"""The local stack as a child process (for end-to-end tests and benchmarks): started headless on
free ports with no AWS credentials in its environment, ready when it prints its ready line."""

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

ROOT = Path(__file__).resolve().parents[2]  # the project root (local_stack/harness/../..)


# Where ``python -m local_stack up`` writes its log when ``--log`` is not given (relative to its cwd).
DEFAULT_LOG = Path(".local-stack") / "functions.log"


class StackProcess:
    """``log_path`` None: the stack's default ``--log``, in ``cwd`` (default: the project root)."""

    def __init__(self, log_path: Path | None, *arguments: str, cwd: Path = ROOT) -> None:
        self.log_path = log_path if log_path is not None else cwd / DEFAULT_LOG
        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "POWERTOOLS_")) and name != "CONNECTIONS_TABLE"
        }
        environment["HOME"] = str(self.log_path.parent)  # no ~/.aws either
        chosen_log = ["--log", str(log_path)] if log_path is not None else []
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and package
            [
                sys.executable, "-m", "local_stack", "up", "--headless", "--port", "0",
                *chosen_log, *arguments,
            ],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.ready: dict[str, Any] = {}

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        """The ready line's description; raises RuntimeError with what it printed otherwise."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith('{"event": "ready"'):
                self.ready = json.loads(line)
                return self.ready
        self.process.kill()
        raise RuntimeError("the stack did not come up:\n" + "".join(seen))

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def children(self) -> list[int]:
        found = subprocess.run(  # noqa: S603
            ["/usr/bin/pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def printed(self) -> list[str]:
        """What it printed since the last call (after the ready line)."""
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get_nowait())
        return lines

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)
