"""Cold start: a function loads pyjwt, phonenumbers or pydantic-core only when its own requests need them.

Each handler module is imported in a fresh Python process, as Lambda's init phase does, and the
modules it loaded are compared with what its route uses: Bearer JWTs (pyjwt, and cryptography through
it here, where the development venv has it for the JWKS tests; an HS256 stack's registry layer ships
none, see test_built_functions) for the client APIs, phone numbers for the pre-signup post and the
pre-signup lookup, pydantic-core for the routes that validate a request body, loaded by those either
at import or with their first body. pydantic's BaseModel layer (~90 ms of a shipped cold start) is loaded
by none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from push_registry import catalog

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(function.folder for function in catalog.FUNCTIONS)
# The functions of the APIs a bearer token authenticates: they load pyjwt (and cryptography with JWKS).
BEARER = {
    function.folder for api in catalog.APIS if api.auth is catalog.Auth.JWT for function in api.functions
}
PHONES = {
    "presignup_register_token",
    "internal_presignup_lookup",
    "internal_presignup_erase",
    "internal_presignup_export",
    "privacy_erasures_queue",  # erase_phone messages; a queue consumer's cold start delays no one
}
# The routes that never validate a request body: pydantic-core stays out of their cold start. (The others
# load it at import or with their first body; both are fine.)
BODYLESS = {
    "accounts_list_devices",
    "accounts_deactivate_device",
    "pigeons_delete_device",
    "internal_user_tokens",
    "internal_user_export",
    "internal_user_erase",
}
HEAVY = ("jwt", "cryptography", "phonenumbers", "pydantic_core")
# Loaded by no function: pydantic's BaseModel layer (bodies are validated by pydantic-core directly) and
# Powertools' batch utility with what it imports (the queues use queue_batch.py).
NEVER = (
    "pydantic",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "asyncio",
)
PROBE = f"import json, sys, app; print(json.dumps(sorted(m for m in {HEAVY + NEVER!r} if m in sys.modules)))"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_heavy_imports_only_where_the_route_needs_them(function: str) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "layers" / "registry"), str(ROOT / "functions" / function)]
        ),
        "TABLE_NAME": "push-registry-imports",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=environment,
        cwd=ROOT / "functions" / function,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    expected = (["cryptography", "jwt"] if function in BEARER else []) + (
        ["phonenumbers"] if function in PHONES else []
    )
    heavy = json.loads(loaded)
    assert [module for module in heavy if module in NEVER] == []
    assert [module for module in heavy if module != "pydantic_core"] == sorted(expected)
    if function in BODYLESS:
        assert "pydantic_core" not in heavy
