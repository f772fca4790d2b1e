"""Helpers of the benchmarks: timing, table printing, a moto account."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_aws_environment(table_name: str) -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "CONNECTIONS_TABLE": table_name,
        }
    )


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in seconds (the least disturbed by the machine)."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what handlers print (logs, EMF) while they are timed."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def import_time(
    code: str, repeats: int = 9, extra_path: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> float:
    """Median seconds of ``code`` (an import) in fresh interpreters, as on a cold start."""
    program = (
        "import sys, time\n"
        f"sys.path[:0] = {list(extra_path)!r}\n"
        "start = time.perf_counter()\n"
        f"{code}\n"
        "print(time.perf_counter() - start)\n"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", program],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **(env or {})},
            ).stdout
        )
        for _ in range(repeats)
    ]
    return statistics.median(samples)


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
