"""``python -m bench cost``: connection lifecycles through the local stack at the README's
reference mix (5% of the connections end by TTL: their ``$disconnect`` is lost), the cost meter's
bill (``GET /_local/bill``) per million connections beside the capacity model's for the same load,
service by service.

One thing cannot be run as the reference has it: a 15-minute lifetime. Connections are held a few
seconds; what a connection costs the tracker does not depend on how long it stays open (its
writes, invocations and log lines are per event), except the scheduled scans, a few cents per
million. API Gateway's connection minutes do, and are shown by the model at 15 minutes too.

The same run is made again with ``AuthMode=cognito`` where the local stack runs the template's
authorizer and provisions its user pool: each client signs in as a user of its own (the harness
creates them in the emulated pool, unbilled) and connects with its ID token; the tracker's cost per
million connections is then reported beside the one without an authorizer (goal with auth: $2.75).
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import jwt
from websockets.asyncio.client import connect

from bench.common import print_table
from local_stack.cognito.tokens import NoStack, issue_token, pool_client
from local_stack.harness.process import StackProcess
from local_stack.provisioning import emulator as aws
from ops import capacity, prices

CONNECTIONS, RATE, HOLD, TTL_SHARE = 600, 20.0, 4.0, 0.05
BATCH_WINDOW = 5.0  # the template's MaximumBatchingWindowInSeconds
REFERENCE_LIFETIME = 900.0  # the README's capacity table: 15 minutes


def _local(ready: dict[str, Any], path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the stack on loopback
        ready["managementUrl"].rsplit("/", 1)[0] + f"/_local/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        result: dict[str, Any] = json.loads(answer.read() or b"{}")
        return result


def _harness(ready: dict[str, Any]) -> Any:  # noqa: ANN401 - a boto3 client (the harness: not billed)
    return aws.client("dynamodb", ready["awsEndpoint"])  # the stack's own key: not billed


def _tokens(ready: dict[str, Any], connections: int) -> tuple[list[str], list[str]]:
    """An ID token and the user's sub (the clientId the authorizer passes) for each client: a user
    per client in the stack's user pool, signed in as ``python -m local_stack token`` signs in (the
    harness: not billed). Raises :class:`NoStack` where the stack provisions no user pool."""
    target = pool_client(ready)
    tokens = [issue_token(target, f"cost-{number}") for number in range(connections)]
    return tokens, [jwt.decode(token, options={"verify_signature": False})["sub"] for token in tokens]


def _items(dynamodb: Any, table: str) -> dict[str, str]:  # noqa: ANN401
    """clientId -> connectionId of every connection item."""
    found: dict[str, str] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found.update({item["clientId"]["S"]: item["connectionId"]["S"] for item in page["Items"]})
    return found


async def _lifecycles(
    ready: dict[str, Any],
    connections: int,
    rate: float,
    hold: float,
    lost: set[int],
    *,
    signed_in: tuple[list[str], list[str]] | None = None,
) -> int:
    """Open ``connections`` at ``rate`` a second, each held ``hold`` seconds; the ``$disconnect``
    of those in ``lost`` is lost (the local stack's fault switch), so TTL removes their items.
    ``signed_in``: each client's ID token and sub (AuthMode=cognito), else each names its clientId."""
    dynamodb, table = _harness(ready), ready["table"]
    marked: set[int] = set()
    accepted = 0
    tokens, clients = signed_in or ([], [f"cost-{n}" for n in range(connections)])

    async def client(number: int) -> None:
        nonlocal accepted
        query = f"token={tokens[number]}" if tokens else f"clientId={clients[number]}"
        async with connect(f"{ready['url']}?{query}", ping_interval=None, open_timeout=60):
            accepted += 1
            await asyncio.sleep(hold)

    async def mark() -> None:  # the lost ones' connection ids, from the table, before they close
        while marked != lost:
            items = await asyncio.to_thread(_items, dynamodb, table)
            found = {n: items[clients[n]] for n in lost - marked if clients[n] in items}
            if found:
                await asyncio.to_thread(
                    _local, ready, "skip-disconnect", {"connectionIds": list(found.values())}
                )
                marked.update(found)
            await asyncio.sleep(0.25)

    marker = asyncio.create_task(mark())
    started = time.perf_counter()
    tasks = []
    for number in range(connections):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(client(number)))
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.wait_for(marker, timeout=30)
    return accepted


