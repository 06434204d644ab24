"""Keys over time: a rotated HS256 secret (Secrets Manager on moto) and a JWK set whose keys change."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider, base
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from push_registry.auth import KEY_MAX_AGE_SECONDS, KEY_REFRESH_COOLDOWN_SECONDS, Authenticator
from push_registry.errors import Unauthenticated, Unavailable
from push_registry.settings import Settings

KEY_1 = "rotation-key-one-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"
KEY_2 = "rotation-key-two-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"
KEY_3 = "rotation-key-three-0123456789-abcdefghijklmnopqrstuvwxyz-01234567"


class Clock:
    """Moves Powertools' parameter cache and the authenticator's cooldown forward together."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        clock = self

        class _Shifted(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + timedelta(seconds=clock.offset)

        monkeypatch.setattr(base, "datetime", _Shifted)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def accepted(authenticator: Authenticator, key: Any, algorithm: str = "HS256", **header: Any) -> bool:
    token = jwt.encode(
        {"sub": "acct-1", "exp": int(time.time() + 600)}, key, algorithm=algorithm, headers=header or None
    )
    try:
        return authenticator.authenticate({"authorization": f"Bearer {token}"}).subject == "acct-1"
    except Unauthenticated:
        return False


# --- HS256 in Secrets Manager ---------------------------------------------------------------------


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, list[str]]]:
    """(client, secret ARN, the stages read from Secrets Manager, in order)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reads: list[str] = []
    original = SecretsProvider._get

    def counting(self: SecretsProvider, name: str, **options: Any) -> Any:
        reads.append(options.get("VersionStage", "AWSCURRENT"))
        return original(self, name, **options)

    monkeypatch.setattr(SecretsProvider, "_get", counting)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="push-registry/jwt", SecretString=KEY_1)["ARN"]
        yield client, arn, reads


def authenticator_for(arn: str, clock: Clock) -> Authenticator:
    return Authenticator(Settings(table_name="unit", jwt_secret_arn=arn), monotonic=clock.monotonic)


def test_a_rotated_key_is_accepted_and_the_previous_one_kept_until_it_is_neither(
    secrets: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, arn, _ = secrets
    clock = Clock(monkeypatch)
    authenticator = authenticator_for(arn, clock)
    assert accepted(authenticator, KEY_1)

    client.put_secret_value(SecretId=arn, SecretString=KEY_2)  # KEY_2 AWSCURRENT, KEY_1 AWSPREVIOUS
    # Within the cache age: a token signed with the new key forces one early re-read.
    assert accepted(authenticator, KEY_2)
    assert accepted(authenticator, KEY_1), "a token signed just before the rotation keeps working"

    clock.advance(KEY_MAX_AGE_SECONDS + 1)
    assert accepted(authenticator, KEY_2)
    assert accepted(authenticator, KEY_1)

    client.put_secret_value(SecretId=arn, SecretString=KEY_3)  # KEY_1 is now neither
    clock.advance(KEY_MAX_AGE_SECONDS + 1)
    assert accepted(authenticator, KEY_3)
    assert accepted(authenticator, KEY_2)
    assert not accepted(authenticator, KEY_1)


def test_without_early_reads_a_rotated_key_is_picked_up_within_the_cache_age(
    secrets: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, arn, reads = secrets
    clock = Clock(monkeypatch)
    authenticator = authenticator_for(arn, clock)
    assert accepted(authenticator, KEY_1)
    client.put_secret_value(SecretId=arn, SecretString=KEY_2)
    clock.advance(KEY_MAX_AGE_SECONDS + 1)
    reads.clear()
    # The cache expired: the first token re-reads both stages, without needing a forced refresh.
    assert accepted(authenticator, KEY_1)
    assert reads == ["AWSCURRENT", "AWSPREVIOUS"]
    assert accepted(authenticator, KEY_2)
    assert reads == ["AWSCURRENT", "AWSPREVIOUS"]


def test_forged_tokens_cost_at_most_one_re_read_per_cooldown(
    secrets: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn, reads = secrets
    clock = Clock(monkeypatch)
    authenticator = authenticator_for(arn, clock)
    assert accepted(authenticator, KEY_1)
    assert reads == ["AWSCURRENT", "AWSPREVIOUS"]  # no previous: remembered while AWSCURRENT is unchanged
    for _ in range(50):
        assert not accepted(authenticator, "forged-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789")
    assert len(reads) == 4, "one forced re-read of both stages, then the cooldown"
    clock.advance(KEY_REFRESH_COOLDOWN_SECONDS + 1)
    for _ in range(50):
        assert not accepted(authenticator, "forged-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789")
    assert len(reads) == 6


def test_a_forged_token_is_refused_not_unavailable_when_the_early_re_read_fails(
    secrets: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, arn, _ = secrets
    clock = Clock(monkeypatch)
    authenticator = authenticator_for(arn, clock)
    assert accepted(authenticator, KEY_1)
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)

    assert accepted(authenticator, KEY_1), "the cached key still verifies"
    assert not accepted(authenticator, KEY_2), "401: no known key signed it"
    clock.advance(KEY_MAX_AGE_SECONDS + 1)
    with pytest.raises(Unavailable):  # no key at all any more: a 503, never a silent accept
        accepted(authenticator, KEY_1)


def test_forget_cached_keys_drops_the_cached_secret(
    secrets: tuple[Any, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, arn, reads = secrets
    clock = Clock(monkeypatch)
    authenticator = authenticator_for(arn, clock)
    assert accepted(authenticator, KEY_1)
    client.put_secret_value(SecretId=arn, SecretString=KEY_2)
    reads.clear()
    authenticator.forget_cached_keys()
    assert accepted(authenticator, KEY_1)
    assert reads == ["AWSCURRENT", "AWSPREVIOUS"]


# --- JWKS ------------------------------------------------------------------------------------------


class Issuer:
    """An identity provider's JWKS endpoint on the loopback interface; `kids` is what it serves now."""

    def __init__(self) -> None:
        self.private = {
            kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")
        }
        self.kids = ["k1", "k2"]
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                keys = []
                for kid in issuer.kids:
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.private[kid].public_key()))
                    keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, authenticator: Authenticator, kid: str) -> bool:
        return accepted(authenticator, self.private[kid], algorithm="RS256", kid=kid)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """pyjwt's JWK set cache and cooldown read time.monotonic: move it forward by an offset."""
    clock = Clock(monkeypatch)
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + clock.offset)
    return clock


