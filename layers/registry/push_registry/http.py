"""API Gateway REST proxy events in, proxy responses out: the only module that knows their shape."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from push_registry.errors import InvalidRequest, MalformedBody, MissingBody, PayloadTooLarge

# A \uD800-\uDFFF escape: the only way a lone surrogate gets into a decoded body (surrogates written as
# raw bytes are not UTF-8 and fail to decode; an escaped pair decodes into one code point). Bodies
# without one, nearly all, skip the walk below.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler needs from one API Gateway REST proxy event. Header names are lower-cased."""

    method: str
    path_parameters: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes | None
    source_ip: str | None = None
    request_id: str | None = None
    undecodable_body: bool = False  # isBase64Encoded with a body that is not base64
    caller_arn: str | None = None  # the IAM principal that signed the request (AWS_IAM routes only)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        context = event.get("requestContext") or {}
        identity = context.get("identity") or {}
        body, undecodable = _body_bytes(event)
        return cls(
            method=str(event.get("httpMethod") or ""),
            path_parameters=dict(event.get("pathParameters") or {}),
            query=dict(event.get("queryStringParameters") or {}),
            headers={str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()},
            body=body,
            source_ip=identity.get("sourceIp"),
            request_id=context.get("requestId"),
            undecodable_body=undecodable,
            caller_arn=identity.get("userArn"),
        )

    def json_object(self, max_bytes: int) -> dict[str, Any] | None:
        """The body as a JSON object; None when there is no body at all."""
        if self.undecodable_body:
            raise MalformedBody()
        if self.body is None or not self.body.strip():
            return None
        if len(self.body) > max_bytes:
            raise PayloadTooLarge()
        try:
            value = json.loads(self.body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise MalformedBody() from None
        if not isinstance(value, dict):
            raise MalformedBody()
        if _SURROGATE_ESCAPE.search(self.body):
            _refuse_lone_surrogates(value)
        return value

    def required_json_object(self, max_bytes: int) -> dict[str, Any]:
        value = self.json_object(max_bytes)
        if value is None:
            raise MissingBody()
        return value


@dataclass(frozen=True, slots=True)
class Response:
    """A JSON response; `body=None` sends no body (204)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_proxy_result(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.body is None:
            return {"statusCode": self.status, "headers": headers, "body": ""}
        headers.setdefault("Content-Type", "application/json")
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": json.dumps(self.body, ensure_ascii=False, separators=(",", ":")),
        }


def _body_bytes(event: Mapping[str, Any]) -> tuple[bytes | None, bool]:
    body = event.get("body")
    if body is None:
        return None, False
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(body), validate=True), False
        except (binascii.Error, ValueError):
            return None, True
    return str(body).encode("utf-8", errors="surrogatepass"), False


def _refuse_lone_surrogates(body: dict[str, Any]) -> None:
    """Refuse, naming its top-level field, any string of the body (a key or a value, at any depth) that
    holds a lone surrogate.

    JSON allows `"\\ud800"` alone, but the string it decodes to is not Unicode text: no UTF-8 holds it,
    so it could be neither stored (DynamoDB strings are UTF-8) nor echoed in an answer; it used to
    raise UnicodeEncodeError (issue 21). Refused anywhere, ignored fields too, as a body of raw
    surrogate bytes is. Walked with an explicit stack: bodies nest thousands deep.
    """
    for name, value in body.items():
        stack: list[Any] = [name, value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    field = name.encode("utf-8", "backslashreplace").decode()  # the name may hold one
                    raise InvalidRequest.single(
                        field, "invalid_format", "must not hold a lone UTF-16 surrogate"
                    )
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
