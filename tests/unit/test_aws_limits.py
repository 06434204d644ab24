"""DynamoDB's limits refused locally as DynamoDB refuses them (local/aws_limits.py), on moto and DynamoDB
Local.

Each refusal is checked for DynamoDB's code and message and for nothing having been sent: without the
guard, the emulator either accepts the request or refuses it after receiving it (with its own words).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import aws_limits
from local.aws_limits import item_size, number_size, value_size
from local.template import create_table, load_template

LIMITS_TABLE = "push-registry-limits"


@dataclass
class Table:
    client: Any
    name: str
    sent: list[str]
    backend: str = "moto"

    def key(self, pk: str = "LIMITS#a", sk: str = "x") -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}


@contextmanager
def counting(client: Any) -> Iterator[list[str]]:
    """The names of the requests the client goes on to send (botocore's `before-call`)."""
    sent: list[str] = []

    def seen(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb.*", seen, unique_id="limits-test")
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", unique_id="limits-test")


@pytest.fixture(params=["moto", pytest.param("dynamodb_local", marks=pytest.mark.integration)])
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    if request.param == "moto":
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, LIMITS_TABLE, load_template())
            with counting(client) as sent:
                yield Table(client, LIMITS_TABLE, sent)
        return
    database = request.getfixturevalue("ddb_local")
    create_table(database.client, LIMITS_TABLE, load_template())  # kept apart from the API's table
    with counting(database.client) as sent:
        yield Table(database.client, LIMITS_TABLE, sent, "dynamodb_local")


def refused(call: Callable[[], Any], table: Table, message: str, code: str = "ValidationException") -> Any:
    """The ClientError DynamoDB answers, raised before anything was sent."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == (code, message)
    assert table.sent == [], "refused before the request is sent"
    return raised.value.response


def puts(table: Table, count: int, **attributes: Any) -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": table.name, "Item": {**table.key(f"LIMITS#t{i}"), **attributes}}}
        for i in range(count)
    ]


# ---------------------------------------------------------------------- keys

PK_OVER = "p" * 2049
SK_OVER = "s" * 1025
SK_OVER_IN_BYTES = "é" * 1024  # 1,024 characters, 2,048 bytes of UTF-8


def key_requests(table: Table, pk: str, sk: str) -> dict[str, Callable[[], Any]]:
    """Every request shape that carries a key, with that key."""
    c, t, key = table.client, table.name, table.key(pk, sk)
    values = {":pk": key["pk"], ":sk": key["sk"]}
    return {
        "get_item": lambda: c.get_item(TableName=t, Key=key),
        "put_item": lambda: c.put_item(TableName=t, Item=key),
        "delete_item": lambda: c.delete_item(TableName=t, Key=key),
        "update_item": lambda: c.update_item(
            TableName=t, Key=key, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "1"}}
        ),
        "query_condition": lambda: c.query(
            TableName=t, KeyConditionExpression="pk = :pk AND sk = :sk", ExpressionAttributeValues=values
        ),
        "query_begins_with": lambda: c.query(
            TableName=t,
            KeyConditionExpression="#p = :pk AND begins_with(#s, :sk)",
            ExpressionAttributeNames={"#p": "pk", "#s": "sk"},
            ExpressionAttributeValues=values,
        ),
        "batch_get_item": lambda: c.batch_get_item(RequestItems={t: {"Keys": [key]}}),
        "batch_write_put": lambda: c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": key}}]}),
        "batch_write_delete": lambda: c.batch_write_item(RequestItems={t: [{"DeleteRequest": {"Key": key}}]}),
        "transact_get_items": lambda: c.transact_get_items(
            TransactItems=[{"Get": {"TableName": t, "Key": key}}]
        ),
    }


KEY_SHAPES = list(key_requests(Table(None, "", []), "", ""))


@pytest.mark.parametrize("shape", KEY_SHAPES)
def test_a_partition_key_over_2048_bytes_is_refused(table: Table, shape: str) -> None:
    refused(key_requests(table, PK_OVER, "x")[shape], table, aws_limits.HASH_KEY_TOO_LONG)


@pytest.mark.parametrize("shape", KEY_SHAPES)
@pytest.mark.parametrize("sort_key", [SK_OVER, SK_OVER_IN_BYTES], ids=["1025_ascii", "1024_two_byte_chars"])
def test_a_sort_key_over_1024_bytes_of_utf8_is_refused(table: Table, shape: str, sort_key: str) -> None:
    refused(key_requests(table, "LIMITS#a", sort_key)[shape], table, aws_limits.RANGE_KEY_TOO_LONG)


@pytest.mark.parametrize("shape", KEY_SHAPES)
def test_keys_at_the_limits_pass(table: Table, shape: str) -> None:
    key_requests(table, "p" * 2048, "é" * 512)[shape]()  # 2,048 and 1,024 bytes
    assert table.sent


def test_a_starting_key_over_the_limit_is_refused(table: Table) -> None:
    def query(start: dict[str, Any]) -> Any:
        return table.client.query(
            TableName=table.name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "LIMITS#a"}},
            ExclusiveStartKey=start,
        )

    prefix = aws_limits.BAD_STARTING_KEY
    refused(
        lambda: query(table.key("LIMITS#a", SK_OVER_IN_BYTES)), table, prefix + aws_limits.RANGE_KEY_TOO_LONG
    )
    refused(lambda: query(table.key(PK_OVER)), table, prefix + aws_limits.HASH_KEY_TOO_LONG)


def test_an_over_long_key_cancels_a_write_transaction(table: Table) -> None:
    actions = [
        {"Put": {"TableName": table.name, "Item": table.key("LIMITS#fine")}},
        {"Delete": {"TableName": table.name, "Key": table.key("LIMITS#a", SK_OVER_IN_BYTES)}},
    ]
    response = refused(
        lambda: table.client.transact_write_items(TransactItems=actions),
        table,
        aws_limits.TRANSACTION_CANCELLED.format(codes="None, ValidationError"),
        code="TransactionCanceledException",
    )
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": aws_limits.RANGE_KEY_TOO_LONG},
    ]


# ---------------------------------------------------------------------- items and transactions


def test_an_item_over_400_kb_is_refused(table: Table) -> None:
    key = table.key()
    big = {**key, "d": {"S": "x" * (409_600 - item_size(key))}}  # 409,601 bytes with the name "d"
    assert item_size(big) == 409_601
    c, t = table.client, table.name
    refused(lambda: c.put_item(TableName=t, Item=big), table, aws_limits.ITEM_TOO_LARGE)
    write = {t: [{"PutRequest": {"Item": big}}]}
    refused(lambda: c.batch_write_item(RequestItems=write), table, aws_limits.ITEM_TOO_LARGE)
    transaction = [{"Put": {"TableName": t, "Item": big}}]
    refused(lambda: c.transact_write_items(TransactItems=transaction), table, aws_limits.ITEM_TOO_LARGE)
    values = {":v": {"S": "x" * 409_600}}
    update = {"UpdateExpression": "SET d = :v", "ExpressionAttributeValues": values}
    refused(lambda: c.update_item(TableName=t, Key=key, **update), table, aws_limits.UPDATE_TOO_LARGE)


def test_an_item_within_400_kb_is_stored(table: Table) -> None:
    # 400,000 bytes: moto refuses from 405,001 (its own count); the exact limit is checked on DynamoDB Local.
    key = table.key()
    item = {**key, "d": {"S": "x" * (400_000 - item_size(key))}}
    table.client.put_item(TableName=table.name, Item=item)
    assert table.client.get_item(TableName=table.name, Key=key, ConsistentRead=True)["Item"] == item


@pytest.mark.integration
def test_an_item_of_exactly_400_kb_is_stored_by_dynamodb_local(ddb_local: Any) -> None:
    """The size rule agrees with DynamoDB Local's: 409,600 bytes are stored (409,601 refused above)."""
    create_table(ddb_local.client, LIMITS_TABLE, load_template())
    key = {"pk": {"S": "LIMITS#exact"}, "sk": {"S": "é"}}
    item = {**key, "n": {"N": "12345"}, "m": {"M": {"a": {"L": [{"BOOL": True}]}}}}
    item["d"] = {"S": "x" * (409_600 - item_size(item) - 1)}
    assert item_size(item) == 409_600
    ddb_local.client.put_item(TableName=LIMITS_TABLE, Item=item)


def test_a_transaction_of_101_actions_is_refused(table: Table) -> None:
    c = table.client
    write = puts(table, 101)
    message = aws_limits.TRANSACTION_TOO_MANY.format(actions=aws_limits._java_list("TransactWriteItem", 101))
    refused(lambda: c.transact_write_items(TransactItems=write), table, message)
    read = [{"Get": {"TableName": table.name, "Key": table.key(f"LIMITS#t{i}")}} for i in range(101)]
    message = aws_limits.TRANSACTION_TOO_MANY.format(actions=aws_limits._java_list("TransactGetItem", 101))
    refused(lambda: c.transact_get_items(TransactItems=read), table, message)


def test_a_transaction_of_100_actions_passes(table: Table) -> None:
    table.client.transact_write_items(TransactItems=puts(table, 100))
    if table.backend == "moto":
        return  # moto refuses a TransactGetItems of more than 25 actions, AWS's limit until 2022
    reads = [{"Get": {"TableName": table.name, "Key": table.key(f"LIMITS#t{i}")}} for i in range(100)]
    assert len(table.client.transact_get_items(TransactItems=reads)["Responses"]) == 100


def test_a_transaction_over_4_mb_is_refused(table: Table) -> None:
    actions = puts(table, 11, d={"S": "x" * 390_000})  # 11 items of 390,015 or 390,016 bytes
    payload = sum(item_size(action["Put"]["Item"]) for action in actions)
    assert payload > 4 * 1024 * 1024
    refused(
        lambda: table.client.transact_write_items(TransactItems=actions),
        table,
        aws_limits.TRANSACTION_TOO_LARGE.format(size=payload),
    )


def test_a_transaction_within_4_mb_passes(table: Table) -> None:
    table.client.transact_write_items(TransactItems=puts(table, 10, d={"S": "x" * 390_000}))
    assert table.sent == ["TransactWriteItems"]


# ---------------------------------------------------------------------- batches


def test_a_batch_get_of_101_keys_is_refused(table: Table) -> None:
    keys = [table.key(f"LIMITS#b{i}") for i in range(101)]
    request = {table.name: {"Keys": keys}}
    refused(
        lambda: table.client.batch_get_item(RequestItems=request),
        table,
        aws_limits.BATCH_GET_TOO_MANY_IN_TABLE.format(table=table.name),
    )
    table.client.batch_get_item(RequestItems={table.name: {"Keys": keys[:100]}})
    assert table.sent == ["BatchGetItem"]


def test_a_batch_write_of_26_requests_is_refused(table: Table) -> None:
    requests = [{"PutRequest": {"Item": table.key(f"LIMITS#w{i}")}} for i in range(26)]
    message = aws_limits.BATCH_WRITE_TOO_MANY_IN_TABLE.format(
        table=table.name, requests=aws_limits._java_list("WriteRequest", 26)
    )
    refused(lambda: table.client.batch_write_item(RequestItems={table.name: requests}), table, message)
    table.client.batch_write_item(RequestItems={table.name: requests[:25]})
    assert table.sent == ["BatchWriteItem"]


# ---------------------------------------------------------------------- expressions


def test_an_expression_over_4_kb_is_refused(table: Table) -> None:
    def get(projection: str) -> Any:
        return table.client.get_item(TableName=table.name, Key=table.key(), ProjectionExpression=projection)

    too_long = aws_limits.EXPRESSION_TOO_LONG.format(parameter="ProjectionExpression", size=4097)
    refused(lambda: get("a" * 4097), table, too_long)
    get("a" * 4096)
    assert table.sent == ["GetItem"]


def test_a_condition_expression_over_4_kb_in_bytes_is_refused(table: Table) -> None:
    condition = "attribute_not_exists(" + "é" * 2038 + ")"  # 2,060 characters, 4,098 bytes
    message = aws_limits.EXPRESSION_TOO_LONG.format(parameter="ConditionExpression", size=4098)
    refused(
        lambda: table.client.put_item(TableName=table.name, Item=table.key(), ConditionExpression=condition),
        table,
        message,
    )


def test_over_long_placeholders_and_substitutions_are_refused(table: Table) -> None:
    c, t, key = table.client, table.name, table.key()
    name = "#" + "n" * 255
    refused(
        lambda: c.get_item(
            TableName=t, Key=key, ProjectionExpression=name, ExpressionAttributeNames={name: "v"}
        ),
        table,
        aws_limits.NAME_PLACEHOLDER_TOO_LONG.format(size=256),
    )
    value = ":" + "v" * 255
    refused(
        lambda: c.delete_item(
            TableName=t,
            Key=key,
            ConditionExpression=f"v = {value}",
            ExpressionAttributeValues={value: {"S": "x"}},
        ),
        table,
        aws_limits.VALUE_PLACEHOLDER_TOO_LONG,
    )
    values = {f":{letter}": {"S": letter * 700_000} for letter in "abc"}  # 2.1 MB of values
    refused(
        lambda: c.delete_item(
            TableName=t, Key=key, ConditionExpression="v IN (:a, :b, :c)", ExpressionAttributeValues=values
        ),
        table,
        aws_limits.SUBSTITUTIONS_TOO_LARGE,
    )


# ---------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    "where",
    ["partition key", "attribute value", "starting key", "expression value"],
)
def test_a_lone_surrogate_is_refused(table: Table, where: str) -> None:
    c, t, key = table.client, table.name, table.key()
    lone = "LIMITS#\ud800"
    calls = {
        "partition key": lambda: c.get_item(TableName=t, Key=table.key(lone)),
        "attribute value": lambda: c.put_item(TableName=t, Item={**key, "v": {"S": lone}}),
        "starting key": lambda: c.query(
            TableName=t,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": key["pk"]},
            ExclusiveStartKey=table.key("LIMITS#a", "LIVE#\udfff"),
        ),
        "expression value": lambda: c.update_item(
            TableName=t, Key=key, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": lone}}
        ),
    }
    refused(calls[where], table, aws_limits.NOT_UNICODE)


