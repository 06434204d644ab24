"""DynamoDB's request limits on every local DynamoDB client: refused before sending, with DynamoDB's error.

DynamoDB Local and moto accept part of what DynamoDB refuses (DynamoDB Local 1.25.1: a Query's 2,049-byte
partition key or starting key, lone surrogates; moto: an over-long GetItem key, a 26-request
BatchWriteItem, a 5 MB transaction), so code that AWS would answer with a ValidationException passed
locally. `install()` makes every botocore client created afterwards refuse such a request in
`before-parameter-build`, before anything is sent, with the ClientError DynamoDB answers: the same code
and, where it could be found, the same message. Local tooling (the tests, `make run`): never imported
by layers/ or functions/, never shipped.

The limits are those of "Service, account, and table quotas in Amazon DynamoDB" (Constraints.html):
keys of at most 2,048 (partition) and 1,024 (sort) bytes of UTF-8, items of at most 400 KB, at most 100
actions and 4 MB in a transaction, 100 keys in a BatchGetItem, 25 requests in a BatchWriteItem,
expressions of at most 4 KB, placeholders of at most 255 bytes and 2 MB of substitutions. The key
attributes are the table's in template.yaml (every local table is made from it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import botocore.handlers
from botocore.exceptions import ClientError

from local.template import key_attributes, load_template

HASH_KEY_MAX_BYTES = 2048
RANGE_KEY_MAX_BYTES = 1024
ITEM_MAX_BYTES = 400 * 1024  # DynamoDB's KB are 1,024 bytes; DynamoDB Local refuses 409,601, takes 409,600
TRANSACTION_MAX_ACTIONS = 100
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024
BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_REQUESTS = 25
EXPRESSION_MAX_BYTES = 4096
PLACEHOLDER_MAX_BYTES = 255
SUBSTITUTIONS_MAX_BYTES = 2 * 1024 * 1024

# DynamoDB's messages. Where AWS's own answer was found it is quoted (sic: "of2048"); where only
# DynamoDB Local's was, that one (DynamoDB Local is built from DynamoDB's request validation).
# AWS, GetItem/Query/PutItem (facebook/ThreatExchange#1324, ExtendDB/extenddb#194, nextauthjs/next-auth#5827):
HASH_KEY_TOO_LONG = (
    "One or more parameter values were invalid: "
    "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
# AWS (formkiq/formkiq-core#271, ExtendDB/extenddb#194); DynamoDB Local answers the same for a Query:
RANGE_KEY_TOO_LONG = (
    "One or more parameter values were invalid: "
    "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)
# AWS's prefix for a bad ExclusiveStartKey (baopham/laravel-dynamodb#200); its text for an over-long
# one was not found, so the key's own message follows it.
BAD_STARTING_KEY = "The provided starting key is invalid: "
# AWS (amazon-archives/aws-dynamodb-session-tomcat#4) and DynamoDB Local (PutItem, batches, transactions):
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
# DynamoDB Local and moto, UpdateItem:
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
# DynamoDB Local (its payload: the items put, and the keys, expressions and values of the other actions):
TRANSACTION_TOO_LARGE = "Transaction payload size cannot exceed 4MB. Payload Size: {size}"
# AWS (pynamodb/PynamoDB#979: "Invalid FilterExpression: ...; expression size: 4109"):
EXPRESSION_TOO_LONG = (
    "Invalid {parameter}: Expression size has exceeded the maximum allowed size; expression size: {size}"
)
# DynamoDB Local:
NAME_PLACEHOLDER_TOO_LONG = (
    "ExpressionAttributeNames contains invalid key: "
    "The expression attribute map contains a key that is too long; size of key: {size}"
)
VALUE_PLACEHOLDER_TOO_LONG = (
    "ExpressionAttributeValues contains invalid key: "
    "The expression attribute map contains a key that is too long;"
)
SUBSTITUTIONS_TOO_LARGE = "ExpressionAttributeValues exceeds max size"
# The BatchGetItem API reference (more than 100 keys in all); per table, moto's text, which its
# maintainer checked against AWS (getmoto/moto#3046):
BATCH_GET_TOO_MANY = "Too many items requested for the BatchGetItem call"
BATCH_GET_TOO_MANY_IN_TABLE = (
    "1 validation error detected: Value at 'requestItems.{table}.member.keys' failed to satisfy constraint: "
    "Member must have length less than or equal to 100"
)
# AWS, 26 requests for one table (boto/boto3#483); DynamoDB Local, more than 25 in all:
BATCH_WRITE_TOO_MANY_IN_TABLE = (
    "1 validation error detected: Value '{{{table}=[{requests}]}}' at 'requestItems' failed to satisfy "
    "constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, "
    "Member must have length greater than or equal to 1]"
)
BATCH_WRITE_TOO_MANY = "Too many items requested for the BatchWriteItem call"
# AWS's constraint wording, as moto renders it (DynamoDB Local answers its last sentence):
TRANSACTION_TOO_MANY = (
    "1 validation error detected: Value '[{actions}]' at 'transactItems' failed to satisfy constraint: "
    "Member must have length less than or equal to 100"
)
# DynamoDB Local, an over-long key in a TransactWriteItems action (the reasons list each action):
TRANSACTION_CANCELLED = (
    "Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
)
# DynamoDB strings are UTF-8 (Constraints: "Data types"); a lone surrogate has no UTF-8 form. Neither
# AWS's answer to one nor a documented rule was found (botocore sends it as a JSON escape; DynamoDB
# Local stores it, moto fails to encode it), so this message is the guard's own, under DynamoDB's code:
# domain code must never depend on what a service does with a string that is not Unicode.
NOT_UNICODE = (
    "One or more parameter values were invalid: a string holds a lone surrogate, which has no UTF-8 form"
)

_EXPRESSIONS = (
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ConditionExpression",
    "UpdateExpression",
)
# Last: after any handler that rewrites the parameters (boto3's resource layer registers some).
_EVENT = "before-parameter-build.dynamodb"
_PLACEHOLDER = r":[A-Za-z0-9_]+"
_OPERAND = r"#?[A-Za-z0-9_]+"


class _Refused(Exception):
    def __init__(self, message: str, code: str = "ValidationException", **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra


def install() -> None:
    """Check every DynamoDB request of the clients created from now on (idempotent)."""
    spec = (_EVENT, check_request, botocore.handlers.REGISTER_LAST)
    if spec not in botocore.handlers.BUILTIN_HANDLERS:
        # How moto hooks every session: botocore registers BUILTIN_HANDLERS on each new session.
        botocore.handlers.BUILTIN_HANDLERS.append(spec)
    if boto3.DEFAULT_SESSION is not None:  # boto3's session may exist already: its next clients too
        boto3.DEFAULT_SESSION.events.register_last(
            _EVENT, check_request, unique_id="push-registry-aws-limits"
        )


def check_request(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore's `before-parameter-build` handler: a ClientError for a request DynamoDB refuses."""
    try:
        _check(model.name, params)
    except _Refused as refused:
        response: dict[str, Any] = {
            "Error": {"Code": refused.code, "Message": refused.message},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0},
            **refused.extra,
        }
        raise ClientError(response, model.name) from None


