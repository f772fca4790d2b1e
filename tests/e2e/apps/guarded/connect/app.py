"""$connect: prints what API Gateway handed it from the authorizer."""

import json


def handler(event, context):
    print("connect-authorizer " + json.dumps(event["requestContext"].get("authorizer")))
    return {"statusCode": 200}
