"""The whole event flow in one process: the handlers write a moto table, its real stream records
(read back through the DynamoDB Streams API and wrapped as Lambda wraps them) feed the consumer."""

from __future__ import annotations

import boto3

from connection_tracker.catalogue import MetricName
from local_stack.dynamodb.streams import lambda_event, read_all
from sam_template.tables import create_table

TABLE = "connections-flow"


def test_connects_and_disconnects_become_opened_and_closed(
    invoke, event, template, dynamodb, monkeypatch, output
):
    monkeypatch.setenv("CONNECTIONS_TABLE", TABLE)
    stream_arn = create_table(dynamodb, template, "ConnectionsTable", TABLE)
    for index in range(5):
        connect = event("connect")
        connect["requestContext"]["connectionId"] = f"conn-{index}="
        connect["queryStringParameters"] = {"clientId": f"client-{index}"}
        assert invoke("ConnectFunction", connect)["statusCode"] == 200
    for index in (1, 3):
        disconnect = event("disconnect")
        disconnect["requestContext"]["connectionId"] = f"conn-{index}="
        assert invoke("DisconnectFunction", disconnect)["statusCode"] == 200
    output()  # the handlers' own lines are not under test here

    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    records = list(read_all(streams, stream_arn))
    assert [r["eventName"] for r in records] == ["INSERT"] * 5 + ["REMOVE"] * 2

    response = invoke("StreamMetricsFunction", lambda_event(records, stream_arn))

    assert response == {"batchItemFailures": []}
    printed = output()
    values = printed.metric_values()
    assert values[MetricName.CONNECTIONS_OPENED] == [5.0]
    assert values[MetricName.CONNECTIONS_CLOSED] == [2.0]
    assert MetricName.CONNECTIONS_EXPIRED not in values
    assert len(values[MetricName.CONNECTION_LIFETIME]) == 2
    assert all(0 <= lifetime < 60 for lifetime in values[MetricName.CONNECTION_LIFETIME])
    closed = sorted(line["clientId"] for line in printed.logs if line["message"] == "connection closed")
    assert closed == ["client-1", "client-3"]


def test_the_local_stack_undoes_motos_split_insert(dynamodb, template):
    """moto gives two INSERTs for an UpdateItem on a new key; DynamoDB (and the local stack) one."""
    from local_stack.dynamodb.streams import without_split_inserts

    stream_arn = create_table(dynamodb, template, "ConnectionsTable", TABLE)
    dynamodb.update_item(
        TableName=TABLE,
        Key={"connectionId": {"S": "u1="}},
        UpdateExpression="SET clientId = :c, createdAt = :n",
        ExpressionAttributeValues={":c": {"S": "svc"}, ":n": {"N": "1730212321123"}},
    )
    dynamodb.put_item(TableName=TABLE, Item={"connectionId": {"S": "p1="}, "createdAt": {"N": "1"}})
    records = list(read_all(boto3.client("dynamodbstreams", region_name="us-east-1"), stream_arn))

    delivered = without_split_inserts(records)

    assert [r["dynamodb"]["Keys"]["connectionId"]["S"] for r in delivered] == ["u1=", "p1="]
    assert delivered[0]["dynamodb"]["NewImage"]["clientId"] == {"S": "svc"}
