"""Every function in the environment the translated template gives it in AWS, and nothing local.

On moto: the table from template.yaml, the HS256 key in Secrets Manager (a rotated secret, so both
AWSCURRENT and AWSPREVIOUS exist) and the chat backoffice's keys in an SSM SecureString parameter with
a hierarchical name. Each function is a cold start: imported afresh, its settings read from exactly
the variables the template sets for it plus those Lambda sets itself. No JWT_SECRET, no
PIGEONS_PUBLIC_KEYS, no DYNAMODB_ENDPOINT_URL: a function that still needed one would fail here.
The calls are recorded under these parameters and checked by test_permissions against the roles of
the stacks that set them.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities import parameters as powertools_parameters
from moto import mock_aws

from local.devtoken import DEVELOPMENT_PLATFORM_KEY, DEVELOPMENT_SECRET
from local.events import LambdaContext
from local.sam_translate import SWITCHES, Stack, translated
from local.template import create_table, load_template
from push_registry import runtime
from push_registry.settings import settings
from tests.aws_calls import RECORDER

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TABLE = "push-registry-test"  # the suite's name: one table name in every recorded profile
PREVIOUS_KEY = "deployed-previous-signing-key-0123456789-abcdefghijklmnopqrstuv"
CURRENT_KEY = "deployed-current-signing-key-0123456789-abcdefghijklmnopqrstuvw"
PIGEONS_PARAMETER = SWITCHES["PigeonsPublicKeysParameter"]  # "push-registry/pigeons-public-keys"
PIGEONS_KEY = "pk_deployed_pigeons"
LOCAL_ONLY = ("JWT_SECRET", "PIGEONS_PUBLIC_KEYS", "DYNAMODB_ENDPOINT_URL")


def lambda_variables(function_name: str) -> dict[str, str]:
    """What the Lambda python3.13 runtime sets in every environment, credentials included."""
    return {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIADEPLOYEDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "deployed-example-secret",
        "AWS_SESSION_TOKEN": "deployed-example-session-token",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": "/var/task",
        "_HANDLER": "app.handler",
        "TZ": ":UTC",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    }


def forget_cold_start_state() -> None:
    """What one execution environment keeps between invocations: the settings, the clients and the
    objects runtime builds, and Powertools' parameter cache and default providers."""
    settings.cache_clear()
    for name in dir(runtime):
        cached = getattr(runtime, name)
        if callable(getattr(cached, "cache_clear", None)):
            cached.cache_clear()
    powertools_parameters.clear_caches()
    powertools_parameters.base.DEFAULT_PROVIDERS.clear()


