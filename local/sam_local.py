"""`sam local` for this machine: build for the host's architecture, invoke a function with its event,
serve the API in Docker, all against the DynamoDB Local that `make run` starts.

    python -m local.sam_local invoke AccountsRegisterDeviceFunction [--event events/x.json]
    python -m local.sam_local start-api [--port 3001]

What a bare `sam` needs on Linux and is given here: SAM CLI from .venv-tools, a build for the host
(arm64 in AWS, but an x86_64 laptop cannot run arm64 images without QEMU), the host-gateway mapping
(`host.docker.internal` does not resolve in Linux containers otherwise), and events that run in
sequence: the id a POST created replaces the placeholder id of the PATCH/DELETE events on that
collection (`<collection>/{id}`), so the order of docs/development.md answers 201, 200, 200, 204
instead of 404.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from local.template import ROOT, load_template

ARCHITECTURE = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
# Separate from `make build`'s .aws-sam/build, which stays arm64 for `sam deploy`.
BUILD_DIR = ROOT / ".aws-sam" / f"local-{ARCHITECTURE}"
IMAGE = f"public.ecr.aws/lambda/python:3.13-{ARCHITECTURE}"
SAM = ROOT / ".venv-tools" / "bin" / "sam"
EVENTS = ROOT / "events"
ENV_VARS = EVENTS / "env.json"
# Collection route -> the id its last POST created; outside BUILD_DIR, which `sam build` empties.
CREATED_IDS = ROOT / ".aws-sam" / "local-created-ids.json"
HOST_GATEWAY = "host.docker.internal:host-gateway"
# SAM's emulator counts the init phase (imports, cold start) inside the invocation's timeout, which
# Lambda does not; on a busy machine a 5 s init left the functions' time budget short of one
# DynamoDB call's worst case (a 503 with cause "time budget"). Local builds get this much more.
INIT_ALLOWANCE_SECONDS = 45


def sam_environment() -> dict[str, str]:
    """SAM's python3.13 build workflow runs the first `python3.13` on PATH: make it this interpreter's
    own, whatever pyenv or the system provides, rather than a shim that may not resolve."""
    python_bin = str(sysconfig.get_config_var("BINDIR"))
    return {
        **os.environ,
        "PATH": f"{python_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }


def docker_problem() -> str | None:
    """Why `sam local` cannot run here, or None."""
    if shutil.which("docker") is None:
        return "Docker is not installed (sam local runs each function in a container)"
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "Docker is installed but its daemon does not answer (start Docker, or check permissions)"
    return None


def image_present() -> bool:
    """Whether the Lambda Python 3.13 image for this architecture is already in Docker."""
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return probe.returncode == 0


def build() -> Path:
    """`sam build` for the host's architecture into its own directory; returns the built template."""
    subprocess.run(
        [
            str(SAM),
            "build",
            "--build-dir",
            str(BUILD_DIR),
            "--cache-dir",
            str(ROOT / ".aws-sam" / f"cache-local-{ARCHITECTURE}"),
            "--parameter-overrides",
            f"Architecture={ARCHITECTURE}",
        ],
        check=True,
        cwd=ROOT,
        # A makefile-built layer (layers/Makefile) takes its wheels' platform from here.
        env={**sam_environment(), "REGISTRY_ARCHITECTURE": ARCHITECTURE},
    )
    built = BUILD_DIR / "template.yaml"
    template = yaml.safe_load(built.read_text())  # sam build writes long-form intrinsics: plain YAML
    function_settings = [template["Globals"]["Function"]] + [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function" and "Timeout" in resource["Properties"]
    ]
    for settings in function_settings:
        settings["Timeout"] = int(settings.get("Timeout", 3)) + INIT_ALLOWANCE_SECONDS
    built.write_text(yaml.safe_dump(template, sort_keys=False))
    return built


def common_arguments() -> list[str]:
    arguments = [
        "--template-file",
        str(BUILD_DIR / "template.yaml"),
        "--parameter-overrides",
        f"Architecture={ARCHITECTURE}",
        "--add-host",
        HOST_GATEWAY,
    ]
    if image_present():  # no registry round trip when the image is there (and none offline)
        arguments.append("--skip-pull-image")
    return arguments


