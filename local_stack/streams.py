"""DynamoDB Streams records as Lambda's event source mapping hands them to a function."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mypy_boto3_dynamodbstreams.client import DynamoDBStreamsClient


def lambda_record(record: dict[str, Any], event_source_arn: str) -> dict[str, Any]:
    """A record from the Streams API (as boto3 parses it) in the shape Lambda delivers it."""
    delivered = {**record, "dynamodb": dict(record["dynamodb"]), "eventSourceARN": event_source_arn}
    created = delivered["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3 parses the timestamp; Lambda sends epoch seconds
        delivered["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    return delivered


def lambda_event(records: Iterable[dict[str, Any]], event_source_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(record, event_source_arn) for record in records]}


def read_all(client: DynamoDBStreamsClient, stream_arn: str) -> Iterator[dict[str, Any]]:
    """Every record currently in the stream, shard by shard, from the trim horizon."""
    shards = client.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records: list[dict[str, Any]] = list(page["Records"])  # type: ignore[arg-type]
            yield from records
            if not records:
                break
            iterator = page.get("NextShardIterator", "")
