"""What a cold start imports: the functions' clients come from botocore, so a function that never
writes an item (``$disconnect``, the stream consumer) never imports boto3 and the s3transfer and
multiprocessing it drags in; ``$connect`` imports boto3's serializer with its first write."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sam_template.model import function_environment, load_template

PROGRAM = """
import json, sys
import app
from connection_tracker.runtime import runtime
runtime()
loaded = {name: name in sys.modules for name in ("boto3", "s3transfer", "multiprocessing", "botocore")}
loaded["jwt or cryptography"] = any(name in sys.modules for name in ("jwt", "cryptography"))
if sys.argv[1] == "write":
    from connection_tracker.models import ConnectionItem
    item = ConnectionItem(connectionId="c", createdAt=1_700_000_000_000, ttl=1_700_086_400, clientId="x")
    item.to_dynamodb()
    loaded["boto3 after a write"] = "boto3" in sys.modules
print(json.dumps(loaded))
"""


def cold_start(function: str, what: str = "read") -> dict[str, bool]:
    template = load_template()
    paths = [str(template.function_code(function)[0]), *map(str, template.layer_folders())]
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        **function_environment(template, function),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "cold",
        "AWS_SECRET_ACCESS_KEY": "cold",
        "CONNECTIONS_TABLE": "connections",
        "COUNTERS_TABLE": "counters",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "PYTHONPATH": os.pathsep.join(paths),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, what],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("function", ["ConnectFunction", "DisconnectFunction", "StreamMetricsFunction"])
def test_a_cold_start_imports_botocore_but_not_boto3(function):
    loaded = cold_start(function)
    assert loaded == {
        "boto3": False,
        "s3transfer": False,
        "multiprocessing": False,
        "botocore": True,
        # the authorizer's own dependencies: no other function's cold start pays for them
        "jwt or cryptography": False,
    }


def test_connect_imports_boto3s_serializer_with_its_first_write():
    assert cold_start("ConnectFunction", "write")["boto3 after a write"] is True
