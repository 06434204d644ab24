"""Every AWS call each function made during this run is granted by its role, as CloudFormation gets it.

The roles come from template.yaml translated by aws-sam-translator (local.sam_translate), for every
combination of the parameters that change a role or a wiring. The calls come from the whole run
(tests/aws_calls.py): the HTTP tests, the events replay, the queue consumers, the fault and race suites,
and the deployed-configuration run, whose Secrets Manager and SSM calls are checked against the
stacks that set those parameters. Both directions fail: a call not granted, and a grant no test
exercised unless its reason is kept below.
"""

from __future__ import annotations

import copy
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

import pytest

from local.sam_translate import Stack, combinations, described, translated, translated_combinations
from local.template import load_template
from tests.aws_calls import RECORDER, Call, Profile, allows, covers, grants

pytestmark = pytest.mark.after_suite

Statements = list[dict[str, Any]]
StatementsOf = Callable[[Stack, str], Statements]

# Grants a role keeps although no call of the suite needs them: (function, action) -> why.
UNEXERCISED_GRANTS: dict[tuple[str, str], str] = {}

# Managed policies SAM attaches for Lambda itself (logs, traces, queue polling), not for the code.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "Lambda writes the function's logs",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "active tracing: Lambda sends the trace segments",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": (
        "the SQS event source mapping receives and deletes the queue's messages"
    ),
}


