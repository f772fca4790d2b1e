"""DynamoDB tables as the template defines them (keys, indexes, stream, TTL), created under a name
of the caller's choosing: the tests and the local stack build their tables from the template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from sam_template.model import Template


def create_table_kwargs(template: Template, logical_id: str, table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments for a table resource of the template, under a name of our choosing."""
    props = template.properties(logical_id)
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


def create_table(client: DynamoDBClient, template: Template, logical_id: str, table_name: str) -> str:
    """Create the table as the template defines it (keys, indexes, stream, TTL); return its stream ARN."""
    described = client.create_table(**create_table_kwargs(template, logical_id, table_name))
    ttl = template.properties(logical_id).get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
    return described["TableDescription"].get("LatestStreamArn", "")
