"""The local stack run the way the README tells a newcomer to: from the project root with the default
``--log`` (``.local-stack/`` in the current directory), and from another directory with a relative
``--template``. A function's execution environment changes into its code folder, so every path the
stack hands it (the CA bundle of ``@connections``, its installed requirements) must still name the
same file from there.

The project root is mirrored into a temporary directory (every top-level entry a link to the
project's, but ``.local-stack/``): the stack started there with the defaults finds what it finds in
the project root and writes its relative defaults where it would, without sharing them (its
certificate, its log) with another stack running from the real project root."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from local_stack.harness.process import ROOT, StackProcess
from tests.e2e.test_local_stack import aws
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

APPS = Path(__file__).parent / "apps"


def project_root(tmp_path: Path) -> Path:
    """A directory laid out as the project root, with no ``.local-stack/`` of its own yet."""
    mirror = tmp_path / "project"
    mirror.mkdir()
    for entry in ROOT.iterdir():
        if entry.name != ".local-stack":
            (mirror / entry.name).symlink_to(entry)
    return mirror


def started(stack: StackProcess) -> StackProcess:
    try:
        stack.wait_ready(timeout=180)  # a first start installs the requirements
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return stack


def stopped(stack: StackProcess) -> None:
    stack.stop()
    print("".join(stack.printed()))  # what the stack said, shown when a test fails


def invoke(stack: StackProcess, function: str) -> dict[str, Any]:
    """Run a scheduled function now, through the stack's controls, and return its response."""
    controls = stack.ready["managementUrl"].rsplit("/", 1)[0]
    request = urllib.request.Request(  # noqa: S310 - the stack on loopback
        f"{controls}/_local/invoke/{function}", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
        return dict(json.loads(answer.read()))


def test_from_the_project_root_with_the_defaults_the_sweeper_probes_through_connections(tmp_path):
    root = project_root(tmp_path)
    stack = started(StackProcess(None, "--interval", "0.5", cwd=root))  # `make dev`: no option
    try:
        loop = asyncio.new_event_loop()
        try:
            live = loop.run_until_complete(connect(f"{stack.url}?clientId=here", ping_interval=None))
            table = stack.ready["table"]
            dynamodb = aws(stack, "dynamodb")
            wait_for(lambda: dynamodb.scan(TableName=table, ConsistentRead=True)["Count"] == 1)
            # a connection whose socket went without its $disconnect: an item API Gateway does not hold
            now = time.time()
            dynamodb.put_item(
                TableName=table,
                Item={
                    "connectionId": {"S": "GoneWithoutDisconnect="},
                    "createdAt": {"N": str(int(now * 1000))},
                    "ttl": {"N": str(int(now) + 3600)},
                    "clientId": {"S": "left"},
                },
            )

            # the sweeper probes both with @connections GET (HTTPS, verified against AWS_CA_BUNDLE)
            summary = invoke(stack, "SweeperFunction")

            assert (summary["scanned"], summary["gone"], summary["probeErrors"]) == (2, 1, 0)
            items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
            assert [item["clientId"]["S"] for item in items] == ["here"]  # the live one stays
            loop.run_until_complete(live.close())
        finally:
            loop.close()
    finally:
        stopped(stack)
    assert "SSL validation failed" not in stack.log_path.read_text(encoding="utf-8")
    # the defaults, in the directory it was started in, and said as absolute paths
    assert stack.ready["log"] == str(root.resolve() / ".local-stack" / "functions.log")
    assert stack.ready["caBundle"] == str(root.resolve() / ".local-stack" / "local-stack-cert.pem")


def test_from_the_project_root_a_function_closes_an_older_socket_through_connections(tmp_path):
    root = project_root(tmp_path)
    template = Path("tests/e2e/apps/onesocket/template.yaml")  # as typed at the project root
    stack = started(StackProcess(None, "--interval", "0.5", "--template", str(template), cwd=root))
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        older = run(connect(f"{stack.url}?clientId=me", ping_interval=None))
        other = run(connect(f"{stack.url}?clientId=someone-else", ping_interval=None))
        newer = run(connect(f"{stack.url}?clientId=me", ping_interval=None))

        # the gateway closes the older socket: its $connect called @connections DELETE on it
        with pytest.raises(ConnectionClosed):
            run(asyncio.wait_for(older.recv(), 30))
        for socket in (other, newer):  # and only that one
            assert socket.close_code is None

        # the live view shows what is true of this application: its gateway, its function, its
        # alarm, and none of the tracker's figures (its catalogue has no metric here)
        seen: list[dict[str, Any]] = []

        def status() -> dict[str, Any] | None:
            seen.extend(json.loads(line) for line in stack.printed() if line.startswith('{"event": "status"'))
            latest = seen[-1] if seen else None
            settled = latest and latest["gateway"]["disconnects"] == 1
            return latest if settled and latest["functions"]["ConnectFunction"]["invocations"] == 3 else None

        state = wait_for(status, timeout=30)
        assert (state["socketsOpen"], state["gateway"]["connects"]) == (2, 3)
        assert state["functions"]["ConnectFunction"]["errors"] == 0
        assert set(state["alarms"]) == {"onesocket-connect-errors"}
        assert "active" not in state
        assert "totals" not in state
        # its own dashboard, in the browser
        with urllib.request.urlopen(stack.ready["dashboardUrl"] + "api/dashboard", timeout=30) as answer:  # noqa: S310
            dashboard = json.loads(answer.read())
        assert dashboard["name"] == "onesocket"
        assert [widget["title"] for widget in dashboard["widgets"]] == ["Connects", "Connect function"]
        for socket in (other, newer):
            run(socket.close())
    finally:
        loop.close()
        stopped(stack)
    log = stack.log_path.read_text(encoding="utf-8")
    assert "closed " in log
    assert "SSL validation failed" not in log


def test_from_another_directory_an_application_imports_its_requirements(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    template = Path(os.path.relpath(APPS / "multimodule" / "template.yaml", elsewhere))
    assert not template.is_absolute()
    stack = started(StackProcess(None, "--interval", "0.5", "--template", str(template), cwd=elsewhere))

    async def scenario() -> str:
        async with connect(f"{stack.url}?name=alice", ping_interval=None, open_timeout=30) as client:
            await client.send("crème brûlée")
            return await asyncio.wait_for(client.recv(), 30)

    try:
        answer = asyncio.run(scenario())
    finally:
        stopped(stack)
    echoed = json.loads(answer)
    assert echoed["echo"] == "creme brulee"  # text-unidecode, from its requirements.txt
    # installed under the default log's folder, in the directory the stack was started in
    assert echoed["dependencyFrom"].startswith(str(elsewhere.resolve() / ".local-stack" / "dependencies"))
    assert "ImportModuleError" not in stack.log_path.read_text(encoding="utf-8")
