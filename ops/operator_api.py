"""The deployed stack's internal routes, called with the operator's own AWS credentials (SigV4).

API Gateway checks `execute-api:Invoke` before any internal function runs, so every request is signed
with botocore's SigV4 signer for the service `execute-api`. The local API (`make run`) checks no IAM:
requests to a loopback address go unsigned when no credentials are configured.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_TIMEOUT_SECONDS = 15


class OperatorError(Exception):
    """A call that did not succeed; the message is safe to print (no token, no phone)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def _stack(stack: str, region: str | None) -> dict[str, Any]:
    """A deployed stack as CloudFormation DescribeStacks describes it."""
    client = botocore.session.get_session().create_client("cloudformation", region_name=region)
    try:
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except Exception as error:  # botocore's errors name the stack and the reason, never a secret
        raise OperatorError(f"cannot read stack {stack}: {error}") from error
    if not stacks:
        raise OperatorError(f"cannot read stack {stack}: not found")
    found: dict[str, Any] = stacks[0]
    return found


def stack_output(stack: str, region: str | None, key: str) -> str:
    """One output of a deployed stack: `ApiUrl`, `TableName`."""
    for output in _stack(stack, region).get("Outputs", []):
        if output.get("OutputKey") == key:
            return str(output["OutputValue"])
    raise OperatorError(f"stack {stack} has no {key} output")


def stack_parameter(stack: str, region: str | None, key: str) -> str:
    """One parameter value of a deployed stack: `RegistrationTtlDays`, `MaxDevicesPerUser`."""
    for parameter in _stack(stack, region).get("Parameters", []):
        if parameter.get("ParameterKey") == key:
            return str(parameter.get("ResolvedValue") or parameter["ParameterValue"])
    raise OperatorError(f"stack {stack} has no {key} parameter")


class InternalApi:
    """`request(method, path, body)` against one API base URL, signed when credentials exist."""

    def __init__(self, base_url: str, region: str | None = None) -> None:
        self._base = base_url.rstrip("/")
        session = botocore.session.get_session()
        host = urlsplit(self._base).hostname or ""
        match = _EXECUTE_API_HOST.match(host)
        self._region = (match.group(1) if match else None) or region or session.get_config_variable("region")
        self._credentials = session.get_credentials()
        if self._credentials is None and not is_loopback(host):
            raise OperatorError(
                "no AWS credentials found: the internal routes take SigV4-signed requests only"
            )

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": "push-registry-cli"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = self._base + path
        if self._credentials is not None:
            signed = AWSRequest(method=method, url=url, data=data, headers=headers)
            SigV4Auth(
                self._credentials.get_frozen_credentials(), "execute-api", self._region or "us-east-1"
            ).add_auth(signed)
            headers = dict(signed.headers.items())
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
                return Answer(response.status, _json(response.read()))
        except urllib.error.HTTPError as error:
            return Answer(error.code, _json(error.read()))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise OperatorError(f"cannot reach {self._base}: {getattr(error, 'reason', error)}") from error


def user_path(user_id: str, suffix: str = "") -> str:
    return f"/internal/users/{quote(user_id, safe='')}{suffix}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
