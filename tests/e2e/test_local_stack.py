"""End to end: real WebSocket clients against the local stack, counts read back from the emulated
CloudWatch and table, the @connections API, TTL expiry, and a clean shutdown."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local_stack.cognito.tokens import find_pool, issue_token
from local_stack.dashboard.terminal import MetricsReader
from local_stack.harness.process import StackProcess
from tests.e2e.conftest import start_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def aws(stack, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.ready["awsEndpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def management(stack) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.ready["managementUrl"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def table_ids(stack) -> set[str]:
    items = aws(stack, "dynamodb").scan(TableName=stack.ready["table"], ConsistentRead=True)["Items"]
    return {item["connectionId"]["S"] for item in items}


async def open_clients(url: str, client_ids: list[str]) -> list[Any]:
    return [await connect(f"{url}?clientId={client_id}", ping_interval=None) for client_id in client_ids]


def invocations(stack, function: str) -> float:
    """``AWS/Lambda`` ``Invocations`` of a function in the last hour, as the stack publishes them."""
    now = time.time()
    points = aws(stack, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - 3600,
        EndTime=now + 60,
        Period=3600 + 60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(point["Sum"] for point in points))


# every step before the TTL wait must come before the TTL: on a loaded machine (make test runs 4
# stacks at once) they took over 4 s, and the connection deleted through @connections expired first
@pytest.mark.parametrize("ttl_seconds", [12])
def test_connections_flow_end_to_end(stack):
    reader = MetricsReader(aws(stack, "cloudwatch"), since=time.time() - 60)
    api = management(stack)
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        clients = run(open_clients(stack.url, [f"e2e-{n}" for n in range(6)]))
        for bad in ("bad%20id", "x" * 129):
            with pytest.raises(InvalidStatus) as raised:
                run(connect(f"{stack.url}?clientId={bad}", ping_interval=None))
            assert raised.value.response.status_code == 400
        wait_for(lambda: len(table_ids(stack)) == 6)

        # two clients leave normally: $disconnect removes their items
        for client in clients[:2]:
            run(client.close())
        open_ids = wait_for(lambda: table_ids(stack) if len(table_ids(stack)) == 4 else None)

        # @connections GET and POST: each remaining socket hears the message sent to its id
        for connection_id in open_ids:
            assert api.get_connection(ConnectionId=connection_id)["Identity"]["SourceIp"] == "127.0.0.1"
            api.post_to_connection(
                ConnectionId=connection_id, Data=json.dumps({"to": connection_id}).encode()
            )
        heard = {json.loads(run(asyncio.wait_for(client.recv(), 5)))["to"]: client for client in clients[2:]}
        assert set(heard) == open_ids

        # @connections DELETE closes the socket, and API Gateway sends $disconnect
        deleted_id = sorted(open_ids)[0]
        api.delete_connection(ConnectionId=deleted_id)
        with pytest.raises(ConnectionClosed):
            run(asyncio.wait_for(heard[deleted_id].recv(), 5))
        with pytest.raises(api.exceptions.GoneException):
            api.get_connection(ConnectionId=deleted_id)
        with pytest.raises(api.exceptions.GoneException):
            api.post_to_connection(ConnectionId=deleted_id, Data=b"late")

        # the three still open expire through TTL while their sockets stay open
        wait_for(lambda: not table_ids(stack), timeout=30)
        expected = {
            "ConnectAccepted": 6.0,
            "ConnectRejected": 2.0,
            "ConnectFailed": 0.0,
            "ConnectionsOpened": 6.0,
            "ConnectionsClosed": 3.0,
            "ConnectionsExpired": 3.0,
            "DisconnectHandled": 3.0,
            "StreamRecordsFailed": 0.0,
        }
        assert wait_for(lambda: (totals := reader.totals()) == expected and totals) == expected

        # closing an expired connection's socket finds its item gone: nothing more is counted
        for connection_id, client in heard.items():
            if connection_id != deleted_id:
                run(client.close())
        # 2 left, 1 deleted by @connections, and these 3 whose items had expired
        wait_for(lambda: invocations(stack, "DisconnectFunction") == 6)
        assert reader.totals() == expected
    finally:
        loop.close()


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        listed = subprocess.run(
            ["/usr/bin/pgrep", "-P", str(frontier.pop())], capture_output=True, text=True, check=False
        )
        children = [int(child) for child in listed.stdout.split()]
        found += children
        frontier += children
    return found


def test_stack_stops_cleanly_on_sigterm(stack):
    async def one_client() -> Any:
        return await connect(f"{stack.url}?clientId=leaving", ping_interval=None)

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(one_client())
    children = stack.children()
    assert children, "the AWS emulation runs as a child process"
    tree = descendants(stack.process.pid)  # the environments' own children too
    # the loop it runs on, SIGTERM's handler included, is named at start: uvloop's where installed
    assert stack.ready["eventLoop"].startswith("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")

    assert stack.stop(timeout=30) == 0

    with pytest.raises(ConnectionClosed):
        loop.run_until_complete(asyncio.wait_for(client.recv(), 5))
    loop.close()
    assert any('"event": "stopped"' in line for line in stack.printed())

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    # every process it started (the AWS emulation, the functions' environments and whatever they
    # started) is gone, not orphaned, and with them the sockets they listened on. (Not probed by
    # connecting: beside other tests' stacks, a freed port is soon another stack's.)
    wait_for(lambda: not [pid for pid in tree if alive(pid)], timeout=10)


def test_a_client_over_its_limit_loses_its_oldest_socket(tmp_path):
    # de-duplication needs verified identities (the template's rule): clients present tokens
    stack = start_stack(
        tmp_path,
        "--max-per-client",
        "2",
        "--batch-window",
        "0.2",
        "--parameter-overrides",
        "AuthMode=cognito",
    )
    pool = find_pool(stack.log_path.parent / "stack.json")
    alice, bob = (f"{stack.url}?token={issue_token(pool, user)}" for user in ("alice", "bob"))
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        oldest = run(connect(alice, ping_interval=None))
        other = run(connect(bob, ping_interval=None))
        middle = run(connect(alice, ping_interval=None))
        newest = run(connect(alice, ping_interval=None))

        # API Gateway closes alice's oldest socket (through @connections DELETE)...
        with pytest.raises(ConnectionClosed):
            run(asyncio.wait_for(oldest.recv(), 10))
        # ...and only that one: bob's and alice's two newest stay open
        for socket in (other, middle, newest):
            run(socket.send("ping"))
            assert json.loads(run(asyncio.wait_for(socket.recv(), 5)))["message"] == "Forbidden"
        wait_for(lambda: len(table_ids(stack)) == 3)
    finally:
        loop.close()
        stack.stop()


def test_de_duplication_without_verified_identities_is_refused_at_start(tmp_path):
    stack = StackProcess(tmp_path / "functions.log", "--max-per-client", "2")
    with pytest.raises(RuntimeError, match="DeduplicationNeedsVerifiedIdentities"):
        stack.wait_ready()
    assert stack.process.wait(timeout=30) != 0


def test_idle_connections_are_closed_as_api_gateway_closes_them(tmp_path):
    stack = start_stack(tmp_path, "--idle-timeout", "1.5", "--batch-window", "0.2")
    loop = asyncio.new_event_loop()
    try:
        client = loop.run_until_complete(connect(f"{stack.url}?clientId=sleepy", ping_interval=None))
        with pytest.raises(ConnectionClosed) as closed:
            loop.run_until_complete(asyncio.wait_for(client.recv(), 10))
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001  # Going away
        wait_for(lambda: not table_ids(stack))  # $disconnect removed its item
    finally:
        loop.close()
        stack.stop()


def test_api_gateways_limits(stack):
    """Quotas for configuring and running a WebSocket in API Gateway: a stage the API does not have
    is refused; @connections takes at most 128 KB (413 PayloadTooLargeException); a client message
    over 128 KB closes the connection with 1009; an unknown connection is gone (410); a binary
    frame closes the connection with 1003."""
    other_stage = stack.url.rsplit("/", 1)[0] + "/other"
    api = management(stack)

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await connect(other_stage, open_timeout=30)
        assert refused.value.response.status_code == 403

        async with connect(f"{stack.url}?clientId=limits", ping_interval=None, open_timeout=30) as socket:
            connection_id = wait_for(lambda: next(iter(table_ids(stack)), None), timeout=30)
            with pytest.raises(api.exceptions.PayloadTooLargeException):
                api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (129 * 1024))
            api.post_to_connection(ConnectionId=connection_id, Data=b"y" * (127 * 1024))  # within the quota
            assert len(await socket.recv()) == 127 * 1024
            await socket.send("z" * (129 * 1024))
            with pytest.raises(ConnectionClosed):
                await socket.recv()
            assert socket.close_code == 1009

        with pytest.raises(api.exceptions.GoneException):
            api.post_to_connection(ConnectionId="NoSuchConnId=", Data=b"hello")

        # "Binary media types for WebSocket APIs": a binary frame is rejected, the client disconnected
        async with connect(f"{stack.url}?clientId=binary", ping_interval=None, open_timeout=30) as socket:
            await socket.send(b"\x00binary")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            assert socket.close_code == 1003

    asyncio.run(scenario())
