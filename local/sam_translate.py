"""template.yaml as CloudFormation will see it: translated by aws-sam-translator, then resolved.

The translation is the one `sam validate` and `sam deploy` run: SAM policy templates become
statements, the functions' roles and environment are generated, Globals are merged. It runs in the
tools virtualenv (`make tools`), where SAM CLI brings the translator: the translator pins its own
pydantic, which the layer's pinned pydantic-core excludes from the development venv.

`python -m local.sam_translate` (tools venv) reads a JSON list of parameter sets on stdin and writes
the list of translated templates on stdout. `translate()` calls it from any venv; `Stack` resolves a
translated template for one parameter set: conditions, `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`,
`Fn::Join`, `AWS::NoValue`, and the physical names the caller assigns (the table's name).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, so ARNs it makes agree with the ones resolved here
PARTITION = "aws"

# The parameters that change a function's role, environment or layers, with the value each takes when
# set. Every combination of set and unset is a deployment the checks must cover.
SWITCHES: dict[str, str] = {
    "JwksUrl": "https://issuer.example/.well-known/jwks.json",
    "EnableSnapStart": "true",
    "JwtSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:push-registry/jwt-AbCdEf",
    "PigeonsPublicKeysParameter": "push-registry/pigeons-public-keys",
}
_UNSET = {"JwksUrl": "", "EnableSnapStart": "false", "JwtSecretArn": "", "PigeonsPublicKeysParameter": ""}


def described(parameters: Mapping[str, str]) -> str:
    """`JwksUrl, JwtSecretArn set` -- which switches a parameter set turns on (`none set`)."""
    on = [name for name in SWITCHES if parameters.get(name, _UNSET[name]) != _UNSET[name]]
    return f"{', '.join(on)} set" if on else "none set"


def combinations(values: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Every set/unset combination of SWITCHES (16), as stack parameter values; a switch that is set
    takes its value from `values` when given there (a secret's real ARN), else from SWITCHES."""
    chosen = {**SWITCHES, **{k: v for k, v in (values or {}).items() if k in SWITCHES and v != _UNSET[k]}}
    names = list(SWITCHES)
    return [
        {name: (chosen[name] if on else _UNSET[name]) for name, on in zip(names, flags, strict=True)}
        for flags in itertools.product((False, True), repeat=len(names))
    ]


def translate(parameter_sets: list[dict[str, str]], template: Path = TEMPLATE_PATH) -> list[dict[str, Any]]:
    """The translated CloudFormation template for each parameter set (one tools-venv process)."""
    if not TOOLS_PYTHON.exists():
        raise RuntimeError(f"{TOOLS_PYTHON} is missing: `make tools` installs SAM CLI and its translator")
    done = subprocess.run(
        [str(TOOLS_PYTHON), "-m", "local.sam_translate", str(template)],
        input=json.dumps(parameter_sets),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"aws-sam-translator failed:\n{done.stderr}")
    translated: list[dict[str, Any]] = json.loads(done.stdout)
    return translated


_translations: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}


def translated(parameter_sets: list[dict[str, str]]) -> list[dict[str, Any]]:
    """`translate`, each parameter set translated once per process (the new ones in one run)."""
    keys = [tuple(sorted(parameters.items())) for parameters in parameter_sets]
    missing = [key for key in dict.fromkeys(keys) if key not in _translations]
    if missing:
        _translations.update(zip(missing, translate([dict(key) for key in missing]), strict=True))
    return [_translations[key] for key in keys]


@cache
def translated_combinations() -> tuple[tuple[tuple[tuple[str, str], ...], dict[str, Any]], ...]:
    """Every combination of SWITCHES with its translated template, translated once per process."""
    sets = combinations()
    return tuple((tuple(sorted(p.items())), t) for p, t in zip(sets, translated(sets), strict=True))


