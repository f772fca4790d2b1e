"""The stack's event loop: uvloop's where it is installed, asyncio's own where it is not, and the
start-up output names the one that runs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from local_stack import event_loop


async def _running_loop() -> str:
    return event_loop.describe(asyncio.get_running_loop())


def test_without_uvloop_the_stack_runs_asyncios_loop_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where its wheel is not installed
    assert event_loop.loop_factory() is None
    assert event_loop.run(_running_loop()).startswith("asyncio (")


def test_with_uvloop_the_stack_runs_on_it_and_names_its_version():
    uvloop = pytest.importorskip("uvloop")
    from importlib.metadata import version

    assert event_loop.loop_factory() is uvloop.new_event_loop
    assert event_loop.run(_running_loop()) == f"uvloop {version('uvloop')}"
