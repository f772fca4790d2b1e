"""The cost meter inside the emulated AWS endpoint (``local_stack.cost.endpoint``): DynamoDB units per
table and index, as DynamoDB bills them, on hand-computed items; SQS requests per 64 KB chunk;
only the account's own calls (a function's, not the TTL process's or the harness's)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from local_stack.cost import UNITS_PATH
from local_stack.cost.endpoint import TTL_KEY
from local_stack.faults import access_key
from local_stack.provisioning import emulator as aws
from sam_template.model import load_template
from sam_template.tables import create_table
from tests.tables import key_table

FUNCTION = access_key("ConnectFunction")


@pytest.fixture(scope="module")
def endpoint():
    server = aws.MotoServer()
    server.start()
    harness = aws.client("dynamodb", server.endpoint)
    key_table(harness, "t")
    create_table(harness, load_template(), "ConnectionsTable", "conn", {"MaxConnectionsPerClient": "2"})
    yield server.endpoint
    server.stop()


def units(endpoint: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}{UNITS_PATH}", timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


class Bill:
    """What the endpoint metered while the block ran."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __enter__(self) -> Bill:
        self.before = units(self.endpoint)
        return self

    def __exit__(self, *_: object) -> None:
        self.after = units(self.endpoint)

    def table(self, name: str, kind: str = "writeUnits") -> float:
        get = lambda bill: bill["dynamodb"].get(name, {}).get(kind, 0.0)  # noqa: E731
        return get(self.after) - get(self.before)

    def index(self, table: str, index: str, kind: str = "writeUnits") -> float:
        get = lambda bill: bill["dynamodb"].get(table, {}).get("indexes", {}).get(index, {}).get(kind, 0.0)  # noqa: E731
        return get(self.after) - get(self.before)

    def requests(self, service: str) -> float:
        return self.after[service]["requests"] - self.before[service]["requests"]


def sized(key: str, size: int) -> dict:
    """An item of table ``t`` of exactly ``size`` bytes: "k" + key, "p" + padding."""
    return {"k": {"S": key}, "p": {"S": "x" * (size - 2 - len(key))}}


