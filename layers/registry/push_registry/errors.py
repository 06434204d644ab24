"""Domain errors: every failure an endpoint can report, independent of any API's response dialect."""

from __future__ import annotations

from dataclasses import dataclass


class RegistryError(Exception):
    """Base of every error an endpoint turns into a 4xx/5xx response."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field.

    `field` is a dotted path (`device_info.app_version`); `problem` is one of: required, empty,
    too_long, not_string, not_object, unknown_field, invalid_choice, invalid_format, malformed.
    """

    field: str
    problem: str
    detail: str = ""


class InvalidRequest(RegistryError):
    """The request body or parameters break the contract; `problems` lists every failing field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(", ".join(f"{p.field}:{p.problem}" for p in problems))
        self.problems = problems

    @classmethod
    def single(cls, field: str, problem: str, detail: str = "") -> InvalidRequest:
        return cls([FieldProblem(field, problem, detail)])

    @property
    def first(self) -> FieldProblem:
        return self.problems[0]


def describe(problem: FieldProblem) -> str:
    """The plain-English message for a field problem, naming the field (the APIs that have no catalog)."""
    if problem.detail:
        return f"{problem.field} {problem.detail}"
    return {
        "required": f"{problem.field} is required",
        "empty": f"{problem.field} must not be empty",
        "not_string": f"{problem.field} must be a string",
        "not_object": f"{problem.field} must be a JSON object",
        "too_long": f"{problem.field} is too long",
        "invalid_choice": f"{problem.field} has an unsupported value",
        "unknown_field": f"Unsupported field: {problem.field}",
    }.get(problem.problem, f"{problem.field} is not valid")


class MissingBody(RegistryError):
    """The endpoint needs a JSON body and none was sent."""


class MalformedBody(RegistryError):
    """The body is not JSON (or not UTF-8), or not a JSON object."""


class PayloadTooLarge(RegistryError):
    """The body is larger than the endpoint accepts."""


class Unauthenticated(RegistryError):
    """No usable credentials: `reason` is `missing` (no Authorization header), `invalid`, or
    `no_subject` (a valid token that names no user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownPlatformKey(RegistryError):
    """The X-PUBLIC-KEY header is missing (`missing=True`) or names no configured platform."""

    def __init__(self, missing: bool) -> None:
        super().__init__("missing" if missing else "unknown")
        self.missing = missing


class Forbidden(RegistryError):
    """Valid credentials that do not grant this operation (e.g. another account's devices)."""


class TokenTaken(RegistryError):
    """The push token is held by a live registration; `device_id` is set when the caller holds it.

    `holder` (owner, device id) and `tenure` (the id of the token's unbroken holding: kept while the
    token passes from holder to holder, new once it has been free) are for the registry's own use
    when it takes a token over; dialects must only show `device_id`, which is set only for the
    caller's own registration.
    """

    def __init__(
        self,
        held_by_caller: bool,
        device_id: str | None = None,
        holder: tuple[str, str] | None = None,
        tenure: str | None = None,
    ):
        super().__init__("token already registered")
        self.held_by_caller = held_by_caller
        self.device_id = device_id
        self.holder = holder
        self.tenure = tenure


class DeviceNotFound(RegistryError):
    """No live registration with that id belongs to the caller."""


class BeyondTheCap(RegistryError):
    """The owner keeps MaxDevicesPerUser live registrations, each used more recently than the one to
    add, which is therefore not added. Only an import's record can be: a registration through an API is
    used now, the most recently of all, and evicts the least recently used instead."""


class RateLimited(RegistryError):
    """Too many requests for one key in the current window."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class Unavailable(RegistryError):
    """A dependency (DynamoDB) kept failing after bounded retries; the client may retry later.

    `cause` says why for the log, never with request values: the AWS error code of an answer
    ("ThrottlingException"), or the class of the error that stood for one ("EndpointConnectionError").
    """

    def __init__(self, retry_after: int = 1, cause: str = "") -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after
        self.cause = cause


class IncompleteBatch(Unavailable):
    """A batch stopped part way (a dependency failed, or no time was left): `results` lists every item
    as (token, status) in request order, those not done as `not_processed`."""

    def __init__(self, results: list[tuple[str, str]], retry_after: int = 1) -> None:
        super().__init__(retry_after)
        self.results = results


class Contention(RegistryError):
    """Concurrent writers kept colliding on one item; retried by the storage adapter, then Unavailable."""