@cache
def function_ids() -> dict[str, str]:
    """functions/<folder> -> the function's logical id, from the template's CodeUri."""
    return {
        resource["Properties"]["CodeUri"].strip("/").split("/")[-1]: name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def calls_by_function() -> dict[str, list[Call]]:
    found: dict[str, list[Call]] = defaultdict(list)
    for call in RECORDER.calls:
        found[function_ids()[call.function]].append(call)
    return found


def agrees(profile: Profile, parameters: Mapping[str, str]) -> bool:
    """A call made under `profile` happens in a stack deployed with `parameters`."""
    return all(parameters.get(name) == value for name, value in profile if name != "RegistryTable")


def deployments() -> list[tuple[dict[str, str], Stack]]:
    """Every combination of the switches, a set one taking the value the run deployed it with (the
    secret's ARN moto gave), translated and resolved with the run's table."""
    values: dict[str, str] = {}
    tables = set()
    for call in RECORDER.calls:
        fixed = dict(call.profile)
        tables.add(fixed.pop("RegistryTable"))
        values.update(fixed)
    [table] = tables or {"none"}
    sets = combinations(values)
    return [
        (parameters, Stack(template, parameters, {"RegistryTable": table}))
        for parameters, template in zip(sets, translated(sets), strict=True)
    ]


def own_statements(stack: Stack, function: str) -> Statements:
    return stack.statements(function)


def refused(calls: Iterable[Call], statements_of: StatementsOf = own_statements) -> list[str]:
    """`function: operation needs action on resource (in which deployments)`, for each need not granted."""
    where: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    possible: dict[tuple[str, str, str, str], int] = defaultdict(int)
    every = deployments()
    roles: dict[tuple[int, str], Statements] = {}
    for call in calls:
        function = function_ids()[call.function]
        for index, (parameters, stack) in enumerate(every):
            if not agrees(call.profile, parameters):
                continue
            if (index, function) not in roles:
                roles[index, function] = statements_of(stack, function)
            statements = roles[index, function]
            for need in call.needs:
                key = (function, call.operation, need.action, need.resource)
                possible[key] += 1
                if not allows(statements, need):
                    where[key].add(described(parameters))
    problems = []
    for key, refusing in sorted(where.items()):
        function, operation, action, resource = key
        scope = "every deployment" if len(refusing) == possible[key] else "; ".join(sorted(refusing))
        problems.append(f"{function}: {operation} needs {action} on {resource}, in {scope}")
    return problems


def test_every_recorded_call_is_granted_by_the_functions_translated_role_in_every_deployment() -> None:
    assert RECORDER.calls, "no function made an AWS call in this run"
    assert not RECORDER.unknown, f"calls with no IAM rule in tests/aws_calls.py: {sorted(RECORDER.unknown)}"
    problems = refused(RECORDER.calls)
    assert not problems, "calls IAM would refuse in AWS:\n" + "\n".join(problems)


def require_whole_run() -> None:
    """The checks below need every function exercised, locally and deployed; `make test` makes sure."""
    local = {call.function for call in RECORDER.calls if len(call.profile) == 1}
    deployed = {call.function for call in RECORDER.calls if len(call.profile) > 1}
    missing = sorted(set(function_ids()) - local) + [
        f"{f} (deployed)" for f in sorted(set(function_ids()) - deployed)
    ]
    if missing:
        message = f"functions that made no AWS call in this run: {missing}"
        if os.environ.get("PUSH_REGISTRY_WHOLE_SUITE"):
            pytest.fail(message)
        pytest.skip(f"{message} (a partial run; make test runs them all)")


def unused_grants() -> dict[tuple[str, str, str], set[str]]:
    """(function, action, resource) a role grants in some deployment but no call there needed, with
    those deployments; a grant needed in any one deployment is exercised."""
    unused: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    used: set[tuple[str, str, str]] = set()
    every = deployments()
    for function, calls in calls_by_function().items():
        for parameters, stack in every:
            needs = {need for call in calls if agrees(call.profile, parameters) for need in call.needs}
            for action, resource in grants(stack.statements(function)):
                key = (function, action, resource)
                if any(covers((action, resource), need) for need in needs):
                    used.add(key)
                else:
                    unused[key].add(described(parameters))
    return {key: where for key, where in unused.items() if key not in used}


def test_every_grant_is_exercised_by_the_suite_or_kept_for_a_stated_reason() -> None:
    require_whole_run()
    unused = unused_grants()
    problems = [
        f"{function}: {action} on {resource}, needed by no call in: {'; '.join(sorted(where))}"
        for (function, action, resource), where in sorted(unused.items())
        if (function, action) not in UNEXERCISED_GRANTS
    ]
    assert not problems, "grants no test exercised (remove them, or keep a reason):\n" + "\n".join(problems)
    stale = set(UNEXERCISED_GRANTS) - {(function, action) for function, action, _ in unused}
    assert not stale, f"reasons kept for grants that are exercised or gone: {sorted(stale)}"


def test_the_only_managed_policies_are_those_lambda_itself_uses() -> None:
    for parameters, template in translated_combinations():
        stack = Stack(template, dict(parameters), {"RegistryTable": "any"})
        for function in stack.functions():
            unexpected = set(stack.managed_policies(function)) - set(MANAGED_POLICIES)
            assert not unexpected, f"{function} ({described(dict(parameters))}): {unexpected}"


def without(statements: Statements, action: str) -> Statements:
    """The statements with `action` taken out of every statement that lists it."""
    trimmed = []
    for statement in copy.deepcopy(statements):
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        statement["Action"] = [a for a in actions if a.lower() != action.lower()]
        if statement["Action"]:
            trimmed.append(statement)
    return trimmed


def test_taking_any_needed_action_out_of_any_functions_role_is_refused_and_named() -> None:
    """The check cannot pass by accident: without one action, one role fails, and the failure names both."""
    require_whole_run()
    services = set()
    for function, calls in sorted(calls_by_function().items()):
        for action in sorted({need.action for call in calls for need in call.needs}):

            def trimmed(
                stack: Stack, name: str, function: str = function, action: str = action
            ) -> Statements:
                statements = stack.statements(name)
                return without(statements, action) if name == function else statements

            problems = refused(calls, trimmed)
            assert problems, f"{function} without {action}: nothing refused"
            named = [p for p in problems if p.startswith(f"{function}: ") and f" needs {action} on " in p]
            assert named == problems, problems
            services.add(action.split(":")[0])
    assert {"dynamodb", "secretsmanager", "ssm"} <= services
