"""Stand-ins and readers the fixtures of ``tests/conftest.py`` hand to tests: what a function
printed (:class:`Output`), DynamoDB requests counted (:class:`DynamoDBRequests`) or all failing
(:class:`FailingDynamoDB`), API Gateway's ``@connections`` API (:class:`FakeConnectionsApi`) and
the stream's dead-letter queue (:class:`DeadLetters`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


class Output:
    """What a function printed: JSON log lines and EMF documents."""

    def __init__(self, text: str) -> None:
        self.lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    @property
    def emf(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "_aws" in line]

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "_aws" not in line]

    def metric_values(self) -> dict[str, list[float]]:
        """Every metric value of every EMF document, by metric name."""
        values: dict[str, list[float]] = {}
        for document in self.emf:
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    values.setdefault(metric["Name"], []).extend(
                        value if isinstance(value, list) else [value]
                    )
        return values

    def log(self, message: str) -> dict[str, Any]:
        matches = [line for line in self.logs if line.get("message") == message]
        assert matches, f"no log line {message!r} in {[line.get('message') for line in self.logs]}"
        return matches[-1]


class DynamoDBRequests:
    """Counts the HTTP requests boto3 sends to DynamoDB (retries included), by operation."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        self.sent.append(event_name.rsplit(".", 1)[-1])

    def count(self, operation: str | None = None) -> int:
        return len(self.sent) if operation is None else self.sent.count(operation)


class FailingDynamoDB:
    """A fake DynamoDB endpoint that answers every request with one error (e.g. throttling).

    The functions' client is pointed at an endpoint moto does not serve; every attempt botocore
    makes (its retries included) is answered here and counted, so nothing reaches a table.
    """

    def __init__(self) -> None:
        self.code = "ThrottlingException"
        self.status = 400
        self.attempts: list[str] = []

    def fail_with(self, code: str, status: int = 400) -> None:
        self.code, self.status = code, status

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.attempts.append(event_name.rsplit(".", 1)[-1])
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": "injected"})

        class Raw:
            def stream(self, **_: Any) -> Iterator[bytes]:
                yield body.encode()

        return AWSResponse(request.url, self.status, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


class FakeConnectionsApi:
    """API Gateway's @connections API for one stage: the ids in ``live`` are connected, every other
    id is gone (410 GoneException), but those in ``refused``: their requests are answered 403
    ForbiddenException (a role without ``execute-api:ManageConnections``); every request is
    recorded as (method, connectionId)."""

    ENDPOINT = "https://fake-connections.test/prod"

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.refused: set[str] = set()
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: Any, **_: Any) -> Any:
        from urllib.parse import unquote, urlsplit

        from botocore.awsrequest import AWSResponse

        connection_id = unquote(urlsplit(request.url).path.rsplit("/", 1)[-1])
        self.requests.append((request.method, connection_id))
        if connection_id in self.refused:
            status, body = 403, b'{"message": "Forbidden"}'
            headers = {"x-amzn-ErrorType": "ForbiddenException"}
        elif connection_id in self.live:
            status, body, headers = 200, b"{}", {}
            if request.method == "DELETE":
                self.live.discard(connection_id)
                status, body = 204, b""
        else:
            status, body = 410, b'{"message": "gone"}'
            headers = {"x-amzn-ErrorType": "GoneException"}

        class Raw:
            def stream(self, **_: Any) -> Iterator[bytes]:
                yield body

        return AWSResponse(request.url, status, {"Content-Type": "application/json", **headers}, Raw())


class DeadLetters:
    """The stream's dead-letter queue (from the template), as the consumer sees it."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs = sqs
        self.url = url

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the queue (received and left there), oldest first."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            if not page:
                return found
            found.extend(page)


def source_settings(**settings: Any) -> Any:
    """An event source mapping's settings, Lambda's defaults but for ``settings`` (no tumbling
    window unless one is given)."""
    from local_stack.awslambda.esm import SourceSettings

    chosen = {
        "batch_size": 100,
        "batching_window": 0.0,
        "filter_criteria": None,
        "max_retries": 2,
        "bisect": False,
        "report_item_failures": True,
        "starting_position": "TRIM_HORIZON",
        **settings,
    }
    return SourceSettings(**chosen)
