"""Development JWTs signed with the local HS256 key: `python -m local.devtoken --sub acct-1`."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jwt

# Known to everyone: only for `make run`, the tests and the events/ files. Never deployed.
DEVELOPMENT_SECRET = "local-development-secret-change-me-0123456789"  # noqa: S105 - public on purpose
# The chat backoffice's development X-PUBLIC-KEY (tenant "local").
DEVELOPMENT_PLATFORM_KEY = "pk_local_pigeons"
DEVELOPMENT_PLATFORM_KEYS = f"local={DEVELOPMENT_PLATFORM_KEY}"


def make_token(sub: str | None, ttl: int = 3600, secret: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iat": now, "exp": now + ttl}
    if sub is not None:
        body["sub"] = sub
    for name, variable in (("iss", "JWT_ISSUER"), ("aud", "JWT_AUDIENCE")):
        if os.environ.get(variable):
            body[name] = os.environ[variable]
    body.update(claims)
    return jwt.encode(body, secret or os.environ.get("JWT_SECRET") or DEVELOPMENT_SECRET, algorithm="HS256")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until exp")
    parser.add_argument("--claim", action="append", default=[], help="name=value (string claim)")
    parser.add_argument(
        "--claim-json", action="append", default=[], help='name=JSON, e.g. abilities=["backoffice"]'
    )
    args = parser.parse_args()
    claims: dict[str, Any] = {}
    for pair in args.claim:
        name, _, value = pair.partition("=")
        claims[name] = value
    for pair in args.claim_json:
        name, _, value = pair.partition("=")
        claims[name] = json.loads(value)
    print(make_token(args.sub, ttl=args.ttl, **claims))


if __name__ == "__main__":
    main()