def test_a_put_consumes_the_larger_of_the_item_before_and_after(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    with Bill(endpoint) as bill:
        dynamodb.put_item(TableName="t", Item=sized("put", 300))  # 1
        dynamodb.put_item(TableName="t", Item=sized("put", 2_500))  # 3
        dynamodb.put_item(TableName="t", Item=sized("put", 100))  # the 2,500 bytes it replaced: 3
    assert bill.table("t") == 7


def test_a_write_whose_condition_failed_still_consumes_what_it_found(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("taken", 2_500))
    failed = dynamodb.exceptions.ConditionalCheckFailedException
    with Bill(endpoint) as bill:
        with pytest.raises(failed):
            dynamodb.put_item(
                TableName="t", Item=sized("taken", 10), ConditionExpression="attribute_not_exists(k)"
            )  # the 2,500 bytes found: 3
        with pytest.raises(failed):
            dynamodb.update_item(
                TableName="t",
                Key={"k": {"S": "nobody"}},
                UpdateExpression="SET p = :p",
                ConditionExpression="attribute_exists(k)",
                ExpressionAttributeValues={":p": {"S": "y"}},
            )  # nothing found: the minimum, 1
    assert bill.table("t") == 4


def test_a_delete_consumes_the_item_it_removed(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("doomed", 2_500))
    with Bill(endpoint) as bill:
        dynamodb.delete_item(TableName="t", Key={"k": {"S": "doomed"}})  # 3
        dynamodb.delete_item(TableName="t", Key={"k": {"S": "doomed"}})  # gone already: 1
    assert bill.table("t") == 4


def test_binary_attributes_are_their_raw_bytes(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    with Bill(endpoint) as bill:
        dynamodb.put_item(
            TableName="t", Item={"k": {"S": "bin"}, "b": {"B": b"\x00" * 1_100}, "l": {"L": [{"B": b"x"}]}}
        )  # 1 + 3, 1 + 1,100, 1 + 3 + (1 + 1): 1,111 bytes, 2 units
    assert bill.table("t") == 2


def test_a_transaction_takes_two_units_per_kilobyte(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    with Bill(endpoint) as bill:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": sized("tx-1", 300)}},  # 2 x 1
                {"Put": {"TableName": "t", "Item": sized("tx-2", 1_200)}},  # 2 x 2
            ]
        )
    assert bill.table("t") == 6


def test_each_index_write_consumes_the_projected_item(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    item = {
        "connectionId": {"S": "c1"},
        "clientId": {"S": "me"},
        "createdAt": {"N": "1"},
        "padding": {"S": "x" * 1_500},  # not projected (KEYS_ONLY): the index entry is < 1 KB
    }
    with Bill(endpoint) as bill:
        dynamodb.put_item(TableName="conn", Item=item)  # table 2 (1,5xx bytes), index 1
        dynamodb.put_item(TableName="conn", Item={"connectionId": {"S": "c2"}})  # table 1, not indexed
        dynamodb.update_item(
            TableName="conn",
            Key={"connectionId": {"S": "c1"}},
            UpdateExpression="SET createdAt = :at",
            ExpressionAttributeValues={":at": {"N": "2"}},
        )  # table 2, the index key moved: deleted and put, 2
        dynamodb.delete_item(TableName="conn", Key={"connectionId": {"S": "c1"}})  # table 2, index 1
    assert bill.table("conn") == 2 + 1 + 2 + 2
    assert bill.index("conn", "ByClient") == 1 + 2 + 1


def test_a_ttl_delete_costs_nothing(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(
        TableName="conn",
        Item={
            "connectionId": {"S": "old"},
            "clientId": {"S": "me"},
            "createdAt": {"N": "1"},
            "ttl": {"N": "1"},
        },
    )
    ttl = aws.client("dynamodb", endpoint, access_key=TTL_KEY)
    with Bill(endpoint) as bill:
        ttl.delete_item(
            TableName="conn",
            Key={"connectionId": {"S": "old"}},
            ConditionExpression="#ttl < :now",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":now": {"N": "2"}},
        )
    assert (bill.table("conn"), bill.index("conn", "ByClient")) == (0, 0)


def test_the_harness_and_the_stack_are_not_billed(endpoint):
    harness = aws.client("dynamodb", endpoint)
    with Bill(endpoint) as bill:
        harness.put_item(TableName="t", Item=sized("harness", 300))
        harness.scan(TableName="t")
    assert (bill.table("t"), bill.table("t", "readUnits")) == (0, 0)


def test_reads_per_4_kilobytes_of_what_was_evaluated(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("large", 5_000))
    with Bill(endpoint) as bill:
        dynamodb.get_item(TableName="t", Key={"k": {"S": "large"}}, ConsistentRead=True)  # 2
        dynamodb.get_item(TableName="t", Key={"k": {"S": "large"}})  # 1
        dynamodb.get_item(TableName="t", Key={"k": {"S": "missing"}})  # 0.5
    assert bill.table("t", "readUnits") == 3.5


def test_a_scan_pays_for_what_it_evaluated_not_what_it_returned(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    harness = aws.client("dynamodb", endpoint)
    key_table(harness, "s")
    for number in range(3):
        harness.put_item(TableName="s", Item=sized(f"s{number}", 2_000))
    with Bill(endpoint) as bill:
        found = dynamodb.scan(
            TableName="s",
            FilterExpression="k = :none",
            ExpressionAttributeValues={":none": {"S": "none"}},
            ProjectionExpression="k",
        )
    assert (found["Count"], found["ScannedCount"]) == (0, 3)
    assert bill.table("s", "readUnits") == 1  # 6,000 bytes evaluated: 2 x 4 KB, eventually consistent


def test_a_query_on_the_index_reads_the_index(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    for number in range(3):
        dynamodb.put_item(
            TableName="conn",
            Item={"connectionId": {"S": f"q{number}"}, "clientId": {"S": "query"}, "createdAt": {"N": "1"}},
        )
    with Bill(endpoint) as bill:
        found = dynamodb.query(
            TableName="conn",
            IndexName="ByClient",
            KeyConditionExpression="clientId = :c",
            ExpressionAttributeValues={":c": {"S": "query"}},
        )
    assert found["Count"] == 3
    assert (bill.index("conn", "ByClient", "readUnits"), bill.table("conn", "readUnits")) == (0.5, 0)


def test_sqs_requests_per_64_kb_chunk(endpoint):
    sqs = aws.client("sqs", endpoint, access_key=FUNCTION)
    url = aws.client("sqs", endpoint).create_queue(QueueName="dead-letters")["QueueUrl"]
    with Bill(endpoint) as bill:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (70 * 1024))  # 2 chunks
        sqs.send_message(QueueUrl=url, MessageBody="small")  # 1
    assert bill.requests("sqs") == 3


def test_batch_get_reads_each_item_as_its_table_asks(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("batch-large", 5_000))
    with Bill(endpoint) as bill:
        dynamodb.batch_get_item(
            RequestItems={
                "t": {"Keys": [{"k": {"S": "batch-large"}}, {"k": {"S": "missing"}}], "ConsistentRead": True},
                "conn": {"Keys": [{"connectionId": {"S": "missing"}}]},
            }
        )  # t: 2 + 1 (consistent); conn: 0.5
    assert (bill.table("t", "readUnits"), bill.table("conn", "readUnits")) == (3, 0.5)


def test_batch_write_pays_each_put_and_delete(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("batch-doomed", 2_500))
    with Bill(endpoint) as bill:
        dynamodb.batch_write_item(
            RequestItems={
                "t": [
                    {"PutRequest": {"Item": sized("batch-new", 1_500)}},  # 2
                    {"DeleteRequest": {"Key": {"k": {"S": "batch-doomed"}}}},  # 3
                ]
            }
        )
    assert bill.table("t") == 5


def test_reading_the_old_item_for_a_write_is_no_read(endpoint):
    # moto reads the item before an UpdateItem and for a PutItem's ReturnValues: DynamoDB bills
    # the write alone
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("returned", 300))
    with Bill(endpoint) as bill:
        dynamodb.put_item(TableName="t", Item=sized("returned", 300), ReturnValues="ALL_OLD")  # 1
        dynamodb.update_item(
            TableName="t",
            Key={"k": {"S": "returned"}},
            UpdateExpression="SET p = :p",
            ExpressionAttributeValues={":p": {"S": "y"}},
        )  # 1
    assert (bill.table("t"), bill.table("t", "readUnits")) == (2, 0)


def test_a_cancelled_transaction_pays_its_prepare_phase(endpoint):
    dynamodb = aws.client("dynamodb", endpoint, access_key=FUNCTION)
    dynamodb.put_item(TableName="t", Item=sized("tx-taken", 1_500))
    with Bill(endpoint) as bill, pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": sized("tx-free", 300)}},  # nothing found: 1
                {
                    "Put": {
                        "TableName": "t",
                        "Item": sized("tx-taken", 300),
                        "ConditionExpression": "attribute_not_exists(k)",
                    }
                },  # the 1,500 bytes found: 2
            ]
        )
    assert bill.table("t") == 3
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"k": {"S": "tx-free"}})
