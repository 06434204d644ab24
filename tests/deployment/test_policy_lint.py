"""`make lint`'s IAM lint (parliament over every translated role) passes today and fails on a bad action."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from local.sam_translate import ROOT, TOOLS_PYTHON

TEMPLATE = ROOT / "template.yaml"


def lint(template: Path) -> subprocess.CompletedProcess[str]:
    if not TOOLS_PYTHON.exists():
        pytest.fail(f"{TOOLS_PYTHON} is missing: `make tools` installs SAM CLI and parliament")
    return subprocess.run(
        [str(TOOLS_PYTHON), "-m", "local.lint_policies", str(template)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )


def test_every_role_of_every_deployment_has_no_lint_finding() -> None:
    done = lint(TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no findings" in done.stdout


@pytest.mark.parametrize(
    ("granted", "issue"),
    [("dynamodb:TransactWriteItems", "UNKNOWN_ACTION"), ("dynamodb:GetItems", "UNKNOWN_ACTION")],
)
def test_an_action_iam_does_not_have_fails_the_lint_naming_the_role(
    tmp_path: Path, granted: str, issue: str
) -> None:
    text = TEMPLATE.read_text()
    original = (
        "Action: [dynamodb:Query, dynamodb:BatchGetItem]\n              Resource: !GetAtt RegistryTable.Arn"
    )
    start = text.index("  InternalUserTokensFunction:\n")
    at = text.index(original, start)
    bad = tmp_path / "template.yaml"
    bad.write_text(
        text[:at]
        + original.replace("BatchGetItem]", f"BatchGetItem, {granted}]")
        + text[at + len(original) :]
    )

    done = lint(bad)

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert all(line.split(": ")[1].startswith("InternalUserTokensFunctionRole/") for line in lines), lines
    assert all(issue in line and granted.split(":")[1] in line for line in lines), lines
    assert len(lines) == 16  # every deployment
