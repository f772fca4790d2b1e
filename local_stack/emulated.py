"""What the local stack makes of a template before it starts: which resources it emulates (the
rest is said at start, ``notices``) and how many execution environments each function gets."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from local_stack.apigateway.authorizers import authorization_notices
from local_stack.provisioning import emulator as aws
from local_stack.provisioning.emulator import sqs_subscriptions
from sam_template.intrinsics import resource_named
from sam_template.schedules import schedule_rules
from sam_template.websocket import websocket_apis

if TYPE_CHECKING:
    from local_stack.awslambda.esm import StreamSource
    from sam_template.model import Template

# Resource types of the expanded template (the CloudFormation SAM produces) the local stack provisions
# or emulates; others are said at start (``notices``).
EMULATED = {
    "AWS::Lambda::Function": "functions in execution environments of their own",
    "AWS::Lambda::LayerVersion": "on the functions' path, as /opt/python",
    "AWS::Lambda::EventSourceMapping": "DynamoDB streams of the template's tables",
    "AWS::Events::Rule": "rate() schedules",
    "AWS::Scheduler::Schedule": "rate() schedules",
    "AWS::DynamoDB::Table": "moto: keys, indexes, stream, TTL",
    "AWS::SQS::Queue": "moto",
    "AWS::SNS::Topic": "moto",
    "AWS::SNS::Subscription": "moto: a queue of the template subscribed (Protocol: sqs)",
    "AWS::ApiGatewayV2::Api": "the WebSocket gateway",
    "AWS::ApiGatewayV2::Route": "routes to functions",
    "AWS::ApiGatewayV2::Integration": "AWS_PROXY to functions",
    "AWS::ApiGatewayV2::RouteResponse": "two-way routes",
    "AWS::ApiGatewayV2::Stage": "its name",
    "AWS::ApiGatewayV2::Deployment": "nothing to do",
    "AWS::ApiGatewayV2::Authorizer": "REQUEST authorizers of $connect, run before it",
    "AWS::Cognito::UserPool": "moto: users, their tokens, /{poolId}/.well-known/jwks.json",
    "AWS::Cognito::UserPoolClient": "moto: app clients of the template's user pools",
    "AWS::Lambda::Permission": "nothing to do: any route may invoke any function",
    "AWS::Logs::LogGroup": "emulated CloudWatch Logs (retention kept, bounded in memory) and the log file",
    "AWS::Logs::QueryDefinition": "saved queries, run by the local Logs Insights engine",
    "AWS::CloudWatch::Alarm": "created in moto and evaluated (statistics, percentiles, metric math)",
    "AWS::CloudWatch::Dashboard": "rendered in a browser at dashboardUrl",
    "AWS::SNS::TopicPolicy": "nothing to do: IAM is not enforced",
    "AWS::SQS::QueuePolicy": "nothing to do: IAM is not enforced",
}


def notices(template: Template) -> list[str]:
    """What of the (expanded) template the local stack does not emulate, named once at start."""
    found = []
    roles = list(template.of_type("AWS::IAM::Role"))
    if roles:
        serves = "functions may call anything the local AWS endpoint serves"
        found.append(f"IAM is not enforced: {serves} ({', '.join(roles)})")
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in template.resources.items():
        if resource["Type"] not in EMULATED and resource["Type"] != "AWS::IAM::Role":
            by_type.setdefault(resource["Type"], []).append(logical_id)
    found += [f"{kind} is not emulated ({', '.join(ids)})" for kind, ids in sorted(by_type.items())]
    for api in websocket_apis(template):
        found += authorization_notices(template, api)
    found += aws.user_pool_notices(template)
    tables = template.of_type("AWS::DynamoDB::Table")
    for logical_id, mapping in template.of_type("AWS::Lambda::EventSourceMapping").items():
        if resource_named(mapping["Properties"].get("EventSourceArn")) not in tables:
            target = resource_named(mapping["Properties"].get("FunctionName"))
            found.append(f"{logical_id} (a source of {target} other than a table's stream) is not emulated")
    for logical_id, (expression, _) in schedule_rules(template).items():
        if not expression.startswith("rate("):
            found.append(f"{logical_id} ({expression}) is not emulated: only rate() schedules are")
    delivered = sqs_subscriptions(template)
    for logical_id, subscription in template.of_type("AWS::SNS::Subscription").items():
        if logical_id not in delivered:
            protocol = subscription["Properties"].get("Protocol")
            found.append(
                f"{logical_id} ({protocol}) is not delivered: only a template queue's subscription is"
            )
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for logical_id, function in template.of_type("AWS::Lambda::Function").items():
        wanted = function["Properties"].get("Runtime")
        if wanted != runtime:
            found.append(f"{logical_id} asks for {wanted}: it runs on this machine's {runtime}")
    return found


# Execution environments per function, unless the template reserves fewer: a stream consumer gets
# one per open shard of each event source mapping's stream (Lambda runs one batch per shard at a
# time, and a child shard only after its parent); a function invoked only by schedules gets one; any
# other (API routes) four, started on demand as Lambda scales out under load (their invocations wait
# on DynamoDB half the time).
DEFAULT_ENVIRONMENTS = 4


def function_concurrency(
    template: Template, sources: list[StreamSource], routed: set[str], shards: int = 1
) -> dict[str, int]:
    """How many execution environments each function of the template gets locally (``routed``: the
    functions a route of the WebSocket API invokes; ``shards``: the open shards of a stream)."""
    consumers = {source.function for source in sources}
    scheduled = {function for _, targets in schedule_rules(template).values() for function in targets}
    concurrency = {}
    for logical_id, function in template.of_type("AWS::Lambda::Function").items():
        if logical_id in consumers:
            wanted = shards * sum(source.function == logical_id for source in sources)
        elif logical_id in scheduled and logical_id not in routed:
            wanted = 1
        else:
            wanted = DEFAULT_ENVIRONMENTS
        reserved = function["Properties"].get("ReservedConcurrentExecutions")
        concurrency[logical_id] = max(1, min(wanted, int(reserved))) if isinstance(reserved, int) else wanted
    return concurrency
