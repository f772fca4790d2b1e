"""$default: answers the message back (the route has a route response)."""

import json
import os


def handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "echo": event.get("body"),
                "route": event["requestContext"]["routeKey"],
                "connectionId": event["requestContext"]["connectionId"],
                "eventType": event["requestContext"]["eventType"],
                "hasMessageId": bool(event["requestContext"].get("messageId")),
                "room": os.environ.get("ROOM"),
                "secretSeen": os.environ.get("SEND_SECRET"),  # another function's variable: None
            }
        ),
    }
