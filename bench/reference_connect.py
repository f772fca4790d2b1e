"""The reference ``$connect`` code path ``make bench`` measures the project's handler against: the
seed's (the specification's sample code), reproduced faithfully.

put_item, then a get_item read-back that is logged, then 200 "connected" — two DynamoDB requests
per connect. Kept only as the baseline of ``make bench``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

dynamodb = boto3.resource("dynamodb")
TABLE_NAME = os.environ.get("CONNECTIONS_TABLE", "")
TTL_HOURS = int(os.environ.get("TTL_HOURS", "24"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ANN401
    table = dynamodb.Table(TABLE_NAME)
    cid = event["requestContext"]["connectionId"]
    now_sec = int(time.time())
    ttl_val = now_sec + TTL_HOURS * 3600
    table.put_item(
        Item={
            "connectionId": cid,
            "createdAt": int(time.time() * 1000),
            "ttl": ttl_val,
            "clientId": "unknown",
        }
    )
    saved = table.get_item(Key={"connectionId": cid})
    print(json.dumps({"message": "saved", "item": saved.get("Item")}, default=str))
    return {"statusCode": 200, "body": "connected"}
