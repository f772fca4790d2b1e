"""The local stack in a subprocess, on free ports, with no AWS credentials and no network."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local_stack.harness.process import StackProcess

if TYPE_CHECKING:
    from pathlib import Path


def handshake(url: str, headers: dict[str, str] | None = None) -> int:
    """The handshake's HTTP status (101 when the gateway accepted it)."""

    async def attempt() -> int:
        try:
            async with connect(url, additional_headers=headers or {}, open_timeout=30, ping_interval=None):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(attempt())


def start_stack(tmp_path: Path, *arguments: str) -> StackProcess:
    stack = StackProcess(tmp_path / "functions.log", "--interval", "0.5", *arguments)
    try:
        stack.wait_ready()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return stack


@pytest.fixture
def ttl_seconds() -> int:
    """Items' TTL in the ``stack``; a test whose steps must all happen before any item expires
    parametrizes it longer (on a busy machine its steps can take longer than 4 s)."""
    return 4


@pytest.fixture
def stack(tmp_path, ttl_seconds):
    running = start_stack(
        tmp_path, "--ttl-seconds", str(ttl_seconds), "--ttl-period", "0.3", "--batch-window", "0.2"
    )
    yield running
    running.stop()
    print("".join(running.printed()))  # what the stack said (its notices and errors), shown when a test fails
