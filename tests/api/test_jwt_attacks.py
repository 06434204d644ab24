"""JWT attacks over HTTP on every Bearer route: the route's own 401 (never a 5xx), and nothing stored.

Every request carries a body the route would accept and, where the token names anyone, the path's own
account as `sub` with the backoffice ability: were a forged token let through, something would be
stored, and the before/after table dump would show it. A control test proves that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.warnings import InsecureKeyLengthWarning

from local.devtoken import DEVELOPMENT_PLATFORM_KEY, DEVELOPMENT_SECRET
from push_registry import catalog
from tests.api.helpers import new_client, new_push_token, new_user
from tests.api.test_adversarial import dump

pytestmark = pytest.mark.integration

OTHER_SECRET = "an-attackers-own-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
LEEWAY = 30  # the layer's default jwt_leeway_seconds, which the local API keeps
HeaderValue = str | bytes | None  # None: no Authorization header at all

# ---------------------------------------------------------------------------------------------------------
# Token building, with pyjwt where it lets us and by hand where it (rightly) refuses.


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims(sub: str | None, **overrides: Any) -> dict[str, Any]:
    """Claims the route would accept for `sub`; an override of None drops that claim."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 600, "abilities": ["backoffice"]}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


def signed(
    payload: dict[str, Any], key: Any = DEVELOPMENT_SECRET, algorithm: str = "HS256", **header: Any
) -> str:
    with warnings.catch_warnings():
        # The development secret is short for HS384/HS512: those tokens are attacks, refused anyway.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm=algorithm, headers=header or None)


def hs256_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(alg: str, payload: dict[str, Any], signature: str) -> str:
    return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(payload)}.{signature}"


def tampered(user: str) -> str:
    """A genuine token for someone else, its payload swapped for one naming `user`, signature kept."""
    header, _, signature = signed(claims(new_user())).split(".")
    return f"{header}.{segment(claims(user))}.{signature}"


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_public_pem() -> bytes:
    return (
        rsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def with_embedded_jwk(user: str) -> str:
    """RS256 signed with the attacker's key, which the header itself offers as the key to verify with."""
    public = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key().public_key(), as_dict=True)
    return signed(claims(user), rsa_key(), "RS256", jwk=public)


# ---------------------------------------------------------------------------------------------------------
# The attacks: each builds the Authorization header for the path's account, and says how it is refused:
# "missing" (no credentials), "invalid" (bad credentials), "no_subject" (a valid token naming no user).


@dataclass(frozen=True)
class Attack:
    label: str
    header: Callable[[str], HeaderValue]
    reason: str = "invalid"


def bearer(build: Callable[[str], str]) -> Callable[[str], str]:
    return lambda user: f"Bearer {build(user)}"


def alg_none(alg: str, signature: str) -> Callable[[str], str]:
    return bearer(lambda user: unsigned(alg, claims(user), signature))


NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")
ATTACKS: list[Attack] = [
    *(
        Attack(f"alg {alg}, {kind} signature", alg_none(alg, signature))
        for alg in NONE_SPELLINGS
        for kind, signature in (("empty", ""), ("junk", b64url(b"not-a-signature")))
    ),
    Attack(
        "alg none with the right secret's signature",
        bearer(
            lambda u: hs256_by_hand({"alg": "none", "typ": "JWT"}, claims(u), DEVELOPMENT_SECRET.encode())
        ),
    ),
    Attack("HS256 with another secret", bearer(lambda u: signed(claims(u), OTHER_SECRET))),
    Attack(
        "HS256 with an RSA public key PEM as the secret",
        bearer(lambda u: hs256_by_hand({"alg": "HS256", "typ": "JWT"}, claims(u), rsa_public_pem())),
    ),
    Attack("HS384 with the right secret", bearer(lambda u: signed(claims(u), algorithm="HS384"))),
    Attack("HS512 with the right secret", bearer(lambda u: signed(claims(u), algorithm="HS512"))),
    Attack("RS256 with a fresh key", bearer(lambda u: signed(claims(u), rsa_key(), "RS256"))),
    Attack("ES256 with a fresh key", bearer(lambda u: signed(claims(u), ec_key(), "ES256"))),
    Attack("RS256 with the key embedded as jwk", bearer(with_embedded_jwk)),
    Attack(
        "expired beyond the leeway",
        bearer(lambda u: signed(claims(u, exp=int(time.time()) - LEEWAY - 60, iat=int(time.time()) - 3600))),
    ),
    Attack("expired long ago", bearer(lambda u: signed(claims(u, exp=1_000_000_000, iat=999_999_000)))),
    Attack("nbf in the future", bearer(lambda u: signed(claims(u, nbf=int(time.time()) + 600)))),
    # pyjwt 2.15 (pinned) rejects iat > now + leeway with ImmatureSignatureError; the layer relies on it.
    Attack("iat in the future", bearer(lambda u: signed(claims(u, iat=int(time.time()) + 600)))),
    Attack("no exp", bearer(lambda u: signed(claims(u, exp=None)))),
    Attack("exp not a number", bearer(lambda u: signed(claims(u, exp="never")))),
    Attack("sub not a string", bearer(lambda u: signed({**claims(u), "sub": 42}))),
    Attack("payload tampered, signature kept", bearer(tampered)),
    Attack(
        "header tampered to HS512, signature kept",
        bearer(
            lambda u: ".".join([segment({"alg": "HS512", "typ": "JWT"}), *signed(claims(u)).split(".")[1:]])
        ),
    ),
    # Malformed Authorization headers.
    Attack("no Authorization header", lambda u: None, "missing"),
    Attack("empty Authorization value", lambda u: "", "missing"),
    Attack("Bearer alone", lambda u: "Bearer"),
    Attack("Bearer and a space", lambda u: "Bearer "),
    Attack("Basic scheme", lambda u: "Basic dXNlcjpwYXNzd29yZA=="),
    Attack("Token scheme with a valid JWT", lambda u: f"Token {signed(claims(u))}"),
    Attack("a valid JWT without a scheme", lambda u: signed(claims(u))),
    Attack("two JWTs", lambda u: f"Bearer {signed(claims(u))} {signed(claims(u))}"),
    Attack("2 segments", bearer(lambda u: signed(claims(u)).rsplit(".", 1)[0])),
    Attack("4 segments", bearer(lambda u: f"{signed(claims(u))}.{b64url(b'extra')}")),
    Attack("bad base64 everywhere", lambda u: "Bearer !!!.???.***"),
    Attack(
        "bad base64 payload between a valid header and signature",
        bearer(lambda u: "{0}.%%%%.{2}".format(*signed(claims(u)).split("."))),
    ),
    Attack("10 KiB of junk", lambda u: "Bearer " + "a" * 10 * 1024),
    Attack(
        "10 KiB validly signed token",
        bearer(lambda u: signed(claims(u, padding="x" * 10 * 1024))),
    ),
    Attack("non-ASCII after a valid JWT", lambda u: f"Bearer {signed(claims(u))}é".encode()),
    Attack(
        "non-ASCII payload segment",
        lambda u: "Bearer {0}.ünïcødé.{2}".format(*signed(claims(u)).split(".")).encode(),
    ),
    Attack("raw non-UTF-8 bytes", lambda u: b"Bearer \xff\xfe\xfd.\x80\x81.\xc0\xc1"),
    # Valid signatures that name no user: each route's own answer (seed 002 has a 400 for it).
    Attack("valid token without sub", bearer(lambda u: signed(claims(None))), "no_subject"),
    Attack("valid token with an empty sub", bearer(lambda u: signed(claims(""))), "no_subject"),
    Attack("valid token with a 257-char sub", bearer(lambda u: signed(claims("u" * 257))), "no_subject"),
]

# ---------------------------------------------------------------------------------------------------------
# The routes, each with a body it would accept and its own dialect's refusal.

