"""Bearer-JWT verification: what is accepted, and every way a token is refused."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from push_registry.auth import Authenticator
from push_registry.errors import Unauthenticated
from push_registry.settings import Settings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"


def settings(**overrides: Any) -> Settings:
    return Settings(table_name="push-registry-unit", jwt_secret=SECRET, **overrides)


def token(
    claims: dict[str, Any] | None = None, key: Any = SECRET, algorithm: str = "HS256", **header: Any
) -> str:
    body = {"sub": "acct-1", "exp": int(time.time()) + 600, **(claims or {})}
    return jwt.encode(body, key, algorithm=algorithm, headers=header or None)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def reason(config: Settings, headers: dict[str, str]) -> str:
    with pytest.raises(Unauthenticated) as refused:
        Authenticator(config).authenticate(headers)
    return refused.value.reason


def test_a_valid_token_gives_its_subject() -> None:
    principal = Authenticator(settings()).authenticate(bearer(token({"abilities": ["x"]})))
    assert principal.subject == "acct-1"
    assert principal.claims["abilities"] == ["x"]


def test_the_scheme_is_case_insensitive() -> None:
    principal = Authenticator(settings()).authenticate({"authorization": f"bearer {token()}"})
    assert principal.subject == "acct-1"


@pytest.mark.parametrize("headers", [{}, {"authorization": ""}, {"authorization": "   "}])
def test_no_credentials_is_missing(headers: dict[str, str]) -> None:
    assert reason(settings(), headers) == "missing"


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer !!!.???.***",
        "Bearer " + "a" * 10_240,
        "Token abc.def.ghi",
    ],
)
def test_malformed_credentials_are_invalid(value: str) -> None:
    assert reason(settings(), {"authorization": value}) == "invalid"


def test_expired_and_not_yet_valid_tokens_are_invalid() -> None:
    now = int(time.time())
    assert reason(settings(), bearer(token({"exp": now - 120}))) == "invalid"
    assert reason(settings(), bearer(token({"nbf": now + 600}))) == "invalid"
    assert reason(settings(), bearer(token({"iat": now + 600}))) == "invalid"


def test_expiry_within_leeway_is_accepted() -> None:
    principal = Authenticator(settings()).authenticate(bearer(token({"exp": int(time.time()) - 5})))
    assert principal.subject == "acct-1"


def test_exp_is_required() -> None:
    unbounded = jwt.encode({"sub": "acct-1"}, SECRET, algorithm="HS256")
    assert reason(settings(), bearer(unbounded)) == "invalid"


def test_wrong_secret_and_tampered_payload_are_invalid() -> None:
    assert reason(settings(), bearer(token(key="another-secret-0123456789-abcdefghijkl"))) == "invalid"
    header, _, signature = token().split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"admin","exp":9999999999}').decode()
    assert reason(settings(), bearer(f"{header}.{forged}.{signature}")) == "invalid"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_tokens_are_invalid_whatever_the_spelling(alg: str) -> None:
    header = jwt.utils.base64url_encode(f'{{"alg":"{alg}","typ":"JWT"}}'.encode()).decode()
    payload = jwt.utils.base64url_encode(b'{"sub":"acct-1","exp":9999999999}').decode()
    assert reason(settings(), bearer(f"{header}.{payload}.")) == "invalid"


def test_algorithms_outside_the_allow_list_are_invalid() -> None:
    assert reason(settings(), bearer(token(algorithm="HS512"))) == "invalid"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert reason(settings(), bearer(token(key=private, algorithm="RS256"))) == "invalid"


def test_issuer_and_audience_are_checked_when_configured() -> None:
    config = settings(jwt_issuer="https://issuer.example", jwt_audience="push-registry")
    good = token({"iss": "https://issuer.example", "aud": "push-registry"})
    assert Authenticator(config).authenticate(bearer(good)).subject == "acct-1"
    assert reason(config, bearer(token({"iss": "https://evil.example", "aud": "push-registry"}))) == "invalid"
    assert reason(config, bearer(token({"iss": "https://issuer.example", "aud": "other"}))) == "invalid"
    assert reason(config, bearer(token({"iss": "https://issuer.example"}))) == "invalid"
    assert reason(config, bearer(token({"aud": "push-registry"}))) == "invalid"


def test_a_jwks_deployment_refuses_hs256_even_signed_with_its_public_key() -> None:
    config = Settings(table_name="push-registry-unit", jwt_jwks_url="https://issuer.example/jwks.json")
    assert config.jwt_algorithms == ("RS256", "ES256")
    assert reason(config, bearer(token(key="public-key-material-as-hmac-secret-000"))) == "invalid"


def test_unusable_subjects_leave_the_principal_without_one() -> None:
    authenticator = Authenticator(settings())
    assert authenticator.authenticate(bearer(token({"sub": ""}))).subject is None
    no_sub = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert authenticator.authenticate(bearer(no_sub)).subject is None


def test_a_non_string_subject_is_an_invalid_token() -> None:
    assert reason(settings(), bearer(token({"sub": 42}))) == "invalid"


def test_without_any_key_configured_every_token_is_refused() -> None:
    config = Settings(table_name="push-registry-unit")
    assert reason(config, bearer(token())) == "invalid"
