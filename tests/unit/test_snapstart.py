"""SnapStart restore hooks: each restored copy draws its own jitter and reads keys and secrets afresh.

The hooks run through the runtime's own registry (`snapshot_restore_py`), called the way the Lambda
python runtime calls it after a restore.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import boto3
import jwt
import pytest
import snapshot_restore_py
from moto import mock_aws

from push_registry import runtime, snapstart
from push_registry.auth import Authenticator
from push_registry.errors import Unauthenticated
from push_registry.settings import Settings, settings

OLD_KEY = "old-signing-key-0123456789abcdef0123456789"
NEW_KEY = "new-signing-key-0123456789abcdef0123456789"
NEWER_KEY = "newer-signing-key-0123456789abcdef012345678"


@pytest.fixture(autouse=True)
def empty_registries() -> Iterator[None]:
    """Each test starts with no registered hook, as a fresh process does."""
    registered = list(snapshot_restore_py.get_after_restore())
    forgetters = list(snapstart._forgetters)
    snapshot_restore_py.get_after_restore().clear()
    snapstart._forgetters.clear()
    yield
    snapshot_restore_py.get_after_restore()[:] = registered
    snapstart._forgetters[:] = forgetters


def restore() -> None:
    """What the runtime does once an environment is resumed from the snapshot."""
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():  # type: ignore[misc]
        hook(*args, **kwargs)


def token(key: str) -> dict[str, str]:
    signed = jwt.encode({"sub": "account_1", "exp": int(time.time()) + 300}, key, algorithm="HS256")
    return {"authorization": f"Bearer {signed}"}


def test_outside_a_snapstart_init_no_hook_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")

    assert snapstart.register_hooks() is False
    assert snapshot_restore_py.get_after_restore() == []


def test_restored_copies_of_one_snapshot_draw_different_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    assert snapstart.register_hooks() is True
    snapshot = random.getstate()  # what every copy resumes with

    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        restore()
        draws.append([random.uniform(0.005, 0.025) for _ in range(4)])

    random.setstate(snapshot)
    without_hook = [random.uniform(0.005, 0.025) for _ in range(4)]
    random.setstate(snapshot)
    assert [random.uniform(0.005, 0.025) for _ in range(4)] == without_hook  # in step without the hook
    assert draws[0] != draws[1]
    assert without_hook not in draws


def test_after_a_restore_a_key_rotated_out_while_the_snapshot_slept_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="jwt-key", SecretString=OLD_KEY)["ARN"]
        snapstart.register_hooks()
        authenticator = Authenticator(Settings(table_name="push-registry-unit", jwt_secret_arn=arn))
        snapstart.forget_on_restore(authenticator.forget_cached_keys)
        assert authenticator.subject_of(token(OLD_KEY)) == "account_1"  # the snapshot caches OLD_KEY

        # Two rotations while the snapshot waits: OLD_KEY is neither AWSCURRENT nor AWSPREVIOUS now.
        secrets.put_secret_value(SecretId=arn, SecretString=NEW_KEY)
        secrets.put_secret_value(SecretId=arn, SecretString=NEWER_KEY)
        assert authenticator.subject_of(token(OLD_KEY)) == "account_1"  # still cached: stale

        restore()
        with pytest.raises(Unauthenticated):
            authenticator.subject_of(token(OLD_KEY))
        assert authenticator.subject_of(token(NEWER_KEY)) == "account_1"
        assert authenticator.subject_of(token(NEW_KEY)) == "account_1"  # AWSPREVIOUS, mid-rotation


def test_the_runtime_registers_the_authenticator_it_builds() -> None:
    runtime.authenticator.cache_clear()
    try:
        built = runtime.authenticator()
        assert built.forget_cached_keys in snapstart._forgetters
    finally:
        # Settings are read once per process: leave none cached from this test's environment, or the
        # session's handlers would keep it (no DynamoDB Local endpoint: every request a 503).
        runtime.authenticator.cache_clear()
        settings.cache_clear()
