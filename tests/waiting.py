"""Waiting for a condition the system under test reaches in its own time (polled, bounded)."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, timeout: float = 30.0, interval: float = 0.2, describe=None):
    """Poll until ``condition()`` is truthy; fail with its last value (or ``describe()``)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    seen = describe() if describe is not None else last
    pytest.fail(f"condition not met within {timeout}s, last value {seen!r}")
