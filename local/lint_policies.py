"""`make lint`: every IAM policy of the stack, as CloudFormation gets it, linted by parliament.

Run in the tools virtualenv (SAM's translator and parliament): `python -m local.lint_policies`. The
template is translated for every combination of the switches that change a role (local.sam_translate),
each role's inline policies resolved, and parliament checks them against its catalogue of real IAM
actions and resource types: a misspelled or non-existent action (`dynamodb:TransactWriteItems`: IAM has
none) or an action given a resource it does not apply to fails the lint. Exit 1 with one line per
finding: deployment, role, policy, issue, detail.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from local.sam_translate import TEMPLATE_PATH, Stack, _translate_here, combinations, described

# Findings kept, each with its reason: (issue, the policy's only actions) -> why it is not a defect.
ACCEPTED: dict[tuple[str, tuple[str, ...]], str] = {
    ("NO_VERSION", ("secretsmanager:GetSecretValue",)): (
        "SAM's AWSSecretsManagerGetSecretValuePolicy template writes no Version; the 2008 default it"
        " falls back to only lacks policy variables, which the policy does not use"
    ),
}


def _actions(document: dict[str, Any]) -> tuple[str, ...]:
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    actions = [
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    return tuple(sorted(actions))


def findings(template_path: Path = TEMPLATE_PATH) -> list[str]:
    """`deployment: role/policy: ISSUE detail`, for every finding parliament reports."""
    with warnings.catch_warnings():
        # parliament 1.6.4 imports pkg_resources (setuptools < 81, pinned in requirements-tools.txt).
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from parliament import analyze_policy_string  # noqa: PLC0415 - the tools venv only

    sets = combinations()
    found: set[str] = set()
    for parameters, template in zip(sets, _translate_here(template_path, sets), strict=True):
        stack = Stack(template, parameters, {"RegistryTable": "push-registry"})
        for role, properties in _roles(stack):
            for policy in properties.get("Policies", []):
                analysed = analyze_policy_string(json.dumps(policy["PolicyDocument"]))
                for finding in analysed.findings:
                    if (finding.issue, _actions(policy["PolicyDocument"])) in ACCEPTED:
                        continue
                    where = f"{described(parameters)}: {role}/{policy['PolicyName']}"
                    found.add(f"{where}: {finding.issue} {finding.detail}".rstrip())
    return sorted(found)


def _roles(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, stack.resolve(resource["Properties"]))
        for name, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        and ("Condition" not in resource or stack.conditions[resource["Condition"]])
    ]


def main() -> None:
    template_path = Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE_PATH
    problems = findings(template_path)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"IAM policies: no findings ({template_path.name}, {len(combinations())} deployments)")


if __name__ == "__main__":
    main()
