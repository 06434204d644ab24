"""Builds the API Gateway REST (v1) proxy event a deployed function receives for one HTTP request, and
checks a handler's result against what Lambda can send back."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from local.template import Route


def build_rest_event(
    route: Route,
    *,
    raw_path: str,
    path_parameters: dict[str, str],
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    stage: str = "local",
) -> dict[str, Any]:
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value  # API Gateway keeps the last value in `headers`
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    user_agent = next((v for n, v in headers if n.lower() == "user-agent"), None)
    now = time.time()
    return {
        "resource": route.path,
        "path": raw_path,
        "httpMethod": route.method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": route.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{raw_path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": user_agent,
                "caller": None,
                "user": None,
                "accessKey": None,
                "accountId": None,
                "userArn": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "principalOrgId": None,
            },
            "domainName": "localhost",
            "apiId": "local",
        },
        "body": (text if body else None),
        "isBase64Encoded": encoded,
    }


# Lambda's limit on a synchronous invocation's response ("Lambda quotas": 6 MB), as its error states it
# (DataBiosphere/azul#7466, an API Gateway log): API Gateway then answers 502 {"message": "Internal
# server error"} ("Handling Lambda errors with an API Gateway API").
LAMBDA_RESPONSE_MAX_BYTES = 6_291_556
LAMBDA_RESPONSE_TOO_LARGE = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."


class ResponseTooLarge(Exception):
    """A handler's result that Lambda would not send back: the invocation fails instead."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{LAMBDA_RESPONSE_TOO_LARGE} (this one: {size} bytes)")
        self.size = size


def check_response_size(result: Any) -> int:
    """The bytes Lambda's Python 3.13 runtime sends for a handler's result; ResponseTooLarge past the limit.

    The runtime (awslambdaric) serialises the result as JSON with ensure_ascii=False, in UTF-8.
    """
    size = len(json.dumps(result, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > LAMBDA_RESPONSE_MAX_BYTES:
        raise ResponseTooLarge(size)
    return size


class LambdaContext:
    """The attributes of the Lambda context object that the handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_ms: int = 15_000) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
