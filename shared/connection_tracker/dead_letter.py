"""Setting a stream record aside: one SQS message per malformed record, on the stream's
dead-letter queue (``DEAD_LETTER_QUEUE_URL``), so it is kept whole and can be replayed once fixed.

The message body is the record exactly as Lambda delivered it (JSON); its attributes say why it
was set aside. Lambda's own on-failure messages on the same queue describe whole batches instead
(a shard and a sequence-number range) and carry no such attributes.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from connection_tracker.clients import client

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_sqs.client import SQSClient

SOURCE = "stream_metrics"
# SQS takes messages of up to 256 KiB (body and attributes); a record carries two item images of
# up to 400 KB each, so an oversized record is kept without its images (its keys stay).
MAX_BODY_BYTES = 250 * 1024
_MAX_REASON = 1000


class DeadLetterError(RuntimeError):
    """The queue did not take the message (after botocore's retries): retry the record later."""


def message_body(record: Mapping[str, Any]) -> str:
    """The record as JSON, without its images when it would not fit in one message."""
    body = json.dumps(record, default=str, separators=(",", ":"))
    if len(body.encode()) <= MAX_BODY_BYTES:
        return body
    stream = record.get("dynamodb")
    trimmed = {
        **record,
        "dynamodb": {k: v for k, v in stream.items() if k not in ("NewImage", "OldImage")}
        if isinstance(stream, dict)
        else None,
        "imagesOmitted": "the record was larger than one SQS message",
    }
    return json.dumps(trimmed, default=str, separators=(",", ":"))[:MAX_BODY_BYTES]


class DeadLetterQueue:
    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self.url = url

    def send(self, record: Mapping[str, Any], *, sequence_number: str | None, reason: str) -> str:
        """Send one record; return the message id. Raises :class:`DeadLetterError`."""
        attributes: dict[str, Any] = {
            "source": {"DataType": "String", "StringValue": SOURCE},
            "reason": {"DataType": "String", "StringValue": reason[:_MAX_REASON] or "unknown"},
        }
        if sequence_number:
            attributes["sequenceNumber"] = {"DataType": "String", "StringValue": sequence_number}
        try:
            sent = self._client.send_message(
                QueueUrl=self.url, MessageBody=message_body(record), MessageAttributes=attributes
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeadLetterError(f"SendMessage failed: {exc}") from exc
        return str(sent.get("MessageId", ""))


@cache
def dead_letter_queue(url: str) -> DeadLetterQueue:
    """The queue's client, made on first use: most invocations never set a record aside."""
    return DeadLetterQueue(client("sqs"), url)
