"""Fixtures shared by every level of test: a fake AWS account, the table built from the template,
the functions loaded as Lambda loads them, readers for what they print (logs and EMF) and fakes of
the services around them (the classes are in ``tests/fakes.py``)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from connection_tracker import clients
from connection_tracker.runtime import runtime
from sam_template.handlers import LambdaContext, load_handler
from sam_template.model import Template, load_template
from sam_template.tables import create_table
from tests.fakes import DeadLetters, DynamoDBRequests, FailingDynamoDB, FakeConnectionsApi, Output

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from botocore.session import Session as BotocoreSession

EVENTS = Path(__file__).parent / "events"
TABLE_NAME = "connections-test"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake account and the functions' environment as the template sets it; no real credentials."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "POWERTOOLS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # botocore routes calls that carry an ARN to account-id endpoints moto does not serve
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("CONNECTIONS_TABLE", TABLE_NAME)
    runtime.cache_clear()
    clients.session.cache_clear()  # each test's functions start as a new execution environment
    yield
    runtime.cache_clear()
    clients.session.cache_clear()


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table_parameters() -> dict[str, str]:
    """Template parameters the tables are built for (the defaults otherwise); a module that needs
    another deployment's tables overrides this fixture."""
    return {}


@pytest.fixture
def table(dynamodb: Any, template: Template, table_parameters: dict[str, str]) -> str:
    """The connections table, created from template.yaml's own definition (for ``table_parameters``)."""
    create_table(dynamodb, template, "ConnectionsTable", TABLE_NAME, table_parameters)
    return TABLE_NAME


@pytest.fixture
def event() -> Callable[..., dict[str, Any]]:
    """Load a real-shaped event from tests/events."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
        return loaded

    return load


@pytest.fixture
def invoke(template: Template) -> Callable[[str, dict[str, Any]], Any]:
    """Invoke a function of the template by logical id; the first call of each is its cold start."""
    handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}

    def call(logical_id: str, payload: dict[str, Any]) -> Any:
        if logical_id not in handlers:
            handlers[logical_id] = load_handler(template, logical_id)
        timeout_ms = template.function_timeout(logical_id) * 1000  # the invocation starts with all of it
        return handlers[logical_id](payload, LambdaContext(function_name=logical_id, remaining_ms=timeout_ms))

    return call


@pytest.fixture(autouse=True)
def _capture_fd(capfd: pytest.CaptureFixture[str]) -> None:
    """Every test captures at the file-descriptor level, so ``output`` sees what Lambda would."""


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """The functions log at DEBUG, as with ``POWERTOOLS_LOG_LEVEL=DEBUG`` (the default is INFO)."""
    from connection_tracker.observability import logger

    logger.setLevel("DEBUG")
    yield
    logger.setLevel("INFO")


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str]) -> Callable[[], Output]:
    def read() -> Output:
        return Output(capfd.readouterr().out)

    return read


@pytest.fixture
def default_session(aws: None) -> Iterator[BotocoreSession]:
    """The botocore session the functions' clients come from (``connection_tracker.clients``),
    fresh for this test: handlers registered on it see every request the functions send."""
    clients.session.cache_clear()
    yield clients.session()
    clients.session.cache_clear()


@pytest.fixture
def dynamodb_requests(default_session: BotocoreSession) -> DynamoDBRequests:
    counter = DynamoDBRequests()
    default_session.register("before-send.dynamodb", counter)
    return counter


@pytest.fixture
def failing_dynamodb(
    monkeypatch: pytest.MonkeyPatch, default_session: BotocoreSession, aws: None
) -> FailingDynamoDB:
    fake = FailingDynamoDB()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://failing-dynamodb.test")
    default_session.register("before-send.dynamodb", fake)
    return fake


COUNTERS_TABLE = "counters-test"


@pytest.fixture
def counters(dynamodb: Any, template: Template, monkeypatch: pytest.MonkeyPatch) -> str:
    """The gauge's counters table, from the template; the functions see it as COUNTERS_TABLE."""
    create_table(dynamodb, template, "CountersTable", COUNTERS_TABLE)
    monkeypatch.setenv("COUNTERS_TABLE", COUNTERS_TABLE)
    return COUNTERS_TABLE


@pytest.fixture
def connections_api(
    monkeypatch: pytest.MonkeyPatch, default_session: BotocoreSession
) -> Iterator[FakeConnectionsApi]:
    from connection_tracker import connections_api as module

    fake = FakeConnectionsApi()
    monkeypatch.setenv("CONNECTIONS_API_ENDPOINT", FakeConnectionsApi.ENDPOINT)
    default_session.register("before-send.apigatewaymanagementapi", fake)
    module.connections_api.cache_clear()
    yield fake
    module.connections_api.cache_clear()


@pytest.fixture
def records(event: Callable[[str], dict[str, Any]]) -> Callable[[str, str], dict[str, Any]]:
    """Stream records of connections by name: ``records("opened" | "closed" | "expired", name)``,
    each with the next sequence number."""
    sample = event("stream_batch")["Records"]
    sequence = iter(range(10**20, 10**21))

    def make(kind: str, name: str) -> dict[str, Any]:
        record: dict[str, Any] = copy.deepcopy(
            {"opened": sample[0], "closed": sample[2], "expired": sample[3]}[kind]
        )
        stream = record["dynamodb"]
        stream["SequenceNumber"] = str(next(sequence))
        stream["Keys"] = {"connectionId": {"S": name}}
        (stream.get("NewImage") or stream["OldImage"])["connectionId"] = {"S": name}
        return record

    return make


@pytest.fixture
def dead_letters(aws: None, template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeadLetters]:
    from connection_tracker import dead_letter

    sqs = boto3.client("sqs", region_name=REGION)
    environment = template.properties("StreamMetricsFunction")["Environment"]["Variables"]
    logical_id = environment["DEAD_LETTER_QUEUE_URL"]["Ref"]  # the queue the template gives the consumer
    url = sqs.create_queue(QueueName=f"test-{logical_id}")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    dead_letter.dead_letter_queue.cache_clear()
    yield DeadLetters(sqs, url)
    dead_letter.dead_letter_queue.cache_clear()
