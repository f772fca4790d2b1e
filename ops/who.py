"""Who is connected now: the template's saved *Connected now* query, run with Logs Insights.

``python -m ops.who [--client ID] [--endpoint-url URL] [--stack-name NAME] [--region R] [--json]``

The query is the stack's own saved query (``DescribeQueryDefinitions``: the template's
``ConnectedNowQuery``, named ``<stack>/Connected now``, with its log group), run over the last
2 hours 15 minutes: API Gateway closes every WebSocket connection within 2 hours ("Amazon API
Gateway quotas for configuring and running a WebSocket API": connection duration, 2 hours), and
the stream consumer logs an event a little after it happened. Against AWS it uses the usual
credentials; ``--endpoint-url`` points it at the local stack's AWS endpoint (``awsEndpoint``).
Each run is one Logs Insights query, billed by the bytes it scans (printed with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import boto3

from connection_tracker.models import CLIENT_ID_MAX_LENGTH, CLIENT_ID_PATTERN

MAX_CONNECTION_SECONDS = 2 * 3600  # API Gateway's maximum WebSocket connection duration
CONSUMER_LAG_SECONDS = 15 * 60  # room for the stream consumer's lag behind the table
WINDOW_SECONDS = MAX_CONNECTION_SECONDS + CONSUMER_LAG_SECONDS
QUERY_NAME = "Connected now"
LOCAL_STACK_NAME = "local"  # what AWS::StackName is in the local stack
COLUMNS = (
    ("client", "client"),
    ("verified", "verified"),  # the clientId is a verified token's claim (AuthMode cognito / oidc)
    ("connection", "connectionId"),
    ("since", "since"),
    ("source", "source"),
)


class WhoError(RuntimeError):
    pass


def default_stack_name() -> str:
    config = Path(__file__).resolve().parent.parent / "samconfig.toml"
    try:
        parsed = tomllib.loads(config.read_text(encoding="utf-8"))
        return str(parsed["default"]["global"]["parameters"]["stack_name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "connection-tracker"


def logs_client(endpoint_url: str | None, region: str | None) -> Any:  # noqa: ANN401 - boto3's client
    if endpoint_url:  # the local stack's endpoint takes any credentials
        return boto3.client(
            "logs",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the local emulation's placeholder
        )
    return boto3.client("logs", region_name=region)


def saved_query(logs: Any, stack_name: str) -> dict[str, Any]:  # noqa: ANN401
    name = f"{stack_name}/{QUERY_NAME}"
    found = logs.describe_query_definitions(queryDefinitionNamePrefix=name).get("queryDefinitions", [])
    for definition in found:
        if definition["name"] == name:
            return dict(definition)
    raise WhoError(f"no saved query {name!r}: is the stack {stack_name!r} deployed (or the local stack up)?")


def query_string(definition: dict[str, Any], client: str | None) -> str:
    query = str(definition["queryString"]).strip()
    if client is not None:  # a validated client id: nothing of it is query syntax
        # a connection's events all carry its client: narrowed before stats, the same answer
        query = f'filter clientId = "{client}"\n| {query}'
    return query


def run(
    logs: Any,  # noqa: ANN401 - boto3's client
    definition: dict[str, Any],
    client: str | None,
    now: float | None = None,
) -> dict[str, Any]:
    end = int(time.time() if now is None else now)
    started = logs.start_query(
        logGroupNames=definition["logGroupNames"],
        startTime=end - WINDOW_SECONDS,
        endTime=end,
        queryString=query_string(definition, client),
    )
    deadline = time.monotonic() + 900  # Logs Insights gives a query up to 60 minutes; we wait 15
    while True:
        answer: dict[str, Any] = logs.get_query_results(queryId=started["queryId"])
        if answer["status"] not in ("Scheduled", "Running"):
            break
        if time.monotonic() > deadline:
            logs.stop_query(queryId=started["queryId"])
            raise WhoError("the query did not finish within 15 minutes")
        time.sleep(0.5)
    if answer["status"] != "Complete":
        raise WhoError(f"the query ended {answer['status']}")
    rows = [{cell["field"]: cell["value"] for cell in row} for row in answer["results"]]
    connections = [{column: row.get(field) for column, field in COLUMNS} for row in rows]
    return {"connections": connections, "statistics": answer.get("statistics", {})}


def table(connections: list[dict[str, Any]]) -> str:
    header = [column for column, _ in COLUMNS]
    cells = [[str(row.get(column) or "-") for column in header] for row in connections]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"{len(connections)} connected")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.who", description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", help="only this client's connections (its clientId)")
    parser.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local stack's awsEndpoint")
    parser.add_argument(
        "--stack-name", help="the stack (default: samconfig.toml's; 'local' with --endpoint-url)"
    )
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args(argv)
    client = arguments.client
    if client is not None and (
        len(client) > CLIENT_ID_MAX_LENGTH or not re.fullmatch(CLIENT_ID_PATTERN, client)
    ):
        parser.error(f"--client: a client id is 1-{CLIENT_ID_MAX_LENGTH} characters of [A-Za-z0-9._:@-]")
    stack = arguments.stack_name or (LOCAL_STACK_NAME if arguments.endpoint_url else default_stack_name())
    logs = logs_client(arguments.endpoint_url, arguments.region)
    try:
        answer = run(logs, saved_query(logs, stack), client)
    except WhoError as exc:
        print(f"ops.who: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if arguments.json else table(answer["connections"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