def event_files() -> dict[str, Path]:
    """Each function's event: events/<its CodeUri folder name>.json."""
    return {
        name: EVENTS / f"{Path(resource['Properties']['CodeUri']).name}.json"
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def with_created_ids(event: dict[str, Any], created: dict[str, str]) -> dict[str, Any]:
    """The event with its placeholder item id replaced by the one the collection's last POST created."""
    collection, _, last = str(event.get("resource", "")).rpartition("/")
    parameter = last.strip("{}")
    placeholder = (event.get("pathParameters") or {}).get(parameter)
    if not (last.startswith("{") and placeholder and collection in created):
        return event
    replaced: dict[str, Any] = json.loads(json.dumps(event).replace(placeholder, created[collection]))
    return replaced


def created_id(event: dict[str, Any], response: dict[str, Any]) -> str | None:
    """The id of the item a successful POST created, in any dialect that returns it."""
    if event.get("httpMethod") != "POST" or response.get("statusCode") not in (200, 201):
        return None
    try:
        body = json.loads(response.get("body") or "null")
    except ValueError:
        return None
    for holder in (body, body.get("data") if isinstance(body, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("id"), str):
            return str(holder["id"])
    return None


@dataclass(frozen=True)
class Invocation:
    response: dict[str, Any]
    seconds: float
    log: str


def invoke(
    function: str, event: dict[str, Any], env_vars: Path = ENV_VARS, created: dict[str, str] | None = None
) -> Invocation:
    """One `sam local invoke` of the built function; `created` ids are substituted and updated."""
    created = {} if created is None else created
    sent = with_created_ids(event, created)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=BUILD_DIR, delete=False) as file:
        json.dump(sent, file)
    started = time.monotonic()
    try:
        command = [str(SAM), "local", "invoke", function, "--event", file.name, "--env-vars", str(env_vars)]
        run = subprocess.run(
            [*command, *common_arguments()],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env=sam_environment(),
        )
    finally:
        os.unlink(file.name)
    seconds = time.monotonic() - started
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"sam local invoke {function} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    response: dict[str, Any] = json.loads(lines[-1])
    if new_id := created_id(sent, response):
        created[str(sent["resource"])] = new_id
    return Invocation(response, seconds, run.stderr)


def dynamodb_answers(env_vars: Path = ENV_VARS) -> tuple[bool, int]:
    """Whether something listens on the host at the port env.json points the functions at."""
    url = json.loads(env_vars.read_text())["Parameters"]["DYNAMODB_ENDPOINT_URL"]
    port = urlsplit(url).port or 80
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True, port
    except OSError:
        return False, port


def _no_database() -> bool:
    listening, port = dynamodb_answers()
    if not listening:
        print(f"nothing listens on port {port}: start `make run` in another terminal first", file=sys.stderr)
    return not listening


def _invoke_command(function: str, event_path: Path | None) -> int:
    files = event_files()
    if function not in files:
        print(f"unknown function {function!r}; the template's: {', '.join(sorted(files))}", file=sys.stderr)
        return 2
    if _no_database():
        return 1
    created = json.loads(CREATED_IDS.read_text()) if CREATED_IDS.is_file() else {}
    result = invoke(function, json.loads((event_path or files[function]).read_text()), created=created)
    CREATED_IDS.write_text(json.dumps(created, indent=2))
    sys.stderr.write(result.log)
    print(json.dumps(result.response, indent=2))
    print(f"({result.seconds:.1f} s)", file=sys.stderr)
    return 0


def _start_api_command(port: int) -> int:
    if _no_database():
        return 1
    command = [str(SAM), "local", "start-api", "--port", str(port), "--env-vars", str(ENV_VARS)]
    # One warm container per function once called, instead of a new one per request.
    command += ["--warm-containers", "LAZY", *common_arguments()]
    return subprocess.run(command, check=False, cwd=ROOT, env=sam_environment()).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="sam build for this machine's architecture")
    invoke_parser = commands.add_parser("invoke", help="sam local invoke one function with its event")
    invoke_parser.add_argument("function", help="the function's logical id in template.yaml")
    invoke_parser.add_argument("--event", type=Path, help="default: events/<its code folder>.json")
    start_parser = commands.add_parser("start-api", help="sam local start-api")
    start_parser.add_argument("--port", type=int, default=3001)
    commands.add_parser("check", help="exit 1 with the reason when Docker cannot run sam local")
    args = parser.parse_args()

    if problem := docker_problem():
        print(f"{problem}. Docker is needed by the sam local targets only.", file=sys.stderr)
        return 1
    if args.command == "check":
        return 0
    build()
    if args.command == "invoke":
        return _invoke_command(args.function, args.event)
    if args.command == "start-api":
        return _start_api_command(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
