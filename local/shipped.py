"""The code as Lambda loads it: built by the project's makefiles, zipped by SAM, unpacked read-only.

`sam deploy` zips each built folder with SAM's own packaging function (1980-01-01 dates, Lambda's
permissions) and Lambda unpacks it read-only under /var/task and /opt. `make bench` measures cold starts
on exactly that, for a twin of the layer built by the same recipe for this machine's platform (the
deployed layer holds aarch64 wheels this x86_64 host cannot load), in two variants: as the project
ships it (bytecode for every module) and as a plain `BuildMethod: python3.13` build would (the same
files without any bytecode).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

import botocore

from local.template import ROOT

TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
CACHE = ROOT / ".aws-sam" / "bench"
# The function `sam package` / `sam deploy` zips Lambda functions and layers with.
PACK = (
    "import sys; from samcli.lib.package.utils import make_zip_with_lambda_permissions as pack;"
    " pack(sys.argv[1], sys.argv[2])"
)
# What the python3.13 runtime provides besides the standard library (compiled, as in the runtime).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def host_architecture() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
        platform.machine().lower()
    ]


def _recipe_hash() -> str:
    """Changes whenever the layer's recipe, its pinned dependencies or the registry's code change."""
    digest = hashlib.sha256()
    layer = ROOT / "layers" / "registry"
    recipe = [ROOT / "layers" / "Makefile", layer / "requirements.txt", *layer.glob("push_registry/**/*")]
    for path in sorted(recipe):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _make(makefile: Path, target: str, artifacts: Path, cwd: Path) -> None:
    env = {
        **os.environ,
        "ARTIFACTS_DIR": str(artifacts),
        "REGISTRY_ARCHITECTURE": host_architecture(),
        # The recipe runs the first `python3.13` on PATH: this interpreter's own, not a pyenv shim.
        "PATH": f"{sysconfig.get_config_var('BINDIR')}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(makefile), target],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"make {target} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def layer_twin() -> Path:
    """The layer built by layers/Makefile for this host's platform (cached by recipe)."""
    built = CACHE / f"layer-{host_architecture()}-{_recipe_hash()}"
    if not (built / "python").is_dir():
        shutil.rmtree(built, ignore_errors=True)
        layer = ROOT / "layers" / "registry"
        _make(ROOT / "layers" / "Makefile", "build-RegistryLayer", built, layer)
    return built


def function_build(folder: str, into: Path) -> Path:
    """The function as functions/Makefile builds it (handler plus its bytecode)."""
    built = into / folder
    _make(ROOT / "functions" / "Makefile", "build-Bench", built, ROOT / "functions" / folder)
    return built


def without_bytecode(source: Path, into: Path) -> Path:
    """The same files minus every __pycache__: what a plain python3.13 build would ship."""
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def as_lambda_loads_it(built: Path, into: Path) -> Path:
    """Zips `built` with SAM's packaging function, then unpacks it read-only with the zip's dates."""
    into.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([str(TOOLS_PYTHON), "-c", PACK, str(Path(work) / "code"), str(built)], check=True)
        with zipfile.ZipFile(Path(work) / "code.zip") as archive:
            archive.extractall(into)
            for entry in archive.infolist():
                stamp = time.mktime((*entry.date_time, 0, 0, -1))
                os.utime(into / entry.filename, (stamp, stamp))
    for path in sorted(into.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    into.chmod(0o555)
    return into


def zipped_size(built: Path) -> int:
    """Bytes of the zip `sam deploy` would upload for `built`."""
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([str(TOOLS_PYTHON), "-c", PACK, str(Path(work) / "code"), str(built)], check=True)
        return (Path(work) / "code.zip").stat().st_size


def unpacked_size(built: Path) -> int:
    return sum(path.stat().st_size for path in built.rglob("*") if path.is_file())


def runtime_folder(into: Path) -> Path:
    """boto3 and its dependencies as the runtime provides them: this environment's compiled copies."""
    into.mkdir(parents=True)
    site = Path(str(botocore.__file__)).resolve().parents[1]
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (into / name).symlink_to(site / name)
    return into


def make_writable(root: Path) -> None:
    """Lets a TemporaryDirectory remove what `as_lambda_loads_it` made read-only."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
