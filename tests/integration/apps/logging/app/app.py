"""Logs at every level through the root logger and Powertools' Logger, prints, and answers what
Lambda told it about logging."""

import logging
import os

from aws_lambda_powertools import Logger

root = logging.getLogger()
powertools = Logger(service="logging-fixture")


def handler(event, context):
    root.debug("root debug")
    root.info("root info")
    root.warning("root warning")
    powertools.info("powertools info")
    powertools.warning("powertools warning")
    print("plain print")
    return {
        "format": os.environ.get("AWS_LAMBDA_LOG_FORMAT"),
        "level": os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
        "group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "powertoolsLevel": powertools.log_level,
        "requestId": context.aws_request_id,
    }
