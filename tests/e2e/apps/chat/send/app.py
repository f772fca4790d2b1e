"""sendmessage: posts the text to a connection through @connections, at the endpoint a handler
builds from its own event (https://{domainName}/{stage}), as on AWS."""

import json
import os

import boto3


def handler(event, context):
    context_ = event["requestContext"]
    message = json.loads(event["body"])
    api = boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"https://{context_['domainName']}/{context_['stage']}"
    )
    payload = {"from": context_["connectionId"], "text": message["text"], "secret": os.environ["SEND_SECRET"]}
    api.post_to_connection(
        ConnectionId=message.get("to") or context_["connectionId"], Data=json.dumps(payload)
    )
    return {"statusCode": 200}
