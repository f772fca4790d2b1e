"""$default: answers what the function sees of its runtime, logging with plain `logging`."""

import json
import logging
import os
import sys

import text_unidecode

import chat

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    logger.info("echoing %s", event["body"])
    print("printed to stdout")
    print("printed to stderr", file=sys.stderr)
    body = {
        "echo": text_unidecode.unidecode(event["body"]),
        "module": __name__,
        "packageInitialised": chat.INITIALISED,
        "dependencyFrom": text_unidecode.__file__,
        "firstOnPath": sys.path[0],
        "cwd": os.getcwd(),
        "greeting": os.environ.get("GREETING"),
        "taskRoot": os.environ.get("LAMBDA_TASK_ROOT"),
        "handler": os.environ.get("_HANDLER"),
        "leaked": {name: os.environ.get(name) for name in ("LEAK_CANARY", "AWS_PROFILE", "HTTPS_PROXY")},
        "requestId": context.aws_request_id,
        "logStream": context.log_stream_name,
        "logGroup": context.log_group_name,
        "memory": context.memory_limit_in_mb,
    }
    return {"statusCode": 200, "body": json.dumps(body)}
