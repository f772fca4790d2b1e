"""$connect: prints who the authorizer said the caller is."""

import json


def handler(event, context):
    print("connect-authorizer " + json.dumps(event["requestContext"].get("authorizer")))
    return {"statusCode": 200}
