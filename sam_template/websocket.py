"""The template's WebSocket API read as routes: which function each route key invokes.

``AWS::ApiGatewayV2::Route`` → its ``Target`` (``integrations/{IntegrationId}``) →
``AWS::ApiGatewayV2::Integration`` of type ``AWS_PROXY`` → its ``IntegrationUri`` (the Lambda
invocation ARN ``arn:...:lambda:path/2015-03-31/functions/{Function ARN}/invocations``) → the
function. The references are read as CloudFormation writes them: ``!Sub`` with ``${Name}`` or
``${Name.Arn}``, ``!Join``, ``!Ref`` and ``!GetAtt``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sam_template.model import Template

_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


def _names(value: Any) -> list[str]:  # noqa: ANN401 - any CloudFormation value
    """The logical ids a value refers to, in order."""
    if isinstance(value, dict):
        if "Ref" in value:
            return [str(value["Ref"])]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return [str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
            return [name for name in _SUB_NAME.findall(str(text)) if not name.startswith("AWS")]
        if "Fn::Join" in value:
            return [name for part in value["Fn::Join"][1] for name in _names(part)]
    return []


def websocket_apis(template: Template) -> list[str]:
    """The logical ids of the template's WebSocket APIs."""
    return [
        logical_id
        for logical_id, api in template.of_type("AWS::ApiGatewayV2::Api").items()
        if api["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]


def routes(template: Template, api: str) -> dict[str, str]:
    """Route key → logical id of the function the route's integration invokes."""
    functions = set(template.of_type("AWS::Serverless::Function")) | set(
        template.of_type("AWS::Lambda::Function")
    )
    integrations = {}
    for logical_id, integration in template.of_type("AWS::ApiGatewayV2::Integration").items():
        properties = integration["Properties"]
        if api in _names(properties.get("ApiId")) and properties.get("IntegrationType") == "AWS_PROXY":
            targets = [name for name in _names(properties.get("IntegrationUri")) if name in functions]
            if targets:
                integrations[logical_id] = targets[0]
    found: dict[str, str] = {}
    for route in template.of_type("AWS::ApiGatewayV2::Route").values():
        properties = route["Properties"]
        if api not in _names(properties.get("ApiId")):
            continue
        target = next((name for name in _names(properties.get("Target")) if name in integrations), None)
        if target is not None:
            found[str(properties["RouteKey"])] = integrations[target]
    return found


def selection_expression(template: Template, api: str) -> str:
    """The API's ``RouteSelectionExpression`` (``$request.body.action`` and the like)."""
    return str(template.properties(api).get("RouteSelectionExpression", "$request.body.action"))


def two_way_routes(template: Template, api: str) -> set[str]:
    """Route keys that have a route response: API Gateway sends the integration's answer back to
    the client only for those."""
    route_keys = {
        logical_id: str(route["Properties"]["RouteKey"])
        for logical_id, route in template.of_type("AWS::ApiGatewayV2::Route").items()
        if api in _names(route["Properties"].get("ApiId"))
    }
    return {
        route_keys[name]
        for response in template.of_type("AWS::ApiGatewayV2::RouteResponse").values()
        for name in _names(response["Properties"].get("RouteId"))
        if name in route_keys
    }


def stage_name(template: Template, api: str, parameters: dict[str, str]) -> str | None:
    """The name of the API's first stage (a literal or a parameter's value)."""
    for stage in template.of_type("AWS::ApiGatewayV2::Stage").values():
        properties = stage["Properties"]
        if api in _names(properties.get("ApiId")):
            name = properties.get("StageName")
            if isinstance(name, dict) and "Ref" in name:
                return parameters.get(str(name["Ref"]))
            return str(name) if name is not None else None
    return None


def detailed_metrics(template: Template, api: str) -> bool:
    """Whether the API's stage publishes route-level metrics (``DetailedMetricsEnabled``)."""
    for stage in template.of_type("AWS::ApiGatewayV2::Stage").values():
        properties = stage["Properties"]
        if api in _names(properties.get("ApiId")):
            return properties.get("DefaultRouteSettings", {}).get("DetailedMetricsEnabled") is True
    return False


def connect_authorization(template: Template, api: str) -> tuple[str, str | None]:
    """How the API's ``$connect`` route is authorized: its ``AuthorizationType`` (``NONE``,
    ``AWS_IAM`` or ``CUSTOM``) and, for ``CUSTOM``, the logical id of the
    ``AWS::ApiGatewayV2::Authorizer`` its ``AuthorizerId`` names."""
    for route in template.of_type("AWS::ApiGatewayV2::Route").values():
        properties = route["Properties"]
        if api in _names(properties.get("ApiId")) and properties.get("RouteKey") == "$connect":
            kind = str(properties.get("AuthorizationType") or "NONE")
            authorizer = next(iter(_names(properties.get("AuthorizerId"))), None)
            return kind, authorizer
    return "NONE", None


def authorizer_function(template: Template, authorizer: str) -> str | None:
    """The logical id of the function a Lambda authorizer's ``AuthorizerUri`` invokes."""
    functions = set(template.of_type("AWS::Lambda::Function")) | set(
        template.of_type("AWS::Serverless::Function")
    )
    uri = template.properties(authorizer).get("AuthorizerUri")
    return next((name for name in _names(uri) if name in functions), None)
