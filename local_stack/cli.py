"""``python -m local_stack`` (``make dev``): run the stack, or generate load against any endpoint."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from local_stack.cognito.tokens import STACK_FILE, NoStack, find_pool, issue_token
from local_stack.dashboard.snapshot import BrowserMissing, snapshot
from local_stack.event_loop import run
from local_stack.harness.loadgen import LoadPlan, SteadyPlan, load_tokens, run_load, run_steady
from local_stack.stack import Options, serve
from sam_template.expand import TranslationError
from sam_template.parameters import parse_overrides


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _schedule(text: str) -> tuple[str, float]:
    """``MyFunction=2`` -> ("MyFunction", 2.0)."""
    name, _, seconds = text.partition("=")
    if not name or not seconds:
        raise argparse.ArgumentTypeError(f"expected FUNCTION=SECONDS, not {text!r}")
    return name, _positive(seconds)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__)
    commands = root.add_subparsers(dest="command")

    up = commands.add_parser("up", help="run the whole system locally (the default)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    up.add_argument("--port", type=int, default=8080, help="WebSocket port (0: any free port)")
    up.add_argument("--management-port", type=int, default=0, help="@connections API port (0: any free)")
    up.add_argument("--aws-port", type=int, default=0, help="moto server port (0: any free)")
    up.add_argument("--ttl-seconds", type=_positive, help="item lifetime override, to watch expiry happen")
    up.add_argument("--ttl-period", type=_positive, default=1.0, help="seconds between TTL sweeps")
    up.add_argument("--batch-window", type=float, help="override the template's batching window (seconds)")
    up.add_argument("--idle-timeout", type=_positive, default=600.0, help="API Gateway idle timeout (s)")
    up.add_argument("--max-duration", type=_positive, default=7200.0, help="API Gateway connection limit (s)")
    up.add_argument("--interval", type=_positive, default=1.0, help="seconds between view refreshes")
    up.add_argument("--headless", action="store_true", help="one JSON status line per interval")
    up.add_argument(
        "--schedule-every",
        type=_schedule,
        action="append",
        default=[],
        metavar="FUNCTION=SECONDS",
        help="run a scheduled function (its logical id) this often instead of its template schedule",
    )
    up.add_argument(
        "--max-per-client", type=int, help="MAX_CONNECTIONS_PER_CLIENT override (template: its default)"
    )
    up.add_argument(
        "--log", type=Path, default=Path(".local-stack/functions.log"), help="functions' log file"
    )
    up.add_argument(
        "--template",
        type=Path,
        help="another SAM WebSocket application's template (default: this project's template.yaml)",
    )
    up.add_argument(
        "--stream-retention",
        type=_positive,
        help="seconds the emulated streams keep records before trimming them (AWS: 24 h, the default)",
    )
    up.add_argument(
        "--stream-shards",
        type=_count,
        default=1,
        metavar="N",
        help="open shards of every table's stream; a key's records stay in one shard (default: 1)",
    )
    up.add_argument(
        "--shard-rollover-seconds",
        type=_positive,
        metavar="S",
        help="every S seconds each open shard closes and a child opens (default: never)",
    )
    up.add_argument(
        "--log-events-max",
        type=int,
        default=None,
        help="log events the emulated CloudWatch Logs keeps in memory, all groups together; the oldest "
        "go first (default: 100000)",
    )
    up.add_argument(
        "--parameter-overrides",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as the SAM CLI takes them (Key=Value ..., or "
        "ParameterKey=Key,ParameterValue=Value); applied before SAM's expansion",
    )
    up.add_argument("--dashboard-port", type=int, default=0, help="the dashboard's web page (default: free)")
    up.add_argument(
        "--alarm-time-scale",
        type=_positive,
        default=1.0,
        metavar="F",
        help="evaluate every alarm as if its Period were Period x F seconds (0.1: a minute lasts 6 s)",
    )

    shot = commands.add_parser("snapshot", help="a screenshot of the running stack's dashboard (PNG)")
    shot.add_argument("--url", required=True, help="the dashboardUrl the stack printed")
    shot.add_argument("--out", type=Path, default=Path("dashboard.png"))
    shot.add_argument("--range", type=int, default=900, choices=(300, 900, 3600, 10800), help="seconds shown")
    shot.add_argument("--width", type=int, default=1600)
    shot.add_argument("--height", type=int, default=1300)

    _token_parser(commands)
    load = commands.add_parser("load", help="N concurrent WebSocket clients against any endpoint")
    load.add_argument("url", help="ws:// or wss:// URL (the stack's, or a deployed stage's)")
    load.add_argument("-n", "--clients", type=int, default=100)
    load.add_argument("--concurrency", type=int, default=100, help="connections opening at once")
    load.add_argument("--hold", type=float, default=1.0, help="seconds each client stays connected")
    load.add_argument("--client-prefix", default="load", help="clientId = PREFIX-<n>")
    load.add_argument("--invalid", type=float, default=0.0, help="fraction of clients with a bad clientId")
    load.add_argument("--abrupt", type=float, default=0.0, help="fraction dropping the TCP connection")
    load.add_argument("--together", action="store_true", help="hold every socket until all are connected")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    tokens = load.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token-command",
        metavar="CMD",
        help="a command printing tokens, one a line, run once; clients send them in turn as ?token=",
    )
    tokens.add_argument("--tokens-file", type=Path, metavar="F", help="tokens, one a line, sent as ?token=")
    load.add_argument("--rate", type=_positive, help="steady mode: new connections per second")
    load.add_argument("--duration", type=_positive, help="steady mode: seconds of opening connections")
    load.add_argument(
        "--report-every", type=_positive, default=60.0, help="steady mode: seconds per report (60)"
    )
    return root


def _token_parser(commands: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    token = commands.add_parser(
        "token", help="a token of the running stack's user pool (the user is created when missing)"
    )
    token.add_argument("--user", required=True, help="the user name")
    token.add_argument("--password", help="the user's password (default: the local stack's own)")
    token.add_argument("--access", action="store_true", help="print the access token, not the ID token")
    token.add_argument("--pool", help="the user pool's logical id (default: the template's first)")
    token.add_argument("--client", help="the app client's logical id (default: the pool's first)")
    token.add_argument(
        "--stack-file",
        type=Path,
        default=Path(".local-stack") / STACK_FILE,
        help="what the running stack wrote beside its log (default: .local-stack/stack.json)",
    )


def _snapshot(args: argparse.Namespace) -> int:
    try:
        written = snapshot(args.url, args.out, width=args.width, height=args.height, seconds=args.range)
    except (BrowserMissing, TimeoutError, OSError) as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        return 1
    print(f"dashboard screenshot written to {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "load":
        return _load(args)
    if args.command == "snapshot":
        return _snapshot(args)
    if args.command == "token":
        return _token(args)
    return _up(args if args.command == "up" else parser().parse_args(["up"]))


def _token(args: argparse.Namespace) -> int:
    try:
        target = find_pool(args.stack_file, args.pool, args.client)
        print(issue_token(target, args.user, args.password, access=args.access))
    except NoStack as exc:
        print(f"token: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - Cognito refused (a wrong password): say why, no trace
        print(f"token: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _load(args: argparse.Namespace) -> int:
    try:
        tokens = load_tokens(args.token_command, args.tokens_file)
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"load: no tokens: {exc}", file=sys.stderr)
        return 2
    common = {"url": args.url, "hold": args.hold, "client_prefix": args.client_prefix, "tokens": tokens}
    if args.rate is None and args.duration is None:
        burst = LoadPlan(
            clients=args.clients,
            concurrency=args.concurrency,
            invalid=args.invalid,
            abrupt=args.abrupt,
            together=args.together,
            **common,
        )
        return run_load(burst, as_json=args.json)
    if args.rate is None or args.duration is None:
        parser().error("steady mode needs both --rate and --duration")
    steady = SteadyPlan(rate=args.rate, duration=args.duration, report_every=args.report_every, **common)
    return run_steady(steady, as_json=args.json)


def _up(chosen: argparse.Namespace) -> int:
    try:
        overrides = parse_overrides(text for group in chosen.parameter_overrides for text in group)
    except ValueError as exc:
        print(f"local stack: cannot start: {exc}", file=sys.stderr)
        return 2
    options = Options(
        parameter_overrides=overrides,
        host=chosen.host,
        port=chosen.port,
        management_port=chosen.management_port,
        aws_port=chosen.aws_port,
        ttl_seconds=chosen.ttl_seconds,
        ttl_period=chosen.ttl_period,
        batch_window=chosen.batch_window,
        idle_timeout=chosen.idle_timeout,
        max_duration=chosen.max_duration,
        interval=chosen.interval,
        headless=chosen.headless,
        log_path=chosen.log,
        schedule_every=dict(chosen.schedule_every),
        max_per_client=chosen.max_per_client,
        stream_retention=chosen.stream_retention,
        stream_shards=chosen.stream_shards,
        shard_rollover=chosen.shard_rollover_seconds,
        log_events_max=chosen.log_events_max,
        alarm_time_scale=chosen.alarm_time_scale,
        dashboard_port=chosen.dashboard_port,
        template_path=chosen.template,  # made absolute by Options, with the log's path
    )
    try:
        return run(serve(options))
    except KeyboardInterrupt:
        return 130
    except (ValueError, TranslationError) as exc:  # the template asks for what cannot run locally
        print(f"local stack: cannot start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