def test_a_key_the_issuer_removed_is_refused_once_the_jwk_set_is_refreshed(
    issuer: Issuer, later: Clock
) -> None:
    authenticator = Authenticator(Settings(table_name="unit", jwt_jwks_url=issuer.url))
    assert issuer.accepted(authenticator, "k1")
    assert issuer.accepted(authenticator, "k2")
    assert issuer.fetches == 1

    issuer.kids = ["k2"]
    later.advance(KEY_MAX_AGE_SECONDS + 1)
    assert not issuer.accepted(authenticator, "k1")
    assert issuer.accepted(authenticator, "k2")


def test_a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown(issuer: Issuer, later: Clock) -> None:
    authenticator = Authenticator(Settings(table_name="unit", jwt_jwks_url=issuer.url))
    assert issuer.accepted(authenticator, "k1")
    issuer.kids = ["k1", "k2"]
    unknown = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for n in range(30):
        assert not accepted(authenticator, unknown, algorithm="RS256", kid=f"unknown-{n}")
    assert issuer.fetches == 1, "the first fetch starts the cooldown"
    later.advance(KEY_REFRESH_COOLDOWN_SECONDS + 1)
    for n in range(30):
        assert not accepted(authenticator, unknown, algorithm="RS256", kid=f"unknown-{n}")
    assert issuer.fetches == 2
    assert issuer.accepted(authenticator, "k2")
