"""Each function run from `sam build`'s output with only its folder and the layer's python/ importable."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template, routes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-tools" / "bin" / "sam"
# What the Lambda python3.13 runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

RUNNER = """
import json, sys, app
event = json.load(open(sys.argv[1]))
class Context:
    function_name = sys.argv[2]; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[2]
    aws_request_id = "built-layout-test"; log_group_name = "/aws/lambda/x"; log_stream_name = "x"
    def get_remaining_time_in_millis(self): return 15000
print(json.dumps(app.handler(event, Context())))
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` of the real template for this machine's architecture, so that it can import."""
    if not SAM.exists():
        pytest.fail("sam is not installed: run `make tools`")
    work = tmp_path_factory.mktemp("sam")
    (work / "template.yaml").write_text((ROOT / "template.yaml").read_text())
    architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    # The makefile builds run the first `python3.13` on PATH: this interpreter's own.
    python_bin = sysconfig.get_config_var("BINDIR")
    env = {
        **os.environ,
        "PATH": f"{python_bin}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
        # SAM passes no architecture to a makefile build: the layer's Makefile reads it from here.
        "REGISTRY_ARCHITECTURE": architecture,
    }
    subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(work / "template.yaml"),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(work / "build"),
            "--cache-dir",
            str(work / "cache"),
            "--parameter-overrides",
            f"Architecture={architecture}",
            # A JWKS stack's build, so that the JWKS layer is built too; the functions below run with
            # the registry layer alone, as an HS256 stack's do.
            "JwksUrl=https://idp.example/.well-known/jwks.json",
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=work,
    )
    runtime = work / "runtime"
    runtime.mkdir()
    site = Path(__import__("botocore").__file__).resolve().parents[1]
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (runtime / name).symlink_to(site / name)
    return work


def run_built(build: Path, function: str, event: dict[str, Any], ddb_local: Any) -> dict[str, Any]:
    event_file = build / f"{uuid.uuid4().hex}.json"
    event_file.write_text(json.dumps(event))
    path = os.pathsep.join(
        [
            str(build / "build" / function),
            str(build / "build" / "RegistryLayer" / "python"),
            str(build / "runtime"),
        ]
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": path,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "TABLE_NAME": ddb_local.table_name,
        "DYNAMODB_ENDPOINT_URL": ddb_local.endpoint_url,
        "JWT_SECRET": os.environ["JWT_SECRET"],
        "POWERTOOLS_SERVICE_NAME": "push-registry",
        "POWERTOOLS_METRICS_NAMESPACE": "PushRegistry",
    }
    # -S: no site-packages at all, so nothing but the built folders (and boto3) can be imported.
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(event_file), function],
        env=env,
        capture_output=True,
        text=True,
        cwd=build / "build" / function,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_built_layer_holds_the_domain_but_not_boto3(build: Path) -> None:
    layer = build / "build" / "RegistryLayer" / "python"
    assert (layer / "push_registry" / "registry.py").is_file()
    # Bodies are validated by pydantic-core directly; pydantic's BaseModel layer is not shipped.
    assert (layer / "pydantic_core").is_dir()
    assert not (layer / "pydantic").exists()
    assert not (layer / "boto3").exists()
    assert not (layer / "botocore").exists()
    # pyjwt's HS256 needs no cryptography: only the JWKS layer has it.
    assert (layer / "jwt").is_dir()
    assert not (layer / "cryptography").exists()
    assert (build / "build" / "JwksLayer" / "python" / "cryptography" / "__init__.py").is_file()


def test_every_module_shipped_has_bytecode_that_python_3_13_uses_whatever_the_file_dates(
    build: Path,
) -> None:
    """Lambda gets the code zipped with 1980 dates on a read-only disk: a timestamp pyc would be stale
    there and could not be rewritten, so each cold start would compile from source. A hash-based pyc
    without source checking (PEP 552 flags 0b01) is used as it is; its hash must still be its source's."""
    built = build / "build"
    sources = [*built.glob("*Layer/python/**/*.py"), *built.glob("*Function/*.py")]
    assert {path.relative_to(built).parts[0] for path in sources} >= {"RegistryLayer", "JwksLayer"}
    assert len(sources) > 1000
    not_usable = []
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        if not pyc.is_file():
            not_usable.append(f"{source}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or flags != 0b01:
            not_usable.append(f"{source}: magic {header[:4]!r}, flags {flags:#04b}")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            not_usable.append(f"{source}: compiled from another source")
    assert not_usable == [], not_usable[:10]
    assert pyc.name.endswith(".cpython-313.pyc")


@pytest.mark.parametrize("layer_id", ["RegistryLayer", "JwksLayer"])
def test_the_layers_ship_no_tests_and_no_foreign_bytecode(build: Path, layer_id: str) -> None:
    layer = build / "build" / layer_id / "python"
    assert [path for path in layer.rglob("tests") if path.is_dir()] == []
    assert [path for path in layer.rglob("*.pyc") if ".cpython-313" not in path.name] == []


def test_every_built_function_imports_and_serves_its_event(build: Path, ddb_local: Any) -> None:
    by_folder = {Path(r.code_dir).name: r.function for r in routes(load_template())}
    register = json.loads((ROOT / "events" / "accounts_register_device.json").read_text())
    register["body"] = json.dumps({"device_token": f"built-{uuid.uuid4().hex}", "platform": "android"})
    register["pathParameters"]["accountId"] = "account_123"

    created = run_built(build, by_folder["accounts_register_device"], register, ddb_local)
    assert created["statusCode"] == 201, created
    device_id = json.loads(created["body"])["id"]

    listing = json.loads((ROOT / "events" / "accounts_list_devices.json").read_text())
    listed = run_built(build, by_folder["accounts_list_devices"], listing, ddb_local)
    assert listed["statusCode"] == 200
    assert device_id in [d["id"] for d in json.loads(listed["body"])["devices"]]

    for folder, expected in (("accounts_update_device", 200), ("accounts_deactivate_device", 204)):
        event = json.loads((ROOT / "events" / f"{folder}.json").read_text())
        event["pathParameters"]["deviceId"] = device_id
        if folder == "accounts_update_device":
            event["body"] = json.dumps({"device_info": {"app_version": "2.0.0"}})
        assert run_built(build, by_folder[folder], event, ddb_local)["statusCode"] == expected
