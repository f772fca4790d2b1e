"""The event loop the local stack runs on: uvloop where it is installed (libuv's loop: fewer
Python-level steps per socket event, the WebSocket server's main cost), else asyncio's own.

Everything the stack asks of its loop — sockets and servers (websockets), ``add_reader`` on the
execution environments' pipes, timers, ``run_in_executor``, ``run_coroutine_threadsafe`` from the
management and dashboard servers' threads, ``add_signal_handler`` — both loops provide."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop``; ``None`` (asyncio's default loop) where uvloop is missing."""
    try:
        import uvloop  # noqa: PLC0415 - optional: a platform without its wheel runs asyncio's loop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` of ``main`` on :func:`loop_factory`'s loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def describe(loop: asyncio.AbstractEventLoop) -> str:
    """Which loop runs: ``uvloop 0.23.0`` or ``asyncio (_UnixSelectorEventLoop)``."""
    module = type(loop).__module__.partition(".")[0]
    if module == "uvloop":
        from importlib.metadata import version  # noqa: PLC0415 - only where uvloop runs

        return f"uvloop {version('uvloop')}"
    return f"asyncio ({type(loop).__name__})"