class Deployment:
    """The stack on moto: its AWS resources, and each function started as Lambda would start it."""

    def __init__(self, secret_arn: str) -> None:
        self.parameters = {
            "JwksUrl": "",
            "EnableSnapStart": "false",
            "JwtSecretArn": secret_arn,
            "PigeonsPublicKeysParameter": PIGEONS_PARAMETER,
        }
        [template] = translated([self.parameters])
        self.stack = Stack(template, self.parameters, {"RegistryTable": TABLE})
        self.ids = {
            resource["Properties"]["CodeUri"].strip("/").split("/")[-1]: name
            for name, resource in load_template()["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }

    def environment(self, folder: str) -> dict[str, str]:
        return {**self.stack.environment(self.ids[folder]), **lambda_variables(self.ids[folder])}

    def invoke(self, folder: str, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
        """A cold start of `folder` in its deployed environment, then one invocation with `event`."""
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in self.environment(folder).items():
            monkeypatch.setenv(name, value)
        forget_cold_start_state()
        spec = importlib.util.spec_from_file_location(
            f"deployed_{folder}", ROOT / "functions" / folder / "app.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with RECORDER.deployed({**self.parameters, "RegistryTable": TABLE}):
            spec.loader.exec_module(module)
            return module.handler(event, LambdaContext(self.ids[folder]))


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE, load_template())
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="push-registry/jwt", SecretString=PREVIOUS_KEY)["ARN"]
        secrets.put_secret_value(SecretId=arn, SecretString=CURRENT_KEY)  # the old key is AWSPREVIOUS
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=f"/{PIGEONS_PARAMETER}", Value=f"deployed={PIGEONS_KEY}", Type="SecureString"
        )
        yield Deployment(arn)
    forget_cold_start_state()  # the rest of the suite builds its own from its own environment


def event(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    headers = loaded.get("headers") or {}
    for header, value in changes.pop("headers", {}).items():
        headers[header] = value
        loaded["multiValueHeaders"][header] = [value]
    if "body" in changes:
        loaded["body"] = json.dumps(changes.pop("body"))
    if "path_parameters" in changes:
        loaded["pathParameters"].update(changes.pop("path_parameters"))
    assert not changes, changes
    return loaded


def signed(folder: str, key: str) -> dict[str, str]:
    """The event's own claims (the chat backoffice's `abilities` among them), signed with `key`."""
    token = event(folder)["headers"]["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}


def answer(result: dict[str, Any]) -> tuple[int, Any]:
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def test_the_template_leaves_every_local_only_variable_empty_for_every_function(
    deployment: Deployment,
) -> None:
    for folder in deployment.ids:
        environment = deployment.environment(folder)
        assert {name: environment.get(name, "") for name in LOCAL_ONLY} == dict.fromkeys(LOCAL_ONLY, ""), (
            folder
        )


def test_every_function_serves_its_main_path_with_only_the_deployed_environment(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    run: Callable[..., Any] = lambda folder, **changes: deployment.invoke(  # noqa: E731
        folder, event(folder, **changes), monkeypatch
    )
    current, previous = (
        signed("accounts_register_device", CURRENT_KEY),
        signed("accounts_list_devices", PREVIOUS_KEY),
    )
    pigeons = {"X-PUBLIC-KEY": PIGEONS_KEY, **signed("pigeons_register_device", CURRENT_KEY)}

    # The accounts API, with the key Secrets Manager holds as AWSCURRENT, then as AWSPREVIOUS.
    status, device = answer(run("accounts_register_device", headers=current))
    assert status == 201, device
    assert answer(run("accounts_list_devices", headers=previous))[0] == 200
    status, updated = answer(
        run("accounts_update_device", headers=current, path_parameters={"deviceId": device["id"]})
    )
    assert (status, updated["id"]) == (200, device["id"])
    # The development key of events/*.json signs nothing here.
    assert (
        answer(run("accounts_list_devices", headers=signed("accounts_list_devices", DEVELOPMENT_SECRET)))[0]
        == 401
    )

    assert answer(run("camera_set_user_token", headers=current)) == (200, {"result": 0, "msg": "Success"})
    assert answer(run("user_push_tokens_register", headers=current))[0] == 200

    # The chat backoffice, with the platform key read from the SSM SecureString parameter.
    status, registered = answer(run("pigeons_register_device", headers=pigeons))
    assert status == 201, registered
    assert (
        answer(run("pigeons_register_device", headers={**pigeons, "X-PUBLIC-KEY": DEVELOPMENT_PLATFORM_KEY}))[
            0
        ]
        == 401
    )
    assert (
        answer(
            run("pigeons_delete_device", headers=pigeons, path_parameters={"id": registered["data"]["id"]})
        )[0]
        == 204
    )

    assert answer(run("presignup_register_token"))[0] == 201

    # The IAM-authorised sender and privacy routes, and both queues.
    assert answer(run("internal_user_tokens"))[0] == 200
    assert answer(run("internal_presignup_lookup"))[0] == 200
    assert answer(run("internal_token_holder"))[0] == 200
    assert answer(run("internal_token_invalidations"))[0] == 200
    assert run("token_invalidations_queue")["batchItemFailures"] == [
        {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}  # the event's one message that is not JSON
    ]
    assert answer(run("internal_user_export"))[0] == 200
    assert answer(run("internal_presignup_export"))[0] == 200
    assert (
        answer(
            run("accounts_deactivate_device", headers=current, path_parameters={"deviceId": device["id"]})
        )[0]
        == 204
    )
    assert answer(run("internal_presignup_erase"))[0] == 200
    assert answer(run("internal_user_erase"))[0] == 200
    assert run("privacy_erasures_queue")["batchItemFailures"] == [
        {"itemIdentifier": "9f3b2e74-4d9a-4fac-9c75-2b3f5e4d1a33"}  # the event's message naming both subjects
    ]

    made = {call.function for call in RECORDER.calls if dict(call.profile).get("JwtSecretArn")}
    assert made == set(deployment.ids)
    services = {call.operation.split(":")[0] for call in RECORDER.calls if len(call.profile) > 1}
    assert services == {"dynamodb", "secretsmanager", "ssm"}
