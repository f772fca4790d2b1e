"""The floor of the local stack's design, for ``python -m bench peer``: the same ``websockets``
server on uvloop, each ``$connect`` and ``$disconnect`` answered by a worker process of its route
over a pipe (the event pickled there, the answer pickled back), and nothing else: no execution
environment's bookkeeping, no logs, metrics or meter. What the local stack spends beyond this is
its emulation; what this spends beyond serverless-offline is the design (Python's WebSocket
handshake, a process per execution environment).

Run as ``python -m bench.peer_floor PORT``; prints ``ready`` when it listens.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import sys
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection, serve

from local_stack.event_loop import run

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from websockets.http11 import Request, Response

ANSWER = {"statusCode": 200}


def answer(connection: Connection) -> None:
    """A worker: reads an event, answers 200, until its pipe closes."""
    while True:
        try:
            connection.recv()
        except EOFError:
            return
        connection.send_bytes(pickle.dumps((True, ANSWER, [], 0), pickle.HIGHEST_PROTOCOL))


class Route:
    """A route's workers: the one freed last serves next, a new one starts when none is idle."""

    def __init__(self) -> None:
        self._idle: list[Connection] = []

    def _start(self) -> Connection:
        spawn = multiprocessing.get_context("spawn")
        ours, theirs = spawn.Pipe()
        spawn.Process(target=answer, args=(theirs,), daemon=True).start()
        return ours

    async def invoke(self, event: dict[str, Any]) -> Any:  # noqa: ANN401
        pipe = self._idle.pop() if self._idle else await asyncio.to_thread(self._start)
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pipe.fileno(), answered.set_result, None)
        try:
            pipe.send_bytes(pickle.dumps(event, pickle.HIGHEST_PROTOCOL))
            await answered
        finally:
            loop.remove_reader(pipe.fileno())
        outcome = pipe.recv()
        self._idle.append(pipe)
        return outcome


async def main(port: int) -> None:
    connect, disconnect = Route(), Route()

    async def on_connect(connection: ServerConnection, request: Request) -> Response | None:
        event = {"requestContext": {"routeKey": "$connect"}, "headers": dict(request.headers.raw_items())}
        await connect.invoke(event)
        return None

    async def session(socket: ServerConnection) -> None:
        try:
            async for _ in socket:
                pass
        finally:
            await disconnect.invoke({"requestContext": {"routeKey": "$disconnect"}})

    async with serve(session, "127.0.0.1", port, process_request=on_connect, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    run(main(int(sys.argv[1])))
