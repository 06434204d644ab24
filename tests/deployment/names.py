"""The names a document may use, read from what defines them, and the names a document uses.

A name in prose exists only if something defines it: the translated template (parameters, resources,
outputs, conditions, every function's environment, routes, the names of its alarms, queues, functions
and log groups), the code (classes, identifiers, string literals), botocore's service models (API
operations, members, errors), Powertools' environment variables, the Makefile's targets and variables,
and the `push-registry` command's click tree. The documents are the README and every page of docs/;
CHANGELOG.md is history and names what no longer exists, so it is not one of them.
"""

from __future__ import annotations

import ast
import html
import re
import unicodedata
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
    "pinpoint",  # End User Messaging's SendMessages, which the sender side feeds (migrating-from-pinpoint.md)
)

CAMEL = re.compile(r"`([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)`")
UPPER_SNAKE = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")
# `make X` in inline code, or a command line of a code block.
MAKE_TARGET = re.compile(r"(?:`|^\s*|&& |; )make ([a-z][a-z0-9-]*)", re.MULTILINE)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
METHOD = r"(?:GET|POST|PUT|PATCH|DELETE)"
# `POST /internal/tokens/holder`, `POST/GET /api/accounts/{accountId}/devices`: methods and a path.
ROUTE = re.compile(rf"\b({METHOD}(?:/{METHOD})*) (/[A-Za-z0-9_{{}}./-]*[A-Za-z0-9_}}])")
# `push-registry-<stage>-api-5xx-rate`, or its short form `…-api-5xx-rate`: a name the stack gives.
STAGE_NAME = re.compile(r"(push-registry-<stage>(?:-[a-z0-9]+)*|…(?:-[a-z0-9]+)+)(?![a-z0-9<-])")


def documents() -> dict[str, str]:
    """The README and every page of docs/, by path from the repository's root."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return {path.relative_to(ROOT).as_posix(): path.read_text() for path in [ROOT / "README.md", *pages]}


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
    """The Makefile's variables, and the environment variables it sets for a command (`NAME=value cmd`)."""
    defined = re.findall(r"^(?:export )?([A-Z][A-Z0-9_]*)\s*[:?]?=", makefile_text, flags=re.MULTILINE)
    for_a_command = re.findall(r"(?:^|[\s;])([A-Z][A-Z0-9_]*)=\S", makefile_text, flags=re.MULTILINE)
    return set(defined) | set(for_a_command)


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
    """`name (docs/operating.md:12, 40)`: each missing name with the lines of the document that use it."""
    lines = text.splitlines()
    return [
        f"{name} ({document}:{', '.join(str(i) for i, line in enumerate(lines, 1) if name in line)})"
        for name in missing
    ]


def table_rows(text: str, first_column: str) -> list[list[str]]:
    """The cells of every row of each table whose header's first column is `first_column`."""
    rows: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            inside = False
        elif cells[0] == first_column:
            inside = True
        elif inside and not set(cells[0]) <= {"-", ":"}:
            rows.append(cells)
    return rows


def deploy_parameters(document: str) -> set[str]:
    """The names in the first column of a document's stack parameter table (`| parameter | set it to |`)."""
    return {name for row in table_rows(document, "parameter") for name in re.findall(r"`([^`]+)`", row[0])}


def configuration_defaults(document: str) -> dict[str, str | None]:
    """VARIABLE -> the default a document's variable table (`| variable | meaning |`) states for it
    (None: states none)."""
    stated: dict[str, str | None] = {}
    for names, meaning, *_ in table_rows(document, "variable"):
        default = re.search(r"\(default `?([^`)]+)`?\)", meaning)
        for name in re.findall(r"`([A-Z0-9_]+)`", names):
            stated[name] = default.group(1) if default else None
    return stated


def routes_named(document: str) -> set[tuple[str, str]]:
    """(method, path) of every route a document names as `METHOD /path`."""
    return {(method, path) for methods, path in ROUTE.findall(document) for method in methods.split("/")}


def stage_names(template: Any) -> set[str]:
    """Every name the stack builds from `push-registry-${Stage}` (alarms, queues, functions, log groups,
    the dashboard), with `${Stage}` written `<stage>` as the documents write it."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            written = node.replace("${Stage}", "<stage>")
            found.update(re.findall(r"push-registry-<stage>(?:-[a-z0-9]+)*", written))

    walk(template)
    return found


def unknown_stage_names(document: str, known: set[str]) -> list[str]:
    """Stage names a document uses that the stack does not build; `…-X` stands for any name ending so."""
    missing = set()
    for name in STAGE_NAME.findall(document):
        if name.startswith("…"):
            if not any(k.endswith(name[1:]) for k in known):
                missing.add(name)
        elif name not in known:
            missing.add(name)
    return sorted(missing)


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension (mkdocs' default) gives a heading: its text without
    Markdown (code spans, links, emphasis), then `markdown.extensions.toc.slugify`: NFKD, ASCII only,
    everything but word characters, spaces and hyphens dropped, lower case, runs of spaces and hyphens
    one hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = html.unescape(re.sub(r"[`*]", "", text))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(document: str) -> set[str]:
    """The anchors of a page's headings, as mkdocs builds them (a repeated slug gets `_1`, `_2`...)."""
    found: set[str] = set()
    fenced = False
    for line in document.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+?)\s*#*$", line)):
            base = anchor = slug(heading.group(1))
            count = 0
            while anchor in found:
                count += 1
                anchor = f"{base}_{count}"
            found.add(anchor)
    return found


def translated_environment_names(stacks: Iterable[Any]) -> set[str]:
    return {
        name for stack in stacks for function in stack.functions() for name in stack.environment(function)
    }
