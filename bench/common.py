"""Helpers of the benchmarks: timing, table printing, a moto account."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
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


def _import_once(code: str, extra_path: Sequence[str], env: Mapping[str, str] | None) -> float:
    program = (
        "import sys, time\n"
        f"sys.path[:0] = {list(extra_path)!r}\n"
        "start = time.perf_counter()\n"
        f"{code}\n"
        "print(time.perf_counter() - start)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return float(completed.stdout)


@dataclass(frozen=True)
class ImportRatio:
    """``code`` over ``baseline`` in fresh interpreters: the ratio of the fastest runs, the median of
    the rounds' ratios, and their spread."""

    best: float
    median: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return (
            f"best {self.best:.2f}x, median {self.median:.2f}x "
            f"({self.rounds} rounds: {self.low:.2f}-{self.high:.2f}x)"
        )


def import_ratio(
    code: str,
    baseline: str,
    extra_path: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    repeats: int = 15,
) -> ImportRatio:
    """Seconds to run ``code`` (an import) in a fresh interpreter, as on a cold start, over the
    same for ``baseline``. The two alternate, one round each; this machine's speed drifts, so both
    the fastest runs' ratio (the least disturbed) and the median of the rounds are reported."""
    _import_once(code, extra_path, env)  # writes the bytecode caches, as a deployed package has them
    codes, baselines = [], []
    for _ in range(repeats):
        baselines.append(_import_once(baseline, (), env))
        codes.append(_import_once(code, extra_path, env))
    ratios = [c / b for c, b in zip(codes, baselines, strict=True)]
    return ImportRatio(
        min(codes) / min(baselines), statistics.median(ratios), min(ratios), max(ratios), repeats
    )


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


def descendants(pid: int) -> list[int]:
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
