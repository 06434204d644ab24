"""Configuration that agrees everywhere: settings, template, README, Makefile and the CLI's --help.

Every environment variable the settings read is set by the translated template for every function, or
has the default the README states; every stack parameter, variable, make target, CLI command and
option the README or a --help text names exists. The checks are shown to report a phantom name.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from functools import cache
from pathlib import Path

from local.sam_translate import Stack, translated_combinations
from local.template import load_template
from ops.cli import main
from push_registry.settings import Secret, Settings
from tests.deployment import names

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


# Names the seeds (the specification, outside the repository) define and the README quotes.
SPECIFICATION_NAMES = {"UserPushTokens": "seed 002's entity, the user-push-tokens API's table"}


@cache
def stacks() -> list[Stack]:
    return [Stack(t, dict(p), {"RegistryTable": "push-registry"}) for p, t in translated_combinations()]


def known_camel_names(template_text: str = TEMPLATE_TEXT) -> set[str]:
    return (
        names.template_words(template_text)
        | names.code_words()
        | names.aws_words()
        | set(SPECIFICATION_NAMES)
    )


@cache
def known_variables() -> set[str]:
    settings = {spec.name.upper() for spec in fields(Settings)}
    return (
        settings
        | names.translated_environment_names(stacks())
        | names.powertools_variables()
        | names.make_variables(MAKEFILE)
        | names.code_words()
        | names.test_variables()
        | names.template_words(TEMPLATE_TEXT)  # AWS_IAM, AWS::NoValue's words
    )


def default_text(value: object) -> str:
    return value.get_secret_value() if isinstance(value, Secret) else str(value)


def test_every_setting_is_set_for_every_function_or_has_the_default_the_readme_states() -> None:
    stated = names.configuration_defaults(README)
    problems = []
    for spec in fields(Settings):
        variable = spec.name.upper()
        unset = sorted(
            {f for stack in stacks() for f in stack.functions() if variable not in stack.environment(f)}
        )
        if not unset:
            continue
        default = spec.default if spec.default is not MISSING else None
        if variable not in stated:
            problems.append(f"{variable}: not set for {unset[:3]}..., and the README states no default")
        elif default is not None and stated[variable] != default_text(default):
            problems.append(
                f"{variable}: the README states default {stated[variable]!r}, settings.py has {default!r}"
            )
    assert not problems, "\n".join(problems)


def test_every_parameter_the_readme_deploy_table_names_is_a_stack_parameter() -> None:
    parameters = set(load_template()["Parameters"])
    assert names.located(names.unknown(names.deploy_parameters(README), parameters), README) == []


def test_every_camel_case_name_the_readme_uses_exists() -> None:
    """Stack parameters, resources, outputs, AWS API names, classes: a name nothing defines is a phantom."""
    assert names.located(names.unknown(names.CAMEL.findall(README), known_camel_names()), README) == []


def test_every_environment_variable_the_readme_names_exists() -> None:
    assert names.located(names.unknown(names.UPPER_SNAKE.findall(README), known_variables()), README) == []


def test_every_make_target_the_readme_names_exists() -> None:
    missing = names.unknown(names.MAKE_TARGET.findall(README), names.make_targets(MAKEFILE))
    assert names.located([f"make {target}" for target in missing], README) == []


def test_every_push_registry_command_and_option_the_readme_names_exists() -> None:
    tree = names.cli_tree(main)
    problems = []
    for line in README.splitlines():
        for command, rest in re.findall(r"push-registry ([a-z][a-z-]*)((?:[^`|]*))", line):
            if command not in tree:
                problems.append(f"push-registry {command}: no such command")
                continue
            problems += [
                f"push-registry {command} {o}: no such option"
                for o in re.findall(r"--[a-z][a-z-]*", rest)
                if o not in tree[command]
            ]
    assert not problems, "\n".join(sorted(set(problems)))


def test_every_option_and_stack_name_a_help_text_names_exists() -> None:
    tree = names.cli_tree(main)
    every_option = set().union(*tree.values())
    template = load_template()
    stack_names = set(template["Parameters"]) | set(template.get("Outputs", {}))
    problems = []
    for command, text in names.cli_help_texts(main).items():
        problems += [f"{command}: {o}" for o in re.findall(r"--[a-z][a-z-]*", text) if o not in every_option]
        problems += [
            f"{command}: the stack's {n}"
            for n in re.findall(r"\b([A-Z][a-z]+(?:[A-Z][a-z0-9]+)+)\b", text)
            if n not in stack_names
        ]
    assert not problems, "\n".join(problems)


def template_before_registration_ttl_days() -> str:
    """template.yaml as it was when the README and --help named RegistrationTtlDays: without it."""
    without = re.sub(r"(?ms)^  RegistrationTtlDays:.*?(?=^  [A-Z])", "", TEMPLATE_TEXT)
    without = without.replace("        REGISTRATION_TTL_DAYS: !Ref RegistrationTtlDays\n", "")
    assert "RegistrationTtlDays" not in without
    return without


def test_the_phantom_registration_ttl_days_is_reported_against_the_template_that_lacked_it(
    tmp_path: Path,
) -> None:
    before = tmp_path / "template.yaml"
    before.write_text(template_before_registration_ttl_days())
    parameters = set(load_template(before)["Parameters"])
    readme = "\n## Deploy\n\n| parameter | set it to |\n|---|---|\n| `RegistrationTtlDays` | 30 |\n"
    assert names.unknown(names.deploy_parameters(readme), parameters) == ["RegistrationTtlDays"]
    help_names = re.findall(r"\b([A-Z][a-z]+(?:[A-Z][a-z0-9]+)+)\b", names.cli_help_texts(main)["import"])
    assert "RegistrationTtlDays" in names.unknown(
        help_names, parameters | set(load_template(before)["Outputs"])
    )


def test_a_camel_case_name_nothing_defines_is_reported() -> None:
    text = "Set `RegistrationTtlWeeks` to 4, or `ApiThrottlingBurstLimits`."
    assert names.unknown(names.CAMEL.findall(text), known_camel_names()) == [
        "ApiThrottlingBurstLimits",
        "RegistrationTtlWeeks",
    ]


def test_a_phantom_variable_target_and_option_are_reported() -> None:
    assert names.unknown(names.UPPER_SNAKE.findall("set `REGISTRATION_TTL_WEEKS`"), known_variables()) == [
        "REGISTRATION_TTL_WEEKS"
    ]
    assert names.unknown(
        names.MAKE_TARGET.findall("run `make deploy-all` first"), names.make_targets(MAKEFILE)
    ) == ["deploy-all"]
    assert "--lifetime-weeks" not in names.cli_tree(main)["import"]