def _check(operation: str, params: Mapping[str, Any]) -> None:
    checker = _CHECKERS.get(operation)
    if checker is None:
        return
    _count_limits(operation, params)
    if not _is_unicode(params):
        raise _Refused(NOT_UNICODE)
    checker(params)


# ---------------------------------------------------------------------- sizes


def _utf8(text: Any) -> int:
    return len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0


def _binary(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return _utf8(value)  # botocore encodes a str given as binary in UTF-8


def number_size(text: Any) -> int:
    """A number's size: 1 byte per 2 significant digits (zeros at both ends trimmed), plus 1."""
    digits = str(text).lower().lstrip("+-").split("e")[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: Any) -> int:
    """The size DynamoDB counts for one attribute value (its name excluded), per "Item sizes and formats".

    S: UTF-8 bytes; B: bytes; N: `number_size`; BOOL, NULL: 1; sets: the sum of their members; L and M:
    3 bytes, plus each element's size and 1 byte per element (for M, the element's name too).
    A malformed value counts 0: botocore's own validation refuses it next.
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        return 0
    [(kind, inner)] = value.items()
    sizes: dict[str, Callable[[Any], int]] = {
        "S": _utf8,
        "N": number_size,
        "B": _binary,
        "BOOL": lambda _: 1,
        "NULL": lambda _: 1,
        "SS": lambda members: sum(_utf8(m) for m in members),
        "NS": lambda members: sum(number_size(m) for m in members),
        "BS": lambda members: sum(_binary(m) for m in members),
        "L": lambda elements: 3 + sum(value_size(e) + 1 for e in elements),
        "M": lambda attributes: 3 + sum(_utf8(k) + value_size(v) + 1 for k, v in attributes.items()),
    }
    size = sizes.get(kind)
    return size(inner) if size is not None else 0


def item_size(item: Any) -> int:
    """An item's size: each attribute's name in UTF-8 bytes plus its value's size."""
    if not isinstance(item, Mapping):
        return 0
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


# ---------------------------------------------------------------------- rules


def _keys() -> tuple[str, str | None]:
    global _KEY_ATTRIBUTES  # noqa: PLW0603 - read once from template.yaml
    if _KEY_ATTRIBUTES is None:
        _KEY_ATTRIBUTES = key_attributes(load_template())
    return _KEY_ATTRIBUTES


_KEY_ATTRIBUTES: tuple[str, str | None] | None = None


def _check_key(key: Any, prefix: str = "") -> None:
    """Refuse a key (or an item's key attributes) beyond DynamoDB's key sizes."""
    if not isinstance(key, Mapping):
        return
    partition, sort = _keys()
    if partition in key and value_size(key[partition]) > HASH_KEY_MAX_BYTES:
        raise _Refused(prefix + HASH_KEY_TOO_LONG)
    if sort is not None and sort in key and value_size(key[sort]) > RANGE_KEY_MAX_BYTES:
        raise _Refused(prefix + RANGE_KEY_TOO_LONG)


def _check_item(item: Any) -> None:
    _check_key(item)
    if item_size(item) > ITEM_MAX_BYTES:
        raise _Refused(ITEM_TOO_LARGE)


def _check_expressions(request: Mapping[str, Any]) -> None:
    """Expression strings of at most 4 KB, placeholders of at most 255 bytes, 2 MB of substitutions."""
    for parameter in _EXPRESSIONS:
        size = _utf8(request.get(parameter))
        if size > EXPRESSION_MAX_BYTES:
            raise _Refused(EXPRESSION_TOO_LONG.format(parameter=parameter, size=size))
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    for name in names:
        if _utf8(name) > PLACEHOLDER_MAX_BYTES:
            raise _Refused(NAME_PLACEHOLDER_TOO_LONG.format(size=_utf8(name)))
    if any(_utf8(placeholder) > PLACEHOLDER_MAX_BYTES for placeholder in values):
        raise _Refused(VALUE_PLACEHOLDER_TOO_LONG)
    substitutions = sum(_utf8(k) + _utf8(v) for k, v in names.items()) + sum(
        _utf8(k) + value_size(v) for k, v in values.items()
    )
    if substitutions > SUBSTITUTIONS_MAX_BYTES:
        raise _Refused(SUBSTITUTIONS_TOO_LARGE)


def _key_condition_values(request: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(attribute, value) for each value a Query's key condition compares a key attribute with."""
    expression = request.get("KeyConditionExpression")
    if not isinstance(expression, str):
        return
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    patterns = (
        rf"(?P<a>{_OPERAND})\s*(?:=|<=|<|>=|>)\s*(?P<v>{_PLACEHOLDER})",
        rf"(?P<v>{_PLACEHOLDER})\s*=\s*(?P<a>{_OPERAND})",
        rf"begins_with\s*\(\s*(?P<a>{_OPERAND})\s*,\s*(?P<v>{_PLACEHOLDER})\s*\)",
        rf"(?P<a>{_OPERAND})\s+BETWEEN\s+(?P<v>{_PLACEHOLDER})\s+AND\s+(?P<w>{_PLACEHOLDER})",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, expression, re.IGNORECASE):
            attribute = str(names.get(match["a"], match["a"]))
            for placeholder in (match["v"], match.groupdict().get("w")):
                if placeholder in values:
                    yield attribute, values[placeholder]


def _check_read(params: Mapping[str, Any]) -> None:
    _check_expressions(params)
    _check_key(params.get("Key"))
    for attribute, value in _key_condition_values(params):
        _check_key({attribute: value})
    _check_key(params.get("ExclusiveStartKey"), prefix=BAD_STARTING_KEY)


def _check_put(params: Mapping[str, Any]) -> None:
    _check_expressions(params)
    _check_item(params.get("Item"))


def _check_update(params: Mapping[str, Any]) -> None:
    _check_expressions(params)
    key = params.get("Key")
    _check_key(key)
    # What DynamoDB can tell before reading the item: the key and every value the update may write.
    values = params.get("ExpressionAttributeValues") or {}
    if item_size(key) + sum(value_size(v) for v in values.values()) > ITEM_MAX_BYTES:
        raise _Refused(UPDATE_TOO_LARGE)


def _check_batch_get(params: Mapping[str, Any]) -> None:
    for request in (params.get("RequestItems") or {}).values():
        _check_expressions(request)
        for key in request.get("Keys") or []:
            _check_key(key)


def _check_batch_write(params: Mapping[str, Any]) -> None:
    for requests in (params.get("RequestItems") or {}).values():
        for request in requests:
            if "PutRequest" in request:
                _check_item(request["PutRequest"].get("Item"))
            if "DeleteRequest" in request:
                _check_key(request["DeleteRequest"].get("Key"))


def _check_transact_get(params: Mapping[str, Any]) -> None:
    for action in params.get("TransactItems") or []:
        get = action.get("Get") or {}
        _check_expressions(get)
        _check_key(get.get("Key"))


def _check_transact_write(params: Mapping[str, Any]) -> None:
    actions: list[tuple[str, Any]] = [
        next(iter(action.items()), ("", {})) for action in params.get("TransactItems") or []
    ]
    reasons: list[dict[str, str]] = []
    payload = 0
    for kind, action in actions:
        _check_expressions(action)
        if kind == "Put":
            if item_size(action.get("Item")) > ITEM_MAX_BYTES:
                raise _Refused(ITEM_TOO_LARGE)
            payload += item_size(action.get("Item"))
        else:
            payload += item_size(action.get("Key")) + sum(_utf8(action.get(e)) for e in _EXPRESSIONS)
            payload += sum(value_size(v) for v in (action.get("ExpressionAttributeValues") or {}).values())
        try:
            _check_key(action.get("Item") if kind == "Put" else action.get("Key"))
            reasons.append({"Code": "None"})
        except _Refused as refused:
            reasons.append({"Code": "ValidationError", "Message": refused.message})
    if payload > TRANSACTION_MAX_BYTES:
        raise _Refused(TRANSACTION_TOO_LARGE.format(size=payload))
    if any(reason["Code"] != "None" for reason in reasons):
        codes = ", ".join(reason["Code"] for reason in reasons)
        raise _Refused(
            TRANSACTION_CANCELLED.format(codes=codes),
            code="TransactionCanceledException",
            CancellationReasons=reasons,
        )


def _java_list(kind: str, count: int) -> str:
    """How DynamoDB's Java front end prints a list it refuses: `[com...TransactWriteItem@1a2b3c4d, ...]`."""
    return ", ".join(f"com.amazonaws.dynamodb.v20120810.{kind}@{0x10000000 + i:x}" for i in range(count))


def _count_limits(operation: str, params: Mapping[str, Any]) -> None:
    """How many keys, requests or actions one call may carry."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        actions = params.get("TransactItems") or []
        if len(actions) > TRANSACTION_MAX_ACTIONS:
            kind = "TransactWriteItem" if operation == "TransactWriteItems" else "TransactGetItem"
            raise _Refused(TRANSACTION_TOO_MANY.format(actions=_java_list(kind, len(actions))))
    elif operation == "BatchGetItem":
        tables = params.get("RequestItems") or {}
        for table, request in tables.items():
            if len(request.get("Keys") or []) > BATCH_GET_MAX_KEYS:
                raise _Refused(BATCH_GET_TOO_MANY_IN_TABLE.format(table=table))
        if sum(len(request.get("Keys") or []) for request in tables.values()) > BATCH_GET_MAX_KEYS:
            raise _Refused(BATCH_GET_TOO_MANY)
    elif operation == "BatchWriteItem":
        tables = params.get("RequestItems") or {}
        for table, requests in tables.items():
            if len(requests) > BATCH_WRITE_MAX_REQUESTS:
                listed = _java_list("WriteRequest", len(requests))
                raise _Refused(BATCH_WRITE_TOO_MANY_IN_TABLE.format(table=table, requests=listed))
        if sum(len(requests) for requests in tables.values()) > BATCH_WRITE_MAX_REQUESTS:
            raise _Refused(BATCH_WRITE_TOO_MANY)


def _is_unicode(value: Any) -> bool:
    """Whether every string in the request (names and values) has a UTF-8 form."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, Mapping):
        return all(_is_unicode(k) and _is_unicode(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return all(_is_unicode(v) for v in value)
    return True


_CHECKERS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "GetItem": _check_read,
    "DeleteItem": _check_read,
    "Query": _check_read,
    "Scan": _check_read,
    "PutItem": _check_put,
    "UpdateItem": _check_update,
    "BatchGetItem": _check_batch_get,
    "BatchWriteItem": _check_batch_write,
    "TransactGetItems": _check_transact_get,
    "TransactWriteItems": _check_transact_write,
}