def test_paired_surrogates_and_other_unicode_pass(table: Table) -> None:
    item = {**table.key("LIMITS#😀"), "v": {"S": "é 😀 \u2028"}}
    table.client.put_item(TableName=table.name, Item=item)
    assert table.client.get_item(TableName=table.name, Key=table.key("LIMITS#😀"))["Item"] == item


# ---------------------------------------------------------------------- sizes


def test_value_sizes_follow_dynamodbs_documented_rules() -> None:
    assert value_size({"S": "é"}) == 2
    assert value_size({"B": b"\x00\x01"}) == 2
    assert [number_size(n) for n in ("0", "1", "10", "100", "123", "-0.0001", "1.5E+10")] == [
        1,
        2,
        2,
        2,
        3,
        2,
        2,
    ]
    assert number_size("9" * 38) == 20
    assert value_size({"BOOL": False}) == value_size({"NULL": True}) == 1
    assert value_size({"L": []}) == value_size({"M": {}}) == 3
    assert value_size({"L": [{"S": "x"}, {"S": "y"}]}) == 3 + 2 * (1 + 1)
    assert value_size({"M": {"a": {"S": "x"}}}) == 3 + (1 + 1 + 1)
    assert value_size({"SS": ["ab", "c"]}) == 3
    assert item_size({"pk": {"S": "a"}, "n": {"N": "12"}}) == (2 + 1) + (1 + 2)


def test_install_is_idempotent() -> None:
    import botocore.handlers

    aws_limits.install()
    aws_limits.install()
    installed = [spec for spec in botocore.handlers.BUILTIN_HANDLERS if aws_limits.check_request in spec]
    assert len(installed) == 1
