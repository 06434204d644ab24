"""The names a document may use, read from what defines them, and the names a document uses.

A name in prose exists only if something defines it: the translated template (parameters, resources,
outputs, conditions, every function's environment), the code (classes, identifiers, string literals),
botocore's service models (API operations, members, errors), Powertools' environment variables, the
Makefile's targets and variables, and the `push-registry` command's click tree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.session
import click

ROOT = Path(__file__).resolve().parents[2]
CODE = ("layers/registry/push_registry", "functions", "local", "ops")
SERVICES = (
    "dynamodb",
    "lambda",
    "secretsmanager",
    "ssm",
    "cloudformation",
    "apigateway",
    "sqs",
    "cloudwatch",
)

CAMEL = re.compile(r"`([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)`")
UPPER_SNAKE = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")
# `make X` in inline code, or a command line of a code block.
MAKE_TARGET = re.compile(r"(?:`|^\s*|&& |; )make ([a-z][a-z0-9-]*)", re.MULTILINE)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def template_words(template_text: str) -> set[str]:
    """Every identifier-like word of the template (keys, values, property and action names)."""
    return set(WORD.findall(template_text))


@cache
def code_words() -> frozenset[str]:
    """Classes, functions, names and attributes of the shipped and local code, and its string literals
    that are one identifier (an API name, an environment variable); not prose, such as help texts."""
    found: set[str] = set()
    for folder in CODE:
        for source in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    found.add(node.name)
                elif isinstance(node, ast.Name):
                    found.add(node.id)
                elif isinstance(node, ast.Attribute):
                    found.add(node.attr)
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and WORD.fullmatch(node.value)
                ):
                    found.add(node.value)
    return frozenset(found)


@cache
def aws_words() -> frozenset[str]:
    """Operations, shapes, members and enum values of the AWS APIs the project calls or names."""
    session = botocore.session.get_session()
    found: set[str] = set(dir(botocore.exceptions))
    for service in SERVICES:
        model = session.get_service_model(service)
        found |= set(model.operation_names) | set(model.shape_names)
        for name in model.shape_names:
            shape = model.shape_for(name)
            found |= set(getattr(shape, "members", {}) or {})
            found |= set(getattr(shape, "enum", []) or [])
    return frozenset(found)


@cache
def powertools_variables() -> frozenset[str]:
    """The environment variables Powertools reads (its shared constants)."""
    from aws_lambda_powertools.shared import constants

    return frozenset(
        value for value in vars(constants).values() if isinstance(value, str) and value.isupper()
    )


@cache
def test_variables() -> frozenset[str]:
    """Environment variables the tests themselves read (IMPORT_TEST_RECORDS, PUSH_REGISTRY_WHOLE_SUITE)."""
    pattern = re.compile(r"environ(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]+)\"")
    return frozenset(
        m for source in (ROOT / "tests").rglob("*.py") for m in pattern.findall(source.read_text())
    )


def make_targets(makefile_text: str) -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", makefile_text, flags=re.MULTILINE))


def make_variables(makefile_text: str) -> set[str]:
    return set(re.findall(r"^(?:export )?([A-Z][A-Z0-9_]*)\s*[:?]?=", makefile_text, flags=re.MULTILINE))


def cli_tree(group: click.Group) -> dict[str, set[str]]:
    """Command name -> its options (every spelling), for the group and each of its commands."""
    tree = {"": {opt for p in group.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}}
    for name, command in group.commands.items():
        tree[name] = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    return tree


def cli_help_texts(group: click.Group) -> dict[str, str]:
    """Command name -> every help text it shows (its docstring and each option's help)."""
    texts = {}
    for name, command in group.commands.items():
        parts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        texts[name] = "\n".join(parts)
    return texts


def unknown(names: Iterable[str], known: set[str] | frozenset[str]) -> list[str]:
    return sorted(set(names) - set(known))


def located(missing: Iterable[str], text: str, document: str = "README.md") -> list[str]:
    """`name (README.md:12, 40)`: each missing name with the lines that use it."""
    lines = text.splitlines()
    return [
        f"{name} ({document}:{', '.join(str(i) for i, line in enumerate(lines, 1) if name in line)})"
        for name in missing
    ]


def deploy_parameters(readme: str) -> set[str]:
    """The names in the first column of the README's Deploy parameter table."""
    section = readme.split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def configuration_defaults(readme: str) -> dict[str, str | None]:
    """VARIABLE -> the default the README's Configuration table states for it (None: states none)."""
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    stated: dict[str, str | None] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        _, names, meaning, *_ = line.split("|")
        default = re.search(r"\(default `?([^`)]+)`?\)", meaning)
        for name in re.findall(r"`([A-Z0-9_]+)`", names):
            stated[name] = default.group(1) if default else None
    return stated


def translated_environment_names(stacks: Iterable[Any]) -> set[str]:
    return {
        name for stack in stacks for function in stack.functions() for name in stack.environment(function)
    }
