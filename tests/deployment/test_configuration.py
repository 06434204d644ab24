"""Configuration that agrees everywhere: settings, template, the docs, Makefile and the CLI's --help.

Every environment variable the settings read is set by the translated template for every function, or
has the default docs/configuration.md states; every stack parameter, variable, make target, CLI command
and option, route and stack-built name (alarm, queue, function, log group) that the README, a page of
docs/ or a --help text names exists. The checks are shown to report a phantom name.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import MISSING, fields
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.sam_translate import Stack, translated_combinations
from local.template import load_template
from local.template import routes as template_routes
from ops.cli import main
from push_registry.settings import Secret, Settings
from tests.deployment import names

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = names.documents()
PAGE = "docs/configuration.md"  # the variable and stack parameter tables
MAKEFILE = (ROOT / "Makefile").read_text()
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


# Names the seeds (the specification, outside the repository) define and the docs quote.
SPECIFICATION_NAMES = {
    "UserPushTokens": "seed 002's entity, the user-push-tokens API's table",
    "DeviceTokenNotForTopic": "an APNs error, which End User Messaging reports with a live token",
}


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


def test_every_setting_is_set_for_every_function_or_has_the_default_the_docs_state() -> None:
    stated = names.configuration_defaults(DOCUMENTS[PAGE])
    assert stated, f"{PAGE} has no `| variable | meaning |` table"
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
            problems.append(f"{variable}: not set for {unset[:3]}..., and {PAGE} states no default")
        elif default is not None and stated[variable] != default_text(default):
            problems.append(
                f"{variable}: {PAGE} states default {stated[variable]!r}, settings.py has {default!r}"
            )
    assert not problems, "\n".join(problems)


def phantoms(text: str, template_text: str = TEMPLATE_TEXT) -> dict[str, list[str]]:
    """What one document names and nothing defines, by kind: the check every document must pass."""
    template = template_of(template_text)
    tree = names.cli_tree(main)
    commands = []
    for line in text.splitlines():
        for command, rest in re.findall(r"push-registry ([a-z][a-z-]*)((?:[^`|]*))", line):
            if command not in tree:
                commands.append(f"push-registry {command}")
                continue
            commands += [
                f"push-registry {command} {o}"
                for o in re.findall(r"--[a-z][a-z-]*", rest)
                if o not in tree[command]
            ]
    routes = {(r.method, r.path) for r in template_routes(template)}
    return {
        "stack parameters": names.unknown(names.deploy_parameters(text), set(template["Parameters"])),
        "CamelCase names": names.unknown(names.CAMEL.findall(text), known_camel_names(template_text)),
        "environment variables": names.unknown(names.UPPER_SNAKE.findall(text), known_variables()),
        "make targets": [
            f"make {t}" for t in names.unknown(names.MAKE_TARGET.findall(text), names.make_targets(MAKEFILE))
        ],
        "push-registry commands and options": sorted(set(commands)),
        "routes": [f"{m} {p}" for m, p in sorted(names.routes_named(text) - routes)],
        "alarm, queue, function and log group names": names.unknown_stage_names(
            text, names.stage_names(template)
        ),
    }


@cache
def template_of(template_text: str) -> dict[str, Any]:
    """The template as load_template reads it, from its text (the real one, or an altered copy)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "template.yaml"
        path.write_text(template_text)
        return load_template(path)


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_every_name_a_document_uses_exists_in_the_template_or_the_code(document: str) -> None:
    """The README and every page of docs/: stack parameters, variables, make targets, push-registry
    commands and options, routes, and the names the stack builds (alarms, queues, functions)."""
    text = DOCUMENTS[document]
    found = {kind: names.located(missing, text, document) for kind, missing in phantoms(text).items()}
    assert {kind: missing for kind, missing in found.items() if missing} == {}


def test_the_checks_read_what_the_pages_hold() -> None:
    """Each kind of name is found somewhere, so an emptied parser cannot pass the test above."""
    everything = "\n".join(DOCUMENTS.values())
    assert {"RegistrationTtlDays", "MaxDevicesPerUser"} <= names.deploy_parameters(DOCUMENTS[PAGE])
    assert "REGISTRATION_TTL_DAYS" in names.UPPER_SNAKE.findall(everything)
    assert {"run", "test", "lint", "docs", "bench"} <= set(names.MAKE_TARGET.findall(everything))
    assert "push-registry import" in everything
    assert "push-registry who-holds" in everything
    assert ("DELETE", "/internal/users/{userId}") in names.routes_named(everything)
    assert "push-registry-<stage>-privacy-erasures-queue" in names.STAGE_NAME.findall(everything)
    assert "…-erasure-dead-letters" in names.STAGE_NAME.findall(everything)


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


def test_a_page_naming_a_phantom_stack_parameter_is_reported_where_it_names_it() -> None:
    """A copy of docs/configuration.md naming `RegistrationTtlDayz`, a parameter that does not exist.

    The issue's phantom, `RegistrationTtlDays`, is a real parameter now (it is shown to be reported
    against the template that lacked it, below), so the page copy names a misspelling of it: in the
    parameter table and in prose, with a phantom variable, make target, option, route and alarm too.
    """
    page = DOCUMENTS[PAGE]
    row = "| `RegistrationTtlDays` |"
    assert row in page
    copy = page.replace(row, "| `RegistrationTtlDayz` | days a registration lives |\n" + row, 1) + (
        "\nSet `REGISTRATION_TTL_DAYZ`, run `make deploy-all`, `push-registry import --lifetime-weeks 4`,"
        " call `POST /internal/users/{userId}/purge` and watch `…-dynamodb-hot-partition`.\n"
    )
    found = phantoms(copy)
    assert found["stack parameters"] == ["RegistrationTtlDayz"]
    assert found["CamelCase names"] == ["RegistrationTtlDayz"]
    assert found["environment variables"] == ["REGISTRATION_TTL_DAYZ"]
    assert found["make targets"] == ["make deploy-all"]
    assert found["push-registry commands and options"] == ["push-registry import --lifetime-weeks"]
    assert found["routes"] == ["POST /internal/users/{userId}/purge"]
    assert found["alarm, queue, function and log group names"] == ["…-dynamodb-hot-partition"]
    line = copy.splitlines().index("| `RegistrationTtlDayz` | days a registration lives |") + 1
    assert names.located(found["stack parameters"], copy, PAGE) == [f"RegistrationTtlDayz ({PAGE}:{line})"]
    assert not any(phantoms(page).values())


def test_the_phantom_registration_ttl_days_is_reported_in_a_page_against_the_template_that_lacked_it() -> (
    None
):
    """The issue's own phantom: the pages name `RegistrationTtlDays`, checked against template.yaml as it
    was before the parameter existed."""
    found = phantoms(DOCUMENTS[PAGE], template_before_registration_ttl_days())
    assert found["stack parameters"] == ["RegistrationTtlDays"]


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