class Stack:
    """One translated template resolved for one set of parameter values, as CloudFormation would."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        physical_names: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.parameters = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }
        self._names = dict(physical_names or {})
        self.conditions = {name: self._condition(name) for name in template.get("Conditions", {})}

    # ------------------------------------------------------------------ what the checks read

    def functions(self) -> list[str]:
        """Logical ids of the functions this stack creates (the SAM ids: the translator keeps them)."""
        return [
            name
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function" and self._exists(resource)
        ]

    def environment(self, function: str) -> dict[str, str]:
        """The function's environment variables as Lambda gets them; an empty value is still set."""
        properties = self.resolve(self.template["Resources"][function]["Properties"])
        variables: dict[str, Any] = properties.get("Environment", {}).get("Variables", {})
        return {name: str(value) for name, value in variables.items()}

    def statements(self, function: str) -> list[dict[str, Any]]:
        """Every statement of the inline policies of the function's execution role, resolved."""
        role = self._role(function)
        found: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            statement = policy["PolicyDocument"]["Statement"]
            found += statement if isinstance(statement, list) else [statement]
        return found

    def policies(self, function: str) -> list[dict[str, Any]]:
        """The role's inline policies, each `{"name": ..., "document": ...}`, resolved."""
        return [
            {"name": policy["PolicyName"], "document": policy["PolicyDocument"]}
            for policy in self._role(function).get("Policies", [])
        ]

    def managed_policies(self, function: str) -> list[str]:
        return [str(arn) for arn in self._role(function).get("ManagedPolicyArns", [])]

    def arn(self, logical_id: str) -> str:
        return str(self.resolve({"Fn::GetAtt": [logical_id, "Arn"]}))

    def _role(self, function: str) -> dict[str, Any]:
        role_ref = self.template["Resources"][function]["Properties"]["Role"]
        [role_id, _] = role_ref["Fn::GetAtt"]
        resolved: dict[str, Any] = self.resolve(self.template["Resources"][role_id]["Properties"])
        return resolved

    def _exists(self, resource: Mapping[str, Any]) -> bool:
        return "Condition" not in resource or self.conditions[resource["Condition"]]

    # ------------------------------------------------------------------ intrinsic functions

    def resolve(self, node: Any) -> Any:
        """`node` with every intrinsic function evaluated and every AWS::NoValue dropped."""
        value = self._resolve(copy.deepcopy(node))
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(self._resolve, node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, argument)] = node.items()
            if key == "Ref":
                return self._ref(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        return {k: v for k, v in ((k, self._resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.conditions[condition] else when_false)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(logical_id, attribute)
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            bound = {key: self._resolve(value) for key, value in variables.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self._substitute(m.group(1), bound), text)
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self._resolve(items))
        if name == "Fn::Select":
            index, items = argument
            return self._resolve(items)[int(self._resolve(index))]
        if name == "Fn::Split":
            separator, text = argument
            return str(self._resolve(text)).split(separator)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._evaluate({name: argument})
        raise ValueError(f"intrinsic function {name} is not resolved here")

    def _substitute(self, name: str, bound: Mapping[str, Any]) -> str:
        if name in bound:
            return str(bound[name])
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return str(self._attribute(logical_id, attribute))
        return str(self._ref(name))

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": "push-registry",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._names.get(name, name)

    def _attribute(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        if attribute != "Arn":
            return f"{logical_id}.{attribute}"
        name = self._names.get(logical_id, logical_id)
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        return f"arn:{PARTITION}:{kind}:{REGION}:{ACCOUNT}:{name}"

    def _condition(self, name: str) -> bool:
        return self._evaluate(self.template["Conditions"][name])

    def _evaluate(self, node: Any) -> bool:
        [(key, argument)] = node.items()
        if key == "Fn::Equals":
            left, right = (self._resolve(side) for side in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._evaluate(argument[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        if key == "Condition":
            return self._condition(argument)
        raise ValueError(f"condition function {key} is not resolved here")


_NO_VALUE = object()


# ---------------------------------------------------------------------- tools-venv side


def _translate_here(template_path: Path, parameter_sets: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Run aws-sam-translator as `sam validate` does (local CodeUri replaced by an S3 location)."""
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415
    from samtranslator.yaml_helper import yaml_parse  # noqa: PLC0415

    source = yaml_parse(template_path.read_text())
    for resource in source["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://push-registry-artifacts/placeholder.zip"
    managed = get_bundled_managed_policy_map(PARTITION) or {}
    results = []
    for parameters in parameter_sets:
        translator = Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[])
        results.append(
            translator.translate(
                sam_template=copy.deepcopy(source),
                parameter_values=dict(parameters),
                get_managed_policy_map=lambda: managed,
            )
        )
        translator.metrics.publish()  # to its dummy publisher: otherwise it warns at exit
    return results


def main() -> None:
    template_path = Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE_PATH
    print(json.dumps(_translate_here(template_path, json.load(sys.stdin))))


if __name__ == "__main__":
    main()
