"""``make bench``: every benchmark, each reported as ratios against its same-run baseline."""

from __future__ import annotations

import sys

from bench import connect, stream


def main() -> int:
    connect.run()
    stream.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
