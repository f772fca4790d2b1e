"""``$connect``: requests per connect, handler time against the seed's code path, import cost."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.common import ROOT, ImportRatio, best_of, fake_aws_environment, import_ratio, print_table, quiet
from connection_tracker import clients
from sam_template.handlers import LambdaContext, load_handler
from sam_template.model import function_environment, load_template
from sam_template.tables import create_table

N = 300
TABLE = "bench-connections"
ROUNDS = 21  # interleaved cold-start rounds per function

# The seed's module-level work (docs/seed: `import boto3` and a DynamoDB Table resource), and what
# a function does before its first request: import its handler, then its settings and client.
SEED_INIT = "import boto3\nboto3.resource('dynamodb').Table('connections')"
FIRST_REQUEST = "import app\nfrom connection_tracker.runtime import runtime\nruntime()"
# the authorizer's first request: its handler (PyJWT, cryptography) and its validated settings
AUTHORIZER_FIRST_REQUEST = "import app\nfrom connection_tracker.authorizer import verifier\nverifier()"
# what a deployment with AuthMode=cognito gives the authorizer's references
AUTHORIZER_DEPLOYED = {
    "AUTH_MODE": "cognito",
    "AUTH_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
    "AUTH_AUDIENCE": "4ab8ivtenhhpmt0alv5vq1bc7o",
    "CLIENT_ID_CLAIM": "sub",
}
# what a deployment gives the functions' references (names, a queue URL) and Lambda's region
DEPLOYED = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "CONNECTIONS_TABLE": TABLE,
    "COUNTERS_TABLE": "bench-counters",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-dlq",
}


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


def _verify_time() -> float:
    """Seconds to verify one RS256 ID token with the JWKS cached (a warm authorizer's work)."""
    import json
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from connection_tracker.identity import load_auth_settings
    from connection_tracker.tokens import KeySet, TokenVerifier

    settings = load_auth_settings(AUTHORIZER_DEPLOYED)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = json.dumps({"keys": [{**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k"}]})
    verifier = TokenVerifier(settings, KeySet(settings, lambda _url, _timeout: jwks.encode()))
    claims = {"sub": "user", "iss": settings.issuer, "aud": settings.audience, "token_use": "id"}
    token = jwt.encode(
        {**claims, "exp": int(time.time()) + 3600}, key, algorithm="RS256", headers={"kid": "k"}
    )
    verifier.verify(token)  # the JWKS fetched once, as on a cold start
    rounds = 2_000
    return best_of(3, lambda: [verifier.verify(token) for _ in range(rounds)]) / rounds


def run() -> dict[str, float]:
    import json

    fake_aws_environment(TABLE)
    template = load_template()
    base_event = json.loads(Path(ROOT, "tests", "events", "connect.json").read_text(encoding="utf-8"))
    with mock_aws():
        boto3.setup_default_session()
        sent: list[str] = []

        def count(**kwargs: Any) -> None:  # noqa: ANN401
            sent.append(str(kwargs["event_name"]))

        # the seed's resource comes from boto3's default session, the project's clients from
        # connection_tracker.clients' botocore session: every request of either is counted
        boto3.DEFAULT_SESSION.events.register("before-send.dynamodb", count)  # type: ignore[union-attr]
        clients.session.cache_clear()
        clients.session().register("before-send.dynamodb", count)
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

    # A cold start, measured as the work a first invocation does before its first
    # request — importing the handler and all it pulls in, validating the settings and creating the
    # DynamoDB client — against the seed's module-level work (import boto3 and a Table resource).
    # Fresh interpreters, the functions' code folder and the layer on the path, the template's
    # environment (with names for what only a deployment resolves).
    layers = [str(folder) for folder in template.layer_folders()]

    def cold_start(function: str, first_request: str = FIRST_REQUEST, **deployed: str) -> ImportRatio:
        environment = {**function_environment(template, function), **DEPLOYED, **deployed}
        path = [str(template.function_code(function)[0]), *layers]
        return import_ratio(first_request, SEED_INIT, extra_path=path, env=environment, repeats=ROUNDS)

    connect_start = cold_start("ConnectFunction")
    disconnect_start = cold_start("DisconnectFunction")
    stream_start = cold_start("StreamMetricsFunction")
    authorizer_start = cold_start("AuthorizerFunction", AUTHORIZER_FIRST_REQUEST, **AUTHORIZER_DEPLOYED)
    verify_seconds = _verify_time()
    tracer_import = import_ratio(
        "from aws_lambda_powertools import Tracer; Tracer(disabled=True)", "import boto3", env=DEPLOYED
    )

    results = {
        "requests_project": project_requests,
        "requests_reference": reference_requests,
        "time_ratio": project_time / reference_time,
        "connect_cold_start": connect_start.median,
        "authorizer_cold_start": authorizer_start.median,
        "authorizer_verify_seconds": verify_seconds,
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
            ("cold start $connect / seed's module-level work (goal 1.2x)", str(connect_start)),
            ("cold start $disconnect / seed's module-level work (goal 1.2x)", str(disconnect_start)),
            ("cold start stream consumer / seed's module-level work (goal 1.3x)", str(stream_start)),
            ("cold start authorizer (AuthMode cognito) / seed's module-level work", str(authorizer_start)),
            ("authorizer: one RS256 token verified, JWKS cached", f"{verify_seconds * 1e6:.0f} us"),
            ("import powertools Tracer (not used) / import boto3", str(tracer_import)),
        ],
    )
    sys.stdout.flush()
    return results
