"""``$connect``: requests per connect, handler time against the seed's code path, import cost."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.common import ROOT, best_of, fake_aws_environment, import_ratio, print_table, quiet
from sam_template.handlers import LambdaContext, load_handler
from sam_template.model import function_environment, load_template
from sam_template.tables import create_table

N = 300
TABLE = "bench-connections"


def _events(prefix: str, count: int, template_event: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        event = {**template_event, "requestContext": {**template_event["requestContext"]}}
        event["requestContext"]["connectionId"] = f"{prefix}{index:06d}="
        events.append(event)
    return events


def _load_reference() -> Any:  # noqa: ANN401
    spec = importlib.util.spec_from_file_location(
        "reference_connect", os.path.join(ROOT, "bench", "reference_connect.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def run() -> dict[str, float]:
    import json

    fake_aws_environment(TABLE)
    template = load_template()
    base_event = json.loads(Path(ROOT, "tests", "events", "connect.json").read_text(encoding="utf-8"))
    with mock_aws():
        boto3.setup_default_session()
        sent: list[str] = []
        boto3.DEFAULT_SESSION.events.register(
            "before-send.dynamodb", lambda event_name, **_: sent.append(event_name)
        )  # type: ignore[union-attr]
        create_table(boto3.client("dynamodb"), template, "ConnectionsTable", TABLE)
        project = load_handler(template, "ConnectFunction")
        reference = _load_reference()
        context = LambdaContext(function_name="bench")

        def per_connect(handler: Any, prefix: str) -> float:  # noqa: ANN401
            sent.clear()
            with quiet():
                response = handler(_events(prefix, 1, base_event)[0], context)
            assert response["statusCode"] == 200, response
            return float(len(sent))

        project_requests = per_connect(project, "warm-p")
        reference_requests = per_connect(reference, "warm-r")

        rounds = iter(range(1_000))

        def batch(handler: Any, prefix: str) -> None:  # noqa: ANN401
            events = _events(f"{prefix}{next(rounds)}-", N, base_event)
            with quiet():
                for event in events:
                    handler(event, context)

        project_time = best_of(3, lambda: batch(project, "p"))
        reference_time = best_of(3, lambda: batch(reference, "r"))

    # Each function is imported as Lambda imports it: its code folder and the layer on sys.path,
    # and the environment the template gives every function.
    environment = function_environment(template)
    layers = [str(folder) for folder in template.layer_folders()]

    def import_vs_boto3(code: str, function: str | None = None) -> float:
        path = [str(template.function_code(function)[0]), *layers] if function else []
        return import_ratio(code, "import boto3", extra_path=path, env=environment)

    connect_import = import_vs_boto3("import app", "ConnectFunction")
    disconnect_import = import_vs_boto3("import app", "DisconnectFunction")
    stream_import = import_vs_boto3("import app", "StreamMetricsFunction")
    tracer_import = import_vs_boto3("from aws_lambda_powertools import Tracer; Tracer(disabled=True)")

    results = {
        "requests_project": project_requests,
        "requests_reference": reference_requests,
        "time_ratio": project_time / reference_time,
        "connect_import_ratio": connect_import,
    }
    print_table(
        f"$connect, {N} connects per round, best of 3, moto in-process",
        [
            ("DynamoDB requests per accepted connect (project)", f"{project_requests:.0f}"),
            ("DynamoDB requests per accepted connect (seed reference)", f"{reference_requests:.0f}"),
            ("handler time, project / reference", f"{results['time_ratio']:.2f}x"),
            (
                "per connect: project / reference",
                f"{project_time / N * 1e3:.2f} ms / {reference_time / N * 1e3:.2f} ms",
            ),
            ("import functions/connect/app.py / import boto3", f"{results['connect_import_ratio']:.2f}x"),
            ("import functions/disconnect/app.py / import boto3", f"{disconnect_import:.2f}x"),
            ("import functions/stream_metrics/app.py / import boto3", f"{stream_import:.2f}x"),
            ("import powertools Tracer (not used) / import boto3", f"{tracer_import:.2f}x"),
        ],
    )
    sys.stdout.flush()
    return results
