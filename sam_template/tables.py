"""DynamoDB tables as the template defines them (keys, indexes, stream, TTL), created under a name
of the caller's choosing: the tests and the local stack build their tables from the template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sam_template.conditions import chosen

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from sam_template.model import Template


def table_properties(
    template: Template, logical_id: str, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """A table's properties as a deployment with these parameters (the template's defaults
    overridden by ``parameters``) has them: its ``Fn::If`` chosen (e.g. ``ByClient`` exists only
    with ``MaxConnectionsPerClient`` above 0)."""
    values = {**template.parameter_defaults(), **(parameters or {})}
    properties: dict[str, Any] = chosen(template, template.properties(logical_id), values)
    return properties


def create_table_kwargs(
    template: Template, logical_id: str, table_name: str, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """``CreateTable`` arguments for a table resource of the template, under a name of our choosing,
    as a deployment with these parameters (defaults otherwise) creates it."""
    props = table_properties(template, logical_id, parameters)
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "GlobalSecondaryIndexes" in props:
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


def create_table(
    client: DynamoDBClient,
    template: Template,
    logical_id: str,
    table_name: str,
    parameters: dict[str, str] | None = None,
) -> str:
    """Create the table as the template defines it (keys, indexes, stream, TTL) for these parameters
    (the template's defaults otherwise); return its stream ARN."""
    described = client.create_table(**create_table_kwargs(template, logical_id, table_name, parameters))
    ttl = table_properties(template, logical_id, parameters).get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    return described["TableDescription"].get("LatestStreamArn", "")
