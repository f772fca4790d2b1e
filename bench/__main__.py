"""``make bench``: every benchmark, each reported as ratios against its same-run baseline.

``python -m bench [connect|stream|local]`` runs some of them.
"""

from __future__ import annotations

import sys

from bench import connect, local, stream

BENCHMARKS = {"connect": connect.run, "stream": stream.run, "local": local.run}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in chosen:
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
