"""Every function through `sam local invoke` with its events/ file, in the order of EXPECTED, on a fresh
DynamoDB Local: the Lambda image, the built layer and the host-gateway mapping, for real.

Runs when Docker answers and the Lambda Python 3.13 image for this machine's architecture is in
Docker; otherwise it is skipped with the reason (never passed without running).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import sam_local
from local.dynamodb_local import DynamoDBLocal
from local.template import create_table, load_template
from push_registry import catalog

ROOT = Path(__file__).resolve().parents[2]

# One row per function, in the order they run (later rows find what earlier ones stored):
# events/ file (the function's CodeUri folder), expected statusCode, what the JSON body must contain
# (dicts: these keys with these values; lists: each of these elements among theirs). A new function's
# event slots in as one more row; the queue consumer answers without a statusCode (None).
EXPECTED: list[tuple[str, int | None, Any]] = [
    ("accounts_register_device", 201, {"device_token": "fcm_token_here", "platform": "android"}),
    (
        "accounts_list_devices",
        200,
        {"devices": [{"platform": "android", "device_info": {"device_model": "Pixel 8"}}]},
    ),
    ("accounts_update_device", 200, {"device_info": {"app_version": "1.1.0", "os_version": "15.0"}}),
    ("accounts_deactivate_device", 204, None),
    ("camera_set_user_token", 200, {"result": 0, "msg": "Success"}),
    ("user_push_tokens_register", 200, {"userid": "account_123", "device_os": "iOS", "module": "main"}),
    ("pigeons_register_device", 201, {"message": "Device token registered", "data": {"platform": "android"}}),
    ("pigeons_delete_device", 204, None),
    ("presignup_register_token", 201, {"status": "ok"}),
    ("internal_user_tokens", 200, {"tokens": [{"source": catalog.CAMERA.name}]}),
    ("internal_presignup_lookup", 200, {}),
    (
        "internal_token_invalidations",
        200,
        {"results": [{"status": "deactivated"}, {"token": "never-registered-token", "status": "not_found"}]},
    ),
    (
        "token_invalidations_queue",
        None,
        {"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]},
    ),
    # The camera token was invalidated above: nobody holds it any more.
    ("internal_token_holder", 200, {"holder": None}),
    (
        "internal_user_export",
        200,
        {"user_id": "account_123", "registrations": [{"source": catalog.CAMERA.name}]},
    ),
    ("internal_presignup_export", 200, {"phone": "+919876543210", "records": [], "token_guards": []}),
    ("internal_user_erase", 200, {"erased": {}}),
    ("internal_presignup_erase", 200, {"erased": {}}),
    (
        "privacy_erasures_queue",
        None,
        {"batchItemFailures": [{"itemIdentifier": "9f3b2e74-4d9a-4fac-9c75-2b3f5e4d1a33"}]},
    ),
]


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(contains(a, e) for a in actual) for e in expected)
    return bool(actual == expected)


def functions_by_folder() -> dict[str, str]:
    return {path.stem: name for name, path in sam_local.event_files().items()}


def test_every_function_of_the_template_has_one_row() -> None:
    """Runs without Docker too: a function added without its row fails here, not silently later."""
    rows = [row[0] for row in EXPECTED]
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted(functions_by_folder()), "add a row to EXPECTED for each new function"
    assert sorted(rows) == sorted(function.folder for function in catalog.FUNCTIONS), (
        "one per catalog function"
    )


@pytest.fixture(scope="module")
def env_vars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """events/env.json, pointed at a fresh DynamoDB Local holding an empty table."""
    if problem := sam_local.docker_problem():
        pytest.skip(f"sam local not run: {problem}")
    if not sam_local.image_present():
        pytest.skip(f"sam local not run: no {sam_local.IMAGE} image in Docker (docker pull it first)")
    settings = json.loads(sam_local.ENV_VARS.read_text())
    with DynamoDBLocal() as database:
        table = settings["Parameters"]["TABLE_NAME"]
        create_table(database.client(), table, load_template())
        warm_up(database.client(), table)
        settings["Parameters"]["DYNAMODB_ENDPOINT_URL"] = f"http://host.docker.internal:{database.port}"
        path = tmp_path_factory.mktemp("sam-local") / "env.json"
        path.write_text(json.dumps(settings))
        sam_local.build()
        yield path


def warm_up(client: Any, table: str) -> None:
    """A few writes and reads before the functions' first: a cold DynamoDB Local JVM can take longer
    than the functions' 1 s read timeout on a busy machine (their 503 then logs ReadTimeoutError)."""
    for attempt in range(20):
        key = {"pk": {"S": f"warm-up#{attempt}"}, "sk": {"S": "warm-up"}}
        client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": key}}])
        client.get_item(TableName=table, Key=key, ConsistentRead=True)
        client.delete_item(TableName=table, Key=key)


def causes(log: str) -> list[str]:
    return [json.loads(line).get("cause", "") for line in log.splitlines() if '"cause"' in line]


def test_every_function_answers_its_event_through_sam_local_invoke(env_vars: Path) -> None:
    names = functions_by_folder()
    created: dict[str, str] = {}
    answers = []
    for folder, status, body in EXPECTED:
        event = json.loads((sam_local.EVENTS / f"{folder}.json").read_text())
        result = sam_local.invoke(names[folder], event, env_vars, created)
        if result.response.get("statusCode") == 503 and status != 503:
            # What a client does with a 503 (it carries Retry-After): once, and said in the output.
            print(f"{names[folder]:40}  503 {result.seconds:5.1f} s, cause {causes(result.log)}: retried")
            result = sam_local.invoke(names[folder], event, env_vars, created)
        response = result.response
        got_status = response.get("statusCode")
        got_body = json.loads(response["body"]) if response.get("body") else None
        if "statusCode" not in response:
            got_body = response
        print(f"{names[folder]:40} {got_status!s:>4} {result.seconds:5.1f} s")
        answers.append((folder, got_status, {"body": got_body, "causes": causes(result.log)}, status, body))
    wrong = [a for a in answers if a[1] != a[3] or not contains(a[2]["body"], a[4])]
    assert not wrong, "\n".join(f"{f}: got {s} {b}, expected {es} {eb}" for f, s, b, es, eb in wrong)


def test_a_created_id_replaces_the_placeholder_of_the_events_on_its_collection() -> None:
    """Runs without Docker: the substitution `make invoke` and the test above rely on."""
    register = json.loads((sam_local.EVENTS / "accounts_register_device.json").read_text())
    update = json.loads((sam_local.EVENTS / "accounts_update_device.json").read_text())
    placeholder = update["pathParameters"]["deviceId"]
    created: dict[str, str] = {}
    new_id = sam_local.created_id(register, {"statusCode": 201, "body": json.dumps({"id": "dev-1"})})
    created[register["resource"]] = str(new_id)

    sent = sam_local.with_created_ids(update, created)

    assert sent["pathParameters"]["deviceId"] == "dev-1"
    assert sent["path"].endswith("/devices/dev-1")
    assert placeholder not in json.dumps(sent)
    pigeons = json.loads((sam_local.EVENTS / "pigeons_delete_device.json").read_text())
    assert sam_local.with_created_ids(pigeons, created) == pigeons, "another collection keeps its id"
    assert sam_local.created_id(register, {"statusCode": 409, "body": json.dumps({"id": "x"})}) is None
