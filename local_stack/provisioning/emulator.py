"""The AWS emulation: moto in server mode on loopback, provisioned from template.yaml."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from sam_template.handlers import ACCOUNT, REGION
from sam_template.intrinsics import resource_named
from sam_template.tables import create_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from local_stack.faults import Fault
    from sam_template.model import Template

__all__ = ["ACCOUNT", "REGION", "MotoServer", "Provisioned", "client", "provision"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class MotoServer:
    """``moto.server`` in a child process, bound to loopback."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        stream_retention: float | None = None,
        log_events_max: int | None = None,
        *,
        stream_shards: int = 1,
        shard_rollover: float | None = None,
    ) -> None:
        self.host = host
        self.stream_shards = stream_shards  # open shards of every table's stream
        self.shard_rollover = shard_rollover  # seconds between rollovers of the shards (None: never)
        self.log_events_max = log_events_max  # events the emulated CloudWatch Logs keeps (None: its default)
        self.port = port or free_port(host)
        self.stream_retention = stream_retention  # seconds a stream keeps records (None: 24 h)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local_stack.provisioning.server", self.host, str(self.port)],
            env={
                # a thread per request: glibc's malloc would give each thread its own arena, and their
                # fragments grew the server 5.4 MB a minute in a 4-minute soak at 25/s (3.7 with two)
                "MALLOC_ARENA_MAX": "2",
                **os.environ,
                **(
                    {"LOCAL_STREAM_RETENTION_SECONDS": str(self.stream_retention)}
                    if self.stream_retention
                    else {}
                ),
                **({"LOCAL_LOG_EVENTS_MAX": str(self.log_events_max)} if self.log_events_max else {}),
                "LOCAL_STREAM_SHARDS": str(self.stream_shards),
                "LOCAL_SHARD_ROLLOVER_SECONDS": str(self.shard_rollover or 0),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):  # noqa: S310 - loopback
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"moto server did not answer on {self.endpoint} within {timeout:.0f}s")

    def inject(self, faults: list[Fault]) -> None:
        """Make the endpoint answer the faults' calls with their errors or latency (``FaultInjector``
        in ``local_stack.provisioning.server``); an empty list clears them."""
        body = json.dumps([fault.for_endpoint() for fault in faults]).encode()
        request = urllib.request.Request(f"{self.endpoint}/_local/faults", data=body, method="PUT")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def client_environment(endpoint: str) -> dict[str, str]:
    """What the functions' boto3 needs to talk to the emulation instead of AWS."""
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def client(service: str, endpoint: str, access_key: str | None = None, *, validate: bool = True) -> Any:  # noqa: ANN401 - boto3 clients are untyped here
    """A client of the emulation; ``access_key`` names who calls, when it is not the stack itself
    (an AWS service acting for the account: ``local_stack.cost.endpoint`` bills its calls);
    ``validate=False`` skips botocore's check of every parameter against the API model, for the
    stack's shippers, whose calls carry thousands of events it built itself."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key or CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            max_pool_connections=50,
            parameter_validation=validate,
        ),
    )


@dataclass(frozen=True)
class Provisioned:
    tables: dict[str, str]  # logical id -> table name (what ``!Ref`` of a table gives)
    streams: dict[str, str]  # logical id -> stream ARN, for tables with a stream
    queues: dict[str, str]  # logical id -> queue URL (what ``!Ref`` of a queue gives)
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> topic ARN (its ``!Ref``)
    queue_arns: dict[str, str] = field(default_factory=dict)  # logical id -> queue ARN (``!GetAtt .Arn``)
    user_pools: dict[str, str] = field(default_factory=dict)  # logical id -> user pool id (its ``!Ref``)
    user_pool_clients: dict[str, str] = field(default_factory=dict)  # logical id -> client id (``!Ref``)
    client_pools: dict[str, str] = field(default_factory=dict)  # client's logical id -> its pool's

    @property
    def physical(self) -> dict[str, str]:
        """What ``!Ref`` of each provisioned resource resolves to."""
        return {**self.tables, **self.queues, **self.topics, **self.user_pools, **self.user_pool_clients}


def provision(template: Template, endpoint: str, stack_name: str = "local") -> Provisioned:
    """Create the template's tables (keys, indexes, stream, TTL), queues, topics and the topics'
    subscriptions of its queues (``Protocol: sqs``; other protocols are named by ``notices``)."""
    dynamodb = client("dynamodb", endpoint)
    tables = {
        logical_id: f"{stack_name}-{logical_id}" for logical_id in template.of_type("AWS::DynamoDB::Table")
    }
    streams = {
        logical_id: arn
        for logical_id, name in tables.items()
        if (arn := create_table(dynamodb, template, logical_id, name))
    }
    queues: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    sqs = client("sqs", endpoint)
    for logical_id in template.of_type("AWS::SQS::Queue"):
        attributes: Mapping[str, Any] = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in template.properties(logical_id).items()
            if isinstance(value, int)
        }
        queues[logical_id] = sqs.create_queue(
            QueueName=f"{stack_name}-{logical_id}", Attributes=dict(attributes)
        )["QueueUrl"]
        queue_arns[logical_id] = sqs.get_queue_attributes(
            QueueUrl=queues[logical_id], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    sns = client("sns", endpoint)
    topics = {
        logical_id: sns.create_topic(Name=f"{stack_name}-{logical_id}")["TopicArn"]
        for logical_id in template.of_type("AWS::SNS::Topic")
    }
    for topic, queue in sqs_subscriptions(template).values():
        sns.subscribe(
            TopicArn=topics[topic],
            Protocol="sqs",
            Endpoint=queue_arns[queue],
            Attributes={"RawMessageDelivery": "false"},
        )
    pools, clients, client_pools = provision_user_pools(template, client("cognito-idp", endpoint), stack_name)
    return Provisioned(
        tables=tables,
        streams=streams,
        queues=queues,
        topics=topics,
        queue_arns=queue_arns,
        user_pools=pools,
        user_pool_clients=clients,
        client_pools=client_pools,
    )


# AWS::Cognito::UserPool / AWS::Cognito::UserPoolClient properties passed on to moto's
# CreateUserPool / CreateUserPoolClient when the template writes them as literals (the
# CloudFormation property names are the API's, with UserPoolName for PoolName).
_POOL_PROPERTIES = ("Policies", "UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes", "Schema")
_CLIENT_PROPERTIES = (
    "ExplicitAuthFlows",
    "GenerateSecret",
    "AccessTokenValidity",
    "IdTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
)


def _literal(value: Any) -> bool:  # noqa: ANN401 - any CloudFormation value
    """No intrinsic function anywhere in it (those resolve only once the stack is deployed)."""
    if isinstance(value, dict):
        return not any(key == "Ref" or key.startswith("Fn::") for key in value) and all(
            _literal(v) for v in value.values()
        )
    if isinstance(value, list):
        return all(_literal(v) for v in value)
    return True


def _literals(properties: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: properties[name] for name in names if name in properties and _literal(properties[name])}


def provision_user_pools(
    template: Template,
    cognito: Any,  # noqa: ANN401 - a boto3 client
    stack_name: str = "local",
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The template's Cognito user pools and their app clients, in moto (which issues their
    tokens and serves each pool's ``/{poolId}/.well-known/jwks.json``): pool ids, client ids and
    each client's pool, by logical id."""
    pools: dict[str, str] = {}
    for logical_id in template.of_type("AWS::Cognito::UserPool"):
        properties = template.properties(logical_id)
        name = properties.get("UserPoolName")
        extra = _literals(properties, _POOL_PROPERTIES)
        pools[logical_id] = cognito.create_user_pool(
            PoolName=name if isinstance(name, str) else f"{stack_name}-{logical_id}", **extra
        )["UserPool"]["Id"]
    clients: dict[str, str] = {}
    client_pools: dict[str, str] = {}
    for logical_id in template.of_type("AWS::Cognito::UserPoolClient"):
        properties = template.properties(logical_id)
        pool = resource_named(properties.get("UserPoolId"))
        if pool not in pools:
            continue  # a pool the template does not create: named at start (``notices``)
        name = properties.get("ClientName")
        extra = _literals(properties, _CLIENT_PROPERTIES)
        clients[logical_id] = cognito.create_user_pool_client(
            UserPoolId=pools[pool], ClientName=name if isinstance(name, str) else logical_id, **extra
        )["UserPoolClient"]["ClientId"]
        client_pools[logical_id] = pool
    return pools, clients, client_pools


def user_pool_notices(template: Template) -> list[str]:
    """App clients ``provision_user_pools`` does not create: those of a pool outside the template."""
    pools = template.of_type("AWS::Cognito::UserPool")
    return [
        f"{logical_id} is not created: its user pool is not one of the template's"
        for logical_id, app_client in template.of_type("AWS::Cognito::UserPoolClient").items()
        if resource_named(app_client["Properties"].get("UserPoolId")) not in pools
    ]


def sqs_subscriptions(template: Template) -> dict[str, tuple[str, str]]:
    """Subscriptions of the template's queues to its topics: logical id -> (topic, queue)."""
    found = {}
    for logical_id, subscription in template.of_type("AWS::SNS::Subscription").items():
        properties = subscription["Properties"]
        topic = resource_named(properties.get("TopicArn"))
        queue = resource_named(properties.get("Endpoint"))
        if properties.get("Protocol") == "sqs" and topic and queue:
            found[logical_id] = (topic, queue)
    return found


def apply_environment(values: Mapping[str, str]) -> None:
    os.environ.update(values)
