"""$connect: remember this connection as the client's latest and close the one it replaces."""

import contextlib
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["LATEST_TABLE"])


def handler(event, context):
    request = event["requestContext"]
    client_id = (event.get("queryStringParameters") or {}).get("clientId")
    if not client_id:
        return {"statusCode": 200}
    replaced = table.put_item(
        Item={"clientId": client_id, "connectionId": request["connectionId"]}, ReturnValues="ALL_OLD"
    ).get("Attributes", {})
    previous = replaced.get("connectionId")
    if previous:
        api = boto3.client(
            "apigatewaymanagementapi", endpoint_url=f"https://{request['domainName']}/{request['stage']}"
        )
        with contextlib.suppress(api.exceptions.GoneException):  # already gone: as good as closed
            api.delete_connection(ConnectionId=previous)
        print(f"closed {previous}, replaced by {request['connectionId']}")
    return {"statusCode": 200}
