"""``make bench``: every benchmark, each reported as ratios against its same-run baseline.

``python -m bench [connect|stream|local|cost|peer]`` runs some of them; ``python -m bench soak [options]``
runs the 30-minute soak (not part of ``make bench``: see ``bench/soak.py``).
"""

from __future__ import annotations

import sys

from bench import connect, cost, local, peer, soak, stream

BENCHMARKS = {
    "connect": connect.run,
    "stream": stream.run,
    "local": local.run,
    "cost": cost.run,
    "peer": peer.run,
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["soak"]:
        return soak.main(argv[1:])
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