ACCOUNTS_REFUSALS = {
    "missing": (401, {"message": "Authorization header is missing", "code": "ACCESS_TOKEN_ERR_03"}),
    "invalid": (401, {"message": "Invalid access token", "code": "ACCESS_TOKEN_ERR_05"}),
    "no_subject": (401, {"message": "Invalid access token", "code": "ACCESS_TOKEN_ERR_05"}),
    "forbidden": (401, {"message": "Unauthorized access", "code": "ACCESS_TOKEN_ERR_01"}),
}
CAMERA_REFUSALS = {
    "missing": (401, {"result": -2, "msg": "Authorization required"}),
    "invalid": (401, {"result": -2, "msg": "Invalid access token"}),
    "no_subject": (401, {"result": -2, "msg": "Invalid access token"}),
}
NEST_UNAUTHORIZED = (401, {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"})
NEST_REFUSALS = {
    "missing": NEST_UNAUTHORIZED,
    "invalid": NEST_UNAUTHORIZED,
    "no_subject": (400, {"statusCode": 400, "message": "User not authenticated", "error": "Bad Request"}),
}
# Laravel's AuthenticationException, in the default language (pt-BR: no Accept-Language sent).
LARAVEL_REFUSALS = dict.fromkeys(("missing", "invalid", "no_subject"), (401, {"message": "Não autenticado."}))


# Each dialect's refusals (a JWT API of the catalog in a dialect without them fails at collection).
REFUSALS = {
    catalog.ACCOUNTS.dialect: ACCOUNTS_REFUSALS,
    catalog.CAMERA.dialect: CAMERA_REFUSALS,
    catalog.USER_PUSH_TOKENS.dialect: NEST_REFUSALS,
    catalog.PIGEONS.dialect: LARAVEL_REFUSALS,
}
# The routes attacked, by function: a body each would accept. Every JWT API of the catalog has one at
# least (test_every_bearer_api_of_the_catalog_is_attacked); its route and its dialect come from there.
BODIES: dict[str, Callable[[], dict[str, Any] | None]] = {
    "accounts_register_device": lambda: {"device_token": new_push_token(), "platform": "ios"},
    "accounts_list_devices": lambda: None,
    "camera_set_user_token": lambda: {"msgType": "FCM", "msgToken": new_push_token()},
    "user_push_tokens_register": lambda: {"push_token": new_push_token(), "device_os": "ios"},
    "pigeons_register_device": lambda: {"token": new_push_token(), "platform": "ios"},
}
HEADERS = {catalog.PIGEONS.name: (("X-PUBLIC-KEY", DEVELOPMENT_PLATFORM_KEY),)}


@dataclass(frozen=True)
class Route:
    label: str
    api: str
    method: str
    path: str  # the catalog's, {accountId} filled in with the user
    body: Callable[[], dict[str, Any] | None]
    refusals: dict[str, tuple[int, dict[str, Any]]]
    headers: tuple[tuple[str, str], ...] = ()


def routes_of(apis: tuple[catalog.Api, ...]) -> list[Route]:
    """The routes of the catalog's JWT APIs that BODIES can call; labelled by API, and by method where
    the API has more than one."""
    routes = []
    for api in apis:
        if api.auth is not catalog.Auth.JWT:
            continue
        attacked = [function for function in api.functions if function.folder in BODIES]
        for function in attacked:
            assert function.method is not None
            assert function.path is not None
            routes.append(
                Route(
                    api.name if len(attacked) == 1 else f"{api.name} {function.method}",
                    api.name,
                    function.method,
                    function.path,
                    BODIES[function.folder],
                    REFUSALS[api.dialect],
                    HEADERS.get(api.name, ()),
                )
            )
    return routes


ROUTES = routes_of(catalog.APIS)
ACCOUNTS_ROUTES = [route for route in ROUTES if route.api == catalog.ACCOUNTS.name]


def test_every_bearer_api_of_the_catalog_is_attacked() -> None:
    """The routes are the catalog's: each JWT API has one at least, each with its dialect's refusals."""
    bearer = [api for api in catalog.APIS if api.auth is catalog.Auth.JWT]
    assert {route.api for route in ROUTES} == {api.name for api in bearer}
    assert set(BODIES) <= {function.folder for api in bearer for function in api.functions}
    assert routes_of(catalog.APIS) == ROUTES


def send(
    base_url: str, route: Route, user: str, authorization: HeaderValue, **extra: str
) -> requests.Response:
    headers: dict[str, str | bytes] = {"Content-Type": "application/json", **dict(route.headers), **extra}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = route.body()
    with new_client() as client:
        return client.request(
            route.method,
            f"{base_url}{route.path.format(accountId=user)}",
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
            timeout=30,
        )


def assert_refused(response: requests.Response, expected: tuple[int, dict[str, Any]], label: str) -> None:
    # Messages name the case and the body only: never the Authorization header sent.
    assert (response.status_code, response.json()) == expected, label
    assert response.headers["Content-Type"].startswith("application/json"), label


# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
def test_a_valid_token_on_the_same_request_is_accepted_and_stores(
    local_api: str, ddb_local: Any, route: Route
) -> None:
    """The control: the bodies below are accepted, so a token let through would change the table."""
    user = new_user()
    before = dump(ddb_local)
    response = send(local_api, route, user, f"Bearer {signed(claims(user))}")
    assert response.status_code in (200, 201), (route.label, response.status_code, response.text[:200])
    if route.method == "POST":
        assert dump(ddb_local) != before, route.label


@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.label for attack in ATTACKS])
def test_a_jwt_attack_gets_the_routes_own_refusal_and_stores_nothing(
    local_api: str, ddb_local: Any, attack: Attack, route: Route
) -> None:
    user = new_user()
    before = dump(ddb_local)
    response = send(local_api, route, user, attack.header(user))
    assert_refused(response, route.refusals[attack.reason], f"{route.label}: {attack.label}")
    assert dump(ddb_local) == before, f"{route.label}: {attack.label}"


@pytest.mark.parametrize("route", ACCOUNTS_ROUTES, ids=[route.label for route in ACCOUNTS_ROUTES])
def test_a_valid_token_for_another_account_is_access_token_err_01(
    local_api: str, ddb_local: Any, route: Route
) -> None:
    victim, attacker = new_user(), new_user()
    before = dump(ddb_local)
    response = send(local_api, route, victim, f"Bearer {signed(claims(attacker))}")
    assert_refused(response, ACCOUNTS_REFUSALS["forbidden"], route.label)
    assert dump(ddb_local) == before, route.label


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "Unauthenticated."), ("es", "No autenticado."), ("pt-BR", "Não autenticado.")],
)
def test_the_pigeons_refusal_follows_accept_language(
    local_api: str, ddb_local: Any, language: str, message: str
) -> None:
    pigeons = next(route for route in ROUTES if route.api == catalog.PIGEONS.name)
    user = new_user()
    before = dump(ddb_local)
    forged = f"Bearer {unsigned('none', claims(user), '')}"
    response = send(local_api, pigeons, user, forged, **{"Accept-Language": language})
    assert_refused(response, (401, {"message": message}), language)
    assert dump(ddb_local) == before, language
