"""`make lint`'s import contracts (.importlinter) hold today, and break on an import that runs back up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYER = ROOT / "layers" / "registry" / "push_registry"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # From `root`, which lint-imports puts first on sys.path: its push_registry and functions are read,
    # not the editable install's.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        cwd=root,
        # Wide: rich wraps a contract's line at the terminal's width, 80 without one.
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The contracts, the layer and the functions, laid out as lint-imports sees them from the root."""
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    ignore = shutil.ignore_patterns("__pycache__", "locales")
    shutil.copytree(LAYER, tmp_path / "push_registry", ignore=ignore)
    shutil.copytree(ROOT / "functions", tmp_path / "functions", ignore=ignore)
    return tmp_path


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # noqa\n")


def broken(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if " BROKEN" in line]


def test_the_contracts_hold_today() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 kept, 0 broken" in done.stdout


def test_an_unchanged_copy_holds(copy: Path) -> None:
    done = lint_imports(copy)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # Storage reaching up to an API: the layers contract names storage -> apis.
        ("push_registry/storage/table.py", "import push_registry.apis.internal", "The layer's layers"),
        ("push_registry/registry.py", "import push_registry.dialects.nest", "The layer's layers"),
        (
            "functions/accounts_register_device/app.py",
            "from push_registry.storage import RegistrationStore",
            "Functions import the apis",
        ),
        ("push_registry/endpoint.py", "import functions.accounts_list_devices.app", "Functions sit on top"),
        ("push_registry/registry.py", "import botocore.exceptions", "Only storage imports botocore"),
        # A use case naming the adapter instead of its port (registration_storage.RegistrationStorage).
        (
            "push_registry/holders.py",
            "from push_registry.storage import RegistrationStore",
            "The use cases reach storage through their ports",
        ),
        # The circle issue 24 removed: internal_bodies importing its constants from internal again.
        (
            "push_registry/apis/internal_bodies.py",
            "from push_registry.apis.internal import user_id_of",
            "No import cycle",
        ),
    ],
)
def test_an_import_that_runs_back_up_breaks_its_contract(
    copy: Path, module: str, line: str, contract: str
) -> None:
    add_import(copy / module, line)
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [b for b in broken(done) if b.startswith(contract)], done.stdout


def test_a_new_module_has_to_be_placed_in_a_layer(copy: Path) -> None:
    (copy / "push_registry" / "unplaced.py").write_text('"""In no layer."""\n')
    done = lint_imports(copy)
    assert done.returncode == 1
    assert "unplaced" in done.stdout