def measure(
    *,
    connections: int = CONNECTIONS,
    rate: float = RATE,
    hold: float = HOLD,
    ttl_share: float = TTL_SHARE,
    batch_window: float = BATCH_WINDOW,
    scratch: Path | None = None,
    auth_mode: str = "none",
) -> dict[str, Any]:
    """Run the lifecycles through a local stack of its own; the bill once every item is gone (the
    lost ones by TTL) and the consumer has had their records. ``auth_mode`` cognito: every client
    signs in first (raises :class:`NoStack` where the local stack provisions none)."""
    overrides = [] if auth_mode == "none" else ["--parameter-overrides", f"AuthMode={auth_mode}"]
    with tempfile.TemporaryDirectory() as default:
        folder = scratch or Path(default)
        stack = StackProcess(
            folder / "functions.log",
            "--interval", "60", "--batch-window", str(batch_window),
            "--ttl-seconds", str(hold + 3), "--ttl-period", "0.5", *overrides,
        )  # fmt: skip
        ready = stack.wait_ready()
        try:
            lost = set(random.Random(23).sample(range(connections), round(connections * ttl_share)))
            signed_in = _tokens(ready, connections) if auth_mode == "cognito" else None
            accepted = asyncio.run(_lifecycles(ready, connections, rate, hold, lost, signed_in=signed_in))
            if accepted < connections:
                raise RuntimeError(f"only {accepted} of {connections} connections were accepted")
            dynamodb = _harness(ready)
            deadline = time.monotonic() + 120 + batch_window
            while _items(dynamodb, ready["table"]) and time.monotonic() < deadline:
                time.sleep(1)  # the lost ones wait for TTL
            # then the consumer's last batches: until its invocations stop changing for a window
            seen = -1
            while time.monotonic() < deadline:
                invoked = _local(ready, "functions").get("StreamMetricsFunction", {}).get("invocations", 0)
                if invoked == seen:
                    break
                seen = invoked
                time.sleep(batch_window + 1.5)
            bill = _local(ready, "bill")
        finally:
            stack.stop(timeout=60)
    return bill


def model_load(
    bill: dict[str, Any],
    rate: float,
    lifetime: float,
    ttl_share: float,
    batch_window: float,
    *,
    auth_mode: str = "none",
) -> capacity.Load:
    """The capacity model's load for a run: its rate, lifetime and TTL share, and the functions'
    mean durations as the meter measured them (the model's own are assumptions about Lambda)."""
    durations = {name: units["meanDurationMs"] for name, units in bill["units"]["lambda"].items()}
    return capacity.Load(
        rate,
        lifetime,
        ttl_share,
        batching_window_seconds=batch_window,
        durations_ms=durations,
        auth_mode=auth_mode,
    )


def run() -> dict[str, float]:
    bill = measure()
    measured = bill["perMillionConnections"]
    model = capacity.per_million_connections(model_load(bill, RATE, HOLD, TTL_SHARE, BATCH_WINDOW))
    reference = capacity.per_million_connections(
        capacity.Load(
            RATE,
            REFERENCE_LIFETIME,
            TTL_SHARE,
            durations_ms=model_load(bill, RATE, HOLD, TTL_SHARE, BATCH_WINDOW).durations_ms,
        )
    )
    assumed = capacity.per_million_connections(capacity.Load(RATE, REFERENCE_LIFETIME, TTL_SHARE))
    rows = [
        (
            f"{name}: meter / model, same load / model, 15 min / model, 15 min, assumed durations",
            f"${measured[name]:.3f} / ${model[name]:.3f} / ${reference[name]:.3f} / ${assumed[name]:.3f}",
        )
        for name in (*prices.SERVICES, "total", "tracker")
    ]
    durations = ", ".join(
        f"{name} {units['meanDurationMs']:.0f} ms" for name, units in bill["units"]["lambda"].items()
    )
    rows.append(("mean durations measured (local execution environments)", durations))
    rows.append(("connections billed", f"{bill['connections']:,}"))
    print_table(
        f"cost per million connections: {CONNECTIONS:,} lifecycles through the local stack at {RATE:g}/s, "
        f"held {HOLD:g} s, {TTL_SHARE:.0%} ending by TTL, gauge on (the meter: GET /_local/bill)",
        rows,
    )
    print(f"cost: the tracker's own ${measured['tracker']:.2f} per million connections (meter)")
    results = {"tracker": measured["tracker"], "model_tracker": model["tracker"]}
    try:
        authorized = measure(auth_mode="cognito")
    except NoStack as exc:
        print(f"cost with AuthMode=cognito: not measured ({exc})")
        return results
    with_auth = authorized["perMillionConnections"]
    model_auth = capacity.per_million_connections(
        model_load(authorized, RATE, HOLD, TTL_SHARE, BATCH_WINDOW, auth_mode="cognito")
    )
    print_table(
        "cost per million connections with AuthMode=cognito (the same lifecycles, each client signed in)",
        [
            (f"{name}: meter none / meter cognito / model cognito, same load",
             f"${measured[name]:.3f} / ${with_auth[name]:.3f} / ${model_auth[name]:.3f}")
            for name in (*prices.SERVICES, "total", "tracker")
        ],
    )  # fmt: skip
    print(
        f"cost with AuthMode=cognito: the tracker's own ${with_auth['tracker']:.2f} per million (goal $2.75)"
    )
    return {
        **results,
        "tracker_cognito": with_auth["tracker"],
        "model_tracker_cognito": model_auth["tracker"],
    }
